/* nn optimizers: one step of each rule on a known quadratic against the
 * update computed by hand, Adam's bias correction over two steps, gradient
 * clipping, schedules, the stale-tape guard, XOR training, and errors. */
#include "testutil.h"

#include <tapegrad/nn.h>
#include "nn_testfiles.h"
#include <string.h>

/* The quadratic L(p) = 0.5·sum(c·p²), so dL/dp = c·p: p0 = (1, -2, 3),
 * c = (1, 2, 0.5), g0 = (1, -4, 1.5). */
static const double P0[] = {1, -2, 3}, C[] = {1, 2, 0.5};

/* Zero-grad, forward and backward of the quadratic at p's current values. */
static void quad_grad(ag_tape *t, ag_tensor *p) {
    ag_tape_reset(t);
    ag_zero_grad(p);
    ag_tensor *c = ag_from_doubles(t, AG_F64, AG_SHAPE(3), C);
    ag_tensor *l = ag_mul_c(t, ag_sum(t, ag_mul(t, c, ag_square(t, p)), AG_ALL, false), 0.5);
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    for (int i = 0; i < 3; i++) ck_assert_double_eq(ag_grad_get(p, i), C[i] * ag_get(p, i));
}

/* Runs `steps` steps of opts on the quadratic from P0 and returns p. */
static void run(const nn_optim_opts *opts, int steps, double out[3]) {
    ag_tensor *p = ag_param_new(AG_F64, AG_SHAPE(3), P0);
    ag_tape *t = ag_tape_new(0);
    nn_optim *o = nn_optim_new_list(1, &p, opts);
    ck_assert_ptr_nonnull(o);
    for (int s = 0; s < steps; s++) {
        quad_grad(t, p);
        ck_assert_int_eq(nn_optim_step(o), NN_OK);
    }
    ck_assert_int_eq(nn_optim_steps(o), steps);
    ag_to_doubles(p, out, 3);
    nn_optim_free(o);
    ag_tape_free(t);
    ag_param_free(p);
}

#define TOL 1e-12

START_TEST(sgd_plain_and_decay) {
    double p[3];
    nn_optim_opts o = nn_sgd_opts(0.1);
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], P0[i] - 0.1 * C[i] * P0[i], TOL);
    /* Weight decay 0.05: g + 0.05·p. */
    o.weight_decay = 0.05;
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], P0[i] - 0.1 * (C[i] * P0[i] + 0.05 * P0[i]), TOL);
    /* By the numbers, for element 1: -2 - 0.1·(-4 - 0.1) = -1.59. */
    ck_assert_double_eq_tol(p[1], -1.59, TOL);
}
END_TEST

START_TEST(sgd_momentum_and_nesterov) {
    double p[3];
    nn_optim_opts o = nn_sgd_opts(0.1);
    o.momentum = 0.9;
    /* Step 1: buf = g0, p1 = p0 - lr·g0 (as plain SGD). */
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], P0[i] - 0.1 * C[i] * P0[i], TOL);
    /* Step 2: g1 = c·p1, buf = 0.9·g0 + g1, p2 = p1 - lr·buf. */
    run(&o, 2, p);
    for (int i = 0; i < 3; i++) {
        double g0 = C[i] * P0[i], p1 = P0[i] - 0.1 * g0, g1 = C[i] * p1;
        ck_assert_double_eq_tol(p[i], p1 - 0.1 * (0.9 * g0 + g1), TOL);
    }
    /* Nesterov, step 1: buf = g0, d = g0 + 0.9·buf. */
    o.nesterov = true;
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], P0[i] - 0.1 * (1.9 * C[i] * P0[i]), TOL);
    /* Step 2: buf = 0.9·g0 + g1, d = g1 + 0.9·buf. */
    run(&o, 2, p);
    for (int i = 0; i < 3; i++) {
        double g0 = C[i] * P0[i], p1 = P0[i] - 0.1 * 1.9 * g0, g1 = C[i] * p1, buf = 0.9 * g0 + g1;
        ck_assert_double_eq_tol(p[i], p1 - 0.1 * (g1 + 0.9 * buf), TOL);
    }
    /* Momentum with weight decay: the decay enters the buffer. */
    o.nesterov = false;
    o.weight_decay = 0.1;
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(p[i], P0[i] - 0.1 * (C[i] + 0.1) * P0[i], TOL);
}
END_TEST

