/* The recorded backward sweep (vjp.c, create_graph) and the graph-op
 * helpers the ops' vjp rules share. Not installed. */
#ifndef TAPEGRAD_CORE_VJP_H
#define TAPEGRAD_CORE_VJP_H

#include "op.h"

/* Sums a gradient share c (of a broadcast shape) back to x's shape. */
ag_tensor *ag__vjp_sum_to(ag_tape *t, ag_tensor *c, const ag_tensor *x);

/* A constant tensor of x's shape and dtype with f(x_i, c) at element i:
 * the masks and sign factors of piecewise derivatives (relu, abs, max). */
ag_tensor *ag__vjp_const_map(ag_tape *t, ag_tensor *x, double (*f)(double x, double c), double c);

/* g reshaped from a reduction's output shape to keepdims form, so it
 * broadcasts against the reduction's input x (axis as in attr.r.axis). */
ag_tensor *ag__vjp_unreduce(ag_tape *t, ag_tensor *g, const ag_tensor *x, int axis);

#endif /* TAPEGRAD_CORE_VJP_H */
