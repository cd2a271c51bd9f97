/* Vectorised f32 math (internal): y[i] = f(x[i]) over n floats, in f32, at
 * the vector width of the CPU (kernels/cpu.h picks AVX-512, AVX2+FMA or the
 * SSE2 baseline at run time; TAPEGRAD_ISA lowers it). Plain arrays: knows
 * nothing of nodes or tapes. y may be x (in place); otherwise the arrays
 * must not overlap. n <= 0 does nothing.
 *
 * Accuracy, against the exact value of f at the float x, measured over
 * every float (tools: ./dev accuracy): at most 2 ulp for every kernel and
 * every path, special values (±0, ±inf, NaN, denormals, overflow and
 * underflow) as C's libm gives them in double and rounded to float. The
 * README's design section lists each kernel's measured maximum. The one
 * exception is stated with gelu_grad. The backward kernels add g·f' to gx
 * with f' within 2 ulp of f' in double (from the same x and y). */
#ifndef TAPEGRAD_KERNELS_VMATH_H
#define TAPEGRAD_KERNELS_VMATH_H

#include <stdint.h>

#include "cpu.h"

typedef void ag_vfun(const float *x, float *y, int64_t n);

/* A backward kernel: gx[i] += g[i]·f'(x[i]), the derivative from x and the
 * forward's output y = f(x) (each kernel reads what it needs). gx must not
 * overlap x, y or g. */
typedef void ag_vgrad(const float *x, const float *y, const float *g, float *gx, int64_t n);

/* y[i] = e^(x[i·stride] - (hi + lo)) for i < n: the exp of softmax and
 * logsumexp, x minus a shift (a max, a log-sum) given as a float pair; the
 * difference is carried exactly into the exp's reduced argument, so the
 * result is within 2 ulp of e^(x - shift) in double. y may be x when
 * stride is 1. */
typedef void ag_vexp_shift(const float *x, int64_t stride, float *y, int64_t n, float hi, float lo);

/* One implementation of every kernel, for one vector level. */
typedef struct ag_vmath {
    ag_vfun *exp;       /* e^x */
    ag_vfun *log;       /* ln x (NaN below 0, -inf at ±0) */
    ag_vfun *tanh;
    ag_vfun *sigmoid;   /* 1 / (1 + e^-x) */
    ag_vfun *softplus;  /* ln(1 + e^x) */
    ag_vfun *sin;
    ag_vfun *cos;
    ag_vfun *normcdf;   /* Phi(x), the standard normal CDF, 0.5 erfc(-x/sqrt 2) */
    ag_vfun *gelu;      /* x Phi(x), the exact GELU */
    /* gelu'(x) = Phi(x) + x phi(x). Left of gelu's minimum (x ~ -0.75) the
     * two terms cancel, so there the error is bounded by 2 ulp of the
     * larger term Phi(x), not of the result. */
    ag_vfun *gelu_grad;
    ag_vfun *erf;
    ag_vexp_shift *exp_shift;
    /* The backward kernels, f' being: y; 1/x; (1 - y)(1 + y); y (1 - y);
     * sigmoid(x); cos x; -sin x; gelu'(x); gelu''(x) = phi(x) (2 - x^2);
     * 2/sqrt(pi) e^(-x^2). */
    ag_vgrad *exp_bwd, *log_bwd, *tanh_bwd, *sigmoid_bwd, *softplus_bwd, *sin_bwd, *cos_bwd,
        *gelu_bwd, *gelu_grad_bwd, *erf_bwd;
} ag_vmath;

/* The kernels for the vector level in use now (ag__cpu_isa()). */
const ag_vmath *ag__vmath(void);

/* The kernels for one level (NULL when this build or CPU lacks it), and the
 * portable C implementation (width 1, no intrinsics), which non-x86 builds
 * use and tests check everywhere. For tests and benchmarks. */
const ag_vmath *ag__vmath_for(ag_isa isa);
extern const ag_vmath ag__vmath_generic;

/* relu in f32, branch-free (the compiler vectorises the loops at every
 * level): y = x > 0 ? x : 0 (NaN gives 0, as the f64 formula), and the
 * backward gx += g·[x > 0]. A comparison that picks between two values per
 * element is mispredicted on half of a real activation's elements. */
void ag__vmath_relu(const float *x, float *y, int64_t n);
void ag__vmath_relu_bwd(const float *x, const float *y, const float *g, float *gx, int64_t n);

/* sum over i < n of e^(x[i·stride] - shift), in double, through
 * exp_shift in chunks. */
double ag__vmath_sum_exp(const float *x, int64_t stride, int64_t n, double shift);

/* shift as the float pair hi + lo (lo = 0 when shift is not finite). */
void ag__vmath_split(double shift, float *hi, float *lo);

#endif /* TAPEGRAD_KERNELS_VMATH_H */
