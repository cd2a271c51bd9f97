/* Second-order derivatives through the recorded backward (create_graph)
 * beyond each op's own gradgradcheck (which its row runs, op_rows.h): a
 * composition over parameters, known second and third derivatives, the
 * third derivative of every unary op, Hessians, Hessian-vector products,
 * Jacobians and Jacobian-vector products. */
#include "op_rows.h"

#include <stdlib.h>

typedef ag_tensor *(*unary_fn)(ag_tape *, ag_tensor *);

static const int64_t s5[] = {5};

/* A small MLP-like composition over parameters: tanh(x W1 + b1) W2, summed.
 * x, a constant of the test's tape, is copied onto the checker's tape t:
 * tensors of two tapes cannot meet in one op. */
static ag_tensor *mlp_fn(ag_tape *t, ag_tensor *const *p, void *ctx) {
    const ag_tensor *c = ctx;
    ag_tensor *x = ag_tensor_new(t, ag_dtype_of(c), ag_ndim(c), ag_shape(c), ag_data(c));
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
    tu_assert_gradgradcheck(mlp_fn, x, 3, p);
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
        if (ag_grad_ex(t, d, 1, &x, &d, &(ag_backward_opts){.create_graph = true, .allow_unused = true}) != AG_OK)
            d = NULL; /* allow_unused: x^2's third derivative is 0, not an error */
    double v = d ? ag_item(d) : NAN;
    ag_tape_free(t);
    return v;
}

/* The rows that call a unary function and name a point for the third
 * derivative: every unary op and the x·c family. */
static const tu_op_row *third_rows[64];
static int nthird;

static void collect_rows(void) {
    const tu_op_table *tables[] = {&tu_rows_unary, &tu_rows_elementwise};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < tables[k]->n; i++)
            if (tables[k]->rows[i].call.unary && tables[k]->rows[i].x3 != 0 && nthird < 64)
                third_rows[nthird++] = &tables[k]->rows[i];
}

START_TEST(third_derivative_of_every_unary_op) {
    const tu_op_row *row = third_rows[_i];
    unary_fn fn = row->call.unary;
    const double x0 = row->x3, h = 1e-4;
    double d3 = nth_derivative(fn, x0, 3);
    double fd = (nth_derivative(fn, x0 + h, 2) - nth_derivative(fn, x0 - h, 2)) / (2 * h);
    ck_assert_msg(isfinite(d3) && fabs(d3 - fd) <= 1e-6 + 1e-6 * fabs(fd),
                  "%s: third derivative %.12g, finite difference of the second %.12g", tu_row_name(row), d3, fd);
}
END_TEST

/* and known closed forms where they are not zero */
START_TEST(third_derivative_closed_forms) {
    ck_assert_double_eq_tol(nth_derivative(ag_exp, 0.3, 3), exp(0.3), 1e-13);
    ck_assert_double_eq_tol(nth_derivative(tu_pow_c, 0.9, 3), 6.0, 1e-13);
    ck_assert_double_eq_tol(nth_derivative(ag_log, 1.3, 3), 2 / pow(1.3, 3), 1e-13);
    /* erf to any order: its third derivative at 0 is -4/sqrt(pi), its fourth
     * (2/sqrt(pi)) (12x - 8x^3) e^(-x^2), at 0.5 */
    ck_assert_double_eq_tol(nth_derivative(ag_erf, 0, 3), -2 * M_2_SQRTPI, 1e-13);
    ck_assert_double_eq_tol(nth_derivative(ag_erf, 0.5, 4), M_2_SQRTPI * (6 - 1) * exp(-0.25), 1e-12);
}
END_TEST

int main(void) {
    Suite *s = suite_create("second_order");
    TCase *tc = tcase_create("second_order");
    tcase_set_timeout(tc, 300);
    collect_rows();
    tcase_add_test(tc, mlp_gradgrad);
    tcase_add_test(tc, second_derivative_exp_x2);
    tcase_add_test(tc, third_derivatives_of_unary_ops);
    tcase_add_loop_test(tc, third_derivative_of_every_unary_op, 0, nthird);
    tcase_add_test(tc, third_derivative_closed_forms);
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
