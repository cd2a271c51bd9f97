/* The generic recorders of the elementwise ops (elementwise.c): what the
 * recorders rec_NAME of the rule lines (kernels.h) hand over to when the
 * scalar fast path does not apply. Not installed. */
#ifndef TAPEGRAD_OPS_ELEMENTWISE_H
#define TAPEGRAD_OPS_ELEMENTWISE_H

#include "op.h"

/* Records a binary op after checking dtypes and broadcasting the shapes. */
ag_tensor *ag__elementwise_binary(ag_tape *t, ag_op op, ag_tensor *a, ag_tensor *b);

/* Records a unary op (same shape as x) with constant c. */
ag_tensor *ag__elementwise_unary(ag_tape *t, ag_op op, ag_tensor *x, double c);

#endif /* TAPEGRAD_OPS_ELEMENTWISE_H */
