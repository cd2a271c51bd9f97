/* The f32 ops that run on the vector math (kernels/vmath.h): exp, log,
 * tanh, sigmoid, softplus, sin, cos, gelu and gelu's derivative op, erf, and
 * softmax, log_softmax and logsumexp, against the same ops in f64, values
 * and gradients, element by element in ulp, over wide ranges (the tails
 * included) and at every vector level the CPU has. */
#include "testutil.h"

#include <stdio.h>

#include "cpu.h"
#include "vmath_ref.h"

ag_tensor *ag__unary_gelu_grad(ag_tape *t, ag_tensor *x);


/* What gelu's second derivative is bounded in ulp of: its larger term. */
static double scale_gelu_grad2(double x) { return ref_normal_pdf(x) * fmax(2.0, x * x); }

/* The derivatives taken from the output y: the f32 gradient is f' of the
 * f32 y (where tanh(x) rounds to 1, tanh' is 0), so that is its reference. */
static double dy_exp(double y) { return y; }
static double dy_tanh(double y) { return 1 - y * y; }
static double dy_sigmoid(double y) { return y * (1 - y); }

typedef struct {
    const char *name;
    ag_tensor *(*fn)(ag_tape *, ag_tensor *);
    double lo, hi;     /* the range sampled */
    bool log_spaced;   /* sampled evenly in log |x| (lo, hi > 0) */
    double (*value_scale)(double), (*grad_scale)(double); /* NULL: the value itself */
    double (*dy)(double); /* f' from y, or NULL */
} f32_case;

static const f32_case cases[] = {
    {"exp", ag_exp, -100, 88, false, NULL, NULL, dy_exp},
    {"log", ag_log, 1e-30, 1e30, true, NULL, NULL, NULL},
    {"tanh", ag_tanh, -10, 10, false, NULL, NULL, dy_tanh},
    {"sigmoid", ag_sigmoid, -90, 30, false, NULL, NULL, dy_sigmoid},
    {"softplus", ag_softplus, -90, 90, false, NULL, NULL, NULL},
    {"sin", ag_sin, -1e4, 1e4, false, NULL, NULL, NULL},
    {"cos", ag_cos, -1e4, 1e4, false, NULL, NULL, NULL},
    {"gelu", ag_gelu, -14, 8, false, NULL, ref_scale_gelu_grad, NULL},
    {"gelu_grad", ag__unary_gelu_grad, -14, 8, false, ref_scale_gelu_grad, scale_gelu_grad2, NULL},
    {"erf", ag_erf, -6, 6, false, NULL, NULL, NULL},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* |f32 - f64| in ulp of the f32 grid at `scale`; NaN must match NaN and an
 * infinity the rounded f64 value. */
static double ulps(double v32, double v64, double scale) {
    if (isnan(v64) || isnan(v32)) return isnan(v64) && isnan(v32) ? 0 : INFINITY;
    if (isinf((float)v64) || isinf(v32)) return (float)v64 == v32 ? 0 : INFINITY;
    return fabs(v32 - v64) / ref_ulp(scale);
}

enum { N = 3000 };

/* y = op(x) and d sum(y · w)/dx in dtype dt, for the same x and w (floats). */
static void run(const f32_case *c, ag_dtype dt, const double *x, const double *w, double *y, double *g) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *xt = ag_requires_grad(t, ag_from_doubles(t, dt, 1, (int64_t[]){N}, x));
    ag_tensor *yt = c->fn(t, xt);
    ag_tensor *loss = ag_sum(t, ag_mul(t, yt, ag_from_doubles(t, dt, 1, (int64_t[]){N}, w)), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, loss), AG_OK);
    ck_assert_int_eq(ag_to_doubles(yt, y, N), AG_OK);
    for (int i = 0; i < N; i++) g[i] = ag_grad_get(xt, i);
    ag_tape_free(t);
}

/* Values within 2 ulp of f64 (the kernels' bound), gradients w·f' within
 * 3 (f' within 2, then one rounding of the product), at every level; f'
 * from y is taken from the f32 y. */
START_TEST(f32_within_ulp_of_f64) {
    const f32_case *c = &cases[_i];
    static double x[N], w[N], y32[N], y64[N], g32[N], g64[N];
    for (int i = 0; i < N; i++) {
        double u = (i + 0.5) / N;
        x[i] = (float)(c->log_spaced ? exp(log(c->lo) + u * (log(c->hi) - log(c->lo)))
                                     : c->lo + u * (c->hi - c->lo));
        w[i] = (float)(0.25 + 1.5 * ((i * 7919) % 101) / 101.0) * (i % 3 ? 1 : -1);
    }
    ag_isa saved = ag__cpu_isa();
    for (int isa = AG_ISA_SSE2; isa <= (int)ag__cpu_isa_detected(); isa++) {
        ck_assert(ag__cpu_set_isa((ag_isa)isa));
        run(c, AG_F32, x, w, y32, g32);
        run(c, AG_F64, x, w, y64, g64);
        for (int i = 0; i < N; i++) {
            if (c->dy) g64[i] = w[i] * c->dy(y32[i]);
            double vs = c->value_scale ? c->value_scale(x[i]) : y64[i];
            double gs = fabs(w[i]) * (c->grad_scale ? c->grad_scale(x[i]) : fabs(g64[i] / w[i]));
            double ev = ulps(y32[i], y64[i], vs), eg = ulps(g32[i], g64[i], gs);
            ck_assert_msg(ev <= 2.0, "%s (%s) at x = %a: f32 %a, f64 %a: %g ulp", c->name,
                          ag__cpu_isa_name((ag_isa)isa), x[i], y32[i], y64[i], ev);
            ck_assert_msg(eg <= 3.0, "%s' (%s) at x = %a: f32 %a, f64 %a: %g ulp", c->name,
                          ag__cpu_isa_name((ag_isa)isa), x[i], g32[i], g64[i], eg);
        }
    }
    ck_assert(ag__cpu_set_isa(saved));
}
END_TEST

