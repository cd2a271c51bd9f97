/* Second-order derivatives through the recorded backward (create_graph):
 * gradgradcheck for every op over the first-order tests' shapes, known
 * second and third derivatives, Hessians, Hessian-vector products,
 * Jacobians and Jacobian-vector products. */
#include "testutil.h"

#include <stdlib.h>

/* Asserts that gradgradcheck passes and compared something. */
#define assert_gradgradcheck(f, ctx, n, inputs)                              \
    do {                                                                     \
        ag_gradcheck_report r_;                                              \
        bool ok_ = ag_gradgradcheck((f), (ctx), (n), (inputs), NULL, &r_);   \
        if (!ok_) ag_gradcheck_print(stderr, &r_);                           \
        ck_assert_msg(ok_, "%s", r_.message);                                \
        ck_assert_int_gt(r_.checked, 0);                                     \
    } while (0)

static const int64_t s5[] = {5}, s23[] = {2, 3}, s234[] = {2, 3, 4}, s34[] = {3, 4},
                     s14[] = {1, 4}, s31[] = {3, 1}, s4[] = {4};

/* ------------------------------------------------------------ unary ops */

typedef ag_tensor *(*unary_fn)(ag_tape *, ag_tensor *);

/* Piecewise-linear ops have a zero second derivative; composed with a
 * square their recorded backward still has to be right. */
static ag_tensor *relu_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, ag_relu(t, x)); }
static ag_tensor *abs_sq(ag_tape *t, ag_tensor *x) { return ag_mul(t, ag_abs(t, x), x); }
static ag_tensor *leaky_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_leaky(t, x)); }
static ag_tensor *clamp_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_clamp(t, x)); }
static ag_tensor *neg_sq(ag_tape *t, ag_tensor *x) { return ag_mul(t, ag_neg(t, x), x); }
static ag_tensor *add_c_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_add_c(t, x)); }
static ag_tensor *rsub_c_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_rsub_c(t, x)); }
static ag_tensor *mul_c_sq(ag_tape *t, ag_tensor *x) { return ag_square(t, tu_mul_c(t, x)); }

typedef struct {
    const char *name;
    unary_fn fn;
    double lo, hi;
} unary_case;

static const unary_case unary_cases[] = {
    {"exp", ag_exp, -2, 2},          {"log", ag_log, 0.3, 3},        {"sqrt", ag_sqrt, 0.3, 3},
    {"sin", ag_sin, -3, 3},          {"cos", ag_cos, -3, 3},         {"tan", ag_tan, -1, 1},
    {"tanh", ag_tanh, -2, 2},        {"sigmoid", ag_sigmoid, -3, 3}, {"gelu", ag_gelu, -2, 2},
    {"softplus", ag_softplus, -3, 3}, {"square", ag_square, -2, 2},  {"rdiv_c", tu_rdiv_c, 0.5, 2},
    {"pow_c", tu_pow_c, -2, 2},         {"rpow_c", tu_rpow_c, -2, 2},      {"relu^2", relu_sq, 0.1, 2},
    {"|x|x", abs_sq, -2, 2},         {"lrelu^2", leaky_sq, -2, -0.1}, {"clamp^2", clamp_sq, -0.45, 0.45},
    {"-x*x", neg_sq, -2, 2},         {"(x+c)^2", add_c_sq, -2, 2},  {"(c-x)^2", rsub_c_sq, -2, 2},
    {"(cx)^2", mul_c_sq, -2, 2},
};
#define NUNARY (int)(sizeof unary_cases / sizeof unary_cases[0])

static ag_tensor *apply_unary(ag_tape *t, ag_tensor *const *x, void *ctx) {
    return ((const unary_case *)ctx)->fn(t, x[0]);
}

static const struct {
    int nd;
    const int64_t *shape;
} shapes[] = {{0, NULL}, {1, s5}, {2, s23}, {3, s234}};

START_TEST(unary_gradgrad) {
    const unary_case *c = &unary_cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 300 + (uint64_t)_i);
    for (int s = 0; s < 4; s++) {
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, shapes[s].nd, shapes[s].shape, c->lo, c->hi);
        assert_gradgradcheck(apply_unary, (void *)c, 1, &x);
        ag_tape_free(t);
    }
}
END_TEST

