/* gemm: every GEMM on this machine side by side, in GFLOP/s, on the shapes
 * the workloads run (mlp_step's three products, a convolution's im2col
 * product, matmul's 512³), f32 and f64, one thread:
 *
 *   builtin-LEVEL  tapegrad's packed GEMM at each vector level the CPU has
 *                  (forced with ag__cpu_set_isa, as TAPEGRAD_ISA does);
 *   engine         what ag__gemm_* run in this build and on this CPU (the
 *                  built-in GEMM or OpenBLAS; gemm.c says how it chooses);
 *   openblas       OpenBLAS as installed, with the core it picks;
 *   openblas-CORE  OpenBLAS with OPENBLAS_CORETYPE forced to the best core
 *                  for this CPU, in a child process (the variable is read
 *                  when the library loads), when the installed pick differs;
 *   onednn         oneDNN's dnnl_sgemm (f32 only; it has no f64 GEMM),
 *                  loaded with dlopen in a child process with one OpenMP
 *                  thread, when libdnnl is installed (./dev bench installs it).
 *
 * Each figure is 2·M·N·K over the median thread-CPU time of one call. The
 * rows the harness records are best / builtin per shape and dtype (lower is
 * better; the target, >= 85 % of the best, is <= 1.18), where best is the
 * fastest of the OpenBLAS and oneDNN columns. Also printed: the machine's
 * peak estimate for one core (clock x FMA units x lanes x 2) and how it
 * was estimated. Every product is checked against the first one computed
 * (relative normwise difference), so a fast wrong kernel shows. */
#include "bench.h"

#include "cpu.h"
#include "gemm.h"

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TAPEGRAD_BENCH_CBLAS
#include <cblas.h>
#endif

typedef struct shape {
    const char *name, *slug;
    int64_t M, N, K;
    bool ta, tb;
} shape;

/* mlp_step (batch 128, 784-256): Y = X·W, dW = Xᵀ·dY, dX = dY·Wᵀ;
 * cnn_step's second convolution (16 -> 32 channels, 5x5, 14x14 -> 10x10,
 * batch 64) as conv.c runs it, on the im2col columns of the whole batch:
 * Y = W·cols, dcols = Wᵀ·dY, dW = dY·colsᵀ; matmul's 512³. */
static const shape shapes[] = {
    {"mlp fwd X.W", "mlp_fwd", 128, 256, 784, false, false},
    {"mlp dW Xt.dY", "mlp_dw", 784, 256, 128, true, false},
    {"mlp dX dY.Wt", "mlp_dx", 128, 784, 256, false, true},
    {"conv2 fwd W.cols", "conv_fwd", 32, 6400, 400, false, false},
    {"conv2 dcols Wt.dY", "conv_dcols", 400, 6400, 32, true, false},
    {"conv2 dW dY.colst", "conv_dw", 32, 400, 6400, false, true},
    {"matmul 512", "matmul", 512, 512, 512, false, false},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* The columns; a NaN figure means "not on this machine". */
enum { COL_SSE2, COL_AVX2, COL_AVX512, COL_ENGINE, COL_OPENBLAS, COL_FORCED, COL_ONEDNN, NCOLS };

typedef struct operands {
    const shape *s;
    bool f32;
    void *a, *b, *c;
    int64_t lda, ldb;
    int col;
    void *dnnl_sgemm; /* the function, for COL_ONEDNN */
} operands;

typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *,
                             int64_t, const float *, int64_t, float, float *, int64_t);

