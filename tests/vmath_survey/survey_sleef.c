/* SLEEF's kernels wrapped as array functions, compiled once per vector
 * width (SV_WIDTH 16 with -mavx512f, 8 with -mavx2 -mfma); survey_levels.c
 * picks one by the CPU. */
#include <immintrin.h>
#include <sleef.h>
#include <string.h>

#include "survey.h"

#if SV_WIDTH == 16
typedef __m512 V;
#define LOAD _mm512_loadu_ps
#define STORE _mm512_storeu_ps
#define SET1 _mm512_set1_ps
#define MUL _mm512_mul_ps
#define ADD _mm512_add_ps
#define DIV _mm512_div_ps
#define S(f, u) Sleef_##f##f16_##u##avx512f
#define ENTRY sv_fun_avx512
#else
typedef __m256 V;
#define LOAD _mm256_loadu_ps
#define STORE _mm256_storeu_ps
#define SET1 _mm256_set1_ps
#define MUL _mm256_mul_ps
#define ADD _mm256_add_ps
#define DIV _mm256_div_ps
#define S(f, u) Sleef_##f##f8_##u##avx2
#define ENTRY sv_fun_avx2
#endif

static inline V sig(V x) { return DIV(SET1(1), ADD(SET1(1), S(exp, u10)(MUL(x, SET1(-1))))); }
static inline V ncdf(V x) { return MUL(SET1(0.5f), S(erfc, u15)(MUL(x, SET1(-0.70710678f)))); }
static inline V gelu(V x) { return MUL(x, ncdf(x)); }

#define WRAP(name, call)                                                     \
    static void name(const float *x, float *y, int64_t n) {                 \
        int64_t i = 0;                                                       \
        for (; i + SV_WIDTH <= n; i += SV_WIDTH) STORE(y + i, call(LOAD(x + i))); \
        if (i < n) {                                                         \
            float b[SV_WIDTH] = {0};                                         \
            memcpy(b, x + i, (size_t)(n - i) * sizeof *b);                   \
            STORE(b, call(LOAD(b)));                                         \
            memcpy(y + i, b, (size_t)(n - i) * sizeof *b);                   \
        }                                                                    \
    }
WRAP(w_exp, S(exp, u10))
WRAP(w_log, S(log, u10))
WRAP(w_log35, S(log, u35))
WRAP(w_tanh, S(tanh, u10))
WRAP(w_tanh35, S(tanh, u35))
WRAP(w_sig, sig)
WRAP(w_sin, S(sin, u10))
WRAP(w_sin35, S(sin, u35))
WRAP(w_cos, S(cos, u10))
WRAP(w_cos35, S(cos, u35))
WRAP(w_ncdf, ncdf)
WRAP(w_gelu, gelu)
WRAP(w_erf, S(erf, u10))

ag_vfun *ENTRY(int which, int ulp) {
    static ag_vfun *const u10[SV_N] = {w_exp, w_log, w_tanh, w_sig, w_sin, w_cos, w_ncdf, w_gelu, w_erf};
    static ag_vfun *const u35[SV_N] = {NULL, w_log35, w_tanh35, NULL, w_sin35, w_cos35, NULL, NULL, NULL};
    return which < 0 || which >= SV_N ? NULL : ulp == 10 ? u10[which] : u35[which];
}
