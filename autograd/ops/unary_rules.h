/* The elementwise unary ops' rules, each written once: y = F(x) with its
 * local derivative, the trace formula, the derivative as graph ops and the
 * op's f32 vector kernels (AG_VEC(k): kernels/vmath.h's k and k_bwd, or
 * AG_NO_VEC; see ops/kernels.h). The includer defines
 * AG_UNARY_OP(NAME, name, F, D, FORMULA, V, VEC): ops/unary.c
 * as AG_DEFINE_UNARY (every kernel), backward.c as the sweep's inline
 * scalar kernels and their switch cases. The helpers the formulas use are
 * defined once, guarded; the rule lines are not. */
#ifndef TAPEGRAD_OPS_UNARY_HELPERS
#define TAPEGRAD_OPS_UNARY_HELPERS
#include <tapegrad/scalar_math.h> /* defined there once, for <tapegrad/scalar.h> too */
static inline double sigmoid(double x) { return ag_math_sigmoid(x); }
static inline double softplus(double x) { return ag_math_softplus(x); }
static inline double normal_cdf(double x) { return ag_math_normal_cdf(x); }
static inline double normal_pdf(double x) { return ag_math_normal_pdf(x); }
#endif

/*              op          name        y = F(x)                 dy/dx
 *              then the formula for traces, dy/dx times the upstream G as graph ops,
 *              and the f32 vector kernels */
AG_UNARY_OP(    NEG,        neg,        -x,                      -1.0,            "d(-x)/dx = -1",
                ag_neg(t, G), AG_NO_VEC)
AG_UNARY_OP(    EXP,        exp,        exp(x),                  y,               "d exp(x)/dx = exp(x)",
                ag_mul(t, G, Y), AG_VEC(exp))
AG_UNARY_OP(    LOG,        log,        log(x),                  1.0 / x,         "d log(x)/dx = 1/x",
                ag_div(t, G, X), AG_VEC(log))
/* sqrt'(0) = 1/(2·0) = +inf, as PyTorch. */
AG_UNARY_OP(    SQRT,       sqrt,       sqrt(x),                 0.5 / y,         "d sqrt(x)/dx = 1/(2 sqrt(x))",
                ag_div(t, ag_mul_c(t, G, 0.5), Y), AG_NO_VEC)
/* abs'(0) = 0 (the sign function). */
AG_UNARY_OP(    ABS,        abs,        fabs(x),                 (double)((x > 0) - (x < 0)), "d|x|/dx = sign(x)",
                ag_mul(t, G, ag__vjp_const_map(t, X, sign_of, 0)), AG_NO_VEC)
AG_UNARY_OP(    SIN,        sin,        sin(x),                  cos(x),          "d sin(x)/dx = cos(x)",
                ag_mul(t, G, ag_cos(t, X)), AG_VEC(sin))
AG_UNARY_OP(    COS,        cos,        cos(x),                  -sin(x),         "d cos(x)/dx = -sin(x)",
                ag_neg(t, ag_mul(t, G, ag_sin(t, X))), AG_VEC(cos))
AG_UNARY_OP(    TAN,        tan,        tan(x),                  1.0 + y * y,     "d tan(x)/dx = 1 + tan(x)^2",
                ag_mul(t, G, ag_add_c(t, ag_square(t, Y), 1.0)), AG_NO_VEC)
AG_UNARY_OP(    TANH,       tanh,       tanh(x),                 1.0 - y * y,     "d tanh(x)/dx = 1 - tanh(x)^2",
                ag_mul(t, G, ag_rsub_c(t, 1.0, ag_square(t, Y))), AG_VEC(tanh))
AG_UNARY_OP(    SIGMOID,    sigmoid,    sigmoid(x),              y * (1.0 - y),   "d sigmoid(x)/dx = sigmoid(x)(1 - sigmoid(x))",
                ag_mul(t, G, ag_mul(t, Y, ag_rsub_c(t, 1.0, Y))), AG_VEC(sigmoid))
/* relu'(0) = 0, as PyTorch. f32 runs kernels/vmath.h's branch-free loops:
 * the formula's comparison compiled to a branch, mispredicted on half the
 * elements of a real activation (10 % of a CNN step). */
AG_UNARY_OP(    RELU,       relu,       x > 0 ? x : 0.0,         x > 0 ? 1.0 : 0.0, "d relu(x)/dx = [x > 0]",
                ag_mul(t, G, ag__vjp_const_map(t, X, positive, 0)), AG_VEC_RELU)
/* leaky_relu'(0) = slope. */
AG_UNARY_OP(    LEAKY_RELU, leaky_relu, x > 0 ? x : c * x,       x > 0 ? 1.0 : c, "d lrelu(x)/dx = [x > 0] + c [x <= 0]",
                ag_mul(t, G, ag__vjp_const_map(t, X, leaky_slope, C)), AG_NO_VEC)
AG_UNARY_OP(    GELU,       gelu,       x * normal_cdf(x),       normal_cdf(x) + x * normal_pdf(x),
                "d gelu(x)/dx = Phi(x) + x phi(x)",
                ag_mul(t, G, ag__unary_gelu_grad(t, X)), AG_VEC(gelu))
/* gelu's derivative as an op of its own, so gelu differentiates to any
 * order: d/dx [Phi(x) + x phi(x)] = phi(x) (2 - x^2). */
AG_UNARY_OP(    GELU_GRAD,  gelu_grad,  normal_cdf(x) + x * normal_pdf(x), normal_pdf(x) * (2.0 - x * x),
                "d gelu'(x)/dx = phi(x)(2 - x^2)",
                ag_mul(t, G, ag_mul(t, ag_rsub_c(t, 2.0, ag_square(t, X)), normal_pdf_node(t, X))), AG_VEC(gelu_grad))
AG_UNARY_OP(    SOFTPLUS,   softplus,   softplus(x),             sigmoid(x),      "d softplus(x)/dx = sigmoid(x)",
                ag_mul(t, G, ag_sigmoid(t, X)), AG_VEC(softplus))
AG_UNARY_OP(    SQUARE,     square,     x * x,                   2.0 * x,         "d x^2/dx = 2x",
                ag_mul(t, G, ag_mul_c(t, X, 2.0)), AG_NO_VEC)
/* erf's derivative 2/sqrt(pi) e^(-x^2), as graph ops too, so erf
 * differentiates to any order. */
AG_UNARY_OP(    ERF,        erf,        erf(x),                  M_2_SQRTPI * exp(-x * x),
                "d erf(x)/dx = 2 exp(-x^2)/sqrt(pi)",
                ag_mul(t, G, ag_mul_c(t, ag_exp(t, ag_neg(t, ag_square(t, X))), M_2_SQRTPI)), AG_VEC(erf))
/* clamp: the gradient passes on [lo, hi], bounds included, as PyTorch. */
AG_UNARY_OP(    CLAMP,      clamp,      x < n->ext->dattr[0] ? n->ext->dattr[0] : (x > n->ext->dattr[1] ? n->ext->dattr[1] : x),
                (x >= n->ext->dattr[0] && x <= n->ext->dattr[1]) ? 1.0 : 0.0,
                "d clamp(x)/dx = [lo <= x <= hi]",
                ag_mul(t, G, clamp_mask(t, n)), AG_NO_VEC)
