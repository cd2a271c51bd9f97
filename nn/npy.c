/* NumPy's .npy format for single arrays: a reader with full validation of
 * the header's dict literal (hand-parsed: it is Python, not JSON, and has
 * three keys) and an atomic writer (nn/FORMAT.md). */
#include "nn_internal.h"
#include "nn_testing.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CAP ((size_t)1 << 30)
#define WHAT "npy"
static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ------------------------------------------------------ the header dict */

typedef struct hdr {
    const char *path;
    const char *s, *end; /* the dict text */
    const char *pos;
    nn__enc enc;
    bool fortran;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
} hdr;

static nn_status fail(const hdr *H, const char *fmt, ...) NN__PRINTF(2, 3);
static nn_status fail(const hdr *H, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': header: %s (at byte %td of the dict)", H->path, msg,
                    H->pos - H->s);
}

static void skip_ws(hdr *H) {
    while (H->pos < H->end && (*H->pos == ' ' || *H->pos == '\t' || *H->pos == '\n' || *H->pos == '\r')) H->pos++;
}

static bool eat(hdr *H, char c) {
    skip_ws(H);
    if (H->pos < H->end && *H->pos == c) {
        H->pos++;
        return true;
    }
    return false;
}

/* A Python string literal '...' or "..." without escapes: sets *s, *n. */
static nn_status string(hdr *H, const char **s, size_t *n) {
    skip_ws(H);
    if (H->pos >= H->end || (*H->pos != '\'' && *H->pos != '"')) return fail(H, "expected a quoted string");
    char q = *H->pos++;
    const char *start = H->pos;
    while (H->pos < H->end && *H->pos != q) {
        if (*H->pos == '\\') return fail(H, "escapes in strings are not supported");
        H->pos++;
    }
    if (H->pos >= H->end) return fail(H, "unterminated string");
    *s = start;
    *n = (size_t)(H->pos - start);
    H->pos++;
    return NN_OK;
}

static bool word(hdr *H, const char *w) {
    skip_ws(H);
    size_t n = strlen(w);
    if ((size_t)(H->end - H->pos) < n || memcmp(H->pos, w, n) != 0) return false;
    H->pos += n;
    return true;
}

static nn_status descr(hdr *H) {
    skip_ws(H);
    if (H->pos < H->end && (*H->pos == '[' || *H->pos == '('))
        return fail(H, "structured dtypes are not supported (tapegrad reads '<f2', '<f4', '<f8' and their '>' "
                    "forms)");
    const char *s;
    size_t n;
    nn_status st = string(H, &s, &n);
    if (st != NN_OK) return st;
    static const struct { const char *d; nn__enc e; } known[] = {
        {"<f4", NN__F32LE}, {"<f8", NN__F64LE}, {"<f2", NN__F16LE},
        {">f4", NN__F32BE}, {">f8", NN__F64BE}, {">f2", NN__F16BE}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (n == 3 && memcmp(s, known[i].d, 3) == 0) {
            H->enc = known[i].e;
            return NN_OK;
        }
    char d[40];
    nn__show_name(d, sizeof d, s, n);
    return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': dtype '%s' is not supported (tapegrad reads float16, float32 "
                    "and float64: '<f2', '<f4', '<f8' and their '>' forms; convert with a.astype(np.float64))",
                    H->path, d);
}

/* A tuple of non-negative integers: (), (3,), (2, 3) or (2, 3,). */
static nn_status shape(hdr *H) {
    if (!eat(H, '(')) return fail(H, "the shape must be a tuple");
    H->ndim = 0;
    bool comma = true;
    while (!eat(H, ')')) {
        skip_ws(H);
        if (!comma) return fail(H, "expected ',' or ')' in the shape");
        if (H->pos >= H->end || *H->pos < '0' || *H->pos > '9')
            return fail(H, "the shape must hold non-negative integers");
        if (H->ndim == AG_MAX_DIMS) return fail(H, "more than %d dimensions", AG_MAX_DIMS);
        int64_t v = 0;
        while (H->pos < H->end && *H->pos >= '0' && *H->pos <= '9') {
            if (v > (INT64_MAX - 9) / 10) return fail(H, "a dimension is too large");
            v = v * 10 + (*H->pos++ - '0');
        }
        if (H->pos < H->end && *H->pos == 'L') H->pos++; /* Python 2 wrote longs */
        H->shape[H->ndim++] = v;
        comma = eat(H, ',');
    }
    if (H->ndim == 1 && !comma) return fail(H, "(n) is not a tuple in Python: a 1-d shape is written (n,)");
    return NN_OK;
}