/* softmax, log_softmax and logsumexp over rows (contiguous) and columns
 * (strided) of a (40, 37) matrix with entries in [-40, 40], -inf among
 * them: values within 3 ulp of f64, gradients of sum(y · w) within 4 ulp
 * of the terms they sum (grad_scale). */
typedef ag_tensor *(*axis_fn)(ag_tape *, ag_tensor *, int);
static ag_tensor *lse_keep(ag_tape *t, ag_tensor *x, int axis) { return ag_logsumexp(t, x, axis, true); }

enum { R = 40, C = 37 };

static void run_axis(axis_fn fn, int axis, ag_dtype dt, const double *x, const double *w, double *y,
                     double *g, int64_t ny) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *xt = ag_requires_grad(t, ag_from_doubles(t, dt, 2, (int64_t[]){R, C}, x));
    ag_tensor *yt = fn(t, xt, axis);
    int64_t ws[2] = {axis == 1 ? R : 1, axis == 1 ? 1 : C};
    if (ny == R * C) ws[0] = R, ws[1] = C;
    ag_tensor *wt = ag_from_doubles(t, dt, 2, ws, w);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, yt, wt), AG_ALL, false)), AG_OK);
    ck_assert_int_eq(ag_to_doubles(yt, y, ny), AG_OK);
    for (int i = 0; i < R * C; i++) g[i] = ag_grad_get(xt, i);
    ag_tape_free(t);
}

/* The size of the terms a gradient element sums, what its error is in ulp
 * of: softmax y_i (|w_i| + sum_j |w_j y_j|); log_softmax |w_i| + e^y_i
 * sum_j |w_j|; logsumexp |w| e^(x_i - y). */
static double grad_scale(int f, int axis, int slot, int i, const double *x, const double *w,
                         const double *y) {
    const int len = axis == 1 ? C : R;
    double sum = 0;
    for (int k = 0; k < len; k++) {
        int e = axis == 1 ? slot * C + k : k * C + slot;
        sum += f == 0 ? fabs(w[e] * y[e]) : fabs(w[e]);
    }
    double s = f == 0 ? fabs(y[i]) * (fabs(w[i]) + sum) : f == 1 ? fabs(w[i]) + exp(y[i]) * sum
                                                                  : fabs(w[slot]) * exp(x[i] - y[slot]);
    return fmax(s, 1e-30);
}

START_TEST(softmax_family_f32) {
    static const axis_fn fns[3] = {ag_softmax, ag_log_softmax, lse_keep};
    static const char *names[3] = {"softmax", "log_softmax", "logsumexp"};
    static double x[R * C], w[R * C], y32[R * C], y64[R * C], g32[R * C], g64[R * C];
    for (int i = 0; i < R * C; i++) {
        x[i] = (float)(-40.0 + 80.0 * ((i * 7919) % 1009) / 1009.0);
        w[i] = (float)(0.5 + ((i * 31) % 17) / 17.0);
    }
    x[5] = -INFINITY;
    ag_isa saved = ag__cpu_isa();
    for (int isa = AG_ISA_SSE2; isa <= (int)ag__cpu_isa_detected(); isa++) {
        ck_assert(ag__cpu_set_isa((ag_isa)isa));
        for (int f = 0; f < 3; f++)
            for (int axis = 0; axis < 2; axis++) {
                int64_t ny = f == 2 ? (axis == 1 ? R : C) : R * C;
                run_axis(fns[f], axis, AG_F32, x, w, y32, g32, ny);
                run_axis(fns[f], axis, AG_F64, x, w, y64, g64, ny);
                for (int64_t i = 0; i < ny; i++) {
                    double e = ulps(y32[i], y64[i], y64[i]);
                    ck_assert_msg(e <= 3.0, "%s axis %d (%s) [%lld]: f32 %a, f64 %a: %g ulp", names[f], axis,
                                  ag__cpu_isa_name((ag_isa)isa), (long long)i, y32[i], y64[i], e);
                }
                for (int r = 0; r < R; r++)
                    for (int c = 0; c < C; c++) {
                        int i = r * C + c, slot = axis == 1 ? r : c;
                        /* logsumexp' is e^(x - y) of the stored f32 y */
                        if (f == 2) g64[i] = w[slot] * exp(x[i] - y32[slot]);
                        double e = ulps(g32[i], g64[i], grad_scale(f, axis, slot, i, x, w, y64));
                        ck_assert_msg(e <= 4.0, "%s' axis %d (%s) [%d]: f32 %a, f64 %a: %g ulp", names[f],
                                      axis, ag__cpu_isa_name((ag_isa)isa), i, g32[i], g64[i], e);
                    }
            }
    }
    ck_assert(ag__cpu_set_isa(saved));
}
END_TEST

int main(void) {
    Suite *s = suite_create("f32_ops");
    TCase *tc = tcase_create("f32_ops");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, f32_within_ulp_of_f64, 0, NCASES);
    tcase_add_test(tc, softmax_family_f32);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