static void run_one(void *p) {
    operands *o = p;
    const shape *s = o->s;
    const int64_t N = s->N;
    switch (o->col) {
    case COL_SSE2:
    case COL_AVX2:
    case COL_AVX512:
        if (o->f32)
            ag__gemm_builtin_f32(s->ta, s->tb, s->M, N, s->K, 1, o->a, o->lda, o->b, o->ldb, 0, o->c, N);
        else
            ag__gemm_builtin_f64(s->ta, s->tb, s->M, N, s->K, 1, o->a, o->lda, o->b, o->ldb, 0, o->c, N);
        break;
    case COL_ENGINE:
        if (o->f32) ag__gemm_f32(s->ta, s->tb, s->M, N, s->K, 1, o->a, o->lda, o->b, o->ldb, 0, o->c, N);
        else ag__gemm_f64(s->ta, s->tb, s->M, N, s->K, 1, o->a, o->lda, o->b, o->ldb, 0, o->c, N);
        break;
#ifdef TAPEGRAD_BENCH_CBLAS
    case COL_OPENBLAS:
    case COL_FORCED: {
        const enum CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans;
        const enum CBLAS_TRANSPOSE tb = s->tb ? CblasTrans : CblasNoTrans;
        if (o->f32)
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->M, (int)N, (int)s->K, 1, o->a, (int)o->lda,
                        o->b, (int)o->ldb, 0, o->c, (int)N);
        else
            cblas_dgemm(CblasRowMajor, ta, tb, (int)s->M, (int)N, (int)s->K, 1, o->a, (int)o->lda,
                        o->b, (int)o->ldb, 0, o->c, (int)N);
        break;
    }
#endif
    case COL_ONEDNN: {
        dnnl_sgemm_fn f;
        memcpy(&f, &o->dnnl_sgemm, sizeof f);
        f(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, N, s->K, 1, o->a, o->lda, o->b, o->ldb, 0,
          o->c, N);
        break;
    }
    default: break;
    }
}

/* Fills the operands of shape s with a fixed pseudo-random pattern. */
static bool operands_init(operands *o, const shape *s, bool f32) {
    const size_t el = f32 ? sizeof(float) : sizeof(double);
    *o = (operands){.s = s, .f32 = f32};
    o->lda = s->ta ? s->M : s->K;
    o->ldb = s->tb ? s->K : s->N;
    const int64_t na = s->M * s->K, nb = s->K * s->N, nc = s->M * s->N;
    o->a = malloc((size_t)na * el), o->b = malloc((size_t)nb * el), o->c = malloc((size_t)nc * el);
    if (!o->a || !o->b || !o->c) return false;
    uint32_t x = 12345;
    for (int64_t i = 0; i < na + nb; i++) {
        x = x * 1664525u + 1013904223u;
        const double v = (double)(x >> 8) / 16777216.0 - 0.5;
        void *dst = i < na ? o->a : o->b;
        const int64_t j = i < na ? i : i - na;
        if (f32) ((float *)dst)[j] = (float)v;
        else ((double *)dst)[j] = v;
    }
    return true;
}

static void operands_free(operands *o) {
    free(o->a), free(o->b), free(o->c);
}

/* GFLOP/s of column `col` on (shape, dtype), and the relative difference
 * of its product from ref (copied into ref when *have_ref is false). */
static double measure(operands *o, int col, bool wall, double *ref, bool *have_ref, double *diff) {
    o->col = col;
    const shape *s = o->s;
    const double t = wall ? bench_median(run_one, o, 5, 0.2) : bench_cpu_median(run_one, o, 5, 0.2);
    const int64_t nc = s->M * s->N;
    double *got = malloc((size_t)nc * sizeof *got);
    *diff = NAN;
    if (got) {
        for (int64_t i = 0; i < nc; i++)
            got[i] = o->f32 ? (double)((float *)o->c)[i] : ((double *)o->c)[i];
        if (!*have_ref) {
            memcpy(ref, got, (size_t)nc * sizeof *got);
            *have_ref = true;
        }
        *diff = bench_rel_diff(got, ref, (int)nc);
        free(got);
    }
    return 2.0 * (double)s->M * (double)s->N * (double)s->K / t / 1e9;
}

/* The child's job (TAPEGRAD_BENCH_GEMM_CHILD=openblas|onednn): one line
 * "i dtype gflops" per shape and dtype, on this process's library as its
 * environment configured it. */
static void child(const char *which) {
    const bool dnnl = strcmp(which, "onednn") == 0;
    void *fn = NULL;
    if (dnnl) {
        void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!h) h = dlopen("libdnnl.so.3", RTLD_NOW | RTLD_LOCAL);
        if (!h) h = dlopen("libdnnl.so", RTLD_NOW | RTLD_LOCAL);
        fn = h ? dlsym(h, "dnnl_sgemm") : NULL;
        if (!fn) return;
    }
    /* TAPEGRAD_BENCH_GEMM_THREADS: the threads its environment gave the
     * library, timed by the wall clock; else one thread, by CPU time */
    const bool wall = getenv("TAPEGRAD_BENCH_GEMM_THREADS") != NULL;
#ifndef TAPEGRAD_BENCH_CBLAS
    if (!dnnl) return;
#else
    if (!wall) ag_set_blas_threads(1);
