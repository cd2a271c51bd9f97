/* The padding family's rows (autograd/ops/pad.def): constant padding of
 * 1-D to 4-D inputs, and its derivative crop through the family's
 * recorder. Both are linear: their second-order test takes x -> op(x²) ·
 * tanh(op(x²)). */
#include "op_rows.h"

#include "pad.h" /* ag__pad_crop: crop has no public function */

#define SHAPE(...) &(tu_shape){__VA_ARGS__}
static const tu_point pad_points[] = { /* pads by rank: pads_of */
    {.in = {{1, {4}}}, .want = SHAPE(1, {7})},
    {.in = {{2, {2, 3}}}, .want = SHAPE(2, {3, 5})},
    {.in = {{3, {2, 1, 3}}}, .want = SHAPE(3, {3, 5, 4})},
    {.in = {{4, {1, 2, 2, 2}}}, .want = SHAPE(4, {1, 2, 4, 4})},
};
static const tu_point crop_points[] = {
    {.in = {{1, {7}}}, .want = SHAPE(1, {4})},
    {.in = {{2, {3, 5}}}, .want = SHAPE(2, {2, 3})},
    {.in = {{3, {3, 5, 4}}}, .want = SHAPE(3, {2, 1, 3})},
    {.in = {{4, {1, 2, 4, 4}}}, .want = SHAPE(4, {1, 2, 2, 2})},
};
#undef SHAPE

/* (before, after) per axis for an input of nd axes. */
static const int64_t *pads_of(int nd) {
    static const int64_t pads[5][8] = {
        {0}, {2, 1}, {1, 0, 0, 2}, {0, 1, 2, 2, 1, 0}, {0, 0, 0, 0, 1, 1, 1, 1},
    };
    return pads[nd];
}

static ag_tensor *pad(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_pad(t, x[0], pads_of(p->in[0].nd), 0.75);
}
static ag_tensor *crop(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag__pad_crop(t, x[0], pads_of(p->in[0].nd));
}

static const tu_op_row rows[] = {
    {AG_OP_PAD, .call.fn = pad, .nin = 1, .lo = -1, .hi = 1, .points = TU_POINTS(pad_points), .curved = true},
    {AG_OP_CROP, .call.fn = crop, .nin = 1, .lo = -1, .hi = 1, .points = TU_POINTS(crop_points), .curved = true},
};

const tu_op_table tu_rows_pad = {"pad", rows, (int)(sizeof rows / sizeof rows[0])};
