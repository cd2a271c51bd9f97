/* The f32 vector math (kernels/vmath.h) against double-precision libm, on
 * every implementation this machine can run: the portable C one and one per
 * vector level up to the CPU's. Each kernel must be within 2 ulp of the
 * double reference over a sweep of the whole float range, and give C's
 * special values (NaN, ±inf, signed zeros, denormals, overflow and
 * underflow thresholds, huge arguments of sin and cos) exactly. The
 * exhaustive check of all 2^32 floats is ./dev accuracy. */
#include "testutil.h"

#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "vmath.h"
#include "vmath_ref.h"

typedef struct kernel {
    const char *name;
    size_t offset; /* of the function in ag_vmath */
    double (*ref)(double);
    double (*scale)(double); /* what the ulp is of (NULL: the result) */
} kernel;

#define KERNEL(f, ...) {#f, offsetof(ag_vmath, f), ref_##f, __VA_ARGS__}
static const kernel kernels[] = {
    KERNEL(exp, NULL),      KERNEL(log, NULL),       KERNEL(tanh, NULL),
    KERNEL(sigmoid, NULL),  KERNEL(softplus, NULL),  KERNEL(sin, NULL),
    KERNEL(cos, NULL),      {"normcdf", offsetof(ag_vmath, normcdf), ref_normal_cdf, NULL},
    KERNEL(gelu, NULL),     KERNEL(gelu_grad, ref_scale_gelu_grad), KERNEL(erf, NULL),
};
#define NKERNELS ((int)(sizeof kernels / sizeof kernels[0]))

/* The backward kernels: f' as the rule lines of ops/unary_rules.h write it
 * in double, from x and the f32 forward output y. */
static double d_exp(double x, double y) { (void)x; return y; }
static double d_log(double x, double y) { (void)y; return 1 / x; }
static double d_tanh(double x, double y) { (void)x; return 1 - y * y; }
static double d_sigmoid(double x, double y) { (void)x; return y * (1 - y); }
static double d_softplus(double x, double y) { (void)y; return ref_sigmoid(x); }
static double d_sin(double x, double y) { (void)y; return cos(x); }
static double d_cos(double x, double y) { (void)y; return -sin(x); }
static double d_gelu(double x, double y) { (void)y; return ref_gelu_grad(x); }
static double d_gelu_grad(double x, double y) { (void)y; return ref_normal_pdf(x) * (2 - x * x); }
static double d_erf(double x, double y) { (void)y; return M_2_SQRTPI * exp(-x * x); }

typedef struct grad_kernel {
    const char *name;
    size_t offset, fwd_offset; /* of the backward and the forward kernel */
    double (*ref)(double x, double y);
    double (*scale)(double);
} grad_kernel;

#define GRAD(f, ...) {#f "_bwd", offsetof(ag_vmath, f##_bwd), offsetof(ag_vmath, f), d_##f, __VA_ARGS__}
static const grad_kernel grads[] = {
    GRAD(exp, NULL),  GRAD(log, NULL), GRAD(tanh, NULL),  GRAD(sigmoid, NULL),
    GRAD(softplus, NULL), GRAD(sin, NULL), GRAD(cos, NULL),
    GRAD(gelu, ref_scale_gelu_grad), GRAD(gelu_grad, NULL), GRAD(erf, NULL),
};
#define NGRADS ((int)(sizeof grads / sizeof grads[0]))

static ag_vfun *fun(const ag_vmath *vm, size_t offset) {
    return *(ag_vfun *const *)((const char *)vm + offset);
}

static ag_vgrad *grad_fun(const ag_vmath *vm, size_t offset) {
    return *(ag_vgrad *const *)((const char *)vm + offset);
}

/* The implementations to test: generic, then every level the CPU has. */
static int paths(const ag_vmath **out, const char **names) {
    int n = 0;
    out[n] = &ag__vmath_generic;
    names[n++] = "generic";
    for (int isa = AG_ISA_SSE2; isa <= AG_ISA_AVX512; isa++) {
        const ag_vmath *vm = ag__vmath_for((ag_isa)isa);
        if (vm && vm != &ag__vmath_generic) {
            out[n] = vm;
            names[n++] = ag__cpu_isa_name((ag_isa)isa);
        }
    }
    return n;
}

