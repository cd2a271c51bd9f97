/* The expression language: every construct, precedence, rebinding, errors
 * with positions, robustness (deep nesting, long programs, huge numbers),
 * and gradients of parsed programs against hand-built graphs. */
#include "testutil.h"

#include <tapegrad/expr.h>
#include <stdlib.h>
#include <string.h>

/* The value of a program at the given input values (program order). */
static double value_of(const char *src, const double *x) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(src, &err);
    ck_assert_msg(e != NULL, "%s: %s", src, err.message);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = ag_expr_build(t, e, x, &(ag_expr_build_opts){.constant_inputs = true}, NULL,
                                 NULL, &err);
    ck_assert_msg(y != NULL, "%s: %s", src, err.message);
    double v = ag_item(y);
    ag_tape_free(t);
    ag_expr_free(e);
    return v;
}

static double value0(const char *src) { return value_of(src, NULL); }

/* Parses a program that must fail; returns the error. */
static ag_expr_error parse_error(const char *src) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(src, &err);
    ck_assert_msg(e == NULL, "'%s' parsed but should not", src);
    return err;
}

START_TEST(numbers_and_constants) {
    ck_assert_double_eq(value0("12"), 12.0);
    ck_assert_double_eq(value0("1.5"), 1.5);
    ck_assert_double_eq(value0(".5"), 0.5);
    ck_assert_double_eq(value0("3."), 3.0);
    ck_assert_double_eq(value0("3e-4"), 3e-4);
    ck_assert_double_eq(value0("2.5E+2"), 250.0);
    ck_assert_double_eq_tol(value0("pi"), 3.14159265358979323846, 1e-15);
    ck_assert_double_eq_tol(value0("e"), 2.71828182845904523536, 1e-15);
    ck_assert_double_eq(value0("  7 # a comment"), 7.0);
}
END_TEST

/* A binding shadows pi or e from the next statement on, with a note; the
 * statement that binds still reads the constant. micrograd's programs use
 * `e` as a name. */
START_TEST(bindings_shadow_constants) {
    ck_assert_double_eq(value0("pi = 3; pi"), 3.0);
    ck_assert_double_eq_tol(value0("e = e + 1; e"), 3.718281828459045, 1e-15);
    double x = 2;
    ck_assert_double_eq(value_of("c = x + 1; e = c - 1; e * x", &x), 4.0);
    ck_assert_double_eq_tol(value0("y = e; e = 0; y + e"), 2.718281828459045, 1e-15);
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("a = 1\ne = a * 2\ne = e + 1\ne", &err);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(ag_expr_num_notes(e), 1); /* once, at the first binding */
    ck_assert_ptr_nonnull(strstr(ag_expr_note(e, 0), "'e' is bound at line 2, column 1"));
    ck_assert_ptr_null(ag_expr_note(e, 1));
    ck_assert_int_eq(ag_expr_num_inputs(e), 0); /* e is never an input */
    ag_expr_free(e);
    e = ag_expr_parse("x + e", &err);
    ck_assert_int_eq(ag_expr_num_notes(e), 0);
    ck_assert_int_eq(ag_expr_num_notes(NULL), 0);
    ck_assert_ptr_null(ag_expr_note(NULL, 0));
    ag_expr_free(e);
}
END_TEST

/* Bound names are listed once, in order of first binding, and the build
 * hands out the node of each one's last binding. */
START_TEST(bindings_listed_and_built) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("a = x^2; b = a + y; a = a * 3; x = x + 1; a + b + x", &err);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(ag_expr_num_bindings(e), 3);
    ck_assert_str_eq(ag_expr_binding_name(e, 0), "a");
    ck_assert_str_eq(ag_expr_binding_name(e, 1), "b");
    ck_assert_str_eq(ag_expr_binding_name(e, 2), "x");
    ck_assert_ptr_null(ag_expr_binding_name(e, 3));
    ck_assert_int_eq(ag_expr_binding_index(e, "b"), 1);
    ck_assert_int_eq(ag_expr_binding_index(e, "y"), -1); /* an input only */
    ck_assert_int_eq(ag_expr_binding_index(e, "x"), 2);  /* both */
    ck_assert_int_eq(ag_expr_input_index(e, "x"), 0);
    ck_assert_int_eq(ag_expr_binding_index(NULL, "a"), -1);
    ag_tape *t = ag_tape_new(0);
    const double x[2] = {2, 5};
    ag_tensor *in[2], *bound[3];
    ag_tensor *y = ag_expr_build(t, e, x, &(ag_expr_build_opts){.bindings = bound}, in, NULL, &err);
    ck_assert_ptr_nonnull(y);
    ck_assert_double_eq(ag_item(bound[0]), 12); /* the last a: 3·x^2 */
    ck_assert_double_eq(ag_item(bound[1]), 9);  /* b = 4 + 5 */
    ck_assert_double_eq(ag_item(bound[2]), 3);
    ck_assert_double_eq(ag_item(y), 24);
    /* d y / d b = 1, d y / d (last a) = 1, d y / d x = 6x + 2x + 1 = 17 */
    ag_tensor *xs[3] = {bound[1], bound[0], in[0]}, *g[3];
    ck_assert_int_eq(ag_grad(t, y, NULL, 3, xs, g), AG_OK);
    ck_assert_double_eq(ag_item(g[0]), 1);
    ck_assert_double_eq(ag_item(g[1]), 1);
    ck_assert_double_eq_tol(ag_item(g[2]), 17, 1e-12);
    ag_tape_free(t);
    ag_expr_free(e);
}
END_TEST

