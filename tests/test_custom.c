/* Custom ops (<tapegrad/custom_op.h>): the custom family's op row
 * (tests/rows/custom.c); a fused softplus and a fused layer
 * norm defined in user code, checked against finite differences (first and
 * second order), against the same functions built from engine ops, in f32
 * and f64; a deliberately wrong backward that gradcheck must catch; every
 * callback's errors; the context destructor's single run; create_graph
 * without a graph-form backward; names, traces and DOT; the memory cap. */
#include "op_rows.h"

#include <tapegrad/custom_op.h>
#include <tapegrad/trace.h>

#include <stdlib.h>
#include <string.h>

/* Element i of a buffer of dtype d, as a double, and += into one. */
static double ld(ag_dtype d, const void *p, int64_t i) {
    return d == AG_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void st(ag_dtype d, void *p, int64_t i, double v) {
    if (d == AG_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}
static void add(ag_dtype d, void *p, int64_t i, double v) { st(d, p, i, ld(d, p, i) + v); }

/* ------------------------------------------------------ fused softplus */

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

static ag_status sp_forward(const ag_custom_call *c, void *out) {
    const void *x = ag_data(c->in[0]);
    for (int64_t i = 0, n = ag_numel(c->out); i < n; i++) st(c->dtype, out, i, softplus(ld(c->dtype, x, i)));
    return AG_OK;
}

static ag_status sp_backward(const ag_custom_call *c, const void *gout, void *const *gin) {
    const void *x = ag_data(c->in[0]);
    if (!gin[0]) return AG_OK;
    for (int64_t i = 0, n = ag_numel(c->out); i < n; i++)
        add(c->dtype, gin[0], i, ld(c->dtype, gout, i) * sigmoid(ld(c->dtype, x, i)));
    return AG_OK;
}

/* d softplus = sigmoid(x), as ops: differentiable again. */
static ag_status sp_backward_graph(ag_tape *t, const ag_custom_call *c, ag_tensor *gout, ag_tensor **gin) {
    gin[0] = ag_mul(t, gout, ag_sigmoid(t, c->in[0]));
    return gin[0] ? AG_OK : ag_tape_status(t);
}

static const ag_custom_op softplus_op = {
    .name = "fused_softplus", .ninputs = 1, .forward = sp_forward, .backward = sp_backward,
    .backward_graph = sp_backward_graph, .local_grad = "d softplus(x)/dx = sigmoid(x)",
};

/* The same op with no graph-form backward, and one whose backward is wrong
 * (sigmoid(-x) where sigmoid(x) belongs). */
static const ag_custom_op softplus_first_order = {
    .name = "softplus_1st", .ninputs = 1, .forward = sp_forward, .backward = sp_backward,
};

static ag_status sp_wrong_backward(const ag_custom_call *c, const void *gout, void *const *gin) {
    const void *x = ag_data(c->in[0]);
    for (int64_t i = 0, n = ag_numel(c->out); gin[0] && i < n; i++)
        add(c->dtype, gin[0], i, ld(c->dtype, gout, i) * (1 - sigmoid(ld(c->dtype, x, i))));
    return AG_OK;
}

static const ag_custom_op softplus_wrong = {
    .name = "softplus_wrong", .ninputs = 1, .forward = sp_forward, .backward = sp_wrong_backward,
};

static ag_tensor *apply_op(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const ag_custom_op *op = ctx;
    return ag_custom(t, op, NULL, op->ninputs, x);
}

/* The custom op inside a graph: exp(softplus(x)·x), so the upstream
 * gradient is not all ones and second order mixes paths. */
static ag_tensor *apply_softplus_chain(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    ag_tensor *s = ag_custom(t, &softplus_op, NULL, 1, x);
    return ag_exp(t, ag_mul_c(t, ag_mul(t, s, x[0]), 0.3));
}

static const int64_t s5[] = {5}, s23[] = {2, 3}, s234[] = {2, 3, 4};
static const struct {
    int nd;
    const int64_t *shape;
} shapes[] = {{0, NULL}, {1, s5}, {2, s23}, {3, s234}};

START_TEST(softplus_gradients) {
    ag_rng r;
    ag_rng_seed(&r, 11 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, shapes[_i].nd, shapes[_i].shape, -3, 3);
    tu_assert_gradcheck(apply_op, (void *)&softplus_op, 1, &x);
    tu_assert_gradcheck(apply_softplus_chain, NULL, 1, &x);
    ag_gradcheck_report rep;
    ck_assert_msg(ag_gradgradcheck(apply_op, (void *)&softplus_op, 1, &x, NULL, &rep), "%s", rep.message);
    ck_assert_int_gt(rep.checked, 0);
    ck_assert_msg(ag_gradgradcheck(apply_softplus_chain, NULL, 1, &x, NULL, &rep), "%s", rep.message);
    ag_tape_free(t);
}
END_TEST

/* Values and gradients equal the engine's ag_softplus, in both dtypes. */
START_TEST(softplus_matches_engine) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        ag_rng r;
        ag_rng_seed(&r, 5);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = ag_requires_grad(t, ag_uniform(t, dt, AG_SHAPE(4, 6), -4, 4, &r));
        ag_tensor *y = ag_custom(t, &softplus_op, NULL, 1, &x);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(ag_dtype_of(y), dt);
        ck_assert_int_eq(ag_ndim(y), 2);
        ag_tensor *ref = ag_softplus(t, x);
        ag_tensor *gc, *gr;
        ck_assert_int_eq(ag_grad(t, ag_sum(t, ag_square(t, y), AG_ALL, false), NULL, 1, &x, &gc), AG_OK);
        ck_assert_int_eq(ag_grad(t, ag_sum(t, ag_square(t, ref), AG_ALL, false), NULL, 1, &x, &gr), AG_OK);
        double tol = d ? 1e-14 : 1e-6;
        for (int64_t i = 0; i < 24; i++) {
            ck_assert_double_eq_tol(ag_get(y, i), ag_get(ref, i), tol);
            ck_assert_double_eq_tol(ag_get(gc, i), ag_get(gr, i), tol);
        }
        ag_tape_free(t);
    }
}
END_TEST