/* The error of y = f(x) in ulp, or -1 when a special value is wrong: NaN
 * where the reference has none (or none where it has), an infinity other
 * than the rounded reference's, an exact zero of the wrong sign (sin(-0)). */
static double error_of(double r, double scale, float y) {
    float rf = (float)r;
    if (isnan(rf) || isnan(y)) return isnan(rf) && isnan(y) ? 0 : -1;
    if (isinf(rf) || isinf(y)) return rf == y ? 0 : -1;
    if (r == 0 && y == 0) return !signbit(r) == !signbit(y) ? 0 : -1;
    return fabs(y - r) / ref_ulp(scale);
}

static double error_ulp(const kernel *k, float x, float y) {
    double r = k->ref(x);
    return error_of(r, k->scale ? k->scale(x) : r, y);
}

enum { BATCH = 4096 };

/* Runs f over xs[0..n) and returns the worst error (-1 for a wrong special
 * value), with its argument in *worst. */
static double worst_error(const kernel *k, ag_vfun *f, const float *xs, int n, float *worst) {
    static float ys[BATCH];
    f(xs, ys, n);
    double max = 0;
    for (int i = 0; i < n; i++) {
        double e = error_ulp(k, xs[i], ys[i]);
        if (e < 0 || e > max) {
            max = e;
            *worst = xs[i];
            if (e < 0) break;
        }
    }
    return max;
}

static void check_batch(const kernel *k, const char *path, ag_vfun *f, const float *xs, int n) {
    float worst = 0;
    double e = worst_error(k, f, xs, n, &worst);
    float y;
    f(&worst, &y, 1);
    ck_assert_msg(e >= 0 && e <= 2.0, "%s (%s): %s(%a) = %a, reference %a: %g ulp", k->name, path,
                  k->name, worst, y, (float)k->ref(worst), e);
}

/* A sweep of the whole float range (every 262139th bit pattern, both
 * signs), and a dense one of [-20, 20] where the kernels switch formulas. */
START_TEST(within_two_ulp) {
    const kernel *k = &kernels[_i];
    const ag_vmath *vms[4];
    const char *names[4];
    int np = paths(vms, names);
    static float xs[BATCH];
    for (int p = 0; p < np; p++) {
        ag_vfun *f = fun(vms[p], k->offset);
        int n = 0;
        for (uint64_t b = 12345; b < (1ull << 32); b += 262139) {
            uint32_t bits = (uint32_t)b;
            memcpy(&xs[n++], &bits, sizeof bits);
            if (n == BATCH) check_batch(k, names[p], f, xs, n), n = 0;
        }
        for (int i = 0; i < 6 * BATCH; i++) {
            xs[n++] = -20.0f + 40.0f * (float)i / (6 * BATCH) + 1e-4f * (float)(i % 7);
            if (n == BATCH) check_batch(k, names[p], f, xs, n), n = 0;
        }
        if (n) check_batch(k, names[p], f, xs, n);
    }
}
END_TEST

/* The edges: zeros, infinities, NaN, denormals, the largest floats, where
 * exp overflows and underflows, sin's argument reductions switching
 * method, and the far tail of the normal distribution. */
START_TEST(special_values) {
    static const float xs[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 0x1p-149f, -0x1p-149f, 0x1.fffffcp-127f,
        0x1p-126f, -0x1p-126f, FLT_MAX, -FLT_MAX, FLT_MIN, 1.0f, -1.0f, 0.5f, 88.72283f,
        88.72284f, 89.0f, -87.33654f, -87.33655f, -103.9720f, -103.9721f, -104.0f, -150.0f,
        0.625f, -0.625f, 9.01f, 44.4f, -44.4f, 0x1.a8279ap-2f, 1e5f, 0x1p17f, 0x1.000002p17f,
        0x1p20f, 0x1.000002p20f, 1e30f, -1e30f, 3.14159265f, 1.57079633f, 0x1.921fb6p+1f,
        -14.0f, -13.5f, -14.5f, -15.0f, -16.0f, 15.0f, 0.75179f, -0.75179f, 1.41421356f,
        -5.3f, 5.3f, 1e-20f, -1e-20f, 1e-40f, -1e-40f};
    const int n = (int)(sizeof xs / sizeof xs[0]);
    const ag_vmath *vms[4];
    const char *names[4];
    int np = paths(vms, names);
    for (int p = 0; p < np; p++)
        for (int ki = 0; ki < NKERNELS; ki++) check_batch(&kernels[ki], names[p], fun(vms[p], kernels[ki].offset), xs, n);
}
END_TEST

