/* Sizes that overflow: every byte count and stride is computed with
 * overflow checks in the recorder (and the arena), so a request too large
 * to represent fails with AG_ERR_SHAPE and one too large to allocate with
 * AG_ERR_MEMORY, each message naming the op and the shape, instead of
 * returning a tensor of a few bytes that the next op writes past. */
#include "testutil.h"

#include "tape.h" /* white box: the arena itself */

#include <stdlib.h>
#include <string.h>

/* Asked for more than malloc can give, ASan's allocator must return NULL as
 * malloc does rather than stop the program: that is the path under test. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#define P61 ((int64_t)1 << 61)
#define P62 ((int64_t)1 << 62)

/* x is NULL and the tape holds error `code` whose message has both texts. */
static void assert_refused(ag_tape *t, const ag_tensor *x, ag_status code, const char *op,
                           const char *shape) {
    ck_assert_ptr_null(x);
    ck_assert_int_eq(ag_tape_status(t), code);
    const char *msg = ag_tape_error(t);
    ck_assert_msg(strstr(msg, op) && strstr(msg, shape), "message '%s' lacks '%s' or '%s'", msg, op,
                  shape);
    ag_tape_reset(t);
}

START_TEST(creation_of_2p61_f64_elements) {
    ag_tape *t = ag_tape_new(0);
    assert_refused(t, ag_tensor_new(t, AG_F64, AG_SHAPE(P61), NULL), AG_ERR_SHAPE, "tensor_new",
                   "[2305843009213693952]");
    assert_refused(t, ag_zeros(t, AG_F64, AG_SHAPE(P61)), AG_ERR_SHAPE, "zeros", "[2305843009213693952]");
    assert_refused(t, ag_full(t, AG_F64, AG_SHAPE(4, P61 / 2), 1.0), AG_ERR_SHAPE, "full",
                   "[4, 1152921504606846976]");
    assert_refused(t, ag_arange(t, AG_F64, 0, (double)P61, 1), AG_ERR_SHAPE, "arange",
                   "[2305843009213693952]");
    ag_tape_free(t);
}
END_TEST

/* An f32 [2^62] is 2^64 bytes: the count wrapped to 0 and ag_exp wrote
 * past the end of the heap. */
START_TEST(f32_2p62_into_exp) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_tensor_new(t, AG_F32, AG_SHAPE(P62), NULL);
    ck_assert_ptr_null(ag_exp(t, x));
    assert_refused(t, x, AG_ERR_SHAPE, "tensor_new", "[4611686018427387904]");
    ag_tape_free(t);
}
END_TEST

START_TEST(broadcast_and_one_hot) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *s = ag_scalar(t, 2.0);
    assert_refused(t, ag_broadcast_to(t, s, AG_SHAPE(P61)), AG_ERR_SHAPE, "broadcast_to",
                   "[2305843009213693952]");
    /* one_hot wrote 4 bytes before its block in a release build. */
    assert_refused(t, ag_one_hot(t, AG_F32, 1, (const int64_t[]){0}, P62), AG_ERR_SHAPE, "one_hot",
                   "[1, 4611686018427387904]");
    ag_tape_free(t);
}
END_TEST

/* (2^31, 0) @ (0, 2^31): empty operands, a (2^31, 2^31) result. */
START_TEST(matmul_of_empty_operands) {
    ag_tape *t = ag_tape_new(0);
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F32 : AG_F64;
        ag_tensor *a = ag_zeros(t, dt, AG_SHAPE((int64_t)1 << 31, 0));
        ag_tensor *b = ag_zeros(t, dt, AG_SHAPE(0, (int64_t)1 << 31));
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        assert_refused(t, ag_matmul(t, a, b), AG_ERR_SHAPE, "matmul", "[2147483648, 2147483648]");
    }
    ag_tape_free(t);
}
END_TEST

/* [0, 2^62, 2^62] has no elements, but its strides overflow. */
START_TEST(empty_shape_whose_strides_overflow) {
    ag_tape *t = ag_tape_new(0);
    const char *s = "[0, 4611686018427387904, 4611686018427387904]";
    assert_refused(t, ag_tensor_new(t, AG_F64, AG_SHAPE(0, P62, P62), NULL), AG_ERR_SHAPE, "tensor_new", s);
    assert_refused(t, ag_zeros(t, AG_F32, AG_SHAPE(0, P62, P62)), AG_ERR_SHAPE, "zeros", s);
    ag_tensor *e = ag_zeros(t, AG_F64, AG_SHAPE(0));
    assert_refused(t, ag_reshape(t, e, AG_SHAPE(0, P62, P62)), AG_ERR_SHAPE, "reshape", s);
    e = ag_zeros(t, AG_F64, AG_SHAPE(0));
    assert_refused(t, ag_broadcast_to(t, e, AG_SHAPE(P62, P62, 0)), AG_ERR_SHAPE, "broadcast_to",
                   "[4611686018427387904, 4611686018427387904, 0]");
    ck_assert_ptr_null(ag_param_new(AG_F64, AG_SHAPE(0, P62, P62), NULL));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "param_new"));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), s));
    ck_assert_ptr_null(ag_param_new(AG_F64, AG_SHAPE(P61), NULL));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "[2305843009213693952]"));
    ag_tape_free(t);
}
END_TEST

