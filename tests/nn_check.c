/* The checks of nn_check.h. */
#include "nn_check.h"

#include <stdlib.h>
#include <string.h>

void tu_fill(double *v, int64_t n, int seed, double scale) {
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * (0.5 * sin(0.731 * (double)i + 1.37 * seed) + 0.25 * cos(2.113 * (double)i + 0.5 * seed));
}

ag_tensor *tu_filled(ag_tape *t, int ndim, const int64_t *shape, int seed, double scale) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    double *v = malloc((size_t)n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    tu_fill(v, n, seed, scale);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, ndim, shape, v));
    free(v);
    return x;
}

/* Writes torch-layout values into p's layout. */
static void set_in_torch_layout(nn_params *ps, size_t i, const double *v) {
    ag_tensor *p = nn_params_at(ps, i);
    const nn_torch_layout *l = nn_params_torch_layout(ps, nn_params_name_at(ps, i));
    double *d = ag_data_mut(p);
    for (int64_t k = 0; k < ag_numel(p); k++) d[l ? l->index_here(ag_ndim(p), ag_shape(p), k) : k] = v[k];
}

void tu_set_torch_params(nn_params *ps, int seed0) {
    int k = 0;
    for (size_t i = 0; i < nn_params_count(ps); i++) {
        if (nn_params_is_buffer_at(ps, i)) continue;
        ag_tensor *p = nn_params_at(ps, i);
        ck_assert_int_eq(ag_dtype_of(p), AG_F64);
        double *v = malloc((size_t)ag_numel(p) * sizeof *v);
        ck_assert_ptr_nonnull(v);
        tu_fill(v, ag_numel(p), seed0 + k++, 0.8);
        set_in_torch_layout(ps, i, v);
        free(v);
    }
}

const tu_ref_entry *tu_ref_get(const tu_ref *r, const char *kind, const char *label) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].kind, kind) == 0 && strcmp(r->e[i].label, label) == 0) return &r->e[i];
    ck_abort_msg("%s: no reference %s '%s'", r->name, kind, label);
    return NULL;
}

ag_tensor *tu_ref_loss(ag_tape *t, int n, ag_tensor *const *outs) {
    ag_tensor *loss = NULL;
    for (int k = 0; k < n; k++) {
        int64_t m = ag_numel(outs[k]);
        double *w = malloc((size_t)m * sizeof *w);
        ck_assert_ptr_nonnull(w);
        tu_fill(w, m, 90 + k, 1);
        ag_tensor *term = ag_sum(t, ag_mul(t, outs[k], ag_from_doubles(t, AG_F64, ag_ndim(outs[k]), ag_shape(outs[k]), w)),
                                 AG_ALL, false);
        free(w);
        loss = loss ? ag_add(t, loss, term) : term;
    }
    return loss;
}

void tu_assert_values(const char *what, const ag_tensor *x, bool grad, const tu_ref_entry *ref, double tol) {
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(ag_numel(x) == ref->n, "%s: %lld values, the reference has %lld", what, (long long)ag_numel(x),
                  (long long)ref->n);
    for (int64_t i = 0; i < ref->n; i++) {
        double v = grad ? ag_grad_get((ag_tensor *)x, i) : ag_get(x, i);
        ck_assert_msg(fabs(v - ref->v[i]) <= tol * (1 + fabs(ref->v[i])), "%s[%lld]: %.15g, PyTorch %.15g", what,
                      (long long)i, v, ref->v[i]);
    }
}

void tu_assert_param_grads(nn_params *ps, const char *prefix, const tu_ref *r, double tol) {
    size_t len = strlen(prefix), seen = 0;
    for (int e = 0; e < r->n; e++) {
        if (strcmp(r->e[e].kind, "dparam") != 0) continue;
        char name[NN_NAME_MAX + 2];
        snprintf(name, sizeof name, "%s.%s", prefix, r->e[e].label);
        ag_tensor *p = nn_params_get(ps, name);
        ck_assert_msg(p != NULL, "%s: no parameter '%s'", r->name, name);
        ck_assert_int_eq(ag_numel(p), r->e[e].n);
        const nn_torch_layout *l = nn_params_torch_layout(ps, name);
        for (int64_t k = 0; k < r->e[e].n; k++) {
            double g = ag_grad_get(p, l ? l->index_here(ag_ndim(p), ag_shape(p), k) : k), want = r->e[e].v[k];
            ck_assert_msg(fabs(g - want) <= tol * (1 + fabs(want)), "%s: d/d%s[%lld] (PyTorch's layout): %.15g, PyTorch %.15g",
                          r->name, name, (long long)k, g, want);
        }
        seen++;
    }
    size_t trainable = nn_params_trainable(ps, NULL);
    (void)len;
    ck_assert_msg(seen == trainable, "%s: %zu parameter gradients in the reference, %zu trainable parameters", r->name,
                  seen, trainable);
}

