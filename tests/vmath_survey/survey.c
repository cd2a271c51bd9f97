/* vmath_survey: the f32 vector math (autograd/kernels/vmath.h) measured,
 * not tested: `./dev accuracy` runs it. For every implementation the CPU
 * can run and every kernel, the largest error in ulp against double libm
 * over every float (--exhaustive; or every STRIDE-th bit pattern, default
 * 61) and the argument where it occurs; then the speed, ns per element on
 * 4096 floats in cache, beside SLEEF's kernels (when the build found
 * libsleef) and the double libm loop the f32 ops ran before. The figures
 * behind the README's "Vector math" section. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "survey.h"
#include "vmath.h"
#include "vmath_ref.h"

typedef struct kernel {
    const char *name;
    size_t offset;
    double (*ref)(double);
    double (*scale)(double); /* what the ulp is of; NULL: the result */
    int sleef;               /* index into the SLEEF wrappers, or -1 */
    float lo, hi;            /* the speed test's inputs */
} kernel;

#define K_(f, r, s, sl, lo, hi) {#f, offsetof(ag_vmath, f), r, s, sl, lo, hi}
static const kernel kernels[] = {
    K_(exp, ref_exp, NULL, SV_EXP, -4, 4),       K_(log, ref_log, NULL, SV_LOG, 0.1f, 4),
    K_(tanh, ref_tanh, NULL, SV_TANH, -4, 4),    K_(sigmoid, ref_sigmoid, NULL, SV_SIGMOID, -4, 4),
    K_(softplus, ref_softplus, NULL, -1, -4, 4), K_(sin, ref_sin, NULL, SV_SIN, -4, 4),
    K_(cos, ref_cos, NULL, SV_COS, -4, 4),       K_(normcdf, ref_normal_cdf, NULL, SV_NORMCDF, -4, 4),
    K_(gelu, ref_gelu, NULL, SV_GELU, -4, 4),    K_(gelu_grad, ref_gelu_grad, ref_scale_gelu_grad, -1, -4, 4),
    K_(erf, ref_erf, NULL, SV_ERF, -4, 4),
};
enum { NK = sizeof kernels / sizeof kernels[0] };

static ag_vfun *fun(const ag_vmath *vm, size_t off) { return *(ag_vfun *const *)((const char *)vm + off); }

/* Largest error (ulp) of f over the bit patterns 0, stride, 2 stride, ...;
 * a wrong special value (NaN, inf, exact zero's sign) counts in *bad. */
static double survey(const kernel *k, ag_vfun *f, uint64_t stride, float *worst, uint64_t *bad) {
    enum { B = 4096 };
    static float xs[B], ys[B];
    double max = 0;
    *bad = 0;
    for (uint64_t b0 = 0; b0 < (1ull << 32); b0 += (uint64_t)B * stride) {
        int m = 0;
        for (uint64_t i = 0; i < B && b0 + i * stride < (1ull << 32); i++) {
            uint32_t bits = (uint32_t)(b0 + i * stride);
            memcpy(&xs[m++], &bits, sizeof bits);
        }
        f(xs, ys, m);
        for (int i = 0; i < m; i++) {
            double r = k->ref(xs[i]), y = ys[i];
            float rf = (float)r;
            if (isnan(r) || isnan(y) || isinf(rf) || isinf(y) || (r == 0 && y == 0)) {
                bool ok = isnan(r) || isnan(y) ? isnan(r) && isnan(y)
                          : isinf(rf) || isinf(y) ? rf == y
                                                  : !signbit(r) == !signbit(y);
                *bad += !ok;
                continue;
            }
            double e = fabs(y - r) / ref_ulp(k->scale ? k->scale(xs[i]) : r);
            if (e > max) max = e, *worst = xs[i];
        }
    }
    return max;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Median ns per element of f over n floats, in cache. */
static double speed(ag_vfun *f, const float *x, float *y, int n) {
    double t[31];
    for (int r = 0; r < 31; r++) {
        double t0 = now();
        for (int k = 0; k < 20; k++) f(x, y, n);
        t[r] = (now() - t0) / (20.0 * n) * 1e9;
    }
    for (int i = 1; i < 31; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double s = t[j];
            t[j] = t[j - 1], t[j - 1] = s;
        }
    return t[15];
}

/* The loop the f32 ops ran before: libm in double, element by element. */
#define LIBM(name, expr)                                                     \
    static void libm_##name(const float *x, float *y, int64_t n) {           \
        for (int64_t i = 0; i < n; i++) y[i] = (float)(expr);                \
    }
