/* Shape ops: gradient checks in f64 over 1-D to 4-D shapes, hand-checked
 * values, f32 against f64, and bad input (errors name the op, the first
 * error sticks). */
#include "op_rows.h"

#include <string.h>

/* Asserts that the tape holds error `code` and that its message contains
 * `part` (the op's name, usually), then clears it. */
#define assert_error(t, code, part)                                          \
    do {                                                                     \
        ck_assert_int_eq(ag_tape_status(t), (code));                         \
        ck_assert_ptr_nonnull(ag_tape_error(t));                             \
        ck_assert_msg(strstr(ag_tape_error(t), (part)) != NULL, "error '%s' lacks '%s'", \
                      ag_tape_error(t), (part));                             \
        ag_tape_clear_error(t);                                              \
    } while (0)

static void assert_shape(const ag_tensor *y, int nd, const int64_t *shape) {
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_ndim(y), nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(ag_dim(y, i), shape[i]);
}

static void assert_values(const ag_tensor *y, int n, const double *want) {
    ck_assert_int_eq(ag_numel(y), n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(ag_get(y, i) == want[i], "element %d: %g, want %g", i, ag_get(y, i), want[i]);
}

static void assert_grads(const ag_tensor *x, int n, const double *want) {
    for (int i = 0; i < n; i++)
        ck_assert_msg(ag_grad_get(x, i) == want[i], "grad %d: %g, want %g", i, ag_grad_get(x, i),
                      want[i]);
}

/* ---------------------------------------------------------------- reshape */

/* The values keep their row-major order, at every point of reshape's row. */
START_TEST(reshape_keeps_values) {
    const tu_op_row *row = tu_row_of(&tu_rows_shape, AG_OP_RESHAPE, NULL);
    for (int k = 0; k < row->points.n; k++) {
        const tu_point *p = &row->points.p[k];
        ag_rng r;
        ag_rng_seed(&r, 100 + (uint64_t)k);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, p->in[0].nd, p->in[0].d, -1, 1);
        ag_tensor *y = tu_call_run(&row->call, t, &x, p);
        assert_shape(y, p->want->nd, p->want->d);
        for (int64_t i = 0; i < ag_numel(x); i++) ck_assert_double_eq(ag_get(y, i), ag_get(x, i));
        ag_tape_free(t);
    }
}
END_TEST

/* A tensor's reshape is a view: the same storage (pointer equality), so a
 * write through either shows in the other. Only 0-d reshapes copy. */
START_TEST(reshape_shares_storage) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    ag_tensor *y = ag_reshape(t, x, AG_SHAPE(4));
    ag_tensor *z = ag_reshape(t, y, AG_SHAPE(1, -1));
    ck_assert_ptr_eq(ag_data(y), ag_data(x));
    ck_assert_ptr_eq(ag_data(z), ag_data(x));
    ((double *)ag_data_mut(x))[0] = 100;
    assert_values(y, 4, (double[]){100, 2, 3, 4});
    ((double *)ag_data_mut(z))[3] = -4;
    assert_values(x, 4, (double[]){100, 2, 3, -4});
    /* To and from 0-d: one inline value, copied. */
    ag_tensor *s0 = ag_scalar(t, 7), *s1 = ag_reshape(t, s0, AG_SHAPE(1));
    ag_tensor *s2 = ag_reshape(t, s1, 0, NULL);
    ck_assert_ptr_ne(ag_data(s1), ag_data(s0));
    ck_assert_ptr_ne(ag_data(s2), ag_data(s1));
    ck_assert_double_eq(ag_get(s1, 0), 7);
    ck_assert_double_eq(ag_item(s2), 7);
    ag_tape_free(t);
}
END_TEST

/* flatten, squeeze and unsqueeze: their shapes, and each is a view of a
 * tensor (the same storage), as reshape. */
START_TEST(views_shapes_and_storage) {
    ag_tape *t = ag_tape_new(0);
    ag_rng r;
    ag_rng_seed(&r, 7);
    ag_tensor *x = tu_rand(t, &r, 4, (const int64_t[]){2, 1, 3, 4}, -1, 1);
    ag_tensor *v[] = {
        ag_flatten(t, x, 0, -1), ag_flatten(t, x, 1, 2), ag_flatten(t, x, -2, -1), ag_flatten(t, x, 2, 2),
        ag_squeeze(t, x, 1), ag_squeeze(t, x, -3), ag_squeeze(t, x, AG_ALL),
        ag_unsqueeze(t, x, 0), ag_unsqueeze(t, x, -1), ag_unsqueeze(t, x, 2),
    };
    assert_shape(v[0], 1, (const int64_t[]){24});
    assert_shape(v[1], 3, (const int64_t[]){2, 3, 4});
    assert_shape(v[2], 3, (const int64_t[]){2, 1, 12});
    assert_shape(v[3], 4, (const int64_t[]){2, 1, 3, 4});
    assert_shape(v[4], 3, (const int64_t[]){2, 3, 4});
    assert_shape(v[5], 3, (const int64_t[]){2, 3, 4});
    assert_shape(v[6], 3, (const int64_t[]){2, 3, 4});
    assert_shape(v[7], 5, (const int64_t[]){1, 2, 1, 3, 4});
    assert_shape(v[8], 5, (const int64_t[]){2, 1, 3, 4, 1});
    assert_shape(v[9], 5, (const int64_t[]){2, 1, 1, 3, 4});
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        ck_assert_msg(ag_data(v[i]) == ag_data(x), "view %zu copies", i);
        for (int64_t k = 0; k < 24; k++) ck_assert_double_eq(ag_get(v[i], k), ag_get(x, k));
    }
    /* 0-d: flatten gives (1); squeezing (1, 1) to nothing gives 0-d */
    assert_shape(ag_flatten(t, ag_scalar(t, 3), 0, -1), 1, (const int64_t[]){1});
    ag_tensor *s = ag_squeeze(t, ag_from_doubles(t, AG_F64, AG_SHAPE(1, 1), (double[]){5}), AG_ALL);
    ck_assert_int_eq(ag_ndim(s), 0);
    ck_assert_double_eq(ag_item(s), 5);
    assert_shape(ag_unsqueeze(t, ag_scalar(t, 3), 0), 1, (const int64_t[]){1});
    /* a scalar statement works like a 0-d node */
    ag_tensor *st = ag_requires_grad(t, ag_scalar(t, 2));
    ag_tensor *u = ag_unsqueeze(t, ag_mul(t, st, st), -1);
    assert_shape(u, 1, (const int64_t[]){1});
    ck_assert_int_eq(ag_backward(t, ag_sum(t, u, AG_ALL, false)), AG_OK);
    ck_assert_double_eq(ag_grad_item(st), 4);
    ag_tape_free(t);
}
END_TEST

