/* Building a parsed program's graph on a tape: one forward loop over the
 * postfix node array (operands always come first), so the tape order is the
 * program's evaluation order and nothing recurses. */
#include "expr_internal.h"

#include <math.h>
#include <stdlib.h>

typedef ag_tensor *(*unary_fn)(ag_tape *, ag_tensor *);
typedef ag_tensor *(*binary_fn)(ag_tape *, ag_tensor *, ag_tensor *);

static unary_fn unary_of(ex_op op) {
    switch (op) {
    case EX_NEG: return ag_neg;
    case EX_EXP: return ag_exp;
    case EX_LOG: return ag_log;
    case EX_SQRT: return ag_sqrt;
    case EX_ABS: return ag_abs;
    case EX_SIN: return ag_sin;
    case EX_COS: return ag_cos;
    case EX_TAN: return ag_tan;
    case EX_TANH: return ag_tanh;
    case EX_SIGMOID: return ag_sigmoid;
    case EX_RELU: return ag_relu;
    case EX_SOFTPLUS: return ag_softplus;
    case EX_GELU: return ag_gelu;
    default: return NULL;
    }
}

static binary_fn binary_of(ex_op op) {
    switch (op) {
    case EX_ADD: return ag_add;
    case EX_SUB: return ag_sub;
    case EX_MUL: return ag_mul;
    case EX_DIV: return ag_div;
    case EX_POW: return ag_pow;
    case EX_MAX: return ag_maximum;
    case EX_MIN: return ag_minimum;
    default: return NULL;
    }
}

/* The value of one node from its operands' values. */
static ag_tensor *eval_node(ag_tape *t, const ag_expr *e, const ex_node *n, ag_tensor **val) {
    ex_op op = (ex_op)n->op;
    if (op == EX_NUM) return ag_scalar(t, n->num);
    /* A constant exponent: ag_pow_c, whose derivative in the base is right
     * for negative bases ((-2)^2 = 4, d/da = -4), and records no d/db. */
    if (op == EX_POW && !e->nodes[n->b].dep) return ag_pow_c(t, val[n->a], ag_item(val[n->b]));
    unary_fn u = unary_of(op);
    if (u) return u(t, val[n->a]);
    binary_fn b = binary_of(op);
    if (b) return b(t, val[n->a], val[n->b]);
    return NULL;
}

static ag_tensor *fail(ag_tape *t, ag_expr_error *err, const char *what) {
    const char *msg = t ? ag_tape_error(t) : NULL;
    ex_error(err, "%s%s%s", what, msg ? ": " : "", msg ? msg : "");
    return NULL;
}

ag_tensor *ag_expr_build(ag_tape *t, const ag_expr *e, const double *values,
                         const ag_expr_build_opts *opts, ag_tensor **inputs,
                         ag_expr_nonfinite *nonfinite, ag_expr_error *err) {
    const ag_expr_build_opts o = opts ? *opts : (ag_expr_build_opts){0};
    if (nonfinite) *nonfinite = (ag_expr_nonfinite){0};
    if (!t || !e || e->output < 0) return fail(NULL, err, "ag_expr_build: NULL tape or program");
    if (e->ninputs > 0 && (!values || (!o.constant_inputs && !inputs)))
        return fail(NULL, err, "ag_expr_build: NULL values or inputs array");
    if (ag_tape_status(t) != AG_OK) return fail(t, err, "the tape holds an earlier error");

    ag_tensor **val = malloc((e->nnodes ? e->nnodes : 1) * sizeof *val);
    if (!val) return fail(NULL, err, "out of memory building the graph");
    for (size_t i = 0; i < e->nnodes; i++) {
        const ex_node *n = &e->nodes[i];
        ag_tensor *v;
        if (n->op == EX_INPUT) {
            v = ag_scalar(t, values[n->a]);
            if (!o.constant_inputs) {
                v = ag_requires_grad(t, v);
                inputs[n->a] = v;
            }
            v = ag_set_name(t, v, e->inputs[n->a]->name);
        } else {
            v = eval_node(t, e, n, val);
            if (v && n->name && !o.no_names) v = ag_set_name(t, v, n->name);
        }
        if (!v) {
            free(val);
            return fail(t, err, "building the graph failed");
        }
        val[i] = v;
        double x = ag_item(v);
        if (nonfinite && !nonfinite->found && !isfinite(x)) {
            const char *name = n->op == EX_INPUT ? e->inputs[n->a]->name : n->name;
            *nonfinite = (ag_expr_nonfinite){true, ex_ops[n->op].name, name, (int)n->line,
                                             (int)n->column, x};
        }
    }
    ag_tensor *y = val[e->output];
    free(val);
    return y;
}
