/* nn layers: Linear, Sequential, MLP, activations, Dropout and the
 * initialisers — gradient checks (inputs and parameters), values, modes,
 * statistics, reproducibility and errors. */
#include "testutil.h"

#include <tapegrad/nn.h>
#include <string.h>

/* -------------------------------------------------------------- helpers */

/* ag_fn wrappers: the module (ctx) on inputs[0]. */
static ag_tensor *module_fn(ag_tape *t, ag_tensor *const *in, void *ctx) {
    return nn_forward(ctx, t, in[0]);
}

/* nn_linear on inputs (x, w, b). */
static ag_tensor *linear_fn(ag_tape *t, ag_tensor *const *in, void *ctx) {
    return nn_linear(t, in[0], in[1], ctx ? in[2] : NULL);
}

/* Checks the gradients a module leaves in its parameters against central
 * differences: the parameters live in the store, not in the checker, so
 * this perturbs them in place (through ag_data_mut) and re-runs the
 * forward on a fresh tape. The output is weighted by fixed numbers so
 * every element's chain rule counts. x is a constant (n_x values, shape). */
static void check_param_grads(nn_module *m, nn_params *ps, int ndim, const int64_t *shape, uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, ndim, shape, -1, 1);
    double xv[256];
    int64_t nx = ag_numel(x);
    ck_assert_int_le(nx, 256);
    ag_to_doubles(x, xv, nx);
    ag_tensor *y = nn_forward(m, t, x);
    ck_assert_ptr_nonnull(y);
    int64_t ny = ag_numel(y);
    double w[256];
    ck_assert_int_le(ny, 256);
    for (int64_t i = 0; i < ny; i++) w[i] = ag_rng_uniform(&r) + 0.5;
    nn_params_zero_grad(ps);
    ag_tensor *wt = ag_from_doubles(t, AG_F64, ag_ndim(y), ag_shape(y), w);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, wt), AG_ALL, false)), AG_OK);
    const double eps = 1e-6;
    int64_t checked = 0;
    bool any_nonzero = false;
    for (size_t i = 0; i < nn_params_count(ps); i++) {
        ag_tensor *p = nn_params_at(ps, i);
        for (int64_t k = 0; k < ag_numel(p); k++) {
            double analytic = ag_grad_get(p, k), f[2];
            double saved = ag_get(p, k);
            for (int s = 0; s < 2; s++) {
                ((double *)ag_data_mut(p))[k] = saved + (s ? -eps : eps);
                ag_tape_reset(t);
                ag_tensor *xc = ag_from_doubles(t, AG_F64, ndim, shape, xv);
                ag_tensor *yc = nn_forward(m, t, xc);
                f[s] = 0;
                for (int64_t j = 0; j < ny; j++) f[s] += w[j] * ag_get(yc, j);
            }
            ((double *)ag_data_mut(p))[k] = saved;
            double numeric = (f[0] - f[1]) / (2 * eps);
            ck_assert_msg(fabs(analytic - numeric) <= 1e-5 + 1e-3 * fabs(numeric),
                          "%s[%lld]: analytic %.10g, numeric %.10g", nn_params_name_at(ps, i), (long long)k,
                          analytic, numeric);
            any_nonzero |= analytic != 0;
            checked++;
        }
    }
    ck_assert_int_gt(checked, 0);
    ck_assert(any_nonzero);
    ag_tape_free(t);
}

/* --------------------------------------------------------------- linear */

START_TEST(linear_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[] = {tu_rand(t, &r, AG_SHAPE(4, 3), -1, 1), tu_rand(t, &r, AG_SHAPE(3, 2), -1, 1),
                       tu_rand(t, &r, AG_SHAPE(2), -1, 1)};
    tu_assert_gradcheck(linear_fn, (void *)1, 3, in); /* with bias */
    tu_assert_gradcheck(linear_fn, NULL, 2, in);      /* without */
    ag_tensor *in3[] = {tu_rand(t, &r, AG_SHAPE(2, 4, 3), -1, 1), in[1], in[2]};
    tu_assert_gradcheck(linear_fn, (void *)1, 3, in3); /* (N, B, in), w shared */
    ag_tape_free(t);
}
END_TEST