START_TEST(adam_bias_correction) {
    double p[3];
    nn_optim_opts o = nn_adam_opts(0.01);
    /* Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g²: p -= lr·g/(|g| + eps). */
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) {
        double g = C[i] * P0[i];
        ck_assert_double_eq_tol(p[i], P0[i] - 0.01 * g / (fabs(g) + 1e-8), TOL);
    }
    /* Step 2, written out: without the correction the step would be about
     * 0.1·lr·(...)/sqrt(0.001·...), visibly different. */
    run(&o, 2, p);
    for (int i = 0; i < 3; i++) {
        double g0 = C[i] * P0[i];
        double m = 0.1 * g0, v = 0.001 * g0 * g0;
        double p1 = P0[i] - 0.01 * (m / 0.1) / (sqrt(v / 0.001) + 1e-8);
        double g1 = C[i] * p1;
        m = 0.9 * m + 0.1 * g1;
        v = 0.999 * v + 0.001 * g1 * g1;
        double mhat = m / (1 - 0.9 * 0.9), vhat = v / (1 - 0.999 * 0.999);
        ck_assert_double_eq_tol(p[i], p1 - 0.01 * mhat / (sqrt(vhat) + 1e-8), TOL);
        double uncorrected = p1 - 0.01 * m / (sqrt(v) + 1e-8);
        ck_assert_double_gt(fabs(p[i] - uncorrected), 1e-4);
    }
    /* Adam's weight decay is L2 through the gradient. */
    o.weight_decay = 0.1;
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) {
        double g = C[i] * P0[i] + 0.1 * P0[i];
        ck_assert_double_eq_tol(p[i], P0[i] - 0.01 * g / (fabs(g) + 1e-8), TOL);
    }
}
END_TEST

START_TEST(adamw_decoupled) {
    double p[3];
    nn_optim_opts o = nn_adamw_opts(0.01);
    ck_assert_double_eq(o.weight_decay, 0.01);
    o.weight_decay = 0.5;
    run(&o, 1, p);
    for (int i = 0; i < 3; i++) {
        double g = C[i] * P0[i];
        ck_assert_double_eq_tol(p[i], P0[i] * (1 - 0.01 * 0.5) - 0.01 * g / (fabs(g) + 1e-8), TOL);
    }
    /* Two steps: the decay never enters m or v. */
    run(&o, 2, p);
    for (int i = 0; i < 3; i++) {
        double g0 = C[i] * P0[i], m = 0.1 * g0, v = 0.001 * g0 * g0;
        double p1 = P0[i] * (1 - 0.005) - 0.01 * g0 / (fabs(g0) + 1e-8);
        double g1 = C[i] * p1;
        m = 0.9 * m + 0.1 * g1;
        v = 0.999 * v + 0.001 * g1 * g1;
        double want = p1 * (1 - 0.005) - 0.01 * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
        ck_assert_double_eq_tol(p[i], want, TOL);
    }
}
END_TEST

START_TEST(f32_and_store) {
    /* Over a store, with an f32 parameter: computed in double, rounded once. */
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_params_create(ps, "w", AG_F32, AG_SHAPE(2), (const float[]){1.5f, -0.25f});
    ag_tensor *s = nn_params_create(ps, "s", AG_F64, 0, NULL, NULL);
    nn_optim *o = nn_optim_new(ps, &(nn_optim_opts){.kind = NN_SGD, .lr = 0.3});
    ck_assert_ptr_nonnull(o);
    ck_assert_double_eq(nn_optim_lr(o), 0.3);
    ag_tape *t = ag_tape_new(0);
    /* dL/dw = 2w from one loss, dL/ds = 3 from another (leaves accumulate). */
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_square(t, w), AG_ALL, false)), AG_OK);
    ck_assert_int_eq(ag_backward(t, ag_mul_c(t, s, 3)), AG_OK);
    ck_assert_int_eq(nn_optim_step(o), NN_OK);
    ck_assert_float_eq(((const float *)ag_data(w))[0], (float)(1.5 - 0.3 * 3.0));
    ck_assert_float_eq(((const float *)ag_data(w))[1], (float)(-0.25 - 0.3 * -0.5));
    ck_assert_double_eq_tol(ag_item(s), -0.9, TOL);
    /* zero_grad reaches every parameter; set_lr changes the next step. */
    nn_optim_zero_grad(o);
    ck_assert_double_eq(ag_grad_get(w, 0), 0);
    ck_assert_double_eq(ag_grad_item(s), 0);
    nn_optim_set_lr(o, 0.01);
    ck_assert_double_eq(nn_optim_lr(o), 0.01);
    nn_optim_set_lr(o, -1); /* ignored */
    ck_assert_double_eq(nn_optim_lr(o), 0.01);
    /* A parameter registered after the optimizer was made is not updated. */
    ag_tensor *late = nn_params_create(ps, "late", AG_F64, 0, NULL, NULL);
    ag_tape_reset(t); /* the step made what the tape recorded stale */
    ck_assert_int_eq(ag_backward(t, ag_mul_c(t, late, 2)), AG_OK);
    ck_assert_int_eq(nn_optim_step(o), NN_OK);
    ck_assert_double_eq(ag_item(late), 0);
    ag_tape_free(t);
    nn_optim_free(o);
    nn_params_free(ps);
}
END_TEST