START_TEST(wrong_backward_is_caught) {
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, AG_SHAPE(3, 2), -2, 2);
    ag_gradcheck_report rep;
    ck_assert(!ag_gradcheck(apply_op, (void *)&softplus_wrong, 1, &x, NULL, &rep));
    ck_assert_int_eq(rep.verdict, AG_GRADCHECK_MISMATCH);
    ck_assert(ag_gradcheck(apply_op, (void *)&softplus_op, 1, &x, NULL, &rep));
    ag_tape_free(t);
}
END_TEST

/* No graph-form backward: create_graph (and so gradgradcheck, hvp) fails
 * with an error naming the op; the first order works. */
START_TEST(create_graph_needs_backward_graph) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(3), (const double[]){-1, 0, 2}));
    ag_tensor *y = ag_sum(t, ag_custom(t, &softplus_first_order, NULL, 1, &x), AG_ALL, false);
    ag_tensor *g;
    ck_assert_int_eq(ag_grad(t, y, NULL, 1, &x, &g), AG_OK);
    ck_assert_double_eq_tol(ag_get(g, 2), sigmoid(2), 1e-15);
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "softplus_1st: "));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "create_graph"));
    ag_tape_clear_error(t);
    ag_tensor *v = ag_ones(t, AG_F64, AG_SHAPE(3)), *hv;
    ck_assert_int_eq(ag_hvp(t, y, 1, &x, &v, &hv), AG_ERR_STATE);
    ag_gradcheck_report rep;
    ck_assert(!ag_gradgradcheck(apply_op, (void *)&softplus_first_order, 1, &x, NULL, &rep));
    ck_assert_int_eq(rep.verdict, AG_GRADCHECK_ERROR);
    ag_tape_free(t);
}
END_TEST

/* ---------------------------------------------------- fused layer norm */

/* y = (x - mean) / sqrt(var + eps) · gamma + beta over the last axis of x
 * (rows, d); gamma and beta (d). The forward keeps each row's mean and
 * 1/std in the context, which the destructor frees. */
#define LN_EPS 1e-5

typedef struct ln_ctx {
    double *mean, *rstd;
    int *destroyed; /* counts destructor runs, for the tests */
} ln_ctx;

static void ln_destroy(void *p) {
    ln_ctx *c = p;
    if (c->destroyed) ++*c->destroyed;
    free(c->mean);
    free(c->rstd);
    free(c);
}

