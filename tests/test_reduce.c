/* Reductions (sum, mean, max, min, logsumexp, var) and softmax/log-softmax:
 * gradient checks over every axis with and without keepdims, known values,
 * ties, stability on huge inputs, f32 against f64, and bad axes. */
#include "testutil.h"

#include <stdlib.h>

typedef ag_tensor *(*reduce_fn)(ag_tape *, ag_tensor *, int, bool);


static const struct {
    const char *name;
    reduce_fn fn;
} reductions[] = {
    {"sum", ag_sum},       {"mean", ag_mean},           {"max", ag_max},
    {"min", ag_min},       {"logsumexp", ag_logsumexp}, {"var(1)", tu_var1},
    {"var(0)", tu_var0},
};
#define NREDUCE (int)(sizeof reductions / sizeof reductions[0])

typedef struct {
    reduce_fn fn;
    int axis;
    bool keep;
} reduce_case;

static ag_tensor *apply_reduce(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const reduce_case *c = ctx;
    return c->fn(t, x[0], c->axis, c->keep);
}

static const int64_t s234[] = {2, 3, 4}, s34[] = {3, 4}, s5[] = {5}, s2345[] = {2, 3, 4, 5};

/* Every reduction, every axis of a 3-D input, keepdims on and off; plus 1-D
 * and 4-D inputs. Random inputs have no ties, so max/min are smooth there. */
START_TEST(reduction_gradients) {
    ag_rng r;
    ag_rng_seed(&r, 9 + (uint64_t)_i);
    const int axes[] = {AG_ALL, 0, 1, -1, 2};
    for (int a = 0; a < 5; a++)
        for (int k = 0; k < 2; k++) {
            reduce_case c = {reductions[_i].fn, axes[a], k};
            ag_tape *t = ag_tape_new(0);
            ag_tensor *x = tu_rand(t, &r, 3, s234, -1, 1);
            ag_tensor *y = apply_reduce(t, &x, &c);
            ck_assert_msg(y != NULL, "%s: %s", reductions[_i].name, ag_tape_error(t));
            int expect_nd = axes[a] == AG_ALL ? (k ? 3 : 0) : (k ? 3 : 2);
            ck_assert_int_eq(ag_ndim(y), expect_nd);
            tu_assert_gradcheck(apply_reduce, &c, 1, &x);
            ag_tape_free(t);
        }
    reduce_case c1 = {reductions[_i].fn, 0, false}, c4 = {reductions[_i].fn, 2, true};
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x1 = tu_rand(t, &r, 1, s5, -2, 2), *x4 = tu_rand(t, &r, 4, s2345, -2, 2);
    tu_assert_gradcheck(apply_reduce, &c1, 1, &x1);
    tu_assert_gradcheck(apply_reduce, &c4, 1, &x4);
    ag_tape_free(t);
}
END_TEST

/* f32 forward agrees with f64 within f32 rounding. */
START_TEST(reduction_f32_matches_f64) {
    ag_rng r;
    ag_rng_seed(&r, 77);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x64 = tu_rand(t, &r, 3, s234, -3, 3);
    double v[24];
    ag_to_doubles(x64, v, 24);
    ag_tensor *x32 = ag_from_doubles(t, AG_F32, 3, s234, v);
    for (int axis = -1; axis < 3; axis++) {
        ag_tensor *y64 = reductions[_i].fn(t, x64, axis == -1 ? AG_ALL : axis, false);
        ag_tensor *y32 = reductions[_i].fn(t, x32, axis == -1 ? AG_ALL : axis, false);
        ck_assert_int_eq(ag_dtype_of(y32), AG_F32);
        for (int64_t i = 0; i < ag_numel(y64); i++)
            ck_assert_double_eq_tol(ag_get(y32, i), ag_get(y64, i), 1e-5 * (1 + fabs(ag_get(y64, i))));
    }
    ag_tape_free(t);
}
END_TEST