/* ------------------------------------------------------------- clipping */

START_TEST(clip_grad_norm) {
    ag_tensor *a = ag_param_new(AG_F64, AG_SHAPE(2), NULL), *b = ag_param_new(AG_F32, 0, NULL, NULL);
    ag_tensor *ps[] = {a, b};
    /* Gradients (3, 0) and 4: global norm 5. */
    double *ga = ag_grad_data(a);
    float *gb = ag_grad_data(b);
    ga[0] = 3, ga[1] = 0, gb[0] = 4;
    ck_assert_double_eq_tol(nn_clip_grad_norm(2, ps, 10), 5, 1e-15); /* small: left alone */
    ck_assert_double_eq(ga[0], 3);
    ck_assert_float_eq(gb[0], 4);
    ck_assert_double_eq_tol(nn_clip_grad_norm(2, ps, 5), 5, 1e-15); /* exactly at the limit */
    ck_assert_double_eq(ga[0], 3);
    ck_assert_double_eq_tol(nn_clip_grad_norm(2, ps, 1), 5, 1e-15); /* returns the norm before */
    ck_assert_double_eq_tol(ga[0], 0.6, 1e-15);
    ck_assert_double_eq(ga[1], 0);
    ck_assert_float_eq_tol(gb[0], 0.8f, 1e-7f);
    ck_assert_double_eq_tol(nn_clip_grad_norm(2, ps, 1), 1, 1e-7); /* now at the max norm */
    /* Over a store. */
    nn_params *st = nn_params_new();
    ag_tensor *w = nn_params_create(st, "w", AG_F64, AG_SHAPE(4), NULL);
    double *gw = ag_grad_data(w);
    for (int i = 0; i < 4; i++) gw[i] = 2; /* norm 4 */
    ck_assert_double_eq_tol(nn_params_clip_grad_norm(st, 2), 4, 1e-15);
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(gw[i], 1, 1e-15);
    /* Errors. */
    ck_assert(isnan(nn_clip_grad_norm(2, ps, 0)));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "max_norm"));
    ck_assert(isnan(nn_clip_grad_norm(2, NULL, 1)));
    ck_assert(isnan(nn_params_clip_grad_norm(NULL, 1)));
    ck_assert_double_eq(nn_clip_grad_norm(0, NULL, 1), 0);
    nn_params_free(st);
    ag_param_free(a);
    ag_param_free(b);
}
END_TEST

/* ------------------------------------------------------------ schedules */

START_TEST(schedules) {
    nn_lr_schedule c = nn_lr_constant(0.1);
    ck_assert_double_eq(nn_lr_at(&c, 0), 0.1);
    ck_assert_double_eq(nn_lr_at(&c, 1000000), 0.1);
    nn_lr_schedule s = nn_lr_step(0.1, 10, 0.5);
    ck_assert_double_eq(nn_lr_at(&s, 0), 0.1);
    ck_assert_double_eq(nn_lr_at(&s, 9), 0.1);
    ck_assert_double_eq_tol(nn_lr_at(&s, 10), 0.05, 1e-17);
    ck_assert_double_eq_tol(nn_lr_at(&s, 25), 0.025, 1e-17);
    ck_assert_double_eq_tol(nn_lr_at(&s, 30), 0.0125, 1e-17);
    ck_assert_double_eq(nn_lr_at(&s, -5), 0.1);
    nn_lr_schedule k = nn_lr_cosine(1.0, 100, 0.1);
    ck_assert_double_eq(nn_lr_at(&k, 0), 1.0);
    ck_assert_double_eq_tol(nn_lr_at(&k, 50), 0.55, 1e-15);
    ck_assert_double_eq_tol(nn_lr_at(&k, 25), 0.1 + 0.9 * (1 + cos(M_PI / 4)) / 2, 1e-15);
    ck_assert_double_eq_tol(nn_lr_at(&k, 100), 0.1, 1e-15);
    ck_assert_double_eq_tol(nn_lr_at(&k, 500), 0.1, 1e-15);
    /* Errors. */
    ck_assert(isnan(nn_lr_at(NULL, 0)));
    nn_lr_schedule bad = nn_lr_step(0.1, 0, 0.5);
    ck_assert(isnan(nn_lr_at(&bad, 3)));
    bad = nn_lr_cosine(0.1, 0, 0);
    ck_assert(isnan(nn_lr_at(&bad, 3)));
    bad.kind = (nn_lr_kind)9;
    ck_assert(isnan(nn_lr_at(&bad, 3)));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "unknown"));
}
END_TEST

