/* The scalar tape (stmt.h): its blocks and arrays, leaves, imported
 * parameters and leaf nodes, promotion to nodes, names. */
#include "stmt.h"
#include "backward.h"
#include "error.h"
#include "op.h"
#include "record.h"
#include "tape.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ storage */

void ag__stmt_sync(ag_tape *t) {
    ag_stape *s = &t->s;
    s->lim = 0;
    /* scalar_slow: no-grad mode, or anomaly mode, where each statement
     * takes the slow path so that its value is checked (reserved()) */
    if (t->err != AG_OK || t->scalar_slow || !s->blk) return;
    size_t room = AG_SBLOCK_N - s->sl;
    size_t ops = (s->cap_ops - s->nops) / 2, cs = s->cap_c - s->nc;
    if (ops < room) room = ops;
    if (cs < room) room = cs;
    s->lim = s->sl + (uint32_t)room;
}

/* Moves to the next block, allocating it the first time the tape grows
 * this far. Blocks are kept across resets. */
static bool next_block(ag_tape *t) {
    ag_stape *s = &t->s;
    size_t b = s->blk ? s->cur + 1 : 0;
    if ((b + 1) * (size_t)AG_SBLOCK_N > UINT32_MAX) {
        ag__error_fail(t, AG_ERR_MEMORY, "scalar tape", "more than %u scalars recorded since reset",
                       UINT32_MAX);
        return false;
    }
    if (b == s->nblocks) {
        if (s->nblocks == s->cap_blocks) {
            size_t cap = s->cap_blocks ? 2 * s->cap_blocks : 16;
            char **blocks = realloc(s->blocks, cap * sizeof *blocks);
            if (!blocks) goto oom;
            s->blocks = blocks;
            s->cap_blocks = cap;
        }
        char *blk = ag__tape_aligned(t, AG_SBLOCK_BYTES);
        if (!blk) goto oom;
        *(ag_sblock_head *)blk = (ag_sblock_head){.tape = t};
        s->blocks[s->nblocks++] = blk;
    }
    s->cur = b;
    s->blk = s->blocks[b];
    s->sl = 0;
    s->lim = 0; /* until ag__stmt_sync */
    ((ag_sblock_head *)s->blk)->bias = (uint32_t)(b * AG_SBLOCK_N) - AG_SBLOCK_VALS / 8;
    return true;
oom:
    ag__error_fail(t, AG_ERR_MEMORY, "scalar tape", "cannot allocate a statement block: tape memory "
                   "cap %zu reached", t->mem_cap);
    return false;
}

/* Grows the two operand arrays together to hold at least `need`. */
static bool grow_operands(ag_tape *t, size_t need) {
    ag_stape *s = &t->s;
    size_t cap = s->cap_ops ? 2 * s->cap_ops : (size_t)1 << 16;
    while (cap < need) cap *= 2;
    size_t more = (cap - s->cap_ops) * (sizeof *s->p + sizeof *s->in);
    if (t->mem_cap && t->bytes_reserved + more > t->mem_cap) return false;
    double *p = realloc(s->p, cap * sizeof *p);
    if (!p) return false;
    s->p = p;
    uint32_t *in = realloc(s->in, cap * sizeof *in);
    if (!in) return false; /* p is bigger than cap_ops says: harmless */
    s->in = in;
    s->cap_ops = cap;
    t->bytes_reserved += more;
    t->allocations++;
    return true;
}

/* After making room: the fast path's count again, or in anomaly mode
 * room for just the statement being recorded. */
static bool reserved(ag_tape *t) {
    ag__stmt_sync(t);
    if (t->anomaly) t->s.lim = t->s.sl + 1;
    return true;
}

bool ag__stmt_reserve(ag_tape *t, unsigned nops) {
    ag_stape *s = &t->s;
    if (t->err != AG_OK || t->no_grad) return false;
    if (ag__stmt_fits(s, nops)) return reserved(t);
    if ((!s->blk || s->sl == AG_SBLOCK_N) && !next_block(t)) return false;
    size_t need = nops > 2 ? nops : 2;
    if ((s->nops + need > s->cap_ops && !grow_operands(t, s->nops + need)) ||
        (s->nc + 1 > s->cap_c &&
         !ag__tape_grow(t, (void **)&s->c, &s->cap_c, s->nc + 1, sizeof *s->c, 1 << 12))) {
        ag__error_fail(t, AG_ERR_MEMORY, "scalar tape", "tape memory cap %zu reached", t->mem_cap);
        return false;
    }
    return reserved(t);
}

void ag__stmt_reset(ag_tape *t) {
    ag_stape *s = &t->s;
    s->blk = NULL;
    s->cur = 0;
    s->sl = 0;
    s->nops = s->nc = 0;
    s->adj_valid = 0;
    s->nleaves = s->nimports = 0;
    s->names = NULL; /* tape memory, freed with the arena */
    s->cap_names = s->nnames = 0;
    s->graph_grads = NULL;
    s->ngraph = 0;
    s->lim = 0;
}