/* f's output weighted by w and summed, on a fresh tape with the inputs'
 * values (constants). */
static double weighted(ag_fn f, void *ctx, int n, ag_tensor *const *inputs, const double *w, int64_t ny) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[8];
    for (int i = 0; i < n; i++) in[i] = ag_tensor_new(t, AG_F64, ag_ndim(inputs[i]), ag_shape(inputs[i]), ag_data(inputs[i]));
    ag_tensor *y = f(t, in, ctx);
    ck_assert_msg(y != NULL, "forward failed: %s", ag_tape_error(t));
    ck_assert_int_eq(ag_numel(y), ny);
    double s = 0;
    for (int64_t j = 0; j < ny; j++) s += w[j] * ag_get(y, j);
    ag_tape_free(t);
    return s;
}

void tu_check_layer(ag_fn f, void *ctx, int n, ag_tensor *const *inputs, nn_params *ps, int64_t max_per_param) {
    ck_assert_int_le(n, 8);
    if (n > 0) tu_assert_gradcheck(f, ctx, n, inputs);
    /* The parameters: the analytic gradient of sum(w·y) from one backward. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[8];
    for (int i = 0; i < n; i++) in[i] = ag_tensor_new(t, AG_F64, ag_ndim(inputs[i]), ag_shape(inputs[i]), ag_data(inputs[i]));
    ag_tensor *y = f(t, in, ctx);
    ck_assert_msg(y != NULL, "forward failed: %s", ag_tape_error(t));
    int64_t ny = ag_numel(y);
    double *w = malloc((size_t)ny * sizeof *w);
    ck_assert_ptr_nonnull(w);
    ag_rng r;
    ag_rng_seed(&r, 5);
    for (int64_t j = 0; j < ny; j++) w[j] = ag_rng_uniform(&r) + 0.5;
    nn_params_zero_grad(ps);
    ag_tensor *wt = ag_from_doubles(t, AG_F64, ag_ndim(y), ag_shape(y), w);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, wt), AG_ALL, false)), AG_OK);
    const double eps = 1e-6;
    for (size_t i = 0; i < nn_params_count(ps); i++) {
        if (nn_params_is_buffer_at(ps, i)) continue;
        ag_tensor *p = nn_params_at(ps, i);
        int64_t m = ag_numel(p), count = max_per_param > 0 && max_per_param < m ? max_per_param : m;
        bool any_nonzero = false;
        for (int64_t s = 0; s < count; s++) {
            int64_t k = count == m ? s : (int64_t)(ag_rng_next(&r) % (uint64_t)m);
            double analytic = ag_grad_get(p, k), saved = ag_get(p, k), fv[2];
            for (int side = 0; side < 2; side++) {
                ((double *)ag_data_mut(p))[k] = saved + (side ? -eps : eps);
                fv[side] = weighted(f, ctx, n, inputs, w, ny);
            }
            ((double *)ag_data_mut(p))[k] = saved;
            double numeric = (fv[0] - fv[1]) / (2 * eps);
            ck_assert_msg(fabs(analytic - numeric) <= 1e-5 + 1e-3 * fabs(numeric), "%s[%lld]: analytic %.10g, numeric %.10g",
                          nn_params_name_at(ps, i), (long long)k, analytic, numeric);
            any_nonzero |= analytic != 0;
        }
        ck_assert_msg(any_nonzero, "%s: the analytic gradient is all zeros", nn_params_name_at(ps, i));
    }
    free(w);
    ag_tape_free(t);
}