/* ------------------------------------- stale tape (pitfall 6 of docs/design.md) */

START_TEST(step_makes_old_tape_stale) {
    ag_tensor *p = ag_param_new(AG_F64, AG_SHAPE(3), P0);
    ag_tape *t = ag_tape_new(0);
    nn_optim *o = nn_optim_new_list(1, &p, &(nn_optim_opts){.kind = NN_SGD, .lr = 0.1});
    ag_tensor *l = ag_sum(t, ag_square(t, p), AG_ALL, false); /* needs p's values in backward */
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    ck_assert_int_eq(nn_optim_step(o), NN_OK);
    /* A backward through the tape recorded before the step is refused. */
    ck_assert_int_eq(ag_backward(t, l), AG_ERR_STATE);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_STATE);
    /* Reset, record again: fine, with the new values. */
    ag_tape_reset(t);
    nn_optim_zero_grad(o);
    l = ag_sum(t, ag_square(t, p), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(ag_grad_get(p, i), 2 * 0.8 * P0[i], TOL);
    nn_optim_free(o);
    ag_tape_free(t);
    ag_param_free(p);
}
END_TEST

/* -------------------------------------------------------- training: XOR */

/* Trains a 2-4-1 tanh MLP on XOR with BCE on logits and Adam, full batch,
 * from a fixed seed. Returns the final loss; *allocs gets the tape's malloc
 * count after the first and the last step. */
static double train_xor(int steps, size_t allocs[2]) {
    const double x[] = {0, 0, 0, 1, 1, 0, 1, 1}, y[] = {0, 1, 1, 0};
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 2024);
    nn_module *mlp = nn_mlp_new(ps, "xor", 3, (const int64_t[]){2, 4, 1}, NN_TANH, AG_F64, &r);
    ck_assert_ptr_nonnull(mlp);
    nn_optim *o = nn_optim_new(ps, &(nn_optim_opts){.kind = NN_ADAM, .lr = 0.05, .beta1 = 0.9,
                                                    .beta2 = 0.999, .eps = 1e-8});
    ck_assert_ptr_nonnull(o);
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_debug(t, false); /* counts release-mode reuse (debug mode allocates afresh) */
    double loss = NAN;
    for (int s = 0; s < steps; s++) {
        ag_tape_reset(t);
        nn_optim_zero_grad(o);
        ag_tensor *X = ag_from_doubles(t, AG_F64, AG_SHAPE(4, 2), x);   // (4, 2)
        ag_tensor *Y = ag_from_doubles(t, AG_F64, AG_SHAPE(4, 1), y);   // (4, 1)
        ag_tensor *l = nn_bce_with_logits_loss(t, nn_forward(mlp, t, X), Y, NN_MEAN);
        ck_assert_int_eq(ag_backward(t, l), AG_OK);
        loss = ag_item(l);
        ck_assert_int_eq(nn_optim_step(o), NN_OK);
        if (s == 0) allocs[0] = ag_tape_get_stats(t).allocations;
    }
    allocs[1] = ag_tape_get_stats(t).allocations;
    /* The predictions are right. */
    ag_tape_reset(t);
    ag_tensor *p = ag_sigmoid(t, nn_forward(mlp, t, ag_from_doubles(t, AG_F64, AG_SHAPE(4, 2), x)));
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(ag_get(p, i), y[i], 0.05);
    ag_tape_free(t);
    nn_optim_free(o);
    nn_module_free(mlp);
    nn_params_free(ps);
    return loss;
}

START_TEST(xor_trains_deterministically) {
    size_t a1[2], a2[2];
    double l1 = train_xor(1000, a1), l2 = train_xor(1000, a2);
    ck_assert_msg(l1 < 0.01, "XOR loss %g after 1000 steps", l1);
    ck_assert_mem_eq(&l1, &l2, sizeof l1); /* the same bits on both runs */
    ck_assert_uint_eq(a1[0], a1[1]);       /* the tape allocates nothing after step 1 */
}
END_TEST

