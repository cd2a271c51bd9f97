/* The fused family's rows (autograd/ops/fused.def): a weighted sum, a dot
 * product and a statement with given partials, each over three f64
 * scalars (each records one statement). */
#include "op_rows.h"

static const tu_point points[] = {{.n = 3, .in = {{0, {0}}, {0, {0}}, {0, {0}}}}};

static ag_tensor *wsum(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_wsum(t, 3, x, (const double[]){0.5, -2.0, 1.25});
}
static ag_tensor *dot(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    return ag_dot(t, 2, (ag_tensor *[]){x[0], x[1]}, (ag_tensor *[]){x[2], x[0]});
}
/* y = x0 sin(x1) + x2, with its partials given. */
static ag_tensor *statement(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    (void)p;
    double a = ag_item(x[0]), b = ag_item(x[1]), c = ag_item(x[2]);
    return ag_statement(t, a * sin(b) + c, 3, x, (const double[]){sin(b), a * cos(b), 1.0});
}

static const tu_op_row rows[] = {
    {AG_OP_WSUM, .call.fn = wsum, .nin = 3, .lo = -2, .hi = 2, .points = TU_POINTS(points), .curved = true},
    {AG_OP_DOT, .call.fn = dot, .nin = 3, .lo = -2, .hi = 2, .points = TU_POINTS(points)},
    {AG_OP_STMT, .call.fn = statement, .nin = 3, .lo = -2, .hi = 2, .points = TU_POINTS(points),
     .first_order = true},
};

const tu_op_table tu_rows_fused = {"fused", rows, (int)(sizeof rows / sizeof rows[0])};
