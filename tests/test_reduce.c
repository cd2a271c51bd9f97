/* Reductions (sum, mean, max, min, logsumexp, var) and softmax/log-softmax:
 * their op rows (tests/rows/reduce.c, softmax.c: gradients over every axis
 * with and without keepdims, second order, NULL inputs), known values,
 * ties, stability on huge inputs, f32 against f64, and bad axes. */
#include "op_rows.h"

#include <stdlib.h>
#include <string.h>

static const tu_op_table *const tables[] = {&tu_rows_reduce, &tu_rows_softmax};

static const int64_t s234[] = {2, 3, 4}, s34[] = {3, 4}, s5[] = {5};

/* f32 forward agrees with f64 within f32 rounding, over every axis. */
START_TEST(reduction_f32_matches_f64) {
    const tu_op_row *row = &tu_rows_reduce.rows[_i];
    ag_rng r;
    ag_rng_seed(&r, 77);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x64 = tu_rand(t, &r, 3, s234, -3, 3);
    double v[24];
    ag_to_doubles(x64, v, 24);
    ag_tensor *x32 = ag_from_doubles(t, AG_F32, 3, s234, v);
    for (int axis = -1; axis < 3; axis++) {
        const tu_point p = {.axis = axis == -1 ? AG_ALL : axis};
        ag_tensor *y64 = tu_call_run(&row->call, t, &x64, &p), *y32 = tu_call_run(&row->call, t, &x32, &p);
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
    for (int i = 0; i < tu_rows_reduce.n; i++) {
        const tu_point p = {.axis = 2};
        ck_assert_ptr_null(tu_call_run(&tu_rows_reduce.rows[i].call, t, &x, &p));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
        ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[3, 4]"));
        ag_tape_clear_error(t);
    }
    ck_assert_ptr_null(ag_softmax(t, x, -3));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "softmax"));
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

/* A row's call at a fixed point, as gradcheck's function. */
typedef struct row_at {
    const tu_op_row *row;
    tu_point p;
} row_at;

static ag_tensor *apply_row(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const row_at *c = ctx;
    return tu_call_run(&c->row->call, t, x, &c->p);
}

/* A 0-d tensor along axis 0 or -1: reductions refused it while softmax took
 * it; both now take it, as PyTorch does (torch.sum(x, 0) of a 0-d x is x),
 * and refuse any other axis. */
START_TEST(zero_d_along_axis_0_and_minus_1) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_scalar(t, 1.5);
    for (int k = 0; k < tu_rows_reduce.n; k++) {
        const tu_op_row *row = &tu_rows_reduce.rows[k];
        const char *name = tu_row_name(row);
        if (strcmp(name, "var(1)") == 0) continue; /* one element, correction 1: refused, as for [1] */
        for (int axis = -1; axis <= 0; axis++) {
            for (int keep = 0; keep < 2; keep++) {
                row_at c = {row, {.axis = axis, .keep = keep}};
                ag_tensor *y = apply_row(t, &x, &c);
                ck_assert_msg(y != NULL, "%s axis %d: %s", name, axis, ag_tape_error(t));
                ck_assert_int_eq(ag_ndim(y), 0);
                ck_assert_double_eq_tol(ag_item(y), strcmp(name, "var(0)") == 0 ? 0.0 : 1.5, 1e-15);
                ag_tensor *in = ag_scalar(t, 0.7);
                ag_gradcheck_report r;
                ck_assert_msg(ag_gradcheck(apply_row, &c, 1, &in, NULL, &r), "%s: %s", name, r.message);
            }
        }
        for (int axis = -2; axis <= 1; axis += 3) {
            row_at c = {row, {.axis = axis}};
            ck_assert_ptr_null(apply_row(t, &x, &c));
            ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
            ag_tape_clear_error(t);
        }
    }
    ck_assert_double_eq(ag_item(ag_softmax(t, x, 0)), 1.0);
    ck_assert_double_eq(ag_item(ag_log_softmax(t, x, -1)), 0.0);
    ck_assert_ptr_null(ag_softmax(t, x, 1));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("reduce");
    tcase_set_timeout(tc, 120);
    tu_add_op_rows(tc, (int)(sizeof tables / sizeof tables[0]), tables);
    tcase_add_loop_test(tc, reduction_f32_matches_f64, 0, tu_rows_reduce.n);
    tcase_add_test(tc, reduction_values);
    tcase_add_test(tc, max_min_ties_split);
    tcase_add_test(tc, softmax_values);
    tcase_add_test(tc, log_softmax_huge_logits_finite);
    tcase_add_test(tc, softmax_f32_matches_f64);
    tcase_add_test(tc, bad_reductions);
    tcase_add_test(tc, zero_d_along_axis_0_and_minus_1);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
