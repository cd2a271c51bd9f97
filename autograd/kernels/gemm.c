/* GEMM: C = alpha·op(A)·op(B) + beta·C, row-major: the entry points
 * ag__gemm_f32/f64, which run the built-in GEMM or OpenBLAS (below), and
 * the built-in GEMM's dispatch to the packed kernel of the CPU's vector
 * level (gemm_impl.h, compiled per level in gemm_<level>.c).
 *
 * Also here, the fallback when the packed kernel's buffers cannot be
 * allocated (and for empty sums): a small unpacked kernel. It blocks over
 * k (KC) and rows of C (MC); for each NR-wide column strip of op(B) it
 * packs a (kc, NR) sliver on the stack and sweeps the block's rows MR at a
 * time with a micro-kernel that keeps an (MR, NR) tile of C in registers;
 * op(A) is read in place through a row and a column stride. */
#include "gemm.h"

#include "cpu.h"
#include "parallel.h"
#include "gemm_levels.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef TAPEGRAD_HAVE_BLAS
#include <cblas.h>
#endif
#ifdef TAPEGRAD_HAVE_ONEDNN
#include <dnnl.h>
#endif

#define KC 256 /* depth of a block: a packed sliver is KC·NR elements (8 KiB) */
#define MC 64  /* rows of A per block: an (MC, KC) f64 block is 128 KiB, in L2 */

/* The register tile: (MR, NR) accumulators are eight 16-byte vectors, which
 * with a row of B fit the 16 vector registers of baseline x86-64 (SSE2). */
#define MR 4
#define NR_F64 4 /* two vectors of 2 doubles */
#define NR_F32 8 /* two vectors of 4 floats */

/* acc (MR, NR) = sum_p opA(i, p)·bp(p, j) over p < kc, for MR rows of op(A)
 * starting at a (row stride rsa, column stride csa); rows at or past mr
 * repeat the last valid one and the caller discards them. */
#if defined(__GNUC__)
_Static_assert(MR == 4, "the vector micro-kernel is written for 4 rows");
/* The micro-kernel with GCC/Clang vector extensions: two 16-byte vectors
 * per row of the tile, eight named accumulators, so the tile stays in
 * registers at -O2 as at -O3 (plain loops over a c[MR][NR] array did so only
 * when the compiler chose to unroll them fully). */
#define MICRO_KERNEL(T, SUF, NR)                                             \
    typedef T vec_##SUF __attribute__((vector_size(16)));                   \
    static void micro_##SUF(int64_t kc, const T *a, int64_t rsa, int64_t csa, int64_t mr, \
                            const T *restrict bp, T acc[MR][NR]) {           \
        const T *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * rsa;                   \
        const T *a2 = a + (mr > 2 ? 2 : mr - 1) * rsa, *a3 = a + (mr > 3 ? 3 : mr - 1) * rsa; \
        vec_##SUF c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0};                \
        vec_##SUF c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};                \
        for (int64_t p = 0; p < kc; p++) {                                   \
            vec_##SUF b0, b1; /* bp(p, 0..NR) */                             \
            memcpy(&b0, bp + p * NR, sizeof b0);                             \
            memcpy(&b1, bp + p * NR + NR / 2, sizeof b1);                    \
            const int64_t o = p * csa;                                       \
            c00 += a0[o] * b0, c01 += a0[o] * b1;                            \
            c10 += a1[o] * b0, c11 += a1[o] * b1;                            \
            c20 += a2[o] * b0, c21 += a2[o] * b1;                            \
            c30 += a3[o] * b0, c31 += a3[o] * b1;                            \
        }                                                                    \
        const size_t h = sizeof c00;                                         \
        memcpy(acc[0], &c00, h), memcpy(acc[0] + NR / 2, &c01, h);           \
        memcpy(acc[1], &c10, h), memcpy(acc[1] + NR / 2, &c11, h);           \
        memcpy(acc[2], &c20, h), memcpy(acc[2] + NR / 2, &c21, h);           \
        memcpy(acc[3], &c30, h), memcpy(acc[3] + NR / 2, &c31, h);           \
    }
