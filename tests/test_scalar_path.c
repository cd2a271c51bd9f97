/* The scalar paths of recording: f64 scalars as compact statements
 * (core/stmt.h), f32 scalars and 0-d op nodes as 0-d nodes without the
 * generic recorder (core/scalar_path.h, ops/kernels.h). Both must record
 * what the generic recorder records, and their backward kernels must give
 * the tensor kernels' gradients, first order, f32, functional and recorded
 * (create_graph). */
#include "testutil.h"

#include "elementwise.h" /* ag__elementwise_unary, ag__elementwise_binary: the generic recorders */
#include "tape.h"      /* the scalar tape, core/stmt.h */

#include <string.h>

/* Every byte of the node: op, dtype, ndim, flags, epoch, inputs, attr,
 * ext, value and gradient slots (the struct has no padding). */
static void assert_same_node(const ag_tensor *fast, const ag_tensor *generic) {
    ck_assert_int_eq(fast->op, generic->op);
    ck_assert_int_eq(fast->dtype, generic->dtype);
    ck_assert_int_eq(fast->ndim, 0);
    ck_assert_int_eq(fast->flags, generic->flags);
    ck_assert_ptr_null(fast->ext);
    ck_assert_int_eq(memcmp(fast, generic, sizeof *fast), 0);
}

