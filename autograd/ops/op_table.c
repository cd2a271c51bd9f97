/* The op table: one row per op, defined beside the op in its family's file.
 * The designated initializers put each row at its enum value, and the static
 * assert pins the table to the enum: a new op without a row does not build. */
#include "node.h"
#include "op.h"

#define AG_X_DECL(name) extern const ag_op_info ag__op_##name;
AG_OP_LIST(AG_X_DECL)
#undef AG_X_DECL

static void leaf_forward(ag_tensor *n) { (void)n; }
static void leaf_backward(ag_sweep *s, ag_tensor *n) { (void)s, (void)n; }
const ag_op_info ag__op_LEAF = {"leaf", 0, leaf_forward, leaf_backward, "", NULL, NULL};

#define AG_X_ROW(name) [AG_OP_##name] = &ag__op_##name,
const ag_op_info *const ag__ops[] = {AG_OP_LIST(AG_X_ROW)};
#undef AG_X_ROW

_Static_assert(sizeof ag__ops / sizeof ag__ops[0] == AG_OP_COUNT,
               "the op table must have one row per op");
