/* matmul: forward and backward of Y = A·B, A and B both 512x512 and both
 * requiring a gradient, through the engine (parameters, zero_grad, matmul,
 * sum, backward: what a training step does) against the same three GEMMs
 * called directly through cblas: Y = A·B, dA = dY·Bᵀ, dB = Aᵀ·dY with
 * dY = ones (the gradient of sum(Y)). The figure is the engine's time over
 * the direct time, f32 and f64: the median of per-pair ratios, the two
 * timed interleaved (bench_paired).
 *
 * The engine part always builds (ag_matmul runs on the built-in GEMM, or
 * on OpenBLAS with TAPEGRAD_GEMM=openblas). The direct baseline needs
 * cblas.h and OpenBLAS: bench/meson.build defines TAPEGRAD_BENCH_CBLAS
 * when it finds them.
 * Without the baseline, the ratio is reported as no figure.
 *
 * Checks, each run: the engine's Y and gradients equal the direct ones, and
 * the gradients equal their closed forms for dY = ones, computed without
 * any GEMM: dA[i][k] = sum_j B[k][j] (row sums of B) and
 * dB[k][j] = sum_i A[i][k] (column sums of A). */
#include "bench.h"

#include <tapegrad/autograd.h>
#include "gemm.h" /* ag__gemm_backend: which GEMM the engine runs */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TAPEGRAD_BENCH_CBLAS
#include <cblas.h>
#endif


#define M 512 /* Y (M, M) = A (M, M) · B (M, M) */

typedef struct ctx {
    ag_dtype dtype;
    ag_tape *tape;
    ag_tensor *pa, *pb; /* engine parameters */
    ag_tensor *y;       /* the engine's product, from the last run */
    void *a, *b, *y_ref, *dy, *da, *db; /* direct buffers, M*M each */
    ag_status status;
} ctx;

static void run_engine(void *p) {
    ctx *c = p;
    ag_tape_reset(c->tape);
    ag_zero_grad(c->pa);
    ag_zero_grad(c->pb);
    c->y = ag_matmul(c->tape, c->pa, c->pb);
    c->status = ag_backward(c->tape, ag_sum(c->tape, c->y, AG_ALL, false));
}

#ifdef TAPEGRAD_BENCH_CBLAS
/* The three GEMMs, row-major; dY is refilled with ones each run, as the
 * engine's sum backward fills its gradient. */
#define DIRECT(T, GEMM)                                                        \
    do {                                                                       \
        T *a = c->a, *b = c->b, *y = c->y_ref, *dy = c->dy, *da = c->da, *db = c->db; \
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, M, M, 1, a, M, b, M, 0, y, M); \
        for (int i = 0; i < M * M; i++) dy[i] = 1;                             \
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, M, M, M, 1, dy, M, b, M, 0, da, M); \
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, M, M, M, 1, a, M, dy, M, 0, db, M); \
    } while (0)

static void run_direct(void *p) {
    ctx *c = p;
    if (c->dtype == AG_F32) DIRECT(float, cblas_sgemm);
    else DIRECT(double, cblas_dgemm);
}

#endif

static double get(const ctx *c, const void *buf, int i) {
    return c->dtype == AG_F32 ? ((const float *)buf)[i] : ((const double *)buf)[i];
}

/* Running max of |x - r| and of |r|, NaN-propagating in the difference. */
static void acc(double x, double r, double *maxd, double *maxr) {
    double d = fabs(x - r);
    if (!(d <= *maxd)) *maxd = d;
    if (fabs(r) > *maxr) *maxr = fabs(r);
}

/* The engine's gradients against the closed forms (row sums of B, column
 * sums of A, summed in double), largest difference relative to the largest
 * reference value. */
static double closed_form_diff(const ctx *c) {
    double maxd = 0, maxr = 0;
    for (int k = 0; k < M; k++) {
        double rs = 0; /* dA[i][k] for every i: sum_j B[k][j] */
        for (int j = 0; j < M; j++) rs += get(c, c->b, k * M + j);
        for (int i = 0; i < M; i++) acc(ag_grad_get(c->pa, i * M + k), rs, &maxd, &maxr);
    }
    for (int k = 0; k < M; k++) {
        double cs = 0; /* dB[k][j] for every j: sum_i A[i][k] */
        for (int i = 0; i < M; i++) cs += get(c, c->a, i * M + k);
        for (int j = 0; j < M; j++) acc(ag_grad_get(c->pb, k * M + j), cs, &maxd, &maxr);
    }
    return maxr > 0 ? maxd / maxr : maxd;
}

#ifdef TAPEGRAD_BENCH_CBLAS
/* The engine's Y, dA and dB against the direct ones. */
static double direct_diff(const ctx *c) {
    double maxd = 0, maxr = 0;
    for (int i = 0; i < M * M; i++) {
        acc(ag_get(c->y, i), get(c, c->y_ref, i), &maxd, &maxr);
        acc(ag_grad_get(c->pa, i), get(c, c->da, i), &maxd, &maxr);
        acc(ag_grad_get(c->pb, i), get(c, c->db, i), &maxd, &maxr);
    }
    return maxr > 0 ? maxd / maxr : maxd;
}
#endif

