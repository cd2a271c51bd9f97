/* The first-order sweep's scalar step: a 0-d node of an elementwise op
 * runs its scalar backward kernel, inlined into the sweep's loop through a
 * switch instead of a call through the op table. The kernels are static
 * inline, expanded from the same rule lines their families' files expand
 * (each derivative is written once). core/backward.c includes this header:
 * the one place core reads ops beyond the op lists. Not installed. */
#ifndef TAPEGRAD_OPS_SCALAR_SWEEP_H
#define TAPEGRAD_OPS_SCALAR_SWEEP_H

#include "kernels.h"

#define AG_BINARY_OP(NAME, name, F, DA, DB, FORMULA, VA, VB) AG_BINARY_SBWD(NAME, DA, DB)
#define AG_UNARY_OP(NAME, name, F, D, FORMULA, V, VEC) AG_UNARY_SBWD(NAME, D, VEC)
#include "elementwise_rules.h"
#include "unary_rules.h"
#undef AG_BINARY_OP
#undef AG_UNARY_OP

/* Runs n's scalar backward kernel in sweep s and returns true when n's op
 * is elementwise (n must be 0-d); false otherwise, and the caller runs the
 * op's row. */
static AG_ALWAYS_INLINE bool ag__scalar_sweep_step(const ag_sweep *s, ag_tensor *n) {
    switch ((ag_op)n->op) {
#define AG_BINARY_OP(NAME, name, F, DA, DB, FORMULA, VA, VB)                 \
    case AG_OP_##NAME: ag__sbwd_##NAME(s, n); return true;
#define AG_UNARY_OP(NAME, name, F, D, FORMULA, V, VEC)                       \
    case AG_OP_##NAME: ag__sbwd_##NAME(s, n); return true;
#include "elementwise_rules.h"
#include "unary_rules.h"
#undef AG_BINARY_OP
#undef AG_UNARY_OP
    default: return false;
    }
}

#endif /* TAPEGRAD_OPS_SCALAR_SWEEP_H */
