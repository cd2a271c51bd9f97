/* The f32 vector math at the SSE2 baseline of x86-64: 4 lanes, no fused
 * multiply-add (the kernels then use the exact-product forms). */
#include <emmintrin.h>
#include <stdint.h>

typedef __m128 VF;
typedef __m128i VI;
typedef __m128 VM; /* all-ones or all-zeros lanes */
#define VW 4
#define VM_FMA 0

static inline VF v_set(float a) { return _mm_set1_ps(a); }
static inline VF v_load(const float *p) { return _mm_loadu_ps(p); }
static inline void v_store(float *p, VF a) { _mm_storeu_ps(p, a); }
static inline VF v_add(VF a, VF b) { return _mm_add_ps(a, b); }
static inline VF v_sub(VF a, VF b) { return _mm_sub_ps(a, b); }
static inline VF v_mul(VF a, VF b) { return _mm_mul_ps(a, b); }
static inline VF v_div(VF a, VF b) { return _mm_div_ps(a, b); }
static inline VF v_fma(VF a, VF b, VF c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline VF v_fnma(VF a, VF b, VF c) { return _mm_sub_ps(c, _mm_mul_ps(a, b)); }
/* min and max return a NaN first operand as it is. */
static inline VF v_min(VF a, VF b) { return _mm_min_ps(b, a); }
static inline VF v_max(VF a, VF b) { return _mm_max_ps(b, a); }
static inline VF v_and(VF a, VF b) { return _mm_and_ps(a, b); }
static inline VF v_andnot(VF a, VF b) { return _mm_andnot_ps(a, b); } /* ~a & b */
static inline VF v_or(VF a, VF b) { return _mm_or_ps(a, b); }
static inline VF v_xor(VF a, VF b) { return _mm_xor_ps(a, b); }
static inline VF v_abs(VF a) { return _mm_andnot_ps(_mm_set1_ps(-0.0f), a); }
/* Round to the nearest integer (ties to even) for |a| < 2^22; larger
 * values are integers already and stay as they are. */
static inline VF v_round(VF a) {
    const VF magic = _mm_set1_ps(0x1.8p23f);
    VF r = _mm_sub_ps(_mm_add_ps(a, magic), magic);
    VF small = _mm_cmplt_ps(v_abs(a), _mm_set1_ps(0x1p22f));
    return _mm_or_ps(_mm_and_ps(small, r), _mm_andnot_ps(small, a));
}
static inline VI v_cvt_i(VF a) { return _mm_cvtps_epi32(a); }
static inline VF v_i2f(VI a) { return _mm_cvtepi32_ps(a); }
static inline VI v_as_i(VF a) { return _mm_castps_si128(a); }
static inline VF v_as_f(VI a) { return _mm_castsi128_ps(a); }
static inline VI vi_set(int32_t a) { return _mm_set1_epi32(a); }
static inline VI vi_add(VI a, VI b) { return _mm_add_epi32(a, b); }
static inline VI vi_sub(VI a, VI b) { return _mm_sub_epi32(a, b); }
static inline VI vi_and(VI a, VI b) { return _mm_and_si128(a, b); }
#define vi_shl(a, n) _mm_slli_epi32((a), (n))
#define vi_sra(a, n) _mm_srai_epi32((a), (n))
static inline VM v_lt(VF a, VF b) { return _mm_cmplt_ps(a, b); }
static inline VM v_le(VF a, VF b) { return _mm_cmple_ps(a, b); }
static inline VM v_gt(VF a, VF b) { return _mm_cmpgt_ps(a, b); }
static inline VM v_ge(VF a, VF b) { return _mm_cmpge_ps(a, b); }
static inline VM v_eq(VF a, VF b) { return _mm_cmpeq_ps(a, b); }
static inline VM v_isnan(VF a) { return _mm_cmpunord_ps(a, a); }
static inline VM vi_eq(VI a, VI b) { return _mm_castsi128_ps(_mm_cmpeq_epi32(a, b)); }
static inline VM m_or(VM a, VM b) { return _mm_or_ps(a, b); }
static inline VM m_not(VM a) { return _mm_xor_ps(a, _mm_castsi128_ps(_mm_set1_epi32(-1))); }
static inline int m_any(VM a) { return _mm_movemask_ps(a) != 0; }
static inline VF v_sel(VM m, VF a, VF b) { return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b)); }
/* tab[i] in each lane (i in 0..15): SSE2 has no variable permute, so the
 * lanes are looked up one by one. */
static inline VF v_lookup16(const float *tab, VI i) {
    _Alignas(16) int32_t k[4];
    _mm_store_si128((__m128i *)k, i);
    return _mm_setr_ps(tab[k[0]], tab[k[1]], tab[k[2]], tab[k[3]]);
}
/* x - q·c1 - q·c2 in double, as the float pair hi + lo (the reduction
 * of sin and cos without fused products). */
static inline void v_sub2_prod_f64(VF x, VF q, double c1, double c2, VF *hi, VF *lo) {
    const __m128d a = _mm_set1_pd(c1), b = _mm_set1_pd(c2);
    __m128d r[2];
    VF xs[2] = {x, _mm_movehl_ps(x, x)}, qs[2] = {q, _mm_movehl_ps(q, q)};
    for (int k = 0; k < 2; k++) {
        __m128d xd = _mm_cvtps_pd(xs[k]), qd = _mm_cvtps_pd(qs[k]);
        r[k] = _mm_sub_pd(_mm_sub_pd(xd, _mm_mul_pd(qd, a)), _mm_mul_pd(qd, b));
    }
    VF h = _mm_movelh_ps(_mm_cvtpd_ps(r[0]), _mm_cvtpd_ps(r[1]));
    VF hh = _mm_movehl_ps(h, h);
    __m128d l0 = _mm_sub_pd(r[0], _mm_cvtps_pd(h)), l1 = _mm_sub_pd(r[1], _mm_cvtps_pd(hh));
    *hi = h;
    *lo = _mm_movelh_ps(_mm_cvtpd_ps(l0), _mm_cvtpd_ps(l1));
}

#define VM_TABLE ag__vmath_sse2
#include "vmath_impl.h"
