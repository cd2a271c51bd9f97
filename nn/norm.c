/* LayerNorm and BatchNorm1d/2d from ag_mean, ag_var and broadcasting
 * arithmetic; BatchNorm's running statistics are buffers of the store,
 * updated outside the tape. */
#include "nn_layer.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ layer norm */

/* True when p (if not NULL) has exactly the trailing `axes` dims of x. */
static bool fits_trailing(ag_tape *t, const char *op, const char *what, const ag_tensor *x, int axes,
                          const ag_tensor *p) {
    if (!p) return true;
    bool ok = ag_ndim(p) == axes;
    for (int i = 0; ok && i < axes; i++) ok = ag_dim(p, i) == ag_dim(x, ag_ndim(x) - axes + i);
    if (!ok) {
        char sx[96], sp[96];
        nn__tape_fail(t, AG_ERR_SHAPE, op, "%s %s does not fit the last %d axes of x %s", what,
                      NN__SHAPE(p, sp), axes, NN__SHAPE(x, sx));
    }
    return ok;
}

ag_tensor *nn_layer_norm(ag_tape *t, ag_tensor *x, int axes, ag_tensor *w, ag_tensor *b, double eps) {
    if (!nn__inputs_ok(t, "layer_norm", 1, &x)) return NULL;
    int nd = ag_ndim(x);
    if (axes < 1 || axes > nd) {
        char sx[96];
        return nn__tape_fail(t, AG_ERR_AXIS, "layer_norm", "cannot normalise over the last %d axes of x %s",
                             axes, NN__SHAPE(x, sx));
    }
    if (!(eps >= 0) || !isfinite(eps))
        return nn__tape_fail(t, AG_ERR_ARG, "layer_norm", "eps must be finite and >= 0 (got %g)", eps);
    if (!fits_trailing(t, "layer_norm", "weight", x, axes, w) ||
        !fits_trailing(t, "layer_norm", "bias", x, axes, b))
        return NULL;
    ag_tensor *xr = x;
    if (axes > 1) { /* (lead..., n): one axis to reduce */
        int64_t shape[AG_MAX_DIMS];
        for (int i = 0; i < nd - axes; i++) shape[i] = ag_dim(x, i);
        shape[nd - axes] = -1;
        xr = ag_reshape(t, x, nd - axes + 1, shape);
    }
    ag_tensor *mean = ag_mean(t, xr, -1, true);                      // (lead..., 1)
    ag_tensor *d = ag_sub(t, xr, mean);                              // (lead..., n)
    ag_tensor *var = ag_mean(t, ag_square(t, d), -1, true);          // biased, (lead..., 1)
    ag_tensor *y = ag_mul(t, d, ag_pow_c(t, ag_add_c(t, var, eps), -0.5));
    if (axes > 1) y = ag_reshape(t, y, nd, ag_shape(x));
    if (w) y = ag_mul(t, y, w);
    if (b) y = ag_add(t, y, b);
    return y;
}

typedef struct layer_norm {
    nn_module base;
    int axes;
    double eps;
    ag_tensor *w, *b; /* NULL without affine */
} layer_norm;

static ag_tensor *layer_norm_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    layer_norm *l = (layer_norm *)m;
    return nn_layer_norm(t, x, l->axes, l->w, l->b, l->eps);
}

