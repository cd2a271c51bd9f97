/* The convolution family's rows (autograd/ops/conv.def): conv2d and conv1d
 * over strides, paddings, "same", dilations and groups (the bias is left
 * out: a NULL bias is no error, and test_conv.c covers it), and the two
 * gradient ops called directly through the family's recorder. The ops are
 * linear in each operand: their second-order test takes x -> op(x²) ·
 * tanh(op(x²)). */
#include "op_rows.h"

#include "conv.h" /* ag__conv2d_grad_record: the gradient ops have no public function */

#define SHAPE(...) &(tu_shape){__VA_ARGS__}

static const tu_point conv2d_points[] = {
    {.in = {{4, {2, 2, 4, 4}}, {4, {3, 2, 3, 3}}}, .want = SHAPE(4, {2, 3, 2, 2})},
    {.in = {{4, {1, 3, 3, 5}}, {4, {2, 3, 2, 2}}}, .want = SHAPE(4, {1, 2, 2, 4})},
    {.in = {{3, {2, 4, 4}}, {4, {2, 2, 3, 3}}}, .want = SHAPE(3, {2, 2, 2})}, /* unbatched */
};
static const tu_point conv2d_1x1_points[] = {
    {.in = {{4, {2, 3, 2, 3}}, {4, {2, 3, 1, 1}}}, .want = SHAPE(4, {2, 2, 2, 3})},
};
static const tu_point strided_points[] = { /* stride (2, 1), padding (1, 1) */
    {.in = {{4, {2, 2, 5, 4}}, {4, {2, 2, 3, 3}}}, .want = SHAPE(4, {2, 2, 3, 4})},
};
static const tu_point grouped_points[] = { /* dilation (2, 1), groups 2 */
    {.in = {{4, {1, 4, 5, 4}}, {4, {2, 2, 2, 2}}}, .want = SHAPE(4, {1, 2, 3, 3})},
};
static const tu_point same_points[] = { /* "same", an even kernel */
    {.in = {{4, {1, 2, 4, 5}}, {4, {2, 2, 2, 3}}}, .want = SHAPE(4, {1, 2, 4, 5})},
};
static const tu_point conv1d_points[] = { /* stride 2, padding 1, dilation 2 */
    {.in = {{3, {2, 2, 9}}, {3, {3, 2, 3}}}, .want = SHAPE(3, {2, 3, 4})},
    {.in = {{2, {3, 8}}, {3, {2, 3, 2}}}, .want = SHAPE(2, {2, 4})}, /* unbatched */
};
/* The gradient ops of conv2d with stride 2, padding 1 on x (2, 2, 5, 4)
 * and w (3, 2, 3, 3), whose y is (2, 3, 3, 2): `to` is x's shape. */
static const tu_point input_grad_points[] = {
    {.in = {{4, {2, 3, 3, 2}}, {4, {3, 2, 3, 3}}}, .to = {4, {2, 2, 5, 4}}, .want = SHAPE(4, {2, 2, 5, 4})},
};
static const tu_point weight_grad_points[] = {
    {.in = {{4, {2, 2, 5, 4}}, {4, {2, 3, 3, 2}}}, .to = {4, {2, 2, 5, 4}}, .want = SHAPE(4, {3, 2, 3, 3})},
};
#undef SHAPE

static ag_tensor *conv2d(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_conv2d(t, x[0], x[1], NULL, NULL);
}
static ag_tensor *conv2d_strided(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_conv2d(t, x[0], x[1], NULL, &(ag_conv2d_opts){.stride = {2, 1}, .padding = {1, 1}});
}
static ag_tensor *conv2d_grouped(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_conv2d(t, x[0], x[1], NULL, &(ag_conv2d_opts){.dilation = {2, 1}, .groups = 2});
}
static ag_tensor *conv2d_same(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_conv2d(t, x[0], x[1], NULL, &(ag_conv2d_opts){.same = true});
}
static ag_tensor *conv1d(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_conv1d(t, x[0], x[1], NULL, &(ag_conv1d_opts){.stride = 2, .padding = 1, .dilation = 2});
}
static const ag_conv2d_opts grad_opts = {.stride = {2, 2}, .padding = {1, 1}};
static ag_tensor *input_grad(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag__conv2d_grad_record(t, AG_OP_CONV_INPUT_GRAD, x[0], x[1], p->to.nd, p->to.d,
                                  (const int64_t[]){3, 2, 3, 3}, &grad_opts);
}
static ag_tensor *weight_grad(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag__conv2d_grad_record(t, AG_OP_CONV_WEIGHT_GRAD, x[0], x[1], p->to.nd, p->to.d,
                                  (const int64_t[]){3, 2, 3, 3}, &grad_opts);
}

#define ROW(OP, label, f, pts)                                               \
    {AG_OP_##OP, label, .call.fn = f, .nin = 2, .lo = -1, .hi = 1, .points = TU_POINTS(pts), \
     .curved = true}
static const tu_op_row rows[] = {
    ROW(CONV, "conv2d", conv2d, conv2d_points),
    ROW(CONV, "conv2d(1x1)", conv2d, conv2d_1x1_points),
    ROW(CONV, "conv2d(stride, padding)", conv2d_strided, strided_points),
    ROW(CONV, "conv2d(dilation, groups)", conv2d_grouped, grouped_points),
    ROW(CONV, "conv2d(same)", conv2d_same, same_points),
    ROW(CONV, "conv1d(stride, padding, dilation)", conv1d, conv1d_points),
    ROW(CONV_INPUT_GRAD, NULL, input_grad, input_grad_points),
    ROW(CONV_WEIGHT_GRAD, NULL, weight_grad, weight_grad_points),
};
#undef ROW

const tu_op_table tu_rows_conv = {"conv", rows, (int)(sizeof rows / sizeof rows[0])};