/* Bad axes and sizes: a sticky error naming the op the user called. */
START_TEST(views_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_zeros(t, AG_F64, AG_SHAPE(2, 1, 3));
    ck_assert_ptr_null(ag_flatten(t, x, 0, 3));
    assert_error(t, AG_ERR_SHAPE, "flatten");
    ck_assert_ptr_null(ag_flatten(t, x, 2, 1));
    assert_error(t, AG_ERR_SHAPE, "start axis 2 comes after end axis 1");
    ck_assert_ptr_null(ag_squeeze(t, x, 0));
    assert_error(t, AG_ERR_SHAPE, "axis 0 of [2, 1, 3] has size 2, not 1");
    ck_assert_ptr_null(ag_squeeze(t, x, -4));
    assert_error(t, AG_ERR_SHAPE, "squeeze");
    ck_assert_ptr_null(ag_unsqueeze(t, x, 4));
    assert_error(t, AG_ERR_SHAPE, "unsqueeze");
    ck_assert_ptr_nonnull(ag_unsqueeze(t, x, 3));
    ck_assert_ptr_nonnull(ag_unsqueeze(t, x, -4));
    const int64_t ones[AG_MAX_DIMS] = {1, 1, 1, 1, 1, 1};
    ag_tensor *big = ag_zeros(t, AG_F64, AG_MAX_DIMS, ones);
    ck_assert_ptr_null(ag_unsqueeze(t, big, 0));
    assert_error(t, AG_ERR_SHAPE, "unsqueeze");
    ck_assert_ptr_null(ag_flatten(t, NULL, 0, -1));
    assert_error(t, AG_ERR_NULL, "flatten");
    ck_assert_ptr_null(ag_squeeze(t, NULL, 0));
    assert_error(t, AG_ERR_NULL, "squeeze");
    ck_assert_ptr_null(ag_unsqueeze(t, NULL, 0));
    assert_error(t, AG_ERR_NULL, "unsqueeze");
    ck_assert_ptr_null(ag_unsqueeze(NULL, x, 0));
    ag_tape_free(t);
}
END_TEST

/* Gradients through each view against central differences, first and
 * second order: the view feeds a nonlinear op, and a second path reads x
 * directly, so the view's gradient is summed with another. */
static ag_tensor *through_views(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    ag_tensor *x = in[0]; /* (2, 1, 3) */
    ag_tensor *f = ag_flatten(t, x, 0, -1);                      /* (6) */
    ag_tensor *q = ag_unsqueeze(t, ag_squeeze(t, x, 1), 0);      /* (1, 2, 3) */
    ag_tensor *a = ag_sum(t, ag_mul(t, ag_square(t, f), ag_sin(t, f)), AG_ALL, false);
    ag_tensor *b = ag_mul(t, ag_exp(t, q), ag_reshape(t, x, AG_SHAPE(1, 2, 3)));
    return ag_add(t, ag_add(t, b, a), ag_square(t, ag_squeeze(t, x, AG_ALL)));
}

START_TEST(views_gradcheck) {
    ag_tape *t = ag_tape_new(0);
    ag_rng r;
    ag_rng_seed(&r, 11);
    ag_tensor *x = tu_rand(t, &r, 3, (const int64_t[]){2, 1, 3}, -1.5, 1.5);
    tu_assert_gradcheck(through_views, NULL, 1, &x);
    tu_assert_gradgradcheck(through_views, NULL, 1, &x);
    ag_tape_free(t);
}
END_TEST

/* The gradient through a view is as through a copy: the upstream gradient
 * added into the input's, whether the input's gradient is first written
 * there or by another path before or after it, and the view's own gradient
 * (its own buffer) is only its share. */