START_TEST(linear_values) {
    /* y = x @ w + b by hand: x (2, 3), w (3, 2), b (2). */
    const double x[] = {1, 2, 3, -1, 0, 2};
    const double w[] = {1, -1, 0.5, 2, -2, 1};
    const double b[] = {0.25, -0.5};
    const double want[] = {1 + 1 - 6 + 0.25, -1 + 4 + 3 - 0.5, -1 + 0 - 4 + 0.25, 1 + 0 + 2 - 0.5};
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = nn_linear(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), x),
                             ag_from_doubles(t, AG_F64, AG_SHAPE(3, 2), w),
                             ag_from_doubles(t, AG_F64, AG_SHAPE(2), b));
    ck_assert_int_eq(ag_ndim(y), 2);
    ck_assert_int_eq(ag_dim(y, 0), 2);
    ck_assert_int_eq(ag_dim(y, 1), 2);
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(ag_get(y, i), want[i], 1e-15);
    ag_tape_free(t);
}
END_TEST

START_TEST(linear_module) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 7);
    nn_module *fc = nn_linear_new(ps, "fc1", 3, 2, true, AG_F64, &r);
    ck_assert_ptr_nonnull(fc);
    ck_assert_str_eq(fc->kind, "linear");
    ck_assert(fc->training);
    ck_assert_uint_eq(nn_params_count(ps), 2);
    ag_tensor *w = nn_params_get(ps, "fc1.weight"), *b = nn_params_get(ps, "fc1.bias");
    ck_assert_ptr_eq(nn_linear_weight(fc), w);
    ck_assert_ptr_eq(nn_linear_bias(fc), b);
    ck_assert_int_eq(ag_dim(w, 0), 3);
    ck_assert_int_eq(ag_dim(w, 1), 2);
    ck_assert_int_eq(ag_ndim(b), 1);
    ck_assert_int_eq(ag_dim(b, 0), 2);
    /* PyTorch's default init: |value| <= 1/sqrt(in), not all zero. */
    bool nonzero = false;
    for (int i = 0; i < 6; i++) {
        ck_assert_double_le(fabs(ag_get(w, i)), 1 / sqrt(3.0));
        nonzero |= ag_get(w, i) != 0;
    }
    ck_assert(nonzero);

    /* Gradients with respect to the input (the checker) and the parameters. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[] = {tu_rand(t, &r, AG_SHAPE(5, 3), -1, 1)};
    tu_assert_gradcheck(module_fn, fc, 1, x);
    check_param_grads(fc, ps, AG_SHAPE(5, 3), 11);

    /* Without a bias. */
    nn_module *nb = nn_linear_new(ps, "fc2", 3, 4, false, AG_F32, &r);
    ck_assert_ptr_nonnull(nb);
    ck_assert_ptr_null(nn_linear_bias(nb));
    ck_assert_ptr_null(nn_params_get(ps, "fc2.bias"));
    ck_assert_int_eq(ag_dtype_of(nn_params_get(ps, "fc2.weight")), AG_F32);
    ck_assert_ptr_null(nn_linear_weight(NULL));
    ag_tape_free(t);
    nn_module_free(fc);
    nn_module_free(nb);
    nn_params_free(ps);
}
END_TEST

/* ---------------------------------------------------------- activations */

typedef struct act_ctx {
    nn_act act;
} act_ctx;

static ag_tensor *act_fn(ag_tape *t, ag_tensor *const *in, void *ctx) {
    return nn_activate(t, ((act_ctx *)ctx)->act, in[0]);
}