static ln_ctx *ln_ctx_new(int *destroyed) {
    ln_ctx *c = calloc(1, sizeof *c);
    if (c) c->destroyed = destroyed;
    return c;
}

static ag_status ln_shape(const ag_custom_call *c, int *ndim, int64_t *shape) {
    int nd = ag_ndim(c->in[0]);
    int64_t d = nd ? ag_dim(c->in[0], -1) : 0;
    if (nd < 1 || ag_ndim(c->in[1]) != 1 || ag_ndim(c->in[2]) != 1 || ag_dim(c->in[1], 0) != d ||
        ag_dim(c->in[2], 0) != d) {
        snprintf(c->msg, c->msg_size, "x must be (..., d) with gamma and beta (d)");
        return AG_ERR_SHAPE;
    }
    *ndim = nd;
    memcpy(shape, ag_shape(c->in[0]), (size_t)nd * sizeof *shape);
    return AG_OK;
}

static ag_status ln_forward(const ag_custom_call *c, void *out) {
    ln_ctx *s = c->ctx;
    ag_dtype dt = c->dtype;
    const void *x = ag_data(c->in[0]), *gam = ag_data(c->in[1]), *bet = ag_data(c->in[2]);
    int64_t d = ag_dim(c->in[0], -1), rows = ag_numel(c->in[0]) / d;
    s->mean = malloc((size_t)rows * sizeof *s->mean);
    s->rstd = malloc((size_t)rows * sizeof *s->rstd);
    if (!s->mean || !s->rstd) {
        snprintf(c->msg, c->msg_size, "out of memory for the statistics");
        return AG_ERR_MEMORY;
    }
    for (int64_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < d; j++) m += ld(dt, x, r * d + j);
        m /= (double)d;
        for (int64_t j = 0; j < d; j++) v += (ld(dt, x, r * d + j) - m) * (ld(dt, x, r * d + j) - m);
        s->mean[r] = m;
        s->rstd[r] = 1 / sqrt(v / (double)d + LN_EPS);
        for (int64_t j = 0; j < d; j++)
            st(dt, out, r * d + j, (ld(dt, x, r * d + j) - m) * s->rstd[r] * ld(dt, gam, j) + ld(dt, bet, j));
    }
    return AG_OK;
}

/* With xh = (x - mean)·rstd and gh = g·gamma, per row:
 * dx = rstd·(gh - mean(gh) - xh·mean(gh·xh)); dgamma = sum g·xh; dbeta = sum g. */
static ag_status ln_backward(const ag_custom_call *c, const void *g, void *const *gin) {
    const ln_ctx *s = c->ctx;
    ag_dtype dt = c->dtype;
    const void *x = ag_data(c->in[0]), *gam = ag_data(c->in[1]);
    int64_t d = ag_dim(c->in[0], -1), rows = ag_numel(c->in[0]) / d;
    for (int64_t r = 0; r < rows; r++) {
        double mg = 0, mgx = 0;
        for (int64_t j = 0; j < d; j++) {
            double xh = (ld(dt, x, r * d + j) - s->mean[r]) * s->rstd[r], gh = ld(dt, g, r * d + j) * ld(dt, gam, j);
            mg += gh;
            mgx += gh * xh;
        }
        mg /= (double)d;
        mgx /= (double)d;
        for (int64_t j = 0; j < d; j++) {
            double gj = ld(dt, g, r * d + j), xh = (ld(dt, x, r * d + j) - s->mean[r]) * s->rstd[r];
            if (gin[0]) add(dt, gin[0], r * d + j, s->rstd[r] * (gj * ld(dt, gam, j) - mg - xh * mgx));
            if (gin[1]) add(dt, gin[1], j, gj * xh);
            if (gin[2]) add(dt, gin[2], j, gj);
        }
    }
    return AG_OK;
}