nn_module *nn_layer_norm_new(nn_params *ps, const char *prefix, int ndim, const int64_t *shape,
                             bool affine, double eps, ag_dtype dtype) {
    const char *W = "layer_norm_new";
    static const char *const leaves[] = {"weight", "bias"};
    if (!nn__names_free(ps, W, prefix, affine ? 2 : 0, leaves)) return NULL;
    if (ndim < 1 || ndim > AG_MAX_DIMS || !shape) {
        nn__fail(!shape ? NN_ERR_NULL : NN_ERR_ARG, "%s: '%s': need 1 to %d normalised axes and their shape",
                 W, prefix, AG_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) {
            nn__fail(NN_ERR_ARG, "%s: '%s': shape[%d] = %lld, must be >= 1", W, prefix, i, (long long)shape[i]);
            return NULL;
        }
    if (!(eps >= 0) || !isfinite(eps)) {
        nn__fail(NN_ERR_ARG, "%s: '%s': eps must be finite and >= 0 (got %g)", W, prefix, eps);
        return NULL;
    }
    layer_norm *l = nn__module_new(sizeof *l, W, "layer_norm", layer_norm_forward);
    if (!l) return NULL;
    l->axes = ndim;
    l->eps = eps;
    if (affine) {
        l->w = nn__param(ps, W, prefix, "weight", dtype, ndim, shape, false);
        l->b = l->w ? nn__param(ps, W, prefix, "bias", dtype, ndim, shape, false) : NULL;
        if (!l->b) {
            nn_module_free(&l->base);
            return NULL;
        }
        nn_init_constant(l->w, 1); /* PyTorch: ones and zeros */
    }
    return &l->base;
}

/* ------------------------------------------------------------ batch norm */

typedef struct batch_norm {
    nn_module base;
    int min_ndim, max_ndim; /* accepted ranks of x: 2..3 (1d) or 4..4 (2d) */
    int64_t channels;
    double eps, momentum;
    ag_tensor *w, *b;                     /* (C) or NULL without affine */
    ag_tensor *running_mean, *running_var; /* (C) buffers */
    ag_tensor *batches;                    /* () buffer: num_batches_tracked */
} batch_norm;

/* The mean of x over every axis but the channel axis 1, keeping dims:
 * (1, C, 1, ...) (bshape). The axes after the channel's are one axis of a
 * view (N, C, L) first: one long reduction, not one per axis (the means
 * over W, then H, were the largest reduction cost of a CNN step). */
static ag_tensor *channel_mean(ag_tape *t, ag_tensor *x, const int64_t *bshape) {
    const int nd = ag_ndim(x);
    if (nd > 2) {
        const int64_t n = ag_dim(x, 0), c = ag_dim(x, 1), l = n * c > 0 ? ag_numel(x) / (n * c) : 0;
        x = ag_mean(t, ag_reshape(t, x, AG_SHAPE(n, c, l)), 2, true); // (N, C, 1)
    }
    x = ag_mean(t, x, 0, true);                         // (1, C[, 1])
    return nd > 2 ? ag_reshape(t, x, nd, bshape) : x;
}

/* v·(1 - momentum) + momentum·s[c]·scale into the (C) buffer, per channel. */
static void running_update(ag_tensor *buf, const ag_tensor *s, double momentum, double scale) {
    int64_t c = ag_numel(buf);
    void *v = ag_data_mut(buf);
    for (int64_t i = 0; i < c; i++) {
        double x = ag_get(s, i) * scale;
        if (ag_dtype_of(buf) == AG_F32) ((float *)v)[i] = (float)((1 - momentum) * ((float *)v)[i] + momentum * x);
        else ((double *)v)[i] = (1 - momentum) * ((double *)v)[i] + momentum * x;
    }
}

static ag_tensor *batch_norm_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    batch_norm *n = (batch_norm *)m;
    const char *op = n->max_ndim == 4 ? "batch_norm2d" : "batch_norm1d";
    if (!nn__inputs_ok(t, op, 1, &x)) return NULL;
    int nd = ag_ndim(x);
    char sx[96];
    if (nd < n->min_ndim || nd > n->max_ndim || ag_dim(x, 1) != n->channels)
        return nn__tape_fail(t, AG_ERR_SHAPE, op, "x %s: need %s with C = %lld", NN__SHAPE(x, sx),
                             n->max_ndim == 4 ? "(N, C, H, W)" : "(N, C) or (N, C, L)", (long long)n->channels);
    if (ag_dtype_of(x) != ag_dtype_of(n->running_mean))
        return nn__tape_fail(t, AG_ERR_DTYPE, op, "x is %s, the layer %s", ag_dtype_name(ag_dtype_of(x)),
                             ag_dtype_name(ag_dtype_of(n->running_mean)));
    int64_t bshape[AG_MAX_DIMS]; /* (1, C, 1, ...): broadcasts against x */
    for (int i = 0; i < nd; i++) bshape[i] = i == 1 ? n->channels : 1;
    ag_tensor *mean, *var, *d;
    if (m->training) {
        int64_t count = ag_numel(x) / n->channels;
        if (count < 2)
            return nn__tape_fail(t, AG_ERR_SHAPE, op, "x %s: a training batch needs more than 1 value per channel",
                                 NN__SHAPE(x, sx));
        mean = channel_mean(t, x, bshape);               // (1, C, 1...)
        d = ag_sub(t, x, mean);                          // x's shape
        var = channel_mean(t, ag_square(t, d), bshape);  // biased, (1, C, 1...)
        if (!var) return NULL;
        running_update(n->running_mean, mean, n->momentum, 1);
        running_update(n->running_var, var, n->momentum, (double)count / (double)(count - 1));
        void *nb = ag_data_mut(n->batches);
        if (ag_dtype_of(n->batches) == AG_F32) *(float *)nb += 1;
        else *(double *)nb += 1;
    } else {
        /* Constants sharing the buffers' values: no gradient reaches them. */
        mean = ag_reshape(t, ag_detach(t, n->running_mean), nd, bshape);
        var = ag_reshape(t, ag_detach(t, n->running_var), nd, bshape);
        d = ag_sub(t, x, mean);
    }
    ag_tensor *scale = ag_pow_c(t, ag_add_c(t, var, n->eps), -0.5); // (1, C, 1...)
    if (n->w) scale = ag_mul(t, scale, ag_reshape(t, n->w, nd, bshape));
    ag_tensor *y = ag_mul(t, d, scale);
    if (n->b) y = ag_add(t, y, ag_reshape(t, n->b, nd, bshape));
    return y;
}