START_TEST(operators_and_precedence) {
    ck_assert_double_eq(value0("1 + 2 * 3"), 7.0);
    ck_assert_double_eq(value0("(1 + 2) * 3"), 9.0);
    ck_assert_double_eq(value0("8 - 3 - 2"), 3.0);   /* left-assoc */
    ck_assert_double_eq(value0("16 / 4 / 2"), 2.0); /* left-assoc */
    ck_assert_double_eq(value0("2^3^2"), 512.0);    /* right-assoc */
    ck_assert_double_eq(value0("-2^2"), -4.0);      /* ^ tighter than unary minus */
    ck_assert_double_eq(value0("(-2)^2"), 4.0);
    ck_assert_double_eq(value0("2^-1"), 0.5);
    ck_assert_double_eq(value0("2^-1^2"), 0.5);     /* 2^(-(1^2)) */
    ck_assert_double_eq(value0("-2*3"), -6.0);
    ck_assert_double_eq(value0("2*-3"), -6.0);
    ck_assert_double_eq(value0("--2"), 2.0);
    ck_assert_double_eq(value0("+2 - +1"), 1.0);
    ck_assert_double_eq(value0("2^3*4"), 32.0);
    ck_assert_double_eq(value0("1 - 2^2 * 3"), -11.0);
    double x = 3;
    ck_assert_double_eq(value_of("-x^2", &x), -9.0);
}
END_TEST

START_TEST(functions) {
    double x = 0.7;
    ck_assert_double_eq_tol(value_of("exp(x)", &x), exp(0.7), 1e-15);
    ck_assert_double_eq_tol(value_of("log(x)", &x), log(0.7), 1e-15);
    ck_assert_double_eq_tol(value_of("sqrt(x)", &x), sqrt(0.7), 1e-15);
    ck_assert_double_eq(value0("abs(-3)"), 3.0);
    ck_assert_double_eq_tol(value_of("sin(x) + cos(x) + tan(x)", &x), sin(0.7) + cos(0.7) + tan(0.7), 1e-14);
    ck_assert_double_eq_tol(value_of("tanh(x)", &x), tanh(0.7), 1e-15);
    ck_assert_double_eq_tol(value_of("sigmoid(x)", &x), 1 / (1 + exp(-0.7)), 1e-15);
    ck_assert_double_eq(value0("relu(-2) + relu(3)"), 3.0);
    ck_assert_double_eq_tol(value_of("softplus(x)", &x), log1p(exp(0.7)), 1e-15);
    ck_assert_double_eq_tol(value_of("gelu(x)", &x), 0.7 * 0.5 * (1 + erf(0.7 / sqrt(2))), 1e-15);
    ck_assert_double_eq(value0("pow(2, 10)"), 1024.0);
    ck_assert_double_eq(value0("max(2, 5) + min(2, 5)"), 7.0);
    ck_assert_double_eq(value0("max(min(1, 2), pow(3, 0))"), 1.0);
}
END_TEST

/* Every entry of the function table: its signature is itself a program
 * ("pow(a, b)", "-x"), which parses, builds, and differentiates like
 * central finite differences at a point inside every function's domain. */
static double program_at(const ag_expr *e, const double *v, double *grad) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[4];
    ag_expr_error err;
    ag_tensor *y = ag_expr_build(t, e, v, NULL, in, NULL, &err);
    ck_assert_msg(y != NULL, "%s", err.message);
    double out = ag_item(y);
    if (grad) {
        ck_assert_int_eq(ag_backward(t, y), AG_OK);
        for (int i = 0; i < ag_expr_num_inputs(e); i++) grad[i] = ag_grad_item(in[i]);
    }
    ag_tape_free(t);
    return out;
}

