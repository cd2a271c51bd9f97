/* The packed GEMM, written once and compiled once per vector level (the
 * including file defines GEMM_VEC_BYTES and GEMM_LEVEL and is built with
 * that level's instruction flags; see meson.build), after BLIS and ggml:
 *
 *   for each NC-wide block of columns of C, for each KC-deep block of k:
 *     pack op(B) (kc, nc) into NR-wide column panels, p-major inside each;
 *     for each MC-high block of rows: pack op(A) (mc, kc) into MR-high row
 *       panels, p-major; for each (MR, NR) tile: the micro-kernel.
 *
 * Packing reads op(A) and op(B) through a row and a column stride, so the
 * transposes and lda/ldb cost nothing afterwards: one micro-kernel serves
 * every orientation. Panels are zero-padded past M and N, so the kernel
 * always computes a full tile and only the write to C clips it.
 *
 * The micro-kernel keeps an (MR, NR) tile of C in MR·NV vector registers
 * (GCC/Clang vector extensions of GEMM_VEC_BYTES; with -mfma the compiler
 * fuses c += a·b into an FMA), broadcasting one element of the A panel
 * against NV vectors of the B panel per row and step of k. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define GEMM_FN(suf) GEMM_CAT(GEMM_CAT(ag__gemm_packed_, GEMM_LEVEL), suf)

#define GEMM_MR 6  /* rows of the register tile */
#define GEMM_NV 2  /* vectors per row of the tile: NR = NV·lanes */
#define GEMM_KC 256
#define GEMM_MC 120 /* multiple of MR: an (MC, KC) f32 A block is 120 KiB, in L2 */
#define GEMM_NC 3072