START_TEST(activations_gradcheck_and_values) {
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_tape *t = ag_tape_new(0);
    /* Values away from the kink at 0 (relu, leaky relu). */
    const double xs[] = {-2.0, -0.7, -0.3, 0.4, 0.9, 1.7};
    ag_tensor *x = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), xs);
    for (nn_act a = NN_IDENTITY; a <= NN_SOFTMAX; a++) {
        act_ctx c = {a};
        if (a != NN_IDENTITY) tu_assert_gradcheck(act_fn, &c, 1, &x);
        /* The module computes the same as the function. */
        nn_module *m = nn_activation_new(a);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->kind, nn_act_name(a));
        ag_tensor *y1 = nn_forward(m, t, x), *y2 = nn_activate(t, a, x);
        for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_get(y1, i), ag_get(y2, i));
        nn_module_free(m);
    }
    /* Known values. */
    ck_assert_double_eq(ag_get(nn_activate(t, NN_RELU, x), 0), 0.0);
    ck_assert_double_eq(ag_get(nn_activate(t, NN_RELU, x), 3), 0.4);
    ck_assert_double_eq_tol(ag_get(nn_activate(t, NN_LEAKY_RELU, x), 0), -0.02, 1e-15);
    ck_assert_double_eq_tol(ag_get(nn_activate(t, NN_TANH, x), 4), tanh(0.9), 1e-15);
    ck_assert_double_eq_tol(ag_get(nn_activate(t, NN_SIGMOID, x), 1), 1 / (1 + exp(0.7)), 1e-15);
    ck_assert_double_eq_tol(ag_get(nn_activate(t, NN_GELU, x), 5), 1.7 * 0.5 * erfc(-1.7 / sqrt(2)), 1e-12);
    ag_tensor *sm = nn_activate(t, NN_SOFTMAX, x);
    double z = exp(0.4) + exp(0.9) + exp(1.7);
    ck_assert_double_eq_tol(ag_get(sm, 4), exp(0.9) / z, 1e-15); /* along the last axis */
    ck_assert_ptr_eq(nn_activate(t, NN_IDENTITY, x), x);
    /* A leaky relu module with its own slope. */
    nn_module *lr = nn_leaky_relu_new(0.2);
    ck_assert_double_eq_tol(ag_get(nn_forward(lr, t, x), 0), -0.4, 1e-15);
    nn_module_free(lr);
    ck_assert_str_eq(nn_act_name((nn_act)99), "?");
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------ sequential, MLP */

START_TEST(sequential_container) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 5);
    nn_module *seq = nn_sequential_new();
    ck_assert_ptr_nonnull(seq);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, AG_SHAPE(3, 2), -1, 1);
    ck_assert_ptr_eq(nn_forward(seq, t, x), x); /* empty: identity */
    nn_module *a = nn_linear_new(ps, "a", 2, 3, true, AG_F64, &r), *act = nn_activation_new(NN_TANH),
              *b = nn_linear_new(ps, "b", 3, 1, true, AG_F64, &r);
    ck_assert_int_eq(nn_sequential_add(seq, a), NN_OK);
    ck_assert_int_eq(nn_sequential_add(seq, act), NN_OK);
    ck_assert_int_eq(nn_sequential_add(seq, b), NN_OK);
    ck_assert_uint_eq(nn_sequential_len(seq), 3);
    ck_assert_ptr_eq(nn_sequential_at(seq, 1), act);
    ck_assert_ptr_null(nn_sequential_at(seq, 3));
    /* The same as calling the modules by hand. */
    ag_tensor *y = nn_forward(seq, t, x);
    ag_tensor *y2 = nn_forward(b, t, nn_forward(act, t, nn_forward(a, t, x)));
    ck_assert_int_eq(ag_dim(y, 1), 1);
    for (int i = 0; i < 3; i++) ck_assert_double_eq(ag_get(y, i), ag_get(y2, i));
    ag_tensor *in[] = {x};
    tu_assert_gradcheck(module_fn, seq, 1, in);
    check_param_grads(seq, ps, AG_SHAPE(3, 2), 6);
    /* Mode reaches the children. */
    nn_module_set_training(seq, false);
    ck_assert(!seq->training && !a->training && !act->training && !b->training);
    nn_module_set_training(seq, true);
    ck_assert(b->training);
    ag_tape_free(t);
    nn_module_free(seq); /* frees a, act, b */
    nn_params_free(ps);
}
END_TEST