/* ----------------------------------------------------------- binary ops */

typedef ag_tensor *(*binary_fn)(ag_tape *, ag_tensor *, ag_tensor *);

/* maximum/minimum are piecewise linear: multiply by a to get curvature. */
static ag_tensor *max_times_a(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return ag_mul(t, ag_maximum(t, a, b), a);
}
static ag_tensor *min_times_b(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return ag_mul(t, ag_minimum(t, a, b), b);
}
static ag_tensor *add_sq(ag_tape *t, ag_tensor *a, ag_tensor *b) { return ag_square(t, ag_add(t, a, b)); }
static ag_tensor *sub_sq(ag_tape *t, ag_tensor *a, ag_tensor *b) { return ag_square(t, ag_sub(t, a, b)); }

static const struct {
    const char *name;
    binary_fn fn;
    double lo, hi;
} binary_cases[] = {
    {"(a+b)^2", add_sq, -2, 2}, {"(a-b)^2", sub_sq, -2, 2}, {"mul", ag_mul, -2, 2},
    {"div", ag_div, 0.5, 2},    {"pow", ag_pow, 0.5, 2},   {"max*a", max_times_a, -2, 2},
    {"min*b", min_times_b, -2, 2},
};
#define NBINARY (int)(sizeof binary_cases / sizeof binary_cases[0])

static ag_tensor *apply_binary(ag_tape *t, ag_tensor *const *x, void *ctx) {
    return ((binary_fn)ctx)(t, x[0], x[1]);
}

/* Broadcasting: same shapes, scalar with matrix, row with column, 3-D with 1-D. */
static const struct {
    int nda;
    const int64_t *sa;
    int ndb;
    const int64_t *sb;
} pairs[] = {{2, s34, 2, s34}, {0, NULL, 2, s34}, {2, s14, 2, s31}, {3, s234, 1, s4}};

START_TEST(binary_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 400 + (uint64_t)_i);
    for (int p = 0; p < 4; p++) {
        ag_tape *t = ag_tape_new(0);
        double lo = binary_cases[_i].lo, hi = binary_cases[_i].hi;
        ag_tensor *x[2] = {tu_rand(t, &r, pairs[p].nda, pairs[p].sa, lo, hi),
                           tu_rand(t, &r, pairs[p].ndb, pairs[p].sb, lo, hi)};
        assert_gradgradcheck(apply_binary, (void *)binary_cases[_i].fn, 2, x);
        ag_tape_free(t);
    }
}
END_TEST

static ag_tensor *where_fn(ag_tape *t, ag_tensor *const *x, void *ctx) {
    ag_tensor *mask = ctx;
    return ag_where(t, mask, ag_square(t, x[0]), ag_mul(t, x[1], x[0]));
}

START_TEST(where_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 5);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *mask = ag_from_doubles(t, AG_F64, 2, s34, (double[]){1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1});
    ag_tensor *x[2] = {tu_rand(t, &r, 2, s34, -1, 1), tu_rand(t, &r, 2, s14, -1, 1)};
    assert_gradgradcheck(where_fn, mask, 2, x);
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------------ reductions */

typedef ag_tensor *(*reduce_fn)(ag_tape *, ag_tensor *, int, bool);

static const struct {
    const char *name;
    reduce_fn fn;
} reductions[] = {{"sum", ag_sum}, {"mean", ag_mean}, {"max", ag_max},
                  {"min", ag_min}, {"logsumexp", ag_logsumexp}, {"var", tu_var1}};
#define NREDUCE (int)(sizeof reductions / sizeof reductions[0])

typedef struct {
    reduce_fn fn;
    int axis;
    bool keep;
} reduce_case;

/* reduce(x)·reduce(x²): curvature for the linear reductions too. */
static ag_tensor *apply_reduce(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const reduce_case *c = ctx;
    ag_tensor *a = c->fn(t, x[0], c->axis, c->keep), *b = c->fn(t, ag_square(t, x[0]), c->axis, c->keep);
    return ag_mul(t, a, b);
}

