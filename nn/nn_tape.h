/* Internal helpers for the parts of nn/ that record on a tape (layers,
 * losses): their errors go to the tape's sticky error, like an engine op's.
 * Not installed. */
#ifndef TAPEGRAD_NN_TAPE_H
#define TAPEGRAD_NN_TAPE_H

#include "nn_internal.h"

/* Sets the tape's sticky error to "op: message" through ag_tape_fail (if
 * none is set yet; a NULL tape sets nn_last_error() instead) and returns
 * NULL, with printf formatting (tape_error.c). */
ag_tensor *nn__tape_fail(ag_tape *t, ag_status code, const char *op, const char *fmt, ...)
    NN__PRINTF(4, 5);

/* True when t and every xs[0..n-1] are non-NULL. Otherwise false, with an
 * AG_ERR_NULL tape error, unless the tape already holds an error: a NULL
 * input after an earlier failure keeps the first error. */
bool nn__inputs_ok(ag_tape *t, const char *op, int n, ag_tensor *const *xs);

/* True when a and b have exactly the same shape (no broadcasting), else
 * false with an AG_ERR_SHAPE tape error naming both shapes. */
bool nn__same_shape(ag_tape *t, const char *op, const ag_tensor *a, const ag_tensor *b);

/* Reduces x over all elements by sum or mean; any other value of `r` fails
 * with AG_ERR_ARG. */
ag_tensor *nn__reduce(ag_tape *t, const char *op, ag_tensor *x, nn_reduction r);

#endif
