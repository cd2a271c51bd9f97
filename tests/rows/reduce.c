/* The reduce family's rows (autograd/ops/reduce.def): every reduction over
 * every axis of a 3-D input, keepdims on and off, plus 1-D and 4-D inputs.
 * Random inputs have no ties, so max and min are smooth there. The second
 * order takes reduce(x) · reduce(x²), so the linear reductions have
 * curvature too. */
#include "op_rows.h"

#define S234 .in = {{3, {2, 3, 4}}}
static const tu_point points[] = {
    {S234, .axis = AG_ALL, .want = &(tu_shape){0, {0}}},
    {S234, .axis = AG_ALL, .keep = true, .want = &(tu_shape){3, {1, 1, 1}}},
    {S234, .axis = 0, .want = &(tu_shape){2, {3, 4}}},
    {S234, .axis = 0, .keep = true, .want = &(tu_shape){3, {1, 3, 4}}},
    {S234, .axis = 1, .want = &(tu_shape){2, {2, 4}}},
    {S234, .axis = 1, .keep = true, .want = &(tu_shape){3, {2, 1, 4}}},
    {S234, .axis = -1, .want = &(tu_shape){2, {2, 3}}},
    {S234, .axis = -1, .keep = true, .want = &(tu_shape){3, {2, 3, 1}}},
    {S234, .axis = 2, .want = &(tu_shape){2, {2, 3}}},
    {S234, .axis = 2, .keep = true, .want = &(tu_shape){3, {2, 3, 1}}},
    {.in = {{1, {5}}}, .axis = 0, .want = &(tu_shape){0, {0}}},
    {.in = {{4, {2, 3, 4, 5}}}, .axis = 2, .keep = true, .want = &(tu_shape){4, {2, 3, 1, 5}}},
};
static const tu_point points2[] = {
    {S234, .axis = AG_ALL}, {S234, .axis = AG_ALL, .keep = true}, {S234, .axis = 0},
    {S234, .axis = 0, .keep = true}, {S234, .axis = 1}, {S234, .axis = 1, .keep = true},
    {S234, .axis = -1}, {S234, .axis = -1, .keep = true},
};
#undef S234

/* Each reduction as a row's call, and times itself of x² for the second
 * order. */
#define REDUCTION(name, expr)                                                \
    static ag_tensor *name(ag_tape *t, ag_tensor *const *x, const tu_point *p) { return expr; } \
    static ag_tensor *name##_x_x2(ag_tape *t, ag_tensor *const *x, const tu_point *p) { \
        ag_tensor *const sq[1] = {ag_square(t, x[0])};                       \
        return ag_mul(t, name(t, x, p), name(t, sq, p));                     \
    }
REDUCTION(sum, ag_sum(t, x[0], p->axis, p->keep))
REDUCTION(mean, ag_mean(t, x[0], p->axis, p->keep))
REDUCTION(max, ag_max(t, x[0], p->axis, p->keep))
REDUCTION(min, ag_min(t, x[0], p->axis, p->keep))
REDUCTION(lse, ag_logsumexp(t, x[0], p->axis, p->keep))
REDUCTION(var1, tu_var1(t, x[0], p->axis, p->keep))
REDUCTION(var0, tu_var0(t, x[0], p->axis, p->keep))
#undef REDUCTION

#define ROW(OP, label, f)                                                    \
    {AG_OP_##OP, label, .call.fn = f, .nin = 1, .lo = -1, .hi = 1, .points = TU_POINTS(points), \
     .call2.fn = f##_x_x2, .points2 = TU_POINTS(points2)}
static const tu_op_row rows[] = {
    ROW(SUM, NULL, sum), ROW(MEAN, NULL, mean), ROW(MAX, NULL, max), ROW(MIN, NULL, min),
    ROW(LOGSUMEXP, NULL, lse), ROW(VAR, "var(1)", var1), ROW(VAR, "var(0)", var0),
};
#undef ROW

const tu_op_table tu_rows_reduce = {"reduce", rows, (int)(sizeof rows / sizeof rows[0])};
