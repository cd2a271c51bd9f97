/* tapegrad — the smooth scalar functions the ops' rules use (sigmoid,
 * softplus, the standard normal's CDF and density), defined once: the
 * engine's kernels and the inline statements of <tapegrad/scalar.h> both
 * use these. Installed as <tapegrad/scalar_math.h>. */
#ifndef TAPEGRAD_SCALAR_MATH_H
#define TAPEGRAD_SCALAR_MATH_H

#include <math.h>

/* 1 / (1 + e^-x), stable on both tails. */
static inline double ag_math_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + e^x), stable on both tails. */
static inline double ag_math_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* The standard normal CDF Phi(x) and density phi(x). */
static inline double ag_math_normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static inline double ag_math_normal_pdf(double x) {
    return exp(-0.5 * x * x) / 2.5066282746310002; /* sqrt(2 pi) */
}

#endif /* TAPEGRAD_SCALAR_MATH_H */
