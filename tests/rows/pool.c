/* The pooling family's rows (autograd/ops/pool.def): max and average
 * pooling over kernels, strides and paddings, and the internal ops (max
 * pooling's scatter and gather, average pooling's transpose) called
 * directly through the family's recorder, with the geometry and argmax of
 * a pooling of a fixed input. Inputs lie in [0.1, 1], so the squares of
 * the second-order test make no ties of opposite values. */
#include "op_rows.h"

#include "pool.h" /* ag__pool_record: the internal ops have no public function */

#define SHAPE(...) &(tu_shape){__VA_ARGS__}

static const tu_point pool_points[] = { /* 2x2, stride 2 */
    {.in = {{4, {2, 2, 4, 4}}}, .want = SHAPE(4, {2, 2, 2, 2})},
    {.in = {{3, {3, 4, 5}}}, .want = SHAPE(3, {3, 2, 2})},
};
static const tu_point padded_points[] = { /* 3x3, stride 2, padding 1 */
    {.in = {{4, {1, 2, 5, 6}}}, .want = SHAPE(4, {1, 2, 3, 3})},
};
/* The internal ops on the 3x3 / stride 2 / padding 1 pooling of a fixed
 * (1, 2, 5, 6) input, whose output is (1, 2, 3, 3). */
static const tu_point on_output_points[] = {{.in = {{4, {1, 2, 3, 3}}}, .want = SHAPE(4, {1, 2, 5, 6})}};
static const tu_point on_input_points[] = {{.in = {{4, {1, 2, 5, 6}}}, .want = SHAPE(4, {1, 2, 3, 3})}};
#undef SHAPE

static const ag_pool2d_opts small = {.kernel = {2, 2}};
static const ag_pool2d_opts padded = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
static const ag_pool2d_opts padded_exclude = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
                                              .exclude_pad = true};

static ag_tensor *max_small(ag_tape *t, ag_tensor *x) { return ag_max_pool2d(t, x, &small); }
static ag_tensor *max_padded(ag_tape *t, ag_tensor *x) { return ag_max_pool2d(t, x, &padded); }
static ag_tensor *avg_small(ag_tape *t, ag_tensor *x) { return ag_avg_pool2d(t, x, &small); }
static ag_tensor *avg_padded(ag_tape *t, ag_tensor *x) { return ag_avg_pool2d(t, x, &padded); }
static ag_tensor *avg_exclude(ag_tape *t, ag_tensor *x) { return ag_avg_pool2d(t, x, &padded_exclude); }

/* The fixed input whose pooling gives the internal ops their geometry. */
static ag_tensor *fixed_input(ag_tape *t) {
    ag_rng r;
    ag_rng_seed(&r, 77);
    return t ? ag_uniform(t, AG_F64, AG_SHAPE(1, 2, 5, 6), 0, 1, &r) : NULL;
}
static ag_tensor *scatter(ag_tape *t, ag_tensor *x) {
    return ag__pool_record(t, AG_OP_POOL_SCATTER, x, fixed_input(t), &padded);
}
static ag_tensor *gather(ag_tape *t, ag_tensor *x) {
    return ag__pool_record(t, AG_OP_POOL_GATHER, x, fixed_input(t), &padded);
}
static ag_tensor *avg_t(ag_tape *t, ag_tensor *x) {
    return ag__pool_record(t, AG_OP_AVG_POOL2D_T, x, fixed_input(t), &padded);
}

#define ROW(OP, label, f, pts)                                               \
    {AG_OP_##OP, label, .call.unary = f, .lo = 0.1, .hi = 1, .points = TU_POINTS(pts), .curved = true}
static const tu_op_row rows[] = {
    ROW(MAX_POOL2D, "max_pool2d", max_small, pool_points),
    ROW(MAX_POOL2D, "max_pool2d(padded)", max_padded, padded_points),
    ROW(AVG_POOL2D, "avg_pool2d", avg_small, pool_points),
    ROW(AVG_POOL2D, "avg_pool2d(padded)", avg_padded, padded_points),
    ROW(AVG_POOL2D, "avg_pool2d(exclude_pad)", avg_exclude, padded_points),
    ROW(POOL_SCATTER, NULL, scatter, on_output_points),
    ROW(POOL_GATHER, NULL, gather, on_input_points),
    ROW(AVG_POOL2D_T, NULL, avg_t, on_output_points),
};
#undef ROW

const tu_op_table tu_rows_pool = {"pool", rows, (int)(sizeof rows / sizeof rows[0])};