START_TEST(reduction_values) {
    ag_tape *t = ag_tape_new(0);
    /* m = [[0 1 2 3] [4 5 6 7] [8 9 10 11]] */
    ag_tensor *x = ag_arange(t, AG_F64, 0, 12, 1);
    ag_tensor *m = ag_from_doubles(t, AG_F64, 2, s34, ag_data(x));
    ck_assert_double_eq(ag_item(ag_sum(t, m, AG_ALL, false)), 66);
    ag_tensor *rows = ag_sum(t, m, 1, false);
    ck_assert_double_eq(ag_get(rows, 0), 6);
    ck_assert_double_eq(ag_get(rows, 2), 38);
    ag_tensor *cols = ag_mean(t, m, 0, true);
    ck_assert_int_eq(ag_dim(cols, 0), 1);
    ck_assert_double_eq(ag_get(cols, 3), 7);
    ck_assert_double_eq(ag_item(ag_max(t, m, AG_ALL, false)), 11);
    ck_assert_double_eq(ag_get(ag_min(t, m, 0, false), 2), 2);
    ck_assert_double_eq(ag_get(ag_max(t, m, -1, false), 1), 7);
    /* var of 0..11: population (143/12), unbiased 13. */
    ck_assert_double_eq_tol(ag_item(ag_var(t, m, AG_ALL, false, 0)), 143.0 / 12, 1e-12);
    ck_assert_double_eq_tol(ag_item(ag_var(t, m, AG_ALL, false, 1)), 13.0, 1e-12);
    ck_assert_double_eq_tol(ag_get(ag_var(t, m, 0, false, 1), 0), 16.0, 1e-12); /* 0, 4, 8 */
    /* logsumexp of a row [0 1 2 3] = log(1 + e + e^2 + e^3). */
    double lse0 = log(1 + exp(1) + exp(2) + exp(3));
    ck_assert_double_eq_tol(ag_get(ag_logsumexp(t, m, 1, false), 0), lse0, 1e-12);
    ag_tape_free(t);
}
END_TEST

/* Ties in max/min split the gradient evenly (documented in autograd.h). */
START_TEST(max_min_ties_split) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, s5, (double[]){3, 1, 3, 0, 3}));
    ck_assert_int_eq(ag_backward(t, ag_max(t, x, AG_ALL, false)), AG_OK);
    const double want[] = {1.0 / 3, 0, 1.0 / 3, 0, 1.0 / 3};
    for (int i = 0; i < 5; i++) ck_assert_double_eq_tol(ag_grad_get(x, i), want[i], 1e-15);
    ag_zero_grad(x);
    ag_tensor *y = ag_from_doubles(t, AG_F64, 1, s5, (double[]){0, -1, 4, -1, 2});
    ag_tensor *w = ag_requires_grad(t, y);
    ck_assert_int_eq(ag_backward(t, ag_min(t, w, 0, false)), AG_OK);
    ck_assert_double_eq(ag_grad_get(w, 1), 0.5);
    ck_assert_double_eq(ag_grad_get(w, 3), 0.5);
    ck_assert_double_eq(ag_grad_get(w, 0), 0);
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------------- softmax */

typedef struct {
    bool log;
    int axis;
} softmax_case;

static ag_tensor *apply_softmax(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const softmax_case *c = ctx;
    return c->log ? ag_log_softmax(t, x[0], c->axis) : ag_softmax(t, x[0], c->axis);
}

START_TEST(softmax_gradients) {
    ag_rng r;
    ag_rng_seed(&r, 21);
    for (int lg = 0; lg < 2; lg++)
        for (int axis = -1; axis < 3; axis++) {
            softmax_case c = {lg, axis};
            ag_tape *t = ag_tape_new(0);
            ag_tensor *x = tu_rand(t, &r, 3, s234, -3, 3);
            tu_assert_gradcheck(apply_softmax, &c, 1, &x);
            ag_tensor *v = tu_rand(t, &r, 1, s5, -3, 3);
            softmax_case c1 = {lg, 0};
            tu_assert_gradcheck(apply_softmax, &c1, 1, &v);
            ag_tape_free(t);
        }
}
END_TEST

START_TEST(softmax_values) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *m = ag_from_doubles(t, AG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 0, 0, 0});
    ag_tensor *p = ag_softmax(t, m, 1), *lp = ag_log_softmax(t, m, -1);
    double z = exp(1) + exp(2) + exp(3);
    ck_assert_double_eq_tol(ag_get(p, 0), exp(1) / z, 1e-15);
    ck_assert_double_eq_tol(ag_get(p, 2), exp(3) / z, 1e-15);
    ck_assert_double_eq_tol(ag_get(p, 4), 1.0 / 3, 1e-15);
    ck_assert_double_eq_tol(ag_get(lp, 1), 2 - log(z), 1e-14);
    /* softmax along axis 0 of the same matrix: columns sum to 1. */
    ag_tensor *c = ag_softmax(t, m, 0);
    for (int j = 0; j < 3; j++) ck_assert_double_eq_tol(ag_get(c, j) + ag_get(c, 3 + j), 1, 1e-15);
    ag_tape_free(t);
}
END_TEST

