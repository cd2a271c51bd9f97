/* The generic backward sweep: one reverse walk over the tape. Each node that
 * received a gradient in this sweep applies its op's chain rule and adds into
 * its inputs; a node used on several paths receives several additions, which
 * is the sum over paths. No recursion, no visited set, no allocation. */
#include "anomaly.h"
#include "backward.h"
#include "tape.h"
#include "../ops/scalar_sweep.h" /* the declared crossing: 0-d elementwise kernels */

ag_status ag__sweep_check_versions(ag_tape *t) {
    for (size_t i = 0; i < t->nuses; i++) {
        const ag_param_use *u = &t->uses[i];
        if (u->param->ext->version != u->version) {
            const char *name = u->param->ext->name;
            ag__error_fail(t, AG_ERR_STATE, "backward",
                     "parameter %s%s%s was written (version %u, recorded at %u) after the tape "
                     "recorded it; reset the tape and run the forward pass again",
                     name ? "'" : "", name ? name : "(unnamed)", name ? "'" : "",
                     u->param->ext->version, u->version);
            return AG_ERR_STATE;
        }
    }
    return AG_OK;
}

ag_status ag__sweep_begin(ag_tape *t, ag_sweep *s, bool functional) {
    if (t->err != AG_OK) return t->err;
    ag_status st = ag__sweep_check_versions(t);
    if (st != AG_OK) return st;
    *s = (ag_sweep){.tape = t, .epoch = ++t->epoch, .functional = functional};
    if (s->epoch == 0) {
        /* Wrapped after 2^32 sweeps: renumber. A node some sweep reached
         * keeps a nonzero stamp (so reading its gradient still gives that
         * sweep's value), all older than the sweep now starting. */
        for (size_t i = 0; i < t->nnodes; i++) {
            ag_tensor *n = ag__tape_node(t, i);
            if (n->epoch) n->epoch = 1;
        }
        s->epoch = t->epoch = 2;
    }
    return AG_OK;
}

/* The test hook of the wrap: the next sweep takes epoch + 1. */
void ag__sweep_test_set_epoch(ag_tape *t, uint32_t epoch) { t->epoch = epoch; }

ag_status ag__sweep_check_requires(ag_tape *t, const char *op, ag_tensor *y) {
    if (ag__handle_requires_grad(y)) return AG_OK;
    char a[128];
    ag__error_fail(t, AG_ERR_STATE, op, "the output %s does not require a gradient: it depends on no "
                   "leaf made with ag_requires_grad and no parameter (as PyTorch says, element 0 of "
                   "tensors does not require grad)", ag__error_fmt_operand(a, sizeof a, y));
    return AG_ERR_STATE;
}

bool ag__sweep_seed(ag_sweep *s, ag_tensor *y, ag_tensor *seed) {
    bool fresh;
    void *gy = ag__sweep_dst(s, y, &fresh);
    if (!gy) return false;
    if (fresh && seed && seed->dtype == y->dtype) { /* the common case: a copy */
        memcpy(gy, ag__val(seed), (size_t)ag__numel(y) * ag__elsize(y->dtype));
        return true;
    }
    for (int64_t i = 0, n = ag__numel(y); i < n; i++) {
        double v = (seed ? ag__ld(ag__val(seed), seed->dtype, i) : 1.0);
        ag__st(gy, y->dtype, i, fresh ? v : ag__ld(gy, y->dtype, i) + v);
    }
    return true;
}

#ifndef AG_SWEEP_PREFETCH
#define AG_SWEEP_PREFETCH 4096 /* bytes behind the node being visited */
#endif

/* The sweep of anomaly mode: the same walk, every node through its row,
 * and after each rule the check of the gradients it gave (anomaly.c). */
static ag_status sweep_checked(ag_tape *t, ag_sweep *s, ag_tensor *y) {
    if (!ag__anomaly_seed(s, y)) return t->err;
    for (size_t i = t->nnodes; i-- > 0;) {
        ag_tensor *n = ag__tape_node(t, i);
        if (n->epoch != s->epoch || (n->flags & AG_F_LEAF)) continue;
        ag__ops[n->op]->backward(s, n);
        if (t->err != AG_OK || !ag__anomaly_backward(s, n)) return t->err;
    }
    return AG_OK;
}