START_TEST(every_function_of_the_table) {
    int n = 0;
    for (const ag_expr_function *f; (f = ag_expr_function_at(n)); n++) {
        ck_assert_msg(f->name[0] && f->derivative[0], "entry %d lacks a name or a derivative", n);
        if (f->tensor) continue; /* not a scalar program: the tensor tests cover it */
        ag_expr_error err;
        ag_expr *e = ag_expr_parse(f->signature, &err);
        ck_assert_msg(e != NULL, "signature '%s': %s", f->signature, err.message);
        const int m = ag_expr_num_inputs(e);
        ck_assert_msg(m >= 1 && m <= 4, "signature '%s' has %d inputs", f->signature, m);
        double v[4] = {0.7, 0.4, 0.55, 0.3}, g[4];
        program_at(e, v, g);
        for (int i = 0; i < m; i++) {
            const double h = 1e-6, x0 = v[i];
            v[i] = x0 + h;
            double up = program_at(e, v, NULL);
            v[i] = x0 - h;
            double down = program_at(e, v, NULL);
            v[i] = x0;
            ck_assert_msg(fabs(g[i] - (up - down) / (2 * h)) <= 1e-6, "%s: d/d%s = %g, finite difference %g",
                          f->signature, ag_expr_input_name(e, i), g[i], (up - down) / (2 * h));
        }
        ag_expr_free(e);
    }
    ck_assert_int_gt(n, 20);
    ck_assert_ptr_null(ag_expr_function_at(-1));
}
END_TEST

/* ------------------------------------------------------------- tensors */

/* A program's value (a tensor) at tensor inputs of the given shapes, copied
 * into out (up to max); returns its element count, or -1 with the build's
 * error in *msg. */
static int64_t tensor_of(const char *src, const ag_expr_shape *shapes, const double *x, double *out,
                         int64_t max, char *msg) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(src, &err);
    ck_assert_msg(e != NULL, "%s: %s", src, err.message);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = ag_expr_build(t, e, x, &(ag_expr_build_opts){.constant_inputs = true, .shapes = shapes},
                                 NULL, NULL, &err);
    int64_t n = -1;
    if (y) {
        n = ag_numel(y);
        ck_assert_int_le(n, max);
        ck_assert_int_eq(ag_to_doubles(y, out, n), AG_OK);
    } else if (msg) {
        strcpy(msg, err.message);
    }
    ag_tape_free(t);
    ag_expr_free(e);
    return n;
}

/* A tensor program with no inputs must give exactly `want` (count values). */
static void expect_tensor(const char *src, const double *want, int64_t count) {
    double got[64];
    char msg[256] = "";
    int64_t n = tensor_of(src, NULL, NULL, got, 64, msg);
    ck_assert_msg(n == count, "%s: %lld elements, want %lld (%s)", src, (long long)n, (long long)count, msg);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-14 * fmax(1, fabs(want[i])), "%s: element %lld is %.17g, want %.17g",
                      src, (long long)i, got[i], want[i]);
}

START_TEST(tensor_literals_and_indexing) {
    expect_tensor("[1, 2, 3]", (double[]){1, 2, 3}, 3);
    expect_tensor("[[1, 2], [3, -4e0]]", (double[]){1, 2, 3, -4}, 4);
    expect_tensor("[[1, 2],\n [3, 4]][1]", (double[]){3, 4}, 2);
    expect_tensor("[[1, 2], [3, 4]][1, 0] + [[1, 2], [3, 4]][0][1]", (double[]){5}, 1);
    expect_tensor("[5, 6, 7][-1]", (double[]){7}, 1);
    expect_tensor("-[1, 2][1]^2", (double[]){-4}, 1); /* indexing binds tightest */
    expect_tensor("[[1, 2], [3, 4]]'", (double[]){1, 3, 2, 4}, 4);
    expect_tensor("transpose([[1, 2, 3]])", (double[]){1, 2, 3}, 3);
    ag_expr_error err = parse_error("[[1, 2], [3]]");
    ck_assert_ptr_nonnull(strstr(err.message, "ragged"));
    ck_assert_int_eq(err.column, 10); /* at the short row */
    err = parse_error("[[1, 2], 3]");
    ck_assert_ptr_nonnull(strstr(err.message, "ragged"));
    err = parse_error("[]");
    ck_assert_ptr_nonnull(strstr(err.message, "empty"));
    err = parse_error("[[[1]]]");
    ck_assert_ptr_nonnull(strstr(err.message, "at most 2 dimensions"));
    err = parse_error("[x, 1]");
    ck_assert_ptr_nonnull(strstr(err.message, "numbers only"));
    err = parse_error("[1, 2][0.5]");
    ck_assert_ptr_nonnull(strstr(err.message, "integer"));
    char msg[256];
    double out[8];
    ck_assert_int_eq(tensor_of("[1, 2][2]", NULL, NULL, out, 8, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "index 2 is out of range for a value of shape (2)"));
    ck_assert_int_eq(tensor_of("[1, 2]'", NULL, NULL, out, 8, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "transpose"));
    ck_assert_ptr_nonnull(strstr(msg, "(2)"));
}
END_TEST

