/* The recorded backward sweep (create_graph): the same reverse walk as
 * backward.c, but each op's chain rule runs as graph ops (its row's vjp), so
 * the gradients it produces are nodes on the tape that can be differentiated
 * again: second and higher derivatives, Hessian-vector products.
 *
 * During the sweep a node's gradient so far lives in a map from node to
 * gradient node (open addressing, on the tape, so the memory cap applies and
 * a scalar needs no ext block); several consumers add into it, which records
 * the sum over paths as add nodes. Only this path allocates nodes;
 * ag_backward's numeric path is untouched. */
#include "error.h"
#include "node.h"
#include "op.h"
#include "backward.h"
#include "vjp.h"
#include "record.h"
#include "tape.h"

#include <stdlib.h>

/* ------------------------------------------------------- shared helpers */

ag_tensor *ag__vjp_sum_to(ag_tape *t, ag_tensor *c, const ag_tensor *x) {
    if (!c) return NULL;
    int lead = ag_ndim(c) - ag_ndim(x); /* either may be a scalar statement */
    AG_ASSERT(lead >= 0);
    for (int i = 0; i < lead && c; i++) c = ag_sum(t, c, 0, false);
    for (int i = 0; i < ag_ndim(x) && c; i++)
        if (x->ext->shape[i] == 1 && c->ext->shape[i] != 1) c = ag_sum(t, c, i, true);
    return c;
}

ag_tensor *ag__vjp_const_map(ag_tape *t, ag_tensor *x, double (*f)(double x, double c), double c) {
    if (ag__is_stmt(x)) return ag_scalar(t, f(ag__stmt_val(x), c));
    ag_tensor *m = ag_tensor_new(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x), NULL);
    if (!m) return NULL;
    const void *px = ag__val(x);
    void *pm = ag__val(m);
    for (int64_t i = 0, n = ag__numel(x); i < n; i++)
        ag__st(pm, x->dtype, i, f(ag__ld(px, x->dtype, i), c));
    return m;
}

ag_tensor *ag__vjp_unreduce(ag_tape *t, ag_tensor *g, const ag_tensor *x, int axis) {
    if (!g) return NULL;
    if (g->ndim == x->ndim) return g; /* keepdims already */
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        shape[i] = (axis == AG_ALL || i == axis) ? 1 : x->ext->shape[i];
    return ag_reshape(t, g, x->ndim, shape);
}

/* ------------------------------------------------------------- the sweep */

/* Node -> recorded gradient so far. Nodes on the tape's list use a dense
 * array indexed by their position (found from the node's block, by binary
 * search over the blocks sorted by address), which keeps the sweep's memory
 * access close to tape order; parameters (off the tape) use a small
 * open-addressing table. All of it lives on the tape, under its cap. */
typedef struct block_ref {
    uintptr_t start;
    size_t first; /* position of the block's first node */
} block_ref;

typedef struct grad_map {
    block_ref *blocks;
    size_t nblocks, count;
    ag_tensor **dense;       /* count entries */
    ag_tensor **keys, **vals; /* parameters */
    size_t mask;
} grad_map;

static int by_start(const void *a, const void *b) {
    uintptr_t x = ((const block_ref *)a)->start, y = ((const block_ref *)b)->start;
    return (x > y) - (x < y);
}

static bool map_init(ag_tape *t, grad_map *m) {
    m->count = t->nnodes;
    m->nblocks = m->count ? ((m->count - 1) >> AG_NODE_BLOCK_SHIFT) + 1 : 0;
    size_t cap = 16;
    while (cap < 2 * (t->nuses + 1)) cap <<= 1;
    m->mask = cap - 1;
    m->blocks = ag__tape_alloc(t, (m->nblocks + 1) * sizeof *m->blocks, "backward");
    m->dense = m->blocks ? ag__tape_alloc(t, (m->count + 1) * sizeof *m->dense, "backward") : NULL;
    m->keys = m->dense ? ag__tape_alloc(t, 2 * cap * sizeof *m->keys, "backward") : NULL;
    if (!m->keys) return false;
    m->vals = m->keys + cap;
    memset(m->dense, 0, m->count * sizeof *m->dense);
    memset(m->keys, 0, 2 * cap * sizeof *m->keys);
    for (size_t b = 0; b < m->nblocks; b++)
        m->blocks[b] = (block_ref){(uintptr_t)t->blocks[b], b << AG_NODE_BLOCK_SHIFT};
    qsort(m->blocks, m->nblocks, sizeof *m->blocks, by_start);
    return true;
}