/* The statement part of a sweep, after the nodes': scalar nodes
 * (ag__stmt_promote) and a statement output raised t->s.reach, so the
 * statements below it are swept (each checked in anomaly mode); then the
 * imported parameters and leaf nodes take their gradients. */
static ag_status sweep_stmts(ag_tape *t, ag_sweep *s) {
    if (t->err != AG_OK) return t->err;
    if (t->s.reach) {
        if (AG_UNLIKELY(t->anomaly)) {
            if (!ag__stmt_sweep_checked(t, t->s.reach)) return t->err;
        } else {
            ag__stmt_sweep(t, t->s.reach);
        }
    }
    ag__stmt_settle(t, s);
    return t->err;
}

/* Runs one sweep from y, whose gradient is seeded by `seed` (NULL = 1).
 * A rule that fails (a custom op's callback) sets the tape's error, which
 * the sweep returns when it ends. */
static ag_status sweep(ag_tape *t, ag_tensor *y, ag_tensor *seed, bool functional) {
    ag_sweep s;
    ag_status st = ag__sweep_begin(t, &s, functional);
    if (st != AG_OK) return st;
    /* Scalar statements (stmt_sweep.c) come after the nodes: a statement's
     * operands are never nodes, so all their gradient is in once the node
     * sweep is done. */
    const size_t nstmts = ag__stmt_count(&t->s);
    if (nstmts && !ag__stmt_prepare(t, functional)) return t->err;
    t->s.reach = 0;
    if (ag__is_stmt(y)) {
        ag__stmt_seed(t, y, seed ? ag_item(seed) : 1.0);
        if (AG_UNLIKELY(t->anomaly) && !ag__anomaly_seed(&s, y)) return t->err;
        t->s.reach = ag__stmt_index(y) + 1;
        return sweep_stmts(t, &s);
    }
    ag__sweep_seed(&s, y, seed);
    if (AG_UNLIKELY(t->anomaly)) {
        if (sweep_checked(t, &s, y) != AG_OK) return t->err;
        return sweep_stmts(t, &s);
    }
    const ag_sweep ls = s;
    const uint32_t epoch = s.epoch;
    /* Walk back from the newest node; nodes newer than y got no gradient. */
    for (size_t b = t->nnodes ? ((t->nnodes - 1) >> AG_NODE_BLOCK_SHIFT) + 1 : 0; b-- > 0;) {
        ag_tensor *block = t->blocks[b];
        size_t count = (b + 1) << AG_NODE_BLOCK_SHIFT;
        if (count > t->nnodes) count = t->nnodes;
        count -= b << AG_NODE_BLOCK_SHIFT;
        for (size_t i = count; i-- > 0;) {
            ag_tensor *n = &block[i];
            AG_PREFETCH((const char *)n - AG_SWEEP_PREFETCH, 0);
            if (n->epoch != epoch || (n->flags & AG_F_LEAF)) continue;
            /* A 0-d node of an elementwise op runs its inlined scalar
             * kernel (on ls, a copy of s whose address never escapes, so
             * its fields stay in registers); the rest run their row. */
            if (!n->ndim && ag__scalar_sweep_step(&ls, n)) continue;
            ag__ops[n->op]->backward(&s, n);
        }
    }
    return sweep_stmts(t, &s);
}

