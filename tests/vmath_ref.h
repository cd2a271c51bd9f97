/* The double-precision references the f32 vector math is measured
 * against (test_vmath, test_f32_ops, vmath_survey): libm, and the formulas
 * the f64 ops compute, with the ulp of a float. Header-only. */
#ifndef TAPEGRAD_TESTS_VMATH_REF_H
#define TAPEGRAD_TESTS_VMATH_REF_H

#include <math.h>

static inline double ref_normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static inline double ref_normal_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }
static inline double ref_exp(double x) { return exp(x); }
static inline double ref_log(double x) { return log(x); }
static inline double ref_tanh(double x) { return tanh(x); }
static inline double ref_sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static inline double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double ref_sin(double x) { return sin(x); }
static inline double ref_cos(double x) { return cos(x); }
static inline double ref_gelu(double x) { return x * ref_normal_cdf(x); }
static inline double ref_gelu_grad(double x) { return ref_normal_cdf(x) + x * ref_normal_pdf(x); }
static inline double ref_erf(double x) { return erf(x); }
/* gelu' cancels left of gelu's minimum: its bound is 2 ulp of its larger
 * term (see kernels/vmath.h). */
static inline double ref_scale_gelu_grad(double x) {
    return fmax(ref_normal_cdf(x), fabs(x * ref_normal_pdf(x)));
}

/* The ulp of a float at r: 2^(exponent - 23), 2^-149 in the denormals. */
static inline double ref_ulp(double r) {
    double a = fabs(r);
    if (a < 0x1p-126) return 0x1p-149;
    int e;
    frexp(a, &e);
    return ldexp(1.0, e - 24);
}

#endif
