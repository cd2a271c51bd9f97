/* The part of loading every store format shares (nn_load, safetensors):
 * matching a file's tensors to the store's parameters by name, dtype and
 * shape, and then decoding their values into the parameters. */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

/* uthash must report a failed malloc instead of calling exit(). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) (oom = 1)
#include <uthash.h>

const char *nn__show_name(char *out, size_t size, const char *name, size_t n) {
    size_t k = n < size - 1 ? n : size - 1;
    for (size_t i = 0; i < k; i++)
        out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    out[k] = '\0';
    return out;
}

/* ---------------------------------------------------------------- values */

size_t nn__enc_size(nn__enc e) {
    switch (e) {
    case NN__F16LE:
    case NN__F16BE:
    case NN__BF16LE: return 2;
    case NN__F32LE:
    case NN__F32BE: return 4;
    case NN__F64LE:
    case NN__F64BE: return 8;
    }
    return 0;
}

ag_dtype nn__enc_dtype(nn__enc e) { return nn__enc_size(e) == 8 ? AG_F64 : AG_F32; }

void nn__decode(nn__enc e, const unsigned char *s, void *dst) {
    uint32_t u;
    uint64_t v;
    switch (e) {
    case NN__F16LE: u = nn__f16_to_f32_bits((uint16_t)(s[0] | s[1] << 8)); break;
    case NN__F16BE: u = nn__f16_to_f32_bits((uint16_t)(s[1] | s[0] << 8)); break;
    case NN__BF16LE: u = nn__bf16_to_f32_bits((uint16_t)(s[0] | s[1] << 8)); break;
    case NN__F32LE: u = nn__ld_le32(s); break;
    case NN__F32BE: u = (uint32_t)nn__ld_be(s, 4); break;
    case NN__F64LE: v = nn__ld_le64(s); memcpy(dst, &v, 8); return;
    case NN__F64BE: v = nn__ld_be(s, 8); memcpy(dst, &v, 8); return;
    default: return;
    }
    memcpy(dst, &u, 4);
}

/* How a file's values are spelled in messages. */
static const char *enc_name(nn__enc e) {
    switch (e) {
    case NN__F16LE:
    case NN__F16BE: return "f16 (read as f32)";
    case NN__BF16LE: return "bf16 (read as f32)";
    default: return ag_dtype_name(nn__enc_dtype(e));
    }
}

/* -------------------------------------------------------------- matching */

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

typedef struct seen_name {
    const nn__ftensor *t;
    UT_hash_handle hh;
} seen_name;

/* The tensor's name for messages: 'x', or 'x' (the file's 'y') when renamed. */
static const char *label(char *buf, size_t size, const nn__ftensor *t) {
    char a[NN_NAME_MAX + 1], b[NN_NAME_MAX + 1];
    nn__show_name(a, sizeof a, t->name, t->nlen);
    if (t->fnlen == t->nlen && memcmp(t->fname, t->name, t->nlen) == 0) snprintf(buf, size, "'%s'", a);
    else snprintf(buf, size, "'%s' (the file's '%s')", a, nn__show_name(b, sizeof b, t->fname, t->fnlen));
    return buf;
}

nn_status nn__layout_shape(const char *what, const char *path, const char *nm, const ag_tensor *p,
                           const nn_torch_layout *L, int *ndim, int64_t *shape) {
    *ndim = ag_ndim(p);
    if (*ndim) memcpy(shape, ag_shape(p), sizeof *shape * (size_t)*ndim);
    if (!L) return NN_OK;
    int tn = -1;
    int64_t ts[AG_MAX_DIMS];
    if (!L->torch_shape(*ndim, shape, &tn, ts) || tn < 0 || tn > AG_MAX_DIMS) {
        char s[128];
        return nn__fail(NN_ERR_ARG, "%s: '%s': the PyTorch layout of %s (%s) does not apply to its shape %s", what,
                        path, nm, L->name, ag_format_shape(s, sizeof s, *ndim, shape));
    }
    *ndim = tn;
    memcpy(shape, ts, sizeof *ts * (size_t)tn);
    return NN_OK;
}

nn_status nn__layout_check(const char *what, const char *path, const char *nm, const ag_tensor *p,
                           const nn_torch_layout *L) {
    int64_t n = ag_numel(p);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = L->index_here(ag_ndim(p), ag_shape(p), i);
        if (j < 0 || j >= n)
            return nn__fail(NN_ERR_ARG, "%s: '%s': the PyTorch layout of %s (%s) maps element %lld to %lld, "
                            "outside [0, %lld)", what, path, nm, L->name, (long long)i, (long long)j,
                            (long long)n);
    }
    return NN_OK;
}

/* One tensor against its parameter: dtype, then shape. */
static nn_status match_one(const char *what, const char *path, nn__ftensor *t, const char *nm) {
    ag_tensor *p = t->p;
    if (ag_dtype_of(p) != nn__enc_dtype(t->enc))
        return nn__fail(NN_ERR_MISMATCH, "%s: '%s': %s is %s in the file but %s in the store", what, path, nm,
                        enc_name(t->enc), ag_dtype_name(ag_dtype_of(p)));
    int ndim;
    int64_t want[AG_MAX_DIMS];
    nn_status s = nn__layout_shape(what, path, nm, p, t->layout, &ndim, want);
    if (s != NN_OK) return s;
    bool same = ndim == t->ndim;
    for (int d = 0; same && d < ndim; d++) same = want[d] == t->shape[d];
    if (!same) {
        char a[128], b[128], c[128];
        if (t->layout)
            return nn__fail(NN_ERR_MISMATCH, "%s: '%s': %s has shape %s in the file, but the store's %s is %s "
                            "in PyTorch's layout (%s)", what, path, nm, ag_format_shape(a, sizeof a, t->ndim, t->shape),
                            ag_format_shape(b, sizeof b, ag_ndim(p), ag_shape(p)),
                            ag_format_shape(c, sizeof c, ndim, want), t->layout->name);
        return nn__fail(NN_ERR_MISMATCH, "%s: '%s': %s has shape %s in the file but %s in the store", what, path,
                        nm, ag_format_shape(a, sizeof a, t->ndim, t->shape),
                        ag_format_shape(b, sizeof b, ag_ndim(p), ag_shape(p)));
    }
    return t->layout ? nn__layout_check(what, path, nm, p, t->layout) : NN_OK;
}