/* f32 scalars take the 0-d node fast path: byte for byte the generic node. */
START_TEST(fast_nodes_equal_generic_nodes) {
    ag_tape *t = ag_tape_new(0);
    const ag_dtype dt = AG_F32;
    ag_tensor *x = ag_requires_grad(t, ag_scalar_of(t, dt, 0.75));
    ag_tensor *c = ag_scalar_of(t, dt, -1.25); /* no gradient */
    ag_tensor *x_generic = ag_requires_grad(t, ag_full(t, dt, 0, NULL, 0.75));
    ck_assert_int_eq(memcmp(x, x_generic, sizeof *x), 0);
    assert_same_node(ag_mul(t, x, c), ag__elementwise_binary(t, AG_OP_MUL, x, c));
    assert_same_node(ag_sub(t, c, c), ag__elementwise_binary(t, AG_OP_SUB, c, c));
    assert_same_node(ag_pow(t, x, c), ag__elementwise_binary(t, AG_OP_POW, x, c));
    assert_same_node(ag_sin(t, x), ag__elementwise_unary(t, AG_OP_SIN, x, 0));
    assert_same_node(ag_mul_c(t, x, 3.5), ag__elementwise_unary(t, AG_OP_MUL_C, x, 3.5));
    assert_same_node(ag_leaky_relu(t, c, 0.1), ag__elementwise_unary(t, AG_OP_LEAKY_RELU, c, 0.1));
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

/* Statement i's operands (indices and partials) and constant, found by
 * walking the tape from the start as every reader of the record does. */
typedef struct stmt_view {
    uint16_t kind;
    unsigned nops;
    uint32_t in[2];
    double p[2], c;
} stmt_view;

static stmt_view view_of(const ag_tape *t, const ag_tensor *h) {
    const ag_stape *s = &t->s;
    size_t want = ag__stmt_index(h), o = 0, ci = 0;
    for (size_t i = 0; i < want; i++) {
        uint16_t k = ag__stmt_kind_at(s, i);
        o += ag__sk_nops(k);
        ci += (k & AG_SK_CONST) != 0;
    }
    stmt_view v = {.kind = ag__stmt_kind(h)};
    v.nops = ag__sk_nops(v.kind);
    for (unsigned m = 0; m < v.nops && m < 2; m++) {
        v.in[m] = s->in[o + m];
        v.p[m] = s->p[o + m];
    }
    v.c = ag__stmt_const(s, v.kind, ci, v.nops ? v.p[0] : 0.0);
    return v;
}

/* An f64 statement records what the generic node holds: the op, whether
 * it requires a gradient, the value bit for bit, the inputs (by index) and
 * the constant; and as partials the op's local derivatives, computed from
 * the same formulas (0 for an input without a gradient). */
static void assert_stmt_is(const ag_tape *t, const ag_tensor *h, const ag_tensor *generic,
                           const ag_tensor *a, const ag_tensor *b, double pa, double pb) {
    ck_assert(ag__is_stmt(h));
    stmt_view v = view_of(t, h);
    ck_assert_int_eq(ag__sk_op(v.kind), generic->op);
    ck_assert_int_eq(ag__handle_requires_grad(h), (generic->flags & AG_F_REQUIRES_GRAD) != 0);
    double hv = ag_item(h), gv = ag_item(generic);
    ck_assert_int_eq(memcmp(&hv, &gv, sizeof hv), 0);
    ck_assert_uint_eq(v.nops, b ? 2 : 1);
    ck_assert_uint_eq(v.in[0], ag__stmt_index(a));
    if (b) ck_assert_uint_eq(v.in[1], ag__stmt_index(b));
    double c = v.c, gc = generic->attr.c;
    ck_assert_int_eq(memcmp(&c, &gc, sizeof c), 0);
    ck_assert_double_eq(v.p[0], pa);
    if (b) ck_assert_double_eq(v.p[1], pb);
}

START_TEST(statements_hold_what_nodes_hold) {
    ag_tape *t = ag_tape_new(0);
    const double xv = 0.75, cv = -1.25;
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, xv));
    ag_tensor *c = ag_scalar(t, cv); /* no gradient */
    ck_assert(ag__is_stmt(x) && ag__is_stmt(c));
    ag_tensor *xn = ag_requires_grad(t, ag_full(t, AG_F64, 0, NULL, xv));
    ag_tensor *cn = ag_full(t, AG_F64, 0, NULL, cv);
    assert_stmt_is(t, ag_mul(t, x, c), ag__elementwise_binary(t, AG_OP_MUL, xn, cn), x, c, cv, 0.0);
    assert_stmt_is(t, ag_sub(t, c, c), ag__elementwise_binary(t, AG_OP_SUB, cn, cn), c, c, 0.0, 0.0);
    assert_stmt_is(t, ag_pow(t, x, c), ag__elementwise_binary(t, AG_OP_POW, xn, cn), x, c,
                   cv * pow(xv, cv - 1), 0.0);
    assert_stmt_is(t, ag_div(t, c, x), ag__elementwise_binary(t, AG_OP_DIV, cn, xn), c, x, 0.0,
                   -cv / (xv * xv));
    assert_stmt_is(t, ag_sin(t, x), ag__elementwise_unary(t, AG_OP_SIN, xn, 0), x, NULL, cos(xv), 0);
    /* constants: kept in the stream, or as the one partial (x*c), -0 kept */
    assert_stmt_is(t, ag_mul_c(t, x, 3.5), ag__elementwise_unary(t, AG_OP_MUL_C, xn, 3.5), x, NULL, 3.5, 0);
    assert_stmt_is(t, ag_mul_c(t, c, 3.5), ag__elementwise_unary(t, AG_OP_MUL_C, cn, 3.5), c, NULL, 0, 0);
    assert_stmt_is(t, ag_add_c(t, x, -0.0), ag__elementwise_unary(t, AG_OP_ADD_C, xn, -0.0), x, NULL, 1, 0);
    assert_stmt_is(t, ag_pow_c(t, x, 3), ag__elementwise_unary(t, AG_OP_POW_C, xn, 3), x, NULL,
                   3 * xv * xv, 0);
    assert_stmt_is(t, ag_leaky_relu(t, c, 0.1), ag__elementwise_unary(t, AG_OP_LEAKY_RELU, cn, 0.1),
                   c, NULL, 0, 0);
    ag_tensor *nx = ag_neg(t, x); /* -0.75: leaky_relu's partial is its slope, kept once */
    assert_stmt_is(t, ag_leaky_relu(t, nx, 0.1),
                   ag__elementwise_unary(t, AG_OP_LEAKY_RELU, ag_neg(t, xn), 0.1), nx, NULL, 0.1, 0);
    ck_assert(view_of(t, ag_leaky_relu(t, nx, 0.1)).kind & AG_SK_C_IS_P);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