START_TEST(tensor_ops_against_loops) {
    /* A @ B against the naive triple loop, and NumPy's 1-D rules */
    const double A[6] = {1, -2, 0.5, 3, 4, -1}, B[6] = {2, 1, 0, -1, 3, 0.25};
    double C[4] = {0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++) C[i * 2 + j] += A[i * 3 + k] * B[k * 2 + j];
    const ag_expr_shape sh[2] = {{2, {2, 3}}, {2, {3, 2}}};
    double x[12], out[16];
    memcpy(x, A, sizeof A);
    memcpy(x + 6, B, sizeof B);
    ck_assert_int_eq(tensor_of("A @ B", sh, x, out, 16, NULL), 4);
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(out[i], C[i], 1e-14);
    expect_tensor("[1, 2] @ [[1, 2], [3, 4]]", (double[]){7, 10}, 2);
    expect_tensor("[[1, 2], [3, 4]] @ [1, 2]", (double[]){5, 11}, 2);
    expect_tensor("[1, 2] @ [3, 4] + dot([1, 2], [3, 4])", (double[]){22}, 1);
    /* reductions, with and without an axis */
    expect_tensor("sum([[1, 2], [3, 4]])", (double[]){10}, 1);
    expect_tensor("sum([[1, 2], [3, 4]], 0)", (double[]){4, 6}, 2);
    expect_tensor("mean([[1, 2], [3, 4]], 1)", (double[]){1.5, 3.5}, 2);
    expect_tensor("max([[1, 7], [3, 4]]) + amax([[1, 7], [3, 4]], 0)", (double[]){10, 14}, 2);
    expect_tensor("max([1, 2], [3, 0])", (double[]){3, 2}, 2); /* two arguments: elementwise */
    expect_tensor("logsumexp([1, 2, 3])", (double[]){log(exp(1) + exp(2) + exp(3))}, 1);
    expect_tensor("logsumexp([[1, 2], [3, 4]], 1)", (double[]){log(exp(1) + exp(2)), log(exp(3) + exp(4))}, 2);
    const double z = exp(1) + exp(2);
    expect_tensor("softmax([1, 2])", (double[]){exp(1) / z, exp(2) / z}, 2);
    expect_tensor("softmax([[1, 2], [1, 2]], 0)", (double[]){0.5, 0.5, 0.5, 0.5}, 4);
    expect_tensor("log_softmax([1, 2])", (double[]){1 - log(z), 2 - log(z)}, 2);
    expect_tensor("norm([3, 4])", (double[]){5}, 1);
    expect_tensor("onehot(2, 4)", (double[]){0, 0, 1, 0}, 4);
    /* broadcasting: (2, 1) with (3) gives (2, 3); functions act elementwise */
    expect_tensor("[[1], [2]] * [1, 2, 3]", (double[]){1, 2, 3, 2, 4, 6}, 6);
    expect_tensor("exp([0, 1]) + 1", (double[]){2, exp(1) + 1}, 2);
    expect_tensor("[1, 2] ^ 2", (double[]){1, 4}, 2);
    /* shape errors name the op and the shapes */
    char msg[256];
    ck_assert_int_eq(tensor_of("[1, 2, 3] + [1, 2]", NULL, NULL, out, 16, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "add"));
    ck_assert_ptr_nonnull(strstr(msg, "[3]"));
    ck_assert_int_eq(tensor_of("[[1, 2]] @ [1, 2, 3]", NULL, NULL, out, 16, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "matmul"));
    ck_assert_int_eq(tensor_of("dot([1, 2], [1, 2, 3])", NULL, NULL, out, 16, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "(2) and (3)"));
    ck_assert_int_eq(tensor_of("sum([1, 2], 3)", NULL, NULL, out, 16, msg), -1);
    ck_assert_int_eq(tensor_of("onehot(3, 3)", NULL, NULL, out, 16, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "0 <= k < n"));
    /* an axis must be a constant */
    const ag_expr_shape s1[1] = {{0, {0, 0}}};
    double one = 0;
    ck_assert_int_eq(tensor_of("sum([1, 2], k)", s1, &one, out, 16, msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "constant"));
}
END_TEST

/* The gradient of sum(W @ x) with respect to a tensor input, against the
 * hand result: d/dW[i][j] = x[j]. */
START_TEST(tensor_input_gradients) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("sum(softmax(W @ x)) + sum(W @ x)", &err);
    ck_assert_ptr_nonnull(e);
    const ag_expr_shape sh[2] = {{2, {2, 2}}, {1, {2, 0}}};
    const double v[6] = {0.1, 0.2, 0.3, 0.4, 1.5, -2};
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[2];
    ag_tensor *y = ag_expr_build(t, e, v, &(ag_expr_build_opts){.shapes = sh}, in, NULL, &err);
    ck_assert_msg(y != NULL, "%s", err.message);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    /* sum(softmax(.)) is 1 everywhere: its gradient is 0 */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) ck_assert_double_eq_tol(ag_grad_get(in[0], i * 2 + j), v[4 + j], 1e-12);
    ck_assert_double_eq_tol(ag_grad_get(in[1], 0), 0.1 + 0.3, 1e-12);
    ck_assert_double_eq_tol(ag_grad_get(in[1], 1), 0.2 + 0.4, 1e-12);
    ag_tape_free(t);
    ag_expr_free(e);
}
END_TEST

