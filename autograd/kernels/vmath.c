/* Which implementation of the f32 vector math runs: the one for the vector
 * level kernels/cpu.h reports, among those this build has. */
#include "vmath.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && defined(TAPEGRAD_VMATH_X86)
extern const ag_vmath ag__vmath_sse2, ag__vmath_avx2, ag__vmath_avx512;
#endif

const ag_vmath *ag__vmath_for(ag_isa isa) {
    if (isa > ag__cpu_isa_detected()) return NULL;
#if defined(__x86_64__) && defined(TAPEGRAD_VMATH_X86)
    switch (isa) {
    case AG_ISA_AVX512: return &ag__vmath_avx512;
    case AG_ISA_AVX2: return &ag__vmath_avx2;
    default: return &ag__vmath_sse2;
    }
#else
    return isa == AG_ISA_SSE2 ? &ag__vmath_generic : NULL;
#endif
}

const ag_vmath *ag__vmath(void) {
    const ag_vmath *vm = ag__vmath_for(ag__cpu_isa());
    return vm ? vm : &ag__vmath_generic;
}

void ag__vmath_split(double shift, float *hi, float *lo) {
    *hi = (float)shift;
    *lo = isfinite(shift) && isfinite(*hi) ? (float)(shift - *hi) : 0.0f;
}

double ag__vmath_sum_exp(const float *x, int64_t stride, int64_t n, double shift) {
    enum { CHUNK = 256 };
    float buf[CHUNK], hi, lo;
    ag__vmath_split(shift, &hi, &lo);
    ag_vexp_shift *f = ag__vmath()->exp_shift;
    double acc = 0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        const int64_t m = n - i < CHUNK ? n - i : CHUNK;
        f(x + i * stride, stride, buf, m, hi, lo);
        for (int64_t k = 0; k < m; k++) acc += buf[k];
    }
    return acc;
}

void ag__vmath_relu(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) { /* x's bits kept where x > 0 */
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bits &= (uint32_t)-(int32_t)(x[i] > 0);
        memcpy(y + i, &bits, sizeof bits);
    }
}

void ag__vmath_relu_bwd(const float *restrict x, const float *restrict y, const float *restrict g,
                        float *restrict gx, int64_t n) {
    (void)y;
    /* [x > 0] as the bits of 1.0f or 0.0f under a mask, so the compiler
     * neither branches nor skips the product (g·0 stays NaN for an
     * infinite g, as in f64). */
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)-(int32_t)(x[i] > 0) & 0x3f800000u;
        float step;
        memcpy(&step, &bits, sizeof step);
        gx[i] += g[i] * step;
    }
}
