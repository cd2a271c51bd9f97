/* Bad input: NULLs, mismatched shapes and dtypes, bad axes, the memory cap.
 * Every case returns an error that names the op and shapes, never crashes,
 * and a chain of calls fails once, at the first mistake. */
#include "testutil.h"

START_TEST(null_everywhere) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2));
    /* No tape: NULL, nothing else. */
    ck_assert_ptr_null(ag_add(NULL, x, x));
    ck_assert_ptr_null(ag_exp(NULL, x));
    ck_assert_ptr_null(ag_scalar(NULL, 1));
    ck_assert_int_eq(ag_backward(NULL, x), AG_ERR_NULL);
    ck_assert_int_eq(ag_tape_status(NULL), AG_ERR_NULL);
    ag_tape_reset(NULL);
    ag_tape_free(NULL);
    /* NULL operands: the first error names the op and stays. */
    ck_assert_ptr_null(ag_mul(t, x, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "mul"));
    ck_assert_ptr_null(ag_exp(t, ag_sum(t, ag_mul(t, x, NULL), AG_ALL, false)));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "mul: operand 2 is NULL"));
    ag_tape_clear_error(t);
    typedef ag_tensor *(*unary_fn)(ag_tape *, ag_tensor *);
    unary_fn unary[] = {ag_neg, ag_exp, ag_log, ag_sqrt, ag_abs, ag_sin, ag_cos, ag_tan, ag_tanh,
                        ag_sigmoid, ag_relu, ag_gelu, ag_softplus, ag_square};
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        ck_assert_ptr_null(unary[i](t, NULL));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
        ag_tape_clear_error(t);
    }
    ck_assert_ptr_null(ag_clamp(t, NULL, 0, 1));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_where(t, x, NULL, x));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_sum(t, NULL, 0, false));
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_backward(t, NULL), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_from_doubles(t, AG_F64, AG_SHAPE(2), NULL));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_uniform(t, AG_F64, AG_SHAPE(2), 0, 1, NULL));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_requires_grad(t, NULL));
    ag_tape_clear_error(t);
    /* Accessors take NULL quietly. */
    ck_assert(isnan(ag_item(NULL)));
    ck_assert(isnan(ag_grad_item(NULL)));
    ck_assert_int_eq(ag_numel(NULL), 0);
    ck_assert_ptr_null(ag_data(NULL));
    ck_assert_int_eq(ag_to_doubles(NULL, NULL, 0), AG_ERR_NULL);
    ag_zero_grad(NULL);
    ag_param_free(NULL);
    ag_tape_free(t);
}
END_TEST

START_TEST(shape_and_dtype_mismatch) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_ones(t, AG_F64, AG_SHAPE(2, 3)), *b = ag_ones(t, AG_F64, AG_SHAPE(4));
    ck_assert_ptr_null(ag_add(t, a, b));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ck_assert_str_eq(ag_tape_error(t), "add: shapes [2, 3] and [4] do not broadcast");
    ag_tape_clear_error(t);
    ag_tensor *f = ag_ones(t, AG_F32, AG_SHAPE(2, 3));
    ck_assert_ptr_null(ag_mul(t, a, f));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "f64[2, 3] and f32[2, 3]"));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_where(t, ag_ones(t, AG_F64, AG_SHAPE(5)), a, a));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_zeros(t, AG_F64, 7, (int64_t[]){1, 1, 1, 1, 1, 1, 1}));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_zeros(t, AG_F64, 1, (int64_t[]){-3}));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_zeros(t, (ag_dtype)9, AG_SHAPE(2)));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_clamp(t, a, 1, 0));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_arange(t, AG_F64, 0, 1, 0));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_rpow_c(t, -2, a));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_requires_grad(t, ag_exp(t, a))); /* not a leaf */
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_clear_error(t);
    ag_tensor *seed = ag_ones(t, AG_F64, AG_SHAPE(3));
    ck_assert_int_eq(ag_backward_seed(t, ag_exp(t, a), seed), AG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "seed f64[3] does not match output f64[2, 3]"));
    ag_tape_free(t);
}
END_TEST

START_TEST(bad_axes) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_ones(t, AG_F64, AG_SHAPE(2, 3));
    const int bad[] = {2, -3, 100, -1001};
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_null(ag_sum(t, a, bad[i], false));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
        ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[2, 3]"));
        ag_tape_clear_error(t);
        ck_assert_ptr_null(ag_mean(t, a, bad[i], true));
        ag_tape_clear_error(t);
    }
    ck_assert_ptr_nonnull(ag_sum(t, a, -2, false));
    ck_assert_ptr_null(ag_sum(t, ag_scalar(t, 1), 0, false)); /* a scalar has no axis 0 */
    ag_tape_free(t);
}
END_TEST

START_TEST(memory_cap_mid_graph) {
    for (size_t cap = 1 << 16; cap <= 1 << 22; cap <<= 1) {
        ag_tape *t = ag_tape_new(cap);
        ag_tensor *x = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(64, 64)));
        ag_tensor *h = x;
        for (int i = 0; i < 200 && h; i++) h = ag_tanh(t, ag_mul_c(t, h, 1.01));
        ag_tensor *y = ag_sum(t, h, AG_ALL, false);
        if (!y) {
            ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
            ck_assert_int_eq(ag_backward(t, y), AG_ERR_MEMORY); /* sticky */
        } else {
            ck_assert_int_eq(ag_backward(t, y), AG_OK);
        }
        ck_assert_uint_le(ag_tape_get_stats(t).bytes_reserved, cap);
        ag_tape_free(t);
    }
}
END_TEST

START_TEST(param_errors) {
    ck_assert_ptr_null(ag_param_new((ag_dtype)0, AG_SHAPE(2), NULL));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "dtype"));
    ck_assert_ptr_null(ag_param_new(AG_F64, 2, NULL, NULL));
    ck_assert_ptr_null(ag_param_new(AG_F64, 1, (int64_t[]){-1}, NULL));
    ck_assert_ptr_null(ag_param_new(AG_F64, 2, (int64_t[]){INT64_MAX, 4}, NULL));
}
END_TEST

int main(void) {
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, null_everywhere);
    tcase_add_test(tc, shape_and_dtype_mismatch);
    tcase_add_test(tc, bad_axes);
    tcase_add_test(tc, memory_cap_mid_graph);
    tcase_add_test(tc, param_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
