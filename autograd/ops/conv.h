/* Convolution internals shared with the white-box tests. Not installed. */
#ifndef TAPEGRAD_OPS_CONV_H
#define TAPEGRAD_OPS_CONV_H

#include "op.h"

#include <stddef.h>

/* The scratch budget of a convolution, in bytes: the column matrices and
 * outputs of one chunk of images (conv.c). Small enough to stay in the L2
 * cache: 256 KiB (LeNet's layers ran as fast with 16 KiB to 256 KiB, and
 * 1.6x slower with 4 MiB, whose copies went to memory). A convolution made
 * with a smaller budget splits its batch into more chunks (tests lower it
 * to check that). */
extern size_t ag__conv_scratch_bytes;

/* Records conv_input_grad(a = gy, b = w) or conv_weight_grad(a = x, b = gy)
 * (op) with the geometry of ag_conv2d on an x of shape (xnd, xshape) and a
 * weight of shape wshape with opts: the convolution's derivatives on their
 * own, which have no public function (the op rows test them). The operands
 * must have the shapes that geometry gives them. */
ag_tensor *ag__conv2d_grad_record(ag_tape *t, ag_op op, ag_tensor *a, ag_tensor *b, int xnd,
                                  const int64_t *xshape, const int64_t *wshape,
                                  const ag_conv2d_opts *opts);

#endif /* TAPEGRAD_OPS_CONV_H */
