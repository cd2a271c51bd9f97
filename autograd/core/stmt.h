/* The scalar tape: f64 scalars recorded as compact statements instead of
 * 56-byte nodes (stmt.c). Not installed.
 *
 * A statement is one scalar op's output: its op code, its value, and for
 * each operand the local partial (computed at record time, when the values
 * are at hand) and the operand's statement index. The statement's own index
 * is implicit in its position. Statements live in structure-of-arrays form,
 * so the first-order sweep streams only what it needs:
 *
 *   per statement  uint16 kind (op, operand count, flags) and a double value,
 *                  in 512 KiB blocks aligned to their size;
 *   per operand    double partial and uint32 input index, in two flat arrays;
 *   per constant   a double, for the ops that keep one (x + c, x^c, ...).
 *
 * The handle a user holds (ag_tensor *) for such a scalar is the address of
 * its value slot with bit 0 set. Nodes are 8-aligned, so bit 0 tells the two
 * apart; masking the address finds the block's head, which knows the tape
 * and the block's first index, so ag_item, ag_grad_item and ag_name work
 * without the tape. Adjoints live in a separate dense array indexed by
 * statement (stmt_sweep.c).
 *
 * The direction of edges keeps the sweeps simple: a statement's operands
 * are statements, parameters or leaf nodes (imported: each gets a leaf
 * statement once per tape generation, its gradient settled after the
 * sweep), never other nodes; a node may read a statement through a
 * "scalar" node (ag__stmt_promote). So one backward runs the node sweep
 * first, then the statement sweep. */
#ifndef TAPEGRAD_CORE_STMT_H
#define TAPEGRAD_CORE_STMT_H

#include "hints.h"
#include "op.h"

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------ layout */

#define AG_SBLOCK_BYTES ((size_t)1 << 19)  /* one block, aligned to its size */
#define AG_SBLOCK_MASK (AG_SBLOCK_BYTES - 1)
#define AG_SBLOCK_N 52422u                  /* statements per block */
#define AG_SBLOCK_KINDS 64u                 /* offset of uint16 kinds[N] */
#define AG_SBLOCK_VALS 104912u              /* offset of double vals[N] */
_Static_assert(AG_SBLOCK_KINDS + 2 * AG_SBLOCK_N <= AG_SBLOCK_VALS, "kinds fit before the values");
_Static_assert(AG_SBLOCK_VALS % 8 == 0, "values are aligned");
_Static_assert(AG_SBLOCK_VALS + 8 * (size_t)AG_SBLOCK_N <= AG_SBLOCK_BYTES, "values fit");

/* The first 64 bytes of every block. */
typedef struct ag_sblock_head {
    ag_tape *tape;                /* the owner; NULL once retired (debug mode) */
    const ag_tape *retired_from;  /* debug mode: the tape whose reset retired it */
    /* The block's first statement index, less AG_SBLOCK_VALS / 8 (modulo
     * 2^32): a handle's index is bias + (address within the block) / 8. */
    uint32_t bias;
} ag_sblock_head;
_Static_assert(sizeof(ag_sblock_head) <= AG_SBLOCK_KINDS, "the head fits");

/* A statement's kind: op code, operand count and flags in 16 bits. */
enum {
    AG_SK_OP = 0x7f,        /* op code (ag_op) */
    AG_SK_REQ = 1u << 7,    /* requires a gradient */
    AG_SK_NOPS_SHIFT = 8,   /* operand count in bits 8-13 */
    AG_SK_NOPS = 0x3f,
    AG_SK_CONST = 1u << 14, /* keeps a constant in the constant stream */
    AG_SK_C_IS_P = 1u << 15 /* its constant equals its one partial (x*c) */
};
#define AG_STMT_MAX_OPERANDS 63
static inline unsigned ag__sk_op(uint16_t k) { return k & AG_SK_OP; }
static inline unsigned ag__sk_nops(uint16_t k) { return (k >> AG_SK_NOPS_SHIFT) & AG_SK_NOPS; }

/* An operand of a leaf statement imported from a node: the node. */
typedef struct ag_simport {
    ag_tensor *node; /* parameter or 0-d leaf node */
    uint32_t index;  /* its leaf statement */
} ag_simport;

/* A statement's name (ag_set_name): open addressing on the tape. */
typedef struct ag_sname {
    uint32_t index; /* UINT32_MAX: empty */
    const char *name;
} ag_sname;

