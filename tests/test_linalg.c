/* matmul, permute and transpose: their op rows (tests/rows/linalg.c:
 * gradients over shapes, second order, NULL inputs), known values,
 * f32 against f64, a larger product against a naive triple loop through
 * both GEMM paths (BLAS or built-in, and the built-in kernel directly), and
 * the error cases. */
#include "op_rows.h"

#include "gemm.h"

#include <stdlib.h>
#include <string.h>

static ag_tensor *apply_square(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_matmul(t, x[0], x[0]); /* one node on both sides */
}

/* transpose(a @ b) @ c: matmul's gradient fed by permute's and vice versa. */
static ag_tensor *apply_chain(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_matmul(t, ag_transpose(t, ag_matmul(t, x[0], x[1])), x[2]);
}

START_TEST(matmul_square_and_chain) {
    ag_rng r;
    ag_rng_seed(&r, 31);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *sq[2] = {tu_rand(t, &r, AG_SHAPE(3, 3), -1, 1), tu_rand(t, &r, AG_SHAPE(2, 4, 4), -1, 1)};
    tu_assert_gradcheck(apply_square, NULL, 1, &sq[0]);
    tu_assert_gradcheck(apply_square, NULL, 1, &sq[1]);
    ag_tensor *x[3] = {tu_rand(t, &r, AG_SHAPE(3, 4), -1, 1), tu_rand(t, &r, AG_SHAPE(4, 2), -1, 1),
                       tu_rand(t, &r, AG_SHAPE(3, 5), -1, 1)};
    tu_assert_gradcheck(apply_chain, NULL, 3, x);
    ag_tape_free(t);
}
END_TEST

/* Every element of permute's output against its index computed by hand. */
START_TEST(permute_values) {
    const tu_point *p = &tu_row_of(&tu_rows_linalg, AG_OP_PERMUTE, NULL)->points.p[_i];
    ag_tape *t = ag_tape_new(0);
    int64_t numel = 1, st[4], s = 1;
    for (int d = 0; d < p->in[0].nd; d++) numel *= p->in[0].d[d];
    for (int d = p->in[0].nd - 1; d >= 0; d--) st[d] = s, s *= p->in[0].d[d];
    double v[64];
    for (int64_t i = 0; i < numel; i++) v[i] = (double)i; /* value = flat index in x */
    ag_tensor *x = ag_from_doubles(t, AG_F32, p->in[0].nd, p->in[0].d, v);
    ag_tensor *y = ag_permute(t, x, p->perm);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_ndim(y), p->in[0].nd);
    for (int d = 0; d < p->in[0].nd; d++) ck_assert_int_eq(ag_dim(y, d), p->in[0].d[p->perm[d]]);
    int64_t idx[4] = {0};
    for (int64_t o = 0; o < numel; o++) {
        int64_t src = 0; /* y[idx] = x[idx mapped through perm] */
        for (int d = 0; d < p->in[0].nd; d++) src += idx[d] * st[p->perm[d]];
        ck_assert_double_eq(ag_get(y, o), (double)src);
        for (int d = p->in[0].nd - 1; d >= 0; d--) {
            if (++idx[d] < ag_dim(y, d)) break;
            idx[d] = 0;
        }
    }
    ag_tape_free(t);
}
END_TEST

START_TEST(transpose_values) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *y = ag_transpose(t, x);
    ck_assert_int_eq(ag_dim(y, 0), 3);
    ck_assert_int_eq(ag_dim(y, 1), 2);
    const double want[] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_get(y, i), want[i]);
    /* Gradient permuted back, accumulated over two uses. */
    ag_requires_grad(t, x);
    ag_tensor *w = ag_from_doubles(t, AG_F64, AG_SHAPE(3, 2), (const double[]){1, 2, 3, 4, 5, 6});
    /* The transpose is recorded first, so its backward runs last and must add
     * to what sum(x) left in x's gradient. */
    ag_tensor *l1 = ag_sum(t, ag_mul(t, ag_transpose(t, x), w), AG_ALL, false);
    ag_tensor *l = ag_add(t, l1, ag_sum(t, x, AG_ALL, false));
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    const double gx[] = {1 + 1, 3 + 1, 5 + 1, 2 + 1, 4 + 1, 6 + 1}; /* wᵀ + 1 */
    for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_grad_get(x, i), gx[i]);
    ag_tape_free(t);
}
END_TEST