/* Each op on scalars against the same op on 1-element tensors (the generic
 * kernels), value and gradients, in f64 and f32. */
typedef ag_tensor *(*binop)(ag_tape *, ag_tensor *, ag_tensor *);

START_TEST(scalar_kernels_match_tensor_kernels) {
    static const binop ops[] = {ag_add, ag_sub, ag_mul, ag_div, ag_pow, ag_maximum, ag_minimum};
    static const double pts[][2] = {{0.7, 1.3}, {2.0, 2.0}, {1.5, -0.5}};
    ag_tape *t = ag_tape_new(0);
    for (int k = 0; k < 2; k++) {
        ag_dtype dt = k ? AG_F32 : AG_F64;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            for (size_t p = 0; p < sizeof pts / sizeof pts[0]; p++) {
                ag_tape_reset(t);
                ag_tensor *a = ag_requires_grad(t, ag_scalar_of(t, dt, pts[p][0]));
                ag_tensor *b = ag_requires_grad(t, ag_scalar_of(t, dt, pts[p][1]));
                /* tanh after the op: the upstream gradient is not 1 */
                ag_tensor *y = ag_tanh(t, ops[o](t, a, b));
                ag_tensor *ta = ag_requires_grad(t, ag_full(t, dt, AG_SHAPE(1), pts[p][0]));
                ag_tensor *tb = ag_requires_grad(t, ag_full(t, dt, AG_SHAPE(1), pts[p][1]));
                ag_tensor *ty = ag_tanh(t, ops[o](t, ta, tb));
                ck_assert_int_eq(ag_backward(t, y), AG_OK);
                ck_assert_int_eq(ag_backward(t, ag_sum(t, ty, AG_ALL, false)), AG_OK);
                ck_assert_int_eq(ag_ndim(y), 0);
                ck_assert(ag__is_stmt(y) == (dt == AG_F64));
                ck_assert_double_eq(ag_item(y), ag_get(ty, 0));
                ck_assert_double_eq(ag_grad_item(a), ag_grad_get(ta, 0));
                ck_assert_double_eq(ag_grad_item(b), ag_grad_get(tb, 0));
            }
        }
    }
    ag_tape_free(t);
}
END_TEST

/* The first-order sweep over scalars records nothing and, once the tape
 * has its adjoint array (the first sweep makes it, resets keep it),
 * allocates nothing: a training loop's steady state is allocation-free. */
START_TEST(scalar_backward_allocates_nothing) {
    ag_tape *t = ag_tape_new(0);
    for (int round = 0; round < 3; round++) {
        ag_tape_reset(t);
        ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.3));
        ag_tensor *y = x;
        for (int i = 0; i < 100000; i++) y = ag_add_c(t, ag_mul(t, ag_sin(t, y), x), 0.5);
        ag_tape_stats before = ag_tape_get_stats(t);
        ck_assert_int_eq(ag_backward(t, y), AG_OK);
        ag_tape_stats after = ag_tape_get_stats(t);
        ck_assert_uint_eq(after.nodes, before.nodes);
        if (round > 0) ck_assert_uint_eq(after.allocations, before.allocations);
        /* in use: the statements, and after the first sweep their adjoints */
        ck_assert_uint_eq(after.bytes_in_use, before.bytes_in_use + (round == 0 ? 8 * after.scalars : 0));
        ck_assert(isfinite(ag_grad_item(x)) && ag_grad_item(x) != 0);
    }
    ag_tape_free(t);
}
END_TEST