/* The scalar tape, inside ag_tape (t->s). */
typedef struct ag_stape {
    /* The recorders' fast path: while sl < lim, a statement of at most 2
     * operands and 1 constant fits without a check (ag__stmt_room). lim 0
     * sends every recorder to the slow path: no block yet, a full block or
     * array, a tape error, no-grad mode (ag__stmt_sync keeps it so). A
     * limit rather than a count: the push then only moves sl. */
    uint32_t lim;
    uint32_t sl;     /* next slot in the current block */
    char *blk;       /* the current block */
    double *p;       /* operand partials */
    uint32_t *in;    /* operand input indices */
    double *c;       /* constants */
    size_t nops, cap_ops, nc, cap_c;
    char **blocks;
    size_t nblocks, cap_blocks, cur; /* cur: index of blk */
    /* Debug mode: blocks retired by resets, oldest first (tape_debug.c). */
    char **retired;
    size_t nretired, cap_retired;
    /* Adjoints: adj[i] is statement i's gradient from the last sweep for
     * i < adj_valid, else 0 (stmt_sweep.c). */
    double *adj;
    size_t cap_adj, adj_valid;
    /* Leaves that require a gradient: their gradient accumulates across
     * sweeps (the sweep keeps them through its zeroing). */
    uint32_t *leaves;
    size_t nleaves, cap_leaves;
    double *save; /* the leaves' gradients during a sweep */
    size_t cap_save;
    ag_simport *imports;
    size_t nimports, cap_imports;
    ag_sname *names;
    size_t cap_names, nnames;
    size_t reach; /* a sweep: 1 + the newest statement a scalar node fed */
    /* The last create_graph backward's gradient handles, by index. */
    ag_tensor **graph_grads;
    size_t ngraph;
    uint32_t graph_gen;
} ag_stape;

/* ------------------------------------------------------------ handles */

static inline bool ag__is_stmt(const ag_tensor *x) { return ((uintptr_t)x & 1) != 0; }
static inline char *ag__stmt_block(const ag_tensor *h) {
    return (char *)((uintptr_t)h & ~(uintptr_t)AG_SBLOCK_MASK);
}
/* The handle's value slot counted from the block's start in doubles:
 * AG_SBLOCK_VALS / 8 + its slot (the tag bit drops out of the shift). */
static inline uint32_t ag__stmt_pos(const ag_tensor *h) {
    return (uint32_t)(((uintptr_t)h & AG_SBLOCK_MASK) >> 3);
}
static inline uint32_t ag__stmt_slot(const ag_tensor *h) { return ag__stmt_pos(h) - AG_SBLOCK_VALS / 8; }
static inline uint32_t ag__stmt_index(const ag_tensor *h) {
    return ((const ag_sblock_head *)ag__stmt_block(h))->bias + ag__stmt_pos(h);
}
static inline ag_tape *ag__stmt_tape(const ag_tensor *h) {
    return ((const ag_sblock_head *)ag__stmt_block(h))->tape;
}
static inline double ag__stmt_val(const ag_tensor *h) {
    return *(const double *)((uintptr_t)h - 1);
}
static inline double *ag__stmt_valp(const ag_tensor *h) { return (double *)((uintptr_t)h - 1); }
static inline uint16_t *ag__stmt_kindp(const ag_tensor *h) {
    /* kinds[slot], addressed from pos: one shift, no subtraction */
    return (uint16_t *)(ag__stmt_block(h) + AG_SBLOCK_KINDS - 2 * (AG_SBLOCK_VALS / 8)) + ag__stmt_pos(h);
}
static inline uint16_t ag__stmt_kind(const ag_tensor *h) { return *ag__stmt_kindp(h); }
static inline bool ag__stmt_requires(const ag_tensor *h) {
    return (ag__stmt_kind(h) & AG_SK_REQ) != 0;
}
/* Whether a handle (node or statement) requires a gradient. */
static inline bool ag__handle_requires_grad(const ag_tensor *x) {
    return x && (ag__is_stmt(x) ? ag__stmt_requires(x) : (x->flags & AG_F_REQUIRES_GRAD) != 0);
}

static inline ag_tensor *ag__stmt_handle_at(char *blk, uint32_t slot) {
    return (ag_tensor *)((uintptr_t)(blk + AG_SBLOCK_VALS + 8 * (size_t)slot) | 1);
}

/* Statements recorded on the scalar tape. */
static inline size_t ag__stmt_count(const ag_stape *s) {
    return s->blk ? s->cur * AG_SBLOCK_N + s->sl : 0;
}

