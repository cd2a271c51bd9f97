/* The built-in GEMM (kernels/gemm.h) against a naive double-accumulating
 * reference, on every vector level this CPU has (ag__cpu_set_isa): f32 and
 * f64, the four orientations, sizes 1..~300 across the tile and block edges
 * and a K past one KC block, alpha/beta cases (beta = 0 must not read C,
 * which holds NaN), and row strides past the matrix width. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu.h"
#include "gemm.h"
#include "parallel.h"

/* (M, N, K): tile edges (MR 6 and 12, NR 8..32), block edges (MC 144, K
 * past KC 384 in equal blocks: 785 = 262 + 262 + 261), op(A) packed and in
 * place (at most two column panels, or Aᵀ) with partial last panels, and
 * few rows by many columns with Bᵀ (run as Cᵀ = op(B)ᵀ·op(A)ᵀ). */
static const int64_t sizes[][3] = {
    {1, 1, 1},    {1, 7, 3},     {5, 1, 9},     {6, 32, 1},   {7, 33, 17},  {13, 17, 300},
    {121, 65, 257}, {120, 96, 256}, {37, 129, 64}, {300, 31, 5}, {2, 300, 513}, {64, 576, 25},
    {25, 64, 785}, {132, 40, 390}, {241, 100, 12}, {12, 16, 7}, {32, 400, 70}, {5, 97, 33}, {145, 70, 20}, {144, 300, 9},
};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static const double alphas[] = {1, -0.5, 1, 2};
static const double betas[] = {0, 0, 1, -1.5};
#define NAB 4

static double frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 - 0.5;
}

/* One case: every level x orientation x alpha/beta, for one size and dtype. */
#define CHECK_DTYPE(T, SUF, EPS)                                             \
    static void check_##SUF(int64_t M, int64_t N, int64_t K, int pad) {      \
        uint64_t seed = (uint64_t)(M * 1000003 + N * 1009 + K);              \
        const int64_t big = (M > K ? M : K) + pad, bign = (N > K ? N : K) + pad; \
        T *A = malloc(sizeof(T) * (size_t)(big * big));                      \
        T *B = malloc(sizeof(T) * (size_t)(bign * bign));                    \
        const int64_t ldc = N + pad;                                         \
        T *C = malloc(sizeof(T) * (size_t)(M * ldc)), *C0 = malloc(sizeof(T) * (size_t)(M * ldc)); \
        double *R = malloc(sizeof(double) * (size_t)(M * N));                \
        ck_assert(A && B && C && C0 && R);                                   \
        for (int64_t i = 0; i < big * big; i++) A[i] = (T)frand(&seed);      \
        for (int64_t i = 0; i < bign * bign; i++) B[i] = (T)frand(&seed);    \
        for (int64_t i = 0; i < M * ldc; i++) C0[i] = (T)frand(&seed);       \
        const ag_isa saved = ag__cpu_isa();                                  \
        for (int isa = AG_ISA_SSE2; isa <= (int)ag__cpu_isa_detected(); isa++) { \
            ck_assert(ag__cpu_set_isa((ag_isa)isa));                         \
            for (int o = 0; o < 4; o++) {                                    \
                const bool ta = o & 1, tb = o & 2;                           \
                const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad; \
                for (int ab = 0; ab < NAB; ab++) {                           \
                    const T alpha = (T)alphas[ab], beta = (T)betas[ab];      \
                    for (int64_t i = 0; i < M * ldc; i++)                    \
                        C[i] = beta == 0 ? (T)NAN : C0[i];                   \
                    for (int64_t i = 0; i < M; i++)                          \
                        for (int64_t j = 0; j < N; j++) {                    \
                            double s = 0;                                    \
                            for (int64_t p = 0; p < K; p++)                  \
                                s += (double)(ta ? A[p * lda + i] : A[i * lda + p]) * \
                                     (double)(tb ? B[j * ldb + p] : B[p * ldb + j]); \
                            R[i * N + j] = alpha * s + (beta == 0 ? 0 : beta * (double)C0[i * ldc + j]); \
                        }                                                    \
                    ag__gemm_builtin_##SUF(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); \
                    const double tol = EPS * (double)(K + 4);                \
                    for (int64_t i = 0; i < M; i++) {                        \
                        for (int64_t j = 0; j < N; j++)                      \
                            if (!(fabs(C[i * ldc + j] - R[i * N + j]) <= tol)) \
                                ck_abort_msg("%s %s ta=%d tb=%d M=%lld N=%lld K=%lld pad=%d " \
                                             "alpha=%g beta=%g: C[%lld,%lld] = %g, want %g", \
                                             #SUF, ag__cpu_isa_name((ag_isa)isa), ta, tb, \
                                             (long long)M, (long long)N, (long long)K, pad, \
                                             (double)alpha, (double)beta, (long long)i, \
                                             (long long)j, (double)C[i * ldc + j], R[i * N + j]); \
                        for (int64_t j = N; j < ldc; j++) /* padding untouched */ \
                            ck_assert(C[i * ldc + j] == C[i * ldc + j] || beta == 0 ? \
                                      (beta == 0 || C[i * ldc + j] == C0[i * ldc + j]) : 0); \
                    }                                                        \
                }                                                            \
            }                                                                \
        }                                                                    \
        ck_assert(ag__cpu_set_isa(saved));                                   \
        free(A), free(B), free(C), free(C0), free(R);                        \
    }