/* [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]]; for sum(A@B),
 * dA = 1·Bᵀ (row sums of B) and dB = Aᵀ·1 (column sums of A, spread). */
START_TEST(matmul_known_values) {
    for (int dt = 0; dt < 2; dt++) {
        ag_dtype dtype = dt ? AG_F32 : AG_F64;
        ag_tape *t = ag_tape_new(0);
        ag_tensor *a = ag_from_doubles(t, dtype, AG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
        ag_tensor *b = ag_from_doubles(t, dtype, AG_SHAPE(2, 2), (const double[]){5, 6, 7, 8});
        ag_requires_grad(t, a);
        ag_requires_grad(t, b);
        ag_tensor *y = ag_matmul(t, a, b);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(ag_dtype_of(y), dtype);
        const double want[] = {19, 22, 43, 50};
        for (int i = 0; i < 4; i++) ck_assert_double_eq(ag_get(y, i), want[i]);
        ag_tensor *l = ag_sum(t, y, AG_ALL, false);
        ck_assert_int_eq(ag_backward(t, l), AG_OK);
        const double ga[] = {11, 15, 11, 15}, gb[] = {4, 4, 6, 6};
        for (int i = 0; i < 4; i++) {
            ck_assert_double_eq(ag_grad_get(a, i), ga[i]);
            ck_assert_double_eq(ag_grad_get(b, i), gb[i]);
        }
        /* Leaves accumulate over a second backward. */
        ck_assert_int_eq(ag_backward(t, l), AG_OK);
        for (int i = 0; i < 4; i++) ck_assert_double_eq(ag_grad_get(a, i), 2 * ga[i]);
        ag_tape_free(t);
    }
}
END_TEST

/* A shared b's gradient sums over the batch; a used by two products gets
 * both paths; k = 0 gives zeros; no-grad mode computes the same values. */
START_TEST(matmul_batch_and_paths) {
    ag_tape *t = ag_tape_new(0);
    /* a (2, 1, 2) @ b (2, 1): b's gradient is the sum of both batches' a. */
    ag_tensor *a = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 1, 2), (const double[]){1, 2, 3, 4});
    ag_tensor *b = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 1), (const double[]){10, 20});
    ag_requires_grad(t, a);
    ag_requires_grad(t, b);
    ag_tensor *y = ag_matmul(t, a, b); /* (2, 1, 1) */
    ck_assert_int_eq(ag_ndim(y), 3);
    ck_assert_double_eq(ag_get(y, 0), 50);
    ck_assert_double_eq(ag_get(y, 1), 110);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    ck_assert_double_eq(ag_grad_get(b, 0), 1 + 3);
    ck_assert_double_eq(ag_grad_get(b, 1), 2 + 4);
    ck_assert_double_eq(ag_grad_get(a, 3), 20);

    /* x used on two paths: d sum(x@u + x@v)/dx = 1·uᵀ + 1·vᵀ. */
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(1, 2));
    ag_tensor *u = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 1), (const double[]){1, 2});
    ag_tensor *v = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 1), (const double[]){3, 5});
    ag_requires_grad(t, x);
    ag_tensor *l = ag_sum(t, ag_add(t, ag_matmul(t, x, u), ag_matmul(t, x, v)), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    ck_assert_double_eq(ag_grad_get(x, 0), 4);
    ck_assert_double_eq(ag_grad_get(x, 1), 7);

    /* k = 0: an empty sum, so zeros. */
    ag_tensor *e = ag_matmul(t, ag_zeros(t, AG_F64, AG_SHAPE(2, 0)), ag_zeros(t, AG_F64, AG_SHAPE(0, 3)));
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(ag_numel(e), 6);
    for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_get(e, i), 0);

    ag_no_grad_begin(t);
    ag_tensor *ng = ag_matmul(t, a, b);
    ag_no_grad_end(t);
    ck_assert_ptr_nonnull(ng);
    ck_assert_double_eq(ag_get(ng, 1), 110);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