/* The same rule with engine ops (broadcasting does the per-row work). */
static ag_status ln_backward_graph(ag_tape *t, const ag_custom_call *c, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = c->in[0], *gam = c->in[1];
    int ax = ag_ndim(x) - 1;
    ag_tensor *xc = ag_sub(t, x, ag_mean(t, x, ax, true));
    ag_tensor *rstd = ag_pow_c(t, ag_add_c(t, ag_var(t, x, ax, true, 0), LN_EPS), -0.5);
    ag_tensor *xh = ag_mul(t, xc, rstd), *gh = ag_mul(t, g, gam);
    ag_tensor *inner = ag_sub(t, ag_sub(t, gh, ag_mean(t, gh, ax, true)),
                              ag_mul(t, xh, ag_mean(t, ag_mul(t, gh, xh), ax, true)));
    gin[0] = ag_mul(t, rstd, inner);
    gin[1] = ag_mul(t, g, xh); /* (..., d): the sweep sums it back to (d) */
    gin[2] = g;
    return ag_tape_status(t);
}

static const ag_custom_op layer_norm_op = {
    .name = "fused_layer_norm", .ninputs = 3, .shape = ln_shape, .forward = ln_forward,
    .backward = ln_backward, .backward_graph = ln_backward_graph, .destroy = ln_destroy,
    .local_grad = "dm = rstd*(g*a - mean(g*a) - xh*mean(g*a*xh)), da = sum(g*xh), db = sum(g)",
};

static ag_tensor *apply_ln(ag_tape *t, ag_tensor *const *x, void *ctx) {
    return ag_custom(t, &layer_norm_op, ln_ctx_new(ctx), 3, x);
}

/* The composed version from engine ops, for comparison. */
static ag_tensor *ln_composed(ag_tape *t, ag_tensor *x, ag_tensor *gam, ag_tensor *bet) {
    int ax = ag_ndim(x) - 1;
    ag_tensor *xc = ag_sub(t, x, ag_mean(t, x, ax, true));
    ag_tensor *xh = ag_div(t, xc, ag_sqrt(t, ag_add_c(t, ag_var(t, x, ax, true, 0), LN_EPS)));
    return ag_add(t, ag_mul(t, xh, gam), bet);
}

START_TEST(layer_norm_gradients) {
    static const int64_t xs[][3] = {{2, 5}, {3, 1, 4}, {1, 7}};
    static const int nds[] = {2, 3, 2};
    int64_t d = xs[_i][nds[_i] - 1];
    ag_rng r;
    ag_rng_seed(&r, 40 + (uint64_t)_i);
    int destroyed = 0;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[3] = {tu_rand(t, &r, nds[_i], xs[_i], -2, 2), tu_rand(t, &r, AG_SHAPE(d), 0.5, 1.5),
                        tu_rand(t, &r, AG_SHAPE(d), -1, 1)};
    tu_assert_gradcheck(apply_ln, &destroyed, 3, in);
    ag_gradcheck_report rep;
    bool ok = ag_gradgradcheck(apply_ln, &destroyed, 3, in, NULL, &rep);
    if (!ok) ag_gradcheck_print(stderr, &rep);
    ck_assert(ok);
    ck_assert_int_gt(rep.checked, 0);
    ag_tape_free(t);
    /* The checkers ran it many times on their own tapes, all freed. */
    ck_assert_int_gt(destroyed, 10);
}
END_TEST

START_TEST(layer_norm_matches_composed) {
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        ag_rng r;
        ag_rng_seed(&r, 8);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *in[3] = {ag_requires_grad(t, ag_uniform(t, dt, AG_SHAPE(4, 6), -3, 3, &r)),
                            ag_requires_grad(t, ag_uniform(t, dt, AG_SHAPE(6), 0.5, 1.5, &r)),
                            ag_requires_grad(t, ag_uniform(t, dt, AG_SHAPE(6), -1, 1, &r))};
        ag_tensor *w = ag_uniform(t, dt, AG_SHAPE(4, 6), -1, 1, &r);
        ag_tensor *y = ag_custom(t, &layer_norm_op, ln_ctx_new(NULL), 3, in);
        ag_tensor *ref = ln_composed(t, in[0], in[1], in[2]);
        ag_tensor *gc[3], *gr[3];
        ck_assert_int_eq(ag_grad(t, ag_sum(t, ag_mul(t, y, w), AG_ALL, false), NULL, 3, in, gc), AG_OK);
        ck_assert_int_eq(ag_grad(t, ag_sum(t, ag_mul(t, ref, w), AG_ALL, false), NULL, 3, in, gr), AG_OK);
        double tol = d ? 1e-12 : 2e-5;
        for (int64_t i = 0; i < 24; i++) ck_assert_double_eq_tol(ag_get(y, i), ag_get(ref, i), tol);
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < ag_numel(in[k]); i++)
                ck_assert_double_eq_tol(ag_get(gc[k], i), ag_get(gr[k], i), tol);
        ag_tape_free(t);
    }
}
END_TEST