/* Representable but too large to allocate: AG_ERR_MEMORY, from the cap or
 * from malloc, with the op and the shape. */
START_TEST(too_large_to_allocate) {
    ag_tape *t = ag_tape_new(1 << 20);
    assert_refused(t, ag_zeros(t, AG_F64, AG_SHAPE((int64_t)1 << 59)), AG_ERR_MEMORY, "zeros",
                   "[576460752303423488]");
    ck_assert_ptr_null(ag_zeros(t, AG_F64, AG_SHAPE(1 << 20)));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "cap"));
    ag_tape_free(t);
    t = ag_tape_new(0); /* no cap: malloc refuses 4 EiB */
    assert_refused(t, ag_ones(t, AG_F64, AG_SHAPE((int64_t)1 << 59)), AG_ERR_MEMORY, "ones",
                   "[576460752303423488]");
    ag_tape_free(t);
}
END_TEST

/* The arena's own arithmetic: a request near SIZE_MAX used to wrap its
 * offset check (and the cap's) and return a block of a few bytes. */
START_TEST(arena_request_near_size_max) {
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_nonnull(ag__tape_alloc(t, 100, "test"));
    ck_assert_ptr_null(ag__tape_alloc(t, SIZE_MAX - 16, "test"));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag__tape_alloc(t, SIZE_MAX, "test"));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
    ag_tape_free(t);
    t = ag_tape_new(1 << 20);
    ck_assert_ptr_null(ag__tape_alloc(t, SIZE_MAX - 64, "test"));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "cap"));
    ag_tape_free(t);
}
END_TEST

/* gather and index_select refuse an output too large before they read the
 * index array. */
START_TEST(index_ops) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_zeros(t, AG_F64, AG_SHAPE(2, 3));
    int64_t idx[4] = {0, 1, 0, 1};
    assert_refused(t, ag_index_select(t, x, 1, P62, idx), AG_ERR_SHAPE, "index_select",
                   "[2, 4611686018427387904]");
    x = ag_zeros(t, AG_F64, AG_SHAPE(2, 3));
    assert_refused(t, ag_gather(t, x, 1, P61, idx), AG_ERR_SHAPE, "gather", "[2, 2305843009213693952]");
    ag_tape_free(t);
}
END_TEST

/* A count that does not fit in int64 was converted anyway (undefined
 * behaviour), and reported as "bad dimension -9223372036854775808". */
START_TEST(arange_with_a_huge_count) {
    ag_tape *t = ag_tape_new(0);
    const double cases[][3] = {{0, 1e19, 1}, {0, 1e300, 1e-300}, {-1e308, 1e308, 1}, {0, -1e300, -1e-10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_ptr_null(ag_arange(t, AG_F64, cases[i][0], cases[i][1], cases[i][2]));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
        const char *msg = ag_tape_error(t);
        ck_assert_msg(strstr(msg, "arange") && strstr(msg, "elements") && !strstr(msg, "-9223372036854775808"),
                      "%s", msg);
        ag_tape_reset(t);
    }
    ck_assert_ptr_null(ag_arange(t, AG_F64, 0, INFINITY, 1));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_reset(t);
    ag_tensor *r = ag_arange(t, AG_F64, 0, 1, 0.25); /* ordinary ranges still work */
    ck_assert_int_eq(ag_numel(r), 4);
    ck_assert_double_eq(ag_get(r, 3), 0.75);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sizes");
    TCase *tc = tcase_create("sizes");
    tcase_add_test(tc, creation_of_2p61_f64_elements);
    tcase_add_test(tc, f32_2p62_into_exp);
    tcase_add_test(tc, broadcast_and_one_hot);
    tcase_add_test(tc, matmul_of_empty_operands);
    tcase_add_test(tc, empty_shape_whose_strides_overflow);
    tcase_add_test(tc, too_large_to_allocate);
    tcase_add_test(tc, arena_request_near_size_max);
    tcase_add_test(tc, index_ops);
    tcase_add_test(tc, arange_with_a_huge_count);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
