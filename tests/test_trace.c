/* The chain-rule trace and the DOT export: key lines of known traces, the
 * sum over paths, tensors, the state left behind, errors, DOT structure. */
#include "testutil.h"

#include <tapegrad/trace.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs ag_trace into a string (caller frees); *st gets its status. */
static char *trace_str(ag_tape *t, ag_tensor *y, const ag_trace_opts *o, ag_status *st) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *st = ag_trace(f, t, y, o);
    fclose(f);
    return buf;
}

static char *dot_str(ag_tape *t, ag_tensor *y, ag_status *st) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    *st = ag_write_dot(f, t, y);
    fclose(f);
    return buf;
}

#define assert_has(s, line) ck_assert_msg(strstr((s), (line)) != NULL, "missing line: %s\nin:\n%s", (line), (s))

START_TEST(exp_x2_key_lines) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 0.5)), "x");
    ag_tensor *z = ag_set_name(t, ag_square(t, x), "z");
    ag_tensor *y = ag_set_name(t, ag_exp(t, z), "y");
    ag_status st;
    char *s = trace_str(t, y, NULL, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "  n1    x     input    0.5\n");
    assert_has(s, "  n2    z     n1^2     0.25\n");
    assert_has(s, "  n3    y     exp(n2)  1.28403\n");
    assert_has(s, "step 1  y = exp(z)\n");
    assert_has(s, "  upstream   \u2202y/\u2202y = 1 (the seed)\n");
    assert_has(s, "  local      \u2202exp(z)/\u2202z = exp(z) = 1.28403\n");
    assert_has(s, "  passes on  to z: 1 \u00b7 1.28403 = 1.28403\n");
    assert_has(s, "  upstream   \u2202y/\u2202z = 1.28403 (from y)\n");
    assert_has(s, "  local      \u2202(x^2)/\u2202x = 2x = 1\n");
    assert_has(s, "  gradient   \u2202y/\u2202x = 1.28403 (from z)\n");
    ck_assert_double_eq_tol(ag_grad_item(x), 2 * 0.5 * exp(0.25), 1e-15);
    free(s);
    /* ASCII mode and more digits */
    ag_zero_grad(x);
    s = trace_str(t, y, &(ag_trace_opts){.ascii = true, .digits = 12}, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "  local      d exp(z)/dz = exp(z) = 1.28402541669\n");
    assert_has(s, "  passes on  to x: 1.28402541669 * 1 = 1.28402541669\n");
    for (const char *p = s; *p; p++) ck_assert_msg((unsigned char)*p < 0x80, "non-ASCII output");
    free(s);
    ag_tape_free(t);
}
END_TEST

START_TEST(fan_out_sum_over_paths) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 3.0)), "a");
    ag_tensor *b = ag_set_name(t, ag_add(t, a, a), "b");
    ag_tensor *c = ag_set_name(t, ag_mul(t, b, b), "c");
    ag_status st;
    char *s = trace_str(t, c, NULL, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "  local      \u2202(b*b)/\u2202b = b = 6   (operand 1)\n");
    assert_has(s, "  upstream   \u2202c/\u2202b = 6 (from c, operand 1) + 6 (from c, operand 2) = 12\n");
    assert_has(s, "  passes on  to a: 12 \u00b7 1 = 12   (operand 1)\n");
    assert_has(s, "  gradient   \u2202c/\u2202a = 12 (from b, operand 1) + 12 (from b, operand 2) = 24\n");
    ck_assert_double_eq(ag_grad_item(a), 24.0);
    ck_assert_double_eq(ag_grad_item(b), 12.0);
    free(s);
    /* A second trace: the leaf accumulates, and the trace says so. */
    s = trace_str(t, c, NULL, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "  gradient   \u2202c/\u2202a =   24 (kept from earlier backward calls)\n");
    assert_has(s, "                   +   12 (from b, operand 2)\n");
    assert_has(s, "                   =   48\n");
    ck_assert_double_eq(ag_grad_item(a), 48.0);
    free(s);
    ag_tape_free(t);
}
END_TEST

