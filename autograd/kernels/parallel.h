/* The thread pool of the elementwise and reduction kernels (internal):
 * ag__parallel_for splits an index range [0, n) into contiguous chunks run
 * by persistent worker threads and the calling thread. Plain ranges and
 * callbacks: knows nothing of nodes or tapes.
 *
 * The workers start at the first call that splits work, sleep on a
 * condition variable between calls (they never spin, so they take no core
 * from a BLAS running on the caller), and are joined at exit or when the
 * count changes. One call at a time uses the pool: a call made while
 * another thread's call holds it, or from inside a worker, runs inline. If
 * a worker cannot be started the work runs on fewer threads, inline at
 * worst: never an abort, never a different answer. A child of fork runs
 * every call inline.
 *
 * Results must not depend on how a range is split: a callback may write
 * only what its own indices own, and a reduction sums blocks of a size
 * fixed in advance (never by the thread count), combined in a fixed order. */
#ifndef TAPEGRAD_KERNELS_PARALLEL_H
#define TAPEGRAD_KERNELS_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

/* The most threads ag__parallel_set_threads accepts. */
#define AG__PARALLEL_MAX_THREADS 1024

/* The elements a chunk should hold at least, for kernels that do a few
 * arithmetic operations per element (memory-bound: a second thread gains
 * little below this), and for those with a transcendental function per
 * element. Below about these, waking a worker (tens of microseconds on a
 * loaded machine) costs more than it saves: measured on 2 cores, f32 tanh
 * of 65,536 elements split in two chunks of 8,192+ took 1.1x the time of
 * one thread, 10^6 elements 0.57x (docs/design.md, "The kernels' thread
 * pool"). */
#define AG__PARALLEL_GRAIN 65536
#define AG__PARALLEL_GRAIN_MATH 32768

/* A chunk of work: indices [begin, end) of the range. */
typedef void ag_parallel_fn(void *ctx, int64_t begin, int64_t end);

/* Runs fn(ctx, begin, end) over contiguous chunks covering [0, n) exactly
 * once, at most ag__parallel_threads() chunks of at least `grain` indices
 * (grain < 1 counts as 1), the caller running one of them, and returns
 * when all are done. Runs fn(ctx, 0, n) inline when n < 2·grain, when the
 * count is 1, inside a worker (no nested parallelism) or while another
 * thread's call holds the pool. n <= 0 does nothing. */
void ag__parallel_for_split(int64_t n, int64_t grain, ag_parallel_fn *fn, void *ctx);
static inline void ag__parallel_for(int64_t n, int64_t grain, ag_parallel_fn *fn, void *ctx) {
    /* Inline, so a small tensor's kernel is a direct call (often inlined
     * itself): the per-op cost of tiny tensors stays what it was. */
    if (n < 2 * grain) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    ag__parallel_for_split(n, grain, fn, ctx);
}

/* ag__parallel_for with fn a function's name, called directly when the
 * range is too small to split, so an always-inline fn is inlined there. */
#define AG_PARALLEL_FOR(n, grain, fn, ctx)                                   \
    do {                                                                     \
        const int64_t pn_ = (n), pg_ = (grain);                              \
        if (pn_ < 2 * pg_) {                                                 \
            if (pn_ > 0) fn((ctx), 0, pn_);                                  \
        } else {                                                             \
            ag__parallel_for_split(pn_, pg_, fn, (ctx));                     \
        }                                                                    \
    } while (0)

/* The thread count: set by ag__parallel_set_threads, else the environment
 * variable TAPEGRAD_NUM_THREADS (read once; ignored unless an integer in
 * 1..AG__PARALLEL_MAX_THREADS), else the cores this process may run on. */
int ag__parallel_threads(void);

/* Sets the thread count; false (nothing changed) unless 1 <= n <=
 * AG__PARALLEL_MAX_THREADS. Running workers are joined (after the call in
 * progress, if any) and the new count starts at the next split call. */
bool ag__parallel_set_threads(int n);

/* True on a pool worker thread (for tests). */
bool ag__parallel_in_worker(void);

#endif /* TAPEGRAD_KERNELS_PARALLEL_H */
