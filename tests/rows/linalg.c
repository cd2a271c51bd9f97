/* The linalg family's rows (autograd/ops/linalg.def): matmul over 2-D,
 * batched, broadcast, 1-D (NumPy's rules) and shared-operand shapes, permute and transpose over 2-D to 4-D
 * shapes. */
#include "op_rows.h"

static const tu_point mm_points[] = {
    {.in = {{2, {1, 1}}, {2, {1, 1}}}},       /* 1x1 */
    {.in = {{2, {3, 4}}, {2, {4, 2}}}},       /* 3x4 @ 4x2 */
    {.in = {{3, {2, 3, 4}}, {3, {2, 4, 5}}}}, /* batched */
    {.in = {{3, {2, 3, 4}}, {2, {4, 5}}}},    /* batched a, shared b */
    {.in = {{2, {5, 3}}, {2, {3, 7}}}},       /* non-square, wide */
    {.in = {{2, {4, 1}}, {2, {1, 3}}}},       /* k = 1: an outer product */
    {.in = {{3, {3, 1, 6}}, {3, {3, 6, 1}}}}, /* batched dot products */
    {.in = {{3, {4, 2, 1}}, {2, {1, 3}}}},    /* shared b, k = 1 */
    {.in = {{1, {4}}, {1, {4}}}, .want = &(tu_shape){0, {0}}},             /* NumPy: a dot product */
    {.in = {{1, {3}}, {3, {2, 3, 4}}}, .want = &(tu_shape){2, {2, 4}}},    /* a row against a batch */
    {.in = {{3, {2, 4, 3}}, {1, {3}}}, .want = &(tu_shape){2, {2, 4}}},    /* a batch against a column */
    {.in = {{4, {2, 3, 4, 5}}, {4, {2, 3, 5, 4}}}},                        /* (B, H, T, D) @ (B, H, D, T) */
    {.in = {{4, {2, 1, 3, 4}}, {3, {3, 4, 2}}}, .want = &(tu_shape){4, {2, 3, 3, 2}}}, /* both broadcast */
    {.in = {{2, {3, 4}}, {3, {2, 4, 5}}}},                                 /* shared a, batched b */
};
static const tu_point mm_points2[] = {
    {.in = {{2, {3, 4}}, {2, {4, 2}}}}, {.in = {{3, {2, 3, 4}}, {3, {2, 4, 5}}}},
    {.in = {{3, {2, 3, 4}}, {2, {4, 2}}}}, {.in = {{1, {3}}, {3, {2, 3, 4}}}},
    {.in = {{4, {2, 1, 3, 4}}, {3, {3, 4, 2}}}},
};

static const tu_point perm_points[] = {
    {.in = {{2, {3, 4}}}, .perm = (const int[]){1, 0}},
    {.in = {{2, {3, 4}}}, .perm = (const int[]){0, 1}}, /* identity */
    {.in = {{3, {2, 3, 4}}}, .perm = (const int[]){2, 0, 1}},
    {.in = {{3, {2, 3, 4}}}, .perm = (const int[]){1, 2, 0}},
    {.in = {{4, {2, 3, 1, 4}}}, .perm = (const int[]){3, 1, 0, 2}},
    {.in = {{4, {2, 2, 3, 2}}}, .perm = (const int[]){0, 3, 2, 1}},
};

/* matmul with curvature in both operands. */
static ag_tensor *matmul_curved(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return ag_matmul(t, ag_tanh(t, a), ag_mul(t, b, b));
}
static ag_tensor *permute(ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    return ag_permute(t, x[0], p->perm);
}

static const tu_op_row rows[] = {
    {AG_OP_MATMUL, .call.binary = ag_matmul, .lo = -1, .hi = 1, .points = TU_POINTS(mm_points),
     .call2.binary = matmul_curved, .points2 = TU_POINTS(mm_points2)},
    {AG_OP_PERMUTE, .call.fn = permute, .nin = 1, .lo = -1, .hi = 1, .points = TU_POINTS(perm_points),
     .curved = true},
    {AG_OP_PERMUTE, "transpose", .call.unary = ag_transpose, .lo = -1, .hi = 1,
     .points = TU_POINTS(perm_points), .curved = true},
};

const tu_op_table tu_rows_linalg = {"linalg", rows, (int)(sizeof rows / sizeof rows[0])};