/* The same graph built twice: one traced, one through ag_backward. */
static ag_tensor *model(ag_tape *t, ag_tensor **leaves, ag_tensor *p) {
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_tensor *x = ag_uniform(t, AG_F64, AG_SHAPE(4, 3), -1, 1, &r);
    ag_tensor *w = ag_requires_grad(t, ag_uniform(t, AG_F64, AG_SHAPE(3, 2), -1, 1, &r));
    ag_tensor *s = ag_requires_grad(t, ag_scalar(t, 0.7));
    leaves[0] = w;
    leaves[1] = s;
    ag_tensor *h = ag_tanh(t, ag_add(t, ag_matmul(t, x, w), p));
    ag_tensor *parts[2] = {ag_mul(t, h, s), ag_sigmoid(t, h)};
    ag_tensor *cat = ag_concat(t, 2, parts, 0);
    ag_tensor *m = ag_where(t, ag_full(t, AG_F64, AG_SHAPE(8, 2), 1.0), cat, ag_square(t, cat));
    return ag_add(t, ag_mean(t, ag_mul(t, m, m), AG_ALL, false), ag_mul(t, s, s));
}

START_TEST(tensors_same_gradients_as_backward) {
    ag_tensor *p1 = ag_param_new(AG_F64, AG_SHAPE(2), (double[]){0.1, -0.2});
    ag_tensor *p2 = ag_param_new(AG_F64, AG_SHAPE(2), (double[]){0.1, -0.2});
    ag_tape *t1 = ag_tape_new(0), *t2 = ag_tape_new(0);
    ag_tensor *l1[2], *l2[2];
    ag_tensor *y1 = model(t1, l1, p1), *y2 = model(t2, l2, p2);
    ag_status st;
    char *s = trace_str(t1, y1, &(ag_trace_opts){.width = 60, .max_elems = 2}, &st);
    ck_assert_int_eq(st, AG_OK);
    ck_assert_int_eq(ag_backward(t2, y2), AG_OK);
    assert_has(s, "[3, 2] {");
    assert_has(s, "matmul(");
    assert_has(s, "concat(");
    assert_has(s, "param");
    /* Every line fits the width (UTF-8 counted in characters). */
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '\n');
        size_t cols = 0;
        for (const char *q = p; q < e; q++) cols += ((unsigned char)*q & 0xC0) != 0x80;
        ck_assert_msg(cols <= 60, "line too wide (%zu): %.*s", cols, (int)(e - p), p);
        p = e + 1;
    }
    for (int k = 0; k < 6; k++) ck_assert_double_eq(ag_grad_get(l1[0], k), ag_grad_get(l2[0], k));
    ck_assert_double_eq(ag_grad_item(l1[1]), ag_grad_item(l2[1]));
    for (int k = 0; k < 2; k++) ck_assert_double_eq(ag_grad_get(p1, k), ag_grad_get(p2, k));
    ck_assert_double_ne(ag_grad_get(p1, 0), 0.0);
    free(s);
    ag_tape_free(t1);
    ag_tape_free(t2);
    ag_param_free(p1);
    ag_param_free(p2);
}
END_TEST

START_TEST(errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 1.0));
    ag_tensor *v = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(3)));
    ag_status st;
    ck_assert_int_eq(ag_trace(stdout, NULL, x, NULL), AG_ERR_NULL);
    ck_assert_int_eq(ag_write_dot(stdout, NULL, x), AG_ERR_NULL);
    char *s = trace_str(t, NULL, NULL, &st);
    ck_assert_int_eq(st, AG_ERR_NULL);
    ck_assert_str_eq(s, "");
    free(s);
    ag_tape_clear_error(t);
    s = trace_str(t, ag_mul(t, v, v), NULL, &st); /* not a scalar */
    ck_assert_int_eq(st, AG_ERR_SHAPE);
    ck_assert_str_eq(s, "");
    free(s);
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_trace(NULL, t, x, NULL), AG_ERR_NULL);
    ck_assert_ptr_nonnull(ag_tape_error(t));
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_write_dot(NULL, t, x), AG_ERR_NULL);
    ag_tape_clear_error(t);
    /* A parameter written after recording: refused, nothing changed. */
    ag_tensor *p = ag_param_scalar(AG_F64, 2.0);
    ag_tensor *y = ag_mul(t, p, x);
    *(double *)ag_data_mut(p) = 3.0;
    s = trace_str(t, y, NULL, &st);
    ck_assert_int_eq(st, AG_ERR_STATE);
    ck_assert_double_eq(ag_grad_item(p), 0.0);
    free(s);
    ag_tape_clear_error(t);
    /* A constant output: a table and no steps. */
    ag_tape_reset(t);
    s = trace_str(t, ag_mul_c(t, ag_scalar(t, 2.0), 3.0), NULL, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "depends on nothing that needs a gradient");
    free(s);
    ag_param_free(p);
    ag_tape_free(t);
}
END_TEST

