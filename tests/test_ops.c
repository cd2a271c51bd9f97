/* The elementwise and unary families: their op rows (tests/rows/
 * elementwise.c, unary.c: gradients, second order, NULL inputs), f32
 * against f64 and reference values over the same rows, broadcasting and
 * where by hand, values at the kinks, stable tails. */
#include "op_rows.h"

typedef ag_tensor *(*unary_fn)(ag_tape *, ag_tensor *);
typedef ag_tensor *(*binary_fn)(ag_tape *, ag_tensor *, ag_tensor *);

static const tu_op_table *const tables[] = {&tu_rows_elementwise, &tu_rows_unary};

/* The rows of this suite's tables that call a unary or a binary function. */
static const tu_op_row *unary_rows[64], *binary_rows[64];
static int nunary, nbinary;

static void collect_rows(void) {
    for (size_t k = 0; k < sizeof tables / sizeof tables[0]; k++)
        for (int i = 0; i < tables[k]->n; i++) {
            const tu_op_row *row = &tables[k]->rows[i];
            if (row->call.unary && nunary < 64) unary_rows[nunary++] = row;
            if (row->call.binary && nbinary < 64) binary_rows[nbinary++] = row;
        }
}

static const int64_t shape_2x3[] = {2, 3}, s34[] = {3, 4}, s14[] = {1, 4}, s31[] = {3, 1},
                     s234[] = {2, 3, 4}, s4[] = {4};

/* f32 against f64 within f32 rounding, and the reference value. */
START_TEST(unary_values_and_f32) {
    const tu_op_row *c = unary_rows[_i];
    ag_rng r;
    ag_rng_seed(&r, 7);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x64 = tu_rand(t, &r, 2, shape_2x3, c->lo, c->hi);
    double v[6];
    ag_to_doubles(x64, v, 6);
    ag_tensor *x32 = ag_from_doubles(t, AG_F32, 2, shape_2x3, v);
    ag_tensor *y64 = c->call.unary(t, x64), *y32 = c->call.unary(t, x32);
    ck_assert_ptr_nonnull(y64);
    ck_assert_ptr_nonnull(y32);
    ck_assert_int_eq(ag_dtype_of(y32), AG_F32);
    for (int i = 0; i < 6; i++) {
        double a = ag_get(y64, i), b = ag_get(y32, i);
        ck_assert_msg(fabs(a - b) <= 1e-5 * fmax(1, fabs(a)), "%s f32 %g vs f64 %g", tu_row_name(c), b, a);
        if (c->ref) ck_assert_double_eq_tol(a, c->ref(v[i]), 1e-12 * fmax(1, fabs(a)));
    }
    ag_tape_free(t);
}
END_TEST

/* f32 against f64: values and gradients (with broadcasting) within f32
 * rounding. */
START_TEST(binary_f32_matches_f64) {
    const tu_op_row *c = binary_rows[_i];
    ag_rng r;
    ag_rng_seed(&r, 3000 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a64 = tu_rand(t, &r, 3, s234, c->lo, c->hi);
    ag_tensor *b64 = tu_rand(t, &r, 1, s4, c->lo1 < c->hi1 ? c->lo1 : c->lo, c->lo1 < c->hi1 ? c->hi1 : c->hi);
    double va[24], vb[4];
    ag_to_doubles(a64, va, 24);
    ag_to_doubles(b64, vb, 4);
    ag_tensor *a32 = ag_requires_grad(t, ag_from_doubles(t, AG_F32, 3, s234, va));
    ag_tensor *b32 = ag_requires_grad(t, ag_from_doubles(t, AG_F32, 1, s4, vb));
    ag_requires_grad(t, a64);
    ag_requires_grad(t, b64);
    binary_fn fn = c->call.binary;
    ag_tensor *y64 = fn(t, a64, b64), *y32 = fn(t, a32, b32);
    ck_assert_int_eq(ag_dtype_of(y32), AG_F32);
    for (int i = 0; i < 24; i++)
        ck_assert_double_eq_tol(ag_get(y32, i), ag_get(y64, i), 1e-6 * (1 + fabs(ag_get(y64, i))));
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y64, AG_ALL, false)), AG_OK);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y32, AG_ALL, false)), AG_OK);
    for (int i = 0; i < 24; i++)
        ck_assert_double_eq_tol(ag_grad_get(a32, i), ag_grad_get(a64, i), 1e-5 * (1 + fabs(ag_grad_get(a64, i))));
    for (int i = 0; i < 4; i++) /* b's gradient is a sum over 6 broadcast copies */
        ck_assert_double_eq_tol(ag_grad_get(b32, i), ag_grad_get(b64, i), 1e-5 * (1 + fabs(ag_grad_get(b64, i))));
    ag_tape_free(t);
}
END_TEST