/* The handle of statement i (i < ag__stmt_count). */
static inline ag_tensor *ag__stmt_handle(const ag_stape *s, size_t i) {
    size_t b = i / AG_SBLOCK_N;
    return ag__stmt_handle_at(s->blocks[b], (uint32_t)(i - b * AG_SBLOCK_N));
}
static inline uint16_t ag__stmt_kind_at(const ag_stape *s, size_t i) {
    size_t b = i / AG_SBLOCK_N;
    return ((const uint16_t *)(s->blocks[b] + AG_SBLOCK_KINDS))[i - b * AG_SBLOCK_N];
}

/* ---------------------------------------------------------- recording */

/* Statements of up to 2 operands (and a constant) that fit now. */
static inline uint32_t ag__stmt_room(const ag_stape *s) { return s->lim > s->sl ? s->lim - s->sl : 0; }
/* Whether one more such statement fits: the recorders' inline test. */
static inline bool ag__stmt_has_room(const ag_stape *s) { return s->sl < s->lim; }

/* Room that a statement of nops operands takes from ag__stmt_room, which
 * counts statements of up to 2 operands: a longer one takes one per pair. */
static inline uint32_t ag__stmt_cost(unsigned nops) { return nops > 2 ? (nops + 1) / 2 : 1; }

/* Whether a statement of nops operands and a constant fits as things are,
 * counting at least 2 operands as ag__stmt_room does (so that after
 * ag__stmt_sync, there is room whenever a statement of up to 2 operands
 * fits). */
static inline bool ag__stmt_fits(const ag_stape *s, unsigned nops) {
    return s->blk && s->sl < AG_SBLOCK_N && s->nops + (nops > 2 ? nops : 2) <= s->cap_ops &&
           s->nc < s->cap_c;
}

/* A fresh statement slot on the fast path (ag__stmt_room >= ag__stmt_cost(nops),
 * or ag__stmt_reserve(t, nops) just succeeded):
 * writes the kind, reserves nops operands and returns the value slot; *o
 * is the first operand's position. The caller writes the value and the
 * operands. */
static AG_ALWAYS_INLINE double *ag__stmt_push(ag_stape *s, uint16_t kind, unsigned nops, size_t *o) {
    char *b = s->blk;
    uint32_t sl = s->sl;
    size_t on = s->nops;
    if (nops > 2) { /* takes more than the one slot of room the push takes; a long
                     * statement may follow ag__stmt_reserve with room short of its
                     * cost: no room makes the next op check again */
        uint32_t cost = ag__stmt_cost(nops), room = ag__stmt_room(s);
        s->lim = room > cost ? s->lim + 1 - cost : sl + 1;
    }
    s->sl = sl + 1;
    s->nops = on + nops;
    *o = on;
    ((uint16_t *)(b + AG_SBLOCK_KINDS))[sl] = (uint16_t)(kind | (nops << AG_SK_NOPS_SHIFT));
    return (double *)(b + AG_SBLOCK_VALS) + sl;
}
static inline ag_tensor *ag__stmt_of_slot(double *v) { return (ag_tensor *)((uintptr_t)v | 1); }

/* Makes room for one statement of up to nops operands and a constant (a
 * new block, bigger arrays), or fails with a tape error (memory cap, more
 * than 2^32 statements): afterwards it fits (ag__stmt_fits). False also
 * when the tape holds an error or is in no-grad mode: the caller takes the
 * generic path. */
bool ag__stmt_reserve(ag_tape *t, unsigned nops);

/* Recomputes s->lim from the tape's state: call after anything that turns
 * recording on or off (errors, no-grad mode, reset). */
void ag__stmt_sync(ag_tape *t);

/* Whether x can be a scalar-tape operand on t: a statement of t, or an
 * f64 0-d parameter or tape leaf (imported by ag__stmt_operand). */
static inline bool ag__stmt_can_operand(const ag_tape *t, const ag_tensor *x) {
    if (ag__is_stmt(x)) return ag__stmt_tape(x) == t;
    return x->ndim == 0 && x->dtype == AG_F64 && (x->flags & AG_F_LEAF) &&
           (x->flags & (AG_F_PARAM | AG_F_ON_TAPE));
}

/* The scalar-tape operand for x on tape t, for an f64 0-d input: x itself
 * when it is a statement of t, else a leaf statement for a parameter or a
 * 0-d leaf node (imported once per generation). NULL when x cannot be an
 * operand (another tape, not f64, a 0-d op node) or on a memory error
 * (then the tape error is set). */
ag_tensor *ag__stmt_operand(ag_tape *t, ag_tensor *x);