#endif
    for (int i = 0; i < NSHAPES; i++) {
        for (int f = 0; f < 2; f++) {
            if (dnnl && f == 1) continue; /* oneDNN has no f64 GEMM */
            operands o;
            if (!operands_init(&o, &shapes[i], f == 0)) {
                operands_free(&o);
                continue;
            }
            o.dnnl_sgemm = fn;
            o.col = dnnl ? COL_ONEDNN : COL_FORCED;
            const double t = wall ? bench_median(run_one, &o, 5, 0.2) : bench_cpu_median(run_one, &o, 5, 0.2);
            const shape *s = o.s;
            /* the product's checksum, so the parent can see a wrong answer */
            double sum = 0;
            for (int64_t k = 0; k < s->M * s->N; k++)
                sum += f == 0 ? fabs((double)((float *)o.c)[k]) : fabs(((double *)o.c)[k]);
            printf("%d %d %.3f %.9g\n", i, f, 2.0 * (double)s->M * s->N * s->K / t / 1e9, sum);
            operands_free(&o);
        }
    }
}

/* Runs this program as the child `which` with `env` before it; fills
 * gf[shape][dtype] and sums[shape][dtype]. False when it gave nothing. */
static bool run_child(const char *which, const char *env, int threads, double gf[][2],
                      double sums[][2]) {
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return false;
    exe[n] = '\0';
    char cmd[5000], out[4096];
    char wall[64] = "";
    if (threads > 1) snprintf(wall, sizeof wall, "TAPEGRAD_BENCH_GEMM_THREADS=%d ", threads);
    snprintf(cmd, sizeof cmd, "%s %sTAPEGRAD_BENCH_GEMM_CHILD=%s OMP_NUM_THREADS=%d "
             "OPENBLAS_NUM_THREADS=%d TAPEGRAD_PEER= '%s' gemm 2>/dev/null", env, wall, which,
             threads, threads, exe);
    if (bench_command(cmd, out, sizeof out) != 0) return false;
    bool any = false;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int i, f;
        double g, s;
        if (sscanf(line, "%d %d %lf %lf", &i, &f, &g, &s) == 4 && i >= 0 && i < NSHAPES && f >= 0 &&
            f < 2) {
            gf[i][f] = g, sums[i][f] = s;
            any = true;
        }
    }
    return any;
}

/* One core's peak: clock (cpu MHz of /proc/cpuinfo, the nominal clock a
 * VM reports) x 2 FMA units x lanes x 2 flops. Two FMA units is what the
 * AVX2 and AVX-512 server cores of Intel (Skylake-SP Gold/Platinum and
 * later) and AMD (Zen) have; a measured rate above the one-unit figure
 * confirms it. */
static double peak_gflops(bool f32, double *mhz) {
    *mhz = NAN;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", mhz) == 1) break;
    if (f) fclose(f);
    const ag_isa isa = ag__cpu_isa_detected();
    const int bytes = isa == AG_ISA_AVX512 ? 64 : isa == AG_ISA_AVX2 ? 32 : 16;
    const int fma = isa == AG_ISA_SSE2 ? 1 : 2; /* SSE2 has no FMA: mul + add ports */
    return *mhz / 1e3 * 2 * fma * (bytes / (f32 ? 4 : 8));
}

/* At the default thread count (the cores this process may use): the
 * built-in GEMM split over tapegrad's pool, OpenBLAS with as many threads
 * (with its core type forced in a child when the installed pick is not the
 * best) and oneDNN with as many OpenMP threads, by the wall clock; own1
 * holds the built-in's one-thread figures, for the scaling. */
