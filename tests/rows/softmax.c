/* The softmax family's rows (autograd/ops/softmax.def): softmax and
 * log-softmax along every axis of a 3-D input and along a 1-D one. */
#include "op_rows.h"

static const tu_point points[] = {
    {.in = {{3, {2, 3, 4}}}, .axis = -1}, {.in = {{3, {2, 3, 4}}}, .axis = 0},
    {.in = {{3, {2, 3, 4}}}, .axis = 1},  {.in = {{3, {2, 3, 4}}}, .axis = 2},
    {.in = {{1, {5}}}, .axis = 0},
};

static ag_tensor *softmax(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_softmax(t, x[0], p->axis);
}
static ag_tensor *log_softmax(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_log_softmax(t, x[0], p->axis);
}

static const tu_op_row rows[] = {
    {AG_OP_SOFTMAX, .call.fn = softmax, .nin = 1, .lo = -3, .hi = 3, .points = TU_POINTS(points),
     .lo2 = -2, .hi2 = 2},
    {AG_OP_LOG_SOFTMAX, .call.fn = log_softmax, .nin = 1, .lo = -3, .hi = 3, .points = TU_POINTS(points),
     .lo2 = -2, .hi2 = 2},
};

const tu_op_table tu_rows_softmax = {"softmax", rows, (int)(sizeof rows / sizeof rows[0])};