CHECK_DTYPE(float, f32, 1e-6)
CHECK_DTYPE(double, f64, 1e-15)

START_TEST(f32_sizes) {
    check_f32(sizes[_i][0], sizes[_i][1], sizes[_i][2], 0);
    check_f32(sizes[_i][0], sizes[_i][1], sizes[_i][2], 3);
}
END_TEST

START_TEST(f64_sizes) {
    check_f64(sizes[_i][0], sizes[_i][1], sizes[_i][2], 0);
    check_f64(sizes[_i][0], sizes[_i][1], sizes[_i][2], 5);
}
END_TEST

/* K = 0 is C = beta·C, never reading C when beta = 0; M or N = 0 is a no-op. */
START_TEST(empty_sums) {
    float a[4] = {1, 2, 3, 4}, c[4] = {NAN, NAN, NAN, NAN};
    ag__gemm_builtin_f32(false, false, 2, 2, 0, 1, a, 1, a, 2, 0, c, 2);
    for (int i = 0; i < 4; i++) ck_assert(c[i] == 0);
    double d[4] = {1, 2, 3, 4};
    ag__gemm_builtin_f64(true, true, 2, 2, 0, 1, d, 2, d, 1, 2, d, 2);
    for (int i = 0; i < 4; i++) ck_assert(d[i] == 2 * (i + 1));
    ag__gemm_builtin_f64(false, false, 0, 2, 2, 1, d, 2, d, 2, 0, d, 2);
    ck_assert(d[0] == 2);
}
END_TEST

/* Products big enough to be split over threads (gemm.c: by columns, or by
 * rows when there are few columns), in every orientation: the same bits
 * at 1, 2 and 3 threads, and right against the double reference. */
static void check_threads(int64_t M, int64_t N, int64_t K) {
    uint64_t seed = (uint64_t)(M * 31 + N * 7 + K);
    const int64_t big = (M > K ? M : K), bign = (N > K ? N : K);
    float *A = malloc(sizeof(float) * (size_t)(big * big)), *B = malloc(sizeof(float) * (size_t)(bign * bign));
    float *C[3];
    for (int t = 0; t < 3; t++) C[t] = malloc(sizeof(float) * (size_t)(M * N));
    ck_assert(A && B && C[0] && C[1] && C[2]);
    for (int64_t i = 0; i < big * big; i++) A[i] = (float)frand(&seed);
    for (int64_t i = 0; i < bign * bign; i++) B[i] = (float)frand(&seed);
    const int saved = ag__parallel_threads();
    for (int o = 0; o < 4; o++) {
        const bool ta = o & 1, tb = o & 2;
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        for (int t = 0; t < 3; t++) {
            ck_assert(ag__parallel_set_threads(t + 1));
            ag__gemm_builtin_f32(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C[t], N);
        }
        for (int64_t i = 0; i < M * N; i++)
            ck_assert_msg(C[1][i] == C[0][i] && C[2][i] == C[0][i],
                          "ta=%d tb=%d (%lld, %lld, %lld): element %lld differs across thread counts",
                          ta, tb, (long long)M, (long long)N, (long long)K, (long long)i);
        for (int64_t i = 0; i < M; i += 7)
            for (int64_t j = 0; j < N; j += 5) {
                double r = 0;
                for (int64_t p = 0; p < K; p++)
                    r += (double)(ta ? A[p * lda + i] : A[i * lda + p]) * (double)(tb ? B[j * ldb + p] : B[p * ldb + j]);
                ck_assert_msg(fabs(C[2][i * N + j] - r) <= 1e-6 * (double)(K + 4), "ta=%d tb=%d C[%lld,%lld]",
                              ta, tb, (long long)i, (long long)j);
            }
    }
    ck_assert(ag__parallel_set_threads(saved));
    free(A), free(B), free(C[0]), free(C[1]), free(C[2]);
}

START_TEST(split_over_threads) {
    check_threads(150, 700, 40); /* by columns, uneven parts */
    check_threads(600, 30, 300); /* by rows */
    check_threads(40, 1000, 130); /* few rows (and Bᵀ: run as Cᵀ) */
}
END_TEST

int main(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, f32_sizes, 0, NSIZES);
    tcase_add_loop_test(tc, f64_sizes, 0, NSIZES);
    tcase_add_test(tc, empty_sums);
    tcase_add_test(tc, split_over_threads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
