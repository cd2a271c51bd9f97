/* Second-order utilities built on the recorded backward (vjp.c):
 * Hessian-vector products, Jacobians, Hessians and Jacobian-vector products. */
#include "error.h"
#include "node.h"
#include "record.h"
#include "stmt.h"
#include "tape.h"

/* ag_grad_ex with allow_unused: as torch.autograd.functional does (strict
 * off), an input the output does not depend on has a zero derivative here,
 * e.g. the Hessian of a linear function. */
static ag_status grad_or_zeros(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n, ag_tensor *const *xs,
                               ag_tensor **grads, bool create_graph) {
    ag_backward_opts o = {.seed = seed, .create_graph = create_graph, .allow_unused = true};
    return ag_grad_ex(t, y, n, xs, grads, &o);
}

/* Same shape and dtype, or a tape error naming `op`. */
static bool same_layout(ag_tape *t, const char *op, const char *what, const ag_tensor *a,
                        const ag_tensor *b) {
    bool same = ag_ndim(a) == ag_ndim(b) && ag_dtype_of(a) == ag_dtype_of(b);
    for (int i = 0; same && i < ag_ndim(a); i++) same = ag_shape(a)[i] == ag_shape(b)[i];
    if (!same) {
        char sa[96], sb[96];
        ag__error_fail(t, AG_ERR_SHAPE, op, "%s %s%s does not match %s%s", what,
                 ag_dtype_name(ag_dtype_of(a)), ag__error_fmt_operand(sa, sizeof sa, a),
                 ag_dtype_name(ag_dtype_of(b)), ag__error_fmt_operand(sb, sizeof sb, b));
    }
    return same;
}

ag_status ag_hvp(ag_tape *t, ag_tensor *y, int n, ag_tensor *const *xs, ag_tensor *const *vs,
                 ag_tensor **hv) {
    if (!t) return AG_ERR_NULL;
    if (t->err != AG_OK) return t->err;
    if (n <= 0 || !xs || !vs || !hv) {
        ag__error_fail(t, AG_ERR_NULL, "hvp", "needs n > 0 inputs, directions and outputs");
        return t->err;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i] || !vs[i]) {
            ag__error_fail(t, AG_ERR_NULL, "hvp", "input or direction %d is NULL", i + 1);
            return t->err;
        }
        if (!same_layout(t, "hvp", "direction", vs[i], xs[i])) return t->err;
    }
    /* First reverse pass, recorded: g = dy/dx as nodes. */
    ag_tensor **g = ag__tape_alloc(t, (size_t)n * sizeof *g, "hvp");
    if (!g) return t->err;
    ag_status st = grad_or_zeros(t, y, NULL, n, xs, g, true);
    if (st != AG_OK) return st;
    /* Second reverse pass, numeric: d/dx (g · v) = H v. */
    ag_tensor **v = ag__tape_alloc(t, (size_t)n * sizeof *v, "hvp");
    if (!v) return t->err;
    bool scalars = true;
    for (int i = 0; i < n; i++) {
        v[i] = ag__handle_requires_grad(vs[i]) ? ag_detach(t, vs[i]) : vs[i];
        scalars &= ag_ndim(g[i]) == 0;
    }
    ag_tensor *dot = NULL;
    if (scalars) { /* one statement per 31 terms */
        dot = ag_dot(t, n, g, v);
    } else {
        for (int i = 0; i < n; i++) {
            ag_tensor *term = ag_mul(t, g[i], v[i]);
            if (ag_ndim(term)) term = ag_sum(t, term, AG_ALL, false);
            dot = dot ? ag_add(t, dot, term) : term;
        }
    }
    if (!dot) return t->err;
    return grad_or_zeros(t, dot, NULL, n, xs, hv, false);
}

ag_tensor *ag_jacobian(ag_tape *t, ag_tensor *y, ag_tensor *x) {
    ag_tensor *in[2] = {y, x};
    if (!ag__record_check_inputs(t, "jacobian", 2, in)) return NULL;
    const int64_t m = ag_numel(y), k = ag_numel(x);
    const ag_dtype dt = ag_dtype_of(x);
    ag_tensor *jac = ag_zeros(t, dt, AG_SHAPE(m, k));
    ag_tensor *seed = ag_zeros(t, ag_dtype_of(y), ag_ndim(y), ag_shape(y));
    if (!jac || !seed) return NULL;
    /* One functional backward per output element: row i is d y_i / dx. */
    for (int64_t i = 0; i < m; i++) {
        ag__st(ag__val(seed), seed->dtype, i, 1.0);
        ag_tensor *row;
        if (grad_or_zeros(t, y, seed, 1, &x, &row, false) != AG_OK) return NULL;
        ag__st(ag__val(seed), seed->dtype, i, 0.0);
        memcpy((char *)ag__val(jac) + (size_t)(i * k) * ag__elsize(dt), ag_data(row),
               (size_t)k * ag__elsize(dt));
    }
    return jac;
}

ag_tensor *ag_hessian(ag_tape *t, ag_tensor *y, ag_tensor *x) {
    ag_tensor *in[2] = {y, x};
    if (!ag__record_check_inputs(t, "hessian", 2, in)) return NULL;
    if (ag_numel(y) != 1)
        return ag__error_fail(t, AG_ERR_SHAPE, "hessian", "output must be a scalar, not %lld elements",
                        (long long)ag_numel(y));
    ag_tensor *g;
    if (grad_or_zeros(t, y, NULL, 1, &x, &g, true) != AG_OK) return NULL;
    return ag_jacobian(t, g, x);
}

ag_tensor *ag_jvp(ag_tape *t, ag_tensor *y, ag_tensor *x, ag_tensor *u) {
    ag_tensor *in[3] = {y, x, u};
    if (!ag__record_check_inputs(t, "jvp", 3, in)) return NULL;
    if (!same_layout(t, "jvp", "direction", u, x)) return NULL;
    /* r(v) = J^T v is linear in the dummy seed v; d/dv (r · u) = J u. */
    ag_tensor *v = ag_requires_grad(t, ag_ndim(y) ? ag_zeros(t, ag_dtype_of(y), ag_ndim(y), ag_shape(y))
                                                   : ag_scalar_of(t, ag_dtype_of(y), 0.0));
    if (!v) return NULL;
    ag_tensor *r;
    if (grad_or_zeros(t, y, v, 1, &x, &r, true) != AG_OK) return NULL;
    ag_tensor *dot = ag_mul(t, r, ag_detach(t, u));
    if (ag_ndim(dot)) dot = ag_sum(t, dot, AG_ALL, false);
    ag_tensor *ju;
    if (!dot || grad_or_zeros(t, dot, NULL, 1, &v, &ju, false) != AG_OK) return NULL;
    return ju;
}
