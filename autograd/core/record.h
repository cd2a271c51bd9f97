/* Recording a node (record.c): input checks, the node and its storage,
 * flags. Not installed. */
#ifndef TAPEGRAD_CORE_RECORD_H
#define TAPEGRAD_CORE_RECORD_H

#include "anomaly.h"
#include "error.h"
#include "op.h"

/* Fails with AG_ERR_NULL when t or any of the n inputs is NULL (an input
 * that is NULL after an earlier failure keeps the first error), and with
 * AG_ERR_DTYPE when the inputs' dtypes differ. Returns true when fine. */
bool ag__record_check_inputs(ag_tape *t, const char *op, int n, ag_tensor *const *xs);

/* Allocates and links a new node for `op` with the given inputs and output
 * shape, marks it as requiring a gradient when an input does (and grad mode
 * is on), and allocates its value (and gradient) storage. Does not run the
 * forward kernel. Returns NULL (tape error set) on memory cap. */
ag_tensor *ag__record_node(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                    const int64_t *shape, ag_tensor *in0, ag_tensor *in1);

/* Same, for ops with more than two inputs. */
ag_tensor *ag__record_node_n(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                      const int64_t *shape, int n, ag_tensor *const *xs);

/* The size check of a shape (ag__shape_check) with its tape error, which
 * names `name` and the shape. Ops that must refuse an output before other
 * work (reading an index array) call it early; the recorder calls it for
 * every node. */
bool ag__record_check_shape(ag_tape *t, const char *name, ag_dtype dtype, int ndim,
                            const int64_t *shape, int64_t *numel, size_t *bytes);

/* ag__record_node_n whose errors name `name` rather than the op's row (a
 * creation function's leaf says "zeros", not "leaf"; a custom op its own
 * name). Every node is made here: the shape's size check
 * (ag__shape_check) runs once for all ops. */
ag_tensor *ag__record_node_as(ag_tape *t, const char *name, ag_op op, ag_dtype dtype, int ndim,
                              const int64_t *shape, int n, ag_tensor *const *xs);

/* A node for `op` on the single input x (a tensor, ndim >= 1) whose values
 * are x's own storage, not a copy: a view, flagged AG_F_VIEW, for ops that
 * keep every element where it is (reshape). ndim >= 1, same element count;
 * only its gradient gets storage of its own. No forward kernel to run. */
ag_tensor *ag__record_view(ag_tape *t, ag_op op, ag_tensor *x, int ndim, const int64_t *shape);

/* Records a node and runs its forward kernel: what most ops do. An op
 * that runs its forward itself returns through ag__record_done (anomaly.h). */
static inline ag_tensor *ag__record(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                                    const int64_t *shape, ag_tensor *in0,
                                    ag_tensor *in1, ag_attr attr) {
    ag_tensor *n = ag__record_node(t, op, dtype, ndim, shape, in0, in1);
    if (!n) return NULL;
    n->attr = attr;
    ag__ops[op]->forward(n);
    return ag__record_done(t, n);
}

/* Ensures the node has an ext (allocating one on the tape for a scalar). */
ag_ext *ag__record_ext(ag_tape *t, ag_tensor *n);

#endif /* TAPEGRAD_CORE_RECORD_H */