#define GEMM_DEFINE(T, SUF)                                                  \
    typedef T GEMM_CAT(vec_, SUF) __attribute__((vector_size(GEMM_VEC_BYTES))); \
    enum { GEMM_CAT(NR_, SUF) = GEMM_NV * (GEMM_VEC_BYTES / (int)sizeof(T)) }; \
                                                                             \
    /* op(X)(i, p) = X[i·rs + p·cs] packed into panels of `w` rows (zero   \
     * past `m`): panel r holds rows r·w.. as dst[r·w·k + p·w + i]. */      \
    static void GEMM_CAT(pack_, SUF)(const T *x, int64_t rs, int64_t cs, int64_t m, int64_t k, \
                                     int w, T *restrict dst) {               \
        for (int64_t r = 0; r < m; r += w) {                                 \
            const int64_t h = m - r < w ? m - r : w;                         \
            T *d = dst + r * k;                                              \
            if (cs == 1 && h == w) { /* rows contiguous in k */              \
                for (int64_t p = 0; p < k; p++)                              \
                    for (int i = 0; i < w; i++) d[p * w + i] = x[(r + i) * rs + p]; \
            } else if (rs == 1 && h == w) { /* panel rows contiguous */      \
                for (int64_t p = 0; p < k; p++) memcpy(d + p * w, x + r + p * cs, (size_t)w * sizeof(T)); \
            } else {                                                         \
                for (int64_t p = 0; p < k; p++)                              \
                    for (int i = 0; i < w; i++)                              \
                        d[p * w + i] = i < h ? x[(r + i) * rs + p * cs] : 0; \
            }                                                                \
        }                                                                    \
    }                                                                        \
                                                                             \
    /* C(mr, nr) = alpha·ap·bp + beta·C over kc; beta = 0 never reads C. */ \
    static void GEMM_CAT(micro_, SUF)(int64_t kc, const T *restrict ap, const T *restrict bp, \
                                      T alpha, T beta, T *c, int64_t ldc, int64_t mr, int64_t nr) { \
        typedef GEMM_CAT(vec_, SUF) V;                                       \
        enum { L = GEMM_VEC_BYTES / (int)sizeof(T), NR = GEMM_NV * L };      \
        V acc[GEMM_MR][GEMM_NV];                                             \
        _Pragma("GCC unroll 8") for (int i = 0; i < GEMM_MR; i++)            \
            _Pragma("GCC unroll 8") for (int v = 0; v < GEMM_NV; v++) acc[i][v] = (V){0}; \
        for (int64_t p = 0; p < kc; p++) {                                   \
            V b[GEMM_NV];                                                    \
            _Pragma("GCC unroll 8") for (int v = 0; v < GEMM_NV; v++)        \
                memcpy(&b[v], bp + p * NR + v * L, sizeof(V));               \
            _Pragma("GCC unroll 8") for (int i = 0; i < GEMM_MR; i++) {      \
                const T a = ap[p * GEMM_MR + i];                             \
                _Pragma("GCC unroll 8") for (int v = 0; v < GEMM_NV; v++) acc[i][v] += a * b[v]; \
            }                                                                \
        }                                                                    \
        if (mr == GEMM_MR && nr == NR) { /* full tile: vector update */      \
            _Pragma("GCC unroll 8") for (int i = 0; i < GEMM_MR; i++)        \
                _Pragma("GCC unroll 8") for (int v = 0; v < GEMM_NV; v++) {  \
                    V r = alpha * acc[i][v], o;                              \
                    if (beta != 0) {                                         \
                        memcpy(&o, c + i * ldc + v * L, sizeof(V));          \
                        r += beta * o;                                       \
                    }                                                        \
                    memcpy(c + i * ldc + v * L, &r, sizeof(V));              \
                }                                                            \
            return;                                                          \
        }                                                                    \
        T t[GEMM_MR][NR];                                                    \
        memcpy(t, acc, sizeof t);                                            \
        for (int64_t i = 0; i < mr; i++)                                     \
            for (int64_t j = 0; j < nr; j++)                                 \
                c[i * ldc + j] = beta == 0 ? alpha * t[i][j] : alpha * t[i][j] + beta * c[i * ldc + j]; \
    }                                                                        \
                                                                             \
    /* The blocked driver; false (C untouched) when a buffer cannot be    \
     * allocated. M, N, K > 0. */                                            \
    bool GEMM_FN(SUF)(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, \
                      const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C, \
                      int64_t ldc) {                                         \
        enum { NR = GEMM_CAT(NR_, SUF), MR = GEMM_MR };                      \
        const int64_t rsa = transA ? 1 : lda, csa = transA ? lda : 1;        \
        const int64_t rsb = transB ? 1 : ldb, csb = transB ? ldb : 1;        \
        const int64_t kcap = K < GEMM_KC ? K : GEMM_KC;                      \
        const int64_t mcap = M < GEMM_MC ? (M + MR - 1) / MR * MR : GEMM_MC; \
        const int64_t ncap = N < GEMM_NC ? (N + NR - 1) / NR * NR : GEMM_NC; \
        const size_t asz = ((size_t)(mcap * kcap) * sizeof(T) + 63) / 64 * 64; \
        const size_t bsz = ((size_t)(ncap * kcap) * sizeof(T) + 63) / 64 * 64; \
        T *ap = aligned_alloc(64, asz), *bp = aligned_alloc(64, bsz);        \
        if (!ap || !bp) {                                                    \
            free(ap), free(bp);                                              \
            return false;                                                    \
        }                                                                    \
        for (int64_t jc = 0; jc < N; jc += GEMM_NC) {                        \
            const int64_t nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;          \
            for (int64_t pc = 0; pc < K; pc += GEMM_KC) {                    \
                const int64_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;      \
                const T bt = pc == 0 ? beta : 1; /* later k blocks accumulate */ \
                /* op(B)ᵀ block (nc, kc): row j = column jc + j of op(B) */  \
                GEMM_CAT(pack_, SUF)(B + pc * rsb + jc * csb, csb, rsb, nc, kc, NR, bp); \
                for (int64_t ic = 0; ic < M; ic += GEMM_MC) {                \
                    const int64_t mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;  \
                    GEMM_CAT(pack_, SUF)(A + ic * rsa + pc * csa, rsa, csa, mc, kc, MR, ap); \
                    for (int64_t jr = 0; jr < nc; jr += NR) {                \
                        const int64_t nr = nc - jr < NR ? nc - jr : NR;      \
                        for (int64_t ir = 0; ir < mc; ir += MR) {            \
                            const int64_t mr = mc - ir < MR ? mc - ir : MR;  \
                            GEMM_CAT(micro_, SUF)(kc, ap + ir * kc, bp + jr * kc, alpha, bt, \
                                                  C + (ic + ir) * ldc + jc + jr, ldc, mr, nr); \
                        }                                                    \
                    }                                                        \
                }                                                            \
            }                                                                \
        }                                                                    \
        free(ap), free(bp);                                                  \
        return true;                                                         \
    }

GEMM_DEFINE(float, _f32)
GEMM_DEFINE(double, _f64)