START_TEST(reshape_view_gradients) {
    for (int order = 0; order < 2; order++) {
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}));
        ag_tensor *a = ag_from_doubles(t, AG_F64, AG_SHAPE(6), (double[]){1, -1, 2, -2, 3, -3});
        ag_tensor *b = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), (double[]){10, 20, 30, 40, 50, 60});
        ag_tensor *direct = order ? ag_sum(t, ag_mul(t, x, b), AG_ALL, false) : NULL;
        ag_tensor *y = ag_reshape(t, x, AG_SHAPE(6));
        ag_tensor *via = ag_sum(t, ag_mul(t, y, a), AG_ALL, false);
        if (!order) direct = ag_sum(t, ag_mul(t, x, b), AG_ALL, false);
        ck_assert_int_eq(ag_backward(t, ag_add(t, via, direct)), AG_OK);
        assert_grads(x, 6, (double[]){11, 19, 32, 38, 53, 57});
        assert_grads(y, 6, (double[]){1, -1, 2, -2, 3, -3});
        ck_assert_ptr_ne(ag_grad_data(y), ag_grad_data(x));
        /* A second backward: fresh intermediate gradients, leaves accumulate. */
        ck_assert_int_eq(ag_backward(t, via), AG_OK);
        assert_grads(y, 6, (double[]){1, -1, 2, -2, 3, -3});
        assert_grads(x, 6, (double[]){12, 18, 34, 36, 56, 54});
        ag_tape_free(t);
    }
}
END_TEST

/* A view of a parameter: an in-place write to the parameter (an optimizer
 * step) or through the view counts a version on the parameter, so a backward
 * through values recorded before it is refused; after a reset the next
 * forward pass sees the new values. */
START_TEST(reshape_view_of_parameter) {
    ag_tensor *p = ag_param_new(AG_F64, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4});
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = ag_reshape(t, p, AG_SHAPE(4));
    ck_assert_ptr_eq(ag_data(y), ag_data(p));
    ag_tensor *loss = ag_sum(t, ag_square(t, y), AG_ALL, false);
    uint32_t v0 = ag_param_version(p);
    ((double *)ag_data_mut(y))[1] = 20; /* through the view */
    ck_assert_uint_eq(ag_param_version(p), v0 + 1);
    ck_assert_double_eq(ag_get(p, 1), 20);
    ck_assert_int_eq(ag_backward(t, loss), AG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "was written"));
    ag_tape_reset(t);
    y = ag_reshape(t, p, AG_SHAPE(4));
    loss = ag_sum(t, ag_square(t, y), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, loss), AG_OK);
    assert_grads(p, 4, (double[]){2, 40, 6, 8});
    ((double *)ag_data_mut(p))[0] = 0.5; /* the optimizer's write */
    ck_assert_double_eq(ag_get(y, 0), 0.5);
    ck_assert_int_eq(ag_backward(t, loss), AG_ERR_STATE);
    ag_tape_free(t);
    ag_param_free(p);
}
END_TEST

/* ----------------------------------------------------------- broadcast_to */

START_TEST(broadcast_to_values) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *col = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(3, 1), (double[]){1, 2, 3}));
    ag_tensor *y = ag_broadcast_to(t, col, AG_SHAPE(2, 3, 2));
    assert_shape(y, 3, (int64_t[]){2, 3, 2});
    assert_values(y, 12, (double[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    /* Each element has 4 copies: the gradient of the sum is 4. */
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    assert_grads(col, 3, (double[]){4, 4, 4});
    ag_tensor *s = ag_requires_grad(t, ag_scalar(t, 2.5));
    ag_tensor *ys = ag_broadcast_to(t, s, AG_SHAPE(2, 3));
    assert_values(ys, 6, (double[]){2.5, 2.5, 2.5, 2.5, 2.5, 2.5});
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, ys, ys), AG_ALL, false)), AG_OK);
    ck_assert_double_eq(ag_grad_item(s), 6 * 2 * 2.5);
    /* A size-1 dimension may stretch to 0. */
    assert_shape(ag_broadcast_to(t, col, AG_SHAPE(3, 0)), 2, (int64_t[]){3, 0});
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------------------ slice */

START_TEST(slice_values) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_arange(t, AG_F64, 0, 10, 1));
    assert_values(ag_slice(t, x, 0, -3, 100), 3, (double[]){7, 8, 9});
    assert_values(ag_slice(t, x, 0, -100, 2), 2, (double[]){0, 1});
    assert_values(ag_slice(t, x, 0, 2, -6), 2, (double[]){2, 3});
    ag_tensor *e = ag_slice(t, x, 0, 5, 2); /* stop before start: empty */
    assert_shape(e, 1, (int64_t[]){0});
    assert_shape(ag_slice(t, x, 0, 20, 30), 1, (int64_t[]){0});
    /* The gradient lands in the slice only. */
    ag_tensor *y = ag_slice(t, x, 0, 3, 6);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, y), AG_ALL, false)), AG_OK);
    assert_grads(x, 10, (double[]){0, 0, 0, 6, 8, 10, 0, 0, 0, 0});
    ag_zero_grad(x);
    /* An empty slice passes no gradient (and does not fail). */
    ck_assert_int_eq(ag_backward(t, ag_add(t, ag_sum(t, e, AG_ALL, false), ag_sum(t, y, AG_ALL, false))),
                     AG_OK);
    assert_grads(x, 10, (double[]){0, 0, 0, 1, 1, 1, 0, 0, 0, 0});
    /* Middle axis of a matrix: columns 1..2 of a (2, 4). */
    ag_tensor *m = ag_reshape(t, ag_arange(t, AG_F64, 0, 8, 1), AG_SHAPE(2, 4));
    ag_tensor *c = ag_slice(t, m, 1, 1, -1);
    assert_shape(c, 2, (int64_t[]){2, 2});
    assert_values(c, 4, (double[]){1, 2, 5, 6});
    ag_tape_free(t);
}
END_TEST