START_TEST(reduction_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 500 + (uint64_t)_i);
    const int axes[] = {AG_ALL, 0, 1, -1};
    for (int a = 0; a < 4; a++)
        for (int k = 0; k < 2; k++) {
            reduce_case c = {reductions[_i].fn, axes[a], k};
            ag_tape *t = ag_tape_new(0);
            ag_tensor *x = tu_rand(t, &r, 3, s234, -1, 1);
            assert_gradgradcheck(apply_reduce, &c, 1, &x);
            ag_tape_free(t);
        }
}
END_TEST

static ag_tensor *softmax_fn(ag_tape *t, ag_tensor *const *x, void *ctx) {
    int which = (int)(intptr_t)ctx;
    return which ? ag_log_softmax(t, x[0], which == 1 ? -1 : 0) : ag_softmax(t, x[0], 1);
}

START_TEST(softmax_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 6);
    for (int which = 0; which < 3; which++) {
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, 3, s234, -2, 2);
        assert_gradgradcheck(softmax_fn, (void *)(intptr_t)which, 1, &x);
        ag_tape_free(t);
    }
}
END_TEST

/* ------------------------------------------------- linalg and shape ops */

static ag_tensor *matmul_fn(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_matmul(t, ag_tanh(t, x[0]), ag_mul(t, x[1], x[1]));
}

START_TEST(matmul_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 7);
    const int64_t a2[] = {3, 4}, b2[] = {4, 2}, a3[] = {2, 3, 4}, b3[] = {2, 4, 5};
    const struct {
        int nda;
        const int64_t *sa;
        int ndb;
        const int64_t *sb;
    } cases[] = {{2, a2, 2, b2}, {3, a3, 3, b3}, {3, a3, 2, b2}};
    for (int c = 0; c < 3; c++) {
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x[2] = {tu_rand(t, &r, cases[c].nda, cases[c].sa, -1, 1),
                           tu_rand(t, &r, cases[c].ndb, cases[c].sb, -1, 1)};
        assert_gradgradcheck(matmul_fn, NULL, 2, x);
        ag_tape_free(t);
    }
}
END_TEST

/* Each shape op between two nonlinear ops, so its recorded backward sits
 * inside a graph with curvature. */
static ag_tensor *shape_fn(ag_tape *t, ag_tensor *const *x, void *ctx) {
    ag_tensor *a = ag_square(t, x[0]); /* (2, 3, 4) */
    static const int64_t idx3[] = {2, 0, 2}, gidx[] = {0, 2, 1, 0, 0, 1, 2, 2};
    static const int perm[] = {2, 0, 1};
    ag_tensor *y;
    switch ((int)(intptr_t)ctx) {
    case 0: y = ag_reshape(t, a, AG_SHAPE(4, -1)); break;
    case 1: y = ag_broadcast_to(t, ag_sum(t, a, 0, true), AG_SHAPE(2, 2, 3, 4)); break;
    case 2: y = ag_slice(t, a, 1, 1, 3); break;
    case 3: y = ag_concat(t, 3, (ag_tensor *[]){a, ag_sin(t, x[0]), a}, 2); break;
    case 4: y = ag_stack(t, 2, (ag_tensor *[]){a, ag_cos(t, x[0])}, 1); break;
    case 5: y = ag_index_select(t, a, 1, 3, idx3); break;
    /* gather along axis 1 with k = 1: index shape (2, 1, 4) */
    case 6: y = ag_gather(t, a, 1, 1, gidx); break;
    case 7: y = ag_permute(t, a, perm); break;
    default: y = ag_transpose(t, a); break;
    }
    return ag_mul(t, y, ag_tanh(t, y));
}

START_TEST(shape_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 800 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, 3, s234, -1, 1);
    assert_gradgradcheck(shape_fn, (void *)(intptr_t)_i, 1, &x);
    ag_tape_free(t);
}
END_TEST

/* A small MLP-like composition over parameters: tanh(x W1 + b1) W2, summed. */
static ag_tensor *mlp_fn(ag_tape *t, ag_tensor *const *p, void *ctx) {
    ag_tensor *x = ctx;
    ag_tensor *h = ag_tanh(t, ag_add(t, ag_matmul(t, x, p[0]), p[1]));
    return ag_sum(t, ag_square(t, ag_matmul(t, h, p[2])), AG_ALL, false);
}

