/* The unary family's rows (autograd/ops/unary.def): each op on 0-d to 3-D
 * inputs, with its reference value and a point for its third derivative.
 * A piecewise-linear op (second derivative 0) is squared, or multiplied by
 * x, for its second-order test, so its recorded backward still has to be
 * right inside a graph with curvature. */
#include "op_rows.h"

#include "unary.h" /* ag__unary_gelu_grad: gelu's derivative, an op of its own */

static const tu_point unary_points[] = {
    {.in = {{0, {0}}}}, {.in = {{1, {5}}}}, {.in = {{2, {2, 3}}}}, {.in = {{3, {2, 3, 4}}}}};

static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_relu(double x) { return x > 0 ? x : 0; }
static double ref_softplus(double x) { return log(1 + exp(x)); }
static double ref_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2))); }
static double ref_gelu_grad(double x) { return 0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x * x / 2) / sqrt(2 * M_PI); }
static double ref_square(double x) { return x * x; }
static double ref_neg(double x) { return -x; }

static ag_tensor *neg_x(ag_tape *t, ag_tensor *x) { return ag_mul(t, ag_neg(t, x), x); }
static ag_tensor *abs_x(ag_tape *t, ag_tensor *x) { return ag_mul(t, ag_abs(t, x), x); }
static ag_tensor *relu_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, ag_relu(t, x)); }
static ag_tensor *leaky_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_leaky(t, x)); }
static ag_tensor *clamp_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_clamp(t, x)); }

#define P TU_POINTS(unary_points)
static const tu_op_row rows[] = {
    {AG_OP_NEG, .call.unary = ag_neg, .lo = -2, .hi = 2, .points = P, .ref = ref_neg, .x3 = 0.2,
     .call2.unary = neg_x},
    {AG_OP_EXP, .call.unary = ag_exp, .lo = -2, .hi = 2, .points = P, .ref = exp, .x3 = 0.3},
    {AG_OP_LOG, .call.unary = ag_log, .lo = 0.2, .hi = 3, .points = P, .ref = log, .x3 = 1.3,
     .lo2 = 0.3, .hi2 = 3},
    {AG_OP_SQRT, .call.unary = ag_sqrt, .lo = 0.2, .hi = 3, .points = P, .ref = sqrt, .x3 = 1.2,
     .lo2 = 0.3, .hi2 = 3},
    {AG_OP_ABS, .call.unary = ag_abs, .lo = 0.1, .hi = 2, .points = P, .ref = fabs, .x3 = 0.8,
     .call2.unary = abs_x, .lo2 = -2, .hi2 = 2},
    {AG_OP_SIN, .call.unary = ag_sin, .lo = -3, .hi = 3, .points = P, .ref = sin, .x3 = 0.7},
    {AG_OP_COS, .call.unary = ag_cos, .lo = -3, .hi = 3, .points = P, .ref = cos, .x3 = 0.7},
    {AG_OP_TAN, .call.unary = ag_tan, .lo = -1.2, .hi = 1.2, .points = P, .ref = tan, .x3 = 0.4,
     .lo2 = -1, .hi2 = 1},
    {AG_OP_TANH, .call.unary = ag_tanh, .lo = -2, .hi = 2, .points = P, .ref = tanh, .x3 = 0.6},
    {AG_OP_SIGMOID, .call.unary = ag_sigmoid, .lo = -4, .hi = 4, .points = P, .ref = ref_sigmoid,
     .x3 = -0.8, .lo2 = -3, .hi2 = 3},
    {AG_OP_RELU, .call.unary = ag_relu, .lo = 0.1, .hi = 2, .points = P, .ref = ref_relu, .x3 = 0.8,
     .call2.unary = relu_sq},
    {AG_OP_LEAKY_RELU, .call.unary = tu_leaky, .lo = -2, .hi = -0.1, .points = P, .x3 = -0.8,
     .call2.unary = leaky_sq},
    {AG_OP_GELU, .call.unary = ag_gelu, .lo = -3, .hi = 3, .points = P, .ref = ref_gelu, .x3 = 0.5,
     .lo2 = -2, .hi2 = 2},
    {AG_OP_GELU_GRAD, .call.unary = ag__unary_gelu_grad, .lo = -3, .hi = 3, .points = P,
     .ref = ref_gelu_grad, .x3 = 0.5, .lo2 = -2, .hi2 = 2},
    {AG_OP_SOFTPLUS, .call.unary = ag_softplus, .lo = -4, .hi = 4, .points = P, .ref = ref_softplus,
     .x3 = 0.9, .lo2 = -3, .hi2 = 3},
    {AG_OP_SQUARE, .call.unary = ag_square, .lo = -2, .hi = 2, .points = P, .ref = ref_square, .x3 = 1.1},
    {AG_OP_ERF, .call.unary = ag_erf, .lo = -2, .hi = 2, .points = P, .ref = erf, .x3 = 0.4},
    {AG_OP_CLAMP, .call.unary = tu_clamp, .lo = -0.45, .hi = 0.45, .points = P, .x3 = 0.2,
     .call2.unary = clamp_sq},
};
#undef P

const tu_op_table tu_rows_unary = {"unary", rows, (int)(sizeof rows / sizeof rows[0])};