static void threads_table(double own1[][2], const char *best_core, const char *env) {
    const int n = bench_cores();
    if (n < 2) return;
    double dnnl[NSHAPES][2], dsum[NSHAPES][2], forced[NSHAPES][2], fsum[NSHAPES][2];
    for (int i = 0; i < NSHAPES; i++)
        for (int f = 0; f < 2; f++) dnnl[i][f] = dsum[i][f] = forced[i][f] = fsum[i][f] = NAN;
    run_child("onednn", "", n, dnnl, dsum);
    if (best_core) run_child("openblas", env, n, forced, fsum);
    ag_set_num_threads(n);
    char line[200];
    snprintf(line, sizeof line, "GFLOP/s at %d threads, wall clock: tapegrad's pool, OpenBLAS's and "
             "oneDNN's OpenMP threads each set to %d", n, n);
    bench_target_line("gemm", line);
    double g[NSHAPES][2][4]; /* builtin, openblas, openblas forced, onednn */
    for (int i = 0; i < NSHAPES; i++) {
        for (int f = 0; f < 2; f++) {
            for (int c = 0; c < 4; c++) g[i][f][c] = NAN;
            operands o;
            double *ref = malloc((size_t)(shapes[i].M * shapes[i].N) * sizeof *ref);
            bool have_ref = false;
            double d;
            if (ref && operands_init(&o, &shapes[i], f == 0)) {
                g[i][f][0] = measure(&o, COL_SSE2 + (int)ag__cpu_isa(), true, ref, &have_ref, &d);
#ifdef TAPEGRAD_BENCH_CBLAS
                g[i][f][1] = measure(&o, COL_OPENBLAS, true, ref, &have_ref, &d);
#endif
            }
            free(ref);
            operands_free(&o);
            g[i][f][2] = forced[i][f];
            g[i][f][3] = dnnl[i][f];
            double best = NAN;
            for (int c = 1; c < 4; c++)
                if (isfinite(g[i][f][c]) && !(g[i][f][c] <= best)) best = g[i][f][c];
            char metric[64], note[160];
            snprintf(metric, sizeof metric, "best_over_builtin_%s_%s_%dt", shapes[i].slug,
                     f == 0 ? "f32" : "f64", n);
            snprintf(note, sizeof note, "builtin %.1f (%.2fx its 1 thread), best %.1f GFLOP/s", g[i][f][0],
                     g[i][f][0] / own1[i][f], best);
            bench_emit(NULL, &(bench_row){"gemm", metric, best / g[i][f][0], "x", NULL, 1 / 0.85, note});
        }
    }
    printf("  %-17s %-4s %12s %12s %12s %15s %12s  builtin/best\n", "shape", "", "builtin 1t", "builtin",
           "scaling", "openblas", "onednn");
    for (int i = 0; i < NSHAPES; i++)
        for (int f = 0; f < 2; f++) {
            const double ob = isfinite(g[i][f][2]) ? g[i][f][2] : g[i][f][1];
            double best = ob;
            if (isfinite(g[i][f][3]) && !(g[i][f][3] <= best)) best = g[i][f][3];
            printf("  %-17s %-4s %12.1f %12.1f %11.2fx %15.1f %12.1f  %5.0f %%\n", shapes[i].name,
                   f == 0 ? "f32" : "f64", own1[i][f], g[i][f][0], g[i][f][0] / own1[i][f], ob, g[i][f][3],
                   100 * g[i][f][0] / best);
        }
}

