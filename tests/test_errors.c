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
    /* (Each op given NULL operands is its row's NULL-input test, op_rows.h.) */
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
    /* A 0-d tensor takes axis 0 and -1 (its one element, as in PyTorch and
     * softmax), and no other. */
    ck_assert_ptr_nonnull(ag_sum(t, ag_scalar(t, 1), 0, false));
    ck_assert_ptr_null(ag_sum(t, ag_scalar(t, 1), 1, false));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
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

/* The spellings every message uses, public for nn/ and tools/. */
START_TEST(dtype_and_shape_spelling) {
    ck_assert_str_eq(ag_dtype_name(AG_F32), "f32");
    ck_assert_str_eq(ag_dtype_name(AG_F64), "f64");
    ck_assert_str_eq(ag_dtype_name((ag_dtype)9), "unknown");
    char b[16];
    ck_assert_str_eq(ag_format_shape(b, sizeof b, 3, (const int64_t[]){3, 4, 5}), "[3, 4, 5]");
    ck_assert_str_eq(ag_format_shape(b, sizeof b, 0, NULL), "[]");
    ck_assert_str_eq(ag_format_shape(b, 6, 3, (const int64_t[]){300, 4, 5}), "[300,"); /* truncated, terminated */
    ag_set_last_error("from a library on top");
    ck_assert_str_eq(ag_last_error(), "from a library on top");
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

/* The arguments beyond an op's tensor operands (which its row tests,
 * op_rows.h), and the higher-order utilities, given NULL (or a NULL tape):
 * NULL back, an AG_ERR_NULL naming the function, no crash. */
START_TEST(null_arguments_beyond_operands) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *m = ag_ones(t, AG_F64, AG_SHAPE(2, 3)), *g = NULL;
#define EXPECT_NULL(call, opname)                                            \
    do {                                                                     \
        ck_assert_ptr_null(call);                                            \
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);                    \
        ck_assert_msg(strstr(ag_tape_error(t), opname) != NULL, "%s", ag_tape_error(t)); \
        ag_tape_clear_error(t);                                              \
    } while (0)
    EXPECT_NULL(ag_permute(t, m, NULL), "permute");
    EXPECT_NULL(ag_reshape(t, m, 2, NULL), "reshape");
    EXPECT_NULL(ag_concat(t, 1, NULL, 0), "concat");
    EXPECT_NULL(ag_gather(t, m, 1, 1, NULL), "gather");
    EXPECT_NULL(ag_one_hot(t, AG_F64, 2, NULL, 3), "one_hot");
    EXPECT_NULL(ag_jacobian(t, NULL, m), "jacobian");
    EXPECT_NULL(ag_hessian(t, m, NULL), "hessian");
    EXPECT_NULL(ag_jvp(t, NULL, m, m), "jvp");
    ck_assert_int_eq(ag_grad_ex(t, ag_sum(t, m, AG_ALL, false), 1, &m, NULL, NULL), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_backward_ex(t, NULL, NULL), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_hvp(t, m, 1, &m, NULL, &g), AG_ERR_NULL);
    ag_tape_clear_error(t);
    /* no tape at all */
    ck_assert_ptr_null(ag_one_hot(NULL, AG_F64, 2, (const int64_t[]){0, 1}, 3));
    ck_assert_int_eq(ag_backward_ex(NULL, m, NULL), AG_ERR_NULL);
    ck_assert_ptr_null(ag_graph_grad(NULL, m));
#undef EXPECT_NULL
    ag_tape_free(t);
}
END_TEST

/* A graph touching every op family, recorded, differentiated once and
 * twice, under memory caps from tiny to ample: each run either succeeds or
 * fails with AG_ERR_MEMORY, cleanly, and never reserves beyond its cap. */
static ag_status whole_graph(ag_tape *t) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tensor *x = ag_requires_grad(t, ag_uniform(t, AG_F64, AG_SHAPE(8, 6), -1, 1, &r));
    ag_tensor *w = ag_requires_grad(t, ag_uniform(t, AG_F64, AG_SHAPE(6, 5), -1, 1, &r));
    const int64_t cls[] = {0, 4, 2, 1, 3, 0, 2, 4};
    ag_tensor *h = ag_tanh(t, ag_matmul(t, x, w));                        /* (8, 5) */
    ag_tensor *j = ag_concat(t, 2, (ag_tensor *[]){h, ag_slice(t, h, 1, 0, 2)}, 1); /* (8, 7) */
    ag_tensor *p = ag_log_softmax(t, ag_transpose(t, ag_transpose(t, j)), 1);
    ag_tensor *picked = ag_gather(t, p, 1, 1, cls);
    ag_tensor *loss = ag_add(t, ag_neg(t, ag_mean(t, picked, AG_ALL, false)),
                             ag_mul_c(t, ag_var(t, ag_reshape(t, h, AG_SHAPE(-1)), 0, false, 1), 0.1));
    ag_tensor *g;
    ag_status st = ag_grad_ex(t, loss, 1, &w, &g, &(ag_backward_opts){.create_graph = true});
    if (st != AG_OK) return st;
    ag_tensor *gg = ag_sum(t, ag_square(t, g), AG_ALL, false);
    return ag_backward(t, gg);
}

START_TEST(memory_cap_every_family) {
    ag_tape *big = ag_tape_new(0);
    ck_assert_int_eq(whole_graph(big), AG_OK);
    size_t needed = ag_tape_get_stats(big).bytes_reserved;
    ag_tape_free(big);
    int failures = 0, successes = 0;
    for (size_t cap = 1024; cap < 2 * needed; cap = cap * 5 / 4) {
        ag_tape *t = ag_tape_new(cap);
        ag_status st = whole_graph(t);
        ck_assert_msg(st == AG_OK || st == AG_ERR_MEMORY, "cap %zu: %s", cap, ag_tape_error(t));
        if (st == AG_ERR_MEMORY) {
            ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
            ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "cap"));
            failures++;
        } else {
            successes++;
        }
        ck_assert_uint_le(ag_tape_get_stats(t).bytes_reserved, cap);
        ag_tape_free(t);
    }
    ck_assert_int_gt(failures, 3);
    ck_assert_int_gt(successes, 0);
}
END_TEST

/* Names set with ag_set_name appear in error messages beside the shapes. */
START_TEST(names_in_error_messages) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_ones(t, AG_F64, AG_SHAPE(3, 4)), "x");
    ag_tensor *w = ag_set_name(t, ag_ones(t, AG_F64, AG_SHAPE(5, 2)), "w1");
    ck_assert_ptr_null(ag_matmul(t, x, w));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[3, 4] 'x'"));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[5, 2] 'w1'"));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_add(t, x, w));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "'w1'"));
    ag_tape_clear_error(t);
    ag_tensor *f = ag_set_name(t, ag_ones(t, AG_F32, AG_SHAPE(3, 4)), "h");
    ck_assert_ptr_null(ag_mul(t, x, f));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "'h'"));
    ag_tape_free(t);
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
    tcase_add_test(tc, dtype_and_shape_spelling);
    tcase_add_test(tc, null_arguments_beyond_operands);
    tcase_add_test(tc, memory_cap_every_family);
    tcase_add_test(tc, names_in_error_messages);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
