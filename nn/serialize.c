/* Save and load of a parameter store in the format of nn/FORMAT.md. Loading
 * validates the whole file before it writes any parameter. */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char MAGIC[8] = {'T', 'G', 'P', 'A', 'R', 'A', 'M', 'S'};
#define FORMAT_VERSION 1u
#define HEADER_BYTES 16u   /* magic, version, count */
#define TRAILER_BYTES 4u   /* file CRC-32 */
#define MIN_RECORD 9u      /* name length (2) + 1-byte name + dtype + ndim + CRC (4) */

static size_t elsize(int dtype) { return dtype == AG_F32 ? 4 : 8; }

/* ------------------------------------------------------------------ save */

typedef struct out {
    nn__writer w;
    uint32_t file_crc, rec_crc;
} out;

static nn_status emit(out *o, const void *p, size_t n) {
    o->file_crc = nn_crc32(o->file_crc, p, n);
    o->rec_crc = nn_crc32(o->rec_crc, p, n);
    return nn__writer_write(&o->w, p, n);
}

/* Writes one parameter's record: name, dtype, shape, data, CRC-32. */
static nn_status emit_record(out *o, const char *name, ag_tensor *p) {
    unsigned char buf[4096];
    size_t nlen = strlen(name);
    int dtype = ag_dtype_of(p), ndim = ag_ndim(p);
    const int64_t *shape = ag_shape(p);
    o->rec_crc = 0;
    buf[0] = (unsigned char)nlen;
    buf[1] = (unsigned char)(nlen >> 8);
    nn_status s = emit(o, buf, 2);
    if (s == NN_OK) s = emit(o, name, nlen);
    buf[0] = (unsigned char)dtype;
    buf[1] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) nn__st_le64(buf + 2 + 8 * i, (uint64_t)shape[i]);
    if (s == NN_OK) s = emit(o, buf, 2 + 8 * (size_t)ndim);
    /* Data, little-endian IEEE 754, a buffer at a time. */
    const unsigned char *src = ag_data(p);
    size_t es = elsize(dtype), per = sizeof buf / es;
    int64_t numel = ag_numel(p);
    for (int64_t i = 0; i < numel && s == NN_OK;) {
        size_t k = (size_t)(numel - i) < per ? (size_t)(numel - i) : per;
        for (size_t j = 0; j < k; j++) {
            if (es == 4) {
                uint32_t v;
                memcpy(&v, src + (size_t)(i + (int64_t)j) * 4, 4);
                nn__st_le32(buf + 4 * j, v);
            } else {
                uint64_t v;
                memcpy(&v, src + (size_t)(i + (int64_t)j) * 8, 8);
                nn__st_le64(buf + 8 * j, v);
            }
        }
        s = emit(o, buf, k * es);
        i += (int64_t)k;
    }
    if (s != NN_OK) return s;
    nn__st_le32(buf, o->rec_crc);
    o->file_crc = nn_crc32(o->file_crc, buf, 4);
    return nn__writer_write(&o->w, buf, 4);
}

nn_status nn_save(const nn_params *ps, const char *path) {
    if (!ps || !path) return nn__fail(NN_ERR_NULL, "save: %s is NULL", !ps ? "store" : "path");
    size_t count = nn_params_count(ps);
    if (count > UINT32_MAX) return nn__fail(NN_ERR_ARG, "save: too many parameters (%zu)", count);
    out o = {0};
    nn_status s = nn__writer_open(&o.w, "save", path);
    if (s != NN_OK) return s;
    unsigned char head[HEADER_BYTES];
    memcpy(head, MAGIC, 8);
    nn__st_le32(head + 8, FORMAT_VERSION);
    nn__st_le32(head + 12, (uint32_t)count);
    s = emit(&o, head, sizeof head);
    for (size_t i = 0; i < count && s == NN_OK; i++)
        s = emit_record(&o, nn_params_name_at(ps, i), nn_params_at(ps, i));
    if (s == NN_OK) {
        unsigned char tail[TRAILER_BYTES];
        nn__st_le32(tail, o.file_crc);
        s = nn__writer_write(&o.w, tail, sizeof tail);
    }
    if (s != NN_OK) {
        nn__writer_abort(&o.w);
        return s;
    }
    return nn__writer_commit(&o.w);
}

/* ------------------------------------------------------------------ load */

typedef struct loader {
    const char *path;
    const unsigned char *buf;
    size_t len, pos;
    nn__ftensor *recs;
    uint32_t count;
} loader;

static nn_status truncated(const loader *L, uint32_t i, const char *what) {
    return nn__fail(NN_ERR_FORMAT, "load: '%s': truncated: the file ends inside tensor %u's %s "
                    "(offset %zu of %zu bytes)", L->path, i, what, L->pos, L->len);
}