void bench_gemm(void) {
    const char *as_child = getenv("TAPEGRAD_BENCH_GEMM_CHILD");
    if (as_child && *as_child) {
        child(as_child);
        return;
    }
    static const char *const col_name[NCOLS] = {"builtin-sse2", "builtin-avx2", "builtin-avx512",
                                                "engine", "openblas", "openblas-forced", "onednn"};
    double gf[NSHAPES][2][NCOLS], diff[NSHAPES][2][NCOLS];
    for (int i = 0; i < NSHAPES; i++)
        for (int f = 0; f < 2; f++)
            for (int c = 0; c < NCOLS; c++) gf[i][f][c] = diff[i][f][c] = NAN;

    char core[64];
    const char *best_core = bench_openblas_best_coretype(core, sizeof core);
    double forced[NSHAPES][2], fsum[NSHAPES][2], dnnl[NSHAPES][2], dsum[NSHAPES][2];
    for (int i = 0; i < NSHAPES; i++)
        for (int f = 0; f < 2; f++) forced[i][f] = fsum[i][f] = dnnl[i][f] = dsum[i][f] = NAN;
    char env[96] = "";
    if (best_core) snprintf(env, sizeof env, "OPENBLAS_CORETYPE=%s", best_core);
    bool have_forced = best_core && run_child("openblas", env, 1, forced, fsum);
    bool have_dnnl = run_child("onednn", "", 1, dnnl, dsum);

    const ag_isa detected = ag__cpu_isa(), saved = detected;
#ifdef TAPEGRAD_BENCH_CBLAS
    const int blas_threads = ag_set_blas_threads(1);
#endif
    const int threads_before = ag_get_num_threads();
    ag_set_num_threads(1); /* also OpenBLAS's */
    for (int i = 0; i < NSHAPES; i++) {
        for (int f = 0; f < 2; f++) {
            operands o;
            double *ref = malloc((size_t)(shapes[i].M * shapes[i].N) * sizeof *ref);
            if (!ref || !operands_init(&o, &shapes[i], f == 0)) {
                free(ref);
                operands_free(&o);
                continue;
            }
            bool have_ref = false;
            for (int c = COL_SSE2; c <= COL_AVX512; c++) {
                if (!ag__cpu_set_isa((ag_isa)(c - COL_SSE2))) continue;
                gf[i][f][c] = measure(&o, c, false, ref, &have_ref, &diff[i][f][c]);
            }
            ag__cpu_set_isa(saved);
            gf[i][f][COL_ENGINE] = measure(&o, COL_ENGINE, false, ref, &have_ref, &diff[i][f][COL_ENGINE]);
#ifdef TAPEGRAD_BENCH_CBLAS
            gf[i][f][COL_OPENBLAS] = measure(&o, COL_OPENBLAS, false, ref, &have_ref, &diff[i][f][COL_OPENBLAS]);
#endif
            /* the children's products, by their checksums against ours */
            double sum = 0;
            for (int64_t k = 0; k < shapes[i].M * shapes[i].N; k++) sum += fabs(ref[k]);
            gf[i][f][COL_FORCED] = forced[i][f];
            diff[i][f][COL_FORCED] = fabs(fsum[i][f] - sum) / sum;
            gf[i][f][COL_ONEDNN] = dnnl[i][f];
            diff[i][f][COL_ONEDNN] = fabs(dsum[i][f] - sum) / sum;
            free(ref);
            operands_free(&o);
        }
    }
    ag__cpu_set_isa(saved);

    double mhz;
    const double p32 = peak_gflops(true, &mhz), p64 = peak_gflops(false, &mhz);
    char line[400];
    snprintf(line, sizeof line, "GFLOP/s, 1 thread; CPU level %s, OpenBLAS core '%s'%s%s; oneDNN %s; "
             "peak of one core %.0f (f32) / %.0f (f64) = %.0f MHz x 2 FMA units x lanes x 2",
             ag__cpu_isa_name(detected), core, best_core ? ", forced: " : " (right for this CPU)",
             best_core ? best_core : "", have_dnnl ? "loaded" : "not found", p32, p64, mhz);
    bench_target_line("gemm", line);
    /* the harness's rows first, then the table they come from */
    double own[NSHAPES][2], best[NSHAPES][2];
    for (int i = 0; i < NSHAPES; i++) {
        for (int f = 0; f < 2; f++) {
            best[i][f] = NAN;
            for (int c = COL_OPENBLAS; c < NCOLS; c++)
                if (isfinite(gf[i][f][c]) && !(gf[i][f][c] <= best[i][f])) best[i][f] = gf[i][f][c];
            own[i][f] = gf[i][f][COL_SSE2 + (int)detected];
            char metric[64], note[160];
            snprintf(metric, sizeof metric, "best_over_builtin_%s_%s", shapes[i].slug,
                     f == 0 ? "f32" : "f64");
            snprintf(note, sizeof note, "%s %lldx%lldx%lld: builtin %.1f, best %.1f GFLOP/s",
                     shapes[i].name, (long long)shapes[i].M, (long long)shapes[i].N,
                     (long long)shapes[i].K, own[i][f], best[i][f]);
            bench_emit(NULL, &(bench_row){"gemm", metric, best[i][f] / own[i][f], "x", NULL, 1 / 0.85,
                                          note});
        }
    }
    printf("  %-17s %-4s", "shape", "");
    for (int c = 0; c < NCOLS; c++) printf(" %15s", col_name[c]);
    printf("  builtin/best\n");
    for (int i = 0; i < NSHAPES; i++) {
        for (int f = 0; f < 2; f++) {
            printf("  %-17s %-4s", shapes[i].name, f == 0 ? "f32" : "f64");
            for (int c = 0; c < NCOLS; c++) {
                if (!isfinite(gf[i][f][c])) printf(" %15s", "-");
                else printf(" %13.1f%s", gf[i][f][c], diff[i][f][c] < 1e-4 ? "  " : " !");
            }
            printf("  %5.0f %%\n", 100 * own[i][f] / best[i][f]);
        }
    }
    printf("  (! marks a product that differs from the first column's by more than 1e-4, relative)\n");
    (void)have_forced;
    threads_table(own, best_core, env);
    ag_set_num_threads(threads_before);
#ifdef TAPEGRAD_BENCH_CBLAS
    ag_set_blas_threads(blas_threads);
#endif
}