/* A leaf statement with value v (a constant until ag_requires_grad). */
ag_tensor *ag__stmt_leaf(ag_tape *t, double v);

/* Marks statement leaf h as requiring a gradient. */
void ag__stmt_require(ag_tape *t, ag_tensor *h);

/* Records a statement with n <= AG_STMT_MAX_OPERANDS operands (handles of
 * t's scalar tape, from ag__stmt_operand), their partials, and value v;
 * `c` is kept when nonzero. The general recorder behind the fused ops. */
ag_tensor *ag__stmt_record(ag_tape *t, ag_op op, double v, unsigned n, ag_tensor *const *in,
                           const double *partials, double c);

/* A node standing for statement x, so node ops can read it: op SCALAR, 0-d
 * f64, its value; the node sweep adds its gradient into x's adjoint. NULL
 * with the tape error set on failure. x itself when x is not a statement
 * (inline: every op taking tensors calls it). */
ag_tensor *ag__stmt_promote_stmt(ag_tape *t, ag_tensor *x);
static inline ag_tensor *ag__stmt_promote(ag_tape *t, ag_tensor *x) {
    return x && ag__is_stmt(x) ? ag__stmt_promote_stmt(t, x) : x;
}

/* ag__stmt_promote over n handles into out (which may be xs). */
bool ag__stmt_promote_n(ag_tape *t, int n, ag_tensor *const *xs, ag_tensor **out);

/* The statement's name, or NULL. */
const char *ag__stmt_name(const ag_tensor *h);
bool ag__stmt_set_name(ag_tape *t, ag_tensor *h, const char *copy);

/* The statement's constant (0 when it keeps none), found by walking: the
 * constant of statement i is the cth constant, counted over statements
 * 0..i-1 with AG_SK_CONST; walkers keep the count themselves and call
 * this with it. p0 is the statement's first partial. */
static inline double ag__stmt_const(const ag_stape *s, uint16_t kind, size_t ci, double p0) {
    if (kind & AG_SK_CONST) return s->c[ci];
    return (kind & AG_SK_C_IS_P) ? p0 : 0.0;
}

/* Statement i's gradient as ag_grad_item reads it. */
static inline double ag__stmt_grad_of(const ag_stape *s, size_t i) {
    return i < s->adj_valid ? s->adj[i] : 0.0;
}

/* ------------------------------------------------- the sweep (stmt_sweep.c) */

/* Before a sweep: every statement's adjoint 0 except the leaves', which
 * keep their gradient so far (a functional sweep zeroes those too, saved
 * for ag__stmt_restore_leaves). False with a tape error (memory). */
bool ag__stmt_prepare(ag_tape *t, bool functional);
void ag__stmt_restore_leaves(ag_tape *t);

/* Adds v into y's adjoint (y a statement of t): the seed. */
void ag__stmt_seed(ag_tape *t, ag_tensor *y, double v);

/* Sweeps statements top-1 down to 0 (top <= count). */
void ag__stmt_sweep(ag_tape *t, size_t top);

/* After a sweep: adds each imported parameter's or leaf node's adjoint
 * into its gradient (only wanted ones in a functional sweep). */
struct ag_sweep;
void ag__stmt_settle(ag_tape *t, const struct ag_sweep *sw);

/* The statements y depends on (y a statement, or a node whose last sweep
 * reached scalar nodes), as a tape array of flags by index; NULL with a
 * tape error (memory). For ag_grad's unused inputs. */
const bool *ag__stmt_reachable(ag_tape *t, const ag_tensor *y);

/* The address of statement i's gradient, making every adjoint valid (the
 * ones no sweep reached are 0); NULL with a tape error (memory). Valid
 * until the next sweep or reset. */
double *ag__stmt_grad_ptr(ag_tape *t, size_t i);

/* The recorded backward (stmt_vjp.c): from the gradient handles in
 * grads[0..top-1] (by statement; NULL: none), walks statements top-1 down
 * to 0 and adds each one's shares into its inputs' entries. False with a
 * tape error. */
bool ag__stmt_graph_sweep(ag_tape *t, ag_tensor **grads, size_t top);

/* Called by ag_tape_reset and ag_tape_free. */
void ag__stmt_reset(ag_tape *t);
void ag__stmt_free(ag_tape *t);
/* Bytes the scalar tape uses now (statements, operands, constants, adjoints). */
size_t ag__stmt_bytes(const ag_tape *t);

#endif /* TAPEGRAD_CORE_STMT_H */
