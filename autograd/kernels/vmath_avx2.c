/* The f32 vector math for AVX2 with FMA3: 8 lanes. Built with -mavx2 -mfma
 * (meson.build); only called when the CPU has both (kernels/cpu.h). */
#include <immintrin.h>
#include <stdint.h>

typedef __m256 VF;
typedef __m256i VI;
typedef __m256 VM; /* all-ones or all-zeros lanes */
#define VW 8
#define VM_FMA 1

static inline VF v_set(float a) { return _mm256_set1_ps(a); }
static inline VF v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void v_store(float *p, VF a) { _mm256_storeu_ps(p, a); }
static inline VF v_add(VF a, VF b) { return _mm256_add_ps(a, b); }
static inline VF v_sub(VF a, VF b) { return _mm256_sub_ps(a, b); }
static inline VF v_mul(VF a, VF b) { return _mm256_mul_ps(a, b); }
static inline VF v_div(VF a, VF b) { return _mm256_div_ps(a, b); }
static inline VF v_fma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
static inline VF v_fnma(VF a, VF b, VF c) { return _mm256_fnmadd_ps(a, b, c); }
static inline VF v_fms(VF a, VF b, VF c) { return _mm256_fmsub_ps(a, b, c); }
/* min and max return a NaN first operand as it is. */
static inline VF v_min(VF a, VF b) { return _mm256_min_ps(b, a); }
static inline VF v_max(VF a, VF b) { return _mm256_max_ps(b, a); }
static inline VF v_and(VF a, VF b) { return _mm256_and_ps(a, b); }
static inline VF v_andnot(VF a, VF b) { return _mm256_andnot_ps(a, b); } /* ~a & b */
static inline VF v_or(VF a, VF b) { return _mm256_or_ps(a, b); }
static inline VF v_xor(VF a, VF b) { return _mm256_xor_ps(a, b); }
static inline VF v_abs(VF a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline VF v_round(VF a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline VI v_cvt_i(VF a) { return _mm256_cvtps_epi32(a); }
static inline VF v_i2f(VI a) { return _mm256_cvtepi32_ps(a); }
static inline VI v_as_i(VF a) { return _mm256_castps_si256(a); }
static inline VF v_as_f(VI a) { return _mm256_castsi256_ps(a); }
static inline VI vi_set(int32_t a) { return _mm256_set1_epi32(a); }
static inline VI vi_add(VI a, VI b) { return _mm256_add_epi32(a, b); }
static inline VI vi_sub(VI a, VI b) { return _mm256_sub_epi32(a, b); }
static inline VI vi_and(VI a, VI b) { return _mm256_and_si256(a, b); }
#define vi_shl(a, n) _mm256_slli_epi32((a), (n))
#define vi_sra(a, n) _mm256_srai_epi32((a), (n))
static inline VM v_lt(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline VM v_le(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline VM v_gt(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline VM v_ge(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline VM v_eq(VF a, VF b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline VM v_isnan(VF a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
static inline VM vi_eq(VI a, VI b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
static inline VM m_or(VM a, VM b) { return _mm256_or_ps(a, b); }
static inline VM m_not(VM a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
static inline int m_any(VM a) { return _mm256_movemask_ps(a) != 0; }
static inline VF v_sel(VM m, VF a, VF b) { return _mm256_blendv_ps(b, a, m); }
/* tab[i] in each lane, for a table of 16 floats (i in 0..15): a permute
 * of each half and a blend. */
static inline VF v_lookup16(const float *tab, VI i) {
    VF lo = _mm256_permutevar8x32_ps(_mm256_load_ps(tab), i);
    VF hi = _mm256_permutevar8x32_ps(_mm256_load_ps(tab + 8), i);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(7))));
}

#define VM_TABLE ag__vmath_avx2
#include "vmath_impl.h"