/* {'descr': ..., 'fortran_order': ..., 'shape': ...}, each key once. */
static nn_status parse_dict(hdr *H) {
    H->pos = H->s;
    if (!eat(H, '{')) return fail(H, "expected '{'");
    bool have[3] = {false, false, false};
    static const char *keys[3] = {"descr", "fortran_order", "shape"};
    while (!eat(H, '}')) {
        const char *k;
        size_t n;
        nn_status s = string(H, &k, &n);
        if (s != NN_OK) return s;
        int which = -1;
        for (int i = 0; i < 3; i++)
            if (n == strlen(keys[i]) && memcmp(k, keys[i], n) == 0) which = i;
        char nm[40];
        if (which < 0) return fail(H, "unknown key '%s'", nn__show_name(nm, sizeof nm, k, n));
        if (have[which]) return fail(H, "the key '%s' appears twice", keys[which]);
        have[which] = true;
        if (!eat(H, ':')) return fail(H, "expected ':' after '%s'", keys[which]);
        if (which == 0) s = descr(H);
        else if (which == 2) s = shape(H);
        else if (word(H, "True")) H->fortran = true;
        else if (word(H, "False")) H->fortran = false;
        else s = fail(H, "'fortran_order' must be True or False");
        if (s != NN_OK) return s;
        if (!eat(H, ',')) {
            if (!eat(H, '}')) return fail(H, "expected ',' or '}'");
            break;
        }
    }
    skip_ws(H);
    if (H->pos != H->end) return fail(H, "unexpected text after the dict");
    for (int i = 0; i < 3; i++)
        if (!have[i]) return fail(H, "the key '%s' is missing", keys[i]);
    return NN_OK;
}

/* ---------------------------------------------------------------- read */

/* The C-order index i's offset in Fortran order. */
static int64_t fortran_index(int ndim, const int64_t *shape, int64_t i) {
    int64_t off = 0, stride = 1, rest = i;
    int64_t idx[AG_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = rest % shape[d];
        rest /= shape[d];
    }
    for (int d = 0; d < ndim; d++) {
        off += idx[d] * stride;
        stride *= shape[d];
    }
    return off;
}