START_TEST(mlp_builder) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 9);
    const int64_t sizes[] = {3, 5, 4, 2};
    nn_module *mlp = nn_mlp_new(ps, "mlp", 4, sizes, NN_TANH, AG_F64, &r);
    ck_assert_ptr_nonnull(mlp);
    ck_assert_uint_eq(nn_sequential_len(mlp), 5); /* linear tanh linear tanh linear */
    ck_assert_str_eq(nn_sequential_at(mlp, 1)->kind, "tanh");
    ck_assert_str_eq(nn_sequential_at(mlp, 4)->kind, "linear");
    const char *names[] = {"mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias", "mlp.2.weight", "mlp.2.bias"};
    ck_assert_uint_eq(nn_params_count(ps), 6);
    for (size_t i = 0; i < 6; i++) ck_assert_str_eq(nn_params_name_at(ps, i), names[i]);
    ck_assert_int_eq(nn_params_numel(ps), 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2);
    /* Xavier uniform with tanh's gain: |w| <= (5/3)·sqrt(6 / (3 + 5)); biases zero. */
    ag_tensor *w0 = nn_params_get(ps, "mlp.0.weight");
    for (int i = 0; i < 15; i++) ck_assert_double_le(fabs(ag_get(w0, i)), 5.0 / 3.0 * sqrt(6.0 / 8.0));
    for (int i = 0; i < 5; i++) ck_assert_double_eq(ag_get(nn_params_get(ps, "mlp.0.bias"), i), 0.0);
    /* Biases are zero, so give them values before checking their gradients. */
    for (size_t i = 1; i < 6; i += 2) nn_init_uniform(nn_params_at(ps, i), -0.5, 0.5, &r);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[] = {tu_rand(t, &r, AG_SHAPE(4, 3), -1, 1)};
    ag_tensor *y = nn_forward(mlp, t, x[0]);
    ck_assert_int_eq(ag_dim(y, 0), 4);
    ck_assert_int_eq(ag_dim(y, 1), 2);
    tu_assert_gradcheck(module_fn, mlp, 1, x);
    check_param_grads(mlp, ps, AG_SHAPE(4, 3), 10);
    nn_module_free(mlp);

    /* relu: He uniform, |w| <= sqrt(2)·sqrt(3 / fan_in). Two sizes: one layer, no activation. */
    nn_module *relu = nn_mlp_new(ps, "r", 3, (const int64_t[]){4, 8, 1}, NN_RELU, AG_F32, &r);
    ck_assert_ptr_nonnull(relu);
    ag_tensor *rw = nn_params_get(ps, "r.0.weight");
    for (int i = 0; i < 32; i++) ck_assert_double_le(fabs(ag_get(rw, i)), sqrt(6.0 / 4.0) + 1e-6);
    nn_module *one = nn_mlp_new(ps, "one", 2, (const int64_t[]){4, 2}, NN_RELU, AG_F64, &r);
    ck_assert_uint_eq(nn_sequential_len(one), 1);
    nn_module_free(relu);
    nn_module_free(one);
    ag_tape_free(t);
    nn_params_free(ps);
}
END_TEST

/* --------------------------------------------------------------- dropout */

START_TEST(dropout_modes) {
    ag_tape *t = ag_tape_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    const int64_t n = 20000;
    ag_tensor *x = tu_rand(t, &r, AG_SHAPE(100, 200), 0.5, 1.5); /* no zeros of its own */
    nn_module *d = nn_dropout_new(0.3, 123);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->kind, "dropout");

    /* Evaluation: the identity, x itself. */
    nn_module_set_training(d, false);
    ck_assert_ptr_eq(nn_forward(d, t, x), x);

    /* Training: about p zeroed, the rest scaled by 1/(1-p) exactly. */
    nn_module_set_training(d, true);
    ag_tensor *y = nn_forward(d, t, x);
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = ag_get(y, i);
        if (v == 0) zeros++;
        else ck_assert_double_eq(v, ag_get(x, i) * (1.0 / 0.7));
    }
    double frac = (double)zeros / (double)n;
    ck_assert_msg(fabs(frac - 0.3) < 0.015, "zeroed fraction %g", frac);

    /* Reproducible: a module with the same seed gives the same mask; a
     * second call of the same module gives a new one. */
    nn_module *d2 = nn_dropout_new(0.3, 123);
    ag_tensor *y2 = nn_forward(d2, t, x), *y3 = nn_forward(d2, t, x);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert_double_eq(ag_get(y2, i), ag_get(y, i));
        same += (ag_get(y3, i) == 0) == (ag_get(y, i) == 0);
    }
    ck_assert_int_lt(same, n);

    /* The gradient is the mask. */
    ag_tensor *xs = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(50)));
    ag_rng dr;
    ag_rng_seed(&dr, 4);
    ag_tensor *ys = nn_dropout(t, xs, 0.5, true, &dr);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ys, AG_ALL, false)), AG_OK);
    for (int i = 0; i < 50; i++) ck_assert_double_eq(ag_grad_get(xs, i), ag_get(ys, i));

    /* p = 0 is the identity, p = 1 zeroes everything; f32 works. */
    ck_assert_ptr_eq(nn_dropout(t, x, 0, true, &dr), x);
    ag_tensor *all = nn_dropout(t, ag_ones(t, AG_F32, AG_SHAPE(10)), 1, true, &dr);
    ck_assert_int_eq(ag_dtype_of(all), AG_F32);
    for (int i = 0; i < 10; i++) ck_assert_double_eq(ag_get(all, i), 0.0);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    nn_module_free(d);
    nn_module_free(d2);
    ag_tape_free(t);
}
END_TEST

