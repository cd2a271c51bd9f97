/* Shapes (shape.c): element counts, axis normalisation (and its error), the
 * (outer, len, inner) view around one axis that reductions and softmax
 * walk. Not installed. */
#ifndef TAPEGRAD_CORE_SHAPE_H
#define TAPEGRAD_CORE_SHAPE_H

#include "node.h"

/* Numbers the shape's elements: product of dims (0 if ndim is 0 → 1). */
static inline int64_t ag__shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Checks a tensor shape for elements of `elsize` bytes: no negative
 * dimension, and no byte count or stride that overflows. The largest
 * offset any kernel computes is the product of the nonzero dimensions
 * times the element size, so that product must stay below 2^63 even when a
 * dimension is 0 ([0, 2^62, 2^62] has no elements but overflowing strides).
 * On success sets *numel and *bytes (numel * elsize) and returns NULL; else
 * returns why, to follow the shape in an error message ("has a negative
 * dimension", "is too large: ..."). */
static inline const char *ag__shape_check(int ndim, const int64_t *shape, size_t elsize,
                                          int64_t *numel, size_t *bytes) {
    int64_t n = 1, span = (int64_t)elsize; /* span: bytes of the nonzero dimensions */
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return "has a negative dimension";
        if (shape[i] > 1 && __builtin_mul_overflow(span, shape[i], &span))
            return "is too large: its size in bytes does not fit in 63 bits";
        n *= shape[i]; /* n <= span / elsize: no overflow */
    }
    *numel = n;
    *bytes = (size_t)n * elsize;
    return NULL;
}

/* Normalises a possibly negative axis for ndim dimensions; -1 if invalid. */
int ag__shape_axis(int axis, int ndim);

/* x's axis `axis` normalised, or -1 with an AG_ERR_AXIS error on t naming
 * op, the axis and x's shape. */
int ag__shape_check_axis(ag_tape *t, const char *op, const ag_tensor *x, int axis);

/* The axis of a reduction or softmax: ag__shape_check_axis, except that
 * AG_ALL stays AG_ALL and a 0-d tensor takes axis 0 or -1 as AG_ALL (as
 * PyTorch does: its one element). */
int ag__shape_check_reduce_axis(ag_tape *t, const char *op, const ag_tensor *x, int axis);

/* A tensor viewed as (outer, len, inner) around one axis: element k of the
 * slot (o, i) is at (o * len + k) * inner + i. Reductions and softmax walk
 * their axis this way; axis AG_ALL is outer = inner = 1. */
typedef struct ag_view3 {
    int64_t outer, len, inner;
} ag_view3;

static inline ag_view3 ag__shape_view(const ag_tensor *x, int axis) {
    ag_view3 v = {1, x->ndim ? x->ext->numel : 1, 1};
    if (axis == AG_ALL) return v;
    const int64_t *s = x->ext->shape;
    v.len = s[axis];
    for (int i = 0; i < axis; i++) v.outer *= s[i];
    for (int i = axis + 1; i < x->ndim; i++) v.inner *= s[i];
    return v;
}

/* Runs the statement for each slot of view v: `j` is the slot's index in
 * the reduced output (o * inner + i), `b` the offset of its first element;
 * its elements are at b + k * v.inner. */
#define AG_FOR_SLOTS(v, j, b, ...)                                           \
    for (int64_t o_ = 0, j = 0; o_ < (v).outer; o_++)                        \
        for (int64_t i_ = 0; i_ < (v).inner; i_++, j++) {                    \
            const int64_t b = o_ * (v).len * (v).inner + i_;                 \
            __VA_ARGS__;                                                     \
        }

#endif /* TAPEGRAD_CORE_SHAPE_H */
