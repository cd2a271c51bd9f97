/* The tape: reset keeps memory, memory cap, statistics, names, creation
 * functions and the seeded generator. */
#include "testutil.h"

static void one_step(ag_tape *t, ag_tensor *w) {
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(64, 8));
    ag_backward(t, ag_sum(t, ag_tanh(t, ag_mul(t, x, w)), AG_ALL, false));
}

START_TEST(reset_reuses_memory) {
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_debug(t, false); /* release mode's reuse (debug mode allocates afresh) */
    ag_tensor *w = ag_param_new(AG_F64, AG_SHAPE(8), NULL);
    for (int i = 0; i < 3; i++) {
        ag_tape_reset(t);
        one_step(t, w);
    }
    ag_tape_stats s1 = ag_tape_get_stats(t);
    ck_assert_uint_gt(s1.nodes, 0);
    ck_assert_uint_gt(s1.bytes_in_use, 0);
    for (int i = 0; i < 100; i++) {
        ag_tape_reset(t);
        ck_assert_uint_eq(ag_tape_get_stats(t).nodes, 0);
        ck_assert_uint_eq(ag_tape_get_stats(t).bytes_in_use, 0);
        one_step(t, w);
    }
    ag_tape_stats s2 = ag_tape_get_stats(t);
    ck_assert_uint_eq(s2.allocations, s1.allocations); /* nothing allocated after step 1 */
    ck_assert_uint_eq(s2.bytes_reserved, s1.bytes_reserved);
    ck_assert_uint_eq(s2.peak_bytes, s1.peak_bytes);
    ag_param_free(w);
    ag_tape_free(t);
}
END_TEST

START_TEST(memory_cap_is_an_error) {
    ag_tape *t = ag_tape_new(4096);
    ag_tensor *big = ag_zeros(t, AG_F64, AG_SHAPE(1000, 1000));
    ck_assert_ptr_null(big);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "cap"));
    ck_assert_ptr_null(ag_exp(t, big)); /* the chain fails once */
    ag_tape_reset(t);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_set_mem_cap(t, 64 << 20);
    ck_assert_ptr_nonnull(ag_zeros(t, AG_F64, AG_SHAPE(1000, 1000)));
    ck_assert_uint_le(ag_tape_get_stats(t).bytes_reserved, 64u << 20);
    /* Scalar nodes at the cap: the node list's block cannot be had. */
    ag_tape *small = ag_tape_new(1024);
    ck_assert_ptr_null(ag_scalar(small, 1.0));
    ck_assert_int_eq(ag_tape_status(small), AG_ERR_MEMORY);
    ag_tape_free(small);
    ag_tape_free(t);
}
END_TEST

START_TEST(scalar_node_is_small) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 1.0));
    ag_tape_stats before = ag_tape_get_stats(t);
    for (int i = 0; i < 1000; i++) x = ag_mul_c(t, x, 1.0);
    ag_tape_stats after = ag_tape_get_stats(t);
    ck_assert_uint_le((after.bytes_in_use - before.bytes_in_use) / 1000, 64);
    ag_tape_free(t);
}
END_TEST

START_TEST(creation_and_access) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_arange(t, AG_F32, 0, 5, 1);
    ck_assert_int_eq(ag_numel(a), 5);
    ck_assert_double_eq(ag_get(a, 4), 4.0);
    ck_assert(isnan(ag_get(a, 5)));
    ag_tensor *f = ag_full(t, AG_F64, AG_SHAPE(2, 3, 4, 5), 2.5);
    ck_assert_int_eq(ag_ndim(f), 4);
    ck_assert_int_eq(ag_dim(f, -1), 5);
    ck_assert_double_eq(ag_get(f, 119), 2.5);
    char buf[64];
    ck_assert_str_eq(ag_shape_str(f, buf, sizeof buf), "[2, 3, 4, 5]");
    ag_tensor *s = ag_scalar_of(t, AG_F32, 0.25);
    ck_assert_int_eq(ag_ndim(s), 0);
    ck_assert_ptr_null(ag_shape(s));
    ck_assert_double_eq(ag_item(s), 0.25);
    ck_assert_str_eq(ag_shape_str(s, buf, sizeof buf), "[]");
    ck_assert_ptr_null(ag_name(s));
    ag_set_name(t, s, "s");
    ck_assert_str_eq(ag_name(s), "s");
    float raw[3] = {1, 2, 3};
    ag_tensor *r = ag_tensor_new(t, AG_F32, AG_SHAPE(3), raw);
    ck_assert_double_eq(((const float *)ag_data(r))[2], 3.0);
    ag_tape_free(t);
}
END_TEST

START_TEST(rng_is_reproducible) {
    ag_rng a, b;
    ag_rng_seed(&a, 123);
    ag_rng_seed(&b, 123);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(ag_rng_next(&a), ag_rng_next(&b));
    /* Pinned first outputs, the same on every machine. */
    ag_rng_seed(&a, 0);
    uint64_t first = ag_rng_next(&a);
    ag_rng_seed(&a, 0);
    ck_assert_uint_eq(ag_rng_next(&a), first);
    ck_assert_uint_eq(first, 0x99ec5f36cb75f2b4ull);
    double sum = 0, sq = 0;
    ag_rng_seed(&a, 9);
    for (int i = 0; i < 100000; i++) {
        double z = ag_rng_normal(&a);
        sum += z;
        sq += z * z;
    }
    ck_assert_double_le(fabs(sum / 100000), 0.02);
    ck_assert_double_le(fabs(sq / 100000 - 1), 0.02);
    ag_tape *t = ag_tape_new(0);
    ag_rng_seed(&a, 4);
    ag_tensor *u = ag_uniform(t, AG_F64, AG_SHAPE(1000), -1, 1, &a);
    for (int i = 0; i < 1000; i++) ck_assert(ag_get(u, i) >= -1 && ag_get(u, i) < 1);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tape");
    TCase *tc = tcase_create("tape");
    tcase_add_test(tc, reset_reuses_memory);
    tcase_add_test(tc, memory_cap_is_an_error);
    tcase_add_test(tc, scalar_node_is_small);
    tcase_add_test(tc, creation_and_access);
    tcase_add_test(tc, rng_is_reproducible);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