/* The slot holding k's gradient: in the dense array for a node recorded
 * before the sweep, else in the parameter table. */
static ag_tensor **map_slot(grad_map *m, const ag_tensor *k) {
    if (k->flags & AG_F_ON_TAPE) {
        uintptr_t p = (uintptr_t)k;
        size_t lo = 0, hi = m->nblocks; /* last block with start <= p */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (m->blocks[mid].start <= p) lo = mid;
            else hi = mid;
        }
        size_t i = m->blocks[lo].first + (p - m->blocks[lo].start) / sizeof(ag_tensor);
        AG_ASSERT(i < m->count);
        return &m->dense[i];
    }
    uint64_t h = (uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing, as map_get */
    size_t i = (size_t)(h >> 20) & m->mask;
    while (m->keys[i] && m->keys[i] != k) i = (i + 1) & m->mask;
    m->keys[i] = (ag_tensor *)k;
    return &m->vals[i];
}

/* k's gradient so far, or NULL. Looks only: a parameter the sweep never
 * reached takes no slot (asking for many would fill the table). */
static ag_tensor *map_get(grad_map *m, const ag_tensor *k) {
    if (k->flags & AG_F_ON_TAPE) return *map_slot(m, k);
    uint64_t h = (uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull;
    for (size_t i = (size_t)(h >> 20) & m->mask; m->keys[i]; i = (i + 1) & m->mask)
        if (m->keys[i] == k) return m->vals[i];
    return NULL;
}

typedef struct graph_sweep {
    ag_tape *t;
    bool functional;
    grad_map map;
    /* Scalar statements' recorded gradients, by index (stmt_vjp.c). */
    ag_tensor **sgrads;
    size_t nstmts;
} graph_sweep;

/* Adds the share c into in's recorded gradient. */
static bool accumulate(graph_sweep *s, ag_tensor *in, ag_tensor *c) {
    if (!c) return false;
    if (ag__is_stmt(in)) {
        if (!ag__stmt_requires(in)) return true;
        ag_tensor **slot = &s->sgrads[ag__stmt_index(in)];
        *slot = *slot ? ag_add(s->t, *slot, c) : c;
        return *slot != NULL;
    }
    if (!(in->flags & AG_F_REQUIRES_GRAD)) return true;
    if ((in->flags & AG_F_LEAF) && s->functional && !ag__wanted(in)) return true;
    c = ag__vjp_sum_to(s->t, c, in);
    if (!c) return false;
    ag_tensor **slot = map_slot(&s->map, in);
    *slot = *slot ? ag_add(s->t, *slot, c) : c;
    return *slot != NULL;
}

/* Walks from y over the nodes recorded before the sweep began; nodes the
 * sweep records are newer and are never visited. On success *map holds
 * every reached node's recorded gradient. */
static ag_status graph_sweep_run(ag_tape *t, ag_tensor *y, ag_tensor *seed, bool functional,
                                 graph_sweep *out) {
    if (t->err != AG_OK) return t->err;
    ag_status st = ag__sweep_check_versions(t);
    if (st != AG_OK) return st;
    graph_sweep s = {.t = t, .functional = functional, .nstmts = ag__stmt_count(&t->s)};
    size_t count = ag__is_stmt(y) ? 0 : t->nnodes; /* no node is upstream of a statement */
    if (!map_init(t, &s.map)) return t->err;
    s.sgrads = ag__tape_alloc(t, (s.nstmts ? s.nstmts : 1) * sizeof *s.sgrads, "backward");
    if (!s.sgrads) return t->err;
    memset(s.sgrads, 0, s.nstmts * sizeof *s.sgrads);
    ag_tensor *g0 = seed ? seed
                         : (ag__is_stmt(y) ? ag_scalar(t, 1.0)
                                           : ag_ones(t, (ag_dtype)y->dtype, y->ndim, ag__shape(y)));
    if (!g0 || !accumulate(&s, y, g0)) return t->err ? t->err : AG_ERR_MEMORY;
    size_t reach = ag__is_stmt(y) ? ag__stmt_index(y) + 1 : 0;
    ag_tensor *gin[AG_MAX_DIMS + 2];
    for (size_t i = count; i-- > 0;) {
        ag_tensor *n = ag__tape_node(t, i);
        if (n->flags & AG_F_LEAF) continue;
        ag_tensor *g = map_get(&s.map, n);
        if (!g) continue;
        if (n->op == AG_OP_SCALAR) { /* hands its gradient to its statement */
            size_t k = (size_t)n->attr.i;
            s.sgrads[k] = s.sgrads[k] ? ag_add(t, s.sgrads[k], g) : g;
            if (!s.sgrads[k]) return t->err ? t->err : AG_ERR_MEMORY;
            if (k + 1 > reach) reach = k + 1;
            continue;
        }
        const ag_op_info *op = ag__op_of(n);
        int nin = ag__op_ninputs(n);
        /* A node's rule reads its upstream gradient as a node. */
        if (ag__is_stmt(g) && !op->svjp && !(g = ag__stmt_promote(t, g))) return t->err;
        if (!op->vjp) {
            ag__error_fail(t, AG_ERR_STATE, op->name,
                           "this op cannot record its backward (create_graph): it has no graph-form "
                           "backward, so its gradient cannot be differentiated again");
            return t->err;
        }
        /* Ops with many inputs (concat, stack) write through a tape array. */
        ag_tensor **gv = gin;
        if (nin > (int)(sizeof gin / sizeof gin[0])) {
            gv = ag__tape_alloc(t, (size_t)nin * sizeof *gv, op->name);
            if (!gv) return t->err;
        }
        for (int k = 0; k < nin; k++) gv[k] = NULL;
        t->anomaly_rule = n; /* names the rule in anomaly mode's messages */
        bool ok = op->vjp(t, n, g, gv);
        for (int k = 0; ok && k < nin; k++)
            ok = !gv[k] || accumulate(&s, ag__input(n, k), gv[k]);
        t->anomaly_rule = NULL;
        if (!ok) return t->err ? t->err : AG_ERR_MEMORY;
    }
    /* Then the statements; imported parameters and leaf nodes take their
     * statement's gradient. */
    if (reach && !ag__stmt_graph_sweep(t, s.sgrads, reach)) return t->err ? t->err : AG_ERR_MEMORY;
    for (size_t k = 0; k < t->s.nimports; k++) {
        if (t->s.imports[k].index >= s.nstmts) continue; /* imported during this sweep */
        ag_tensor *g = s.sgrads[t->s.imports[k].index];
        if (g && !accumulate(&s, t->s.imports[k].node, g)) return t->err ? t->err : AG_ERR_MEMORY;
    }
    *out = s;
    return t->err;
}

/* Leaves that received a recorded gradient keep it for ag_graph_grad and
 * add its value into their stored gradient (which accumulates, as ever). */
static bool settle_leaf(ag_tape *t, grad_map *map, ag_tensor *x) {
    ag_tensor *g = map_get(map, x);
    if (!g || !(x->flags & AG_F_LEAF)) return true;
    ag_ext *ext = ag__record_ext(t, x);
    if (!ext) return false;
    ext->graph_grad = g;
    ext->graph_grad_gen = t->gen;
    void *dst = ag__grad(x);
    const void *src = ag__val(g);
    for (int64_t i = 0, n = ag__numel(x); i < n; i++)
        ag__st(dst, x->dtype, i, ag__ld(dst, x->dtype, i) + ag__ld(src, g->dtype, i));
    return true;
}

ag_status ag_backward_ex(ag_tape *t, ag_tensor *y, const ag_backward_opts *opts) {
    ag_backward_opts o = opts ? *opts : (ag_backward_opts){0};
    ag_status st = ag__sweep_check_output(t, "backward", y, o.seed, true);
    if (st != AG_OK) return st;
    if (!ag__handle_requires_grad(y)) return o.allow_unused ? AG_OK : ag__sweep_check_requires(t, "backward", y);
    if (!o.create_graph) return ag_backward_seed(t, y, o.seed);
    if ((st = ag__tape_lock_params(t, "backward")) != AG_OK) return st;
    size_t count = t->nnodes, nuses = t->nuses;
    graph_sweep gs;
    st = graph_sweep_run(t, y, o.seed, false, &gs);
    for (size_t i = 0; st == AG_OK && i < count; i++)
        if (!settle_leaf(t, &gs.map, ag__tape_node(t, i))) st = t->err;
    for (size_t i = 0; st == AG_OK && i < nuses; i++)
        if (!settle_leaf(t, &gs.map, t->uses[i].param)) st = t->err;
    /* Statement leaves: the value into the stored gradient, the handle kept
     * for ag_graph_grad. */
    ag_stape *s = &t->s;
    for (size_t k = 0; st == AG_OK && k < s->nleaves; k++) {
        uint32_t i = s->leaves[k];
        if (i >= gs.nstmts || !gs.sgrads[i]) continue;
        double *g = ag__stmt_grad_ptr(t, i);
        if (!g) st = t->err;
        else *g += ag_item(gs.sgrads[i]);
    }
    if (st == AG_OK) {
        s->graph_grads = gs.sgrads;
        s->ngraph = gs.nstmts;
        s->graph_gen = t->gen;
    }
    ag__tape_unlock_params(t);
    return st;
}

ag_status ag_grad_ex(ag_tape *t, ag_tensor *y, int n, ag_tensor *const *xs, ag_tensor **grads,
                     const ag_backward_opts *opts) {
    ag_backward_opts o = opts ? *opts : (ag_backward_opts){0};
    if (!o.create_graph) return ag__grad_numeric(t, y, o.seed, n, xs, grads, o.allow_unused);
    ag_status st = ag__sweep_check_args(t, y, o.seed, n, xs, grads);
    if (st != AG_OK) return st;
    bool constant = !ag__handle_requires_grad(y);
    if (constant && !o.allow_unused) return ag__sweep_check_requires(t, "grad", y);
    graph_sweep gs = {0};
    if (!constant) {
        if ((st = ag__tape_lock_params(t, "grad")) != AG_OK) return st;
        /* Mark the wanted leaves: only they receive gradients among leaves
         * (statements need no mark: their gradients are read by index). */
        for (int i = 0; i < n; i++)
            if (!ag__is_stmt(xs[i])) ag__set_wanted(xs[i], true);
        st = graph_sweep_run(t, y, o.seed, true, &gs);
        for (int i = 0; i < n; i++)
            if (!ag__is_stmt(xs[i])) ag__set_wanted(xs[i], false);
        ag__tape_unlock_params(t);
        if (st != AG_OK) return st;
    }
    for (int i = 0; i < n; i++) {
        ag_tensor *x = xs[i];
        if (ag__is_stmt(x)) { /* reached exactly when the sweep gave it a gradient */
            size_t k = ag__stmt_index(x);
            grads[i] = !constant && k < gs.nstmts ? gs.sgrads[k] : NULL;
            if (!grads[i] && !o.allow_unused) return ag__grad_unused(t, i, x);
            if (!grads[i]) grads[i] = ag_scalar(t, 0.0);
        } else {
            grads[i] = constant ? NULL : map_get(&gs.map, x);
            if (!grads[i] && !o.allow_unused) return ag__grad_unused(t, i, x);
            if (!grads[i]) grads[i] = ag_zeros(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x));
        }
        if (!grads[i]) return t->err;
    }
    return AG_OK;
}

ag_tensor *ag_graph_grad(const ag_tape *t, const ag_tensor *x) {
    if (t && x && ag__is_stmt(x)) {
        const ag_stape *s = &t->s;
        size_t i = ag__stmt_index(x);
        bool leaf = ag__sk_op(ag__stmt_kind(x)) == AG_OP_LEAF;
        return ag__stmt_tape(x) == t && leaf && s->graph_gen == t->gen && i < s->ngraph
                   ? s->graph_grads[i] : NULL;
    }
    if (!t || !x || !x->ext || !x->ext->graph_grad || x->ext->graph_grad_gen != t->gen) return NULL;
    return x->ext->graph_grad;
}