START_TEST(mlp_gradgrad) {
    ag_rng r;
    ag_rng_seed(&r, 9);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, 2, (int64_t[]){4, 3}, -1, 1);
    ag_tensor *p[3] = {tu_rand(t, &r, 2, (int64_t[]){3, 5}, -1, 1), tu_rand(t, &r, 1, (int64_t[]){5}, -1, 1),
                       tu_rand(t, &r, 2, (int64_t[]){5, 2}, -1, 1)};
    assert_gradgradcheck(mlp_fn, x, 3, p);
    ag_tape_free(t);
}
END_TEST

/* --------------------------------------------------------- known values */

/* d²/dx² e^(x²) = (4x² + 2) e^(x²). */
START_TEST(second_derivative_exp_x2) {
    const double xs[] = {-1.5, -0.5, 0, 0.5, 1, 2};
    for (int i = 0; i < 6; i++) {
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = ag_requires_grad(t, ag_scalar(t, xs[i]));
        ag_tensor *y = ag_exp(t, ag_square(t, x)), *g, *h;
        ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_OK);
        ck_assert_int_eq(ag_grad(t, g, NULL, 1, &x, &h), AG_OK);
        double e = exp(xs[i] * xs[i]);
        ck_assert_double_eq_tol(ag_item(g), 2 * xs[i] * e, 1e-12 * (1 + e));
        ck_assert_double_eq_tol(ag_item(h), (4 * xs[i] * xs[i] + 2) * e, 1e-12 * (1 + e));
        ag_tape_free(t);
    }
}
END_TEST

/* Third derivatives by repetition: with s = 1 - tanh²(x), tanh''' =
 * 4 tanh²(x) s - 2 s²; plus exp, sin, sigmoid and log(x + 2). */
START_TEST(third_derivatives_of_unary_ops) {
    const double xs[] = {-1.2, -0.3, 0.4, 1.1};
    for (int i = 0; i < 4; i++) {
        double x0 = xs[i];
        for (int op = 0; op < 5; op++) {
            ag_tape *t = ag_tape_new(0);
            ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
            ag_tensor *y = op == 0 ? ag_tanh(t, x) : op == 1 ? ag_exp(t, x) : op == 2 ? ag_sin(t, x)
                         : op == 3 ? ag_sigmoid(t, x) : ag_log(t, ag_add_c(t, x, 2));
            ag_tensor *d1, *d2, *d3;
            ag_backward_opts rec = {.create_graph = true};
            ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &d1, &rec), AG_OK);
            ck_assert_int_eq(ag_grad_ex(t, d1, 1, &x, &d2, &rec), AG_OK);
            ck_assert_int_eq(ag_grad_ex(t, d2, 1, &x, &d3, &rec), AG_OK);
            double th = tanh(x0), s2 = 1 - th * th, sg = 1 / (1 + exp(-x0));
            double want = op == 0 ? 4 * th * th * s2 - 2 * s2 * s2
                        : op == 1 ? exp(x0)
                        : op == 2 ? -cos(x0)
                        : op == 3 ? sg * (1 - sg) * (1 - 6 * sg + 6 * sg * sg)
                                  : 2 / pow(x0 + 2, 3);
            ck_assert_double_eq_tol(ag_item(d3), want, 1e-12);
            ag_tape_free(t);
        }
    }
}
END_TEST

/* Rosenbrock f(x, y) = (1 - x)² + 100 (y - x²)²: analytic Hessian
 * [[2 - 400 (y - x²) + 800 x², -400 x], [-400 x, 200]]. */
static ag_tensor *rosenbrock(ag_tape *t, ag_tensor *v) {
    ag_tensor *x = ag_slice(t, v, 0, 0, 1), *y = ag_slice(t, v, 0, 1, 2);
    ag_tensor *a = ag_square(t, ag_rsub_c(t, 1, x));
    ag_tensor *b = ag_mul_c(t, ag_square(t, ag_sub(t, y, ag_square(t, x))), 100);
    return ag_sum(t, ag_add(t, a, b), AG_ALL, false);
}