START_TEST(statements_and_rebinding) {
    double x = 2;
    ck_assert_double_eq(value_of("y = x * 3; y + 1", &x), 7.0);
    ck_assert_double_eq(value_of("x = x + 1; x = x * x; x", &x), 9.0); /* newest binding */
    ck_assert_double_eq(value_of("a = x\n\n b = a + 1 ;; \n b * a\n", &x), 6.0);
    ck_assert_double_eq(value_of("s = (x +\n 1)\n s", &x), 3.0); /* lines continue inside () */

    ag_expr_error err;
    ag_expr *e = ag_expr_parse("u = x * y; v = u + z; x = 1; v + x + w", &err);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(ag_expr_num_inputs(e), 4); /* order of first appearance */
    ck_assert_str_eq(ag_expr_input_name(e, 0), "x");
    ck_assert_str_eq(ag_expr_input_name(e, 1), "y");
    ck_assert_str_eq(ag_expr_input_name(e, 2), "z");
    ck_assert_str_eq(ag_expr_input_name(e, 3), "w");
    ck_assert_ptr_null(ag_expr_input_name(e, 4));
    ck_assert_int_eq(ag_expr_input_index(e, "z"), 2);
    ck_assert_int_eq(ag_expr_input_index(e, "u"), -1); /* bound, not an input */
    ck_assert_int_eq(ag_expr_input_index(e, "q"), -1);
    ck_assert_uint_eq(ag_expr_num_statements(e), 4);
    ag_expr_free(e);
}
END_TEST

START_TEST(bind_values_by_name) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("x * y", &err);
    ck_assert_ptr_nonnull(e);
    double v[2];
    const char *names[] = {"y", "x"};
    ck_assert_int_eq(ag_expr_bind_values(e, 2, names, (double[]){3, 4}, v, &err), 0);
    ck_assert_double_eq(v[0], 4.0);
    ck_assert_double_eq(v[1], 3.0);
    ck_assert_int_eq(ag_expr_bind_values(e, 1, names, (double[]){3}, v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "'x' has no value"));
    const char *bad[] = {"x", "y", "z"};
    ck_assert_int_eq(ag_expr_bind_values(e, 3, bad, (double[]){1, 2, 3}, v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "'z' is not an input"));
    ck_assert_ptr_nonnull(strstr(err.message, "x, y"));
    const char *twice[] = {"x", "x"};
    ck_assert_int_eq(ag_expr_bind_values(e, 2, twice, (double[]){1, 2}, v, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "twice"));
    ag_expr_free(e);
}
END_TEST

START_TEST(errors_have_positions) {
    ag_expr_error err = parse_error("x +* 2");
    ck_assert_int_eq(err.line, 1);
    ck_assert_int_eq(err.column, 4);
    ck_assert_str_eq(err.line_text, "x +* 2");
    ck_assert_int_eq(err.caret, 3);
    ck_assert_ptr_nonnull(strstr(err.expected, "a number"));

    err = parse_error("a = 1\nb = a +\nb");
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 8);
    ck_assert_str_eq(err.line_text, "b = a +");
    ck_assert_ptr_nonnull(strstr(err.message, "incomplete"));

    err = parse_error("(x + (2");
    ck_assert_ptr_nonnull(strstr(err.message, "never closed"));
    ck_assert_str_eq(err.expected, "')'");
    err = parse_error("x)");
    ck_assert_ptr_nonnull(strstr(err.message, "unmatched ')'"));
    ck_assert_int_eq(err.column, 2);
    err = parse_error("");
    ck_assert_ptr_nonnull(strstr(err.message, "empty"));
    err = parse_error("y = x");
    ck_assert_ptr_nonnull(strstr(err.message, "ends with a binding of 'y'"));
    err = parse_error("x; y");
    ck_assert_ptr_nonnull(strstr(err.message, "only the last statement"));
    err = parse_error("2x");
    ck_assert_int_eq(err.column, 2);
    err = parse_error("1e+");
    ck_assert_ptr_nonnull(strstr(err.message, "exponent"));
    err = parse_error("x $ y");
    ck_assert_ptr_nonnull(strstr(err.message, "'$'"));
    ck_assert_int_eq(err.column, 3);
    err = parse_error("x = = 1");
    err = parse_error("x + (y = 1)");
    ck_assert_ptr_nonnull(strstr(err.message, "'='"));
    err = parse_error("x, y");
    ck_assert_ptr_nonnull(strstr(err.message, "','"));
    err = parse_error("exp = 3; exp");
    ck_assert_ptr_nonnull(strstr(err.message, "function"));
    /* columns count characters: the é is one column */
    err = parse_error("# é\nxé");
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 2);
    /* the error print shows the line and a caret */
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    ag_expr_error_print(f, "p", &(ag_expr_error){0});
    err = parse_error("x +* 2");
    ag_expr_error_print(f, "p", &err);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "  x +* 2\n     ^\n"));
}
END_TEST