static nn_status match_all(const char *what, const char *path, nn__ftensor *ts, size_t n, nn_params *ps,
                           const nn_load_opts *o, bool torch, bool *seen, seen_name **head, seen_name *slots) {
    char extra[200] = "", missing[200] = "", nm[2 * NN_NAME_MAX + 32], fn[NN_NAME_MAX + 1];
    size_t n_extra = 0, n_missing = 0;
    for (size_t i = 0; i < n; i++) {
        nn__ftensor *t = &ts[i];
        seen_name *dup = NULL;
        label(nm, sizeof nm, t);
        HASH_FIND(hh, *head, t->name, t->nlen, dup);
        if (dup) {
            char other[2 * NN_NAME_MAX + 32];
            if (t->fnlen == t->nlen && memcmp(t->fname, t->name, t->nlen) == 0 && dup->t->fnlen == dup->t->nlen &&
                memcmp(dup->t->fname, dup->t->name, dup->t->nlen) == 0)
                return nn__fail(NN_ERR_FORMAT, "%s: '%s': the name %s appears twice", what, path, nm);
            return nn__fail(NN_ERR_FORMAT, "%s: '%s': two tensors load into the same name: %s and %s", what, path,
                            label(other, sizeof other, dup->t), nm);
        }
        seen_name *e = &slots[i];
        e->t = t;
        int oom = 0;
        HASH_ADD_KEYPTR(hh, *head, t->name, t->nlen, e);
        if (oom) return nn__fail(NN_ERR_MEMORY, "%s: out of memory", what);
        size_t idx;
        t->p = nn__params_find(ps, t->name, t->nlen, &idx);
        if (!t->p) {
            n_extra++;
            list_add(extra, sizeof extra, nn__show_name(fn, sizeof fn, t->fname, t->fnlen));
            continue;
        }
        seen[idx] = true;
        t->layout = torch ? nn__params_layout_at(ps, idx) : NULL;
        nn_status s = match_one(what, path, t, nm);
        if (s != NN_OK) return s;
    }
    for (size_t i = 0; i < nn_params_count(ps); i++)
        if (!seen[i]) {
            n_missing++;
            list_add(missing, sizeof missing, nn_params_name_at(ps, i));
        }
    if ((n_extra || n_missing) && !o->non_strict) {
        if (n_extra && n_missing)
            return nn__fail(NN_ERR_MISMATCH, "%s: '%s': %zu name(s) in the store missing from the file: %s; "
                            "%zu name(s) in the file not in the store: %s", what, path, n_missing, missing,
                            n_extra, extra);
        if (n_missing)
            return nn__fail(NN_ERR_MISMATCH, "%s: '%s': %zu name(s) in the store missing from the file: %s",
                            what, path, n_missing, missing);
        return nn__fail(NN_ERR_MISMATCH, "%s: '%s': %zu name(s) in the file not in the store: %s", what, path,
                        n_extra, extra);
    }
    return NN_OK;
}

nn_status nn__match(const char *what, const char *path, nn__ftensor *ts, size_t n, nn_params *ps,
                    const nn_load_opts *o, bool torch, bool *seen) {
    seen_name *slots = calloc(n ? n : 1, sizeof *slots), *head = NULL; /* a duplicate-name check */
    if (!slots) return nn__fail(NN_ERR_MEMORY, "%s: out of memory", what);
    nn_status s = match_all(what, path, ts, n, ps, o, torch, seen, &head, slots);
    HASH_CLEAR(hh, head);
    free(slots);
    return s;
}

void nn__store_values(nn__ftensor *ts, size_t n, nn_params *ps, const nn_load_opts *o, const bool *seen) {
    if (o->on_skip) {
        char nm[NN_NAME_MAX + 1];
        for (size_t i = 0; i < nn_params_count(ps); i++)
            if (!seen[i]) o->on_skip(nn_params_name_at(ps, i), NN_SKIP_MISSING, o->ctx);
        for (size_t i = 0; i < n; i++)
            if (!ts[i].p) {
                size_t k = ts[i].fnlen < NN_NAME_MAX ? ts[i].fnlen : NN_NAME_MAX;
                memcpy(nm, ts[i].fname, k);
                nm[k] = '\0';
                o->on_skip(nm, NN_SKIP_EXTRA, o->ctx);
            }
    }
    for (size_t i = 0; i < n; i++) {
        nn__ftensor *t = &ts[i];
        if (!t->p) continue;
        unsigned char *dst = ag_data_mut(t->p);
        size_t es = nn__enc_size(t->enc), ds = ag_dtype_of(t->p) == AG_F32 ? 4 : 8;
        for (int64_t k = 0; k < t->numel; k++) {
            int64_t j = t->layout ? t->layout->index_here(ag_ndim(t->p), ag_shape(t->p), k) : k;
            nn__decode(t->enc, t->data + (size_t)k * es, dst + (size_t)j * ds);
        }
    }
}