/* The first-order backward records nothing and takes no tape memory. */
START_TEST(backward_allocates_no_nodes) {
    ag_rng r;
    ag_rng_seed(&r, 9);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, tu_rand(t, &r, AG_SHAPE(2, 3, 4), -1, 1));
    ag_tensor *b = ag_requires_grad(t, tu_rand(t, &r, AG_SHAPE(4, 5), -1, 1));
    ag_tensor *l = ag_sum(t, ag_permute(t, ag_matmul(t, a, b), (const int[]){2, 0, 1}), AG_ALL, false);
    ag_tape_stats before = ag_tape_get_stats(t);
    ck_assert_int_eq(ag_backward(t, l), AG_OK);
    ag_tape_stats after = ag_tape_get_stats(t);
    ck_assert_uint_eq(after.nodes, before.nodes);
    ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use);
    ck_assert_uint_eq(after.allocations, before.allocations);
    ag_tape_free(t);
}
END_TEST

/* f32 forward and backward against f64 on the same values. */
START_TEST(matmul_f32_vs_f64) {
    const tu_point *p = &tu_row_of(&tu_rows_linalg, AG_OP_MATMUL, NULL)->points.p[_i];
    ag_rng r;
    ag_rng_seed(&r, 70 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a64 = tu_rand(t, &r, p->in[0].nd, p->in[0].d, -1, 1), *b64 = tu_rand(t, &r, p->in[1].nd, p->in[1].d, -1, 1);
    double va[256], vb[256]; /* the largest point has 120 elements */
    ag_to_doubles(a64, va, ag_numel(a64));
    ag_to_doubles(b64, vb, ag_numel(b64));
    ag_tensor *a32 = ag_from_doubles(t, AG_F32, p->in[0].nd, p->in[0].d, va);
    ag_tensor *b32 = ag_from_doubles(t, AG_F32, p->in[1].nd, p->in[1].d, vb);
    ag_tensor *ins[4] = {a64, b64, a32, b32};
    for (int i = 0; i < 4; i++) ag_requires_grad(t, ins[i]);
    ag_tensor *y64 = ag_matmul(t, a64, b64), *y32 = ag_matmul(t, a32, b32);
    ck_assert_int_eq(ag_dtype_of(y32), AG_F32);
    for (int64_t i = 0; i < ag_numel(y64); i++)
        ck_assert_double_eq_tol(ag_get(y32, i), ag_get(y64, i), 1e-5);
    ag_tensor *w64 = tu_rand(t, &r, ag_ndim(y64), ag_shape(y64), -1, 1);
    double vw[256];
    ag_to_doubles(w64, vw, ag_numel(w64));
    ag_tensor *w32 = ag_from_doubles(t, AG_F32, ag_ndim(y64), ag_shape(y64), vw);
    ck_assert_int_eq(ag_backward_seed(t, y64, w64), AG_OK);
    ck_assert_int_eq(ag_backward_seed(t, y32, w32), AG_OK);
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < ag_numel(ins[k]); i++)
            ck_assert_double_eq_tol(ag_grad_get(ins[k + 2], i), ag_grad_get(ins[k], i), 1e-5);
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------ against a naive triple loop */

/* C (M, N) = alpha·op(A)·op(B) + beta·C0 and, per element, sum |a||b| for a
 * relative bound. */
static void naive_gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double *A,
                       int lda, const double *B, int ldb, double beta, const double *C0,
                       double *C, double *mag, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0, m = 0;
            for (int p = 0; p < K; p++) {
                double a = ta ? A[p * lda + i] : A[i * lda + p];
                double b = tb ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
                m += fabs(a * b);
            }
            C[i * ldc + j] = alpha * acc + (beta != 0 ? beta * C0[i * ldc + j] : 0);
            mag[i * ldc + j] = fabs(alpha) * m + fabs(beta * (beta != 0 ? C0[i * ldc + j] : 0));
        }
}

static void fill(ag_rng *r, double *p, int n) {
    for (int i = 0; i < n; i++) p[i] = 2 * ag_rng_uniform(r) - 1;
}

enum { M_ = 64, K_ = 65, N_ = 63, PAD = 3 };