/* Every length from 0 to 40 (whole vectors and the padded tail), out of
 * place and in place: each element as computed alone, nothing written past
 * n. */
START_TEST(lengths_and_in_place) {
    const kernel *k = &kernels[_i];
    const ag_vmath *vms[4];
    const char *names[4];
    int np = paths(vms, names);
    float x[48], y[48], z[48], one;
    for (int p = 0; p < np; p++) {
        ag_vfun *f = fun(vms[p], k->offset);
        for (int n = 0; n <= 40; n++) {
            for (int i = 0; i < 48; i++) {
                x[i] = 0.37f * (float)(i - 20) + 0.01f;
                y[i] = z[i] = -7.0f;
            }
            f(x, y, n);
            memcpy(z, x, sizeof z);
            f(z, z, n); /* in place */
            for (int i = 0; i < 48; i++) {
                if (i >= n) {
                    ck_assert_msg(y[i] == -7.0f, "%s (%s) n=%d wrote y[%d]", k->name, names[p], n, i);
                    ck_assert(z[i] == x[i]);
                    continue;
                }
                f(&x[i], &one, 1);
                ck_assert_msg(memcmp(&y[i], &one, sizeof one) == 0 && memcmp(&z[i], &one, sizeof one) == 0,
                              "%s (%s) n=%d: element %d differs", k->name, names[p], n, i);
            }
        }
    }
}
END_TEST

/* Each backward kernel with g = 1 onto gx = -0 gives f' itself: within
 * 2 ulp of f' in double over the sweeps of within_two_ulp; then onto
 * gx = 0.5 with g = -1.5 it accumulates gx + g f'. */
START_TEST(backward_within_two_ulp) {
    const grad_kernel *k = &grads[_i];
    const ag_vmath *vms[4];
    const char *names[4];
    int np = paths(vms, names);
    static float xs[BATCH], ys[BATCH], gs[BATCH], gx[BATCH];
    for (int p = 0; p < np; p++) {
        ag_vgrad *f = grad_fun(vms[p], k->offset);
        for (int round = 0; round < 8; round++) {
            for (int i = 0; i < BATCH; i++) {
                if (round < 4) {
                    uint32_t bits = (uint32_t)(12345u + 262139u * (uint32_t)(round * BATCH + i));
                    memcpy(&xs[i], &bits, sizeof bits);
                } else {
                    xs[i] = -20.0f + 40.0f * (float)((round - 4) * BATCH + i) / (4 * BATCH);
                }
                gs[i] = 1.0f;
                gx[i] = -0.0f; /* -0 + d is d, signed zeros too */
            }
            fun(vms[p], k->fwd_offset)(xs, ys, BATCH);
            f(xs, ys, gs, gx, BATCH);
            for (int i = 0; i < BATCH; i++) {
                double r = k->ref(xs[i], ys[i]);
                double e = error_of(r, k->scale ? k->scale(xs[i]) : r, gx[i]);
                ck_assert_msg(e >= 0 && e <= 2.0, "%s (%s): at x = %a (y = %a): %a, reference %a: %g ulp",
                              k->name, names[p], xs[i], ys[i], gx[i], (float)r, e);
            }
        }
        for (int i = 0; i < 37; i++) {
            xs[i] = 0.3f * (float)(i - 18) + 0.05f;
            gs[i] = -1.5f;
            gx[i] = 0.5f;
        }
        fun(vms[p], k->fwd_offset)(xs, ys, 37);
        f(xs, ys, gs, gx, 37);
        for (int i = 0; i < 37; i++) {
            double r = 0.5 - 1.5 * k->ref(xs[i], ys[i]);
            if (isnan(r)) continue; /* log of a negative x */
            ck_assert_msg(fabs(gx[i] - r) <= 1e-6 * (0.5 + fabs(r)), "%s (%s): accumulated %a, reference %a",
                          k->name, names[p], gx[i], r);
        }
    }
}
END_TEST

