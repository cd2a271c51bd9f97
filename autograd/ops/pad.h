/* The padding family's internal op on its own (pad.c), for the tests: crop
 * has no public function. Not installed. */
#ifndef TAPEGRAD_OPS_PAD_H
#define TAPEGRAD_OPS_PAD_H

#include "op.h"

/* Records crop: p without pads[2·i] elements before and pads[2·i + 1]
 * after axis i (pad's derivative; ag_slice crops in public). */
ag_tensor *ag__pad_crop(ag_tape *t, ag_tensor *p, const int64_t *pads);

#endif /* TAPEGRAD_OPS_PAD_H */
