/* Saving a parameter store as a safetensors file: the JSON header built and
 * written by Jansson, the data little-endian in registration order, the
 * whole file written atomically (nn/FORMAT.md). */
#include "nn_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "save_safetensors"

/* Adds one parameter's entry, under `name` (NUL-terminated, nlen bytes),
 * to the header at data offset *pos. */
static nn_status add_entry(json_t *root, const char *path, const char *name, size_t nlen, const ag_tensor *p,
                           const nn_torch_layout *L, uint64_t *pos) {
    char nm[NN_NAME_MAX * 2 + 8];
    nn__show_name(nm + 1, sizeof nm - 2, name, nlen);
    nm[0] = '\'';
    strcat(nm, "'");
    if (nlen == strlen("__metadata__") && memcmp(name, "__metadata__", nlen) == 0)
        return nn__fail(NN_ERR_ARG, WHAT ": '%s': \"__metadata__\" is reserved by the format; rename the "
                        "parameter", path);
    if (json_object_get(root, name))
        return nn__fail(NN_ERR_ARG, WHAT ": '%s': two parameters would both be written as %s (check the "
                        "renames)", path, nm);
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    nn_status s = nn__layout_shape(WHAT, path, nm, p, L, &ndim, shape);
    if (s == NN_OK && L) s = nn__layout_check(WHAT, path, nm, p, L);
    if (s != NN_OK) return s;
    uint64_t bytes = (uint64_t)ag_numel(p) * (ag_dtype_of(p) == AG_F32 ? 4 : 8);
    json_t *e = json_object(), *sh = json_array(), *off = json_array();
    bool ok = e && sh && off;
    for (int d = 0; ok && d < ndim; d++) ok = json_array_append_new(sh, json_integer(shape[d])) == 0;
    ok = ok && json_array_append_new(off, json_integer((json_int_t)*pos)) == 0 &&
         json_array_append_new(off, json_integer((json_int_t)(*pos + bytes))) == 0;
    ok = ok && json_object_set_new(e, "dtype", json_string(ag_dtype_of(p) == AG_F32 ? "F32" : "F64")) == 0;
    ok = ok && json_object_set(e, "shape", sh) == 0 && json_object_set(e, "data_offsets", off) == 0;
    json_decref(sh);
    json_decref(off);
    if (!ok) {
        json_decref(e);
        return nn__fail(NN_ERR_MEMORY, WHAT ": out of memory building the header");
    }
    /* json_object_set_new frees e on failure: a name that is not UTF-8 (or no memory). */
    if (json_object_set_new(root, name, e) != 0)
        return nn__fail(NN_ERR_ARG, WHAT ": '%s': the name %s is not valid UTF-8, which the JSON header needs",
                        path, nm);
    *pos += bytes;
    return NN_OK;
}

/* The header: metadata first, then one entry per parameter. */
static nn_status build_header(const nn_params *ps, const char *path, const nn_safetensors_opts *o,
                              json_t **out) {
    bool torch = o->layout == NN_LAYOUT_PYTORCH;
    json_t *root = json_object(), *meta = json_object();
    bool ok = root && meta && json_object_set_new(meta, "format", json_string(torch ? "pt" : "tapegrad")) == 0 &&
              json_object_set_new(meta, "layout", json_string(torch ? "pytorch" : "tapegrad")) == 0 &&
              json_object_set_new(meta, "producer", json_string("tapegrad " AG_VERSION_STRING)) == 0 &&
              json_object_set(root, "__metadata__", meta) == 0;
    json_decref(meta);
    nn_status s = ok ? NN_OK : nn__fail(NN_ERR_MEMORY, WHAT ": out of memory building the header");
    uint64_t pos = 0;
    char name[2 * NN_NAME_MAX + 2];
    for (size_t i = 0; s == NN_OK && i < nn_params_count(ps); i++) {
        const char *ours = nn_params_name_at(ps, i);
        size_t n = nn__rename(o->renames, o->n_renames, true, ours, strlen(ours), name, sizeof name);
        if (n == SIZE_MAX)
            s = nn__fail(NN_ERR_ARG, WHAT ": '%s': the name '%s' is too long once renamed", path, ours);
        else
            s = add_entry(root, path, name, n, nn_params_at(ps, i), torch ? nn__params_layout_at(ps, i) : NULL,
                          &pos);
    }
    if (s != NN_OK) {
        json_decref(root);
        return s;
    }
    *out = root;
    return NN_OK;
}

/* One parameter's values, little-endian, in the file's element order. */
static nn_status write_values(nn__writer *w, const ag_tensor *p, const nn_torch_layout *L) {
    unsigned char buf[4096];
    const unsigned char *src = ag_data(p);
    size_t es = ag_dtype_of(p) == AG_F32 ? 4 : 8, fill = 0;
    int64_t n = ag_numel(p);
    nn_status s = NN_OK;
    for (int64_t i = 0; i < n && s == NN_OK; i++) {
        int64_t j = L ? L->index_here(ag_ndim(p), ag_shape(p), i) : i;
        if (es == 4) {
            uint32_t v;
            memcpy(&v, src + (size_t)j * 4, 4);
            nn__st_le32(buf + fill, v);
        } else {
            uint64_t v;
            memcpy(&v, src + (size_t)j * 8, 8);
            nn__st_le64(buf + fill, v);
        }
        fill += es;
        if (fill == sizeof buf) {
            s = nn__writer_write(w, buf, fill);
            fill = 0;
        }
    }
    if (s == NN_OK && fill) s = nn__writer_write(w, buf, fill);
    return s;
}

nn_status nn_save_safetensors(const nn_params *ps, const char *path, const nn_safetensors_opts *opts) {
    if (!ps || !path) return nn__fail(NN_ERR_NULL, WHAT ": %s is NULL", !ps ? "store" : "path");
    nn_safetensors_opts o = opts ? *opts : (nn_safetensors_opts){0};
    if (o.layout != NN_LAYOUT_TAPEGRAD && o.layout != NN_LAYOUT_PYTORCH)
        return nn__fail(NN_ERR_ARG, WHAT ": unknown layout %d", (int)o.layout);
    nn_status s = nn__renames_check(WHAT, o.renames, o.n_renames);
    json_t *root = NULL;
    if (s == NN_OK) s = build_header(ps, path, &o, &root);
    if (s != NN_OK) return s;
    char *json = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!json) return nn__fail(NN_ERR_MEMORY, WHAT ": out of memory writing the header");
    /* Spaces pad the header so the data starts at a multiple of 8 bytes. */
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    unsigned char head[8 + 7];
    nn__st_le64(head, padded);
    memset(head + 8, ' ', padded - hlen);
    nn__writer w;
    s = nn__writer_open(&w, WHAT, path);
    if (s == NN_OK) {
        s = nn__writer_write(&w, head, 8);
        if (s == NN_OK) s = nn__writer_write(&w, json, hlen);
        if (s == NN_OK) s = nn__writer_write(&w, head + 8, padded - hlen);
        bool torch = o.layout == NN_LAYOUT_PYTORCH;
        for (size_t i = 0; s == NN_OK && i < nn_params_count(ps); i++)
            s = write_values(&w, nn_params_at(ps, i), torch ? nn__params_layout_at(ps, i) : NULL);
        if (s == NN_OK) s = nn__writer_commit(&w);
        else nn__writer_abort(&w);
    }
    free(json);
    return s;
}
