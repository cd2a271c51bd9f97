/* The scalar tape (core/stmt.h): f64 scalars as compact statements, their
 * edges to nodes (promotion, imported parameters and leaf nodes), the
 * tape's room across blocks and resets, names, errors, and the fused
 * statements (wsum, dot, ag_statement, <tapegrad/scalar.h>). */
#include "op_rows.h"

#include "stmt.h"
#include <tapegrad/scalar.h>
#include <tapegrad/trace.h>

#include <string.h>

/* A chain over several blocks and the operand array's growth, over resets
 * (the room the fast path counts must always be there): statements of 0,
 * 1, 2, 3 and 40 operands, interleaved; the gradient against its value
 * computed alongside in doubles. */
START_TEST(room_across_blocks_and_resets) {
    ag_tape *t = ag_tape_new(0);
    for (int round = 0; round < 3; round++) {
        ag_tape_reset(t);
        ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
        ag_tensor *y = x;
        double dy = 1.0; /* dy/dx, by the chain rule in doubles */
        const int steps = 110000 + 20000 * round;
        for (int i = 0; i < steps; i++) {
            switch (i % 4) {
            case 0: y = ag_mul_c(t, y, 0.999); dy *= 0.999; break;          /* 1 operand */
            case 1: y = ag_add(t, y, ag_scalar(t, 1e-6)); break;           /* 2, a leaf */
            case 2: { /* 3 operands */
                ag_tensor *in[3] = {y, y, ag_scalar(t, 2.0)};
                y = ag_wsum(t, 3, in, (const double[]){0.25, 0.75, 0.0});
                break;
            }
            default: { /* a 40-operand statement */
                if (i % 400 != 3) break;
                ag_tensor *in[40];
                double w[40];
                for (int k = 0; k < 40; k++) in[k] = y, w[k] = 1.0 / 40;
                y = ag_wsum(t, 40, in, w);
            }
            }
        }
        ck_assert_int_eq(ag_tape_status(t), AG_OK);
        ck_assert_uint_gt(ag_tape_get_stats(t).scalars, 2 * AG_SBLOCK_N);
        ck_assert_int_eq(ag_backward(t, y), AG_OK);
        ck_assert_double_eq_tol(ag_grad_item(x), dy, 1e-12);
    }
    ag_tape_free(t);
}
END_TEST

/* A statement read by a tensor op is promoted to a scalar node; the
 * gradient comes back through it: z = sum(v · sin(x)) gives dz/dx =
 * sum(v) cos(x), first and second order (d²z/dx² = -sum(v) sin(x)). */
