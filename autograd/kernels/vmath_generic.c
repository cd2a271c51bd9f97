/* The f32 vector math in portable C, one lane at a time: the path of
 * builds for CPUs other than x86-64, and a reference the tests run on every
 * machine. It uses fmaf only where the compiler says it is a single
 * instruction (FP_FAST_FMAF); otherwise the kernels' exact-product forms. */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float VF;
typedef int32_t VI;
typedef int VM;
#define VW 1
#ifdef FP_FAST_FMAF
#define VM_FMA 1
#else
#define VM_FMA 0
#endif

static inline VF v_set(float a) { return a; }
static inline VF v_load(const float *p) { return *p; }
static inline void v_store(float *p, VF a) { *p = a; }
static inline VF v_add(VF a, VF b) { return a + b; }
static inline VF v_sub(VF a, VF b) { return a - b; }
static inline VF v_mul(VF a, VF b) { return a * b; }
static inline VF v_div(VF a, VF b) { return a / b; }
#if VM_FMA
static inline VF v_fma(VF a, VF b, VF c) { return fmaf(a, b, c); }
static inline VF v_fnma(VF a, VF b, VF c) { return fmaf(-a, b, c); }
static inline VF v_fms(VF a, VF b, VF c) { return fmaf(a, b, -c); }
#else
static inline VF v_fma(VF a, VF b, VF c) { VF p = a * b; return p + c; }
static inline VF v_fnma(VF a, VF b, VF c) { VF p = a * b; return c - p; }
#endif
/* min and max return a NaN first operand as it is. */
static inline VF v_min(VF a, VF b) { return b < a ? b : a; }
static inline VF v_max(VF a, VF b) { return b > a ? b : a; }
static inline VI v_as_i(VF a) { VI i; memcpy(&i, &a, sizeof i); return i; }
static inline VF v_as_f(VI i) { VF a; memcpy(&a, &i, sizeof a); return a; }
static inline VF v_and(VF a, VF b) { return v_as_f(v_as_i(a) & v_as_i(b)); }
static inline VF v_andnot(VF a, VF b) { return v_as_f(~v_as_i(a) & v_as_i(b)); }
static inline VF v_or(VF a, VF b) { return v_as_f(v_as_i(a) | v_as_i(b)); }
static inline VF v_xor(VF a, VF b) { return v_as_f(v_as_i(a) ^ v_as_i(b)); }
static inline VF v_abs(VF a) { return fabsf(a); }
static inline VF v_round(VF a) { return rintf(a); } /* the default mode: to nearest, ties even */
/* Integral floats only; NaN and out-of-range values give INT32_MIN, as the
 * x86 conversion does. */
static inline VI v_cvt_i(VF a) { return fabsf(a) < 0x1p31f ? (VI)a : INT32_MIN; }
static inline VF v_i2f(VI a) { return (VF)a; }
static inline VI vi_set(int32_t a) { return a; }
static inline VI vi_add(VI a, VI b) { return (VI)((uint32_t)a + (uint32_t)b); }
static inline VI vi_sub(VI a, VI b) { return (VI)((uint32_t)a - (uint32_t)b); }
static inline VI vi_and(VI a, VI b) { return a & b; }
static inline VI vi_shl(VI a, int n) { return (VI)((uint32_t)a << n); }
static inline VI vi_sra(VI a, int n) { return a < 0 ? ~(VI)(~(uint32_t)a >> n) : (VI)((uint32_t)a >> n); }
static inline VM v_lt(VF a, VF b) { return a < b; }
static inline VM v_le(VF a, VF b) { return a <= b; }
static inline VM v_gt(VF a, VF b) { return a > b; }
static inline VM v_ge(VF a, VF b) { return a >= b; }
static inline VM v_eq(VF a, VF b) { return a == b; }
static inline VM v_isnan(VF a) { return a != a; }
static inline VM vi_eq(VI a, VI b) { return a == b; }
static inline VM m_or(VM a, VM b) { return a || b; }
static inline VM m_not(VM a) { return !a; }
static inline int m_any(VM a) { return a; }
static inline VF v_sel(VM m, VF a, VF b) { return m ? a : b; }
static inline VF v_lookup16(const float *tab, VI i) { return tab[i]; }
#if !VM_FMA
/* x - q·c1 - q·c2 in double, as the float pair hi + lo. */
static inline void v_sub2_prod_f64(VF x, VF q, double c1, double c2, VF *hi, VF *lo) {
    double r = ((double)x - (double)q * c1) - (double)q * c2;
    *hi = (float)r;
    *lo = (float)(r - (double)*hi);
}
#endif

#define VM_TABLE ag__vmath_generic
#include "vmath_impl.h"