ag_status ag__sweep_check_output(ag_tape *t, const char *op, ag_tensor *y, ag_tensor *seed,
                           bool need_seed_if_not_scalar) {
    if (!t) return AG_ERR_NULL;
    if (t->err != AG_OK) return t->err;
    if (!y) {
        ag__error_fail(t, AG_ERR_NULL, op, "output is NULL");
        return AG_ERR_NULL;
    }
    ag_tensor *ys[2] = {y, seed};
    for (int i = 0; i < (seed ? 2 : 1); i++)
        if (!ag__tape_owns(t, ys[i])) return ag__tape_foreign(t, op, i, seed ? 2 : 1, ys);
    char a[64], b[64];
    if (ag__is_stmt(y) || (seed && ag__is_stmt(seed))) {
        if (seed && (ag_ndim(seed) != ag_ndim(y) || ag_dtype_of(seed) != ag_dtype_of(y))) {
            ag__error_fail(t, AG_ERR_SHAPE, op, "seed %s%s does not match output %s%s",
                           ag_dtype_name(ag_dtype_of(seed)),
                           ag_format_shape(a, sizeof a, ag_ndim(seed), ag_shape(seed)),
                           ag_dtype_name(ag_dtype_of(y)), ag_format_shape(b, sizeof b, ag_ndim(y), ag_shape(y)));
            return AG_ERR_SHAPE;
        }
        if (ag__is_stmt(y)) return AG_OK;
    }
    if (!seed && need_seed_if_not_scalar && ag__numel(y) != 1) {
        ag__error_fail(t, AG_ERR_SHAPE, op, "output has shape %s: give a seed gradient of that shape, "
                 "or reduce it to a scalar", ag_format_shape(a, sizeof a, y->ndim, ag__shape(y)));
        return AG_ERR_SHAPE;
    }
    if (seed) {
        bool same = seed->ndim == y->ndim && seed->dtype == y->dtype;
        for (int i = 0; same && i < y->ndim; i++) same = seed->ext->shape[i] == y->ext->shape[i];
        if (!same) {
            ag__error_fail(t, AG_ERR_SHAPE, op, "seed %s%s does not match output %s%s",
                     ag_dtype_name((ag_dtype)seed->dtype),
                     ag_format_shape(a, sizeof a, seed->ndim, ag__shape(seed)),
                     ag_dtype_name((ag_dtype)y->dtype), ag_format_shape(b, sizeof b, y->ndim, ag__shape(y)));
            return AG_ERR_SHAPE;
        }
    }
    if (!(y->flags & AG_F_ON_TAPE) && !(y->flags & AG_F_PARAM)) {
        ag__error_fail(t, AG_ERR_STATE, op, "output was computed in no-grad mode; nothing was recorded");
        return AG_ERR_STATE;
    }
    return AG_OK;
}

ag_status ag_backward(ag_tape *t, ag_tensor *y) { return ag_backward_seed(t, y, NULL); }

ag_status ag_backward_seed(ag_tape *t, ag_tensor *y, ag_tensor *seed) {
    ag_status st = ag__sweep_check_output(t, "backward", y, seed, true);
    if (st == AG_OK) st = ag__sweep_check_requires(t, "backward", y);
    if (st == AG_OK) st = ag__tape_lock_params(t, "backward");
    if (st != AG_OK) return st;
    st = sweep(t, y, seed, false);
    ag__tape_unlock_params(t);
    return st;
}

ag_status ag__sweep_check_args(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n,
                              ag_tensor *const *xs, ag_tensor **grads) {
    ag_status st = ag__sweep_check_output(t, "grad", y, seed, true);
    if (st != AG_OK) return st;
    if (n < 0 || (n > 0 && (!xs || !grads))) {
        ag__error_fail(t, AG_ERR_NULL, "grad", "inputs or outputs array is NULL");
        return AG_ERR_NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            ag__error_fail(t, AG_ERR_NULL, "grad", "input %d is NULL", i + 1);
            return AG_ERR_NULL;
        }
        if (!ag__tape_owns(t, xs[i])) return ag__tape_foreign(t, "grad", i, n, xs);
    }
    return AG_OK;
}

ag_status ag__grad_unused(ag_tape *t, int i, ag_tensor *x) {
    char a[128];
    bool requires = ag__handle_requires_grad(x);
    ag__error_fail(t, AG_ERR_STATE, "grad", "input %d %s %s; pass allow_unused (ag_grad_ex) to get "
                   "zeros for it", i + 1, ag__error_fmt_operand(a, sizeof a, x),
                   requires ? "was not used to compute the output"
                            : "does not require a gradient (ag_requires_grad, or a parameter)");
    return AG_ERR_STATE;
}

/* ag__grad_numeric once the arguments are checked and the parameters
 * taken (ag__tape_lock_params). */