static nn_module *batch_norm_new(const char *W, int min_ndim, int max_ndim, nn_params *ps, const char *prefix,
                                 int64_t channels, double eps, double momentum, bool affine, ag_dtype dtype) {
    static const char *const leaves[] = {"running_mean", "running_var", "num_batches_tracked", "weight", "bias"};
    if (!nn__names_free(ps, W, prefix, affine ? 5 : 3, leaves)) return NULL;
    if (channels < 1 || !(eps >= 0) || !isfinite(eps) || !(momentum >= 0 && momentum <= 1)) {
        nn__fail(NN_ERR_ARG, "%s: '%s': need channels >= 1 (%lld), finite eps >= 0 (%g), momentum in [0, 1] (%g)",
                 W, prefix, (long long)channels, eps, momentum);
        return NULL;
    }
    batch_norm *n = nn__module_new(sizeof *n, W, max_ndim == 4 ? "batch_norm2d" : "batch_norm1d",
                                   batch_norm_forward);
    if (!n) return NULL;
    n->min_ndim = min_ndim;
    n->max_ndim = max_ndim;
    n->channels = channels;
    n->eps = eps;
    n->momentum = momentum;
    const int64_t c[] = {channels};
    /* PyTorch's order in state_dict: weight, bias, then the buffers. */
    if (affine) {
        n->w = nn__param(ps, W, prefix, "weight", dtype, 1, c, false);
        n->b = n->w ? nn__param(ps, W, prefix, "bias", dtype, 1, c, false) : NULL;
    }
    if (!affine || n->b) n->running_mean = nn__param(ps, W, prefix, "running_mean", dtype, 1, c, true);
    if (n->running_mean) n->running_var = nn__param(ps, W, prefix, "running_var", dtype, 1, c, true);
    if (n->running_var) n->batches = nn__param(ps, W, prefix, "num_batches_tracked", dtype, 0, NULL, true);
    if (!n->batches) {
        nn_module_free(&n->base);
        return NULL;
    }
    if (n->w) nn_init_constant(n->w, 1);
    nn_init_constant(n->running_var, 1);
    return &n->base;
}

nn_module *nn_batch_norm1d_new(nn_params *ps, const char *prefix, int64_t channels, double eps,
                               double momentum, bool affine, ag_dtype dtype) {
    return batch_norm_new("batch_norm1d_new", 2, 3, ps, prefix, channels, eps, momentum, affine, dtype);
}

nn_module *nn_batch_norm2d_new(nn_params *ps, const char *prefix, int64_t channels, double eps,
                               double momentum, bool affine, ag_dtype dtype) {
    return batch_norm_new("batch_norm2d_new", 4, 4, ps, prefix, channels, eps, momentum, affine, dtype);
}