/* The op on a 64x65 @ 65x63 product, whatever GEMM this build uses. */
START_TEST(matmul_large_vs_naive) {
    ag_rng r;
    ag_rng_seed(&r, 4242);
    static double A[M_ * K_], B[K_ * N_], C[M_ * N_], mag[M_ * N_];
    fill(&r, A, M_ * K_);
    fill(&r, B, K_ * N_);
    naive_gemm(false, false, M_, N_, K_, 1, A, K_, B, N_, 0, NULL, C, mag, N_);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_from_doubles(t, AG_F64, AG_SHAPE(M_, K_), A);
    ag_tensor *b = ag_from_doubles(t, AG_F64, AG_SHAPE(K_, N_), B);
    ag_tensor *y = ag_matmul(t, a, b);
    ck_assert_ptr_nonnull(y);
    const double *py = ag_data(y);
    for (int i = 0; i < M_ * N_; i++)
        ck_assert_msg(fabs(py[i] - C[i]) <= 1e-12 * mag[i], "%s gemm: element %d: %.17g vs %.17g",
                      ag__gemm_backend(), i, py[i], C[i]);
    ag_tape_free(t);
}
END_TEST

/* Both paths directly (the dispatching ag__gemm_f64, which is BLAS in a
 * BLAS build, and the built-in kernel), every transpose combination, with
 * alpha and beta, beta = 0 over a C full of NaN (which must not be read),
 * and leading dimensions wider than the rows. */
START_TEST(gemm_paths_vs_naive) {
    typedef void (*gemm64)(bool, bool, int64_t, int64_t, int64_t, double, const double *, int64_t,
                           const double *, int64_t, double, double *, int64_t);
    const gemm64 paths[2] = {ag__gemm_f64, ag__gemm_builtin_f64};
    const int lda_n = K_ + PAD, lda_t = M_ + PAD, ldb_n = N_ + PAD, ldb_t = K_ + PAD, ldc = N_ + PAD;
    static double A[(M_ + PAD) * (K_ + PAD)], B[(K_ + PAD) * (N_ + PAD)];
    static double C0[M_ * (N_ + PAD)], C[M_ * (N_ + PAD)], ref[M_ * (N_ + PAD)], mag[M_ * (N_ + PAD)];
    ag_rng r;
    ag_rng_seed(&r, 77);
    fill(&r, A, (int)(sizeof A / sizeof A[0]));
    fill(&r, B, (int)(sizeof B / sizeof B[0]));
    fill(&r, C0, (int)(sizeof C0 / sizeof C0[0]));
    const double betas[2] = {0, 0.75};
    for (int path = 0; path < 2; path++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 2; bi++) {
                    int lda = ta ? lda_t : lda_n, ldb = tb ? ldb_t : ldb_n;
                    double beta = betas[bi];
                    naive_gemm(ta, tb, M_, N_, K_, -1.5, A, lda, B, ldb, beta, C0, ref, mag, ldc);
                    for (int i = 0; i < M_ * ldc; i++) C[i] = beta == 0 ? NAN : C0[i];
                    paths[path](ta, tb, M_, N_, K_, -1.5, A, lda, B, ldb, beta, C, ldc);
                    for (int i = 0; i < M_; i++)
                        for (int j = 0; j < N_; j++) {
                            double got = C[i * ldc + j], want = ref[i * ldc + j];
                            ck_assert_msg(fabs(got - want) <= 1e-12 * mag[i * ldc + j],
                                          "%s ta=%d tb=%d beta=%g (%d, %d): %.17g vs %.17g",
                                          path ? "builtin" : ag__gemm_backend(), ta, tb, beta,
                                          i, j, got, want);
                        }
                }
}
END_TEST

/* f32 through both paths against the f64 loop, to f32 precision; K beyond
 * one k block (256) so the blocks accumulate. */