LIBM(exp, exp((double)x[i]))
LIBM(log, log((double)x[i]))
LIBM(tanh, tanh((double)x[i]))
LIBM(gelu, ref_gelu(x[i]))
LIBM(erf, erf((double)x[i]))

int main(int argc, char **argv) {
    uint64_t stride = 61;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--exhaustive") == 0) stride = 1;
        else if (strcmp(argv[a], "--stride") == 0 && a + 1 < argc) stride = strtoull(argv[++a], NULL, 10);
        else {
            fprintf(stderr, "usage: vmath_survey [--exhaustive | --stride N]\n");
            return 2;
        }
    }
    if (!stride) stride = 1;
    const ag_vmath *vms[4];
    const char *names[4];
    int np = 0;
    vms[np] = &ag__vmath_generic, names[np++] = "generic";
    for (int isa = AG_ISA_SSE2; isa <= (int)ag__cpu_isa_detected(); isa++) {
        const ag_vmath *vm = ag__vmath_for((ag_isa)isa);
        if (vm && vm != &ag__vmath_generic) vms[np] = vm, names[np++] = ag__cpu_isa_name((ag_isa)isa);
    }
    printf("accuracy: max error in ulp against double libm over %s floats (worst argument)\n",
           stride == 1 ? "all 2^32" : "a sweep of the");
    if (stride > 1) printf("  (every %llu-th bit pattern)\n", (unsigned long long)stride);
    for (int k = 0; k < NK; k++) {
        printf("%-10s", kernels[k].name);
        for (int p = 0; p < np; p++) {
            float worst = 0;
            uint64_t bad;
            double e = survey(&kernels[k], fun(vms[p], kernels[k].offset), stride, &worst, &bad);
            printf("  %s %.3f (%.6g)%s", names[p], e, worst, bad ? " SPECIAL VALUES WRONG" : "");
            fflush(stdout);
        }
        ag_vfun *sl = kernels[k].sleef >= 0 ? sv_fun(sv_level(ag__cpu_isa_detected()), kernels[k].sleef, 10) : NULL;
        if (sl) {
            float worst = 0;
            uint64_t bad;
            double e = survey(&kernels[k], sl, stride, &worst, &bad);
            printf("  sleef %.3g (%.6g)%s", e, worst, bad ? " (special values differ)" : "");
        }
        printf("\n");
    }
    enum { N = 4096 };
    static float x[N], y[N];
    const int sleef_level = sv_level(ag__cpu_isa_detected());
    printf("\nspeed: ns per element, %d floats in cache, one thread\n%-10s", N, "kernel");
    for (int p = 0; p < np; p++) printf(" %8s", names[p]);
    printf(" %11s %11s %9s\n", sleef_level ? sv_name(sleef_level, 10) : "sleef-u10",
           sleef_level ? sv_name(sleef_level, 35) : "sleef-u35", "libm-f64");
    for (int k = 0; k < NK; k++) {
        const kernel *kk = &kernels[k];
        for (int i = 0; i < N; i++) x[i] = kk->lo + (kk->hi - kk->lo) * (float)i / N;
        printf("%-10s", kk->name);
        for (int p = 0; p < np; p++) printf(" %8.3f", speed(fun(vms[p], kk->offset), x, y, N));
        ag_vfun *s10 = kk->sleef >= 0 ? sv_fun(sleef_level, kk->sleef, 10) : NULL;
        ag_vfun *s35 = kk->sleef >= 0 ? sv_fun(sleef_level, kk->sleef, 35) : NULL;
        ag_vfun *lm = k == 0 ? libm_exp : k == 1 ? libm_log : k == 2 ? libm_tanh : k == 8 ? libm_gelu
                    : k == 10 ? libm_erf : NULL;
        if (s10) printf(" %11.3f", speed(s10, x, y, N)); else printf(" %11s", "-");
        if (s35) printf(" %11.3f", speed(s35, x, y, N)); else printf(" %11s", "-");
        if (lm) printf(" %9.3f\n", speed(lm, x, y, N)); else printf(" %9s\n", "-");
    }
    if (!sleef_level) printf("(no SLEEF in this build: install libsleef-dev for its columns)\n");
    printf("SLEEF's sigmoid is 1/(1 + expf), its normcdf 0.5 erfcf(-x/sqrt 2) and its gelu x times that,\n"
           "as PyTorch builds them.\n");
    return 0;
}
