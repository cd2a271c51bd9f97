/* The op mechanism: every op's name in one enum, and the table row each
 * op family defines beside its kernels (ops/op_table.c collects them).
 * Not installed.
 *
 * The op lists are the one thing core/ reads from ops/: each family's .def
 * file names its ops, so the enum (and the table pinned to it) covers them. */
#ifndef TAPEGRAD_CORE_OP_H
#define TAPEGRAD_CORE_OP_H

#include "node.h"

/* Every op has a name here; AG_OP_LIST expands X(NAME) for each. The op
 * table in op_table.c has one row per entry, pinned by a static assert.
 * Each family lists its own ops in its .def file. */
#define AG_OP_LIST(X)                                                        \
    X(LEAF)                                                                  \
    AG_OPS_ELEMENTWISE(X)                                                    \
    AG_OPS_UNARY(X)                                                          \
    AG_OPS_REDUCE(X)                                                         \
    AG_OPS_LINALG(X)                                                         \
    AG_OPS_SHAPE(X)                                                          \
    AG_OPS_SOFTMAX(X)

#include "../ops/elementwise.def"
#include "../ops/unary.def"
#include "../ops/reduce.def"
#include "../ops/linalg.def"
#include "../ops/shape.def"
#include "../ops/softmax.def"

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
 * add each input's share into ag__grad_acc(s, input). */
typedef void (*ag_backward_fn)(ag_sweep *s, ag_tensor *n);

/* Backward rule as recorded graph ops (create_graph): given g, a node of
 * n's shape holding the upstream gradient, records ops computing each
 * input's share and stores it in gin[i] (NULL where input i needs none).
 * A share may have the broadcast output's shape: the sweep sums it back to
 * the input's shape (ag__vjp_sum_to). Returns false with the tape error set. */
typedef bool (*ag_vjp_fn)(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin);

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
} ag_op_info;

extern const ag_op_info *const ag__ops[AG_OP_COUNT];

/* The number of inputs of a recorded node. */
static inline int ag__ninputs(const ag_tensor *n) {
    int a = ag__ops[n->op]->arity;
    if (a >= 0) return a;
    return n->in[1] ? 2 + n->ext->nxin : (n->in[0] ? 1 : 0);
}

#endif /* TAPEGRAD_CORE_OP_H */