/* ----------------------------------------------------------- concat, stack */

START_TEST(join_values) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4}));
    ag_tensor *b = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 1), (double[]){5, 6}));
    ag_tensor *c = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (double[]){7, 8, 9, 10}));
    ag_tensor *y = ag_concat(t, 3, (ag_tensor *[]){a, b, c}, 1);
    assert_shape(y, 2, (int64_t[]){2, 5});
    assert_values(y, 10, (double[]){1, 2, 5, 7, 8, 3, 4, 6, 9, 10});
    assert_values(ag_concat(t, 2, (ag_tensor *[]){a, c}, 0), 8, (double[]){1, 2, 3, 4, 7, 8, 9, 10});
    ag_tensor *s = ag_stack(t, 2, (ag_tensor *[]){a, c}, 1);
    assert_shape(s, 3, (int64_t[]){2, 2, 2});
    assert_values(s, 8, (double[]){1, 2, 7, 8, 3, 4, 9, 10});
    ag_tensor *s2 = ag_stack(t, 2, (ag_tensor *[]){a, c}, -1);
    assert_shape(s2, 3, (int64_t[]){2, 2, 2});
    assert_values(s2, 8, (double[]){1, 7, 2, 8, 3, 9, 4, 10});
    /* Gradients: weights 1..10 over y go back to each input's columns. */
    ag_tensor *w = ag_arange(t, AG_F64, 1, 11, 1);
    ag_tensor *loss = ag_sum(t, ag_mul(t, y, ag_reshape(t, w, AG_SHAPE(2, 5))), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, loss), AG_OK);
    assert_grads(a, 4, (double[]){1, 2, 6, 7});
    assert_grads(b, 2, (double[]){3, 8});
    assert_grads(c, 4, (double[]){4, 5, 9, 10});
    ag_tape_free(t);
}
END_TEST

START_TEST(join_same_input_twice) {
    /* The same tensor on two paths of one node gets both gradients. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2), (double[]){1, 2}));
    ag_tensor *y = ag_concat(t, 3, (ag_tensor *[]){a, a, a}, 0);
    ag_tensor *z = ag_stack(t, 2, (ag_tensor *[]){a, a}, 0);
    ck_assert_int_eq(ag_backward(t, ag_add(t, ag_sum(t, y, AG_ALL, false), ag_sum(t, z, AG_ALL, false))),
                     AG_OK);
    assert_grads(a, 2, (double[]){5, 5});
    ag_tape_free(t);
}
END_TEST

START_TEST(join_no_grad) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, ag_ones(t, AG_F32, AG_SHAPE(2)));
    ag_no_grad_begin(t);
    ag_tensor *y = ag_concat(t, 3, (ag_tensor *[]){a, a, a}, 0);
    ag_no_grad_end(t);
    assert_values(y, 6, (double[]){1, 1, 1, 1, 1, 1});
    ck_assert_ptr_null(ag_grad_data(y));
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------ gather, index_select */

START_TEST(gather_values) {
    /* torch.gather's example: dim 1, index [[0, 0], [1, 0]]. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4}));
    int64_t idx[] = {0, 0, 1, 0};
    ag_tensor *y = ag_gather(t, x, 1, 2, idx);
    idx[0] = 1; /* the indices were copied: this changes nothing */
    assert_shape(y, 2, (int64_t[]){2, 2});
    assert_values(y, 4, (double[]){1, 1, 4, 3});
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    assert_grads(x, 4, (double[]){2, 0, 1, 1}); /* x[0][0] picked twice: summed */
    /* Along axis 0, with a negative index and k = 3. */
    ag_tensor *z = ag_gather(t, x, 0, 3, (int64_t[]){1, 0, -2, -1, 0, 0});
    assert_shape(z, 2, (int64_t[]){3, 2});
    assert_values(z, 6, (double[]){3, 2, 1, 4, 1, 2});
    /* k = 0: an empty result. */
    assert_shape(ag_gather(t, x, 1, 0, NULL), 2, (int64_t[]){2, 0});
    ag_tape_free(t);
}
END_TEST

START_TEST(index_select_values) {
    /* Rows of an embedding table (4, 2), token 1 repeated. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *emb = ag_requires_grad(
        t, ag_from_doubles(t, AG_F64, AG_SHAPE(4, 2), (double[]){0, 1, 10, 11, 20, 21, 30, 31}));
    ag_tensor *y = ag_index_select(t, emb, 0, 4, (int64_t[]){1, 3, 1, -4});
    assert_shape(y, 2, (int64_t[]){4, 2});
    assert_values(y, 8, (double[]){10, 11, 30, 31, 10, 11, 0, 1});
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    assert_grads(emb, 8, (double[]){1, 1, 2, 2, 0, 0, 1, 1});
    /* Columns. */
    ag_tensor *cols = ag_index_select(t, emb, 1, 3, (int64_t[]){1, 1, 0});
    assert_values(cols, 12, (double[]){1, 1, 0, 11, 11, 10, 21, 21, 20, 31, 31, 30});
    ag_tape_free(t);
}
END_TEST

/* ---------------------------------------------------------------- one_hot */

START_TEST(one_hot_values) {
    ag_tape *t = ag_tape_new(0);
    ag_dtype dts[2] = {AG_F64, AG_F32};
    for (int d = 0; d < 2; d++) {
        ag_tensor *y = ag_one_hot(t, dts[d], 3, (int64_t[]){2, 0, 3}, 4);
        assert_shape(y, 2, (int64_t[]){3, 4});
        ck_assert_int_eq(ag_dtype_of(y), dts[d]);
        assert_values(y, 12, (double[]){0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1});
        ck_assert_ptr_null(ag_grad_data(y)); /* a constant */
    }
    /* No gradient flows into it; the other operand gets its values. */
    ag_tensor *oh = ag_one_hot(t, AG_F64, 2, (int64_t[]){1, 0}, 2);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (double[]){5, 6, 7, 8}));
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, oh, x), AG_ALL, false)), AG_OK);
    assert_grads(x, 4, (double[]){0, 1, 1, 0});
    ck_assert_ptr_null(ag_grad_data(oh));
    assert_shape(ag_one_hot(t, AG_F64, 0, NULL, 5), 2, (int64_t[]){0, 5});
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------- f32 against f64 */

