/* SGD (momentum, Nesterov, weight decay), Adam and AdamW, and gradient
 * clipping by global norm. The rules are written out in nn.h. */
#include "optim_internal.h"

#include <math.h>
#include <stdlib.h>

nn_optim_opts nn_sgd_opts(double lr) { return (nn_optim_opts){.kind = NN_SGD, .lr = lr}; }

nn_optim_opts nn_adam_opts(double lr) {
    return (nn_optim_opts){.kind = NN_ADAM, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

nn_optim_opts nn_adamw_opts(double lr) {
    nn_optim_opts o = nn_adam_opts(lr);
    o.kind = NN_ADAMW;
    o.weight_decay = 0.01;
    return o;
}

static bool in_unit(double x) { return x >= 0 && x < 1; }

static nn_status check_opts(const nn_optim_opts *o) {
    if (!o) return nn__fail(NN_ERR_NULL, "optim_new: the options are NULL");
    if (o->kind != NN_SGD && o->kind != NN_ADAM && o->kind != NN_ADAMW)
        return nn__fail(NN_ERR_ARG, "optim_new: unknown kind %d", (int)o->kind);
    if (!(o->lr >= 0) || !isfinite(o->lr)) return nn__fail(NN_ERR_ARG, "optim_new: lr = %g must be finite and >= 0", o->lr);
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return nn__fail(NN_ERR_ARG, "optim_new: weight_decay = %g must be finite and >= 0", o->weight_decay);
    if (o->kind == NN_SGD) {
        if (!in_unit(o->momentum)) return nn__fail(NN_ERR_ARG, "optim_new: momentum = %g is outside [0, 1)", o->momentum);
        if (o->nesterov && o->momentum == 0) return nn__fail(NN_ERR_ARG, "optim_new: Nesterov needs momentum > 0");
    } else {
        if (!in_unit(o->beta1) || !in_unit(o->beta2))
            return nn__fail(NN_ERR_ARG, "optim_new: betas (%g, %g) must be in [0, 1)", o->beta1, o->beta2);
        if (!(o->eps > 0) || !isfinite(o->eps)) return nn__fail(NN_ERR_ARG, "optim_new: eps = %g must be > 0", o->eps);
    }
    return NN_OK;
}

nn_optim *nn_optim_new_list(size_t n, ag_tensor *const *params, const nn_optim_opts *opts) {
    if (check_opts(opts) != NN_OK) return NULL;
    if (n > 0 && !params) {
        nn__fail(NN_ERR_NULL, "optim_new: the parameter list is NULL");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!params[i] || !ag_is_param(params[i])) {
            nn__fail(params[i] ? NN_ERR_ARG : NN_ERR_NULL, "optim_new: entry %zu %s", i,
                     params[i] ? "is not a parameter (make it with ag_param_new)" : "is NULL");
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (params[j] == params[i]) {
                nn__fail(NN_ERR_ARG, "optim_new: entries %zu and %zu are the same parameter", j, i);
                return NULL;
            }
    }
    nn_optim *o = calloc(1, sizeof *o);
    if (o && n) o->params = malloc(n * sizeof *o->params);
    if (!o || (n && !o->params)) {
        free(o);
        nn__fail(NN_ERR_MEMORY, "optim_new: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) o->params[i] = params[i];
    o->n = n;
    o->o = *opts;
    return o;
}

nn_optim *nn_optim_new(nn_params *ps, const nn_optim_opts *opts) {
    if (!ps) {
        nn__fail(NN_ERR_NULL, "optim_new: the store is NULL");
        return NULL;
    }
    /* The trainable parameters only: buffers (running statistics) are
     * written by their layers, never by an optimizer. */
    size_t n = nn_params_trainable(ps, NULL);
    ag_tensor **list = malloc((n ? n : 1) * sizeof *list);
    if (!list) {
        nn__fail(NN_ERR_MEMORY, "optim_new: out of memory");
        return NULL;
    }
    nn_params_trainable(ps, list);
    nn_optim *o = nn_optim_new_list(n, list, opts);
    free(list);
    return o;
}

static void free_bufs(double **b, size_t n) {
    for (size_t i = 0; b && i < n; i++) free(b[i]);
    free(b);
}

void nn_optim_free(nn_optim *o) {
    if (!o) return;
    free_bufs(o->buf1, o->n);
    free_bufs(o->buf2, o->n);
    free(o->params);
    free(o);
}

/* Zeroed per-parameter buffers, or NULL. */
static double **alloc_bufs(const nn_optim *o) {
    double **b = calloc(o->n ? o->n : 1, sizeof *b);
    for (size_t i = 0; b && i < o->n; i++) {
        b[i] = calloc((size_t)ag_numel(o->params[i]) + 1, sizeof **b);
        if (!b[i]) {
            free_bufs(b, o->n);
            return NULL;
        }
    }
    return b;
}

nn_status nn__optim_ensure_state(nn_optim *o) {
    bool sgd = o->o.kind == NN_SGD;
    bool need1 = !sgd || o->o.momentum > 0, need2 = !sgd;
    if (need1 && !o->buf1 && !(o->buf1 = alloc_bufs(o)))
        return nn__fail(NN_ERR_MEMORY, "optim_step: out of memory for the optimizer state");
    if (need2 && !o->buf2 && !(o->buf2 = alloc_bufs(o))) {
        free_bufs(o->buf1, o->n);
        o->buf1 = NULL;
        return nn__fail(NN_ERR_MEMORY, "optim_step: out of memory for the optimizer state");
    }
    return NN_OK;
}

static inline double load(const void *p, bool f32, int64_t i) {
    return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static inline void store(void *p, bool f32, int64_t i, double v) {
    if (f32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

static void sgd_update(const nn_optim_opts *o, ag_tensor *p, double *buf) {
    bool f32 = ag_dtype_of(p) == AG_F32;
    const void *g = ag_grad_data(p);
    void *v = ag_data_mut(p);
    double lr = o->lr, wd = o->weight_decay, mu = o->momentum;
    for (int64_t i = 0, n = ag_numel(p); i < n; i++) {
        double x = load(v, f32, i);
        double d = load(g, f32, i) + wd * x;
        if (mu > 0) {
            buf[i] = mu * buf[i] + d;
            d = o->nesterov ? d + mu * buf[i] : buf[i];
        }
        store(v, f32, i, x - lr * d);
    }
}

/* One typed loop per dtype, with the loop-invariant factors hoisted and
 * restrict pointers, so the compiler can vectorise it: Adam is the costliest
 * part of a small model's step. The formula is the one documented in nn.h,
 * rearranged: lr·m̂/(√v̂ + eps) = (lr/c1)·m/(√s·(1/√c2) + eps). */
#define ADAM_LOOP(T, DECOUPLED)                                              \
    do {                                                                     \
        T *restrict x = vp;                                                  \
        const T *restrict g = gp;                                            \
        for (int64_t i = 0; i < n; i++) {                                    \
            double xi = x[i], d = g[i];                                      \
            if (DECOUPLED) xi -= lr_wd * xi;                                 \
            else d += wd * xi;                                               \
            const double mi = b1 * m[i] + (1 - b1) * d;                      \
            const double si = b2 * s[i] + (1 - b2) * d * d;                  \
            m[i] = mi;                                                       \
            s[i] = si;                                                       \
            x[i] = (T)(xi - step_size * mi / (sqrt(si) * inv_sqrt_c2 + eps)); \
        }                                                                    \
    } while (0)

static void adam_update(const nn_optim_opts *o, int64_t step, ag_tensor *p, double *restrict m,
                        double *restrict s) {
    const bool decoupled = o->kind == NN_ADAMW;
    const void *gp = ag_grad_data(p);
    void *vp = ag_data_mut(p);
    const int64_t n = ag_numel(p);
    const double wd = o->weight_decay, lr_wd = o->lr * o->weight_decay, b1 = o->beta1,
                 b2 = o->beta2, eps = o->eps;
    const double c1 = 1 - pow(b1, (double)step), c2 = 1 - pow(b2, (double)step); // bias corrections
    const double step_size = o->lr / c1, inv_sqrt_c2 = 1 / sqrt(c2);
    /* AdamW or not as a constant, so each loop is branch-free; sqrt is
     * inlined (the build's -fno-math-errno), so the loops vectorise */
    if (ag_dtype_of(p) == AG_F32) {
        if (decoupled) ADAM_LOOP(float, true);
        else ADAM_LOOP(float, false);
    } else {
        if (decoupled) ADAM_LOOP(double, true);
        else ADAM_LOOP(double, false);
    }
}

nn_status nn_optim_step(nn_optim *o) {
    if (!o) return nn__fail(NN_ERR_NULL, "optim_step: the optimizer is NULL");
    nn_status st = nn__optim_ensure_state(o);
    if (st != NN_OK) return st;
    o->steps++;
    for (size_t i = 0; i < o->n; i++) {
        ag_tensor *p = o->params[i];
        if (ag_numel(p) == 0 || !ag_grad_data(p)) continue;
        if (o->o.kind == NN_SGD) sgd_update(&o->o, p, o->buf1 ? o->buf1[i] : NULL);
        else adam_update(&o->o, o->steps, p, o->buf1[i], o->buf2[i]);
    }
    return NN_OK;
}

void nn_optim_zero_grad(nn_optim *o) {
    for (size_t i = 0; o && i < o->n; i++) ag_zero_grad(o->params[i]);
}

double nn_optim_lr(const nn_optim *o) { return o ? o->o.lr : NAN; }

void nn_optim_set_lr(nn_optim *o, double lr) {
    if (o && lr >= 0 && isfinite(lr)) o->o.lr = lr;
}

int64_t nn_optim_steps(const nn_optim *o) { return o ? o->steps : 0; }

/* ------------------------------------------------------------- clipping */

double nn_clip_grad_norm(size_t n, ag_tensor *const *params, double max_norm) {
    if (n > 0 && !params) {
        nn__fail(NN_ERR_NULL, "clip_grad_norm: the parameter list is NULL");
        return NAN;
    }
    if (!(max_norm > 0)) {
        nn__fail(NN_ERR_ARG, "clip_grad_norm: max_norm = %g must be > 0", max_norm);
        return NAN;
    }
    double sq = 0;
    for (size_t i = 0; i < n; i++) {
        if (!params[i]) {
            nn__fail(NN_ERR_NULL, "clip_grad_norm: entry %zu is NULL", i);
            return NAN;
        }
        const void *g = ag_grad_data(params[i]);
        bool f32 = ag_dtype_of(params[i]) == AG_F32;
        for (int64_t k = 0, m = g ? ag_numel(params[i]) : 0; k < m; k++) {
            double x = load(g, f32, k);
            sq += x * x;
        }
    }
    double norm = sqrt(sq);
    if (!(norm > max_norm) || !isfinite(norm)) return norm;
    double scale = max_norm / norm;
    for (size_t i = 0; i < n; i++) {
        void *g = ag_grad_data(params[i]);
        bool f32 = ag_dtype_of(params[i]) == AG_F32;
        for (int64_t k = 0, m = g ? ag_numel(params[i]) : 0; k < m; k++) store(g, f32, k, load(g, f32, k) * scale);
    }
    return norm;
}

double nn_params_clip_grad_norm(nn_params *ps, double max_norm) {
    if (!ps) {
        nn__fail(NN_ERR_NULL, "clip_grad_norm: the store is NULL");
        return NAN;
    }
    /* One parameter at a time would need the total first: gather the list. */
    size_t n = nn_params_trainable(ps, NULL);
    ag_tensor **list = malloc((n ? n : 1) * sizeof *list);
    if (!list) {
        nn__fail(NN_ERR_MEMORY, "clip_grad_norm: out of memory");
        return NAN;
    }
    nn_params_trainable(ps, list);
    double norm = nn_clip_grad_norm(n, list, max_norm);
    free(list);
    return norm;
}
