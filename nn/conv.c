/* Conv1d and Conv2d (ag_conv1d, ag_conv2d), MaxPool2d and AvgPool2d
 * (ag_max_pool2d, ag_avg_pool2d), Flatten and Unflatten (ag_reshape) as
 * modules. */
#include "nn_layer.h"

#include <math.h>
#include <stdint.h>

typedef struct conv {
    nn_module base;
    bool two_d;
    ag_conv2d_opts o2;
    ag_conv1d_opts o1;
    ag_tensor *w, *b; /* (out, in / groups, k...), (out) or NULL */
} conv;

static ag_tensor *conv_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    conv *c = (conv *)m;
    return c->two_d ? ag_conv2d(t, x, c->w, c->b, &c->o2) : ag_conv1d(t, x, c->w, c->b, &c->o1);
}

/* The shared constructor: kernel (kdims sizes), groups as given. */
static nn_module *conv_new(const char *W, nn_params *ps, const char *prefix, int64_t in, int64_t out, int kdims,
                           const int64_t *kernel, int64_t groups, bool bias, ag_dtype dtype, ag_rng *rng) {
    static const char *const leaves[] = {"weight", "bias"};
    if (!nn__names_free(ps, W, prefix, bias ? 2 : 1, leaves)) return NULL;
    if (groups == 0) groups = 1;
    bool ok = rng && in >= 1 && out >= 1 && groups >= 1 && in % groups == 0 && out % groups == 0;
    for (int i = 0; i < kdims; i++) ok = ok && kernel[i] >= 1;
    if (!ok) {
        nn__fail(!rng ? NN_ERR_NULL : NN_ERR_ARG, "%s: '%s': %s", W, prefix,
                 !rng ? "the generator is NULL"
                      : "need in, out and kernel sizes >= 1, with in and out multiples of the groups");
        return NULL;
    }
    conv *c = nn__module_new(sizeof *c, W, kdims == 2 ? "conv2d" : "conv1d", conv_forward);
    if (!c) return NULL;
    c->two_d = kdims == 2;
    int64_t shape[4] = {out, in / groups, kernel[0], kdims == 2 ? kernel[1] : 0};
    double fan_in = (double)(in / groups);
    for (int i = 0; i < kdims; i++) fan_in *= (double)kernel[i];
    c->w = nn__param(ps, W, prefix, "weight", dtype, 2 + kdims, shape, false);
    if (c->w && bias) c->b = nn__param(ps, W, prefix, "bias", dtype, 1, &out, false);
    if (!c->w || (bias && !c->b)) {
        nn_module_free(&c->base);
        return NULL;
    }
    double bound = 1 / sqrt(fan_in);
    nn_init_uniform(c->w, -bound, bound, rng);
    if (c->b) nn_init_uniform(c->b, -bound, bound, rng);
    return &c->base;
}

nn_module *nn_conv2d_new(nn_params *ps, const char *prefix, int64_t in, int64_t out, int64_t kh, int64_t kw,
                         const ag_conv2d_opts *opts, bool bias, ag_dtype dtype, ag_rng *rng) {
    conv *c = (conv *)conv_new("conv2d_new", ps, prefix, in, out, 2, (const int64_t[]){kh, kw},
                               opts ? opts->groups : 1, bias, dtype, rng);
    if (c && opts) c->o2 = *opts;
    return c ? &c->base : NULL;
}

nn_module *nn_conv1d_new(nn_params *ps, const char *prefix, int64_t in, int64_t out, int64_t k,
                         const ag_conv1d_opts *opts, bool bias, ag_dtype dtype, ag_rng *rng) {
    conv *c = (conv *)conv_new("conv1d_new", ps, prefix, in, out, 1, &k, opts ? opts->groups : 1, bias, dtype, rng);
    if (c && opts) c->o1 = *opts;
    return c ? &c->base : NULL;
}

/* ------------------------------------------------------------- pooling */