START_TEST(statements_inside_tensor_graphs) {
    ag_tape *t = ag_tape_new(0);
    const double x0 = 0.3, v[3] = {1.0, -2.0, 4.5}, sv = 3.5;
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
    ag_tensor *s = ag_sin(t, x);
    ck_assert(ag__is_stmt(s));
    ag_tensor *vt = ag_from_doubles(t, AG_F64, AG_SHAPE(3), v);
    ag_tensor *z = ag_sum(t, ag_mul(t, vt, s), AG_ALL, false);
    ck_assert(!ag__is_stmt(z));
    ck_assert_int_eq(ag_backward(t, z), AG_OK);
    ck_assert_double_eq_tol(ag_grad_item(x), sv * cos(x0), 1e-15);
    ck_assert_double_eq_tol(ag_grad_item(s), sv, 1e-15); /* the intermediate keeps its gradient */
    ag_tensor *g, *h;
    ck_assert_int_eq(ag_grad_ex(t, z, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_OK);
    ck_assert_double_eq_tol(ag_item(g), sv * cos(x0), 1e-15);
    ck_assert_int_eq(ag_grad(t, g, NULL, 1, &x, &h), AG_OK);
    ck_assert_double_eq_tol(ag_item(h), -sv * sin(x0), 1e-15);
    ck_assert_double_eq_tol(ag_grad_item(x), sv * cos(x0), 1e-15); /* ag_grad left it alone */
    /* and a scalar op on a 0-d op node stays on the node path */
    ag_tensor *w = ag_mul(t, z, x);
    ck_assert(!ag__is_stmt(w));
    ck_assert_double_eq_tol(ag_item(w), sv * sin(x0) * x0, 1e-15);
    ag_tape_free(t);
}
END_TEST

/* Parameters and 0-d leaf nodes are imported as leaf statements once per
 * generation; their gradients settle into them, also for ag_grad (only
 * the wanted ones) and create_graph. */
START_TEST(imported_parameters_and_leaf_nodes) {
    ag_tensor *p = ag_param_scalar(AG_F64, 1.5);
    ag_tape *t = ag_tape_new(0);
    for (int round = 0; round < 2; round++) {
        ag_tape_reset(t);
        ag_tensor *n = ag_requires_grad(t, ag_full(t, AG_F64, 0, NULL, -2.0)); /* a 0-d leaf node */
        ag_tensor *y = ag_mul(t, ag_mul(t, p, n), p); /* p^2 n */
        ck_assert(ag__is_stmt(y));
        ck_assert_int_eq(ag_backward(t, y), AG_OK);
        ck_assert_double_eq(ag_grad_item(p), (round + 1) * 2 * 1.5 * -2.0); /* accumulates */
        ck_assert_double_eq(ag_grad_item(n), 1.5 * 1.5);
        ag_tensor *g;
        ck_assert_int_eq(ag_grad(t, y, NULL, 1, &n, &g), AG_OK);
        ck_assert_double_eq(ag_item(g), 2.25);
        ck_assert_double_eq(ag_grad_item(n), 2.25);                         /* untouched */
        ck_assert_double_eq(ag_grad_item(p), (round + 1) * 2 * 1.5 * -2.0); /* not wanted */
        ag_tensor *gp, *hp;
        ck_assert_int_eq(ag_grad_ex(t, y, 1, &p, &gp, &(ag_backward_opts){.create_graph = true}), AG_OK);
        ck_assert_int_eq(ag_grad(t, gp, NULL, 1, &p, &hp), AG_OK);
        ck_assert_double_eq(ag_item(hp), 2 * -2.0);
    }
    /* a leaf node written after it was imported: the next op sees the new
     * value (a new import), and its gradient still settles into it */
    ag_tape_reset(t);
    ag_tensor *n = ag_requires_grad(t, ag_full(t, AG_F64, 0, NULL, 2.0));
    ag_tensor *y1 = ag_mul_c(t, n, 3.0);
    *(double *)ag_data_mut(n) = 5.0;
    ag_tensor *y2 = ag_mul(t, n, n);
    ck_assert_double_eq(ag_item(y1), 6.0);
    ck_assert_double_eq(ag_item(y2), 25.0);
    ck_assert_int_eq(ag_backward(t, ag_add(t, y1, y2)), AG_OK);
    ck_assert_double_eq(ag_grad_item(n), 3.0 + 10.0);
    ag_zero_grad(p);
    ag_tape_free(t);
    ag_param_free(p);
}
END_TEST

/* A statement of one tape is refused by another, with an error. */
START_TEST(another_tapes_statement_is_an_error) {
    ag_tape *a = ag_tape_new(0), *b = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(a, ag_scalar(a, 1.0));
    ag_tensor *y = ag_sin(b, x);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(ag_tape_status(b), AG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(b), "another tape"));
    ag_tape_clear_error(b);
    ck_assert_int_eq(ag_backward(b, ag_sin(a, x)), AG_ERR_ARG);
    ag_tape_clear_error(b);
    ck_assert_ptr_null(ag_requires_grad(b, ag_scalar(a, 2.0)));
    ck_assert_int_eq(ag_tape_status(a), AG_OK);
    ag_tape_free(a);
    ag_tape_free(b);
}
END_TEST

/* Names, values, gradients and the accessors of a statement. */
START_TEST(statement_handles) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 2.0)), "x");
    ag_tensor *y = ag_set_name(t, ag_square(t, x), "y");
    for (int i = 0; i < 300; i++) ag_set_name(t, ag_scalar(t, i), "filler"); /* the name map grows */
    ck_assert_str_eq(ag_name(x), "x");
    ck_assert_str_eq(ag_name(y), "y");
    ck_assert_ptr_null(ag_name(ag_neg(t, y)));
    ck_assert_int_eq(ag_ndim(y), 0);
    ck_assert_int_eq(ag_numel(y), 1);
    ck_assert_int_eq(ag_dtype_of(y), AG_F64);
    ck_assert_ptr_null(ag_shape(y));
    ck_assert_double_eq(*(const double *)ag_data(y), 4.0);
    ck_assert(isnan(ag_get(y, 1)));
    ck_assert_double_eq(ag_grad_item(y), 0.0); /* no sweep yet */
    ck_assert_int_eq(ag_backward(t, ag_mul_c(t, y, 3)), AG_OK);
    ck_assert_double_eq(ag_grad_item(y), 3.0);
    ck_assert_double_eq(ag_grad_item(x), 12.0);
    ag_zero_grad(x);
    ck_assert_double_eq(ag_grad_item(x), 0.0);
    *(double *)ag_grad_data(x) = 5.0; /* writable, as a node's */
    ck_assert_double_eq(ag_grad_item(x), 5.0);
    /* an error message names the statement operand */
    ck_assert_ptr_null(ag_add(t, y, ag_scalar_of(t, AG_F32, 1.0)));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "'y'"));
    ag_tape_free(t);
}
END_TEST

