/* The shape family's rows (autograd/ops/shape.def): reshape, broadcast_to,
 * slice, concat and stack over 0-d to 4-D shapes, each point with the
 * output shape it must give. The ops are linear: their second-order test
 * takes x -> op(x²) · tanh(op(x²)). */
#include "op_rows.h"

#define SHAPE(...) &(tu_shape){__VA_ARGS__}

static const tu_point reshape_points[] = {
    {.in = {{1, {24}}}, .to = {3, {2, 3, 4}}, .want = SHAPE(3, {2, 3, 4})},
    {.in = {{3, {2, 3, 4}}}, .to = {2, {4, -1}}, .want = SHAPE(2, {4, 6})},
    {.in = {{3, {2, 3, 4}}}, .to = {1, {-1}}, .want = SHAPE(1, {24})},
    {.in = {{2, {6, 2}}}, .to = {4, {2, 1, -1, 2}}, .want = SHAPE(4, {2, 1, 3, 2})},
    {.in = {{4, {2, 1, 3, 2}}}, .to = {2, {-1, 3}}, .want = SHAPE(2, {4, 3})},
    {.in = {{0, {0}}}, .to = {2, {1, -1}}, .want = SHAPE(2, {1, 1})},
    {.in = {{2, {1, 1}}}, .to = {0, {0}}, .want = SHAPE(0, {0})},
};

static const tu_point broadcast_points[] = {
    {.in = {{0, {0}}}, .to = {2, {3, 4}}, .want = SHAPE(2, {3, 4})},             /* scalar */
    {.in = {{2, {1, 4}}}, .to = {2, {3, 4}}, .want = SHAPE(2, {3, 4})},          /* row */
    {.in = {{2, {3, 1}}}, .to = {2, {3, 4}}, .want = SHAPE(2, {3, 4})},          /* column */
    {.in = {{1, {4}}}, .to = {3, {2, 3, 4}}, .want = SHAPE(3, {2, 3, 4})},          /* 3-D from 1-D */
    {.in = {{2, {3, 1}}}, .to = {3, {2, 3, 4}}, .want = SHAPE(3, {2, 3, 4})},       /* column into 3-D */
    {.in = {{4, {2, 1, 3, 1}}}, .to = {4, {2, 2, 3, 4}}, .want = SHAPE(4, {2, 2, 3, 4})}, /* 4-D, two stretched axes */
    {.in = {{2, {3, 4}}}, .to = {2, {3, 4}}, .want = SHAPE(2, {3, 4})},          /* nothing to stretch */
};

static const tu_point slice_points[] = {
    {.in = {{1, {6}}}, .axis = 0, .start = 1, .stop = 4, .want = SHAPE(1, {3})},
    {.in = {{1, {6}}}, .axis = 0, .start = -4, .stop = -1, .want = SHAPE(1, {3})}, /* negative bounds */
    {.in = {{1, {6}}}, .axis = -1, .start = -100, .stop = 100, .want = SHAPE(1, {6})}, /* clamped */
    {.in = {{1, {6}}}, .axis = 0, .start = 4, .stop = 100, .want = SHAPE(1, {2})}, /* stop clamped */
    {.in = {{2, {3, 4}}}, .axis = 1, .start = 1, .stop = 3, .want = SHAPE(2, {3, 2})},
    {.in = {{2, {3, 4}}}, .axis = 0, .start = -1, .stop = 3, .want = SHAPE(2, {1, 4})},
    {.in = {{3, {2, 3, 4}}}, .axis = -1, .start = -2, .stop = 4, .want = SHAPE(3, {2, 3, 2})},
    {.in = {{3, {2, 3, 4}}}, .axis = 1, .start = 0, .stop = 2, .want = SHAPE(3, {2, 2, 4})},
    {.in = {{4, {2, 3, 2, 3}}}, .axis = 2, .start = 1, .stop = 2, .want = SHAPE(4, {2, 3, 1, 3})},
    {.in = {{4, {2, 3, 2, 3}}}, .axis = 0, .start = -3, .stop = 1, .want = SHAPE(4, {1, 3, 2, 3})},
};

/* concat: first, middle and last axes, up to 3 inputs of different lengths */
static const tu_point concat_points[] = {
    {3, {{3, {1, 3, 2}}, {3, {2, 3, 2}}, {3, {3, 3, 2}}}, .axis = 0, .want = SHAPE(3, {6, 3, 2})},
    {3, {{3, {2, 1, 2}}, {3, {2, 3, 2}}, {3, {2, 2, 2}}}, .axis = 1, .want = SHAPE(3, {2, 6, 2})},
    {3, {{3, {2, 3, 1}}, {3, {2, 3, 2}}, {3, {2, 3, 3}}}, .axis = -1, .want = SHAPE(3, {2, 3, 6})},
    {3, {{1, {2}}, {1, {3}}, {1, {1}}}, .axis = 0, .want = SHAPE(1, {6})},
    {3, {{4, {2, 1, 2, 2}}, {4, {2, 1, 1, 2}}, {4, {2, 1, 3, 2}}}, .axis = 2, .want = SHAPE(4, {2, 1, 6, 2})},
    {1, {{2, {2, 3}}}, .axis = 1, .want = SHAPE(2, {2, 3})},
    {2, {{2, {2, 3}}, {2, {1, 3}}}, .axis = 0, .want = SHAPE(2, {3, 3})},
};

/* stack: new first, middle and last axes */
static const tu_point stack_points[] = {
    {3, {{2, {2, 3}}, {2, {2, 3}}, {2, {2, 3}}}, .axis = 0, .want = SHAPE(3, {3, 2, 3})},
    {3, {{2, {2, 3}}, {2, {2, 3}}, {2, {2, 3}}}, .axis = 1, .want = SHAPE(3, {2, 3, 3})},
    {3, {{2, {2, 3}}, {2, {2, 3}}, {2, {2, 3}}}, .axis = 2, .want = SHAPE(3, {2, 3, 3})},
    {3, {{3, {2, 1, 2}}, {3, {2, 1, 2}}, {3, {2, 1, 2}}}, .axis = -1, .want = SHAPE(4, {2, 1, 2, 3})},
    {3, {{0, {0}}, {0, {0}}, {0, {0}}}, .axis = 0, .want = SHAPE(1, {3})}, /* scalars */
    {1, {{1, {4}}}, .axis = 1, .want = SHAPE(2, {4, 1})},
};
#undef SHAPE

static ag_tensor *reshape(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_reshape(t, x[0], p->to.nd, p->to.d);
}
static ag_tensor *broadcast_to(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_broadcast_to(t, x[0], p->to.nd, p->to.d);
}
static ag_tensor *slice(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_slice(t, x[0], p->axis, p->start, p->stop);
}
static ag_tensor *concat(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_concat(t, p->n, x, p->axis);
}
static ag_tensor *stack(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_stack(t, p->n, x, p->axis);
}

#define ROW(OP, f, NIN, pts)                                                 \
    {AG_OP_##OP, .call.fn = f, .nin = NIN, .lo = -1, .hi = 1, .points = TU_POINTS(pts), .curved = true}
static const tu_op_row rows[] = {
    ROW(RESHAPE, reshape, 1, reshape_points), ROW(BROADCAST_TO, broadcast_to, 1, broadcast_points),
    ROW(SLICE, slice, 1, slice_points),       ROW(CONCAT, concat, 0, concat_points),
    ROW(STACK, stack, 0, stack_points),
};
#undef ROW

const tu_op_table tu_rows_shape = {"shape", rows, (int)(sizeof rows / sizeof rows[0])};
