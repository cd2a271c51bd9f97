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

int main(void) {
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("gradcheck");
    tcase_add_test(tc, passes_and_reports);
    tcase_add_test(tc, catches_wrong_gradient);
    tcase_add_test(tc, zero_gradient_fails_distinctly);
    tcase_add_test(tc, function_errors_are_reported);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