/* ---------------------------------------------------------------- errors */

/* A 2-3-1 tanh MLP on 6 fixed points, its store and an optimizer. */
typedef struct small_model {
    nn_params *ps;
    nn_module *mlp;
    nn_optim *o;
} small_model;

static small_model small_new(const nn_optim_opts *oo, uint64_t seed) {
    small_model m = {nn_params_new(), NULL, NULL};
    ag_rng r;
    ag_rng_seed(&r, seed);
    m.mlp = nn_mlp_new(m.ps, "net", 3, (const int64_t[]){2, 3, 1}, NN_TANH, AG_F64, &r);
    m.o = nn_optim_new(m.ps, oo);
    ck_assert_ptr_nonnull(m.o);
    return m;
}

static void small_steps(small_model *m, int k) {
    const double x[12] = {0, 1, 1, 0, 2, 1, -1, 0.5, 0.3, -2, 1.5, 1.5}, y[6] = {1, -1, 0.5, 0, 2, -0.5};
    ag_tape *t = ag_tape_new(0);
    for (int s = 0; s < k; s++) {
        ag_tape_reset(t);
        nn_optim_zero_grad(m->o);
        ag_tensor *X = ag_from_doubles(t, AG_F64, AG_SHAPE(6, 2), x); // (6, 2)
        ag_tensor *Y = ag_from_doubles(t, AG_F64, AG_SHAPE(6, 1), y); // (6, 1)
        ck_assert_int_eq(ag_backward(t, nn_mse_loss(t, nn_forward(m->mlp, t, X), Y, NN_MEAN)), AG_OK);
        ck_assert_int_eq(nn_optim_step(m->o), NN_OK);
    }
    ag_tape_free(t);
}

static void small_free(small_model *m) {
    nn_optim_free(m->o);
    nn_module_free(m->mlp);
    nn_params_free(m->ps);
}

/* For each optimizer kind: k steps, save parameters and optimizer state,
 * k more steps; a fresh model that loads both and takes k steps ends on the
 * same bits. Without the optimizer's state it does not (so the state
 * matters and is restored). */
START_TEST(optim_state_resumes_identically) {
    nn_optim_opts kinds[4] = {nn_sgd_opts(0.05), nn_sgd_opts(0.05), nn_adam_opts(0.02), nn_adamw_opts(0.02)};
    kinds[1].momentum = 0.9;
    kinds[1].nesterov = true;
    char *dir = tf_mkdtemp();
    for (int k = 0; k < 4; k++) {
        small_model a = small_new(&kinds[k], 1);
        small_steps(&a, 5);
        ck_assert_int_eq(nn_save(a.ps, tf_path(dir, "params", 0)), NN_OK);
        ck_assert_int_eq(nn_optim_save(a.o, tf_path(dir, "optim", 1)), NN_OK);
        small_steps(&a, 5);
        small_model b = small_new(&kinds[k], 2), c = small_new(&kinds[k], 2);
        ck_assert_int_eq(nn_load(b.ps, tf_path(dir, "params", 0), NULL), NN_OK);
        ck_assert_int_eq(nn_optim_load(b.o, tf_path(dir, "optim", 1), 0), NN_OK);
        ck_assert_int_eq(nn_optim_steps(b.o), 5);
        ck_assert_int_eq(nn_load(c.ps, tf_path(dir, "params", 0), NULL), NN_OK); /* no optimizer state */
        small_steps(&b, 5);
        small_steps(&c, 5);
        double diff_c = 0;
        for (size_t i = 0; i < nn_params_count(a.ps); i++) {
            ag_tensor *pa = nn_params_at(a.ps, i), *pb = nn_params_at(b.ps, i), *pc = nn_params_at(c.ps, i);
            ck_assert_mem_eq(ag_data(pa), ag_data(pb), (size_t)ag_numel(pa) * sizeof(double));
            for (int64_t j = 0; j < ag_numel(pa); j++) diff_c = fmax(diff_c, fabs(ag_get(pa, j) - ag_get(pc, j)));
        }
        if (k == 0) ck_assert_double_eq(diff_c, 0); /* plain SGD has no state but the step */
        else ck_assert_msg(diff_c > 1e-6, "kind %d: resuming without the state changed nothing", k);
        small_free(&a);
        small_free(&b);
        small_free(&c);
    }
    /* The state of one kind does not load into another, and nothing changes. */
    small_model adam = small_new(&kinds[2], 1), mom = small_new(&kinds[1], 1);
    small_steps(&adam, 2);
    ck_assert_int_eq(nn_optim_save(adam.o, tf_path(dir, "optim", 1)), NN_OK);
    ck_assert_int_eq(nn_optim_load(mom.o, tf_path(dir, "optim", 1), 0), NN_ERR_MISMATCH);
    ck_assert_int_eq(nn_optim_steps(mom.o), 0);
    nn_params *st = nn_params_new();
    ck_assert_int_eq(nn_optim_state_export(adam.o, st), NN_OK);
    ck_assert_uint_eq(nn_params_count(st), 1 + 2 * 4);
    ck_assert_ptr_nonnull(nn_params_get(st, "exp_avg_sq.net.1.weight"));
    ck_assert_double_eq(ag_item(nn_params_get(st, "step")), 2);
    ck_assert_int_eq(nn_optim_state_export(adam.o, st), NN_ERR_ARG); /* not empty */
    ck_assert_int_eq(nn_optim_state_import(mom.o, st), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "9 tensors"));
    *(double *)ag_data_mut(nn_params_get(st, "step")) = 2.5;
    ck_assert_int_eq(nn_optim_state_import(adam.o, st), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'step'"));
    ck_assert_int_eq(nn_optim_state_import(NULL, st), NN_ERR_NULL);
    ck_assert_int_eq(nn_optim_load(adam.o, tf_path(dir, "missing", 2), 0), NN_ERR_IO);
    nn_params_free(st);
    small_free(&adam);
    small_free(&mom);
    tf_rmdir(dir);
}
END_TEST

