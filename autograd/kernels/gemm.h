/* The GEMM layer (internal): C = alpha·op(A)·op(B) + beta·C on row-major
 * matrices, op(X) = X or Xᵀ. C is (M, N), op(A) is (M, K), op(B) is (K, N);
 * lda, ldb, ldc are the row strides of the matrices as stored, so A is
 * stored (M, K) with lda >= K, or (K, M) with lda >= M when transA.
 *
 * beta = 0 never reads C (it may hold garbage, e.g. a fresh gradient
 * buffer); K = 0 gives C = beta·C. ag__gemm_* run the built-in packed
 * kernel (gemm_impl.h) of the CPU's vector level, or cblas_?gemm when
 * OpenBLAS is selected (ag__gemm_backend). */
#ifndef TAPEGRAD_GEMM_H
#define TAPEGRAD_GEMM_H

#include <stdbool.h>
#include <stdint.h>

void ag__gemm_f64(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                  const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                  double *C, int64_t ldc);
void ag__gemm_f32(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);

/* The built-in kernel, whatever the build. */
void ag__gemm_builtin_f64(bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                          double alpha, const double *A, int64_t lda, const double *B,
                          int64_t ldb, double beta, double *C, int64_t ldc);
void ag__gemm_builtin_f32(bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                          float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float beta, float *C, int64_t ldc);

/* "builtin" or "openblas": what ag__gemm_* use now. The built-in GEMM
 * unless TAPEGRAD_GEMM=openblas (read at the first product) or
 * ag__gemm_set_backend chose OpenBLAS in a build that has it. */
const char *ag__gemm_backend(void);

/* Uses the GEMM named "builtin" or "openblas" from now on; false (and no
 * change) for another name or OpenBLAS in a build without it. For tests
 * and benchmarks; not while products run in other threads. */
bool ag__gemm_set_backend(const char *name);

#endif /* TAPEGRAD_GEMM_H */