/* In no-grad mode a statement's op records nothing: a loose node. */
START_TEST(no_grad_mode_records_no_statement) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
    size_t before = ag_tape_get_stats(t).nodes;
    ag_no_grad_begin(t);
    ag_tensor *y = ag_exp(t, ag_mul(t, x, x));
    ag_no_grad_end(t);
    ck_assert_double_eq_tol(ag_item(y), exp(0.25), 1e-15);
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes, before);
    ck_assert(ag__is_stmt(ag_exp(t, x))); /* recording again */
    ag_tape_free(t);
}
END_TEST

/* The memory cap stops the scalar tape with an error, not a crash. */
START_TEST(memory_cap_on_statements) {
    ag_tape *t = ag_tape_new(2u << 20);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 1.0));
    for (int i = 0; i < 1000000 && x; i++) x = ag_sin(t, x);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_MEMORY);
    ck_assert_uint_le(ag_tape_get_stats(t).bytes_reserved, 2u << 20);
    ag_tape_reset(t);
    ck_assert_int_eq(ag_backward(t, ag_cos(t, ag_requires_grad(t, ag_scalar(t, 1.0)))), AG_OK);
    ag_tape_free(t);
}
END_TEST

/* ------------------------------------------------------ fused statements */

static ag_tensor *wsum_f(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    ag_tensor *xs[100];
    double w[100];
    for (int k = 0; k < 100; k++) {
        xs[k] = k % 3 ? ag_mul(t, in[k % 2], in[2]) : in[k % 3];
        w[k] = 0.01 * (k + 1) - 0.3;
    }
    return ag_wsum(t, 100, xs, w); /* two chained statements */
}

static ag_tensor *dot_f(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    ag_tensor *a[70], *b[70];
    for (int k = 0; k < 70; k++) {
        a[k] = in[k % 3];
        b[k] = k % 2 ? ag_sin(t, in[(k + 1) % 3]) : in[(k + 2) % 3];
    }
    return ag_dot(t, 70, a, b); /* three chained statements */
}

/* wsum and dot against central differences, first and second order,
 * with chaining past AG_STMT_MAX_OPERANDS; and the same values as the
 * elementwise chains they stand for, on tensors too. */