#else
/* Portable micro-kernel: the same tile as plain loops. */
#define MICRO_KERNEL(T, SUF, NR)                                             \
    static void micro_##SUF(int64_t kc, const T *a, int64_t rsa, int64_t csa, int64_t mr, \
                            const T *restrict bp, T acc[MR][NR]) {           \
        const T *ar[MR];                                                     \
        for (int i = 0; i < MR; i++) ar[i] = a + (i < mr ? i : mr - 1) * rsa; \
        T c[MR][NR] = {{0}};                                                 \
        for (int64_t p = 0; p < kc; p++) {                                   \
            const T *restrict b = bp + p * NR; /* (NR) */                    \
            for (int i = 0; i < MR; i++) {                                   \
                const T ai = ar[i][p * csa];                                 \
                for (int j = 0; j < NR; j++) c[i][j] += ai * b[j];           \
            }                                                                \
        }                                                                    \
        memcpy(acc, c, sizeof c);                                            \
    }
#endif

/* The blocked driver around the micro-kernel. */
#define GEMM_BUILTIN(T, SUF, NR)                                             \
    MICRO_KERNEL(T, SUF, NR)                                                 \
                                                                             \
    static void gemm_simple_##SUF(bool transA, bool transB, int64_t M, int64_t N, int64_t K, \
                                  T alpha, const T *A, int64_t lda, const T *B, int64_t ldb, \
                                  T beta, T *C, int64_t ldc) {               \
        if (M <= 0 || N <= 0) return;                                        \
        if (K <= 0) { /* empty sum: C = beta·C, without reading C when 0 */  \
            for (int64_t i = 0; i < M; i++)                                  \
                for (int64_t j = 0; j < N; j++)                              \
                    C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];  \
            return;                                                          \
        }                                                                    \
        /* opA(i, p) = A[i·rsa + p·csa]; opB(p, j) = B[p·rsb + j·csb] */     \
        const int64_t rsa = transA ? 1 : lda, csa = transA ? lda : 1;        \
        const int64_t rsb = transB ? 1 : ldb, csb = transB ? ldb : 1;        \
        _Alignas(64) T bp[KC * NR]; /* (kc, NR) packed sliver of op(B) */    \
        T acc[MR][NR];                                                       \
        for (int64_t pc = 0; pc < K; pc += KC) {                             \
            const int64_t kc = K - pc < KC ? K - pc : KC;                    \
            const T bt = pc == 0 ? beta : 1; /* later k blocks accumulate */ \
            for (int64_t ic = 0; ic < M; ic += MC) {                         \
                const int64_t mc = M - ic < MC ? M - ic : MC;                \
                for (int64_t j0 = 0; j0 < N; j0 += NR) {                     \
                    const int64_t nr = N - j0 < NR ? N - j0 : NR;            \
                    const T *bs = B + pc * rsb + j0 * csb;                   \
                    for (int64_t p = 0; p < kc; p++)                         \
                        for (int64_t j = 0; j < NR; j++)                     \
                            bp[p * NR + j] = j < nr ? bs[p * rsb + j * csb] : 0; \
                    for (int64_t i0 = ic; i0 < ic + mc; i0 += MR) {          \
                        const int64_t mr = ic + mc - i0 < MR ? ic + mc - i0 : MR; \
                        micro_##SUF(kc, A + i0 * rsa + pc * csa, rsa, csa, mr, bp, acc); \
                        for (int64_t i = 0; i < mr; i++) {                   \
                            T *c = C + (i0 + i) * ldc + j0; /* (nr) */       \
                            if (bt == 0)                                     \
                                for (int64_t j = 0; j < nr; j++) c[j] = alpha * acc[i][j]; \
                            else                                             \
                                for (int64_t j = 0; j < nr; j++)             \
                                    c[j] = alpha * acc[i][j] + bt * c[j];    \
                        }                                                    \
                    }                                                        \
                }                                                            \
            }                                                                \
        }                                                                    \
    }

