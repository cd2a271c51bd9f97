/* The packed GEMM, written once and compiled once per vector level (the
 * including file defines GEMM_VEC_BYTES, GEMM_MR and GEMM_LEVEL and is
 * built with that level's instruction flags; see meson.build), after BLIS
 * and ggml:
 *
 *   for each NC-wide block of columns of C, for each KC-deep block of k:
 *     pack op(B) (kc, nc) into NR-wide column panels, p-major inside each;
 *     for each MC-high block of rows: pack op(A) (mc, kc) into MR-high row
 *       panels, p-major (or read them in place, below); for each (MR, NR)
 *       tile: the micro-kernel.
 *
 * Packing reads op(A) and op(B) through a row and a column stride, so the
 * transposes and lda/ldb cost nothing afterwards: one micro-kernel serves
 * every orientation. Panels are zero-padded past M and N, so the kernel
 * always computes a full tile and only the write to C clips it. Full row
 * panels of op(A) are read in place when that is as cheap as packing them
 * (Aᵀ, or few column panels to meet); K is cut into equal blocks.
 *
 * The micro-kernel keeps an (MR, NR) tile of C in 2·MR vector registers
 * (GCC/Clang vector extensions of GEMM_VEC_BYTES; with -ffp-contract=fast
 * and FMA the compiler fuses c += a·b), broadcasting one element of op(A)
 * against the two vectors of the B panel per row and step of k: AVX-512's
 * 32 registers hold a 12-row tile (24 accumulators), AVX2's and SSE2's 16
 * a 6-row one (12). Tuned on mlp_step's and matmul's shapes against
 * oneDNN and OpenBLAS (bench/gemm.c, README's design section). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define GEMM_FN(suf) GEMM_CAT(GEMM_CAT(ag__gemm_packed_, GEMM_LEVEL), suf)

#define GEMM_NV 2   /* vectors per row of the tile: NR = 2·lanes */
#define GEMM_KC 384 /* deepest k block */
#define GEMM_MC 144 /* rows of an A block, a multiple of every level's MR: mlp_step's 128 in one */
#define GEMM_NC 3072
/* op(A) is read in place when at most this many column panels meet it */
#define GEMM_DIRECT_PANELS 2
#ifndef GEMM_SWAP_ROWS
#define GEMM_SWAP_ROWS 48
#endif
_Static_assert(GEMM_MC % GEMM_MR == 0, "an A block is whole row panels");