void ag__stmt_free(ag_tape *t) {
    ag_stape *s = &t->s;
    for (size_t i = 0; i < s->nblocks; i++) free(s->blocks[i]);
    free(s->blocks);
    free(s->retired); /* its blocks: ag__tape_debug_free_retired */
    free(s->p);
    free(s->in);
    free(s->c);
    free(s->adj);
    free(s->leaves);
    free(s->save);
    free(s->imports);
}

size_t ag__stmt_bytes(const ag_tape *t) {
    const ag_stape *s = &t->s;
    size_t n = ag__stmt_count(s);
    return n * (sizeof(uint16_t) + sizeof(double)) + s->nops * (sizeof *s->p + sizeof *s->in) +
           s->nc * sizeof *s->c + (s->adj ? n * sizeof *s->adj : 0);
}

/* Appends v to a growable uint32 array on the C heap. */
static bool push_u32(ag_tape *t, uint32_t **a, size_t *n, size_t *cap, uint32_t v) {
    if (*n == *cap && !ag__tape_grow(t, (void **)a, cap, *n + 1, sizeof **a, 256)) return false;
    (*a)[(*n)++] = v;
    return true;
}

/* ------------------------------------------------------------ leaves */

ag_tensor *ag__stmt_leaf(ag_tape *t, double v) {
    if (!ag__stmt_has_room(&t->s) && !ag__stmt_reserve(t, 0)) return NULL;
    size_t o;
    double *slot = ag__stmt_push(&t->s, AG_OP_LEAF, 0, &o);
    *slot = v;
    return ag__stmt_of_slot(slot);
}

void ag__stmt_require(ag_tape *t, ag_tensor *h) {
    uint16_t *k = ag__stmt_kindp(h);
    if (*k & AG_SK_REQ) return;
    if (!push_u32(t, &t->s.leaves, &t->s.nleaves, &t->s.cap_leaves, ag__stmt_index(h))) {
        ag__error_fail(t, AG_ERR_MEMORY, "requires_grad", "out of memory listing a scalar leaf");
        return;
    }
    *k |= AG_SK_REQ;
}

/* A leaf statement standing for node x (a parameter or a 0-d leaf node)
 * in this generation of the tape; its gradient is settled into x after
 * each sweep (stmt_sweep.c). */
static ag_tensor *import(ag_tape *t, ag_tensor *x) {
    ag_ext *ext = ag__record_ext(t, x);
    if (!ext) return NULL;
    if (atomic_load_explicit(&ext->stmt_gen, memory_order_relaxed) == t->gen) {
        ag_tensor *h = atomic_load_explicit(&ext->stmt, memory_order_relaxed);
        if (h && ag__stmt_tape(h) == t && ag__stmt_val(h) == x->d.s.val) return h;
    }
    if ((x->flags & AG_F_PARAM) && !ag__tape_note_param(t, x)) {
        ag__error_fail(t, AG_ERR_MEMORY, "scalar tape", "out of memory noting a parameter");
        return NULL;
    }
    ag_stape *s = &t->s;
    if (s->nimports == s->cap_imports &&
        !ag__tape_grow(t, (void **)&s->imports, &s->cap_imports, s->nimports + 1, sizeof *s->imports, 64)) {
        ag__error_fail(t, AG_ERR_MEMORY, "scalar tape", "out of memory importing a scalar");
        return NULL;
    }
    ag_tensor *h = ag__stmt_leaf(t, x->d.s.val);
    if (!h) return NULL;
    if (x->flags & AG_F_REQUIRES_GRAD) *ag__stmt_kindp(h) |= AG_SK_REQ;
    s->imports[s->nimports++] = (ag_simport){x, ag__stmt_index(h)};
    atomic_store_explicit(&ext->stmt, h, memory_order_relaxed);
    atomic_store_explicit(&ext->stmt_gen, t->gen, memory_order_relaxed);
    return h;
}

ag_tensor *ag__stmt_operand(ag_tape *t, ag_tensor *x) {
    if (ag__is_stmt(x)) return ag__stmt_tape(x) == t ? x : NULL;
    if (x->ndim != 0 || x->dtype != AG_F64 || !(x->flags & AG_F_LEAF)) return NULL;
    /* A tape leaf of another tape, or one computed in no-grad mode, stays
     * a node: the generic path takes it. */
    if (!(x->flags & AG_F_PARAM) && !(x->flags & AG_F_ON_TAPE)) return NULL;
    if (t->err != AG_OK || t->no_grad) return NULL;
    return import(t, x);
}

/* ---------------------------------------------------------- statements */