START_TEST(wsum_and_dot) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[3] = {ag_scalar(t, 0.7), ag_scalar(t, -1.2), ag_scalar(t, 0.4)};
    tu_assert_gradcheck(wsum_f, NULL, 3, in);
    tu_assert_gradcheck(dot_f, NULL, 3, in);
    ag_gradcheck_report r;
    ck_assert_msg(ag_gradgradcheck(wsum_f, NULL, 3, in, NULL, &r), "%s", r.message);
    ck_assert_msg(ag_gradgradcheck(dot_f, NULL, 3, in, NULL, &r), "%s", r.message);
    /* statements: the sum in order, as the chain of adds */
    ag_tensor *y = dot_f(t, in, NULL);
    ck_assert(ag__is_stmt(y));
    double v = 0;
    for (int k = 0; k < 70; k++) {
        double bk = k % 2 ? sin(ag_item(in[(k + 1) % 3])) : ag_item(in[(k + 2) % 3]);
        v = k ? v + ag_item(in[k % 3]) * bk : ag_item(in[k % 3]) * bk;
    }
    ck_assert_double_eq(ag_item(y), v);
    /* tensors: the elementwise composition */
    ag_tensor *a = ag_from_doubles(t, AG_F64, AG_SHAPE(2), (const double[]){1, 2});
    ag_tensor *b = ag_from_doubles(t, AG_F64, AG_SHAPE(2), (const double[]){3, 5});
    ag_tensor *s = ag_wsum(t, 2, (ag_tensor *[]){a, b}, (const double[]){2, -1});
    ck_assert_double_eq(ag_get(s, 0), -1);
    ck_assert_double_eq(ag_get(s, 1), -1);
    ag_tensor *d = ag_dot(t, 2, (ag_tensor *[]){a, b}, (ag_tensor *[]){b, b});
    ck_assert_double_eq(ag_get(d, 1), 10 + 25);
    ck_assert_ptr_null(ag_wsum(t, 0, NULL, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_free(t);
}
END_TEST

/* A statement with its partials given: first order as given, the same on
 * the node path (an f64 0-d op node input), and create_graph through it
 * fails with a clear error. */
START_TEST(statements_with_given_partials) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 2.0)), *w = ag_requires_grad(t, ag_scalar(t, 3.0));
    ag_tensor *y = ag_statement(t, 12.0, 2, (ag_tensor *[]){x, w}, (const double[]){12.0, 4.0});
    ck_assert_int_eq(ag_backward(t, ag_mul_c(t, y, 0.5)), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 6.0);
    ck_assert_double_eq(ag_grad_item(w), 2.0);
    ag_tensor *g;
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "statement"));
    ag_tape_clear_error(t);
    /* the node path: an input that is a 0-d op node */
    ag_tensor *v = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2), (const double[]){1, 2}));
    ag_tensor *z = ag_sum(t, v, AG_ALL, false);
    ag_tensor *yn = ag_statement(t, 9.0, 2, (ag_tensor *[]){z, x}, (const double[]){2.0, -1.0});
    ck_assert(!ag__is_stmt(yn));
    ag_zero_grad(x);
    ck_assert_int_eq(ag_backward(t, yn), AG_OK);
    ck_assert_double_eq(ag_grad_get(v, 1), 2.0);
    ck_assert_double_eq(ag_grad_item(x), -1.0);
    /* bad arguments */
    ag_tensor *many[64];
    double p[64] = {0};
    for (int k = 0; k < 64; k++) many[k] = x;
    ck_assert_ptr_null(ag_statement(t, 0, 64, many, p));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_free(t);
}
END_TEST

/* <tapegrad/scalar.h>: each operation's value and partial are the engine
 * op's, bit for bit (the header is generated from the same rules), at
 * points on both sides of the kinks; a fifth input is an error. */
typedef struct sx_case {
    const char *name;
    ag_sx (*sx)(ag_sx);
    ag_tensor *(*op)(ag_tape *, ag_tensor *);
} sx_case;
static ag_sx sx_leaky(ag_sx x) { return ag_sx_leaky_relu(x, 0.1); }
static ag_sx sx_add_c(ag_sx x) { return ag_sx_add_c(x, 1.5); }
static ag_sx sx_rsub_c(ag_sx x) { return ag_sx_rsub_c(1.5, x); }
static ag_sx sx_mul_c(ag_sx x) { return ag_sx_mul_c(x, -2.5); }
static ag_sx sx_rdiv_c(ag_sx x) { return ag_sx_rdiv_c(3, x); }
static ag_sx sx_pow_c(ag_sx x) { return ag_sx_pow_c(x, 3); }
static ag_sx sx_rpow_c(ag_sx x) { return ag_sx_rpow_c(2, x); }