/* Counts lines that start with "  n<digits> [". */
static int dot_node_lines(const char *s) {
    int count = 0;
    for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "  n", 3) != 0) continue;
        const char *q = p + 3;
        while (*q >= '0' && *q <= '9') q++;
        if (q > p + 3 && strncmp(q, " [", 2) == 0) count++;
    }
    return count;
}

START_TEST(dot_structure) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 3.0)), "say \"hi\"\\ \nnext");
    ag_tensor *w = ag_requires_grad(t, ag_ones(t, AG_F32, AG_SHAPE(2, 2)));
    ag_tensor *b = ag_add(t, a, a);
    ag_tensor *c = ag_mul(t, b, b);
    ag_tensor *unused = ag_exp(t, a);
    (void)unused;
    ag_tensor *y = ag_add(t, c, ag_mul(t, ag_scalar(t, 1.0), b));
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ag_status st;
    char *s = dot_str(t, y, &st);
    ck_assert_int_eq(st, AG_OK);
    ck_assert_int_eq(strncmp(s, "digraph tapegrad {\n", 19), 0);
    int depth = 0;
    bool in_str = false;
    for (const char *p = s; *p; p++) {
        if (in_str) {
            if (*p == '\\') {
                ck_assert_msg(p[1] == '"' || p[1] == '\\' || p[1] == 'n', "bad escape");
                p++;
            } else if (*p == '"') {
                in_str = false;
            } else {
                ck_assert_msg(*p != '\n', "raw newline inside a string");
            }
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            ck_assert_int_gt(depth, 0);
            depth--;
        }
    }
    ck_assert(!in_str);
    ck_assert_int_eq(depth, 0);
    ck_assert_int_eq(dot_node_lines(s), 6); /* a, b, c, const 1, mul, y; not exp, not w */
    assert_has(s, "say \\\"hi\\\"\\\\ \\nnext = input");
    assert_has(s, "grad ");
    assert_has(s, "-> ");
    free(s);
    /* Tensors show their shape. */
    s = dot_str(t, ag_sum(t, ag_mul(t, w, w), AG_ALL, false), &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "input (f32)\\nvalue [2, 2] {1, 1, 1, 1}");
    ck_assert_int_eq(dot_node_lines(s), 3);
    free(s);
    ag_tape_free(t);
}
END_TEST

/* Ops are written as the expression language writes them, never by their
 * op-table names (pow_c, mul): in the forward table, the step heads, the
 * local partials (exponents worked out: c·x^(c-1) with c = 2 is 2·x, with
 * c = 3 is 3·x^2), no doubled parentheses, and in the DOT labels. Nodes are
 * named as the expression language names them (by their source text). */
