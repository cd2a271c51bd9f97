/* NumPy broadcasting (bcast.c): the result shape of two operands, and an
 * iterator over up to three operands aligned against an output shape.
 * Broadcasting's gradient needs nothing more: a backward loop that walks
 * the same iterator and adds into a stretched operand sums the gradient
 * back to its shape. Not installed. */
#ifndef TAPEGRAD_CORE_BCAST_H
#define TAPEGRAD_CORE_BCAST_H

#include "node.h"

/* Up to three operands aligned against one output shape. Strides are in
 * elements; a broadcast dimension has stride 0. Dimensions are collapsed
 * where possible so the inner loop is long. */
typedef struct ag_bcast {
    int nd;                        /* >= 1 */
    int64_t shape[AG_MAX_DIMS];
    int64_t st[3][AG_MAX_DIMS];
} ag_bcast;

/* Result shape of broadcasting a and b; false when incompatible. */
bool ag__bcast_shape(int nda, const int64_t *sa, int ndb, const int64_t *sb,
                         int *nd, int64_t *shape);

/* Prepares iteration of `nops` operands (shapes nds[i], shapes[i]) against
 * the output shape (out_nd, out_shape). */
void ag__bcast_init(ag_bcast *bc, int out_nd, const int64_t *out_shape, int nops,
                    const int *nds, const int64_t *const *shapes);

/* The next row of AG_BCAST_ROWS / AG_BCAST_RANGE: the row index idx
 * (dimensions 0 .. nd-2) advanced like an odometer, each operand's offset
 * with it. */
#define AG__BCAST_NEXT_ROW(bc, idx, off)                                     \
    for (int d_ = (bc).nd - 2; d_ >= 0; d_--) {                              \
        for (int k_ = 0; k_ < 3; k_++) (off)[k_] += (bc).st[k_][d_];         \
        if (++(idx)[d_] < (bc).shape[d_]) break;                             \
        for (int k_ = 0; k_ < 3; k_++) (off)[k_] -= (bc).st[k_][d_] * (bc).shape[d_]; \
        (idx)[d_] = 0;                                                       \
    }

/* Visits the output in row-major order as rows of the last (collapsed)
 * dimension. For each row, `o` is the output offset of its first element and
 * off[k] the offset of operand k; the row has bc.shape[nd-1] elements and
 * operand k advances by bc.st[k][nd-1] per element. */
#define AG_BCAST_ROWS(bc, o, off, ...)                                       \
    do {                                                                     \
        int64_t idx_[AG_MAX_DIMS] = {0};                                     \
        int64_t off[3] = {0, 0, 0};                                          \
        const int nd_ = (bc).nd;                                             \
        const int64_t rowlen_ = (bc).shape[nd_ - 1];                         \
        int64_t nrows_ = 1;                                                  \
        for (int d_ = 0; d_ < nd_ - 1; d_++) nrows_ *= (bc).shape[d_];       \
        for (int64_t r_ = 0, o = 0; r_ < nrows_; r_++, o += rowlen_) {       \
            __VA_ARGS__;                                                     \
            AG__BCAST_NEXT_ROW(bc, idx_, off);                               \
        }                                                                    \
    } while (0)

/* AG_BCAST_ROWS restricted to the output elements [e0, e1) (0 <= e0 < e1
 * <= the output's element count), for a range that ag__parallel_for gives
 * one thread: it visits the rows that meet the range, each with `o` and
 * `off` as in AG_BCAST_ROWS and the columns j0_ <= j < j1_ of the row that
 * fall inside the range. */
#define AG_BCAST_RANGE(bc, e0, e1, o, off, ...)                              \
    do {                                                                     \
        int64_t idx_[AG_MAX_DIMS] = {0};                                     \
        int64_t off[3] = {0, 0, 0};                                          \
        const int nd_ = (bc).nd;                                             \
        const int64_t rowlen_ = (bc).shape[nd_ - 1], re0_ = (e0), re1_ = (e1); \
        int64_t first_ = re0_ / rowlen_;                                      \
        for (int d_ = nd_ - 2; d_ >= 0; d_--) { /* the first row's index */  \
            idx_[d_] = first_ % (bc).shape[d_];                              \
            first_ /= (bc).shape[d_];                                        \
            for (int k_ = 0; k_ < 3; k_++) off[k_] += idx_[d_] * (bc).st[k_][d_]; \
        }                                                                    \
        for (int64_t o = re0_ / rowlen_ * rowlen_; o < re1_; o += rowlen_) {   \
            const int64_t j0_ = o < re0_ ? re0_ - o : 0;                       \
            const int64_t j1_ = re1_ - o < rowlen_ ? re1_ - o : rowlen_;       \
            __VA_ARGS__;                                                     \
            AG__BCAST_NEXT_ROW(bc, idx_, off);                               \
        }                                                                    \
    } while (0)

/* Broadcast iteration of a binary node's two inputs against its shape. */
static inline void ag__bcast_binary(ag_bcast *bc, const ag_tensor *n) {
    const ag_tensor *a = n->in[0], *b = n->in[1];
    int nds[2] = {a->ndim, b->ndim};
    const int64_t *shapes[2] = {ag__shape(a), ag__shape(b)};
    ag__bcast_init(bc, n->ndim, ag__shape(n), 2, nds, shapes);
}

#endif /* TAPEGRAD_CORE_BCAST_H */
