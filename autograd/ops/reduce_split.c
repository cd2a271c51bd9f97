/* The split paths of reductions (reduce_split.h): a slot's blocks across
 * the pool, or the slots themselves. */
#include "reduce_split.h"

#include <stdlib.h>

#include "parallel.h"

/* The blocks a chunk holds at least: AG__PARALLEL_GRAIN elements. */
#define GRAIN_BLOCKS (AG__PARALLEL_GRAIN / AG_REDUCE_BLOCK)

typedef struct blocks_job {
    const ag_red_job *jb;
    ag_red_block_fn *block;
    int64_t b;
    double s, t;
    double *parts; /* the partials, NULL for an apply */
} blocks_job;

static void blocks_range(void *ctx, int64_t k0, int64_t k1) {
    const blocks_job *bj = ctx;
    for (int64_t k = k0; k < k1; k++) {
        const double p = bj->block(bj->jb, bj->b, k * AG_REDUCE_BLOCK,
                                   ag__red_block_end(bj->jb->v, k), bj->s, bj->t);
        if (bj->parts) bj->parts[k] = p;
    }
}

double ag__red_reduce_split(const ag_red_job *jb, ag_red_block_fn *block, ag_red_combine how,
                            int64_t b, double s, double t) {
    enum { ON_STACK = 256 };
    double stack[ON_STACK];
    const int64_t nb = ag__red_nblocks(jb->v);
    double *parts = nb <= ON_STACK ? stack : malloc(sizeof *parts * (size_t)nb);
    if (!parts) return ag__red_reduce_serial(jb, block, how, b, s, t); /* the same, here */
    blocks_job bj = {jb, block, b, s, t, parts};
    ag__parallel_for(nb, GRAIN_BLOCKS, blocks_range, &bj);
    double acc = parts[0];
    for (int64_t k = 1; k < nb; k++) acc = ag__red_combine(how, acc, parts[k]);
    if (parts != stack) free(parts);
    return acc;
}

void ag__red_apply_split(const ag_red_job *jb, ag_red_block_fn *block, int64_t b, double s,
                         double t) {
    blocks_job bj = {jb, block, b, s, t, NULL};
    ag__parallel_for(ag__red_nblocks(jb->v), GRAIN_BLOCKS, blocks_range, &bj);
}

typedef struct slots_job {
    const ag_red_job *jb;
    ag_red_slots_fn *slots;
} slots_job;

static void slots_range(void *ctx, int64_t j0, int64_t j1) {
    const slots_job *sj = ctx;
    sj->slots(sj->jb, j0, j1);
}

void ag__red_run(ag_red_job *jb, ag_red_slots_fn *slots) {
    const ag_view3 v = jb->v;
    const int64_t nslots = v.outer * v.inner;
    jb->split_blocks = false;
    /* Few long slots: split each one's blocks (the count is read only for
     * a slot long enough to split, so small reductions never lock). */
    int threads;
    if (ag__red_nblocks(v) >= 2 * GRAIN_BLOCKS && (threads = ag__parallel_threads()) > 1 &&
        nslots < 2 * (int64_t)threads) {
        jb->split_blocks = true;
        slots(jb, 0, nslots);
        return;
    }
    int64_t grain = AG__PARALLEL_GRAIN / (v.len > 0 ? v.len : 1);
    slots_job sj = {jb, slots};
    ag__parallel_for(nslots, grain < 1 ? 1 : grain, slots_range, &sj);
}
