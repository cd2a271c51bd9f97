/* custom_op: an op written in user code with its own derivative, like
 * torch.autograd.Function — a fused SiLU, y = x·σ(x), in one pass instead
 * of three ops (sigmoid, mul and their nodes):
 *
 *   forward          y = x·σ(x)
 *   backward         dx += g · σ(x)·(1 + x·(1 - σ(x)))
 *   backward_graph   the same rule with engine ops, so that create_graph
 *                    (second derivatives, Hessian-vector products) works
 *
 * It checks the op against the same function composed from engine ops (f32
 * and f64), against finite differences (first and second order) inside a
 * small network, prints the chain-rule trace with the op's formula, and
 * shows the error an op without a graph-form backward gives under
 * create_graph. The last line says OK or FAIL, as the exit status (0, 1). */
#include <tapegrad/custom_op.h>
#include <tapegrad/trace.h>

#include <math.h>
#include <stdio.h>

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* The kernels work in double on either dtype's buffer. */
static double get(ag_dtype dt, const void *p, int64_t i) {
    return dt == AG_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
}
static void put(ag_dtype dt, void *p, int64_t i, double v) {
    if (dt == AG_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

static ag_status silu_forward(const ag_custom_call *c, void *out) {
    const void *x = ag_data(c->in[0]);
    for (int64_t i = 0, n = ag_numel(c->out); i < n; i++) {
        double xi = get(c->dtype, x, i);
        put(c->dtype, out, i, xi * sigmoid(xi));
    }
    return AG_OK;
}

/* Adds g·dy/dx into gin[0] (never overwrites: other paths may be there). */
static ag_status silu_backward(const ag_custom_call *c, const void *gout, void *const *gin) {
    if (!gin[0]) return AG_OK; /* x needs no gradient */
    const void *x = ag_data(c->in[0]);
    for (int64_t i = 0, n = ag_numel(c->out); i < n; i++) {
        double xi = get(c->dtype, x, i), s = sigmoid(xi);
        put(c->dtype, gin[0], i, get(c->dtype, gin[0], i) + get(c->dtype, gout, i) * s * (1 + xi * (1 - s)));
    }
    return AG_OK;
}

/* dx = g·(s + x·s·(1 - s)) with s = σ(x), as recorded ops. */
static ag_status silu_backward_graph(ag_tape *t, const ag_custom_call *c, ag_tensor *gout, ag_tensor **gin) {
    ag_tensor *x = c->in[0], *s = ag_sigmoid(t, x);
    ag_tensor *ds = ag_add(t, s, ag_mul(t, ag_mul(t, x, s), ag_rsub_c(t, 1, s)));
    gin[0] = ag_mul(t, gout, ds);
    return ag_tape_status(t);
}

static const ag_custom_op silu_op = {
    .name = "silu",
    .ninputs = 1, /* no shape rule: the output has the input's shape */
    .forward = silu_forward,
    .backward = silu_backward,
    .backward_graph = silu_backward_graph,
    .local_grad = "d silu(x)/dx = sigmoid(x)*(1 + x*(1 - sigmoid(x)))",
};

/* The same op without its graph-form backward: first order only. */
static const ag_custom_op silu_first_order = {
    .name = "silu_first_order", .ninputs = 1, .forward = silu_forward, .backward = silu_backward,
};

static ag_tensor *silu(ag_tape *t, ag_tensor *x) { return ag_custom(t, &silu_op, NULL, 1, &x); }

static int failures = 0;

static void verdict(const char *what, bool ok) {
    printf("  %-58s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

/* Part 1: values and gradients equal x·sigmoid(x) from engine ops. */
static void against_composition(ag_dtype dt) {
    ag_tape *t = ag_tape_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tensor *x = ag_requires_grad(t, ag_uniform(t, dt, AG_SHAPE(3, 5), -4, 4, &r));
    ag_tensor *y = silu(t, x), *ref = ag_mul(t, x, ag_sigmoid(t, x)), *g[2];
    bool ok = ag_grad(t, ag_sum(t, ag_square(t, y), AG_ALL, false), NULL, 1, &x, &g[0]) == AG_OK &&
              ag_grad(t, ag_sum(t, ag_square(t, ref), AG_ALL, false), NULL, 1, &x, &g[1]) == AG_OK;
    double worst = 0;
    for (int64_t i = 0; ok && i < ag_numel(x); i++) {
        worst = fmax(worst, fabs(ag_get(y, i) - ag_get(ref, i)));
        worst = fmax(worst, fabs(ag_get(g[0], i) - ag_get(g[1], i)));
    }
    char what[96];
    snprintf(what, sizeof what, "%s: silu = x*sigmoid(x), values and gradients (max diff %.1e)",
             dt == AG_F32 ? "f32" : "f64", worst);
    verdict(what, ok && worst <= (dt == AG_F32 ? 1e-5 : 1e-13));
    ag_tape_free(t);
}

/* Part 2: a small network around the op, checked by finite differences. */
static ag_tensor *net(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx; /* in: x (4, 3), w1 (3, 5), w2 (5, 1) */
    ag_tensor *h = silu(t, ag_matmul(t, in[0], in[1]));
    return ag_mean(t, ag_square(t, ag_matmul(t, h, in[2])), AG_ALL, false);
}

static void finite_differences(void) {
    ag_tape *t = ag_tape_new(0);
    ag_rng r;
    ag_rng_seed(&r, 2);
    ag_tensor *in[3] = {ag_uniform(t, AG_F64, AG_SHAPE(4, 3), -1, 1, &r),
                        ag_uniform(t, AG_F64, AG_SHAPE(3, 5), -1, 1, &r),
                        ag_uniform(t, AG_F64, AG_SHAPE(5, 1), -1, 1, &r)};
    ag_gradcheck_report rep;
    bool ok = ag_gradcheck(net, NULL, 3, in, NULL, &rep);
    printf("  gradcheck:     %s\n", rep.message);
    verdict("first derivatives of mean((silu(x W1) W2)^2)", ok);
    ok = ag_gradgradcheck(net, NULL, 3, in, NULL, &rep);
    printf("  gradgradcheck: %s\n", rep.message);
    verdict("second derivatives through backward_graph", ok);
    ag_tape_free(t);
}

/* Part 3: the op in a trace, with its formula and the graph's names. */
static void trace(void) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *u = ag_set_name(t, ag_requires_grad(t, ag_scalar(t, 0.5)), "u");
    ag_tensor *y = ag_set_name(t, silu(t, ag_set_name(t, ag_mul(t, u, u), "w")), "y");
    verdict("trace of y = silu(u*u)", ag_trace(stdout, t, y, &(ag_trace_opts){.ascii = true}) == AG_OK);
    double s = sigmoid(0.25);
    verdict("dy/du = 2u * sigmoid(w)*(1 + w*(1 - sigmoid(w)))",
            fabs(ag_grad_item(u) - 2 * 0.5 * s * (1 + 0.25 * (1 - s))) < 1e-15);
    ag_tape_free(t);
}

/* Part 4: no graph-form backward: create_graph is refused, clearly. */
static void first_order_only(void) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 1.5)), *g;
    ag_tensor *y = ag_custom(t, &silu_first_order, NULL, 1, &x);
    bool ok = ag_grad(t, y, NULL, 1, &x, &g) == AG_OK; /* first order works */
    ok = ok && ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}) == AG_ERR_STATE;
    printf("  create_graph: %s\n", ag_tape_error(t));
    verdict("an op without backward_graph refuses create_graph", ok);
    ag_tape_free(t);
}

int main(void) {
    printf("Part 1: the fused op against its composition\n");
    against_composition(AG_F32);
    against_composition(AG_F64);
    printf("Part 2: finite differences\n");
    finite_differences();
    printf("Part 3: the chain rule, step by step\n");
    trace();
    printf("Part 4: first order only\n");
    first_order_only();
    if (failures) printf("FAIL: %d check(s) of the custom op failed\n", failures);
    else printf("OK: the custom op agrees with its composition, finite differences and the trace\n");
    return failures ? 1 : 0;
}