/* ag_grad over scalars: only the wanted leaf gets a gradient, and the
 * stored gradients of the others are left alone. */
START_TEST(functional_grad_on_scalars) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 2.0));
    ag_tensor *w = ag_requires_grad(t, ag_scalar(t, 3.0));
    ag_tensor *y = ag_mul(t, ag_square(t, x), w); /* x^2 w */
    ck_assert_int_eq(ag_backward(t, y), AG_OK);   /* x: 12, w: 4 */
    ag_tensor *g;
    ck_assert_int_eq(ag_grad(t, y, NULL, 1, &x, &g), AG_OK);
    ck_assert_double_eq(ag_item(g), 12.0);
    ck_assert_double_eq(ag_grad_item(x), 12.0); /* restored, not doubled */
    ck_assert_double_eq(ag_grad_item(w), 4.0);  /* not touched */
    ag_tape_free(t);
}
END_TEST

/* create_graph through fast-path nodes: y = sin(x) x^3,
 * y'  = cos(x) x^3 + 3 sin(x) x^2,
 * y'' = -sin(x) x^3 + 6 cos(x) x^2 + 6 sin(x) x. */
START_TEST(second_derivative_through_scalar_nodes) {
    const double x0 = 0.8, s = sin(x0), c = cos(x0);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
    ag_tensor *y = ag_mul(t, ag_sin(t, x), ag_mul(t, ag_square(t, x), x));
    ag_tensor *g = NULL, *h = NULL;
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}),
                     AG_OK);
    ck_assert_double_eq_tol(ag_item(g), c * x0 * x0 * x0 + 3 * s * x0 * x0, 1e-12);
    ck_assert_int_eq(ag_grad(t, g, NULL, 1, &x, &h), AG_OK);
    ck_assert_double_eq_tol(ag_item(h), -s * x0 * x0 * x0 + 6 * c * x0 * x0 + 6 * s * x0, 1e-12);
    /* ag_backward_ex: the leaf's recorded gradient, and its stored value. */
    ag_zero_grad(x);
    ck_assert_int_eq(ag_backward_ex(t, y, &(ag_backward_opts){.create_graph = true}), AG_OK);
    ck_assert_ptr_nonnull(ag_graph_grad(t, x));
    ck_assert_double_eq_tol(ag_item(ag_graph_grad(t, x)), ag_item(g), 1e-15);
    ck_assert_double_eq_tol(ag_grad_item(x), ag_item(g), 1e-15);
    ag_tape_free(t);
}
END_TEST

/* Scalars mixed with the generic path: a scalar parameter input, grad mode
 * off, and a sticky error all bypass the fast path and behave as before. */
START_TEST(fast_path_falls_back) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *p = ag_param_scalar(AG_F64, 2.0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 3.0));
    ck_assert_int_eq(ag_backward(t, ag_mul(t, p, x)), AG_OK);
    ck_assert_double_eq(ag_grad_item(p), 3.0);
    ck_assert_double_eq(ag_grad_item(x), 2.0);

    size_t nodes = ag_tape_get_stats(t).nodes;
    ag_no_grad_begin(t);
    ag_tensor *z = ag_sin(t, x);
    ag_no_grad_end(t);
    ck_assert_double_eq(ag_item(z), sin(3.0));
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes, nodes);

    ck_assert_ptr_null(ag_add(t, x, ag_scalar_of(t, AG_F32, 1.0))); /* dtype mismatch */
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ck_assert_ptr_null(ag_add(t, x, x)); /* sticky */
    ck_assert_ptr_null(ag_scalar(t, 1.0));
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes, nodes + 1); /* the f32 leaf, nothing else */
    ag_param_free(p);
    ag_tape_free(t);
}
END_TEST

/* The tape's accounting: bytes in use and the peak across resets and
 * block boundaries, for 0-d nodes (f32: counted from nnodes, 16384-node
 * blocks) and for statements (f64: 10 bytes each and 12 per operand,
 * 52422-statement blocks). */
