/* The op mechanism: every op's name in one enum, and the table row each
 * op family defines beside its kernels (ops/op_table.c collects them).
 * Not installed.
 *
 * The op lists are the one thing core/ reads from ops/: each family's .def
 * file names its ops, so the enum (and the table pinned to it) covers them. */
#ifndef TAPEGRAD_CORE_OP_H
#define TAPEGRAD_CORE_OP_H

#include "node.h"

/* The op families, each F(FAMILY, family, A) with A passed through: a
 * family lists its ops in ops/family.def as AG_OPS_FAMILY(X), implements
 * them in ops/family.c, and tests them by the rows tu_rows_family of
 * tests/rows/family.c (tests/test_op_coverage.c fails for an op without
 * one). */
#define AG_OP_FAMILIES(F, A)                                                 \
    F(ELEMENTWISE, elementwise, A)                                           \
    F(UNARY, unary, A)                                                       \
    F(REDUCE, reduce, A)                                                     \
    F(LINALG, linalg, A)                                                     \
    F(SHAPE, shape, A)                                                       \
    F(INDEX, index, A)                                                       \
    F(SOFTMAX, softmax, A)                                                   \
    F(CONV, conv, A)                                                         \
    F(POOL, pool, A)                                                         \
    F(PAD, pad, A)                                                           \
    F(CUSTOM, custom, A)                                                     \
    F(FUSED, fused, A)

#include "../ops/elementwise.def"
#include "../ops/unary.def"
#include "../ops/reduce.def"
#include "../ops/linalg.def"
#include "../ops/shape.def"
#include "../ops/index.def"
#include "../ops/softmax.def"
#include "../ops/conv.def"
#include "../ops/pool.def"
#include "../ops/pad.def"
#include "../ops/custom.def"
#include "../ops/fused.def"

/* Every op has a name here; AG_OP_LIST expands X(NAME) for each: LEAF (a
 * recorded constant or leaf, no row of its own), SCALAR (a node standing
 * for a scalar statement, core/stmt.h), then each family's ops.
 * The op table in op_table.c has one row per entry, pinned by a static
 * assert. */
#define AG_OP_FAMILY_OPS_(FAMILY, family, X) AG_OPS_##FAMILY(X)
#define AG_OP_LIST(X) X(LEAF) X(SCALAR) AG_OP_FAMILIES(AG_OP_FAMILY_OPS_, X)

typedef enum ag_op {
#define AG_X_ENUM(name) AG_OP_##name,
    AG_OP_LIST(AG_X_ENUM)
#undef AG_X_ENUM
    AG_OP_COUNT
} ag_op;

typedef struct ag_sweep ag_sweep;

/* Forward kernel: computes n's value from its inputs and attributes. */
typedef void (*ag_forward_fn)(ag_tensor *n);
/* Backward rule: n's gradient (ag__grad(n)) holds the upstream gradient;
 * add each input's share into ag__sweep_acc(s, input). */
typedef void (*ag_backward_fn)(ag_sweep *s, ag_tensor *n);

/* Backward rule as recorded graph ops (create_graph): given g, a node of
 * n's shape holding the upstream gradient, records ops computing each
 * input's share and stores it in gin[i] (NULL where input i needs none).
 * A share may have the broadcast output's shape: the sweep sums it back to
 * the input's shape (ag__vjp_sum_to). Returns false with the tape error set. */
typedef bool (*ag_vjp_fn)(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin);

/* The same rule on handles, for a scalar statement (core/stmt.h) or a node:
 * the shares of the upstream gradient g for in[0..nin-1], from the input
 * handles, the output y and the op's constant c, as graph ops. p holds the
 * partials stored at record time: numbers, for ops whose partials are
 * constants (a weighted sum's weights). */
typedef bool (*ag_svjp_fn)(ag_tape *t, int nin, ag_tensor *const *in, ag_tensor *y, double c,
                           const double *p, ag_tensor *g, ag_tensor **gin);

/* One row of the op table. The numeric backward is what ag_backward runs:
 * kernels only, no node allocation. The vjp is the same rule written with
 * ops, used only when the caller asks to record the backward pass. */
typedef struct ag_op_info {
    const char *name;      /* "mul" */
    int arity;             /* inputs; -1 when variable (concat, stack) */
    ag_forward_fn forward;
    ag_backward_fn backward;
    const char *local_grad; /* the local partial for traces, e.g. "d(a*b)/da = b" */
    ag_vjp_fn vjp;         /* backward as graph ops (second order) */
    ag_svjp_fn svjp;       /* the same on handles: ops that record scalar statements */
} ag_op_info;

extern const ag_op_info *const ag__ops[AG_OP_COUNT];

/* A recorded node's row: its op's, or for a custom op (whose behaviour
 * comes from the user's description, ops/custom.c) the per-node row that
 * ext->aux points at. Everything that reads a node's name, arity, formula
 * or vjp goes through here; the sweeps call the op's row, whose custom
 * entries dispatch on the same per-node row. */
static inline const ag_op_info *ag__op_of(const ag_tensor *n) {
    if (n->op == AG_OP_CUSTOM) return (const ag_op_info *)n->ext->aux;
    return ag__ops[n->op];
}

/* The number of inputs of a recorded node. */
static inline int ag__op_ninputs(const ag_tensor *n) {
    int a = ag__op_of(n)->arity;
    if (a >= 0) return a;
    return n->in[1] ? 2 + n->ext->nxin : (n->in[0] ? 1 : 0);
}

#endif /* TAPEGRAD_CORE_OP_H */
