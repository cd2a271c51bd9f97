/* Elementwise unary ops: each forward formula beside its local derivative
 * (kernels from elementwise.h). The constant c is the op's parameter
 * (leaky_relu's slope); clamp keeps its bounds in ext->dattr. */
#include "elementwise.h"

static inline double sigmoid(double x) { /* stable on both tails */
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static inline double normal_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

/* Constant factors of piecewise derivatives, for the recorded backward. */
static double sign_of(double x, double c) { (void)c; return (double)((x > 0) - (x < 0)); }
static double positive(double x, double c) { (void)c; return x > 0 ? 1.0 : 0.0; }
static double leaky_slope(double x, double c) { return x > 0 ? 1.0 : c; }
static ag_tensor *clamp_mask(ag_tape *t, ag_tensor *n);
ag_tensor *ag__gelu_grad(ag_tape *t, ag_tensor *x);

/* The standard normal density as graph ops: e^(-x^2/2) / sqrt(2 pi). */
static ag_tensor *normal_pdf_node(ag_tape *t, ag_tensor *x) {
    return ag_mul_c(t, ag_exp(t, ag_mul_c(t, ag_square(t, x), -0.5)), 1.0 / sqrt(2.0 * M_PI));
}

/*              op          name        y = F(x)                 dy/dx
 *              then the formula for traces, and dy/dx times the upstream G as graph ops */
AG_DEFINE_UNARY(NEG,        neg,        -x,                      -1.0,            "d(-x)/dx = -1",
                ag_neg(t, G))
AG_DEFINE_UNARY(EXP,        exp,        exp(x),                  y,               "d exp(x)/dx = exp(x)",
                ag_mul(t, G, Y))
AG_DEFINE_UNARY(LOG,        log,        log(x),                  1.0 / x,         "d log(x)/dx = 1/x",
                ag_div(t, G, X))
/* sqrt'(0) = 1/(2·0) = +inf, as PyTorch. */
AG_DEFINE_UNARY(SQRT,       sqrt,       sqrt(x),                 0.5 / y,         "d sqrt(x)/dx = 1/(2 sqrt(x))",
                ag_div(t, ag_mul_c(t, G, 0.5), Y))
/* abs'(0) = 0 (the sign function). */
AG_DEFINE_UNARY(ABS,        abs,        fabs(x),                 (double)((x > 0) - (x < 0)), "d|x|/dx = sign(x)",
                ag_mul(t, G, ag__const_map(t, X, sign_of, 0)))
AG_DEFINE_UNARY(SIN,        sin,        sin(x),                  cos(x),          "d sin(x)/dx = cos(x)",
                ag_mul(t, G, ag_cos(t, X)))
AG_DEFINE_UNARY(COS,        cos,        cos(x),                  -sin(x),         "d cos(x)/dx = -sin(x)",
                ag_neg(t, ag_mul(t, G, ag_sin(t, X))))
AG_DEFINE_UNARY(TAN,        tan,        tan(x),                  1.0 + y * y,     "d tan(x)/dx = 1 + tan(x)^2",
                ag_mul(t, G, ag_add_c(t, ag_square(t, Y), 1.0)))
AG_DEFINE_UNARY(TANH,       tanh,       tanh(x),                 1.0 - y * y,     "d tanh(x)/dx = 1 - tanh(x)^2",
                ag_mul(t, G, ag_rsub_c(t, 1.0, ag_square(t, Y))))
AG_DEFINE_UNARY(SIGMOID,    sigmoid,    sigmoid(x),              y * (1.0 - y),   "d sigmoid(x)/dx = sigmoid(x)(1 - sigmoid(x))",
                ag_mul(t, G, ag_mul(t, Y, ag_rsub_c(t, 1.0, Y))))
/* relu'(0) = 0, as PyTorch. */
AG_DEFINE_UNARY(RELU,       relu,       x > 0 ? x : 0.0,         x > 0 ? 1.0 : 0.0, "d relu(x)/dx = [x > 0]",
                ag_mul(t, G, ag__const_map(t, X, positive, 0)))
/* leaky_relu'(0) = slope. */
AG_DEFINE_UNARY(LEAKY_RELU, leaky_relu, x > 0 ? x : c * x,       x > 0 ? 1.0 : c, "d lrelu(x)/dx = [x > 0] + c [x <= 0]",
                ag_mul(t, G, ag__const_map(t, X, leaky_slope, C)))
AG_DEFINE_UNARY(GELU,       gelu,       x * normal_cdf(x),       normal_cdf(x) + x * normal_pdf(x),
                "d gelu(x)/dx = Phi(x) + x phi(x)",
                ag_mul(t, G, ag__gelu_grad(t, X)))
/* gelu's derivative as an op of its own, so gelu differentiates to any
 * order: d/dx [Phi(x) + x phi(x)] = phi(x) (2 - x^2). */
AG_DEFINE_UNARY(GELU_GRAD,  gelu_grad,  normal_cdf(x) + x * normal_pdf(x), normal_pdf(x) * (2.0 - x * x),
                "d gelu'(x)/dx = phi(x)(2 - x^2)",
                ag_mul(t, G, ag_mul(t, ag_rsub_c(t, 2.0, ag_square(t, X)), normal_pdf_node(t, X))))
AG_DEFINE_UNARY(SOFTPLUS,   softplus,   softplus(x),             sigmoid(x),      "d softplus(x)/dx = sigmoid(x)",
                ag_mul(t, G, ag_sigmoid(t, X)))
AG_DEFINE_UNARY(SQUARE,     square,     x * x,                   2.0 * x,         "d x^2/dx = 2x",
                ag_mul(t, G, ag_mul_c(t, X, 2.0)))
/* clamp: the gradient passes on [lo, hi], bounds included, as PyTorch. */
AG_DEFINE_UNARY(CLAMP,      clamp,      x < n->ext->dattr[0] ? n->ext->dattr[0] : (x > n->ext->dattr[1] ? n->ext->dattr[1] : x),
                (x >= n->ext->dattr[0] && x <= n->ext->dattr[1]) ? 1.0 : 0.0,
                "d clamp(x)/dx = [lo <= x <= hi]",
                ag_mul(t, G, clamp_mask(t, n)))

static ag_tensor *clamp_mask(ag_tape *t, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_tensor *m = ag_tensor_new(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x), NULL);
    if (!m) return NULL;
    const double lo = n->ext->dattr[0], hi = n->ext->dattr[1];
    for (int64_t i = 0, k = ag__numel(x); i < k; i++) {
        double v = ag__ld(ag__val(x), x->dtype, i);
        ag__st(ag__val(m), m->dtype, i, v >= lo && v <= hi ? 1.0 : 0.0);
    }
    return m;
}