START_TEST(unknown_functions_are_named) {
    ag_expr_error err = parse_error("1 + foo(x)");
    ck_assert_str_eq(err.message, "unknown function 'foo'");
    ck_assert_int_eq(err.column, 5);
    ck_assert_ptr_nonnull(strstr(err.expected, "sigmoid"));
    err = parse_error("exp x");
    ck_assert_ptr_nonnull(strstr(err.message, "'exp' is a function"));
    err = parse_error("min(1)");
    ck_assert_ptr_nonnull(strstr(err.message, "'min' takes 2 arguments, got 1"));
    err = parse_error("max(1, 2, 3)");
    ck_assert_ptr_nonnull(strstr(err.message, "'max' takes 1 or 2 arguments"));
    err = parse_error("exp(1, 2)");
    ck_assert_ptr_nonnull(strstr(err.message, "'exp' takes 1 argument"));
    err = parse_error("pow(1, 2, 3)");
    ck_assert_ptr_nonnull(strstr(err.message, "takes 2 arguments"));
}
END_TEST

START_TEST(deep_nesting) { /* 10^4 parentheses: no recursion, so no stack overflow */
    const int depth = 10000;
    char *src = malloc((size_t)depth * 8 + 16);
    char *p = src;
    for (int i = 0; i < depth; i++) p += sprintf(p, "(");
    p += sprintf(p, "x");
    for (int i = 0; i < depth; i++) p += sprintf(p, ")");
    double x = 1.5;
    ck_assert_double_eq(value_of(src, &x), 1.5);
    /* nested calls and prefix minus too */
    p = src;
    for (int i = 0; i < depth; i++) p += sprintf(p, "abs(-");
    p += sprintf(p, "x");
    for (int i = 0; i < depth; i++) p += sprintf(p, ")");
    ck_assert_double_eq(value_of(src, &x), 1.5);
    /* and 10^5 unclosed: a clear error */
    free(src);
    src = malloc(100001);
    memset(src, '(', 100000);
    src[100000] = '\0';
    ag_expr_error err = parse_error(src);
    ck_assert_ptr_nonnull(strstr(err.message, "incomplete"));
    free(src);
}
END_TEST

START_TEST(million_statements) {
    const int n = 1000000;
    const char stmt[] = "x = x + 1\n";
    size_t len = (size_t)n * (sizeof stmt - 1);
    char *src = malloc(len + 2);
    for (int i = 0; i < n; i++) memcpy(src + (size_t)i * (sizeof stmt - 1), stmt, sizeof stmt - 1);
    src[len] = 'x';
    src[len + 1] = '\0';
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(src, &err);
    ck_assert_msg(e != NULL, "%s", err.message);
    ck_assert_uint_eq(ag_expr_num_statements(e), (size_t)n + 1);
    ck_assert_int_eq(ag_expr_num_inputs(e), 1);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in;
    ag_tensor *y = ag_expr_build(t, e, (double[]){0.5}, NULL, &in, NULL, &err);
    ck_assert_ptr_nonnull(y);
    ck_assert_double_eq(ag_item(y), 0.5 + n);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_double_eq(ag_grad_item(in), 1.0);
    ag_tape_free(t);
    ag_expr_free(e);
    free(src);
}
END_TEST

START_TEST(huge_numbers) {
    ck_assert(isinf(value0("1e999")));
    ck_assert_double_eq(value0("1e-999"), 0.0);
    ck_assert(isinf(value0("-1e999")) && value0("-1e999") < 0);
    char big[400];
    memset(big, '9', 399);
    big[399] = '\0';
    ck_assert(isinf(value0(big)));
    /* where the first non-finite value came from */
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("a = x * 2\nb = log(a - 10)\nc = b + 1e999\nc", &err);
    ck_assert_ptr_nonnull(e);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in;
    ag_expr_nonfinite nf;
    ag_tensor *y = ag_expr_build(t, e, (double[]){1.0}, NULL, &in, &nf, &err);
    ck_assert_ptr_nonnull(y);
    ck_assert(isnan(ag_item(y)));
    ck_assert(nf.found);
    ck_assert_str_eq(nf.op, "log");
    ck_assert_str_eq(nf.name, "b");
    ck_assert_int_eq(nf.line, 2);
    ck_assert_int_eq(nf.column, 5);
    ck_assert(!ag_tape_anomaly(t)); /* the build turned the tape's anomaly mode back off */
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
    ag_expr_free(e);
}
END_TEST