START_TEST(node_accounting) {
    static const size_t counts[3] = {20000, 120000, 20000};
    static const size_t peaks[3] = {20000, 120000, 120000};
    ag_tape *t = ag_tape_new(0);
    for (int k = 0; k < 2; k++) {
        ag_dtype dt = k ? AG_F64 : AG_F32;
        size_t per = k ? 2 + 8 + 12 : sizeof(ag_tensor), first = k ? 2 + 8 : sizeof(ag_tensor);
        for (int round = 0; round < 3; round++) {
            ag_tape_reset(t);
            ag_tensor *x = ag_requires_grad(t, ag_scalar_of(t, dt, 1.0));
            size_t n = counts[round];
            /* c = 1 is the partial: kept once (with a gradient; without,
             * the partial is 0 and c goes to the constant stream) */
            for (size_t i = 1; i < n; i++) x = ag_add_c(t, x, 1.0);
            ag_tape_stats s = ag_tape_get_stats(t);
            ck_assert_uint_eq(s.nodes, n);
            ck_assert_uint_eq(s.scalars, k ? n : 0);
            ck_assert_uint_eq(s.bytes_in_use, first + (n - 1) * per);
            if (k == 0) ck_assert_uint_eq(s.peak_bytes, first + (peaks[round] - 1) * per);
            ck_assert_double_eq(ag_item(x), (double)n);
        }
    }
    ag_tape_free(t);
}
END_TEST

/* Scalar parameters: the first use on a tape generation takes the generic
 * path (which notes the parameter for backward's version check), later uses
 * the fast path. Gradients accumulate into the parameter, a write after
 * recording is still refused, and a reset starts over. */
START_TEST(scalar_parameters_on_the_fast_path) {
    ag_tensor *w = ag_param_scalar(AG_F64, 1.5), *b = ag_param_scalar(AG_F64, -0.5);
    ag_tape *t = ag_tape_new(0);
    for (int round = 0; round < 2; round++) {
        ag_tensor *x = ag_scalar(t, 2.0);
        ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);        /* first uses: generic */
        ag_tensor *z = ag_mul(t, ag_mul(t, w, y), ag_add(t, b, x)); /* fast */
        ck_assert_int_eq(ag_backward(t, z), AG_OK);
        /* z = w (w x + b)(b + x): dz/dw = (2 w x + b)(b + x), dz/db = w(b + x) + w(w x + b) */
        double wx = 1.5 * 2, want_w = (2 * wx - 0.5) * 1.5, want_b = 1.5 * 1.5 + 1.5 * (wx - 0.5);
        ck_assert_double_eq_tol(ag_grad_item(w), (round + 1) * want_w, 1e-14);
        ck_assert_double_eq_tol(ag_grad_item(b), (round + 1) * want_b, 1e-14);
        ag_tape_reset(t);
    }
    ag_tensor *y = ag_mul(t, w, w);
    y = ag_mul(t, y, w); /* fast: w already noted */
    *(double *)ag_data_mut(w) = 2.0;
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_STATE);
    ag_tape_free(t);
    ag_param_free(w);
    ag_param_free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("scalar_path");
    TCase *tc = tcase_create("scalar_path");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fast_nodes_equal_generic_nodes);
    tcase_add_test(tc, statements_hold_what_nodes_hold);
    tcase_add_test(tc, scalar_kernels_match_tensor_kernels);
    tcase_add_test(tc, scalar_backward_allocates_nothing);
    tcase_add_test(tc, functional_grad_on_scalars);
    tcase_add_test(tc, second_derivative_through_scalar_nodes);
    tcase_add_test(tc, fast_path_falls_back);
    tcase_add_test(tc, node_accounting);
    tcase_add_test(tc, scalar_parameters_on_the_fast_path);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