typedef struct pool {
    nn_module base;
    ag_pool2d_opts o;
} pool;

static ag_tensor *max_pool_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    return ag_max_pool2d(t, x, &((pool *)m)->o);
}

static ag_tensor *avg_pool_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    return ag_avg_pool2d(t, x, &((pool *)m)->o);
}

static nn_module *pool_new(const char *W, const char *kind, ag_tensor *(*fwd)(nn_module *, ag_tape *, ag_tensor *),
                           const ag_pool2d_opts *opts) {
    if (!opts || opts->kernel[0] < 1 || opts->kernel[1] < 1) {
        nn__fail(!opts ? NN_ERR_NULL : NN_ERR_ARG, "%s: %s", W,
                 !opts ? "the options are NULL (the kernel is required)" : "the kernel sizes must be >= 1");
        return NULL;
    }
    pool *p = nn__module_new(sizeof *p, W, kind, fwd);
    if (p) p->o = *opts;
    return p ? &p->base : NULL;
}

nn_module *nn_max_pool2d_new(const ag_pool2d_opts *opts) {
    return pool_new("max_pool2d_new", "max_pool2d", max_pool_forward, opts);
}

nn_module *nn_avg_pool2d_new(const ag_pool2d_opts *opts) {
    return pool_new("avg_pool2d_new", "avg_pool2d", avg_pool_forward, opts);
}

/* ------------------------------------------------------------- flatten */

static ag_tensor *flatten_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    (void)m;
    if (!nn__inputs_ok(t, "flatten", 1, &x)) return NULL;
    if (ag_ndim(x) < 2) {
        char sx[96];
        return nn__tape_fail(t, AG_ERR_SHAPE, "flatten", "x %s: need (N, ...) with at least 2 axes", NN__SHAPE(x, sx));
    }
    return ag_reshape(t, x, 2, (const int64_t[]){ag_dim(x, 0), -1});
}

nn_module *nn_flatten_new(void) { return nn__module_new(sizeof(nn_module), "flatten_new", "flatten", flatten_forward); }

typedef struct unflatten {
    nn_module base;
    int ndim;
    int64_t shape[AG_MAX_DIMS];    /* of one sample */
    int64_t numel;                 /* their product */
} unflatten;

static ag_tensor *unflatten_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    unflatten *u = (unflatten *)m;
    if (!nn__inputs_ok(t, "unflatten", 1, &x)) return NULL;
    if (ag_ndim(x) != 2 || ag_dim(x, 1) != u->numel) {
        char sx[96];
        return nn__tape_fail(t, AG_ERR_SHAPE, "unflatten", "x %s: need (N, %lld)", NN__SHAPE(x, sx), (long long)u->numel);
    }
    int64_t shape[AG_MAX_DIMS];
    shape[0] = ag_dim(x, 0);
    for (int i = 0; i < u->ndim; i++) shape[i + 1] = u->shape[i];
    return ag_reshape(t, x, u->ndim + 1, shape);
}

nn_module *nn_unflatten_new(int ndim, const int64_t *shape) {
    bool ok = shape && ndim >= 1 && ndim < AG_MAX_DIMS;
    int64_t numel = 1;
    for (int i = 0; ok && i < ndim; i++) {
        ok = shape[i] >= 1 && shape[i] <= INT64_MAX / numel;
        if (ok) numel *= shape[i];
    }
    if (!ok) {
        nn__fail(!shape ? NN_ERR_NULL : NN_ERR_ARG, "unflatten_new: need 1 to %d sizes, each >= 1", AG_MAX_DIMS - 1);
        return NULL;
    }
    unflatten *u = nn__module_new(sizeof *u, "unflatten_new", "unflatten", unflatten_forward);
    if (!u) return NULL;
    u->ndim = ndim;
    u->numel = numel;
    for (int i = 0; i < ndim; i++) u->shape[i] = shape[i];
    return &u->base;
}
