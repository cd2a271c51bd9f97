/* The indexing family's recorder (index.c), shared by its public ops and
 * their recorded backwards. Not installed. */
#ifndef TAPEGRAD_OPS_INDEX_H
#define TAPEGRAD_OPS_INDEX_H

#include "op.h"

/* Records indexing op `op` (GATHER, INDEX_SELECT, SCATTER_ADD or INDEX_ADD)
 * on input x along `axis`, with output shape (ndim, shape) and the indices
 * idx, which must be valid for it (in [0, len) of the indexed axis, shaped
 * as the op needs) and outlive the node (tape memory, or static); and runs
 * its forward. The public ops check their arguments and copy their indices
 * onto the tape first. NULL for a NULL x (AG_ERR_NULL). */
ag_tensor *ag__index_record(ag_tape *t, ag_op op, ag_tensor *x, int axis, int ndim,
                            const int64_t *shape, const int64_t *idx);

#endif /* TAPEGRAD_OPS_INDEX_H */