START_TEST(user_facing_op_names) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *w = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 0.5)), "w");
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 2.0)), "x");
    ag_tensor *b = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 0.1)), "b");
    ag_tensor *y = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 1.0)), "y");
    ag_tensor *wx = ag_set_name(t, ag_mul(t, w, x), "w*x");
    ag_tensor *z = ag_set_name(t, ag_add(t, wx, b), "w*x + b");
    ag_tensor *o = ag_set_name(t, ag_tanh(t, z), "o");
    ag_tensor *d = ag_set_name(t, ag_sub(t, o, y), "o - y");
    ag_tensor *sq = ag_set_name(t, ag_pow_c(t, d, 2.0), "(o - y)^2");
    ag_tensor *cube = ag_set_name(t, ag_pow_c(t, o, 3.0), "o^3");
    ag_tensor *inv = ag_pow_c(t, x, -0.5);
    /* one op per statement: C leaves the order of arguments open */
    ag_tensor *shifted = ag_add_c(t, inv, -1.0);
    ag_tensor *sum = ag_add(t, sq, cube);
    ag_tensor *out = ag_add(t, sum, shifted);
    ag_status st;
    char *s = trace_str(t, out, &(ag_trace_opts){.width = 100}, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "  n5    w*x        n1*n2      1\n");
    assert_has(s, "  n7    o          tanh(n6)   0.800499\n");
    assert_has(s, "  n9    (o - y)^2  n8^2       0.0398006\n");
    assert_has(s, "n2^(-0.5)");
    assert_has(s, "n11 - 1");   /* x + (-1) reads x - 1 */
    assert_has(s, "step 6  (o - y)^2\n");
    assert_has(s, "  local      \u2202((o - y)^2)/\u2202(o - y) = 2\u00b7(o - y) = -0.399002\n");
    assert_has(s, "  local      \u2202(o^3)/\u2202o = 3\u00b7o^2 = 1.9224\n");
    assert_has(s, "o = tanh(w*x + b)\n");
    assert_has(s, "\u2202tanh(w*x + b)/\u2202(w*x + b) = 1 - tanh(w*x + b)^2 = 0.359201\n");
    assert_has(s, "\u2202(w*x + b)/\u2202(w*x) = 1\n");
    assert_has(s, "\u2202(w*x)/\u2202w = x = 2\n");
    assert_has(s, "step 4  n11 = x^(-0.5)\n  upstream   \u2202n14/\u2202n11 = 1 (from n12)\n  local      \u2202(x^(-0.5))/\u2202x = (-0.5)\u00b7x^(-1.5) = -0.176777\n");
    /* nothing of the op table's spelling is left */
    ck_assert_ptr_null(strstr(s, "pow_c"));
    ck_assert_ptr_null(strstr(s, "mul("));
    ck_assert_ptr_null(strstr(s, "add("));
    ck_assert_ptr_null(strstr(s, "^(2-1)"));
    ck_assert_ptr_null(strstr(s, "tanh(("));
    /* the numbers are the backward's: d/dx of x^-0.5 + the tanh path */
    double dz = (2 * (tanh(1.1) - 1) + 3 * tanh(1.1) * tanh(1.1)) * (1 - tanh(1.1) * tanh(1.1));
    ck_assert_double_eq_tol(ag_grad_item(x), dz * 0.5 - 0.5 * pow(2.0, -1.5), 1e-12);
    free(s);
    s = dot_str(t, out, &st);
    ck_assert_int_eq(st, AG_OK);
    assert_has(s, "label=\"o = tanh(w*x + b)\\nvalue 0.800499");
    assert_has(s, "label=\"(o - y)^2\\nvalue");
    assert_has(s, "label=\"w = input\\nvalue 0.5");
    ck_assert_ptr_null(strstr(s, "pow_c"));
    ck_assert_ptr_null(strstr(s, "mul"));
    free(s);
    ag_tape_free(t);
}
END_TEST

/* The JSON trace: the same sweep as the text (same gradients on the tape,
 * the same text when both are asked for), every step's upstream, its terms
 * (the sum over paths for b in a*b + b^3), locals and shares. */
START_TEST(json_trace) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 2.0)), "a");
    ag_tensor *b = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 3.0)), "b");
    ag_tensor *ab = ag_mul(t, a, b); /* in this order: n3 = a*b, n4 = b^3 */
    ag_tensor *b3 = ag_pow_c(t, b, 3.0);
    ag_tensor *y = ag_add(t, ab, b3);
    char *js = NULL, *text = NULL;
    size_t jl = 0, tl = 0;
    FILE *jf = open_memstream(&js, &jl), *tf = open_memstream(&text, &tl);
    ck_assert_int_eq(ag_trace_json(jf, tf, t, y, NULL), AG_OK);
    fclose(jf);
    fclose(tf);
    ck_assert_double_eq(ag_grad_item(a), 3.0);
    ck_assert_double_eq(ag_grad_item(b), 29.0); /* 2 (from a*b) + 27 (from b^3) */
    assert_has(js, "{\"output\": \"n5\", \"output_label\": \"n5\", \"steps\": [");
    assert_has(js, "{\"node\": \"n2\", \"head\": \"b   (input, a leaf)\", \"leaf\": true, \"seed\": false, "
                   "\"grad\": 29, \"kept\": null, \"terms\": [{\"from\": \"n4\", \"operand\": 1, \"value\": 27}, "
                   "{\"from\": \"n3\", \"operand\": 2, \"value\": 2}]}");
    assert_has(js, "\"local\": [{\"to\": \"n2\", \"operand\": 1, \"formula\": \"\u2202(b^3)/\u2202b = 3\u00b7b^2 = 27\", "
                   "\"value\": 27}], \"passes\": [{\"to\": \"n2\", \"operand\": 1, \"value\": 27}]}");
    assert_has(js, "{\"id\": \"n3\", \"label\": \"n3\", \"kind\": \"op\", \"text\": \"a*b\", \"inputs\": [\"n1\", \"n2\"], "
                   "\"value\": 6, \"leaf\": false, \"output\": false, \"grad\": 1}");
    /* the text is ag_trace's: a second tape traced the plain way */
    ag_tape *t2 = ag_tape_new(0);
    ag_tensor *a2 = ag_set_name(t2, ag_requires_grad(t2, ag_scalar(t2, 2.0)), "a");
    ag_tensor *b2 = ag_set_name(t2, ag_requires_grad(t2, ag_scalar(t2, 3.0)), "b");
    ag_status st;
    ag_tensor *ab2 = ag_mul(t2, a2, b2);
    ag_tensor *b32 = ag_pow_c(t2, b2, 3.0);
    char *plain = trace_str(t2, ag_add(t2, ab2, b32), NULL, &st);
    ck_assert_int_eq(st, AG_OK);
    ck_assert_str_eq(text, plain);
    free(plain);
    free(text);
    free(js);
    /* tensors: shape and data; a name with < is escaped for HTML */
    js = NULL;
    jf = open_memstream(&js, &jl);
    ag_tensor *w = ag_set_name(t, ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4})), "w<");
    ck_assert_int_eq(ag_trace_json(jf, NULL, t, ag_sum(t, ag_mul(t, w, w), AG_ALL, false), NULL), AG_OK);
    fclose(jf);
    assert_has(js, "\"label\": \"w\\u003c\"");
    assert_has(js, "\"grad\": {\"shape\": [2, 2], \"truncated\": false, \"data\": [2, 4, 6, 8]}");
    free(js);
    ck_assert_int_eq(ag_trace_json(NULL, NULL, t, y, NULL), AG_ERR_NULL);
    ag_tape_free(t2);
    ag_tape_free(t);
}
END_TEST