/* d/dx of the program at x (one input). */
static double grad_of(const char *src, double x, double *value) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(src, &err);
    ck_assert_msg(e != NULL, "%s", err.message);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in, *g;
    ag_tensor *y = ag_expr_build(t, e, &x, NULL, &in, NULL, &err);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_grad(t, y, NULL, 1, &in, &g), AG_OK);
    double d = ag_item(g);
    if (value) *value = ag_item(y);
    ag_tape_free(t);
    ag_expr_free(e);
    return d;
}

START_TEST(gradients_match_hand_built_graphs) {
    /* e^(x^2) */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
    ag_tensor *y = ag_exp(t, ag_pow_c(t, x, 2));
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    double v;
    ck_assert_double_eq(grad_of("exp(x^2)", 0.5, &v), ag_grad_item(x));
    ck_assert_double_eq(v, ag_item(y));
    /* fan-out: b = a + a; c = b * b → dc/da = 8a */
    ck_assert_double_eq(grad_of("b = a + a; c = b * b; c", 3.0, NULL), 24.0);
    /* b = a + a; c = b + b → 4 (pitfall 1 of docs/design.md) */
    ck_assert_double_eq(grad_of("b = a + a; b + b", 3.0, NULL), 4.0);
    /* negative base, constant exponent: value and derivative right */
    ck_assert_double_eq(grad_of("x^2", -3.0, &v), -6.0);
    ck_assert_double_eq(v, 9.0);
    ck_assert_double_eq(grad_of("x^3", -2.0, &v), 12.0);
    ck_assert_double_eq(v, -8.0);
    ck_assert_double_eq(grad_of("pow(x, 1 + 1)", -3.0, NULL), -6.0); /* constant subtree */
    /* max at a tie splits the gradient */
    ck_assert_double_eq(grad_of("max(x, 1)", 1.0, NULL), 0.5);
    ck_assert_double_eq(grad_of("min(x, 1)", 0.0, NULL), 1.0);
    /* variable exponent uses ag_pow: d/dx 2^x = 2^x log 2 */
    ck_assert_double_eq_tol(grad_of("2^x", 3.0, NULL), 8 * log(2.0), 1e-14);
    ck_assert_double_eq_tol(grad_of("x^x", 2.0, NULL), 4 * (log(2.0) + 1), 1e-14);
    /* constants are not inputs */
    ck_assert_double_eq_tol(grad_of("pi * x + e", 1.0, NULL), M_PI, 1e-15);
    ag_tape_free(t);
}
END_TEST

START_TEST(second_order_of_parsed_program) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("u = x * y; v = sin(x); u + v", &err);
    ck_assert_ptr_nonnull(e);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[2], *g[2], *h[2];
    ag_tensor *y = ag_expr_build(t, e, (double[]){1.0, 2.0}, NULL, in, NULL, &err);
    ck_assert_int_eq(ag_grad_ex(t, y, 2, in, g, &(ag_backward_opts){.create_graph = true}), AG_OK);
    ck_assert_double_eq_tol(ag_item(g[0]), 2 + cos(1.0), 1e-15);
    ck_assert_int_eq(ag_grad(t, g[0], NULL, 2, in, h), AG_OK);
    ck_assert_double_eq_tol(ag_item(h[0]), -sin(1.0), 1e-15);
    ck_assert_double_eq(ag_item(h[1]), 1.0);
    ag_tape_free(t);
    ag_expr_free(e);
}
END_TEST

START_TEST(bound_nodes_are_named) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("z = x^2; w = z; y = exp(w); y * 1", &err);
    ck_assert_ptr_nonnull(e);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in;
    ag_tensor *out = ag_expr_build(t, e, (double[]){0.5}, NULL, &in, NULL, &err);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(ag_name(in), "x");
    ck_assert_str_eq(ag_name(out), "y*1"); /* not bound: named by its source text */
    ag_tape_free(t);
    ag_expr_free(e);
}
END_TEST

/* The output's source text, rebuilt with the parentheses that keep the
 * program's grouping (and no others). */
static void assert_text(const char *src, const char *want) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(src, &err);
    ck_assert_msg(e != NULL, "%s: %s", src, err.message);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[8];
    const double x[8] = {0.5, 0.25, 2, 3, 1, 1, 1, 1};
    ag_tensor *out = ag_expr_build(t, e, x, NULL, in, NULL, &err);
    ck_assert_ptr_nonnull(out);
    if (want) ck_assert_str_eq(ag_name(out), want);
    else ck_assert_ptr_null(ag_name(out));
    ag_tape_free(t);
    ag_expr_free(e);
}

/* Unnamed nodes are named by their source text, so traces and pictures say
 * "x^2" and "exp(x^2)" instead of "n3"; too long a text leaves the id. */