/* A fresh generator per evaluation, so the checker sees one fixed mask. */
static ag_tensor *dropout_fn(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    ag_rng r;
    ag_rng_seed(&r, 77);
    return nn_dropout(t, in[0], 0.4, true, &r);
}

START_TEST(dropout_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 2);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[] = {tu_rand(t, &r, AG_SHAPE(4, 5), -1, 1)};
    tu_assert_gradcheck(dropout_fn, NULL, 1, x);
    ag_tape_free(t);
}
END_TEST

/* ----------------------------------------------------------- initialisers */

static void stats(const ag_tensor *p, double *mean, double *sd, double *maxabs) {
    int64_t n = ag_numel(p);
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = ag_get(p, i);
        s += v;
        s2 += v * v;
        m = fmax(m, fabs(v));
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
    *maxabs = m;
}

START_TEST(init_statistics) {
    ag_rng r;
    ag_rng_seed(&r, 42);
    ag_tensor *p = ag_param_new(AG_F64, AG_SHAPE(200, 300), NULL); /* fan_in 200, fan_out 300 */
    double mean, sd, mx;

    double a = sqrt(6.0 / 500);
    ck_assert_int_eq(nn_init_xavier_uniform(p, 1.0, &r), NN_OK);
    stats(p, &mean, &sd, &mx);
    ck_assert_double_le(mx, a);
    ck_assert_double_gt(mx, 0.99 * a);
    ck_assert_double_eq_tol(sd, a / sqrt(3), 0.02 * a);
    ck_assert_double_eq_tol(mean, 0, 0.01 * a);

    ck_assert_int_eq(nn_init_xavier_normal(p, 2.0, &r), NN_OK);
    stats(p, &mean, &sd, &mx);
    ck_assert_double_eq_tol(sd, 2.0 * sqrt(2.0 / 500), 0.02 * sd);

    double g = nn_init_gain(NN_RELU, 0);
    ck_assert_double_eq_tol(g, sqrt(2.0), 1e-15);
    double ka = g * sqrt(3.0 / 200);
    ck_assert_int_eq(nn_init_kaiming_uniform(p, g, &r), NN_OK);
    stats(p, &mean, &sd, &mx);
    ck_assert_double_le(mx, ka);
    ck_assert_double_gt(mx, 0.99 * ka);
    ck_assert_double_eq_tol(sd, ka / sqrt(3), 0.02 * ka);

    ck_assert_int_eq(nn_init_kaiming_normal(p, g, &r), NN_OK);
    stats(p, &mean, &sd, &mx);
    ck_assert_double_eq_tol(sd, sqrt(2.0 / 200), 0.02 * sd);

    ck_assert_int_eq(nn_init_normal(p, 3, 0.5, &r), NN_OK);
    stats(p, &mean, &sd, &mx);
    ck_assert_double_eq_tol(mean, 3, 0.01);
    ck_assert_double_eq_tol(sd, 0.5, 0.01);

    ck_assert_int_eq(nn_init_zeros(p), NN_OK);
    stats(p, &mean, &sd, &mx);
    ck_assert_double_eq(mx, 0);

    /* Gains. */
    ck_assert_double_eq_tol(nn_init_gain(NN_TANH, 0), 5.0 / 3.0, 1e-15);
    ck_assert_double_eq(nn_init_gain(NN_SIGMOID, 0), 1.0);
    ck_assert_double_eq_tol(nn_init_gain(NN_LEAKY_RELU, 0.1), sqrt(2.0 / 1.01), 1e-15);

    /* Each write is a new version (tapes recorded before are stale). */
    uint32_t v = ag_param_version(p);
    nn_init_zeros(p);
    ck_assert_uint_gt(ag_param_version(p), v);
    ag_param_free(p);
}
END_TEST

