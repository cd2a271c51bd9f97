/* The f32 vector math for AVX-512 (F, DQ): 16 lanes, mask registers, and
 * vscalefps for y·2^n with overflow and denormals in one instruction.
 * Built with -mavx512f -mavx512dq (meson.build); only called when the CPU
 * has AVX-512 (kernels/cpu.h). */
#include <immintrin.h>
#include <stdint.h>

typedef __m512 VF;
typedef __m512i VI;
typedef __mmask16 VM;
#define VW 16
#define VM_FMA 1

static inline VF v_set(float a) { return _mm512_set1_ps(a); }
static inline VF v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_store(float *p, VF a) { _mm512_storeu_ps(p, a); }
static inline VF v_add(VF a, VF b) { return _mm512_add_ps(a, b); }
static inline VF v_sub(VF a, VF b) { return _mm512_sub_ps(a, b); }
static inline VF v_mul(VF a, VF b) { return _mm512_mul_ps(a, b); }
static inline VF v_div(VF a, VF b) { return _mm512_div_ps(a, b); }
static inline VF v_fma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
static inline VF v_fnma(VF a, VF b, VF c) { return _mm512_fnmadd_ps(a, b, c); }
static inline VF v_fms(VF a, VF b, VF c) { return _mm512_fmsub_ps(a, b, c); }
/* min and max return a NaN first operand as it is. */
static inline VF v_min(VF a, VF b) { return _mm512_min_ps(b, a); }
static inline VF v_max(VF a, VF b) { return _mm512_max_ps(b, a); }
static inline VF v_and(VF a, VF b) { return _mm512_and_ps(a, b); }
static inline VF v_andnot(VF a, VF b) { return _mm512_andnot_ps(a, b); } /* ~a & b */
static inline VF v_or(VF a, VF b) { return _mm512_or_ps(a, b); }
static inline VF v_xor(VF a, VF b) { return _mm512_xor_ps(a, b); }
static inline VF v_abs(VF a) { return _mm512_abs_ps(a); }
static inline VF v_round(VF a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline VI v_cvt_i(VF a) { return _mm512_cvtps_epi32(a); }
static inline VF v_i2f(VI a) { return _mm512_cvtepi32_ps(a); }
static inline VI v_as_i(VF a) { return _mm512_castps_si512(a); }
static inline VF v_as_f(VI a) { return _mm512_castsi512_ps(a); }
static inline VI vi_set(int32_t a) { return _mm512_set1_epi32(a); }
static inline VI vi_add(VI a, VI b) { return _mm512_add_epi32(a, b); }
static inline VI vi_sub(VI a, VI b) { return _mm512_sub_epi32(a, b); }
static inline VI vi_and(VI a, VI b) { return _mm512_and_si512(a, b); }
#define vi_shl(a, n) _mm512_slli_epi32((a), (n))
#define vi_sra(a, n) _mm512_srai_epi32((a), (n))
static inline VM v_lt(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline VM v_le(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline VM v_gt(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline VM v_ge(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline VM v_eq(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline VM v_isnan(VF a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline VM vi_eq(VI a, VI b) { return _mm512_cmpeq_epi32_mask(a, b); }
static inline VM m_or(VM a, VM b) { return (VM)(a | b); }
static inline VM m_not(VM a) { return (VM)~a; }
static inline int m_any(VM a) { return a != 0; }
static inline VF v_sel(VM m, VF a, VF b) { return _mm512_mask_blend_ps(m, b, a); }
/* tab[i] in each lane, for a table of 16 floats: one permute. */
static inline VF v_lookup16(const float *tab, VI i) { return _mm512_permutexvar_ps(i, _mm512_load_ps(tab)); }
/* y·2^n, rounding into the denormals and overflowing to inf as one multiply would. */
#define v_scalef(y, n) _mm512_scalef_ps((y), (n))

#define VM_TABLE ag__vmath_avx512
#include "vmath_impl.h"
