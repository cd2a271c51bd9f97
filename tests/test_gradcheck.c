/* The gradient checker itself: it passes correct gradients, catches wrong
 * ones, and fails distinctly on an all-zero gradient. */
#include "testutil.h"

static ag_tensor *cube(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_sum(t, ag_pow_c(t, x[0], 3.0), AG_ALL, false);
}

/* x·detach(x): the tape sees dy/dx = x, the truth is 2x. */
static ag_tensor *wrong(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_sum(t, ag_mul(t, x[0], ag_detach(t, x[0])), AG_ALL, false);
}

/* Everything detached: an engine that computed nothing would look like this. */
static ag_tensor *nothing(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_sum(t, ag_square(t, ag_detach(t, x[0])), AG_ALL, false);
}

static ag_tensor *failing(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_add(t, x[0], ag_ones(t, AG_F64, AG_SHAPE(7)));
}

static ag_tensor *vector_out(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_mul(t, ag_sin(t, x[0]), x[1]);
}

START_TEST(passes_and_reports) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 1, (int64_t[]){4}, (double[]){0.5, -1, 2, 0.1});
    ag_gradcheck_report r;
    ck_assert(ag_gradcheck(cube, NULL, 1, &x, NULL, &r));
    ck_assert_int_eq(r.verdict, AG_GRADCHECK_PASS);
    ck_assert_int_eq(r.checked, 4);
    ck_assert_double_lt(r.max_abs_err, 1e-6);
    ag_tensor *xy[2] = {x, ag_from_doubles(t, AG_F64, 1, (int64_t[]){4}, (double[]){1, 2, 3, 4})};
    ck_assert(ag_gradcheck(vector_out, NULL, 2, xy, NULL, &r)); /* non-scalar output */
    ag_gradcheck_opts o = ag_gradcheck_defaults();
    ck_assert_double_eq(o.eps, 1e-6);
    ck_assert_double_eq(o.atol, 1e-5);
    ck_assert_double_eq(o.rtol, 1e-3);
    o.max_elements = 2;
    ck_assert(ag_gradcheck(cube, NULL, 1, &x, &o, &r));
    ck_assert_int_eq(r.checked, 2);
    ag_tape_free(t);
}
END_TEST

START_TEST(catches_wrong_gradient) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    ag_gradcheck_report r;
    ck_assert(!ag_gradcheck(wrong, NULL, 1, &x, NULL, &r));
    ck_assert_int_eq(r.verdict, AG_GRADCHECK_MISMATCH);
    ck_assert_int_eq(r.worst_input, 0);
    ck_assert_double_eq_tol(r.worst_numeric, 2 * ag_get(x, r.worst_index), 1e-6);
    ck_assert_double_eq_tol(r.worst_analytic, ag_get(x, r.worst_index), 1e-12);
    ag_tape_free(t);
}
END_TEST

START_TEST(zero_gradient_fails_distinctly) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3});
    ag_gradcheck_report r;
    ck_assert(!ag_gradcheck(nothing, NULL, 1, &x, NULL, &r));
    ck_assert_int_eq(r.verdict, AG_GRADCHECK_ZERO_GRAD);
    ck_assert_ptr_nonnull(strstr(r.message, "all zeros"));
    ag_tape_free(t);
}
END_TEST

START_TEST(function_errors_are_reported) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_zeros(t, AG_F64, AG_SHAPE(3));
    ag_gradcheck_report r;
    ck_assert(!ag_gradcheck(failing, NULL, 1, &x, NULL, &r));
    ck_assert_int_eq(r.verdict, AG_GRADCHECK_ERROR);
    ck_assert_ptr_nonnull(strstr(r.message, "[3] and [7]"));
    ck_assert(!ag_gradcheck(NULL, NULL, 1, &x, NULL, &r));
    ck_assert(!ag_gradcheck(cube, NULL, 1, NULL, NULL, &r));
    ag_tensor *none = NULL;
    ck_assert(!ag_gradcheck(cube, NULL, 1, &none, NULL, &r));
    ag_tape_free(t);
}
END_TEST

/* A NaN tolerance made every comparison false, so a real mismatch passed;
 * the other options were not checked either (only eps was). */
START_TEST(bad_options_are_an_error) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, (double[]){0.5, -1, 2});
    const ag_gradcheck_opts d = ag_gradcheck_defaults();
    const ag_gradcheck_opts bad[] = {
        {.eps = d.eps, .atol = NAN, .rtol = d.rtol},      {.eps = d.eps, .atol = d.atol, .rtol = NAN},
        {.eps = d.eps, .atol = -1e-5, .rtol = d.rtol},    {.eps = d.eps, .atol = d.atol, .rtol = -1e-3},
        {.eps = d.eps, .atol = INFINITY, .rtol = d.rtol}, {.eps = INFINITY, .atol = d.atol, .rtol = d.rtol},
        {.eps = NAN, .atol = d.atol, .rtol = d.rtol},     {.eps = d.eps, .atol = d.atol, .rtol = d.rtol, .max_elements = -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ag_gradcheck_report r;
        ck_assert(!ag_gradcheck(wrong, NULL, 1, &x, &bad[i], &r));
        ck_assert_msg(r.verdict == AG_GRADCHECK_ERROR, "case %zu: verdict %d: %s", i, r.verdict, r.message);
        ck_assert(!ag_gradgradcheck(cube, NULL, 1, &x, &bad[i], &r));
        ck_assert_int_eq(r.verdict, AG_GRADCHECK_ERROR);
    }
    ag_tape_free(t);
}
END_TEST

/* sum(x) + 1e-7·sum(w·detach(x)), w = (0, 1, 3, 2): numeric 1 + 1e-7·w,
 * analytic 1, all within tolerance; the worst is element 2. The report of a
 * pass showed element 0, the first compared. */
static ag_tensor *slightly_off(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    ag_tensor *w = ag_from_doubles(t, AG_F64, 1, (int64_t[]){4}, (double[]){0, 1, 3, 2});
    ag_tensor *off = ag_mul_c(t, ag_sum(t, ag_mul(t, w, ag_detach(t, x[0])), AG_ALL, false), 1e-7);
    return ag_add(t, ag_sum(t, x[0], AG_ALL, false), off);
}

START_TEST(pass_reports_the_worst_element) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 1, (int64_t[]){4}, (double[]){0.5, -1, 2, 0.1});
    ag_gradcheck_report r;
    ck_assert(ag_gradcheck(slightly_off, NULL, 1, &x, NULL, &r));
    ck_assert_int_eq(r.worst_input, 0);
    ck_assert_int_eq(r.worst_index, 2);
    ck_assert_double_eq_tol(r.worst_numeric - r.worst_analytic, 3e-7, 1e-8);
    ck_assert_double_eq_tol(r.max_abs_err, 3e-7, 1e-8);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("gradcheck");
    tcase_add_test(tc, passes_and_reports);
    tcase_add_test(tc, catches_wrong_gradient);
    tcase_add_test(tc, zero_gradient_fails_distinctly);
    tcase_add_test(tc, function_errors_are_reported);
    tcase_add_test(tc, bad_options_are_an_error);
    tcase_add_test(tc, pass_reports_the_worst_element);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