START_TEST(rosenbrock_hessian) {
    const double pts[][2] = {{-1.2, 1}, {1, 1}, {0.3, -0.7}};
    for (int p = 0; p < 3; p++) {
        double x = pts[p][0], y = pts[p][1];
        ag_tape *t = ag_tape_new(0);
        ag_tensor *v = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){2}, pts[p]));
        ag_tensor *h = ag_hessian(t, rosenbrock(t, v), v);
        ck_assert_msg(h != NULL, "%s", ag_tape_error(t));
        ck_assert_int_eq(ag_dim(h, 0), 2);
        const double want[4] = {2 - 400 * (y - x * x) + 800 * x * x, -400 * x, -400 * x, 200};
        for (int k = 0; k < 4; k++) ck_assert_double_eq_tol(ag_get(h, k), want[k], 1e-10);
        ag_tape_free(t);
    }
}
END_TEST

/* A Hessian is symmetric to rounding, and its product with v equals the
 * Hessian-vector product and the finite difference of two gradients. */
static ag_tensor *smooth_f(ag_tape *t, ag_tensor *x) {
    ag_tensor *a = ag_sum(t, ag_mul(t, ag_sin(t, x), ag_exp(t, ag_mul_c(t, x, 0.3))), AG_ALL, false);
    return ag_add(t, a, ag_logsumexp(t, ag_mul(t, x, x), AG_ALL, false));
}

START_TEST(hessian_symmetric_and_hvp) {
    ag_rng r;
    ag_rng_seed(&r, 10);
    double x0[6], v0[6];
    for (int i = 0; i < 6; i++) x0[i] = ag_rng_uniform(&r) * 2 - 1, v0[i] = ag_rng_uniform(&r) - 0.5;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){6}, x0));
    ag_tensor *v = ag_from_doubles(t, AG_F64, 1, (int64_t[]){6}, v0);
    ag_tensor *h = ag_hessian(t, smooth_f(t, x), x);
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            ck_assert_double_eq_tol(ag_get(h, i * 6 + j), ag_get(h, j * 6 + i), 1e-13);
    ag_tensor *hv;
    ck_assert_int_eq(ag_hvp(t, smooth_f(t, x), 1, &x, &v, &hv), AG_OK);
    /* finite difference of gradients: (g(x + eps v) - g(x - eps v)) / 2 eps */
    const double eps = 1e-6;
    double gp[6], gm[6];
    for (int sgn = 0; sgn < 2; sgn++) {
        double xs[6];
        for (int i = 0; i < 6; i++) xs[i] = x0[i] + (sgn ? -eps : eps) * v0[i];
        ag_tensor *xe = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){6}, xs)), *g;
        ck_assert_int_eq(ag_grad(t, smooth_f(t, xe), NULL, 1, &xe, &g), AG_OK);
        ag_to_doubles(g, sgn ? gm : gp, 6);
    }
    for (int i = 0; i < 6; i++) {
        double hv_full = 0;
        for (int j = 0; j < 6; j++) hv_full += ag_get(h, i * 6 + j) * v0[j];
        ck_assert_double_eq_tol(ag_get(hv, i), hv_full, 1e-12);
        ck_assert_double_eq_tol(ag_get(hv, i), (gp[i] - gm[i]) / (2 * eps), 1e-6);
    }
    ag_tape_free(t);
}
END_TEST

/* Jacobian of y = x² ⊙ sin(x) (diagonal), and J·u by two reverse passes. */
START_TEST(jacobian_and_jvp) {
    ag_tape *t = ag_tape_new(0);
    const double x0[3] = {0.5, -1, 2}, u0[3] = {1, 2, -1};
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, x0));
    ag_tensor *u = ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, u0);
    ag_tensor *y = ag_mul(t, ag_square(t, x), ag_sin(t, x));
    ag_tensor *j = ag_jacobian(t, y, x), *ju = ag_jvp(t, y, x, u);
    ck_assert_msg(j && ju, "%s", ag_tape_error(t));
    for (int a = 0; a < 3; a++) {
        double d = 2 * x0[a] * sin(x0[a]) + x0[a] * x0[a] * cos(x0[a]);
        for (int b = 0; b < 3; b++) ck_assert_double_eq_tol(ag_get(j, a * 3 + b), a == b ? d : 0, 1e-14);
        ck_assert_double_eq_tol(ag_get(ju, a), d * u0[a], 1e-14);
    }
    /* A matrix map y = W x: J = W. */
    const double w0[6] = {1, 2, 3, 4, 5, 6};
    ag_tensor *w = ag_from_doubles(t, AG_F64, 2, (int64_t[]){2, 3}, w0);
    ag_tensor *wx = ag_reshape(t, ag_matmul(t, w, ag_reshape(t, x, AG_SHAPE(3, 1))), AG_SHAPE(2));
    ag_tensor *jw = ag_jacobian(t, wx, x);
    for (int k = 0; k < 6; k++) ck_assert_double_eq(ag_get(jw, k), w0[k]);
    ag_tape_free(t);
}
END_TEST

