/* Scalars: a 0-d node's inline value and gradient, and the fast path of
 * recording 0-d nodes. Not installed. */
#ifndef TAPEGRAD_CORE_SCALAR_PATH_H
#define TAPEGRAD_CORE_SCALAR_PATH_H

#include "op.h"
#include "tape.h"

/* A 0-d node's value and gradient as doubles, given its dtype dt (callers
 * branch on the dtype once and pass a constant). An f32 scalar lives in the
 * first 4 bytes of its slot. */
static inline double ag__scalar_get(const ag_tensor *x, int dt) {
    if (dt == AG_F64) return x->d.s.val;
    float f;
    memcpy(&f, &x->d.s.val, sizeof f);
    return (double)f;
}
static inline double ag__scalar_grad(const ag_tensor *x, int dt) {
    if (dt == AG_F64) return x->d.s.grad;
    float f;
    memcpy(&f, &x->d.s.grad, sizeof f);
    return (double)f;
}
static inline void ag__scalar_set(ag_tensor *n, int dt, double v) {
    if (dt == AG_F64) {
        n->d.s.val = v;
    } else {
        float f = (float)v;
        n->d.s.val = 0.0; /* the other 4 bytes as the generic path's memset */
        memcpy(&n->d.s.val, &f, sizeof f);
    }
}

#include <stdatomic.h>

#ifndef AG_RECORD_PREFETCH
#define AG_RECORD_PREFETCH 2048 /* bytes ahead of the next node slot */
#endif

/* Scalar programs record millions of 0-d nodes, so the common case skips
 * the generic recorder (ag__record_node_n: shape checks, broadcasting, ext, the
 * parameter scan, a memset of the node). It applies when grad mode is on,
 * anomaly mode is off (its checks run in the generic recorder), no error
 * is set, and every input is a 0-d node of the node's dtype that is not a
 * parameter, or a parameter the tape has already noted since its
 * last reset (so the version check of backward knows it: its first use
 * takes the generic path, which notes it); the caller checks that. The node it writes is exactly what
 * ag__record_node_n writes for the same op and inputs (every field, ext NULL,
 * epoch 0, gradient slot 0), so the sweeps cannot tell them apart. */

/* Whether x can be an input of a fast-path scalar node on tape t: a 0-d
 * node of t's node list (its region's head names t), or a parameter t has
 * noted. Anything else (another tape's node, a no-grad node) takes the
 * generic path, whose checks report what is wrong. */
static inline bool ag__scalar_input(const ag_tape *t, const ag_tensor *x) {
    if (!x || x->ndim != 0) return false;
    if (x->flags & AG_F_PARAM)
        return atomic_load_explicit(&x->ext->seen_gen, memory_order_relaxed) == t->gen;
    return (x->flags & AG_F_ON_TAPE) && ag__region_head(x)->tape == t;
}
static inline bool ag__scalar_tape(const ag_tape *t) {
    return t && t->err == AG_OK && t->scalar_slow == 0; /* no-grad and anomaly mode off */
}

/* Pushes a 0-d node with the given fields (value unset), or NULL when the
 * tape needs a new block and the memory cap forbids it: the caller then
 * takes the generic path, which reports the error. */
static AG_ALWAYS_INLINE ag_tensor *ag__scalar_push(ag_tape *t, ag_op op, int dtype, bool requires,
                                                   ag_tensor *in0, ag_tensor *in1, ag_attr attr) {
    ag_tensor *n = t->next;
    if (n != t->end) { /* ag__tape_push, without a NULL check on the fast side */
        t->next = n + 1;
        t->nnodes++;
    } else if (!(n = ag__tape_push_slow(t))) {
        return NULL;
    }
    AG_PREFETCH((const char *)n + AG_RECORD_PREFETCH, 1);
    n->op = (uint8_t)op;
    n->dtype = (uint8_t)dtype;
    n->ndim = 0;
    n->flags = (uint8_t)((requires ? AG_F_REQUIRES_GRAD : 0) | AG_F_ON_TAPE |
                         (op == AG_OP_LEAF ? AG_F_LEAF : 0));
    n->epoch = 0;
    n->in[0] = in0;
    n->in[1] = in1;
    n->attr = attr;
    n->ext = NULL;
    n->d.s.grad = 0.0;
    return n;
}

/* The recorders' inline test: x as a statement operand of t without
 * recording anything (a statement of t, or a parameter or 0-d leaf node
 * imported in this generation whose value is unchanged), or NULL: then
 * the slow path decides. */
static AG_ALWAYS_INLINE ag_tensor *ag__stmt_fast_operand(const ag_tape *t, ag_tensor *x) {
    if (AG_LIKELY((uintptr_t)x & 1)) return AG_LIKELY(ag__stmt_tape(x) == t) ? x : NULL;
    if (!x || !x->ext || atomic_load_explicit(&x->ext->stmt_gen, memory_order_relaxed) != t->gen)
        return NULL;
    ag_tensor *h = atomic_load_explicit(&x->ext->stmt, memory_order_relaxed);
    return h && ag__stmt_tape(h) == t && ag__stmt_val(h) == x->d.s.val ? h : NULL;
}

#endif /* TAPEGRAD_CORE_SCALAR_PATH_H */