START_TEST(binary_broadcast_values) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *row = ag_from_doubles(t, AG_F64, 2, s14, (double[]){1, 2, 3, 4});
    ag_tensor *col = ag_from_doubles(t, AG_F64, 2, s31, (double[]){10, 20, 30});
    ag_tensor *y = ag_add(t, row, col);
    ck_assert_int_eq(ag_ndim(y), 2);
    ck_assert_int_eq(ag_dim(y, 0), 3);
    ck_assert_int_eq(ag_dim(y, 1), 4);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) ck_assert_double_eq(ag_get(y, i * 4 + j), 10.0 * (i + 1) + j + 1);
    ag_tape_free(t);
}
END_TEST

START_TEST(where_gradients) {
    ag_rng r;
    ag_rng_seed(&r, 5);
    ag_tape *t = ag_tape_new(0);
    double m[12];
    for (int i = 0; i < 12; i++) m[i] = i % 3 == 0;
    ag_tensor *mask = ag_from_doubles(t, AG_F64, 2, s34, m);
    ag_tensor *x[2] = {tu_rand(t, &r, 2, s34, -1, 1), tu_rand(t, &r, 2, s14, -1, 1)};
    ag_tensor *y = ag_where(t, mask, x[0], x[1]);
    for (int i = 0; i < 12; i++) ck_assert_double_eq(ag_get(y, i), m[i] ? ag_get(x[0], i) : ag_get(x[1], i % 4));
    ag_tensor *yc = ag_requires_grad(t, x[0]);
    ag_requires_grad(t, x[1]);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_where(t, mask, yc, x[1]), AG_ALL, false)), AG_OK);
    for (int j = 0; j < 4; j++) { /* column j: rows where the mask is 0 feed b's element j */
        int zeros = 0;
        for (int i = 0; i < 3; i++) zeros += !m[i * 4 + j];
        ck_assert_double_eq(ag_grad_get(x[1], j), zeros);
    }
    for (int i = 0; i < 12; i++) ck_assert_double_eq(ag_grad_get(x[0], i), m[i]);
    ag_tape_free(t);
}
END_TEST

/* The derivatives chosen at kinks, as documented in autograd.h. */
static double grad_at(unary_fn fn, double x0) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
    ag_backward(t, fn(t, x));
    double g = ag_grad_item(x);
    ag_tape_free(t);
    return g;
}

static double grad_b_at(binary_fn fn, double a0, double b0, int which) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, ag_scalar(t, a0)), *b = ag_requires_grad(t, ag_scalar(t, b0));
    ag_backward(t, fn(t, a, b));
    double g = ag_grad_item(which ? b : a);
    ag_tape_free(t);
    return g;
}