/* Every op, built in the given dtype from the same values. */
static ag_tensor *all_ops(ag_tape *t, ag_dtype dt, const double *v) {
    ag_tensor *x = ag_from_doubles(t, dt, AG_SHAPE(2, 3, 4), v);
    ag_tensor *a = ag_reshape(t, x, AG_SHAPE(6, -1));                       // (6, 4)
    ag_tensor *b = ag_broadcast_to(t, ag_slice(t, a, 0, 1, 2), AG_SHAPE(6, 4)); // (6, 4)
    ag_tensor *c = ag_concat(t, 3, (ag_tensor *[]){a, b, a}, 1);             // (6, 12)
    ag_tensor *d = ag_stack(t, 3, (ag_tensor *[]){a, b, a}, 1);              // (6, 3, 4)
    ag_tensor *e = ag_gather(t, a, 1, 1, (int64_t[]){3, 2, 1, 0, 0, 3});    // (6, 1)
    ag_tensor *f = ag_index_select(t, c, 1, 3, (int64_t[]){11, 0, 11});     // (6, 3)
    ag_tensor *g = ag_mul(t, ag_one_hot(t, dt, 6, (int64_t[]){0, 1, 2, 2, 1, 0}, 3), f); // (6, 3)
    ag_tensor *parts[] = {ag_reshape(t, c, AG_SHAPE(-1)), ag_reshape(t, d, AG_SHAPE(-1)),
                          ag_reshape(t, e, AG_SHAPE(-1)), ag_reshape(t, g, AG_SHAPE(-1))};
    return ag_concat(t, 4, parts, 0);
}

START_TEST(f32_matches_f64) {
    ag_rng r;
    ag_rng_seed(&r, 77);
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = ag_rng_uniform(&r) * 4 - 2;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y64 = all_ops(t, AG_F64, v), *y32 = all_ops(t, AG_F32, v);
    ck_assert_ptr_nonnull(y64);
    ck_assert_ptr_nonnull(y32);
    ck_assert_int_eq(ag_dtype_of(y32), AG_F32);
    ck_assert_int_eq(ag_numel(y32), ag_numel(y64));
    ck_assert_int_eq(ag_numel(y64), 6 * 12 + 6 * 12 + 6 + 18);
    /* The ops only move values: f32 holds exactly the rounded f64 values. */
    for (int64_t i = 0; i < ag_numel(y64); i++)
        ck_assert_double_eq(ag_get(y32, i), (double)(float)ag_get(y64, i));
    ag_tape_free(t);
}
END_TEST

/* Gradients in f32 match f64 through the same graph. */
START_TEST(f32_gradients_match_f64) {
    ag_rng r;
    ag_rng_seed(&r, 78);
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = ag_rng_uniform(&r) * 4 - 2;
    double g[2][24];
    ag_dtype dts[2] = {AG_F64, AG_F32};
    for (int d = 0; d < 2; d++) {
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, dts[d], AG_SHAPE(2, 3, 4), v));
        ag_tensor *y = ag_reshape(t, x, AG_SHAPE(6, 4));
        y = ag_concat(t, 3, (ag_tensor *[]){y, ag_slice(t, y, 1, -2, 4), y}, 1);   // (6, 10)
        y = ag_stack(t, 2, (ag_tensor *[]){y, ag_broadcast_to(t, ag_slice(t, y, 0, 0, 1),
                                                              AG_SHAPE(6, 10))}, 0); // (2, 6, 10)
        y = ag_index_select(t, y, 2, 4, (int64_t[]){9, 0, 9, 4});                 // (2, 6, 4)
        y = ag_gather(t, y, 1, 2, (int64_t[]){0, 5, 5, 1, 2, 2, 3, 0,
                                               1, 1, 1, 1, 4, 3, 2, 1});         // (2, 2, 4)
        ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_square(t, y), AG_ALL, false)), AG_OK);
        for (int i = 0; i < 24; i++) g[d][i] = ag_grad_get(x, i);
        ag_tape_free(t);
    }
    bool nonzero = false;
    for (int i = 0; i < 24; i++) {
        ck_assert_msg(fabs(g[0][i] - g[1][i]) <= 1e-5 * fmax(1, fabs(g[0][i])), "grad %d: %g vs %g", i,
                      g[1][i], g[0][i]);
        nonzero |= g[0][i] != 0;
    }
    ck_assert(nonzero);
}
END_TEST