START_TEST(init_reproducible) {
    ag_tensor *a = ag_param_new(AG_F32, AG_SHAPE(16, 8), NULL), *b = ag_param_new(AG_F32, AG_SHAPE(16, 8), NULL);
    ag_rng r1, r2;
    ag_rng_seed(&r1, 5);
    ag_rng_seed(&r2, 5);
    nn_init_xavier_normal(a, 1, &r1);
    nn_init_xavier_normal(b, 1, &r2);
    ck_assert_mem_eq(ag_data(a), ag_data(b), 16 * 8 * sizeof(float));
    nn_init_kaiming_uniform(a, 1, &r1);
    ag_rng_seed(&r2, 6);
    nn_init_kaiming_uniform(b, 1, &r2);
    ck_assert(memcmp(ag_data(a), ag_data(b), 16 * 8 * sizeof(float)) != 0);
    /* A 3-D weight: fans multiply by the receptive field (4·5). */
    ag_tensor *c = ag_param_new(AG_F64, AG_SHAPE(2, 3, 4, 5), NULL);
    nn_init_xavier_uniform(c, 1, &r1);
    for (int i = 0; i < 120; i++) ck_assert_double_le(fabs(ag_get(c, i)), sqrt(6.0 / (40 + 60)));
    ag_param_free(a);
    ag_param_free(b);
    ag_param_free(c);
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(layer_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(4, 3));
    ag_tensor *w = ag_ones(t, AG_F64, AG_SHAPE(2, 5));
    ck_assert_ptr_null(nn_linear(t, x, w, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "linear"));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[4, 3]"));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[2, 5]"));
    /* A NULL input after the failure keeps the first error. */
    ck_assert_ptr_null(nn_activate(t, NN_RELU, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);

    ag_tensor *w2 = ag_ones(t, AG_F64, AG_SHAPE(3, 5));
    ck_assert_ptr_null(nn_linear(t, x, w2, ag_ones(t, AG_F64, AG_SHAPE(4))));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "bias [4]"));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_linear(t, ag_ones(t, AG_F64, AG_SHAPE(3)), w2, NULL)); /* 1-D x */
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_linear(t, NULL, w2, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_linear(t, ag_ones(t, AG_F32, AG_SHAPE(4, 3)), w2, NULL)); /* dtype */
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_linear(NULL, x, w2, NULL));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "tape"));

    /* Modules. */
    ck_assert_ptr_null(nn_forward(NULL, t, x));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_clear_error(t);
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_module *fc = nn_linear_new(ps, "fc", 3, 2, true, AG_F64, &r);
    ck_assert_ptr_null(nn_forward(fc, t, ag_ones(t, AG_F64, AG_SHAPE(4, 5))));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_forward(fc, t, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_clear_error(t);

    /* Registration failures leave the store as it was. */
    ck_assert_ptr_null(nn_linear_new(ps, "fc", 3, 2, true, AG_F64, &r));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "fc.weight"));
    ck_assert_uint_eq(nn_params_count(ps), 2);
    nn_params_create(ps, "g.bias", AG_F64, AG_SHAPE(2), NULL);
    ck_assert_ptr_null(nn_linear_new(ps, "g", 3, 2, true, AG_F64, &r));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "g.bias"));
    ck_assert_ptr_null(nn_params_get(ps, "g.weight"));
    ck_assert_ptr_null(nn_linear_new(ps, "h", 0, 2, true, AG_F64, &r));
    ck_assert_ptr_null(nn_linear_new(NULL, "h", 1, 2, true, AG_F64, &r));
    ck_assert_ptr_null(nn_linear_new(ps, "h", 1, 2, true, AG_F64, NULL));
    ck_assert_ptr_null(nn_linear_new(ps, "h", 1, 2, true, (ag_dtype)9, &r));
    size_t count = nn_params_count(ps);
    ck_assert_ptr_null(nn_mlp_new(ps, "m", 1, (const int64_t[]){3}, NN_RELU, AG_F64, &r));
    ck_assert_ptr_null(nn_mlp_new(ps, "m", 3, (const int64_t[]){3, 0, 1}, NN_RELU, AG_F64, &r));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "sizes[1]"));
    ck_assert_ptr_null(nn_mlp_new(ps, "m", 2, (const int64_t[]){3, 1}, (nn_act)42, AG_F64, &r));
    ck_assert_ptr_null(nn_mlp_new(ps, "m", 2, NULL, NN_RELU, AG_F64, &r));
    nn_params_create(ps, "m.1.weight", AG_F64, AG_SHAPE(1), NULL);
    ck_assert_ptr_null(nn_mlp_new(ps, "m", 3, (const int64_t[]){3, 2, 1}, NN_RELU, AG_F64, &r));
    ck_assert_ptr_null(nn_params_get(ps, "m.0.weight"));
    ck_assert_uint_eq(nn_params_count(ps), count + 1);

    /* Sequential. */
    nn_module *seq = nn_sequential_new();
    ck_assert_int_eq(nn_sequential_add(seq, NULL), NN_ERR_NULL);
    ck_assert_int_eq(nn_sequential_add(seq, seq), NN_ERR_ARG);
    ck_assert_int_eq(nn_sequential_add(fc, seq), NN_ERR_ARG); /* fc is not a Sequential */
    ck_assert_uint_eq(nn_sequential_len(fc), 0);
    ck_assert_ptr_null(nn_sequential_at(NULL, 0));

    /* Dropout and activations. */
    ck_assert_ptr_null(nn_dropout_new(1.5, 1));
    ck_assert_ptr_null(nn_dropout_new(NAN, 1));
    ck_assert_ptr_null(nn_dropout(t, x, -0.1, true, &r));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_dropout(t, x, 0.5, true, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_activate(t, (nn_act)42, x));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ck_assert_ptr_null(nn_activation_new((nn_act)42));

    /* Initialisers. */
    ag_tensor *p = ag_param_new(AG_F64, AG_SHAPE(2, 2), NULL);
    ck_assert_int_eq(nn_init_xavier_uniform(NULL, 1, &r), NN_ERR_NULL);
    ck_assert_int_eq(nn_init_kaiming_normal(p, 1, NULL), NN_ERR_NULL);
    ck_assert_int_eq(nn_init_uniform(p, 1, 0, &r), NN_ERR_ARG);
    ck_assert_int_eq(nn_init_normal(p, 0, -1, &r), NN_ERR_ARG);
    ck_assert_int_eq(nn_init_zeros(NULL), NN_ERR_NULL);
    ag_param_free(p);

    nn_module_free(seq);
    nn_module_free(fc);
    nn_module_free(NULL);
    nn_module_set_training(NULL, true);
    nn_params_free(ps);
    ag_tape_free(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_layers");
    TCase *c = tcase_create("layers");
    tcase_add_test(c, linear_gradcheck);
    tcase_add_test(c, linear_values);
    tcase_add_test(c, linear_module);
    tcase_add_test(c, activations_gradcheck_and_values);
    tcase_add_test(c, sequential_container);
    tcase_add_test(c, mlp_builder);
    tcase_add_test(c, dropout_modes);
    tcase_add_test(c, dropout_gradcheck);
    suite_add_tcase(s, c);
    c = tcase_create("init");
    tcase_add_test(c, init_statistics);
    tcase_add_test(c, init_reproducible);
    suite_add_tcase(s, c);
    c = tcase_create("errors");
    tcase_add_test(c, layer_errors);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
