/* How reductions split across threads (reduce_split.c), deterministically.
 * Not installed.
 *
 * A slot (ag_view3: the len elements reduced into one output) is cut into
 * blocks of AG_REDUCE_BLOCK elements along its axis, whatever the thread
 * count: a block's partial (a sum, an extreme, a count) is computed in
 * element order, and a slot's value combines its blocks' partials in block
 * order. Each partial is computed the same way whether one thread runs the
 * whole slot or the blocks run on several, so a reduction gives the same
 * bits at every thread count. Many slots split by slot; few long slots
 * (a full reduction) split each slot's blocks. Backward kernels write each
 * element once, from per-slot constants, and split the same way. */
#ifndef TAPEGRAD_OPS_REDUCE_SPLIT_H
#define TAPEGRAD_OPS_REDUCE_SPLIT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "hints.h"
#include "shape.h"

/* The elements of a block along the reduced axis. A slot no longer than
 * this is one block: its sum is the plain sum in element order. */
#define AG_REDUCE_BLOCK 4096

/* A reduction kernel's work: the dtype, the buffers (the op says what each
 * holds), the view and the op's constants. */
typedef struct ag_red_job {
    int dt;
    const void *px, *py, *pg;
    void *dst;
    ag_view3 v;
    bool flag;    /* max rather than min; add rather than store (extreme) */
    double scale; /* sum/mean's 1 or 1/len; var's denominator */
    bool split_blocks; /* set by ag__red_run: split each slot's blocks */
} ag_red_job;

/* The partial of the elements [k0, k1) of the slot starting at element b
 * (stride v.inner), given up to two per-slot constants s and t. Apply
 * kernels (backward) return 0 and write dst instead. */
typedef double ag_red_block_fn(const ag_red_job *jb, int64_t b, int64_t k0, int64_t k1, double s,
                               double t);

/* A run of slots' work: every pass over each slot j0 <= j < j1, through
 * ag__red_reduce and ag__red_apply, and the write of its output. */
typedef void ag_red_slots_fn(const ag_red_job *jb, int64_t j0, int64_t j1);

/* The first element of slot j. */
static inline int64_t ag__red_base(ag_view3 v, int64_t j) {
    return j / v.inner * v.len * v.inner + j % v.inner;
}

/* The blocks of a slot, and where block k ends. */
static inline int64_t ag__red_nblocks(ag_view3 v) {
    return v.len > AG_REDUCE_BLOCK ? (v.len + AG_REDUCE_BLOCK - 1) / AG_REDUCE_BLOCK : 1;
}
static inline int64_t ag__red_block_end(ag_view3 v, int64_t k) {
    const int64_t e = (k + 1) * AG_REDUCE_BLOCK;
    return e < v.len ? e : v.len;
}

/* How partials combine: a sum; a max / min that a NaN wins (the first one
 * in element order, as the plain loop); fmax, which ignores NaNs. */
typedef enum ag_red_combine { AG_RED_SUM, AG_RED_MAX, AG_RED_MIN, AG_RED_FMAX } ag_red_combine;

static AG_ALWAYS_INLINE double ag__red_combine(ag_red_combine how, double acc, double part) {
    if (how == AG_RED_SUM) return acc + part;
    if (how == AG_RED_FMAX) return fmax(acc, part);
    if (acc != acc) return acc;
    return part != part || (how == AG_RED_MAX ? part > acc : part < acc) ? part : acc;
}

/* ag__red_reduce and ag__red_apply with the blocks split across threads
 * (reduce_split.c): the same partials, combined the same way. */
double ag__red_reduce_split(const ag_red_job *jb, ag_red_block_fn *block, ag_red_combine how,
                            int64_t b, double s, double t);
void ag__red_apply_split(const ag_red_job *jb, ag_red_block_fn *block, int64_t b, double s,
                         double t);

/* The value of the slot starting at element b, on this thread: block's
 * partials over its blocks, combined in block order. */
static AG_ALWAYS_INLINE double ag__red_reduce_serial(const ag_red_job *jb, ag_red_block_fn *block,
                                                     ag_red_combine how, int64_t b, double s,
                                                     double t) {
    double acc = block(jb, b, 0, ag__red_block_end(jb->v, 0), s, t);
    for (int64_t k = 1, nb = ag__red_nblocks(jb->v); k < nb; k++)
        acc = ag__red_combine(how, acc,
                              block(jb, b, k * AG_REDUCE_BLOCK, ag__red_block_end(jb->v, k), s, t));
    return acc;
}

/* Slot j's value, split across threads when the job says so. Inline, so a
 * constant block inlines too. */
static AG_ALWAYS_INLINE double ag__red_reduce(const ag_red_job *jb, ag_red_block_fn *block,
                                              ag_red_combine how, int64_t j, double s, double t) {
    const int64_t b = ag__red_base(jb->v, j);
    if (jb->split_blocks) return ag__red_reduce_split(jb, block, how, b, s, t);
    return ag__red_reduce_serial(jb, block, how, b, s, t);
}

/* Runs block (an apply kernel) over every block of slot j. */
static AG_ALWAYS_INLINE void ag__red_apply(const ag_red_job *jb, ag_red_block_fn *block, int64_t j,
                                           double s, double t) {
    const int64_t b = ag__red_base(jb->v, j);
    if (jb->split_blocks) {
        ag__red_apply_split(jb, block, b, s, t);
        return;
    }
    block(jb, b, 0, jb->v.len, s, t); /* the blocks in one go: an apply has no partials */
}

/* Runs slots over every slot: split by slot, or, for a few long slots,
 * one slot after the other with each slot's blocks split (it sets
 * jb->split_blocks). */
void ag__red_run(ag_red_job *jb, ag_red_slots_fn *slots);

#endif /* TAPEGRAD_OPS_REDUCE_SPLIT_H */