/* A small composite: embedding lookup, concat, reshape, broadcast, slice. */
static ag_tensor *composite(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    ag_tensor *emb = ag_index_select(t, x[0], 0, 3, (int64_t[]){2, 0, 2}); // (3, 4)
    ag_tensor *h = ag_concat(t, 2, (ag_tensor *[]){emb, ag_broadcast_to(t, x[1], AG_SHAPE(3, 2))}, 1); // (3, 6)
    h = ag_tanh(t, ag_reshape(t, h, AG_SHAPE(2, -1)));                     // (2, 9)
    return ag_sum(t, ag_mul(t, ag_slice(t, h, 1, 2, -2), ag_slice(t, h, 1, 0, 5)), AG_ALL, false);
}

START_TEST(composite_gradient) {
    ag_rng r;
    ag_rng_seed(&r, 79);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[2] = {tu_rand(t, &r, AG_SHAPE(3, 4), -1, 1), tu_rand(t, &r, AG_SHAPE(2), -1, 1)};
    tu_assert_gradcheck(composite, NULL, 2, x);
    ag_tape_free(t);
}
END_TEST

/* ----------------------------------------------------------------- errors */

START_TEST(errors_bad_axis) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3));
    ag_tensor *s = ag_scalar(t, 1);
    ck_assert_ptr_null(ag_slice(t, x, 2, 0, 1));
    ck_assert_str_eq(ag_tape_error(t), "slice: axis 2 is out of range for shape [2, 3]");
    assert_error(t, AG_ERR_AXIS, "slice");
    ck_assert_ptr_null(ag_slice(t, x, -3, 0, 1));
    assert_error(t, AG_ERR_AXIS, "slice");
    ck_assert_ptr_null(ag_slice(t, s, 0, 0, 1));
    assert_error(t, AG_ERR_AXIS, "slice");
    ck_assert_ptr_null(ag_concat(t, 2, (ag_tensor *[]){x, x}, 2));
    assert_error(t, AG_ERR_AXIS, "concat: axis 2");
    ck_assert_ptr_null(ag_concat(t, 2, (ag_tensor *[]){s, s}, 0));
    assert_error(t, AG_ERR_AXIS, "concat");
    ck_assert_ptr_null(ag_stack(t, 2, (ag_tensor *[]){x, x}, 3));
    assert_error(t, AG_ERR_AXIS, "stack: axis 3");
    ck_assert_ptr_null(ag_stack(t, 2, (ag_tensor *[]){x, x}, -4));
    assert_error(t, AG_ERR_AXIS, "stack");
    ck_assert_ptr_null(ag_gather(t, x, 5, 1, (int64_t[]){0, 0}));
    assert_error(t, AG_ERR_AXIS, "gather");
    ck_assert_ptr_null(ag_index_select(t, x, -3, 1, (int64_t[]){0}));
    assert_error(t, AG_ERR_AXIS, "index_select");
    ag_tape_free(t);
}
END_TEST