GEMM_BUILTIN(double, f64, NR_F64)
GEMM_BUILTIN(float, f32, NR_F32)

/* The built-in GEMM on one thread: the packed kernel of the vector level
 * the CPU (or TAPEGRAD_ISA / ag__cpu_set_isa) selects; the unpacked kernel
 * above for empty sums and when the packing buffers cannot be allocated. */
#define GEMM_ONE_THREAD(T, SUF)                                              \
    static void gemm_one_##SUF(bool transA, bool transB, int64_t M, int64_t N, int64_t K, \
                               T alpha, const T *A, int64_t lda, const T *B, int64_t ldb, \
                               T beta, T *C, int64_t ldc) {                  \
        if (K > 0) {                                                         \
            bool done;                                                       \
            switch (GEMM_LEVEL_OF(ag__cpu_isa())) {                          \
            GEMM_X86_CASES(T, SUF)                                           \
            default:                                                         \
                done = ag__gemm_packed_sse2_##SUF(transA, transB, M, N, K, alpha, A, lda, B, ldb, \
                                                  beta, C, ldc);             \
            }                                                                \
            if (done) return;                                                \
        }                                                                    \
        gemm_simple_##SUF(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); \
    }

#if defined(__x86_64__) && defined(TAPEGRAD_GEMM_X86)
#define GEMM_LEVEL_OF(isa) (isa)
#define GEMM_X86_CASES(T, SUF)                                               \
    case AG_ISA_AVX512:                                                      \
        done = ag__gemm_packed_avx512_##SUF(transA, transB, M, N, K, alpha, A, lda, B, ldb, \
                                            beta, C, ldc);                   \
        break;                                                               \
    case AG_ISA_AVX2:                                                        \
        done = ag__gemm_packed_avx2_##SUF(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, \
                                          C, ldc);                           \
        break;
#else /* one level: the portable vector kernel */
#define GEMM_LEVEL_OF(isa) ((void)(isa), AG_ISA_SSE2)
#define GEMM_X86_CASES(T, SUF)
#endif

/* Threads. A product of at least SPLIT_FLOPS is cut into independent
 * products on disjoint parts of C, one per pool thread (parallel.h): by
 * columns (units of SPLIT_COLS, a multiple of every level's NR) when
 * there are enough, else by rows (units of SPLIT_ROWS, a multiple of every
 * MR). Each part packs its own panels, so the parts never wait on each
 * other; each element of C is summed in the same order as on one thread
 * (the k blocks depend on K alone), so the result has the same bits at
 * every thread count. */
#define SPLIT_FLOPS 4e6 /* about 40 us at 100 GFLOP/s: waking a worker is a few us */
#define SPLIT_COLS 64
#define SPLIT_ROWS 12