static ag_status grad_numeric(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n, ag_tensor *const *xs,
                              ag_tensor **grads, bool allow_unused, bool constant) {
    ag_status st;
    /* Wanted leaves lend their gradient buffers: save, zero, sweep, copy out,
     * restore. Intermediate nodes need nothing: each sweep starts them at 0. */
    void **saved = ag__tape_alloc_array(t, n ? n : 1, sizeof *saved, "grad");
    if (!saved) return t->err;
    for (int i = 0; i < n; i++) {
        ag_tensor *x = xs[i];
        saved[i] = NULL;
        grads[i] = NULL;
        if (ag__is_stmt(x)) continue; /* its gradient is made after the sweep */
        grads[i] = ag_zeros(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x));
        if (!grads[i]) return t->err;
        /* A stamp no sweep gives (the last one's), so x->epoch equals the
         * new sweep's epoch afterwards exactly when this sweep reached x:
         * a parameter's stamp may come from another tape's sweep. */
        x->epoch = t->epoch;
        if ((x->flags & AG_F_LEAF) && (x->flags & AG_F_REQUIRES_GRAD) && !ag__wanted(x)) {
            size_t bytes = (size_t)ag__numel(x) * ag__elsize(x->dtype);
            saved[i] = ag__tape_alloc(t, bytes, "grad");
            if (!saved[i]) return t->err;
            memcpy(saved[i], ag__grad(x), bytes);
            memset(ag__grad(x), 0, bytes);
            ag__set_wanted(x, true);
        }
    }
    st = constant ? AG_OK : sweep(t, y, seed, true);
    int unused = -1; /* the first input the sweep did not reach */
    for (int i = 0; i < n; i++) {
        ag_tensor *x = xs[i];
        if (ag__is_stmt(x)) continue;
        size_t bytes = (size_t)ag__numel(x) * ag__elsize(x->dtype);
        bool got = !constant && (x->flags & AG_F_REQUIRES_GRAD) && x->epoch == t->epoch;
        if (st == AG_OK && got) memcpy(ag__val(grads[i]), ag__grad(x), bytes);
        if (!got && unused < 0) unused = i;
        if (saved[i]) {
            memcpy(ag__grad(x), saved[i], bytes);
            ag__set_wanted(x, false);
        }
    }
    if (st != AG_OK) return st;
    /* Statements: their gradient is their adjoint now (an input the sweep
     * did not reach is unused); then the leaves get back the gradients the
     * functional sweep set aside. */
    const bool *reached = NULL;
    for (int i = 0; i < n && t->err == AG_OK; i++) {
        ag_tensor *x = xs[i];
        if (!ag__is_stmt(x)) continue;
        bool got = !constant && ag__stmt_requires(x);
        if (got && !allow_unused) {
            if (!reached && !(reached = ag__stmt_reachable(t, y))) break;
            got = reached[ag__stmt_index(x)];
        }
        if (!got && unused < 0) unused = i;
        grads[i] = ag_scalar(t, got ? ag__stmt_grad_of(&t->s, ag__stmt_index(x)) : 0.0);
    }
    if (!constant && ag__stmt_count(&t->s)) ag__stmt_restore_leaves(t);
    if (t->err != AG_OK) return t->err;
    if (unused >= 0 && !allow_unused) return ag__grad_unused(t, unused, xs[unused]);
    return AG_OK;
}

ag_status ag__grad_numeric(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n, ag_tensor *const *xs,
                           ag_tensor **grads, bool allow_unused) {
    ag_status st = ag__sweep_check_args(t, y, seed, n, xs, grads);
    if (st != AG_OK) return st;
    bool constant = !ag__handle_requires_grad(y);
    if (constant && !allow_unused) return ag__sweep_check_requires(t, "grad", y);
    if ((st = ag__tape_lock_params(t, "grad")) != AG_OK) return st;
    st = grad_numeric(t, y, seed, n, xs, grads, allow_unused, constant);
    ag__tape_unlock_params(t);
    return st;
}

ag_status ag_grad(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n, ag_tensor *const *xs,
                  ag_tensor **grads) {
    return ag__grad_numeric(t, y, seed, n, xs, grads, false);
}
