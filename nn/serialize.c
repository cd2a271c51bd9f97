/* Save and load of a parameter store in the format of nn/FORMAT.md. Loading
 * validates the whole file before it writes any parameter. */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

/* uthash must report a failed malloc instead of calling exit(). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) (oom = 1)
#include <uthash.h>

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

typedef struct rec {
    const char *name;   /* into the file buffer, not NUL-terminated */
    size_t nlen;
    int dtype, ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    const unsigned char *data;
    ag_tensor *p;       /* the matching parameter, or NULL */
    UT_hash_handle hh;  /* duplicate-name check */
} rec;

typedef struct loader {
    const char *path;
    const unsigned char *buf;
    size_t len, pos;
    rec *recs;
    uint32_t count;
    rec *names;         /* uthash of recs by name */
} loader;

/* A record's name as a printable C string (bytes outside 0x20..0x7e as '?'). */
static const char *show_name(char *out, size_t size, const char *name, size_t n) {
    size_t k = n < size - 1 ? n : size - 1;
    for (size_t i = 0; i < k; i++)
        out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    out[k] = '\0';
    return out;
}

static nn_status truncated(const loader *L, uint32_t i, const char *what) {
    return nn__fail(NN_ERR_FORMAT, "load: '%s': truncated: the file ends inside tensor %u's %s "
                    "(offset %zu of %zu bytes)", L->path, i, what, L->pos, L->len);
}

/* Parses and checks record i at L->pos: sizes, dtype, ndim, and its CRC. */
static nn_status parse_record(loader *L, uint32_t i, rec *r) {
    const unsigned char *b = L->buf;
    size_t start = L->pos, left = L->len - TRAILER_BYTES - L->pos;
    char nm[64];
    if (left < 2) return truncated(L, i, "name length");
    r->nlen = (size_t)b[start] | (size_t)b[start + 1] << 8;
    if (r->nlen == 0 || r->nlen > NN_NAME_MAX)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor %u has a name length of %zu (must be 1 to %d)",
                        L->path, i, r->nlen, NN_NAME_MAX);
    if (left < 2 + r->nlen + 2) return truncated(L, i, "name");
    r->name = (const char *)b + start + 2;
    if (memchr(r->name, '\0', r->nlen))
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor %u's name contains a NUL byte", L->path, i);
    show_name(nm, sizeof nm, r->name, r->nlen);
    size_t p = start + 2 + r->nlen;
    r->dtype = b[p];
    r->ndim = b[p + 1];
    p += 2;
    if (r->dtype != AG_F32 && r->dtype != AG_F64)
        return nn__fail(NN_ERR_FORMAT, "load: '%s': tensor '%s' has unknown dtype code %d", L->path, nm, r->dtype);
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
    uint64_t data_bytes = numel * elsize(r->dtype);
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

/* Appends `name` to a comma-separated list in buf, or "..." once it is full. */
static void list_add(char *buf, size_t size, const char *name) {
    size_t n = strlen(buf);
    if (n && strcmp(buf + n - 3, "...") == 0) return;
    if (n + strlen(name) + 8 >= size) {
        snprintf(buf + n, size - n, "%s...", n ? ", " : "");
        return;
    }
    snprintf(buf + n, size - n, "%s'%s'", n ? ", " : "", name);
}