#define GEMM_THREADED(T, SUF)                                                \
    GEMM_ONE_THREAD(T, SUF)                                                  \
                                                                             \
    /* A one-thread GEMM: the built-in one, or a library's on one thread. */ \
    typedef void gemm_fn_##SUF(bool, bool, int64_t, int64_t, int64_t, T, const T *, int64_t, \
                               const T *, int64_t, T, T *, int64_t);         \
                                                                             \
    typedef struct gemm_job_##SUF {                                          \
        gemm_fn_##SUF *one;                                                  \
        bool ta, tb, by_cols;                                                \
        int64_t M, N, K, lda, ldb, ldc;                                      \
        T alpha, beta;                                                       \
        const T *A, *B;                                                      \
        T *C;                                                                \
    } gemm_job_##SUF;                                                        \
                                                                             \
    /* Units [b, e) of the split dimension. */                               \
    static void gemm_part_##SUF(void *ctx, int64_t b, int64_t e) {           \
        const gemm_job_##SUF *j = ctx;                                       \
        if (j->by_cols) {                                                    \
            const int64_t n0 = b * SPLIT_COLS, n1 = e * SPLIT_COLS < j->N ? e * SPLIT_COLS : j->N; \
            j->one(j->ta, j->tb, j->M, n1 - n0, j->K, j->alpha, j->A, j->lda,   \
                   j->B + n0 * (j->tb ? j->ldb : 1), j->ldb, j->beta, j->C + n0, j->ldc); \
        } else {                                                             \
            const int64_t m0 = b * SPLIT_ROWS, m1 = e * SPLIT_ROWS < j->M ? e * SPLIT_ROWS : j->M; \
            j->one(j->ta, j->tb, m1 - m0, j->N, j->K, j->alpha, j->A + m0 * (j->ta ? 1 : j->lda), \
                   j->lda, j->B, j->ldb, j->beta, j->C + m0 * j->ldc, j->ldc);  \
        }                                                                    \
    }                                                                        \
                                                                             \
    /* one() over the pool's threads on disjoint parts of C. */              \
    static void gemm_split_##SUF(gemm_fn_##SUF *one, bool transA, bool transB, int64_t M, \
                                 int64_t N, int64_t K, T alpha, const T *A, int64_t lda, \
                                 const T *B, int64_t ldb, T beta, T *C, int64_t ldc) { \
        if (M <= 0 || N <= 0) return;                                        \
        const double flops = 2.0 * (double)M * (double)N * (double)K;        \
        const int threads = flops >= SPLIT_FLOPS ? ag__parallel_threads() : 1; \
        if (threads == 1) {                                                  \
            one(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); \
            return;                                                          \
        }                                                                    \
        const int64_t cols = (N + SPLIT_COLS - 1) / SPLIT_COLS, rows = (M + SPLIT_ROWS - 1) / SPLIT_ROWS; \
        gemm_job_##SUF j = {one, transA, transB, cols >= 2 * threads || cols >= rows, M, N, K, \
                            lda, ldb, ldc, alpha, beta, A, B, C};            \
        const int64_t units = j.by_cols ? cols : rows;                       \
        /* parts of at least SPLIT_FLOPS / 2 each */                         \
        const double per_unit = flops / (double)units;                       \
        const int64_t grain = (int64_t)(SPLIT_FLOPS / 2 / per_unit) + 1;     \
        ag__parallel_for(units, grain, gemm_part_##SUF, &j);                 \
    }                                                                        \
                                                                             \
    void ag__gemm_builtin_##SUF(bool transA, bool transB, int64_t M, int64_t N, int64_t K, \
                                T alpha, const T *A, int64_t lda, const T *B, int64_t ldb, \
                                T beta, T *C, int64_t ldc) {                 \
        gemm_split_##SUF(gemm_one_##SUF, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, \
                         ldc);                                               \
    }

GEMM_THREADED(double, f64)
GEMM_THREADED(float, f32)

/* Which GEMM ag__gemm_* run. f32 products go to oneDNN's sgemm in a build
 * with oneDNN: its JIT-generated kernels were the fastest f32 GEMM on
 * every shape measured (bench/gemm.c; README's design section). Otherwise,
 * and for f64 (oneDNN has no f64 GEMM), the built-in GEMM: on the mlp_step
 * and matmul shapes it matches OpenBLAS with the right kernels for the
 * CPU, and it does not depend on OpenBLAS recognising the CPU (Debian's
 * 0.3.21 runs its generic Prescott kernels on newer Intel cores, 4.5x
 * slower). TAPEGRAD_GEMM=builtin|openblas|onednn (read once, at the first
 * product) forces one in a build that has it, so tests run every path. */
enum { BACKEND_BUILTIN, BACKEND_OPENBLAS, BACKEND_ONEDNN };
static const char *const backend_names[] = {"builtin", "openblas", "onednn"};
static _Atomic int backend = -1;