/* ---------------------------------------------------- the context's life */

START_TEST(destructor_runs_once) {
    int destroyed = 0;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[3] = {ag_ones(t, AG_F64, AG_SHAPE(2, 3)), ag_ones(t, AG_F64, AG_SHAPE(3)),
                        ag_zeros(t, AG_F64, AG_SHAPE(3))};
    for (int k = 0; k < 3; k++) in[k] = ag_requires_grad(t, in[k]);
    ag_tensor *y = ag_custom(t, &layer_norm_op, ln_ctx_new(&destroyed), 3, in);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK); /* ctx still alive */
    ck_assert_int_eq(destroyed, 0);
    ag_tape_reset(t);
    ck_assert_int_eq(destroyed, 1);
    ag_tape_reset(t);
    ck_assert_int_eq(destroyed, 1);

    /* At ag_tape_free; and in no-grad mode too. */
    for (int k = 0; k < 3; k++) in[k] = ag_ones(t, AG_F64, AG_SHAPE(3));
    ck_assert_ptr_nonnull(ag_custom(t, &layer_norm_op, ln_ctx_new(&destroyed), 3, in));
    ag_no_grad_begin(t);
    ck_assert_ptr_nonnull(ag_custom(t, &layer_norm_op, ln_ctx_new(&destroyed), 3, in));
    ag_no_grad_end(t);
    ag_tape_free(t);
    ck_assert_int_eq(destroyed, 3);
}
END_TEST

/* A failure before the node exists frees ctx at once; a failing forward
 * (node recorded) frees it at reset. Either way, once. */
START_TEST(destructor_on_failure) {
    int destroyed = 0;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *bad[3] = {ag_ones(t, AG_F64, AG_SHAPE(2, 3)), ag_ones(t, AG_F64, AG_SHAPE(4)),
                         ag_ones(t, AG_F64, AG_SHAPE(3))};
    ck_assert_ptr_null(ag_custom(t, &layer_norm_op, ln_ctx_new(&destroyed), 3, bad));
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    /* A sticky error: refused, ctx freed. */
    ck_assert_ptr_null(ag_custom(t, &layer_norm_op, ln_ctx_new(&destroyed), 3, bad));
    ck_assert_int_eq(destroyed, 2);
    ck_assert_ptr_null(ag_custom(NULL, &layer_norm_op, ln_ctx_new(&destroyed), 3, bad));
    ck_assert_int_eq(destroyed, 3);
    ag_tape_free(t);
    ck_assert_int_eq(destroyed, 3);
}
END_TEST

/* ------------------------------------------------- errors of callbacks */

/* Which callback fails, and how; the tape for the callback that records. */
enum { FAIL_SHAPE, FAIL_FORWARD, FAIL_BACKWARD, FAIL_GRAPH, BAD_NDIM, BAD_GRAPH_GRAD, RECORDS };
typedef struct fail_plan {
    int which;
    ag_tape *t;
} fail_plan;

static ag_status f_shape(const ag_custom_call *c, int *ndim, int64_t *shape) {
    const fail_plan *p = c->ctx;
    if (p->which == FAIL_SHAPE) {
        snprintf(c->msg, c->msg_size, "shape says no");
        return AG_ERR_SHAPE;
    }
    *ndim = p->which == BAD_NDIM ? AG_MAX_DIMS + 1 : ag_ndim(c->in[0]);
    if (p->which != BAD_NDIM) memcpy(shape, ag_shape(c->in[0]), (size_t)*ndim * sizeof *shape);
    return AG_OK;
}

static ag_status f_forward(const ag_custom_call *c, void *out) {
    const fail_plan *p = c->ctx;
    if (p->which == FAIL_FORWARD) {
        snprintf(c->msg, c->msg_size, "forward says no");
        return AG_ERR_ARG;
    }
    return sp_forward(c, out);
}

static ag_status f_backward(const ag_custom_call *c, const void *gout, void *const *gin) {
    const fail_plan *p = c->ctx;
    if (p->which == FAIL_BACKWARD) return AG_ERR_STATE; /* no message: the status names it */
    if (p->which == RECORDS) ag_exp(p->t, c->in[0]);
    return sp_backward(c, gout, gin);
}