/* create_graph through ag_backward_ex: stored gradients accumulate values,
 * ag_graph_grad gives the recorded node; d/dx of it is the second derivative. */
START_TEST(backward_ex_create_graph) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.7));
    ag_tensor *y = ag_mul(t, ag_pow_c(t, x, 3), ag_sin(t, x)); /* x³ sin x */
    ck_assert_int_eq(ag_backward_ex(t, y, &(ag_backward_opts){.create_graph = true}), AG_OK);
    double want1 = 3 * 0.49 * sin(0.7) + 0.343 * cos(0.7);
    ck_assert_double_eq_tol(ag_grad_item(x), want1, 1e-14);
    ag_tensor *g = ag_graph_grad(t, x);
    ck_assert_ptr_nonnull(g);
    ck_assert_double_eq_tol(ag_item(g), want1, 1e-14);
    ag_zero_grad(x);
    ck_assert_int_eq(ag_backward(t, g), AG_OK);
    double want2 = 6 * 0.7 * sin(0.7) + 6 * 0.49 * cos(0.7) - 0.343 * sin(0.7);
    ck_assert_double_eq_tol(ag_grad_item(x), want2, 1e-13);
    ag_tape_free(t);
}
END_TEST

/* Without create_graph nothing is recorded by backward. */
START_TEST(first_order_records_nothing) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_ones(t, AG_F64, 1, s5));
    ag_tensor *y = ag_sum(t, ag_softmax(t, ag_tanh(t, ag_mul(t, x, x)), 0), AG_ALL, false);
    size_t before = ag_tape_get_stats(t).nodes;
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_int_eq(ag_backward_ex(t, y, NULL), AG_OK);
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes, before);
    ag_tape_free(t);
}
END_TEST

START_TEST(second_order_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_ones(t, AG_F64, 1, s5)), *g;
    ag_tensor *y = ag_mul(t, x, x);
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_grad_ex(t, NULL, 1, &x, &g, NULL), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_hessian(t, y, x));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ag_tensor *v = ag_ones(t, AG_F64, 1, (int64_t[]){4}), *hv;
    ck_assert_int_eq(ag_hvp(t, ag_sum(t, y, AG_ALL, false), 1, &x, &v, &hv), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_jvp(t, y, x, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(ag_jacobian(NULL, y, x));
    ag_gradcheck_report r;
    ck_assert(!ag_gradgradcheck(NULL, NULL, 1, &x, NULL, &r));
    ck_assert_int_eq(r.verdict, AG_GRADCHECK_ERROR);
    ag_tape_free(t);
}
END_TEST

/* gradgradcheck fails distinctly when the analytic second derivative is all
 * zeros but the numeric one is not. A broken recorded backward is simulated:
 * the first two calls (size probe, then the recorded pass) build x·detach(x²),
 * whose recorded gradient is a constant; later calls build x³. */
static ag_tensor *broken_second(ag_tape *t, ag_tensor *const *x, void *ctx) {
    int *calls = ctx;
    if (++*calls <= 2) return ag_mul(t, x[0], ag_detach(t, ag_square(t, x[0])));
    return ag_pow_c(t, x[0], 3);
}

START_TEST(gradgradcheck_catches_zero) {
    ag_rng r;
    ag_rng_seed(&r, 11);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, 1, s5, 0.5, 1);
    ag_gradcheck_report rep;
    int calls = 0;
    ck_assert(!ag_gradgradcheck(broken_second, &calls, 1, &x, NULL, &rep));
    ck_assert_int_eq(rep.verdict, AG_GRADCHECK_ZERO_GRAD);
    ag_tape_free(t);
}
END_TEST