START_TEST(deep_chain_no_recursion) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
    ag_tensor *h = x;
    for (int i = 0; i < 100000; i++) h = ag_mul_c(t, h, 1.0);
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    ck_assert_int_eq(ag_write_dot(devnull, t, h), AG_OK);
    ck_assert_int_eq(ag_trace(devnull, t, h, NULL), AG_OK);
    fclose(devnull);
    ck_assert_double_eq(ag_grad_item(x), 1.0);
    ag_tape_free(t);
}
END_TEST

/* A leaf used 5,000 times gets 5,000 terms in its sum. The sum showed at
 * most 4,096 (the rest silently dropped), and found repeated operands by a
 * scan per term, so a 1 MB program took 80 s to trace. */
START_TEST(long_sums_in_full) {
    enum { USES = 5000 };
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 0.5)), "x");
    ag_tensor *y = NULL;
    double total = 0;
    for (int i = 1; i <= USES; i++) {
        ag_tensor *term = ag_mul_c(t, x, (double)(i % 7));
        total += i % 7;
        y = y ? ag_add(t, y, term) : term;
    }
    ag_tensor *sq = ag_mul(t, x, x); /* and one node passing two terms (operands named) */
    y = ag_add(t, y, sq);
    total += 2 * 0.5;
    /* Through a temporary file: GCC 12 takes strstr results into
     * open_memstream's buffer for dangling pointers (-Wdangling-pointer). */
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ag_trace(f, t, y, &(ag_trace_opts){.width = 100}), AG_OK);
    long len = ftell(f);
    char *out = malloc((size_t)len + 1);
    rewind(f);
    ck_assert_uint_eq(fread(out, 1, (size_t)len, f), (size_t)len);
    out[len] = '\0';
    fclose(f);
    const char *sec = strstr(out, "x   (input, a leaf)");
    ck_assert_ptr_nonnull(sec);
    const char *end = strstr(sec, "Gradients now stored");
    ck_assert_ptr_nonnull(end);
    int terms = 0;
    for (const char *p = sec; (p = strstr(p, "(from ")) && p < end; p++) terms++;
    ck_assert_int_eq(terms, USES + 2);
    char want[64];
    snprintf(want, sizeof want, "=   %g", total);
    ck_assert_msg(strstr(sec, want) && strstr(sec, want) < end, "no total line '%s'", want);
    ck_assert_ptr_nonnull(strstr(sec, ", operand 1)"));
    ck_assert_ptr_nonnull(strstr(sec, ", operand 2)"));
    free(out);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("trace");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exp_x2_key_lines);
    tcase_add_test(tc, fan_out_sum_over_paths);
    tcase_add_test(tc, tensors_same_gradients_as_backward);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, dot_structure);
    tcase_add_test(tc, user_facing_op_names);
    tcase_add_test(tc, json_trace);
    tcase_add_test(tc, deep_chain_no_recursion);
    tcase_add_test(tc, long_sums_in_full);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