START_TEST(inline_statements_match_the_ops) {
    static const sx_case cases[] = {
        {"neg", ag_sx_neg, ag_neg}, {"exp", ag_sx_exp, ag_exp}, {"log", ag_sx_log, ag_log},
        {"sqrt", ag_sx_sqrt, ag_sqrt}, {"abs", ag_sx_abs, ag_abs}, {"sin", ag_sx_sin, ag_sin},
        {"cos", ag_sx_cos, ag_cos}, {"tan", ag_sx_tan, ag_tan}, {"tanh", ag_sx_tanh, ag_tanh},
        {"sigmoid", ag_sx_sigmoid, ag_sigmoid}, {"relu", ag_sx_relu, ag_relu},
        {"leaky_relu", sx_leaky, tu_leaky}, {"gelu", ag_sx_gelu, ag_gelu},
        {"softplus", ag_sx_softplus, ag_softplus}, {"square", ag_sx_square, ag_square},
        {"add_c", sx_add_c, tu_add_c}, {"rsub_c", sx_rsub_c, tu_rsub_c}, {"mul_c", sx_mul_c, tu_mul_c},
        {"rdiv_c", sx_rdiv_c, tu_rdiv_c}, {"pow_c", sx_pow_c, tu_pow_c}, {"rpow_c", sx_rpow_c, tu_rpow_c},
    };
    static const double pts[] = {-1.3, -0.2, 0.35, 1.7};
    ag_tape *t = ag_tape_new(0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
            bool positive = !strcmp(cases[c].name, "log") || !strcmp(cases[c].name, "sqrt");
            double x0 = positive ? fabs(pts[k]) : pts[k];
            ag_tape_reset(t);
            ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
            ag_sx_stmt s = {0};
            ag_sx y = cases[c].sx(ag_sx_input(&s, x));
            ag_tensor *ys = ag_sx_record(t, &s, y), *ye = cases[c].op(t, x);
            ck_assert_int_eq(ag_backward(t, ye), AG_OK);
            double ge = ag_grad_item(x);
            ck_assert_msg(memcmp(&y.v, &(double){ag_item(ye)}, 8) == 0, "%s(%g) value", cases[c].name, x0);
            ck_assert_msg(memcmp(&y.d[0], &ge, 8) == 0, "%s(%g): partial %.17g vs %.17g", cases[c].name,
                          x0, y.d[0], ge);
            ck_assert_double_eq(ag_item(ys), y.v);
        }
    }
    /* binary ops, and the inputs' partials summed over paths */
    ag_tape_reset(t);
    ag_tensor *a = ag_requires_grad(t, ag_scalar(t, 1.3)), *b = ag_requires_grad(t, ag_scalar(t, 0.6));
    ag_sx_stmt s = {0};
    ag_sx sa = ag_sx_input(&s, a), sb = ag_sx_input(&s, b);
    ag_sx y = ag_sx_add(ag_sx_mul(ag_sx_div(sa, sb), ag_sx_pow(sa, sb)),
                        ag_sx_sub(ag_sx_maximum(sa, sb), ag_sx_minimum(sa, sb)));
    ag_tensor *ys = ag_sx_record(t, &s, y);
    ag_tensor *ye = ag_add(t, ag_mul(t, ag_div(t, a, b), ag_pow(t, a, b)),
                           ag_sub(t, ag_maximum(t, a, b), ag_minimum(t, a, b)));
    ck_assert_double_eq_tol(ag_item(ys), ag_item(ye), 1e-15);
    ck_assert_int_eq(ag_backward(t, ye), AG_OK);
    ck_assert_double_eq_tol(y.d[0], ag_grad_item(a), 1e-14);
    ck_assert_double_eq_tol(y.d[1], ag_grad_item(b), 1e-14);
    /* five inputs */
    ag_sx_stmt s5 = {0};
    ag_sx acc = ag_sx_const(0);
    for (int k = 0; k < 5; k++) acc = ag_sx_add(acc, ag_sx_input(&s5, a));
    ck_assert_ptr_null(ag_sx_record(t, &s5, acc));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_free(t);
}
END_TEST

/* The trace of a statement graph: every op and the gradient as ag_backward
 * leaves it (the statements are shown as temporary nodes). */
START_TEST(trace_of_statements) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 0.5)), "x");
    ag_tensor *u = ag_set_name(t, ag_sin(t, x), "u");
    ag_tensor *y = ag_set_name(t, ag_mul(t, u, ag_square(t, x)), "y");
    char buf[8192] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    size_t nodes = ag_tape_get_stats(t).nodes;
    ck_assert_int_eq(ag_trace(f, t, y, &(ag_trace_opts){.ascii = true}), AG_OK);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "sin(x)"));
    ck_assert_ptr_nonnull(strstr(buf, "y = u*")); /* as the language writes it, not mul(u, ...) */
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes, nodes); /* the temporary nodes are gone */
    double want = cos(0.5) * 0.25 + sin(0.5) * 2 * 0.5;
    ck_assert_double_eq_tol(ag_grad_item(x), want, 1e-15);
    ck_assert_double_eq_tol(ag_grad_item(u), 0.25, 1e-15);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("stmt");
    TCase *tc = tcase_create("stmt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, room_across_blocks_and_resets);
    tcase_add_test(tc, statements_inside_tensor_graphs);
    tcase_add_test(tc, imported_parameters_and_leaf_nodes);
    tcase_add_test(tc, another_tapes_statement_is_an_error);
    tcase_add_test(tc, statement_handles);
    tcase_add_test(tc, no_grad_mode_records_no_statement);
    tcase_add_test(tc, memory_cap_on_statements);
    tcase_add_test(tc, wsum_and_dot);
    tcase_add_test(tc, statements_with_given_partials);
    tcase_add_test(tc, inline_statements_match_the_ops);
    tcase_add_test(tc, trace_of_statements);
    static const tu_op_table *const tables[] = {&tu_rows_fused};
    tu_add_op_rows(tc, 1, tables);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