/* Parses and checks record i at L->pos: sizes, dtype, ndim, and its CRC. */
static nn_status parse_record(loader *L, uint32_t i, nn__ftensor *r) {
    const unsigned char *b = L->buf;
    size_t start = L->pos, left = L->len - TRAILER_BYTES - L->pos;
    char nm[64];
    if (left < 2) return truncated(L, i, "name length");
    r->nlen = (size_t)b[start] | (size_t)b[start + 1] << 8;
    if (r->nlen == 0 || r->nlen > NN_NAME_MAX)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor %u has a name length of %zu (must be 1 to %d)",
                        L->path, i, r->nlen, NN_NAME_MAX);
    if (left < 2 + r->nlen + 2) return truncated(L, i, "name");
    r->name = r->fname = (const char *)b + start + 2;
    r->fnlen = r->nlen;
    if (memchr(r->name, '\0', r->nlen))
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor %u's name contains a NUL byte", L->path, i);
    nn__show_name(nm, sizeof nm, r->name, r->nlen);
    size_t p = start + 2 + r->nlen;
    int dtype = b[p];
    r->ndim = b[p + 1];
    p += 2;
    if (dtype != AG_F32 && dtype != AG_F64)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor '%s' has unknown dtype code %d", L->path, nm, dtype);
    r->enc = dtype == AG_F32 ? NN__F32LE : NN__F64LE;
    if (r->ndim > AG_MAX_DIMS)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor '%s' has %d dimensions (at most %d)", L->path, nm,
                        r->ndim, AG_MAX_DIMS);
    if (L->len - TRAILER_BYTES - p < 8 * (size_t)r->ndim) return truncated(L, i, "shape");
    uint64_t numel = 1, bytes_left = L->len - TRAILER_BYTES - p - 8 * (size_t)r->ndim;
    bool too_big = false;
    for (int d = 0; d < r->ndim; d++) {
        uint64_t dim = nn__ld_le64(b + p + 8 * (size_t)d);
        if (dim > (uint64_t)INT64_MAX) too_big = true;
        else if (dim && numel > bytes_left / dim) too_big = true; /* cannot fit: stop multiplying */
        else numel *= dim;
        r->shape[d] = (int64_t)dim;
    }
    p += 8 * (size_t)r->ndim;
    uint64_t data_bytes = numel * elsize(dtype);
    if (too_big || data_bytes > bytes_left) return truncated(L, i, "data");
    if (bytes_left - data_bytes < 4) return truncated(L, i, "checksum");
    r->numel = (int64_t)numel;
    r->data = b + p;
    p += (size_t)data_bytes;
    uint32_t want = nn__ld_le32(b + p), got = nn_crc32(0, b + start, p - start);
    if (want != got)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor %u ('%s') fails its checksum "
                        "(stored 0x%08x, computed 0x%08x): the file is corrupt", L->path, i, nm,
                        (unsigned)want, (unsigned)got);
    L->pos = p + 4;
    return NN_OK;
}

/* Magic, version, every record, the end of the file and its CRC. */
static nn_status parse_file(loader *L) {
    const unsigned char *b = L->buf;
    if (L->len < 8 && memcmp(b, MAGIC, L->len) == 0)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': truncated: %zu bytes, inside the magic", L->path, L->len);
    if (L->len < 8 || memcmp(b, MAGIC, 8) != 0)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': not a tapegrad parameter file (bad magic)", L->path);
    if (L->len < HEADER_BYTES + TRAILER_BYTES)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': truncated: %zu bytes, shorter than the header",
                        L->path, L->len);
    uint32_t version = nn__ld_le32(b + 8);
    if (version != FORMAT_VERSION)
        return nn__fail(NN_ERR_VERSION, "load: '%s': file format version %u; this library reads version %u",
                        L->path, (unsigned)version, FORMAT_VERSION);
    L->count = nn__ld_le32(b + 12);
    size_t room = L->len - HEADER_BYTES - TRAILER_BYTES;
    if (L->count > room / MIN_RECORD)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': the header promises %u tensors, more than %zu bytes "
                        "can hold (truncated or corrupt)", L->path, (unsigned)L->count, room);
    L->recs = calloc(L->count ? L->count : 1, sizeof *L->recs);
    if (!L->recs) return nn__fail(NN_ERR_MEMORY, "load: out of memory");
    L->pos = HEADER_BYTES;
    for (uint32_t i = 0; i < L->count; i++) {
        nn_status s = parse_record(L, i, &L->recs[i]);
        if (s != NN_OK) return s;
    }
    if (L->len - L->pos != TRAILER_BYTES)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': %zu unexpected bytes after the last tensor",
                        L->path, L->len - L->pos - TRAILER_BYTES);
    uint32_t want = nn__ld_le32(b + L->pos), got = nn_crc32(0, b, L->pos);
    if (want != got)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': the file checksum fails (stored 0x%08x, computed "
                        "0x%08x): the file is corrupt", L->path, (unsigned)want, (unsigned)got);
    return NN_OK;
}

nn_status nn__load_buffer(nn_params *ps, const char *path, const unsigned char *buf, size_t len,
                          const nn_load_opts *opts) {
    nn_load_opts o = opts ? *opts : (nn_load_opts){0};
    loader L = {.path = path, .buf = buf, .len = len};
    nn_status s = NN_OK;
    bool *seen = calloc(nn_params_count(ps) + 1, sizeof *seen);
    if (!seen) s = nn__fail(NN_ERR_MEMORY, "load: out of memory");
    if (s == NN_OK) s = parse_file(&L);
    if (s == NN_OK) s = nn__match("load", path, L.recs, L.count, ps, &o, false, seen);
    if (s == NN_OK) nn__store_values(L.recs, L.count, ps, &o, seen); /* everything checked */
    free(L.recs);
    free(seen);
    return s;
}

nn_status nn_load(nn_params *ps, const char *path, const nn_load_opts *opts) {
    if (!ps || !path) return nn__fail(NN_ERR_NULL, "load: %s is NULL", !ps ? "store" : "path");
    unsigned char *buf;
    size_t len;
    nn_status s = nn__read_file("load", path, opts ? opts->max_bytes : 0, &buf, &len);
    if (s != NN_OK) return s;
    s = nn__load_buffer(ps, path, buf, len, opts);
    free(buf);
    return s;
}