START_TEST(errors_shape) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3));
    ck_assert_ptr_null(ag_reshape(t, x, AG_SHAPE(4, 2)));
    ck_assert_str_eq(ag_tape_error(t), "reshape: cannot reshape [2, 3] (6 elements) into [4, 2] (8 elements)");
    assert_error(t, AG_ERR_SHAPE, "reshape");
    ck_assert_ptr_null(ag_reshape(t, x, AG_SHAPE(4, -1)));
    assert_error(t, AG_ERR_SHAPE, "reshape: cannot reshape [2, 3] (6 elements) into [4, -1]");
    ck_assert_ptr_null(ag_reshape(t, x, AG_SHAPE(-1, -1)));
    assert_error(t, AG_ERR_SHAPE, "more than one -1");
    ck_assert_ptr_null(ag_reshape(t, x, AG_SHAPE(-2, -3)));
    assert_error(t, AG_ERR_SHAPE, "reshape");
    ck_assert_ptr_null(ag_reshape(t, ag_zeros(t, AG_F64, AG_SHAPE(0, 3)), AG_SHAPE(0, -1)));
    assert_error(t, AG_ERR_SHAPE, "reshape");
    ck_assert_ptr_null(ag_reshape(t, x, 7, (int64_t[]){1, 1, 1, 1, 1, 2, 3}));
    assert_error(t, AG_ERR_SHAPE, "reshape");
    ck_assert_ptr_null(ag_broadcast_to(t, x, AG_SHAPE(2, 4)));
    ck_assert_str_eq(ag_tape_error(t), "broadcast_to: cannot broadcast [2, 3] to [2, 4]");
    assert_error(t, AG_ERR_SHAPE, "broadcast_to");
    ck_assert_ptr_null(ag_broadcast_to(t, x, AG_SHAPE(3)));
    assert_error(t, AG_ERR_SHAPE, "broadcast_to: cannot broadcast [2, 3] to [3]");
    ck_assert_ptr_null(ag_broadcast_to(t, x, AG_SHAPE(2, -3)));
    assert_error(t, AG_ERR_SHAPE, "broadcast_to");
    ag_tensor *y = ag_ones(t, AG_F64, AG_SHAPE(3, 3));
    ck_assert_ptr_null(ag_concat(t, 3, (ag_tensor *[]){x, x, y}, 1));
    ck_assert_str_eq(ag_tape_error(t), "concat: shapes [2, 3] (tensor 1) and [3, 3] (tensor 3) differ off axis 1");
    assert_error(t, AG_ERR_SHAPE, "concat");
    ck_assert_ptr_null(ag_concat(t, 2, (ag_tensor *[]){x, ag_ones(t, AG_F64, AG_SHAPE(6))}, 0));
    assert_error(t, AG_ERR_SHAPE, "concat");
    ck_assert_ptr_null(ag_stack(t, 3, (ag_tensor *[]){x, x, y}, 0));
    assert_error(t, AG_ERR_SHAPE, "stack: shapes [2, 3] (tensor 1) and [3, 3] (tensor 3) differ");
    ck_assert_ptr_null(ag_stack(t, 2, (ag_tensor *[]){ag_ones(t, AG_F64, 6, (int64_t[]){1, 1, 1, 1, 1, 1}),
                                                      ag_ones(t, AG_F64, 6, (int64_t[]){1, 1, 1, 1, 1, 1})}, 0));
    assert_error(t, AG_ERR_SHAPE, "stack");
    ck_assert_ptr_null(ag_gather(t, x, 1, -1, (int64_t[]){0}));
    assert_error(t, AG_ERR_SHAPE, "gather");
    ck_assert_ptr_null(ag_index_select(t, x, 1, -1, (int64_t[]){0}));
    assert_error(t, AG_ERR_SHAPE, "index_select");
    ck_assert_ptr_null(ag_one_hot(t, AG_F64, -1, (int64_t[]){0}, 3));
    assert_error(t, AG_ERR_SHAPE, "one_hot");
    ag_tape_free(t);
}
END_TEST

START_TEST(errors_index_range) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3));
    ck_assert_ptr_null(ag_gather(t, x, 1, 2, (int64_t[]){0, 1, 2, 3}));
    ck_assert_str_eq(ag_tape_error(t),
                     "gather: index[3] = 3 is out of range for axis 1 of size 3 (input [2, 3])");
    assert_error(t, AG_ERR_AXIS, "gather");
    ck_assert_ptr_null(ag_gather(t, x, 0, 1, (int64_t[]){0, -3, 0}));
    assert_error(t, AG_ERR_AXIS, "gather: index[1] = -3");
    ck_assert_ptr_null(ag_index_select(t, x, 0, 3, (int64_t[]){1, 0, 2}));
    assert_error(t, AG_ERR_AXIS, "index_select: index[2] = 2 is out of range for axis 0 of size 2");
    ck_assert_ptr_null(ag_index_select(t, x, 1, 1, (int64_t[]){-4}));
    assert_error(t, AG_ERR_AXIS, "index_select");
    ck_assert_ptr_null(ag_one_hot(t, AG_F64, 3, (int64_t[]){0, 4, 1}, 4));
    ck_assert_str_eq(ag_tape_error(t), "one_hot: index[1] = 4 is out of range for 4 classes");
    assert_error(t, AG_ERR_AXIS, "one_hot");
    ck_assert_ptr_null(ag_one_hot(t, AG_F64, 1, (int64_t[]){-1}, 4)); /* no counting from the end */
    assert_error(t, AG_ERR_AXIS, "one_hot");
    ck_assert_ptr_null(ag_one_hot(t, AG_F64, 1, (int64_t[]){0}, 0));
    assert_error(t, AG_ERR_AXIS, "one_hot");
    ag_tape_free(t);
}
END_TEST

START_TEST(errors_null_and_count) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3));
    /* No tape: NULL, nothing else (each op's row checks the ops). */
    ck_assert_ptr_null(ag_one_hot(NULL, AG_F64, 1, (int64_t[]){0}, 2));
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    /* NULL tensors among several: the error names the operand. */
    ck_assert_ptr_null(ag_concat(t, 3, (ag_tensor *[]){x, NULL, x}, 0));
    assert_error(t, AG_ERR_NULL, "concat: operand 2 is NULL");
    ck_assert_ptr_null(ag_stack(t, 2, (ag_tensor *[]){x, NULL}, 0));
    assert_error(t, AG_ERR_NULL, "stack: operand 2 is NULL");
    ck_assert_ptr_null(ag_concat(t, 2, NULL, 0));
    assert_error(t, AG_ERR_NULL, "concat");
    /* NULL shapes and index arrays. */
    ck_assert_ptr_null(ag_reshape(t, x, 2, NULL));
    assert_error(t, AG_ERR_NULL, "reshape: shape is NULL");
    ck_assert_ptr_null(ag_broadcast_to(t, x, 2, NULL));
    assert_error(t, AG_ERR_NULL, "broadcast_to");
    ck_assert_ptr_null(ag_gather(t, x, 0, 1, NULL));
    assert_error(t, AG_ERR_NULL, "gather: index is NULL");
    ck_assert_ptr_null(ag_index_select(t, x, 0, 1, NULL));
    assert_error(t, AG_ERR_NULL, "index_select: index is NULL");
    ck_assert_ptr_null(ag_one_hot(t, AG_F64, 2, NULL, 3));
    assert_error(t, AG_ERR_NULL, "one_hot");
    /* n = 0 (or negative) tensors to join. */
    ck_assert_ptr_null(ag_concat(t, 0, (ag_tensor *[]){x}, 0));
    ck_assert_str_eq(ag_tape_error(t), "concat: needs at least one tensor (n = 0)");
    assert_error(t, AG_ERR_ARG, "concat");
    ck_assert_ptr_null(ag_stack(t, -1, (ag_tensor *[]){x}, 0));
    assert_error(t, AG_ERR_ARG, "stack");
    ck_assert_ptr_null(ag_concat(t, 0, NULL, 0));
    assert_error(t, AG_ERR_ARG, "concat");
    ag_tape_free(t);
}
END_TEST