/* Pitfall 5: huge logits must not overflow into NaN. */
START_TEST(log_softmax_huge_logits_finite) {
    ag_tape *t = ag_tape_new(0);
    const double big[] = {1000, -1000, 0, 5e5};
    for (int dt = 0; dt < 2; dt++) {
        ag_dtype d = dt ? AG_F32 : AG_F64;
        ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, d, 1, (int64_t[]){4}, big));
        ag_tensor *lp = ag_log_softmax(t, x, 0), *p = ag_softmax(t, x, 0);
        ag_tensor *lse = ag_logsumexp(t, x, 0, false);
        for (int i = 0; i < 4; i++) {
            ck_assert(isfinite(ag_get(lp, i)));
            ck_assert(isfinite(ag_get(p, i)));
        }
        ck_assert_double_eq(ag_get(lp, 3), 0);
        ck_assert_double_eq_tol(ag_get(lp, 0), 1000 - 5e5, 1e-6 * 5e5);
        ck_assert_double_eq(ag_item(lse), 5e5);
        /* backward of -log_softmax[1] (a cross-entropy) is finite */
        ag_tensor *loss = ag_neg(t, ag_sum(t, ag_mul(t, lp, ag_from_doubles(t, d, 1, (int64_t[]){4},
                                                                               (double[]){0, 1, 0, 0})),
                                           AG_ALL, false));
        ck_assert_int_eq(ag_backward(t, loss), AG_OK);
        ck_assert_double_eq_tol(ag_grad_get(x, 1), -1, 1e-12);
        ck_assert_double_eq_tol(ag_grad_get(x, 3), 1, 1e-12);
        for (int i = 0; i < 4; i++) ck_assert(isfinite(ag_grad_get(x, i)));
    }
    /* logsumexp of all -inf is -inf, with a zero (not NaN) gradient. */
    ag_tensor *ninf = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){2},
                                                          (double[]){-INFINITY, -INFINITY}));
    ag_tensor *l = ag_logsumexp(t, ninf, AG_ALL, false);
    ck_assert(isinf(ag_item(l)) && ag_item(l) < 0);
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    ck_assert_double_eq(ag_grad_get(ninf, 0), 0);
    ag_tape_free(t);
}
END_TEST

START_TEST(softmax_f32_matches_f64) {
    ag_rng r;
    ag_rng_seed(&r, 5);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x64 = tu_rand(t, &r, 3, s234, -5, 5);
    double v[24];
    ag_to_doubles(x64, v, 24);
    ag_tensor *x32 = ag_from_doubles(t, AG_F32, 3, s234, v);
    for (int axis = 0; axis < 3; axis++) {
        ag_tensor *a = ag_log_softmax(t, x64, axis), *b = ag_log_softmax(t, x32, axis);
        ag_tensor *c = ag_softmax(t, x64, axis), *d = ag_softmax(t, x32, axis);
        for (int i = 0; i < 24; i++) {
            ck_assert_double_eq_tol(ag_get(b, i), ag_get(a, i), 1e-5 * (1 + fabs(ag_get(a, i))));
            ck_assert_double_eq_tol(ag_get(d, i), ag_get(c, i), 1e-6);
        }
    }
    ag_tape_free(t);
}
END_TEST

START_TEST(bad_reductions) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_zeros(t, AG_F64, 2, s34);
    for (int i = 0; i < NREDUCE; i++) {
        ck_assert_ptr_null(reductions[i].fn(t, x, 2, false));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
        ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[3, 4]"));
        ag_tape_clear_error(t);
        ck_assert_ptr_null(reductions[i].fn(t, NULL, 0, false));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
        ag_tape_clear_error(t);
    }
    ck_assert_ptr_null(ag_softmax(t, x, -3));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "softmax"));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_log_softmax(t, NULL, 0));
    ag_tape_clear_error(t);
    /* Empty axes: max/min/logsumexp/mean need an element; sum gives 0. */
    ag_tensor *e = ag_zeros(t, AG_F64, 2, (int64_t[]){3, 0});
    ck_assert_ptr_null(ag_max(t, e, 1, false));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ag_tensor *s = ag_sum(t, e, 1, false);
    ck_assert_ptr_nonnull(s);
    ck_assert_double_eq(ag_get(s, 2), 0);
    /* var needs more elements than its correction, and no negative one. */
    ag_tensor *one = ag_zeros(t, AG_F64, 1, (int64_t[]){1});
    ck_assert_ptr_null(ag_var(t, one, 0, false, 1));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_nonnull(ag_var(t, one, 0, false, 0));
    ck_assert_ptr_null(ag_var(t, x, 0, false, -1));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("reduce");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, reduction_gradients, 0, NREDUCE);
    tcase_add_loop_test(tc, reduction_f32_matches_f64, 0, NREDUCE);
    tcase_add_test(tc, reduction_values);
    tcase_add_test(tc, max_min_ties_split);
    tcase_add_test(tc, softmax_gradients);
    tcase_add_test(tc, softmax_values);
    tcase_add_test(tc, log_softmax_huge_logits_finite);
    tcase_add_test(tc, softmax_f32_matches_f64);
    tcase_add_test(tc, bad_reductions);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
