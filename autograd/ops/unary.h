/* The unary family's internal op (unary.c). Not installed. */
#ifndef TAPEGRAD_OPS_UNARY_H
#define TAPEGRAD_OPS_UNARY_H

#include "op.h"

/* gelu'(x) = Phi(x) + x phi(x) as an op of its own (GELU_GRAD), recorded by
 * gelu's recorded backward so gelu differentiates to any order. */
ag_tensor *ag__unary_gelu_grad(ag_tape *t, ag_tensor *x);

#endif /* TAPEGRAD_OPS_UNARY_H */