ag_tensor *ag__gelu_grad(ag_tape *t, ag_tensor *x) { return rec_gelu_grad(t, x, 0); }

ag_tensor *ag_neg(ag_tape *t, ag_tensor *x) { return rec_neg(t, x, 0); }
ag_tensor *ag_exp(ag_tape *t, ag_tensor *x) { return rec_exp(t, x, 0); }
ag_tensor *ag_log(ag_tape *t, ag_tensor *x) { return rec_log(t, x, 0); }
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *x) { return rec_sqrt(t, x, 0); }
ag_tensor *ag_abs(ag_tape *t, ag_tensor *x) { return rec_abs(t, x, 0); }
ag_tensor *ag_sin(ag_tape *t, ag_tensor *x) { return rec_sin(t, x, 0); }
ag_tensor *ag_cos(ag_tape *t, ag_tensor *x) { return rec_cos(t, x, 0); }
ag_tensor *ag_tan(ag_tape *t, ag_tensor *x) { return rec_tan(t, x, 0); }
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *x) { return rec_tanh(t, x, 0); }
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *x) { return rec_sigmoid(t, x, 0); }
ag_tensor *ag_relu(ag_tape *t, ag_tensor *x) { return rec_relu(t, x, 0); }
ag_tensor *ag_leaky_relu(ag_tape *t, ag_tensor *x, double slope) { return rec_leaky_relu(t, x, slope); }
ag_tensor *ag_gelu(ag_tape *t, ag_tensor *x) { return rec_gelu(t, x, 0); }
ag_tensor *ag_softplus(ag_tape *t, ag_tensor *x) { return rec_softplus(t, x, 0); }
ag_tensor *ag_square(ag_tape *t, ag_tensor *x) { return rec_square(t, x, 0); }

ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, double lo, double hi) {
    if (!ag__check_inputs(t, "clamp", 1, &x)) return NULL;
    if (!(lo <= hi)) return ag__fail(t, AG_ERR_ARG, "clamp", "lo %g > hi %g", lo, hi);
    ag_tensor *n = ag__node(t, AG_OP_CLAMP, (ag_dtype)x->dtype, x->ndim, ag__shape(x), x, NULL);
    ag_ext *ext = n ? ag__ext(t, n) : NULL;
    if (!ext) return NULL;
    ext->dattr[0] = lo;
    ext->dattr[1] = hi;
    fwd_clamp(n);
    return n;
}
