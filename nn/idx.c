/* The IDX file format (MNIST): reader into doubles with full validation, and
 * an atomic writer. */
#include "nn_internal.h"
#include "nn_testing.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CAP ((size_t)1 << 30)

/* Bytes per value of a type, or 0 for an unknown type byte. */
static int type_size(int type) {
    switch (type) {
    case NN_IDX_U8:
    case NN_IDX_I8: return 1;
    case NN_IDX_I16: return 2;
    case NN_IDX_I32:
    case NN_IDX_F32: return 4;
    case NN_IDX_F64: return 8;
    }
    return 0;
}

/* Decodes one big-endian value of `type` at p. */
static double decode(int type, const unsigned char *p) {
    switch (type) {
    case NN_IDX_U8: return p[0];
    case NN_IDX_I8: return (int8_t)p[0];
    case NN_IDX_I16: return (int16_t)(uint16_t)nn__ld_be(p, 2);
    case NN_IDX_I32: return (int32_t)(uint32_t)nn__ld_be(p, 4);
    case NN_IDX_F32: {
        uint32_t u = (uint32_t)nn__ld_be(p, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        uint64_t u = nn__ld_be(p, 8);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
}

nn_idx *nn__idx_parse(const char *path, const unsigned char *b, size_t len, size_t max_bytes) {
    size_t cap = max_bytes ? max_bytes : DEFAULT_CAP;
    nn_idx *a = NULL;
    nn_status s = NN_OK;
    int es = 0, ndim = 0;
    uint64_t numel = 1;
    if (len < 4) {
        s = nn__fail(NN_ERR_FORMAT, "idx: '%s': truncated: %zu bytes, the magic number needs 4", path, len);
    } else if (b[0] || b[1] || !(es = type_size(b[2]))) {
        s = nn__fail(NN_ERR_FORMAT, "idx: '%s': bad magic number 0x%02x%02x%02x%02x (%s)", path, b[0], b[1], b[2],
                     b[3], (b[0] || b[1]) ? "the first two bytes must be 0" : "unknown type byte");
    } else if ((ndim = b[3]) == 0 || ndim > NN_IDX_MAX_DIMS) {
        s = nn__fail(NN_ERR_FORMAT, "idx: '%s': %d dimensions (must be 1 to %d)", path, ndim, NN_IDX_MAX_DIMS);
    } else if (len < 4 + 4 * (size_t)ndim) {
        s = nn__fail(NN_ERR_FORMAT, "idx: '%s': truncated: the header needs %d bytes, the file has %zu", path,
                     4 + 4 * ndim, len);
    }
    for (int i = 0; s == NN_OK && i < ndim; i++) {
        uint64_t d = nn__ld_be(b + 4 + 4 * i, 4);
        if (d == 0) s = nn__fail(NN_ERR_FORMAT, "idx: '%s': dimension %d is 0", path, i);
        else if (numel > (UINT64_MAX / 8) / d) s = nn__fail(NN_ERR_FORMAT, "idx: '%s': the dimensions overflow", path);
        else numel *= d;
    }
    if (s == NN_OK) {
        size_t head = 4 + 4 * (size_t)ndim;
        uint64_t want = numel * (uint64_t)es;
        if (len - head < want)
            s = nn__fail(NN_ERR_FORMAT, "idx: '%s': truncated data: the header promises %llu data bytes, the "
                         "file has %zu", path, (unsigned long long)want, len - head);
        else if (len - head > want)
            s = nn__fail(NN_ERR_FORMAT, "idx: '%s': %llu extra bytes after the %llu data bytes the header "
                         "promises", path, (unsigned long long)(len - head - want), (unsigned long long)want);
        else if (numel > cap / sizeof(double))
            s = nn__fail(NN_ERR_MEMORY, "idx: '%s': %llu values need %llu bytes, over the limit of %zu", path,
                         (unsigned long long)numel, (unsigned long long)(numel * 8), cap);
    }
    if (s == NN_OK) {
        a = calloc(1, sizeof *a);
        if (a) a->data = malloc((size_t)numel * sizeof(double));
        if (!a || !a->data) {
            nn_idx_free(a);
            a = NULL;
            nn__fail(NN_ERR_MEMORY, "idx: '%s': out of memory for %llu values", path, (unsigned long long)numel);
        }
    }
    if (a) {
        a->type = (nn_idx_type)b[2];
        a->ndim = ndim;
        for (int i = 0; i < ndim; i++) a->dims[i] = (int64_t)nn__ld_be(b + 4 + 4 * i, 4);
        a->numel = (int64_t)numel;
        const unsigned char *p = b + 4 + 4 * ndim;
        for (uint64_t i = 0; i < numel; i++) a->data[i] = decode(b[2], p + i * (uint64_t)es);
    }
    return a;
}

nn_idx *nn_idx_read(const char *path, size_t max_bytes) {
    if (!path) {
        nn__fail(NN_ERR_NULL, "idx: path is NULL");
        return NULL;
    }
    unsigned char *b;
    size_t len;
    if (nn__read_file("idx", path, max_bytes ? max_bytes : DEFAULT_CAP, &b, &len) != NN_OK) return NULL;
    nn_idx *a = nn__idx_parse(path, b, len, max_bytes);
    free(b);
    return a;
}

void nn_idx_free(nn_idx *a) {
    if (!a) return;
    free(a->data);
    free(a);
}

/* Whether v can be stored as `type` (integers in range, floats in range). */
static bool fits(int type, double v) {
    switch (type) {
    case NN_IDX_U8: return v == floor(v) && v >= 0 && v <= 255;
    case NN_IDX_I8: return v == floor(v) && v >= -128 && v <= 127;
    case NN_IDX_I16: return v == floor(v) && v >= -32768 && v <= 32767;
    case NN_IDX_I32: return v == floor(v) && v >= -2147483648.0 && v <= 2147483647.0;
    case NN_IDX_F32: return isnan(v) || isinf(v) || fabs(v) <= FLT_MAX;
    default: return true;
    }
}

static void encode(int type, unsigned char *p, double v) {
    switch (type) {
    case NN_IDX_U8: p[0] = (unsigned char)v; break;
    case NN_IDX_I8: p[0] = (unsigned char)(int8_t)v; break;
    case NN_IDX_I16: nn__st_be(p, 2, (uint16_t)(int16_t)v); break;
    case NN_IDX_I32: nn__st_be(p, 4, (uint32_t)(int32_t)v); break;
    case NN_IDX_F32: {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        nn__st_be(p, 4, u);
        break;
    }
    default: {
        uint64_t u;
        memcpy(&u, &v, 8);
        nn__st_be(p, 8, u);
    }
    }
}

nn_status nn_idx_write(const char *path, nn_idx_type type, int ndim, const int64_t *dims, const double *data) {
    if (!path || !dims || !data)
        return nn__fail(NN_ERR_NULL, "idx_write: %s is NULL", !path ? "path" : !dims ? "dims" : "data");
    int es = type_size((int)type);
    if (!es) return nn__fail(NN_ERR_ARG, "idx_write: unknown type 0x%02x", (unsigned)type);
    if (ndim < 1 || ndim > NN_IDX_MAX_DIMS)
        return nn__fail(NN_ERR_ARG, "idx_write: %d dimensions (must be 1 to %d)", ndim, NN_IDX_MAX_DIMS);
    unsigned char buf[4096];
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndim;
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || dims[i] > (int64_t)UINT32_MAX)
            return nn__fail(NN_ERR_ARG, "idx_write: dimension %d is %lld (must be 1 to 2^32-1)", i, (long long)dims[i]);
        if (numel > (UINT64_MAX / 8) / (uint64_t)dims[i]) return nn__fail(NN_ERR_ARG, "idx_write: too many values");
        numel *= (uint64_t)dims[i];
        nn__st_be(buf + 4 + 4 * i, 4, (uint64_t)dims[i]);
    }
    for (uint64_t i = 0; i < numel; i++)
        if (!fits((int)type, data[i]))
            return nn__fail(NN_ERR_ARG, "idx_write: value %g at index %llu does not fit type 0x%02x", data[i],
                            (unsigned long long)i, (unsigned)type);
    nn__writer w;
    nn_status s = nn__writer_open(&w, "idx_write", path);
    if (s != NN_OK) return s;
    s = nn__writer_write(&w, buf, 4 + 4 * (size_t)ndim);
    size_t per = sizeof buf / (size_t)es;
    for (uint64_t i = 0; i < numel && s == NN_OK;) {
        size_t k = numel - i < per ? (size_t)(numel - i) : per;
        for (size_t j = 0; j < k; j++) encode((int)type, buf + j * (size_t)es, data[i + j]);
        s = nn__writer_write(&w, buf, k * (size_t)es);
        i += k;
    }
    if (s != NN_OK) {
        nn__writer_abort(&w);
        return s;
    }
    return nn__writer_commit(&w);
}

nn_dataset *nn_dataset_from_idx(const nn_idx *images, const nn_idx *labels, double scale, int64_t classes) {
    if (!images || !labels) {
        nn__fail(NN_ERR_NULL, "dataset_from_idx: %s is NULL", !images ? "images" : "labels");
        return NULL;
    }
    int64_t n = images->dims[0];
    if (images->ndim < 1 || n < 1 || !images->data || !labels->data) {
        nn__fail(NN_ERR_ARG, "dataset_from_idx: the images array is empty");
        return NULL;
    }
    if (labels->ndim != 1 || labels->dims[0] != n) {
        nn__fail(NN_ERR_ARG, "dataset_from_idx: %lld images but labels of %d dimension(s) with %lld entries",
                 (long long)n, labels->ndim, (long long)labels->dims[0]);
        return NULL;
    }
    int64_t *lab = malloc((size_t)n * sizeof *lab);
    double *x = malloc((size_t)images->numel * sizeof *x);
    nn_dataset *ds = NULL;
    if (!lab || !x) {
        nn__fail(NN_ERR_MEMORY, "dataset_from_idx: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = labels->data[i];
        if (!(v == floor(v) && v >= 0 && v < (double)classes)) {
            nn__fail(NN_ERR_ARG, "dataset_from_idx: label %g of sample %lld is not an integer in [0, %lld)", v,
                     (long long)i, (long long)classes);
            goto done;
        }
        lab[i] = (int64_t)v;
    }
    for (int64_t i = 0; i < images->numel; i++) x[i] = images->data[i] * scale;
    ds = nn_dataset_new_labels(n, images->numel / n, x, lab, classes);
done:
    free(lab);
    free(x);
    return ds;
}
