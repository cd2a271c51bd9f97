/* The index family's rows (autograd/ops/index.def): gather and index_select
 * over 1-D to 4-D inputs with repeated and negative indices, and their
 * recorded backwards scatter_add and index_add, called directly through the
 * family's recorder. The ops are linear: their second-order test takes
 * x -> op(x²) · tanh(op(x²)). */
#include "op_rows.h"

#include "index.h" /* ag__index_record: scatter_add and index_add have no public function */

#define SHAPE(...) &(tu_shape){__VA_ARGS__}
#define IDX(...) (const int64_t[]){__VA_ARGS__}

/* gather: the index has x's shape with k on the axis. */
static const tu_point gather_points[] = {
    {.in = {{1, {4}}}, .axis = 0, .k = 6, .index = IDX(3, 0, 3, 1, -1, 0), .want = SHAPE(1, {6})},
    {.in = {{2, {3, 4}}}, .axis = 1, .k = 5,
     .index = IDX(0, 0, 3, 1, 0, /**/ 2, 2, 2, -4, 1, /**/ 3, 2, 1, 0, 3), .want = SHAPE(2, {3, 5})},
    {.in = {{2, {3, 4}}}, .axis = 0, .k = 2, .index = IDX(2, 0, 0, 1, /**/ 2, 2, 0, 1), .want = SHAPE(2, {2, 4})},
    {.in = {{3, {2, 3, 2}}}, .axis = 1, .k = 2, .index = IDX(0, 2, 0, 0, /**/ 1, 1, 2, -1),
     .want = SHAPE(3, {2, 2, 2})},
    {.in = {{3, {2, 2, 3}}}, .axis = -1, .k = 1, .index = IDX(2, 0, 1, 2), .want = SHAPE(3, {2, 2, 1})},
    {.in = {{4, {2, 1, 3, 2}}}, .axis = 2, .k = 2, .index = IDX(0, 2, 1, 1, 2, 2, 0, 0),
     .want = SHAPE(4, {2, 1, 2, 2})},
};

/* index_select: k indices along the axis. */
static const tu_point select_points[] = {
    {.in = {{1, {5}}}, .axis = 0, .k = 4, .index = IDX(4, 0, 4, 2), .want = SHAPE(1, {4})},
    {.in = {{2, {5, 3}}}, .axis = 0, .k = 6, .index = IDX(4, 0, 4, 2, -1, 0), .want = SHAPE(2, {6, 3})},
    {.in = {{2, {3, 4}}}, .axis = 1, .k = 3, .index = IDX(3, 3, 0), .want = SHAPE(2, {3, 3})},
    {.in = {{3, {2, 3, 4}}}, .axis = -1, .k = 5, .index = IDX(0, 1, 1, 3, 0), .want = SHAPE(3, {2, 3, 5})},
    {.in = {{3, {2, 3, 4}}}, .axis = 1, .k = 2, .index = IDX(2, 2), .want = SHAPE(3, {2, 2, 4})},
    {.in = {{4, {2, 3, 2, 2}}}, .axis = 1, .k = 4, .index = IDX(1, 0, 1, 2), .want = SHAPE(4, {2, 4, 2, 2})},
};

/* scatter_add and index_add: the input has the index's length on the
 * axis, the output the shape `to`; indices in [0, len). */
static const tu_point scatter_points[] = {
    {.in = {{1, {6}}}, .axis = 0, .to = {1, {4}}, .index = IDX(3, 0, 3, 1, 3, 0), .want = SHAPE(1, {4})},
    {.in = {{2, {3, 5}}}, .axis = 1, .to = {2, {3, 4}},
     .index = IDX(0, 0, 3, 1, 0, /**/ 2, 2, 2, 0, 1, /**/ 3, 2, 1, 0, 3), .want = SHAPE(2, {3, 4})},
    {.in = {{3, {2, 2, 2}}}, .axis = 1, .to = {3, {2, 3, 2}}, .index = IDX(0, 2, 0, 0, /**/ 1, 1, 2, 2),
     .want = SHAPE(3, {2, 3, 2})},
};
static const tu_point index_add_points[] = {
    {.in = {{1, {4}}}, .axis = 0, .to = {1, {5}}, .index = IDX(4, 0, 4, 2), .want = SHAPE(1, {5})},
    {.in = {{2, {3, 3}}}, .axis = 1, .to = {2, {3, 4}}, .index = IDX(3, 3, 0), .want = SHAPE(2, {3, 4})},
    {.in = {{3, {2, 2, 4}}}, .axis = 1, .to = {3, {2, 3, 4}}, .index = IDX(2, 2), .want = SHAPE(3, {2, 3, 4})},
};
#undef SHAPE
#undef IDX

static ag_tensor *gather(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_gather(t, x[0], p->axis, p->k, p->index);
}
static ag_tensor *index_select(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_index_select(t, x[0], p->axis, p->k, p->index);
}
static ag_tensor *scatter_add(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag__index_record(t, AG_OP_SCATTER_ADD, x[0], p->axis, p->to.nd, p->to.d, p->index);
}
static ag_tensor *index_add(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag__index_record(t, AG_OP_INDEX_ADD, x[0], p->axis, p->to.nd, p->to.d, p->index);
}

#define ROW(OP, f, pts)                                                      \
    {AG_OP_##OP, .call.fn = f, .nin = 1, .lo = -1, .hi = 1, .points = TU_POINTS(pts), .curved = true}
static const tu_op_row rows[] = {
    ROW(GATHER, gather, gather_points),
    ROW(INDEX_SELECT, index_select, select_points),
    ROW(SCATTER_ADD, scatter_add, scatter_points),
    ROW(INDEX_ADD, index_add, index_add_points),
};
#undef ROW

const tu_op_table tu_rows_index = {"index", rows, (int)(sizeof rows / sizeof rows[0])};
