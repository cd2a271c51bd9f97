/* The packed GEMM of each vector level (gemm_impl.h, gemm_<level>.c):
 * C = alpha·op(A)·op(B) + beta·C as in gemm.h, for M, N, K > 0. Each
 * returns false, leaving C untouched, when its packing buffers cannot be
 * allocated (the caller then uses the unpacked kernel). Internal. */
#ifndef TAPEGRAD_GEMM_LEVELS_H
#define TAPEGRAD_GEMM_LEVELS_H

#include <stdbool.h>
#include <stdint.h>

#define GEMM_LEVEL_DECL(LV)                                                   \
    bool ag__gemm_packed_##LV##_f32(bool transA, bool transB, int64_t M, int64_t N, int64_t K, \
                                    float alpha, const float *A, int64_t lda, const float *B, \
                                    int64_t ldb, float beta, float *C, int64_t ldc);         \
    bool ag__gemm_packed_##LV##_f64(bool transA, bool transB, int64_t M, int64_t N, int64_t K, \
                                    double alpha, const double *A, int64_t lda,               \
                                    const double *B, int64_t ldb, double beta, double *C,     \
                                    int64_t ldc);
GEMM_LEVEL_DECL(sse2)
GEMM_LEVEL_DECL(avx2)
GEMM_LEVEL_DECL(avx512)

#endif /* TAPEGRAD_GEMM_LEVELS_H */