#define GEMM_DEFINE(T, SUF)                                                  \
    typedef T GEMM_CAT(vec_, SUF) __attribute__((vector_size(GEMM_VEC_BYTES))); \
    enum { GEMM_CAT(NR_, SUF) = GEMM_NV * (GEMM_VEC_BYTES / (int)sizeof(T)) }; \
                                                                             \
    /* op(X)(i, p) = X[i·rs + p·cs] packed into panels of `w` rows (zero   \
     * past `m`): panel r holds rows r·w.. as dst[r·w·k + p·w + i]. */      \
    static inline __attribute__((always_inline)) void GEMM_CAT(pack_, SUF)( \
        const T *x, int64_t rs, int64_t cs, int64_t m, int64_t k, const int w, T *restrict dst) { \
        for (int64_t r = 0; r < m; r += w) {                                 \
            const int64_t h = m - r < w ? m - r : w;                         \
            T *d = dst + r * k;                                              \
            if (cs == 1 && h == w) { /* rows contiguous in k */              \
                for (int64_t p = 0; p < k; p++)                              \
                    _Pragma("GCC unroll 32") for (int i = 0; i < w; i++) d[p * w + i] = x[(r + i) * rs + p]; \
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
    static inline __attribute__((always_inline)) void GEMM_CAT(micro_, SUF)( \
        int64_t kc, const T *restrict ap, int64_t rsa, int64_t csa, const T *restrict bp, \
        T alpha, T beta, T *c, int64_t ldc, int64_t csc, int64_t mr, int64_t nr) { \
        typedef GEMM_CAT(vec_, SUF) V;                                       \
        enum { L = GEMM_VEC_BYTES / (int)sizeof(T), NR = GEMM_NV * L };      \
        /* Two named arrays, not acc[MR][NV]: GCC kept a 2-D array in memory \
         * and interchanged the loops around it. */                        \
        V acc0[GEMM_MR], acc1[GEMM_MR];                                      \
        _Pragma("GCC unroll 16") for (int i = 0; i < GEMM_MR; i++) acc0[i] = acc1[i] = (V){0}; \
        for (int64_t p = 0; p < kc; p++) {                                   \
            V b0, b1;                                                        \
            memcpy(&b0, bp + p * NR, sizeof b0);                            \
            memcpy(&b1, bp + p * NR + L, sizeof b1);                        \
            /* rows from two bases, so row offsets need half the     \
             * registers (i·rsa for i < MR/2) */                          \
            const T *a = ap + p * csa, *ah = a + (GEMM_MR / 2) * rsa;        \
            _Pragma("GCC unroll 16") for (int i = 0; i < GEMM_MR; i++) {     \
                const T ai = i < GEMM_MR / 2 ? a[i * rsa] : ah[(i - GEMM_MR / 2) * rsa]; \
                acc0[i] += ai * b0;                                          \
                acc1[i] += ai * b1;                                          \
            }                                                                \
        }                                                                    \
        /* An edge tile goes through a scratch tile (alpha only), then  \
         * its part inside C; one store loop either way keeps the        \
         * accumulators in registers up to their store. */               \
        const bool edge = mr != GEMM_MR || nr != NR || csc != 1;             \
        _Alignas(64) T t[GEMM_MR * NR];                                      \
        T *dst = edge ? t : c;                                               \
        const int64_t ld = edge ? NR : ldc;                                  \
        const T bd = edge ? 0 : beta;                                        \
        _Pragma("GCC unroll 16") for (int i = 0; i < GEMM_MR; i++) {         \
            V r0 = alpha * acc0[i], r1 = alpha * acc1[i];                    \
            T *ci = dst + i * ld;                                            \
            if (bd != 0) {                                                   \
                V o0, o1;                                                    \
                memcpy(&o0, ci, sizeof o0);                                  \
                memcpy(&o1, ci + L, sizeof o1);                              \
                r0 += bd * o0, r1 += bd * o1;                                \
            }                                                                \
            memcpy(ci, &r0, sizeof r0);                                      \
            memcpy(ci + L, &r1, sizeof r1);                                  \
        }                                                                    \
        if (edge)                                                            \
            for (int64_t i = 0; i < mr; i++)                                 \
                for (int64_t j = 0; j < nr; j++)                             \
                    c[i * ldc + j * csc] = beta == 0 ? t[i * NR + j]                 \
                                                     : t[i * NR + j] + beta * c[i * ldc + j * csc]; \
    }                                                                        \
                                                                             \
    /* The blocked driver; false (C untouched) when a buffer cannot be    \
     * allocated. M, N, K > 0. */                                            \
    static bool GEMM_CAT(blocked_, SUF)(bool transA, bool transB, int64_t M, int64_t N, int64_t K, \
                                        T alpha, const T *A, int64_t lda, const T *B, int64_t ldb, \
                                        T beta, T *C, int64_t ldc, int64_t csc) { \
        enum { NR = GEMM_CAT(NR_, SUF), MR = GEMM_MR };                      \
        const int64_t rsa = transA ? 1 : lda, csa = transA ? lda : 1;        \
        const int64_t rsb = transB ? 1 : ldb, csb = transB ? ldb : 1;        \
        /* K in equal blocks of at most KC (784 = 3 x 262, not 3 x 256 + 16: \
         * a thin last block costs a pass over C for little work) */       \
        const int64_t kstep = (K + (K + GEMM_KC - 1) / GEMM_KC - 1) / ((K + GEMM_KC - 1) / GEMM_KC); \
        const int64_t kcap = kstep;                                          \
        const int64_t mcap = M < GEMM_MC ? (M + MR - 1) / MR * MR : GEMM_MC; \
        const int64_t ncap = N < GEMM_NC ? (N + NR - 1) / NR * NR : GEMM_NC; \
        const size_t asz = ((size_t)(mcap * kcap) * sizeof(T) + 63) / 64 * 64; \
        const size_t bsz = ((size_t)(ncap * kcap) * sizeof(T) + 63) / 64 * 64; \
        T *ap = aligned_alloc(64, asz), *bp = aligned_alloc(64, bsz);        \
        if (!ap || !bp) {                                                    \
            free(ap), free(bp);                                              \
            return false;                                                    \
        }                                                                    \
        /* One block of rows: each B panel is packed just before its one  \
         * use, so it is still in L1 (a packed (kc, nc) block can outgrow   \
         * L2: 2.4 MB for a convolution's 200 x 3072). */                  \
        const bool panel_b = M <= GEMM_MC;                                   \
        for (int64_t jc = 0; jc < N; jc += GEMM_NC) {                        \
            const int64_t nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;          \
            /* op(A) read in place, not packed, when its panels are as  \
             * compact as packed ones (Aᵀ: MR elements side by side per k) \
             * or when few B panels meet each: packing would cost more    \
             * than it saves (a convolution's N of 32 channels). */       \
            const bool direct_a = transA || nc <= GEMM_DIRECT_PANELS * NR;   \
            for (int64_t pc = 0; pc < K; pc += kstep) {                      \
                const int64_t kc = K - pc < kstep ? K - pc : kstep;          \
                const T bt = pc == 0 ? beta : 1; /* later k blocks accumulate */ \
                /* op(B)ᵀ block (nc, kc): row j = column jc + j of op(B) */  \
                if (!panel_b)                                                \
                    GEMM_CAT(pack_, SUF)(B + pc * rsb + jc * csb, csb, rsb, nc, kc, NR, bp); \
                for (int64_t ic = 0; ic < M; ic += GEMM_MC) {                \
                    const int64_t mc = M - ic < GEMM_MC ? M - ic : GEMM_MC;  \
                    const T *ab = A + ic * rsa + pc * csa; /* op(A) block (mc, kc) */ \
                    /* the row panels read in place; a partial last one is \
                     * always packed (zero rows) */                          \
                    const int64_t mfull = direct_a ? mc / MR * MR : 0;       \
                    if (mfull < mc)                                          \
                        GEMM_CAT(pack_, SUF)(ab + mfull * rsa, rsa, csa, mc - mfull, kc, MR, ap); \
                    for (int64_t jr = 0; jr < nc; jr += NR) {                \
                        const int64_t nr = nc - jr < NR ? nc - jr : NR;      \
                        if (panel_b)                                         \
                            GEMM_CAT(pack_, SUF)(B + pc * rsb + (jc + jr) * csb, csb, rsb, nr, kc, \
                                                 NR, bp);                    \
                        const T *bpan = panel_b ? bp : bp + jr * kc;         \
                        T *cb = C + ic * ldc + (jc + jr) * csc;              \
                        for (int64_t ir = 0; ir < mfull; ir += MR)           \
                            GEMM_CAT(micro_, SUF)(kc, ab + ir * rsa, rsa, csa, bpan, alpha, bt, \
                                                  cb + ir * ldc, ldc, csc, MR, nr); \
                        for (int64_t ir = mfull; ir < mc; ir += MR) {        \
                            const int64_t mr = mc - ir < MR ? mc - ir : MR;  \
                            GEMM_CAT(micro_, SUF)(kc, ap + (ir - mfull) * kc, 1, MR, bpan, \
                                                  alpha, bt, cb + ir * ldc, ldc, csc, mr, nr); \
                        }                                                    \
                    }                                                        \
                }                                                            \
            }                                                                \
        }                                                                    \
        free(ap), free(bp);                                                  \
        return true;                                                         \
    }                                                                        \
                                                                             \
    /* C = alpha·op(A)·op(B) + beta·C; false (C untouched) when a buffer  \
     * cannot be allocated. M, N, K > 0. A few rows by many columns with  \
     * Bᵀ (a convolution's weight gradient, dY·colsᵀ) runs as             \
     * Cᵀ = op(B)ᵀ·op(A)ᵀ: op(B)ᵀ's rows are then contiguous in k and read \
     * in place, where packing all of op(B) for a few row panels would    \
     * cost as much as the product; its tiles are written to C            \
     * transposed. (Without Bᵀ, op(B)ᵀ read in place would step a page    \
     * per k: slower than packing, measured.) */                          \
    bool GEMM_FN(SUF)(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, \
                      const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C, \
                      int64_t ldc) {                                         \
        if (transB && M <= GEMM_SWAP_ROWS && N >= 4 * M)                     \
            return GEMM_CAT(blocked_, SUF)(!transB, !transA, N, M, K, alpha, B, ldb, A, lda, beta, \
                                           C, 1, ldc);                       \
        return GEMM_CAT(blocked_, SUF)(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, \
                                       ldc, 1);                              \
    }

GEMM_DEFINE(float, _f32)
GEMM_DEFINE(double, _f64)