START_TEST(gemm_f32_paths) {
    typedef void (*gemm32)(bool, bool, int64_t, int64_t, int64_t, float, const float *, int64_t,
                           const float *, int64_t, float, float *, int64_t);
    const gemm32 paths[2] = {ag__gemm_f32, ag__gemm_builtin_f32};
    enum { M = 9, N = 11, K = 300 };
    static double A[M * K], B[K * N], ref[M * N], mag[M * N];
    static float a[M * K], b[K * N], c[M * N];
    ag_rng r;
    ag_rng_seed(&r, 5);
    fill(&r, A, M * K);
    fill(&r, B, K * N);
    for (int i = 0; i < M * K; i++) a[i] = (float)A[i], A[i] = a[i];
    for (int i = 0; i < K * N; i++) b[i] = (float)B[i], B[i] = b[i];
    for (int path = 0; path < 2; path++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                /* The same buffers read as stored transposed: op() differs, sizes fit. */
                int lda = ta ? M : K, ldb = tb ? K : N;
                naive_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, NULL, ref, mag, N);
                paths[path](ta, tb, M, N, K, 1, a, lda, b, ldb, 0, c, N);
                for (int i = 0; i < M * N; i++)
                    ck_assert_msg(fabs(c[i] - ref[i]) <= 1e-5 * mag[i], "f32 %s ta=%d tb=%d: %d",
                                  path ? "builtin" : ag__gemm_backend(), ta, tb, i);
            }
}
END_TEST

/* ----------------------------------------------------------------- errors */

static void assert_error(ag_tape *t, ag_status code, const char *a, const char *b, const char *c) {
    const char *msg = ag_tape_error(t);
    ck_assert_int_eq(ag_tape_status(t), code);
    ck_assert_ptr_nonnull(msg);
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (parts[i]) ck_assert_msg(strstr(msg, parts[i]), "'%s' not in '%s'", parts[i], msg);
    ag_tape_clear_error(t);
}

START_TEST(matmul_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a23 = ag_ones(t, AG_F64, AG_SHAPE(2, 3)), *b45 = ag_ones(t, AG_F64, AG_SHAPE(4, 5));
    ck_assert_ptr_null(ag_matmul(t, a23, b45));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "[2, 3]", "[4, 5]");

    ag_tensor *b34 = ag_ones(t, AG_F64, AG_SHAPE(3, 4));
    ck_assert_ptr_null(ag_matmul(t, ag_ones(t, AG_F64, AG_SHAPE(4)), b34));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "[4]", "inner");
    ck_assert_ptr_null(ag_matmul(t, b34, ag_ones(t, AG_F64, AG_SHAPE(3))));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "[3, 4]", "[3]");
    ck_assert_ptr_null(ag_matmul(t, ag_scalar(t, 2), ag_scalar(t, 3)));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "[]", "0-d");
    ck_assert_ptr_null(ag_matmul(t, b34, ag_scalar(t, 3)));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "0-d", NULL);

    /* Batch dimensions broadcast as NumPy's: 2 against 3 does not. */
    ag_tensor *a234 = ag_ones(t, AG_F64, AG_SHAPE(2, 3, 4)), *b345 = ag_ones(t, AG_F64, AG_SHAPE(3, 4, 5));
    ck_assert_ptr_null(ag_matmul(t, a234, b345));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "[2, 3, 4]", "batch dimensions");
    ck_assert_ptr_null(ag_matmul(t, ag_ones(t, AG_F64, AG_SHAPE(2, 1, 3, 4)), ag_ones(t, AG_F64, AG_SHAPE(3, 5, 6))));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "inner", "[3, 5, 6]");
    ck_assert_ptr_null(ag_matmul(t, ag_ones(t, AG_F64, AG_SHAPE(2, 1, 3, 4)), ag_ones(t, AG_F64, AG_SHAPE(3, 3, 4, 6))));
    assert_error(t, AG_ERR_SHAPE, "matmul: ", "[2, 1, 3, 4]", "do not broadcast");

    ck_assert_ptr_null(ag_matmul(t, ag_ones(t, AG_F32, AG_SHAPE(3, 4)), b45));
    assert_error(t, AG_ERR_DTYPE, "matmul: ", "f32", "f64");

    ck_assert_ptr_null(ag_matmul(NULL, a23, b34));
    ck_assert_ptr_null(ag_matmul(t, NULL, b34));
    assert_error(t, AG_ERR_NULL, "matmul: ", "operand 1", NULL);
    ck_assert_ptr_null(ag_matmul(t, a23, NULL));
    assert_error(t, AG_ERR_NULL, "matmul: ", "operand 2", NULL);

    /* Sticky: the first mistake stays, the chain fails once, and a correct
     * call fails too until the error is cleared. */
    ag_tensor *y = ag_matmul(t, ag_matmul(t, a23, b45), b34);
    ck_assert_ptr_null(y);
    ck_assert_ptr_null(ag_transpose(t, y));
    ck_assert_ptr_null(ag_matmul(t, a23, b34));
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_SHAPE);
    assert_error(t, AG_ERR_SHAPE, "matmul: a [2, 3] @ b [4, 5]", NULL, NULL);
    ck_assert_ptr_nonnull(ag_matmul(t, a23, b34));
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