/* Third derivatives of every unary op (and the x·c family), by three
 * recorded passes, against central differences of the second derivative
 * (itself from two recorded passes). */
static double nth_derivative(unary_fn fn, double x0, int order) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0)), *d = fn(t, x);
    for (int k = 0; k < order && d; k++)
        if (ag_grad_ex(t, d, 1, &x, &d, &(ag_backward_opts){.create_graph = true}) != AG_OK) d = NULL;
    double v = d ? ag_item(d) : NAN;
    ag_tape_free(t);
    return v;
}

static ag_tensor *gelu_fn(ag_tape *t, ag_tensor *x) { return ag_gelu(t, x); }

START_TEST(third_derivative_of_every_unary_op) {
    const struct { const char *name; unary_fn fn; double x0; } ops[] = {
        {"exp", ag_exp, 0.3},         {"log", ag_log, 1.3},          {"sqrt", ag_sqrt, 1.2},
        {"sin", ag_sin, 0.7},         {"cos", ag_cos, 0.7},          {"tan", ag_tan, 0.4},
        {"tanh", ag_tanh, 0.6},       {"sigmoid", ag_sigmoid, -0.8}, {"gelu", gelu_fn, 0.5},
        {"softplus", ag_softplus, 0.9}, {"square", ag_square, 1.1},  {"neg", ag_neg, 0.2},
        {"abs", ag_abs, 0.8},         {"relu", ag_relu, 0.8},        {"leaky_relu", tu_leaky, -0.8},
        {"clamp", tu_clamp, 0.2},        {"add_c", tu_add_c, 0.5},         {"rsub_c", tu_rsub_c, 0.5},
        {"mul_c", tu_mul_c, 0.5},        {"rdiv_c", tu_rdiv_c, 1.3},       {"pow_c", tu_pow_c, 0.9},
        {"rpow_c", tu_rpow_c, 0.6},
    };
    const double h = 1e-4;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        double d3 = nth_derivative(ops[i].fn, ops[i].x0, 3);
        double fd = (nth_derivative(ops[i].fn, ops[i].x0 + h, 2) -
                     nth_derivative(ops[i].fn, ops[i].x0 - h, 2)) / (2 * h);
        ck_assert_msg(isfinite(d3) && fabs(d3 - fd) <= 1e-6 + 1e-6 * fabs(fd),
                      "%s: third derivative %.12g, finite difference of the second %.12g",
                      ops[i].name, d3, fd);
    }
    /* and known closed forms where they are not zero */
    ck_assert_double_eq_tol(nth_derivative(ag_exp, 0.3, 3), exp(0.3), 1e-13);
    ck_assert_double_eq_tol(nth_derivative(tu_pow_c, 0.9, 3), 6.0, 1e-13);
    ck_assert_double_eq_tol(nth_derivative(ag_log, 1.3, 3), 2 / pow(1.3, 3), 1e-13);
}
END_TEST

int main(void) {
    Suite *s = suite_create("second_order");
    TCase *tc = tcase_create("second_order");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, unary_gradgrad, 0, NUNARY);
    tcase_add_loop_test(tc, binary_gradgrad, 0, NBINARY);
    tcase_add_test(tc, where_gradgrad);
    tcase_add_loop_test(tc, reduction_gradgrad, 0, NREDUCE);
    tcase_add_test(tc, softmax_gradgrad);
    tcase_add_test(tc, matmul_gradgrad);
    tcase_add_loop_test(tc, shape_gradgrad, 0, 9);
    tcase_add_test(tc, mlp_gradgrad);
    tcase_add_test(tc, second_derivative_exp_x2);
    tcase_add_test(tc, third_derivatives_of_unary_ops);
    tcase_add_test(tc, third_derivative_of_every_unary_op);
    tcase_add_test(tc, rosenbrock_hessian);
    tcase_add_test(tc, hessian_symmetric_and_hvp);
    tcase_add_test(tc, jacobian_and_jvp);
    tcase_add_test(tc, backward_ex_create_graph);
    tcase_add_test(tc, first_order_records_nothing);
    tcase_add_test(tc, second_order_errors);
    tcase_add_test(tc, gradgradcheck_catches_zero);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