START_TEST(kinks) {
    ck_assert_double_eq(grad_at(ag_relu, 0), 0);
    ck_assert_double_eq(grad_at(ag_abs, 0), 0);
    ck_assert_double_eq(grad_at(tu_leaky, 0), 0.1);
    ck_assert(isinf(grad_at(ag_sqrt, 0)) && grad_at(ag_sqrt, 0) > 0);
    ck_assert_double_eq(grad_at(tu_clamp, 0.5), 1);
    ck_assert_double_eq(grad_at(tu_clamp, -0.5), 1);
    ck_assert_double_eq(grad_at(tu_clamp, 0.7), 0);
    ck_assert_double_eq(grad_b_at(ag_maximum, 1, 1, 0), 0.5);
    ck_assert_double_eq(grad_b_at(ag_maximum, 1, 1, 1), 0.5);
    ck_assert_double_eq(grad_b_at(ag_minimum, 2, 2, 1), 0.5);
    /* pow: base 0 and negative bases. */
    ck_assert_double_eq(grad_b_at(ag_pow, 0, 2, 0), 0);       /* d/da 0^2 = 0 */
    ck_assert_double_eq(grad_b_at(ag_pow, 0, 2, 1), 0);       /* d/db at a = 0 is 0 */
    ck_assert_double_eq(grad_b_at(ag_pow, -2, 3, 0), 12);     /* 3·(-2)^2 */
    ck_assert(isnan(grad_b_at(ag_pow, -2, 3, 1)));            /* no real d/db */
    ck_assert_double_eq(grad_at(tu_pow_c, 0), 0);                /* 3·0^2 */
}
END_TEST

/* atan2 in all four quadrants and on the axes, like C's atan2, with its
 * partials; NaN partials at the origin. erf's slope at 0. */
START_TEST(atan2_and_erf_values) {
    const double pts[][2] = {{1, 1}, {1, -1}, {-1, -1}, {-1, 1}, {0, 2}, {2, 0}, {0, -2}, {-3, 0.5}};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        const double y = pts[i][0], x = pts[i][1], r2 = x * x + y * y;
        ag_tape *t = ag_tape_new(0);
        ag_tensor *a = ag_requires_grad(t, ag_scalar(t, y)), *b = ag_requires_grad(t, ag_scalar(t, x));
        ag_tensor *v = ag_atan2(t, a, b);
        ck_assert_double_eq_tol(ag_item(v), atan2(y, x), 1e-15);
        ck_assert_int_eq(ag_backward(t, v), AG_OK);
        ck_assert_double_eq_tol(ag_grad_item(a), x / r2, 1e-15);
        ck_assert_double_eq_tol(ag_grad_item(b), -y / r2, 1e-15);
        ag_tape_free(t);
    }
    ck_assert(isnan(grad_b_at(ag_atan2, 0, 0, 0)) && isnan(grad_b_at(ag_atan2, 0, 0, 1)));
    ck_assert_double_eq_tol(grad_at(ag_erf, 0), M_2_SQRTPI, 1e-15);
}
END_TEST

START_TEST(stable_tails) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 1, (int64_t[]){4}, (double[]){-800, -40, 40, 800});
    ag_tensor *s = ag_sigmoid(t, x), *p = ag_softplus(t, x);
    for (int i = 0; i < 4; i++) ck_assert(isfinite(ag_get(s, i)) && isfinite(ag_get(p, i)));
    ck_assert_double_eq(ag_get(s, 3), 1.0);
    ck_assert_double_eq(ag_get(p, 3), 800.0);
    ck_assert_double_eq(ag_get(s, 0), 0.0);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    collect_rows();
    tu_add_op_rows(tc, (int)(sizeof tables / sizeof tables[0]), tables);
    tcase_add_loop_test(tc, unary_values_and_f32, 0, nunary);
    tcase_add_loop_test(tc, binary_f32_matches_f64, 0, nbinary);
    tcase_add_test(tc, binary_broadcast_values);
    tcase_add_test(tc, where_gradients);
    tcase_add_test(tc, kinks);
    tcase_add_test(tc, atan2_and_erf_values);
    tcase_add_test(tc, stable_tails);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