static ag_status f_backward_graph(ag_tape *t, const ag_custom_call *c, ag_tensor *gout, ag_tensor **gin) {
    const fail_plan *p = c->ctx;
    if (p->which == FAIL_GRAPH) {
        snprintf(c->msg, c->msg_size, "graph says no");
        return AG_ERR_ARG;
    }
    if (p->which == BAD_GRAPH_GRAD) {
        gin[0] = ag_ones(t, AG_F64, AG_SHAPE(7));
        return AG_OK;
    }
    return sp_backward_graph(t, c, gout, gin);
}

static const ag_custom_op failing_op = {
    .name = "failing", .ninputs = 1, .shape = f_shape, .forward = f_forward, .backward = f_backward,
    .backward_graph = f_backward_graph,
};

static void assert_error(ag_tape *t, ag_status code, const char *a, const char *b) {
    const char *msg = ag_tape_error(t);
    ck_assert_int_eq(ag_tape_status(t), code);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, a), "'%s' not in '%s'", a, msg);
    if (b) ck_assert_msg(strstr(msg, b), "'%s' not in '%s'", b, msg);
    ag_tape_clear_error(t);
}

START_TEST(callback_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(2, 3))), "x");
    fail_plan p = {FAIL_SHAPE, t};
    ck_assert_ptr_null(ag_custom(t, &failing_op, &p, 1, &x));
    assert_error(t, AG_ERR_SHAPE, "failing: shape failed: shape says no", "[2, 3] 'x'");
    p.which = BAD_NDIM;
    ck_assert_ptr_null(ag_custom(t, &failing_op, &p, 1, &x));
    assert_error(t, AG_ERR_SHAPE, "failing: shape failed: it gave 7 dimensions", NULL);
    p.which = FAIL_FORWARD;
    ck_assert_ptr_null(ag_custom(t, &failing_op, &p, 1, &x));
    assert_error(t, AG_ERR_ARG, "failing: forward failed: forward says no", "'x'");

    /* backward: the sweep returns the callback's status; ag_grad gives no gradient. */
    p.which = FAIL_BACKWARD;
    ag_tensor *y = ag_sum(t, ag_custom(t, &failing_op, &p, 1, &x), AG_ALL, false), *g;
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_STATE);
    assert_error(t, AG_ERR_STATE, "failing: backward failed: invalid state", NULL);
    ck_assert_int_eq(ag_grad(t, y, NULL, 1, &x, &g), AG_ERR_STATE);
    ag_tape_clear_error(t);
    p.which = RECORDS;
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_STATE);
    assert_error(t, AG_ERR_STATE, "failing: backward failed: it recorded 1 node(s)", NULL);

    p.which = FAIL_GRAPH;
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_ERR_ARG);
    assert_error(t, AG_ERR_ARG, "failing: backward_graph failed: graph says no", NULL);
    p.which = BAD_GRAPH_GRAD;
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_ERR_SHAPE);
    assert_error(t, AG_ERR_SHAPE, "failing: backward_graph failed: it gave input 1 a gradient f64 [7]",
                 "[2, 3] 'x'");
    /* The same node, when the callbacks behave, differentiates twice. */
    p.which = -1;
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}), AG_OK);
    ag_tape_free(t);
}
END_TEST