START_TEST(optim_errors) {
    ag_tensor *p = ag_param_new(AG_F64, AG_SHAPE(2), NULL);
    nn_optim_opts o = nn_sgd_opts(0.1);
    o.lr = -1;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "lr"));
    o = nn_sgd_opts(0.1);
    o.nesterov = true;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "Nesterov"));
    o.momentum = 1;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    o = nn_adam_opts(0.1);
    o.beta2 = 1;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    o = nn_adam_opts(0.1);
    o.eps = 0;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    o.kind = (nn_optim_kind)0;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    o = nn_sgd_opts(0.1);
    o.weight_decay = NAN;
    ck_assert_ptr_null(nn_optim_new_list(1, &p, &o));
    o = nn_sgd_opts(0.1);
    ck_assert_ptr_null(nn_optim_new_list(1, &p, NULL));
    ck_assert_ptr_null(nn_optim_new_list(1, NULL, &o));
    ck_assert_ptr_null(nn_optim_new(NULL, &o));
    ag_tensor *twice[] = {p, p};
    ck_assert_ptr_null(nn_optim_new_list(2, twice, &o));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "same parameter"));
    ag_tensor *nul[] = {p, NULL};
    ck_assert_ptr_null(nn_optim_new_list(2, nul, &o));
    ag_tape *t = ag_tape_new(0);
    ag_tensor *notparam[] = {ag_ones(t, AG_F64, AG_SHAPE(2))};
    ck_assert_ptr_null(nn_optim_new_list(1, notparam, &o));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "not a parameter"));
    ck_assert_int_eq(nn_optim_step(NULL), NN_ERR_NULL);
    nn_optim_zero_grad(NULL);
    nn_optim_free(NULL);
    ck_assert(isnan(nn_optim_lr(NULL)));
    /* An empty optimizer steps harmlessly. */
    nn_optim *e = nn_optim_new_list(0, NULL, &o);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(nn_optim_step(e), NN_OK);
    nn_optim_free(e);
    ag_tape_free(t);
    ag_param_free(p);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_optim");
    TCase *c = tcase_create("rules");
    tcase_add_test(c, sgd_plain_and_decay);
    tcase_add_test(c, sgd_momentum_and_nesterov);
    tcase_add_test(c, adam_bias_correction);
    tcase_add_test(c, adamw_decoupled);
    tcase_add_test(c, f32_and_store);
    tcase_add_test(c, clip_grad_norm);
    tcase_add_test(c, schedules);
    tcase_add_test(c, step_makes_old_tape_stale);
    suite_add_tcase(s, c);
    c = tcase_create("training");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, xor_trains_deterministically);
    suite_add_tcase(s, c);
    c = tcase_create("errors");
    tcase_add_test(c, optim_state_resumes_identically);
    tcase_add_test(c, optim_errors);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
