/* Elementwise unary ops: each forward formula beside its local derivative
 * (kernels from kernels.h). The constant c is the op's parameter
 * (leaky_relu's slope); clamp keeps its bounds in ext->dattr. */
#include "kernels.h"
#include "unary.h"

/* Constant factors of piecewise derivatives, for the recorded backward. */
static double sign_of(double x, double c) { (void)c; return (double)((x > 0) - (x < 0)); }
static double positive(double x, double c) { (void)c; return x > 0 ? 1.0 : 0.0; }
static double leaky_slope(double x, double c) { return x > 0 ? 1.0 : c; }
static ag_tensor *clamp_mask(ag_tape *t, ag_tensor *n);

/* The standard normal density as graph ops: e^(-x^2/2) / sqrt(2 pi). */
static ag_tensor *normal_pdf_node(ag_tape *t, ag_tensor *x) {
    return ag_mul_c(t, ag_exp(t, ag_mul_c(t, ag_square(t, x), -0.5)), 1.0 / sqrt(2.0 * M_PI));
}

#define AG_UNARY_OP AG_DEFINE_UNARY
#include "unary_rules.h"
#undef AG_UNARY_OP

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

ag_tensor *ag__unary_gelu_grad(ag_tape *t, ag_tensor *x) { return rec_gelu_grad(t, x, 0); }

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
ag_tensor *ag_erf(ag_tape *t, ag_tensor *x) { return rec_erf(t, x, 0); }

ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, double lo, double hi) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "clamp", 1, &x)) return NULL;
    if (!(lo <= hi)) return ag__error_fail(t, AG_ERR_ARG, "clamp", "lo %g > hi %g", lo, hi);
    ag_tensor *n = ag__record_node(t, AG_OP_CLAMP, (ag_dtype)x->dtype, x->ndim, ag__shape(x), x, NULL);
    ag_ext *ext = n ? ag__record_ext(t, n) : NULL;
    if (!ext) return NULL;
    ext->dattr[0] = lo;
    ext->dattr[1] = hi;
    fwd_clamp(n);
    return ag__record_done(t, n);
}