/* Validates and decodes a whole file's bytes into *out. */
static nn_status parse(const char *path, const unsigned char *b, size_t len, size_t max_bytes, nn_array **out) {
    size_t cap = max_bytes ? max_bytes : DEFAULT_CAP;
    hdr H = {.path = path};
    if (memcmp(b, MAGIC, len < 6 ? len : 6) != 0)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': not a .npy file (bad magic)", path);
    if (len < 8)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': truncated: %zu bytes, inside the magic and version", path, len);
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return nn__fail(NN_ERR_VERSION, WHAT ": '%s': .npy format version %d.%d; tapegrad reads 1.0, 2.0 and 3.0",
                        path, major, minor);
    size_t start = major == 1 ? 10 : 12;
    if (len < start)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': truncated: %zu bytes, inside the header length", path, len);
    uint64_t hlen = major == 1 ? (uint64_t)(b[8] | b[9] << 8) : nn__ld_le32(b + 8);
    if (hlen > len - start)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': truncated: the header promises %llu bytes, the file has %zu "
                        "after the header length", path, (unsigned long long)hlen, len - start);
    H.s = (const char *)b + start;
    H.end = H.s + hlen;
    nn_status st = parse_dict(&H);
    if (st != NN_OK) return st;
    size_t es = nn__enc_size(H.enc);
    uint64_t numel = 1, data = len - start - hlen;
    bool too_big = false, empty = false;
    for (int d = 0; d < H.ndim; d++) empty |= H.shape[d] == 0;
    for (int d = 0; d < H.ndim && !empty; d++) {
        if (numel > data / es / (uint64_t)H.shape[d]) too_big = true;
        else numel *= (uint64_t)H.shape[d];
    }
    if (empty) numel = 0;
    char sh[128];
    ag_format_shape(sh, sizeof sh, H.ndim, H.shape);
    if (too_big || numel * es > data)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': truncated data: shape %s needs more than the %llu bytes after "
                        "the header", path, sh, (unsigned long long)data);
    if (numel * es < data)
        return nn__fail(NN_ERR_FORMAT, WHAT ": '%s': %llu extra bytes after the %llu data bytes of shape %s", path,
                        (unsigned long long)(data - numel * es), (unsigned long long)(numel * es), sh);
    ag_dtype dt = nn__enc_dtype(H.enc);
    size_t ds = dt == AG_F32 ? 4 : 8;
    if (numel > cap / ds)
        return nn__fail(NN_ERR_MEMORY, WHAT ": '%s': %llu values need %llu bytes, over the limit of %zu", path,
                        (unsigned long long)numel, (unsigned long long)(numel * ds), cap);
    nn_array *a = calloc(1, sizeof *a);
    if (a) a->data = malloc(numel ? (size_t)numel * ds : 1);
    if (!a || !a->data) {
        nn_array_free(a);
        return nn__fail(NN_ERR_MEMORY, WHAT ": '%s': out of memory for %llu values", path,
                        (unsigned long long)numel);
    }
    a->dtype = dt;
    a->ndim = H.ndim;
    memcpy(a->shape, H.shape, sizeof H.shape);
    a->numel = (int64_t)numel;
    const unsigned char *src = b + start + hlen;
    unsigned char *dst = a->data;
    bool transpose = H.fortran && H.ndim > 1;
    for (int64_t i = 0; i < a->numel; i++) {
        int64_t j = transpose ? fortran_index(H.ndim, H.shape, i) : i;
        nn__decode(H.enc, src + (size_t)j * es, dst + (size_t)i * ds);
    }
    *out = a;
    return NN_OK;
}

nn_array *nn__npy_parse(const char *path, const unsigned char *b, size_t len, size_t max_bytes) {
    nn_array *a = NULL;
    return parse(path, b, len, max_bytes, &a) == NN_OK ? a : NULL;
}

nn_array *nn_npy_read(const char *path, size_t max_bytes) {
    if (!path) {
        nn__fail(NN_ERR_NULL, WHAT ": path is NULL");
        return NULL;
    }
    unsigned char *b;
    size_t len;
    if (nn__read_file(WHAT, path, max_bytes ? max_bytes : DEFAULT_CAP, &b, &len) != NN_OK) return NULL;
    nn_array *a = nn__npy_parse(path, b, len, max_bytes);
    free(b);
    return a;
}

void nn_array_free(nn_array *a) {
    if (!a) return;
    free(a->data);
    free(a);
}

nn_status nn__npy_load_buffer(ag_tensor *p, const char *path, const unsigned char *buf, size_t len) {
    nn_array *a = NULL;
    nn_status s = parse(path, buf, len, 0, &a);
    if (s != NN_OK) return s;
    bool same = a->ndim == ag_ndim(p);
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == ag_shape(p)[d];
    char x[128], y[128];
    if (a->dtype != ag_dtype_of(p))
        s = nn__fail(NN_ERR_MISMATCH, WHAT ": '%s': the file holds %s values, the parameter is %s", path,
                     ag_dtype_name(a->dtype), ag_dtype_name(ag_dtype_of(p)));
    else if (!same)
        s = nn__fail(NN_ERR_MISMATCH, WHAT ": '%s': the file has shape %s, the parameter %s", path,
                     ag_format_shape(x, sizeof x, a->ndim, a->shape), ag_shape_str(p, y, sizeof y));
    else if (a->numel)
        memcpy(ag_data_mut(p), a->data, (size_t)a->numel * (a->dtype == AG_F32 ? 4 : 8));
    nn_array_free(a);
    return s;
}