START_TEST(errors_dtype) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_ones(t, AG_F64, AG_SHAPE(2, 3)), *b = ag_ones(t, AG_F32, AG_SHAPE(2, 3));
    ck_assert_ptr_null(ag_concat(t, 3, (ag_tensor *[]){a, a, b}, 0));
    ck_assert_str_eq(ag_tape_error(t), "concat: operands have dtypes f64[2, 3] and f32[2, 3]");
    assert_error(t, AG_ERR_DTYPE, "concat");
    ck_assert_ptr_null(ag_stack(t, 2, (ag_tensor *[]){b, a}, 0));
    assert_error(t, AG_ERR_DTYPE, "stack: operands have dtypes f32[2, 3] and f64[2, 3]");
    ck_assert_ptr_null(ag_one_hot(t, (ag_dtype)7, 1, (int64_t[]){0}, 2));
    assert_error(t, AG_ERR_DTYPE, "one_hot");
    ag_tape_free(t);
}
END_TEST

START_TEST(errors_sticky) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3));
    /* The first mistake (a bad axis) is the error reported at the end of the
     * chain; later ops given NULL do not replace it. */
    ag_tensor *y = ag_reshape(t, ag_slice(t, x, 4, 0, 1), AG_SHAPE(-1));
    y = ag_concat(t, 2, (ag_tensor *[]){y, x}, 0);
    y = ag_stack(t, 1, &y, 0);
    y = ag_broadcast_to(t, ag_gather(t, ag_index_select(t, y, 0, 1, (int64_t[]){0}), 0, 1,
                                     (int64_t[]){0}), AG_SHAPE(2, 3));
    ck_assert_ptr_null(y);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ck_assert_str_eq(ag_tape_error(t), "slice: axis 4 is out of range for shape [2, 3]");
    /* While the error stands, even valid calls return NULL and keep it. */
    ck_assert_ptr_null(ag_reshape(t, x, AG_SHAPE(3, 2)));
    ck_assert_ptr_null(ag_concat(t, 1, &x, 0));
    ck_assert_ptr_null(ag_one_hot(t, AG_F64, 1, (int64_t[]){9}, 2));
    ck_assert_str_eq(ag_tape_error(t), "slice: axis 4 is out of range for shape [2, 3]");
    ag_tape_clear_error(t);
    ck_assert_ptr_nonnull(ag_reshape(t, x, AG_SHAPE(3, 2)));
    ag_tape_free(t);
}
END_TEST

START_TEST(errors_memory_cap) {
    /* Running into the tape's cap fails cleanly, naming the op. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(64, 64));
    ag_tape_set_mem_cap(t, ag_tape_get_stats(t).bytes_reserved);
    ag_tensor *xs[] = {x, x, x, x};
    ag_tensor *y = NULL;
    for (int i = 0; i < 64 && ag_tape_status(t) == AG_OK; i++) y = ag_concat(t, 4, xs, 0);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "concat"));
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("shape");
    tcase_set_timeout(tc, 120);
    const tu_op_table *const tables[] = {&tu_rows_shape, &tu_rows_index};
    tu_add_op_rows(tc, 2, tables);
    tcase_add_test(tc, reshape_keeps_values);
    tcase_add_test(tc, reshape_shares_storage);
    tcase_add_test(tc, views_shapes_and_storage);
    tcase_add_test(tc, views_errors);
    tcase_add_test(tc, views_gradcheck);
    tcase_add_test(tc, reshape_view_gradients);
    tcase_add_test(tc, reshape_view_of_parameter);
    tcase_add_test(tc, broadcast_to_values);
    tcase_add_test(tc, slice_values);
    tcase_add_test(tc, join_values);
    tcase_add_test(tc, join_same_input_twice);
    tcase_add_test(tc, join_no_grad);
    tcase_add_test(tc, gather_values);
    tcase_add_test(tc, index_select_values);
    tcase_add_test(tc, one_hot_values);
    tcase_add_test(tc, f32_matches_f64);
    tcase_add_test(tc, f32_gradients_match_f64);
    tcase_add_test(tc, composite_gradient);
    tcase_add_test(tc, errors_bad_axis);
    tcase_add_test(tc, errors_shape);
    tcase_add_test(tc, errors_index_range);
    tcase_add_test(tc, errors_null_and_count);
    tcase_add_test(tc, errors_dtype);
    tcase_add_test(tc, errors_sticky);
    tcase_add_test(tc, errors_memory_cap);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