static bool backend_available(int b) {
#ifndef TAPEGRAD_HAVE_BLAS
    if (b == BACKEND_OPENBLAS) return false;
#endif
#ifndef TAPEGRAD_HAVE_ONEDNN
    if (b == BACKEND_ONEDNN) return false;
#endif
    return b >= BACKEND_BUILTIN && b <= BACKEND_ONEDNN;
}

static int backend_parse(const char *name) {
    for (int b = 0; name && b < (int)(sizeof backend_names / sizeof *backend_names); b++)
        if (strcmp(name, backend_names[b]) == 0) return b;
    return -1;
}

static int gemm_backend_id(void) {
    int b = atomic_load_explicit(&backend, memory_order_relaxed);
    if (b >= 0) return b;
    b = backend_parse(getenv("TAPEGRAD_GEMM"));
    if (!backend_available(b)) b = backend_available(BACKEND_ONEDNN) ? BACKEND_ONEDNN : BACKEND_BUILTIN;
    atomic_store_explicit(&backend, b, memory_order_relaxed);
    return b;
}

const char *ag__gemm_backend(void) { return backend_names[gemm_backend_id()]; }

bool ag__gemm_set_backend(const char *name) {
    const int b = backend_parse(name);
    if (!backend_available(b)) return false;
    atomic_store_explicit(&backend, b, memory_order_relaxed);
    return true;
}


#ifdef TAPEGRAD_HAVE_BLAS
/* CBLAS takes int sizes: anything larger (or empty) goes to the built-in
 * kernel, which also spares BLAS's argument checks an ld of 0. */
static bool blas_ok(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
    return gemm_backend_id() == BACKEND_OPENBLAS && M > 0 && N > 0 && K > 0 && M <= INT_MAX &&
           N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX;
}
#endif

#ifdef TAPEGRAD_HAVE_ONEDNN
void omp_set_num_threads(int num_threads);

/* oneDNN's sgemm on the calling thread: row-major like ours, 64-bit sizes.
 * The products are split over tapegrad's pool (gemm_split_f32), each part
 * a one-thread oneDNN call, so OpenMP never starts a team: its threads
 * would spin after each product and take the core from the pool's next
 * kernel. A failure (it checks its arguments) falls back to the built-in
 * GEMM. */
static void onednn_one(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc) {
    static _Thread_local bool one_omp_thread;
    if (!one_omp_thread) {
        omp_set_num_threads(1); /* this thread's OpenMP count */
        one_omp_thread = true;
    }
    if (K <= 0 || dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb,
                             beta, C, ldc) != dnnl_success)
        gemm_one_f32(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

void ag__gemm_f64(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                  const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                  double *C, int64_t ldc) {
#ifdef TAPEGRAD_HAVE_BLAS
    if (blas_ok(M, N, K, lda, ldb, ldc)) {
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A,
                    (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    ag__gemm_builtin_f64(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ag__gemm_f32(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc) {
#ifdef TAPEGRAD_HAVE_ONEDNN
    if (gemm_backend_id() == BACKEND_ONEDNN) {
        gemm_split_f32(onednn_one, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
#ifdef TAPEGRAD_HAVE_BLAS
    if (blas_ok(M, N, K, lda, ldb, ldc)) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A,
                    (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    ag__gemm_builtin_f32(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* OpenBLAS's thread count is process-wide; the engine never changes it on
 * its own, only when a program asks here (or through ag_set_num_threads).
 * oneDNN's products run on tapegrad's pool instead (onednn_one). */
#ifdef TAPEGRAD_HAVE_BLAS
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
int ag_set_blas_threads(int n) {
    int before = 0;
#ifdef TAPEGRAD_HAVE_BLAS
    before = openblas_get_num_threads();
    if (n > 0) openblas_set_num_threads(n);
#endif
    (void)n;
    return before;
}
