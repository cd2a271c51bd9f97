/* The pooling family's internal ops on their own (pool.c), for the tests:
 * they have no public function. Not installed. */
#ifndef TAPEGRAD_OPS_POOL_H
#define TAPEGRAD_OPS_POOL_H

#include "op.h"

/* Records op (POOL_SCATTER or POOL_GATHER, with the argmax of
 * ag_max_pool2d(x, opts), or AVG_POOL2D_T, with avg_pool2d's geometry) on
 * input in, which must have the shape the op takes: the pooling's output's
 * (scatter, the transpose) or x's (gather). */
ag_tensor *ag__pool_record(ag_tape *t, ag_op op, ag_tensor *in, ag_tensor *x, const ag_pool2d_opts *opts);

#endif /* TAPEGRAD_OPS_POOL_H */
