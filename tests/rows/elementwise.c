/* The elementwise family's rows (autograd/ops/elementwise.def): binary ops
 * over broadcasting shape pairs, the scalar-constant forms on 0-d to 3-D
 * inputs, and where. Linear and piecewise-linear ops get a composition with
 * curvature for their second-order test. */
#include "op_rows.h"

/* Shape pairs: same, scalar with matrix and back, row with column, 3-D
 * with 1-D and back. The second-order test takes the first four kinds. */
static const tu_point pairs[] = {
    {.in = {{2, {3, 4}}, {2, {3, 4}}}}, {.in = {{0, {0}}, {2, {3, 4}}}},
    {.in = {{2, {3, 4}}, {0, {0}}}},    {.in = {{2, {1, 4}}, {2, {3, 1}}}},
    {.in = {{3, {2, 3, 4}}, {1, {4}}}}, {.in = {{1, {4}}, {3, {2, 3, 4}}}},
};
static const tu_point pairs2[] = {
    {.in = {{2, {3, 4}}, {2, {3, 4}}}}, {.in = {{0, {0}}, {2, {3, 4}}}},
    {.in = {{2, {1, 4}}, {2, {3, 1}}}}, {.in = {{3, {2, 3, 4}}, {1, {4}}}},
};
static const tu_point unary_points[] = {
    {.in = {{0, {0}}}}, {.in = {{1, {5}}}}, {.in = {{2, {2, 3}}}}, {.in = {{3, {2, 3, 4}}}}};

static ag_tensor *add_sq(ag_tape *t, ag_tensor *a, ag_tensor *b) { return ag_square(t, ag_add(t, a, b)); }
static ag_tensor *sub_sq(ag_tape *t, ag_tensor *a, ag_tensor *b) { return ag_square(t, ag_sub(t, a, b)); }
/* maximum/minimum are piecewise linear: multiplied by an operand. */
static ag_tensor *max_a(ag_tape *t, ag_tensor *a, ag_tensor *b) { return ag_mul(t, ag_maximum(t, a, b), a); }
static ag_tensor *min_b(ag_tape *t, ag_tensor *a, ag_tensor *b) { return ag_mul(t, ag_minimum(t, a, b), b); }
static ag_tensor *add_c_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_add_c(t, x)); }
static ag_tensor *rsub_c_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_rsub_c(t, x)); }
static ag_tensor *mul_c_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_mul_c(t, x)); }
static ag_tensor *pow_half(ag_tape *t, ag_tensor *x) { return ag_pow_c(t, x, 0.5); }

/* where(m, a, b) with a fixed 0/1 mask of the point's shape `to`. */
static ag_tensor *mask(ag_tape *t, const tu_point *p) {
    double m[12];
    for (int i = 0; i < 12; i++) m[i] = (i * 7) % 3 != 1;
    return ag_from_doubles(t, AG_F64, p->to.nd, p->to.d, m);
}
static ag_tensor *where_ab(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_where(t, mask(t, p), x[0], x[1]);
}
static ag_tensor *where_curved(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_where(t, mask(t, p), ag_square(t, x[0]), ag_mul(t, x[1], x[0]));
}
static const tu_point where_points[] = {
    {.in = {{2, {3, 4}}, {2, {1, 4}}}, .to = {2, {3, 4}}},
    {.in = {{2, {3, 4}}, {0, {0}}}, .to = {2, {3, 4}}},
    {.in = {{1, {4}}, {2, {3, 1}}}, .to = {2, {3, 4}}},
    {.in = {{2, {3, 4}}, {2, {3, 4}}}, .to = {1, {4}}},
};

#define PAIRS .points = TU_POINTS(pairs), .points2 = TU_POINTS(pairs2)
#define U TU_POINTS(unary_points)
static const tu_op_row rows[] = {
    {AG_OP_ADD, .call.binary = ag_add, .lo = -2, .hi = 2, PAIRS, .call2.binary = add_sq},
    {AG_OP_SUB, .call.binary = ag_sub, .lo = -2, .hi = 2, PAIRS, .call2.binary = sub_sq},
    {AG_OP_MUL, .call.binary = ag_mul, .lo = -2, .hi = 2, PAIRS},
    {AG_OP_DIV, .call.binary = ag_div, .lo = -2, .hi = 2, .lo1 = 0.5, .hi1 = 2, PAIRS, .lo2 = 0.5, .hi2 = 2},
    {AG_OP_POW, .call.binary = ag_pow, .lo = 0.5, .hi = 2, .lo1 = -2, .hi1 = 2, PAIRS, .lo2 = 0.5, .hi2 = 2},
    {AG_OP_MAXIMUM, .call.binary = ag_maximum, .lo = -2, .hi = 2, PAIRS, .call2.binary = max_a},
    {AG_OP_MINIMUM, .call.binary = ag_minimum, .lo = -2, .hi = 2, PAIRS, .call2.binary = min_b},
    /* atan2 off the origin, in all four quadrants for the second operand's
     * two signs (its branch cut, a = 0 with b < 0, is away from the points) */
    {AG_OP_ATAN2, .call.binary = ag_atan2, .lo = -2, .hi = 2, .lo1 = 0.5, .hi1 = 2, PAIRS},
    {AG_OP_ATAN2, "atan2(+a, -b)", .call.binary = ag_atan2, .lo = 0.5, .hi = 2, .lo1 = -2, .hi1 = -0.5, PAIRS},
    {AG_OP_ADD_C, .call.unary = tu_add_c, .lo = -2, .hi = 2, .points = U, .x3 = 0.5, .call2.unary = add_c_sq},
    {AG_OP_RSUB_C, .call.unary = tu_rsub_c, .lo = -2, .hi = 2, .points = U, .x3 = 0.5,
     .call2.unary = rsub_c_sq},
    {AG_OP_MUL_C, .call.unary = tu_mul_c, .lo = -2, .hi = 2, .points = U, .x3 = 0.5, .call2.unary = mul_c_sq},
    {AG_OP_RDIV_C, .call.unary = tu_rdiv_c, .lo = 0.5, .hi = 2, .points = U, .x3 = 1.3},
    {AG_OP_POW_C, .call.unary = tu_pow_c, .lo = -2, .hi = 2, .points = U, .x3 = 0.9},
    {AG_OP_POW_C, "pow_c(0.5)", .call.unary = pow_half, .lo = 0.3, .hi = 2, .points = U},
    {AG_OP_RPOW_C, .call.unary = tu_rpow_c, .lo = -2, .hi = 2, .points = U, .x3 = 0.6},
    {AG_OP_WHERE, .call.fn = where_ab, .nin = 2, .lo = -1, .hi = 1, .points = TU_POINTS(where_points),
     .call2.fn = where_curved},
};
#undef PAIRS
#undef U

const tu_op_table tu_rows_elementwise = {"elementwise", rows, (int)(sizeof rows / sizeof rows[0])};