nn_status nn_npy_load(ag_tensor *p, const char *path, size_t max_bytes) {
    if (!p || !path) return nn__fail(NN_ERR_NULL, WHAT ": %s is NULL", !p ? "parameter" : "path");
    if (!ag_is_param(p)) return nn__fail(NN_ERR_ARG, WHAT ": '%s': the tensor to load into is not a parameter", path);
    unsigned char *b;
    size_t len;
    nn_status s = nn__read_file(WHAT, path, max_bytes ? max_bytes : DEFAULT_CAP, &b, &len);
    if (s != NN_OK) return s;
    s = nn__npy_load_buffer(p, path, b, len);
    free(b);
    return s;
}

/* --------------------------------------------------------------- write */

nn_status nn_npy_write(const char *path, ag_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (!path || (ndim > 0 && !shape)) return nn__fail(NN_ERR_NULL, WHAT ": %s is NULL", !path ? "path" : "shape");
    if (dtype != AG_F32 && dtype != AG_F64) return nn__fail(NN_ERR_ARG, WHAT ": unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > AG_MAX_DIMS)
        return nn__fail(NN_ERR_ARG, WHAT ": %d dimensions (must be 0 to %d)", ndim, AG_MAX_DIMS);
    uint64_t numel = 1;
    size_t es = dtype == AG_F32 ? 4 : 8;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return nn__fail(NN_ERR_ARG, WHAT ": dimension %d is negative (%lld)", d, (long long)shape[d]);
        if (shape[d] && numel > (UINT64_MAX / es) / (uint64_t)shape[d])
            return nn__fail(NN_ERR_ARG, WHAT ": the shape's size overflows");
        numel *= (uint64_t)shape[d];
    }
    if (numel && !data) return nn__fail(NN_ERR_NULL, WHAT ": data is NULL");
    /* The header exactly as NumPy's np.save writes it: the dict, room for 21
     * digits in the first axis, then spaces and '\n' to a multiple of 64. */
    char head[256];
    int n = snprintf(head + 10, sizeof head - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     dtype == AG_F32 ? "<f4" : "<f8");
    for (int d = 0; d < ndim; d++)
        n += snprintf(head + 10 + n, sizeof head - 10 - (size_t)n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    n += snprintf(head + 10 + n, sizeof head - 10 - (size_t)n, "%s), }", ndim == 1 ? "," : "");
    size_t spare = 0;
    if (ndim > 0) spare = 21 - (size_t)snprintf(NULL, 0, "%lld", (long long)shape[0]);
    size_t used = (size_t)n + spare, pad = 64 - (10 + used + 1) % 64, hlen = used + pad + 1, total = 10 + hlen;
    memset(head + 10 + n, ' ', hlen - (size_t)n - 1);
    head[total - 1] = '\n';
    memcpy(head, MAGIC, 6);
    head[6] = 1;
    head[7] = 0;
    head[8] = (char)(hlen & 0xff);
    head[9] = (char)(hlen >> 8);
    nn__writer w;
    nn_status s = nn__writer_open(&w, WHAT, path);
    if (s != NN_OK) return s;
    s = nn__writer_write(&w, head, total);
    unsigned char buf[4096];
    const unsigned char *src = data;
    for (uint64_t i = 0; i < numel && s == NN_OK;) {
        size_t k = 0;
        for (; k + es <= sizeof buf && i < numel; k += es, i++) {
            if (es == 4) {
                uint32_t v;
                memcpy(&v, src + i * 4, 4);
                nn__st_le32(buf + k, v);
            } else {
                uint64_t v;
                memcpy(&v, src + i * 8, 8);
                nn__st_le64(buf + k, v);
            }
        }
        s = nn__writer_write(&w, buf, k);
    }
    if (s != NN_OK) {
        nn__writer_abort(&w);
        return s;
    }
    return nn__writer_commit(&w);
}

nn_status nn_npy_save(const char *path, const ag_tensor *x) {
    if (!x) return nn__fail(NN_ERR_NULL, WHAT ": tensor is NULL");
    return nn_npy_write(path, ag_dtype_of(x), ag_ndim(x), ag_shape(x), ag_data(x));
}