START_TEST(permute_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3, 4));
    ck_assert_ptr_null(ag_permute(t, x, (const int[]){0, 0, 1}));
    assert_error(t, AG_ERR_AXIS, "permute: ", "(0, 0, 1)", "[2, 3, 4]");
    ck_assert_ptr_null(ag_permute(t, x, (const int[]){0, 1, 3}));
    assert_error(t, AG_ERR_AXIS, "permute: ", "(0, 1, 3)", "[2, 3, 4]");
    ck_assert_ptr_null(ag_permute(t, x, (const int[]){-1, 0, 1}));
    assert_error(t, AG_ERR_AXIS, "permute: ", "(-1, 0, 1)", NULL);
    /* A permutation of too few axes: {1, 0} with a third entry out of it. */
    ck_assert_ptr_null(ag_permute(t, x, (const int[]){1, 0, 5}));
    assert_error(t, AG_ERR_AXIS, "permute: ", "3 axes", NULL);
    ck_assert_ptr_null(ag_permute(t, x, NULL));
    assert_error(t, AG_ERR_NULL, "permute: ", "perm", NULL);
    ck_assert_ptr_null(ag_permute(t, NULL, (const int[]){0}));
    assert_error(t, AG_ERR_NULL, "permute: ", NULL, NULL);
    ck_assert_ptr_null(ag_permute(NULL, x, (const int[]){0, 1, 2}));

    ck_assert_ptr_null(ag_transpose(t, ag_ones(t, AG_F64, AG_SHAPE(5))));
    assert_error(t, AG_ERR_SHAPE, "transpose: ", "[5]", NULL);
    ck_assert_ptr_null(ag_transpose(t, ag_scalar(t, 1)));
    assert_error(t, AG_ERR_SHAPE, "transpose: ", "[]", NULL);
    ck_assert_ptr_null(ag_transpose(t, NULL));
    assert_error(t, AG_ERR_NULL, "transpose: ", NULL, NULL);

    /* Sticky across permute and matmul. */
    ck_assert_ptr_null(ag_matmul(t, ag_permute(t, x, (const int[]){2, 2, 2}), x));
    ck_assert_ptr_null(ag_permute(t, x, (const int[]){2, 1, 0}));
    assert_error(t, AG_ERR_AXIS, "permute: perm (2, 2, 2)", NULL, NULL);
    ck_assert_ptr_nonnull(ag_permute(t, x, (const int[]){2, 1, 0}));
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("linalg");
    TCase *tc = tcase_create("linalg");
    tcase_set_timeout(tc, 120);
    const tu_op_table *const tables[] = {&tu_rows_linalg};
    tu_add_op_rows(tc, 1, tables);
    tcase_add_test(tc, matmul_square_and_chain);
    tcase_add_loop_test(tc, permute_values, 0, tu_row_of(&tu_rows_linalg, AG_OP_PERMUTE, NULL)->points.n);
    tcase_add_test(tc, transpose_values);
    tcase_add_test(tc, matmul_known_values);
    tcase_add_test(tc, matmul_batch_and_paths);
    tcase_add_test(tc, backward_allocates_no_nodes);
    tcase_add_loop_test(tc, matmul_f32_vs_f64, 0, tu_row_of(&tu_rows_linalg, AG_OP_MATMUL, NULL)->points.n);
    tcase_add_test(tc, matmul_large_vs_naive);
    tcase_add_test(tc, gemm_paths_vs_naive);
    tcase_add_test(tc, gemm_f32_paths);
    tcase_add_test(tc, matmul_errors);
    tcase_add_test(tc, permute_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