START_TEST(bad_arguments) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(3)), *x32 = ag_ones(t, AG_F32, AG_SHAPE(3));
    ck_assert_ptr_null(ag_custom(NULL, &softplus_op, NULL, 1, &x));
    ck_assert_ptr_null(ag_custom(t, NULL, NULL, 1, &x));
    assert_error(t, AG_ERR_NULL, "custom: the op description is NULL", NULL);
    ck_assert_ptr_null(ag_custom(t, &softplus_op, NULL, 1, NULL));
    assert_error(t, AG_ERR_NULL, "fused_softplus: inputs array is NULL", NULL);
    ag_tensor *none = NULL;
    ck_assert_ptr_null(ag_custom(t, &softplus_op, NULL, 1, &none));
    assert_error(t, AG_ERR_NULL, "fused_softplus: operand 1 is NULL", NULL);
    ck_assert_ptr_null(ag_custom(t, &softplus_op, NULL, 2, (ag_tensor *[]){x, x}));
    assert_error(t, AG_ERR_ARG, "fused_softplus: given 2 input(s), the op takes 1", NULL);
    ck_assert_ptr_null(ag_custom(t, &layer_norm_op, NULL, 3, (ag_tensor *[]){x, x32, x}));
    assert_error(t, AG_ERR_DTYPE, "fused_layer_norm: ", "f32");
    ag_custom_op no_backward = {.name = "nb", .ninputs = 1, .forward = sp_forward};
    ck_assert_ptr_null(ag_custom(t, &no_backward, NULL, 1, &x));
    assert_error(t, AG_ERR_ARG, "nb: the description needs a name, a forward and a backward", NULL);
    ag_custom_op no_inputs = {.name = "z", .ninputs = 0, .forward = sp_forward, .backward = sp_backward};
    ck_assert_ptr_null(ag_custom(t, &no_inputs, NULL, 0, &x));
    assert_error(t, AG_ERR_ARG, "z: ninputs is 0", NULL);

    /* A NULL from an earlier failure keeps the first error. */
    ag_tensor *bad = ag_add(t, x, ag_ones(t, AG_F64, AG_SHAPE(4)));
    ck_assert_ptr_null(ag_custom(t, &softplus_op, NULL, 1, &bad));
    assert_error(t, AG_ERR_SHAPE, "add: ", NULL);
    ag_tape_free(t);
}
END_TEST

START_TEST(memory_cap) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(1000));
    ag_tape_set_mem_cap(t, ag_tape_get_stats(t).bytes_reserved);
    int destroyed = 0;
    ag_tensor *in[3] = {x, ag_ones(t, AG_F64, AG_SHAPE(1000)), ag_ones(t, AG_F64, AG_SHAPE(1000))};
    ag_tensor *y = NULL;
    int calls = 0;
    do {
        calls++;
        y = ag_custom(t, &layer_norm_op, ln_ctx_new(&destroyed), 3, in);
    } while (y && calls < 100000);
    ck_assert_ptr_null(y);
    assert_error(t, AG_ERR_MEMORY, "fused_layer_norm: ", "cap");
    ck_assert_int_eq(destroyed, 1); /* the refused call's, at once */
    ag_tape_free(t);
    ck_assert_int_eq(destroyed, calls); /* and every other, once */
}
END_TEST

/* --------------------------------------- a node like any: names, pictures */

/* a·b fused, with the same tensor on both sides: the gradient sums. */
static ag_status mul_forward(const ag_custom_call *c, void *out) {
    for (int64_t i = 0, n = ag_numel(c->out); i < n; i++)
        st(c->dtype, out, i, ld(c->dtype, ag_data(c->in[0]), i) * ld(c->dtype, ag_data(c->in[1]), i));
    return AG_OK;
}
static ag_status mul_backward(const ag_custom_call *c, const void *g, void *const *gin) {
    for (int64_t i = 0, n = ag_numel(c->out); i < n; i++) {
        double gi = ld(c->dtype, g, i);
        if (gin[0]) add(c->dtype, gin[0], i, gi * ld(c->dtype, ag_data(c->in[1]), i));
        if (gin[1]) add(c->dtype, gin[1], i, gi * ld(c->dtype, ag_data(c->in[0]), i));
    }
    return AG_OK;
}
static const ag_custom_op mul_op = {
    .name = "my_mul", .ninputs = 2, .forward = mul_forward, .backward = mul_backward,
    .local_grad = "d(a*b)/da = b, d(a*b)/db = a",
};