START_TEST(unnamed_nodes_named_by_source_text) {
    assert_text("x^2", "x^2");
    assert_text("exp(x^2)", "exp(x^2)");
    assert_text("(o-y)^2", "(o - y)^2");
    assert_text("w*x + b", "w*x + b");
    assert_text("a - (b - c)", "a - (b - c)");
    assert_text("(a - b) - c", "a - b - c");
    assert_text("a / (b * c)", "a/(b*c)");
    assert_text("(a + b) * c", "(a + b)*c");
    assert_text("-x^2", "-x^2");
    assert_text("(-x)^2", "(-x)^2");
    assert_text("x^y^2", "x^y^2");
    assert_text("(x^y)^2", "(x^y)^2");
    assert_text("-(a*b)", "-(a*b)");
    assert_text("pow(x, 2) + atan2(y, x)", "pow(x, 2) + atan2(y, x)");
    assert_text("x * 0.1", "x*0.1");
    assert_text("a = x + y; a * 2", "a*2"); /* a bound operand shows as its name */
    assert_text("x + pi", "x + 3.141592653589793");
    assert_text("exp(exp(exp(exp(exp(exp(exp(exp(exp(exp(x))))))))))", NULL); /* 51 > the cap */
    assert_text("exp(exp(exp(exp(exp(exp(exp(exp(x))))))))", "exp(exp(exp(exp(exp(exp(exp(exp(x))))))))");
    /* every rebuilt text parses back to the same value */
    const char *progs[] = {"a - (b - c) / d ^ -a", "-(-a)", "(a*b)^(c - d)", "a/b/c", "a/(b/c)",
                           "2^-a", "-2^a", "(a - b)^-2"};
    for (size_t k = 0; k < sizeof progs / sizeof *progs; k++) {
        ag_expr_error err;
        ag_expr *e = ag_expr_parse(progs[k], &err);
        ck_assert_ptr_nonnull(e);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *in[4];
        const double x[4] = {0.5, 0.25, 2, 3};
        ag_tensor *out = ag_expr_build(t, e, x, NULL, in, NULL, &err);
        ck_assert_ptr_nonnull(out);
        ag_expr *back = ag_expr_parse(ag_name(out), &err);
        ck_assert_msg(back != NULL, "%s -> '%s' does not parse", progs[k], ag_name(out));
        double xb[4];
        for (int i = 0; i < ag_expr_num_inputs(back); i++)
            xb[i] = x[ag_expr_input_index(e, ag_expr_input_name(back, i))];
        ag_tensor *vb = ag_expr_build(t, back, xb, &(ag_expr_build_opts){.constant_inputs = true},
                                      NULL, NULL, &err);
        ck_assert_msg(vb && ag_item(vb) == ag_item(out), "%s -> '%s': %g vs %g", progs[k],
                      ag_name(out), vb ? ag_item(vb) : NAN, ag_item(out));
        ag_expr_free(back);
        ag_tape_free(t);
        ag_expr_free(e);
    }
}
END_TEST

START_TEST(memory_cap_is_an_error) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse("x = x + 1\nx = x + 1\nx = x + 1\nx * x", &err);
    ck_assert_ptr_nonnull(e);
    ag_tape *t = ag_tape_new(64); /* far too small */
    ag_tensor *in;
    ck_assert_ptr_null(ag_expr_build(t, e, (double[]){1}, NULL, &in, NULL, &err));
    ck_assert(strlen(err.message) > 0);
    ag_tape_free(t);
    ag_expr_free(e);
    /* NULL arguments are errors, not crashes */
    ck_assert_ptr_null(ag_expr_parse(NULL, &err));
    ck_assert_ptr_null(ag_expr_build(NULL, NULL, NULL, NULL, NULL, NULL, &err));
    ag_expr_free(NULL);
    ck_assert_int_eq(ag_expr_num_inputs(NULL), 0);
    /* a NUL byte inside a counted program */
    ck_assert_ptr_null(ag_expr_parse_n("x\0y", 3, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "0x00"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("expr");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, numbers_and_constants);
    tcase_add_test(tc, bindings_shadow_constants);
    tcase_add_test(tc, bindings_listed_and_built);
    tcase_add_test(tc, unnamed_nodes_named_by_source_text);
    tcase_add_test(tc, operators_and_precedence);
    tcase_add_test(tc, functions);
    tcase_add_test(tc, statements_and_rebinding);
    tcase_add_test(tc, bind_values_by_name);
    tcase_add_test(tc, errors_have_positions);
    tcase_add_test(tc, unknown_functions_are_named);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, million_statements);
    tcase_add_test(tc, huge_numbers);
    tcase_add_test(tc, gradients_match_hand_built_graphs);
    tcase_add_test(tc, second_order_of_parsed_program);
    tcase_add_test(tc, bound_nodes_are_named);
    tcase_add_test(tc, memory_cap_is_an_error);
    tcase_add_test(tc, every_function_of_the_table);
    tcase_add_test(tc, tensor_literals_and_indexing);
    tcase_add_test(tc, tensor_ops_against_loops);
    tcase_add_test(tc, tensor_input_gradients);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