/* exp_shift: e^(x - shift) for shifts that are not floats (a log-sum in
 * double, split by ag__vmath_split), strided and contiguous, within 2 ulp
 * of the difference taken in double; infinite differences give 0 and inf;
 * and ag__vmath_sum_exp sums what it writes. */
START_TEST(exp_shift_within_two_ulp) {
    static const double shifts[] = {0.0, 3.7000000001, -50.25, 87.123456789, 1e-7, -0.693147180559945};
    const ag_vmath *vms[4];
    const char *names[4];
    int np = paths(vms, names);
    enum { N = 3001 };
    static float xs[3 * N], ys[N];
    for (int i = 0; i < 3 * N; i++) xs[i] = -130.0f + 230.0f * (float)i / (3 * N) + 1e-3f * (float)(i % 11);
    for (int p = 0; p < np; p++) {
        for (size_t si = 0; si < sizeof shifts / sizeof shifts[0]; si++) {
            float hi, lo;
            ag__vmath_split(shifts[si], &hi, &lo);
            for (int stride = 1; stride <= 3; stride += 2) {
                vms[p]->exp_shift(xs, stride, ys, N, hi, lo);
                for (int i = 0; i < N; i++) {
                    double r = exp((double)xs[i * stride] - shifts[si]);
                    double e = error_of(r, r, ys[i]);
                    ck_assert_msg(e >= 0 && e <= 2.0, "exp_shift (%s): e^(%a - %.17g) = %a, reference %a: %g ulp",
                                  names[p], xs[i * stride], shifts[si], ys[i], (float)r, e);
                }
            }
        }
        const float special[4] = {-INFINITY, INFINITY, NAN, 1.0f};
        float out[4];
        vms[p]->exp_shift(special, 1, out, 4, 2.5f, 0.0f);
        ck_assert(out[0] == 0.0f && out[1] == INFINITY && isnan(out[2]));
        ck_assert_float_eq_tol(out[3], (float)exp(-1.5), 1e-7f);
    }
    double sum = ag__vmath_sum_exp(xs, 3, 700, 1.25), ref = 0;
    for (int i = 0; i < 700; i++) ref += exp((double)xs[3 * i] - 1.25);
    ck_assert_double_eq_tol(sum, ref, 1e-6 * ref);
}
END_TEST

/* ag__vmath follows the vector level in use, including a lowered one. */
START_TEST(dispatch_follows_level) {
    ag_isa saved = ag__cpu_isa();
    for (int isa = AG_ISA_SSE2; isa <= (int)ag__cpu_isa_detected(); isa++) {
        ck_assert(ag__cpu_set_isa((ag_isa)isa));
        ck_assert_ptr_nonnull(ag__vmath_for((ag_isa)isa));
        ck_assert_ptr_eq(ag__vmath(), ag__vmath_for((ag_isa)isa));
    }
    if (ag__cpu_isa_detected() < AG_ISA_AVX512) ck_assert_ptr_null(ag__vmath_for(AG_ISA_AVX512));
    ck_assert(ag__cpu_set_isa(saved));
}
END_TEST

int main(void) {
    Suite *s = suite_create("vmath");
    TCase *tc = tcase_create("vmath");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, within_two_ulp, 0, NKERNELS);
    tcase_add_test(tc, special_values);
    tcase_add_loop_test(tc, backward_within_two_ulp, 0, NGRADS);
    tcase_add_test(tc, exp_shift_within_two_ulp);
    tcase_add_loop_test(tc, lengths_and_in_place, 0, NKERNELS);
    tcase_add_test(tc, dispatch_follows_level);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
