/* Embedding: rows of a table picked by index (ag_index_select), and
 * nn_assign, the copy of a value into a parameter that outlives the tape. */
#include "nn_layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ag_tensor *nn_embedding(ag_tape *t, ag_tensor *w, int64_t n, const int64_t *idx) {
    if (!nn__inputs_ok(t, "embedding", 1, &w)) return NULL;
    char sw[96];
    if (ag_ndim(w) != 2) return nn__tape_fail(t, AG_ERR_SHAPE, "embedding", "the table %s must be (num, dim)", NN__SHAPE(w, sw));
    if (n < 0 || (n > 0 && !idx))
        return nn__tape_fail(t, n < 0 ? AG_ERR_ARG : AG_ERR_NULL, "embedding", "%lld indices at %p", (long long)n,
                             (const void *)idx);
    int64_t num = ag_dim(w, 0);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= num)
            return nn__tape_fail(t, AG_ERR_AXIS, "embedding", "index %lld at position %lld is outside [0, %lld) of the table %s",
                                 (long long)idx[i], (long long)i, (long long)num, NN__SHAPE(w, sw));
    return ag_index_select(t, w, 0, n, idx); // (n, dim)
}

typedef struct embedding {
    nn_module base;
    ag_tensor *w; /* (num, dim) */
} embedding;

static ag_tensor *lookup(embedding *e, ag_tape *t, int ndim, const int64_t *shape, const int64_t *idx) {
    if (ndim < 0 || ndim >= AG_MAX_DIMS)
        return nn__tape_fail(t, AG_ERR_SHAPE, "embedding", "indices of %d dimensions (at most %d)", ndim, AG_MAX_DIMS - 1);
    int64_t n = 1, out[AG_MAX_DIMS];
    for (int i = 0; i < ndim; i++) n *= (out[i] = shape[i]);
    out[ndim] = ag_dim(e->w, 1);
    ag_tensor *y = nn_embedding(t, e->w, n, idx);   // (n, dim)
    return ndim == 1 ? y : ag_reshape(t, y, ndim + 1, out); // (shape..., dim)
}

/* Indices held as numbers in a tensor: each must be an integer. */
static ag_tensor *embedding_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    embedding *e = (embedding *)m;
    if (!nn__inputs_ok(t, "embedding", 1, &x)) return NULL;
    int64_t n = ag_numel(x), small[1024];
    int64_t *idx = n <= 1024 ? small : malloc((size_t)n * sizeof *idx);
    if (!idx) return nn__tape_fail(t, AG_ERR_MEMORY, "embedding", "out of memory for %lld indices", (long long)n);
    ag_tensor *y = NULL;
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++) {
        double v = ag_get(x, i);
        if (v != floor(v) || !(fabs(v) < 9e15)) bad = i;
        else idx[i] = (int64_t)v;
    }
    if (bad >= 0)
        nn__tape_fail(t, AG_ERR_ARG, "embedding", "index %lld of x is %g, not an integer", (long long)bad, ag_get(x, bad));
    else
        y = lookup(e, t, ag_ndim(x), ag_shape(x), idx);
    if (idx != small) free(idx);
    return y;
}

ag_tensor *nn_embedding_lookup(nn_module *m, ag_tape *t, int ndim, const int64_t *shape, const int64_t *idx) {
    if (!m || m->forward != embedding_forward) {
        if (t && ag_tape_status(t) == AG_OK)
            nn__tape_fail(t, m ? AG_ERR_ARG : AG_ERR_NULL, "embedding", "the module is %s", m ? m->kind : "NULL");
        else if (!t) nn__fail(NN_ERR_NULL, "embedding: the tape is NULL");
        return NULL;
    }
    if (!nn__inputs_ok(t, "embedding", 0, NULL)) return NULL;
    if (ndim > 0 && !shape) return nn__tape_fail(t, AG_ERR_NULL, "embedding", "the shape is NULL");
    return lookup((embedding *)m, t, ndim, shape, idx);
}

nn_module *nn_embedding_new(nn_params *ps, const char *prefix, int64_t num, int64_t dim, ag_dtype dtype,
                            ag_rng *rng) {
    const char *W = "embedding_new";
    static const char *const leaves[] = {"weight"};
    if (!nn__names_free(ps, W, prefix, 1, leaves)) return NULL;
    if (!rng || num < 1 || dim < 1) {
        nn__fail(!rng ? NN_ERR_NULL : NN_ERR_ARG, "%s: '%s': %s", W, prefix,
                 !rng ? "the generator is NULL" : "num and dim must be >= 1");
        return NULL;
    }
    embedding *e = nn__module_new(sizeof *e, W, "embedding", embedding_forward);
    if (!e) return NULL;
    e->w = nn__param(ps, W, prefix, "weight", dtype, 2, (const int64_t[]){num, dim}, false);
    if (!e->w) {
        nn_module_free(&e->base);
        return NULL;
    }
    nn_init_normal(e->w, 0, 1, rng); /* PyTorch: N(0, 1) */
    return &e->base;
}

nn_status nn_assign(ag_tensor *p, const ag_tensor *x) {
    if (!p || !x) return nn__fail(NN_ERR_NULL, "assign: %s is NULL", !p ? "the parameter" : "the value");
    char sp[96], sx[96];
    bool same = ag_is_param(p) && ag_dtype_of(p) == ag_dtype_of(x) && ag_ndim(p) == ag_ndim(x);
    for (int i = 0; same && i < ag_ndim(p); i++) same = ag_dim(p, i) == ag_dim(x, i);
    if (!same)
        return nn__fail(NN_ERR_ARG, "assign: %s %s %s does not take a %s %s", ag_is_param(p) ? "parameter" : "non-parameter",
                        ag_dtype_name(ag_dtype_of(p)), ag_shape_str(p, sp, sizeof sp), ag_dtype_name(ag_dtype_of(x)),
                        ag_shape_str(x, sx, sizeof sx));
    size_t bytes = (size_t)ag_numel(p) * (ag_dtype_of(p) == AG_F32 ? sizeof(float) : sizeof(double));
    memmove(ag_data_mut(p), ag_data(x), bytes);
    return NN_OK;
}