ag_tensor *ag__stmt_record(ag_tape *t, ag_op op, double v, unsigned n, ag_tensor *const *in,
                           const double *partials, double c) {
    AG_ASSERT(n <= AG_STMT_MAX_OPERANDS);
    ag_stape *s = &t->s;
    if (ag__stmt_room(s) < ag__stmt_cost(n) && !ag__stmt_reserve(t, n)) return NULL;
    uint64_t cb;
    memcpy(&cb, &c, sizeof cb);
    size_t o;
    double *slot = ag__stmt_push(s, (uint16_t)(op | (cb ? AG_SK_CONST : 0)), n, &o);
    *slot = v;
    double *p = s->p + o;
    uint32_t *idx = s->in + o;
    uint16_t req = 0;
    for (unsigned k = 0; k < n; k++) { /* one pass: index, partial, requires */
        uint16_t kk = ag__stmt_kind(in[k]) & AG_SK_REQ;
        req |= kk;
        p[k] = kk ? partials[k] : 0.0;
        idx[k] = ag__stmt_index(in[k]);
    }
    *ag__stmt_kindp(ag__stmt_of_slot(slot)) |= req;
    if (cb) s->c[s->nc++] = c;
    return ag__record_done(t, ag__stmt_of_slot(slot));
}

/* ----------------------------------------------------------- promotion */

/* The scalar node: the gradient it receives in the node sweep goes to its
 * statement's adjoint, which the statement sweep then carries on. */
static void scalar_forward(ag_tensor *n) { (void)n; }
static void scalar_backward(ag_sweep *sw, ag_tensor *n) {
    ag_stape *s = &sw->tape->s;
    size_t i = (size_t)n->attr.i;
    s->adj[i] += n->d.s.grad;
    if (i + 1 > s->reach) s->reach = i + 1;
}
const ag_op_info ag__op_SCALAR = {"scalar", 0, scalar_forward, scalar_backward, "", NULL, NULL};

ag_tensor *ag__stmt_promote_stmt(ag_tape *t, ag_tensor *x) {
    if (!t) return NULL;
    if (ag__stmt_tape(x) != t)
        return ag__error_fail(t, AG_ERR_ARG, "scalar", "this scalar was recorded on another tape");
    ag_tensor *n = ag__record_node(t, AG_OP_SCALAR, AG_F64, 0, NULL, NULL, NULL);
    if (!n) return NULL;
    n->d.s.val = ag__stmt_val(x);
    n->attr.i = ag__stmt_index(x);
    if ((n->flags & AG_F_ON_TAPE) && ag__stmt_requires(x)) n->flags |= AG_F_REQUIRES_GRAD;
    const char *name = ag__stmt_name(x);
    if (name) {
        ag_ext *ext = ag__record_ext(t, n);
        if (!ext) return NULL;
        ext->name = name;
    }
    return n;
}

bool ag__stmt_promote_n(ag_tape *t, int n, ag_tensor *const *xs, ag_tensor **out) {
    for (int i = 0; i < n; i++) {
        ag_tensor *x = xs[i];
        out[i] = ag__stmt_promote(t, x);
        if (x && !out[i]) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- names */

static size_t name_slot(const ag_sname *m, size_t cap, uint32_t i) {
    size_t h = (size_t)((i * 0x9E3779B1u) & (cap - 1));
    while (m[h].index != UINT32_MAX && m[h].index != i) h = (h + 1) & (cap - 1);
    return h;
}

const char *ag__stmt_name(const ag_tensor *h) {
    const ag_tape *t = ag__stmt_tape(h);
    if (!t) return NULL; /* retired (debug mode) */
    const ag_stape *s = &t->s;
    if (!s->nnames) return NULL;
    const ag_sname *e = &s->names[name_slot(s->names, s->cap_names, ag__stmt_index(h))];
    return e->index == UINT32_MAX ? NULL : e->name;
}

bool ag__stmt_set_name(ag_tape *t, ag_tensor *h, const char *copy) {
    ag_stape *s = &t->s;
    if (2 * (s->nnames + 1) > s->cap_names) { /* grow, in tape memory */
        size_t cap = s->cap_names ? 2 * s->cap_names : 64;
        ag_sname *m = ag__tape_small(t, cap * sizeof *m);
        if (!m) return false;
        for (size_t i = 0; i < cap; i++) m[i].index = UINT32_MAX;
        for (size_t i = 0; i < s->cap_names; i++)
            if (s->names[i].index != UINT32_MAX) m[name_slot(m, cap, s->names[i].index)] = s->names[i];
        s->names = m;
        s->cap_names = cap;
    }
    uint32_t i = ag__stmt_index(h);
    ag_sname *e = &s->names[name_slot(s->names, s->cap_names, i)];
    if (e->index == UINT32_MAX) s->nnames++;
    *e = (ag_sname){i, copy};
    return true;
}