/* Names, dtypes and shapes against the store; fills each rec's p. */
static nn_status match(loader *L, nn_params *ps, const nn_load_opts *o, bool *seen) {
    char extra[200] = "", missing[200] = "", nm[NN_NAME_MAX + 1];
    size_t n_extra = 0, n_missing = 0;
    for (uint32_t i = 0; i < L->count; i++) {
        rec *r = &L->recs[i], *dup = NULL;
        show_name(nm, sizeof nm, r->name, r->nlen);
        HASH_FIND(hh, L->names, r->name, r->nlen, dup);
        if (dup) return nn__fail(NN_ERR_FORMAT, "load: '%s': the name '%s' appears twice", L->path, nm);
        int oom = 0;
        HASH_ADD_KEYPTR(hh, L->names, r->name, r->nlen, r);
        if (oom) return nn__fail(NN_ERR_MEMORY, "load: out of memory");
        size_t idx;
        r->p = nn__params_find(ps, r->name, r->nlen, &idx);
        if (!r->p) {
            n_extra++;
            list_add(extra, sizeof extra, nm);
            continue;
        }
        seen[idx] = true;
        ag_tensor *p = r->p;
        if ((int)ag_dtype_of(p) != r->dtype)
            return nn__fail(NN_ERR_MISMATCH, "load: '%s': '%s' is %s in the file but %s in the store",
                            L->path, nm, ag_dtype_name((ag_dtype)r->dtype), ag_dtype_name(ag_dtype_of(p)));
        bool same = ag_ndim(p) == r->ndim;
        for (int d = 0; same && d < r->ndim; d++) same = ag_shape(p)[d] == r->shape[d];
        if (!same) {
            char a[128], b[128];
            return nn__fail(NN_ERR_MISMATCH, "load: '%s': '%s' has shape %s in the file but %s in the store",
                            L->path, nm, ag_format_shape(a, sizeof a, r->ndim, r->shape),
                            ag_format_shape(b, sizeof b, ag_ndim(p), ag_shape(p)));
        }
    }
    for (size_t i = 0; i < nn_params_count(ps); i++)
        if (!seen[i]) {
            n_missing++;
            list_add(missing, sizeof missing, nn_params_name_at(ps, i));
        }
    if ((n_extra || n_missing) && !o->non_strict) {
        if (n_extra && n_missing)
            return nn__fail(NN_ERR_MISMATCH, "load: '%s': %zu name(s) in the store missing from the file: %s; "
                            "%zu name(s) in the file not in the store: %s", L->path, n_missing, missing,
                            n_extra, extra);
        if (n_missing)
            return nn__fail(NN_ERR_MISMATCH, "load: '%s': %zu name(s) in the store missing from the file: %s",
                            L->path, n_missing, missing);
        return nn__fail(NN_ERR_MISMATCH, "load: '%s': %zu name(s) in the file not in the store: %s",
                        L->path, n_extra, extra);
    }
    return NN_OK;
}

/* Decodes a record's little-endian values into its parameter. */
static void write_values(rec *r) {
    unsigned char *dst = ag_data_mut(r->p);
    for (int64_t i = 0; i < r->numel; i++) {
        if (r->dtype == AG_F32) {
            uint32_t v = nn__ld_le32(r->data + 4 * i);
            memcpy(dst + 4 * i, &v, 4);
        } else {
            uint64_t v = nn__ld_le64(r->data + 8 * i);
            memcpy(dst + 8 * i, &v, 8);
        }
    }
}

nn_status nn_load(nn_params *ps, const char *path, const nn_load_opts *opts) {
    if (!ps || !path) return nn__fail(NN_ERR_NULL, "load: %s is NULL", !ps ? "store" : "path");
    nn_load_opts o = opts ? *opts : (nn_load_opts){0};
    loader L = {.path = path};
    unsigned char *buf;
    nn_status s = nn__read_file("load", path, o.max_bytes, &buf, &L.len);
    if (s != NN_OK) return s;
    L.buf = buf;
    bool *seen = calloc(nn_params_count(ps) + 1, sizeof *seen);
    if (!seen) s = nn__fail(NN_ERR_MEMORY, "load: out of memory");
    if (s == NN_OK) s = parse_file(&L);
    if (s == NN_OK) s = match(&L, ps, &o, seen);
    if (s == NN_OK) {
        /* Everything checked: report skips, then write. */
        if (o.on_skip) {
            char nm[NN_NAME_MAX + 1];
            for (size_t i = 0; i < nn_params_count(ps); i++)
                if (!seen[i]) o.on_skip(nn_params_name_at(ps, i), NN_SKIP_MISSING, o.ctx);
            for (uint32_t i = 0; i < L.count; i++)
                if (!L.recs[i].p) {
                    memcpy(nm, L.recs[i].name, L.recs[i].nlen);
                    nm[L.recs[i].nlen] = '\0';
                    o.on_skip(nm, NN_SKIP_EXTRA, o.ctx);
                }
        }
        for (uint32_t i = 0; i < L.count; i++)
            if (L.recs[i].p) write_values(&L.recs[i]);
    }
    HASH_CLEAR(hh, L.names);
    free(L.recs);
    free(seen);
    free(buf);
    return s;
}