static void measure(ag_dtype dtype, const bench_peer *peer) {
    const char *W = "matmul";
    const bool f32 = dtype == AG_F32;
    size_t es = f32 ? sizeof(float) : sizeof(double), bytes = (size_t)M * M * es;
    ctx c = {.dtype = dtype, .tape = ag_tape_new(0)};
    void **bufs[] = {&c.a, &c.b, &c.y_ref, &c.dy, &c.da, &c.db};
    enum { NBUFS = sizeof bufs / sizeof *bufs };
    for (size_t i = 0; i < NBUFS; i++) *bufs[i] = malloc(bytes);
    bool setup = c.tape && c.a && c.b && c.y_ref && c.dy && c.da && c.db;
    if (setup) {
        ag_rng r;
        ag_rng_seed(&r, 7);
        for (int i = 0; i < 2 * M * M; i++) {
            double v = ag_rng_uniform(&r) - 0.5;
            void *dst = i < M * M ? c.a : c.b;
            int j = i % (M * M);
            if (f32) ((float *)dst)[j] = (float)v;
            else ((double *)dst)[j] = v;
        }
        c.pa = ag_param_new(dtype, AG_SHAPE(M, M), c.a);
        c.pb = ag_param_new(dtype, AG_SHAPE(M, M), c.b);
        setup = c.pa && c.pb;
    }
    if (!setup) {
        fprintf(stderr, "%s: setup failed\n", W);
    } else {
        double t_engine, ratio = NAN;
#ifdef TAPEGRAD_BENCH_CBLAS
        double t_direct;
        ratio = bench_paired(run_direct, run_engine, &c, 15, 0.6, &t_direct, &t_engine);
#else
        t_engine = bench_median(run_engine, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
#endif
        /* f32 sums of 512 terms of size <= 0.5 round at ~1e-7 relative; the
         * closed forms are summed in double. */
        const double tol = f32 ? 1e-5 : 1e-12;
        char note[200];
        if (c.status == AG_OK) {
            double cf = closed_form_diff(&c);
            bool ok = cf <= tol;
            int len = snprintf(note, sizeof note, "engine on %s GEMM; ", ag__gemm_backend());
#ifdef TAPEGRAD_BENCH_CBLAS
            double dd = direct_diff(&c);
            ok = ok && dd <= tol;
            len += snprintf(note + len, sizeof note - (size_t)len,
                            "direct %.3g ms; Y,dA,dB vs direct %.1e, ", t_direct * 1e3, dd);
#else
            len += snprintf(note + len, sizeof note - (size_t)len,
                            "no direct cblas baseline in this build; ");
#endif
            snprintf(note + len, sizeof note - (size_t)len, "grads vs closed form %.1e: %s", cf,
                     ok ? "ok" : "MISMATCH");
        } else { /* a failed engine run measured nothing: report no figure */
            snprintf(note, sizeof note, "FAILED: %s", ag_tape_error(c.tape));
            t_engine = ratio = NAN;
        }
        bench_emit(peer, &(bench_row){W, f32 ? "overhead_ratio_f32" : "overhead_ratio_f64",
                                      ratio, "x", NULL, 1.1, note});
        bench_emit(peer, &(bench_row){W, f32 ? "fwd_bwd_time_f32" : "fwd_bwd_time_f64",
                                      t_engine * 1e3, "ms", f32 ? "ms_f32" : "ms_f64", NAN,
                                      "engine; peer: torch same product"});
    }
    ag_param_free(c.pa);
    ag_param_free(c.pb);
    ag_tape_free(c.tape);
    for (size_t i = 0; i < NBUFS; i++) free(*bufs[i]);
}

void bench_matmul(void) {
    /* PyTorch pinned to our default thread count in its own process, at
     * its best configuration (bench_run_peer_pinned). */
    bench_peer peer = bench_run_peer_pinned("matmul", 0, bench_openblas_best_coretype(NULL, 0));
    measure(AG_F32, &peer);
    measure(AG_F64, &peer);
#ifdef TAPEGRAD_BENCH_CBLAS
    if (strcmp(ag__gemm_backend(), "openblas") == 0)
        bench_target_line("matmul", "overhead_ratio <= 1.1 (engine / the same 3 GEMMs via cblas)");
    else
        bench_target_line("matmul", "the engine runs the built-in GEMM: overhead_ratio is engine / the "
                                    "same 3 GEMMs on OpenBLAS, <= 1.18 is >= 85 % of its rate (bench "
                                    "gemm compares every GEMM here, one thread each)");
#else
    bench_target_line("matmul", "overhead_ratio <= 1.1 (not measured: no cblas in this build)");
#endif
}
