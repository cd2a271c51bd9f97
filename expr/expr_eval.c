/* Building a parsed program's graph on a tape: one forward loop over the
 * postfix node array (operands always come first), so the tape order is the
 * program's evaluation order and nothing recurses. */
#include "expr_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* x[i] or x[i, j]: each index takes axis 0 away (negative counts from the
 * end); out of range fails the tape naming the shape. */
static ag_tensor *index_node(ag_tape *t, ag_tensor *x, const ex_node *n) {
    for (int k = 0; x && k < n->nidx; k++) {
        int64_t i = n->idx[k];
        if (ag_ndim(x) == 0 || i < -ag_dim(x, 0) || i >= ag_dim(x, 0)) {
            char shape[64], msg[160];
            ex_shape_text(shape, sizeof shape, x);
            snprintf(msg, sizeof msg, "index %lld is out of range for a value of shape %s", (long long)i, shape);
            ag_tape_fail(t, AG_ERR_SHAPE, "index", msg);
            return NULL;
        }
        if (i < 0) i += ag_dim(x, 0);
        x = ag_squeeze(t, ag_slice(t, x, 0, i, i + 1), 0);
    }
    return x;
}

/* The value of one node from its operands' values. */
static ag_tensor *eval_node(ag_tape *t, const ag_expr *e, const ex_node *n, ag_tensor **val) {
    if (n->kind == EX_NUM) return ag_scalar(t, n->num);
    if (n->kind == EX_LIT) {
        const ex_lit *l = &e->lits[n->a];
        return ag_from_doubles(t, AG_F64, l->ndim, l->dims, e->litdata + l->off);
    }
    if (n->kind == EX_INDEX) return index_node(t, val[n->a], n);
    ag_tensor *const args[2] = {val[n->a], n->b >= 0 ? val[n->b] : NULL};
    const int nargs = n->b >= 0 ? 2 : 1;
    const bool cst[2] = {!e->nodes[n->a].dep, n->b >= 0 && !e->nodes[n->b].dep};
    return ex_fn_call(&ex_fns[n->fn], t, args, nargs, cst);
}

/* The language's word for what made node n. */
static const char *node_word(const ex_node *n) {
    return n->kind == EX_NUM ? "number" : n->kind == EX_INPUT ? "input" : n->kind == EX_LIT ? "literal"
         : n->kind == EX_INDEX ? "index" : ex_fns[n->fn].pub.name;
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
    size_t *off = malloc(((size_t)e->ninputs + 1) * sizeof *off); /* where input i's values start */
    if (!val || !off) {
        free(val);
        free(off);
        return fail(NULL, err, "out of memory building the graph");
    }
    off[0] = 0;
    for (int i = 0; i < e->ninputs; i++) {
        size_t numel = 1;
        for (int d = 0; o.shapes && d < o.shapes[i].ndim; d++) numel *= (size_t)o.shapes[i].dims[d];
        off[i + 1] = off[i] + numel;
    }
    /* Nodes no statement names are named by their source text ("x^2"). */
    char (*texts)[EX_TEXT_MAX] = o.no_names ? NULL : ex_node_texts(e);
    /* The first non-finite value comes from the engine's anomaly mode, on
     * until it fires: then its error is taken back and the node rebuilt, so
     * the graph is complete (its values flow on, NaN and all). Constants
     * are leaves, which the mode does not check: they are looked at here. */
    const bool anomaly_before = ag_tape_anomaly(t);
    if (nonfinite) ag_tape_set_anomaly(t, true);
    for (size_t i = 0; i < e->nnodes; i++) {
        const ex_node *n = &e->nodes[i];
        ag_tensor *v;
        if (n->kind == EX_INPUT) {
            v = o.shapes ? ag_from_doubles(t, AG_F64, o.shapes[n->a].ndim, o.shapes[n->a].dims, values + off[n->a])
                         : ag_scalar(t, values[n->a]);
            if (!o.constant_inputs) {
                v = ag_requires_grad(t, v);
                inputs[n->a] = v;
            }
            v = ag_set_name(t, v, e->inputs[n->a]->name);
        } else {
            v = eval_node(t, e, n, val);
            if (!v && nonfinite && !nonfinite->found && ag_tape_status(t) == AG_ERR_NONFINITE) {
                *nonfinite = (ag_expr_nonfinite){true, node_word(n), n->name, (int)n->line,
                                                 (int)n->column, ag_tape_anomaly_report(t).value};
                ag_tape_clear_error(t);
                ag_tape_set_anomaly(t, anomaly_before);
                v = eval_node(t, e, n, val);
            }
            if (v && n->name && !o.no_names) v = ag_set_name(t, v, n->name);
            else if (v && texts && texts[i][0]) v = ag_set_name(t, v, texts[i]); /* its source text */
        }
        if (!v) {
            free(val);
            free(off);
            free(texts);
            if (nonfinite) ag_tape_set_anomaly(t, anomaly_before);
            return fail(t, err, "building the graph failed");
        }
        val[i] = v;
        /* numbers, literals and inputs: anomaly mode checks the rest */
        bool leaf = n->kind == EX_NUM || n->kind == EX_INPUT || n->kind == EX_LIT;
        double x = 0;
        for (int64_t k = 0; nonfinite && !nonfinite->found && leaf && k < ag_numel(v) && isfinite(x); k++)
            x = ag_get(v, k);
        if (nonfinite && !nonfinite->found && leaf && !isfinite(x)) {
            const char *name = n->kind == EX_INPUT ? e->inputs[n->a]->name : n->name;
            *nonfinite = (ag_expr_nonfinite){true, node_word(n), name, (int)n->line,
                                             (int)n->column, x};
            ag_tape_set_anomaly(t, anomaly_before);
        }
    }
    if (nonfinite) ag_tape_set_anomaly(t, anomaly_before);
    if (o.bindings)
        for (int i = 0; i < e->nbound; i++) o.bindings[i] = val[e->bound[i]->node];
    ag_tensor *y = val[e->output];
    free(val);
    free(off);
    free(texts);
    return y;
}
