/* matmul: forward and backward of Y = A·B, A and B both 512x512 and both
 * requiring a gradient, through the engine (parameters, zero_grad, matmul,
 * sum, backward: what a training step does) against the same three GEMMs
 * called directly through cblas: Y = A·B, dA = dY·Bᵀ, dB = Aᵀ·dY with
 * dY = ones (the gradient of sum(Y)). The figure is the engine's time over
 * the direct time, f32 and f64.
 *
 * Built only with TAPEGRAD_BENCH_MATMUL, which bench/meson.build defines
 * when OpenBLAS is found and ag_matmul is in the tree
 * (autograd/ops_linalg.c). */
#include "bench.h"

#include <math.h>
#include <stdio.h>

#ifndef TAPEGRAD_BENCH_MATMUL

void bench_matmul(void) {
    const char *why = "not built: needs autograd/ops_linalg.c (ag_matmul) and OpenBLAS";
    bench_emit(NULL, &(bench_row){"matmul", "overhead_ratio_f32", NAN, "x", NULL, 1.1, why});
    bench_emit(NULL, &(bench_row){"matmul", "overhead_ratio_f64", NAN, "x", NULL, 1.1, why});
    bench_target_line("matmul", "overhead_ratio <= 1.1 (not measured in this build)");
}

#else

#include <autograd.h>
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define M 512 /* Y (M, M) = A (M, M) · B (M, M) */

typedef struct ctx {
    ag_dtype dtype;
    ag_tape *tape;
    ag_tensor *pa, *pb; /* engine parameters */
    void *a, *b, *y, *dy, *da, *db; /* direct buffers, M*M each */
    ag_status status;
} ctx;

static void run_engine(void *p) {
    ctx *c = p;
    ag_tape_reset(c->tape);
    ag_zero_grad(c->pa);
    ag_zero_grad(c->pb);
    ag_tensor *y = ag_matmul(c->tape, c->pa, c->pb);
    c->status = ag_backward(c->tape, ag_sum(c->tape, y, AG_ALL, false));
}

/* The three GEMMs, row-major; dY is refilled with ones each run, as the
 * engine's sum backward fills its gradient. */
#define DIRECT(T, GEMM)                                                        \
    do {                                                                       \
        T *a = c->a, *b = c->b, *y = c->y, *dy = c->dy, *da = c->da, *db = c->db; \
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

/* Largest |engine - direct| over both gradients, relative to the largest
 * direct gradient. */
static double grad_diff(ctx *c) {
    double maxd = 0, maxg = 0;
    for (int k = 0; k < 2; k++) {
        ag_tensor *p = k ? c->pb : c->pa;
        const void *ref = k ? c->db : c->da;
        for (int i = 0; i < M * M; i++) {
            double r = c->dtype == AG_F32 ? ((const float *)ref)[i] : ((const double *)ref)[i];
            double d = fabs(ag_grad_get(p, i) - r);
            if (!(d <= maxd)) maxd = d;
            if (fabs(r) > maxg) maxg = fabs(r);
        }
    }
    return maxg > 0 ? maxd / maxg : maxd;
}

static void measure(ag_dtype dtype, const bench_peer *peer) {
    const char *W = "matmul";
    const bool f32 = dtype == AG_F32;
    size_t es = f32 ? sizeof(float) : sizeof(double), bytes = (size_t)M * M * es;
    ctx c = {.dtype = dtype, .tape = ag_tape_new(0)};
    void **bufs[] = {&c.a, &c.b, &c.y, &c.dy, &c.da, &c.db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) *bufs[i] = malloc(bytes);
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
    if (!c.tape || !c.pa || !c.pb || !c.a || !c.b || !c.y || !c.dy || !c.da || !c.db) {
        fprintf(stderr, "%s: setup failed\n", W);
        return;
    }
    double t_direct = bench_median(run_direct, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    double t_engine = bench_median(run_engine, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    char note[160];
    if (c.status == AG_OK) {
        double diff = grad_diff(&c);
        snprintf(note, sizeof note, "direct %.3g ms; gradients %s (rel %.1e)", t_direct * 1e3,
                 diff <= (f32 ? 1e-4 : 1e-10) ? "ok" : "MISMATCH", diff);
    } else { /* a failed engine run measured nothing: report no figure */
        snprintf(note, sizeof note, "FAILED: %s", ag_tape_error(c.tape));
        t_engine = NAN;
    }
    bench_emit(peer, &(bench_row){W, f32 ? "overhead_ratio_f32" : "overhead_ratio_f64",
                                  t_engine / t_direct, "x", NULL, 1.1, note});
    bench_emit(peer, &(bench_row){W, f32 ? "fwd_bwd_time_f32" : "fwd_bwd_time_f64",
                                  t_engine * 1e3, "ms", f32 ? "ms_f32" : "ms_f64", NAN,
                                  "engine; peer: torch same product"});
    ag_param_free(c.pa);
    ag_param_free(c.pb);
    ag_tape_free(c.tape);
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(*bufs[i]);
}

void bench_matmul(void) {
    bench_peer peer = bench_run_peer("matmul");
    measure(AG_F32, &peer);
    measure(AG_F64, &peer);
    bench_target_line("matmul", "overhead_ratio <= 1.1 (engine / the same 3 GEMMs via cblas)");
}

#endif /* TAPEGRAD_BENCH_MATMUL */