START_TEST(recorded_like_any_node) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *u = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 3)), "u");
    ag_tensor *c = ag_scalar(t, 2);
    ag_tensor *sq = ag_set_name(t, ag_custom(t, &mul_op, NULL, 2, (ag_tensor *[]){u, u}), "sq");
    ag_tensor *y = ag_custom(t, &mul_op, NULL, 2, (ag_tensor *[]){sq, c}); /* 2u^2 */
    ck_assert_str_eq(ag_name(sq), "sq");
    ck_assert_double_eq(ag_item(y), 18);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(ag_trace(f, t, y, &(ag_trace_opts){.ascii = true}), AG_OK);
    fclose(f);
    ck_assert_double_eq(ag_grad_item(u), 12); /* d(2u^2)/du = 4u, both paths through sq */
    ck_assert_msg(strstr(buf, "my_mul"), "%s", buf);
    ck_assert_msg(strstr(buf, "d my_mul(u, u)/du = u"), "%s", buf); /* the formula with the graph's names */
    free(buf);
    f = open_memstream(&buf, &len);
    ck_assert_int_eq(ag_write_dot(f, t, y), AG_OK);
    fclose(f);
    ck_assert_msg(strstr(buf, "my_mul") && strstr(buf, "sq"), "%s", buf);
    free(buf);
    /* The constant c gets no gradient buffer: gin[1] was NULL. */
    ck_assert_ptr_null(ag_grad_data(c));
    ag_tape_free(t);
}
END_TEST

/* An output of another shape: a row sum (rows, d) -> (rows). */
static ag_status rowsum_shape(const ag_custom_call *c, int *ndim, int64_t *shape) {
    if (ag_ndim(c->in[0]) != 2) return AG_ERR_SHAPE;
    *ndim = 1;
    shape[0] = ag_dim(c->in[0], 0);
    return AG_OK;
}
static ag_status rowsum_forward(const ag_custom_call *c, void *out) {
    int64_t d = ag_dim(c->in[0], 1);
    for (int64_t i = 0; i < ag_numel(c->in[0]); i++) add(c->dtype, out, i / d, ld(c->dtype, ag_data(c->in[0]), i));
    return AG_OK;
}
static ag_status rowsum_backward(const ag_custom_call *c, const void *g, void *const *gin) {
    int64_t d = ag_dim(c->in[0], 1);
    for (int64_t i = 0; gin[0] && i < ag_numel(c->in[0]); i++) add(c->dtype, gin[0], i, ld(c->dtype, g, i / d));
    return AG_OK;
}
static ag_status rowsum_graph(ag_tape *t, const ag_custom_call *c, ag_tensor *g, ag_tensor **gin) {
    gin[0] = ag_broadcast_to(t, ag_reshape(t, g, AG_SHAPE(-1, 1)), 2, ag_shape(c->in[0]));
    return ag_tape_status(t);
}
static const ag_custom_op rowsum_op = {
    .name = "rowsum", .ninputs = 1, .shape = rowsum_shape, .forward = rowsum_forward,
    .backward = rowsum_backward, .backward_graph = rowsum_graph,
};
static ag_tensor *apply_rowsum_sq(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_square(t, ag_custom(t, &rowsum_op, NULL, 1, x));
}

START_TEST(other_output_shape) {
    ag_rng r;
    ag_rng_seed(&r, 9);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, AG_SHAPE(3, 4), -1, 1);
    ag_tensor *y = ag_custom(t, &rowsum_op, NULL, 1, &x);
    ck_assert_int_eq(ag_ndim(y), 1);
    ck_assert_int_eq(ag_dim(y, 0), 3);
    ck_assert_double_eq_tol(ag_get(y, 1), ag_item(ag_sum(t, ag_slice(t, x, 0, 1, 2), AG_ALL, false)), 1e-15);
    tu_assert_gradcheck(apply_rowsum_sq, NULL, 1, &x);
    ag_gradcheck_report rep;
    ck_assert_msg(ag_gradgradcheck(apply_rowsum_sq, NULL, 1, &x, NULL, &rep), "%s", rep.message);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom");
    TCase *tc = tcase_create("custom");
    tcase_set_timeout(tc, 120);
    const tu_op_table *const tables[] = {&tu_rows_custom};
    tu_add_op_rows(tc, 1, tables);
    tcase_add_loop_test(tc, softplus_gradients, 0, 4);
    tcase_add_test(tc, softplus_matches_engine);
    tcase_add_test(tc, wrong_backward_is_caught);
    tcase_add_test(tc, create_graph_needs_backward_graph);
    tcase_add_loop_test(tc, layer_norm_gradients, 0, 3);
    tcase_add_test(tc, layer_norm_matches_composed);
    tcase_add_test(tc, destructor_runs_once);
    tcase_add_test(tc, destructor_on_failure);
    tcase_add_test(tc, callback_errors);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, memory_cap);
    tcase_add_test(tc, recorded_like_any_node);
    tcase_add_test(tc, other_output_shape);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
