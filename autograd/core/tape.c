/* The tape: a node list in fixed-size blocks plus a data arena of chunks.
 * Reset is O(1) and keeps all memory, so a training loop stops allocating
 * after its first step (except in debug mode, tape_debug.c). */
#include "error.h"
#include "node.h"
#include "tape.h"
#include "tape_debug.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define AG_FIRST_CHUNK ((size_t)1 << 20) /* first data chunk: 1 MiB */

static atomic_uint_fast32_t ag_generation = 1;

static uint32_t next_generation(void) {
    return (uint32_t)atomic_fetch_add(&ag_generation, 1);
}

ag_tape *ag_tape_new(size_t mem_cap_bytes) {
    ag_tape *t = calloc(1, sizeof *t);
    if (!t) {
        ag__error_set_last("ag_tape_new: out of memory");
        return NULL;
    }
    t->mem_cap = mem_cap_bytes;
    t->gen = next_generation();
    t->debug = ag__tape_debug_from_env();
    return t;
}

/* Runs and forgets the finalizers, newest first. A finalizer that resets
 * the tape again finds the list already empty. */
static void run_finalizers(ag_tape *t) {
    ag_finalizer *f = t->finalizers;
    t->finalizers = NULL;
    for (; f; f = f->next) f->fn(f->arg);
}

void ag__tape_free_memory(ag_tensor **blocks, size_t nblocks, ag_chunk *chunks) {
    for (size_t i = 0; i < nblocks; i += 2) free(blocks[i]); /* a region per two blocks */
    for (ag_chunk *c = chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
}

void ag_tape_free(ag_tape *t) {
    if (!t) return;
    run_finalizers(t);
    ag__tape_free_memory(t->blocks, t->nblocks, t->first);
    ag__tape_debug_free_retired(t);
    free(t->blocks);
    free(t->uses);
    ag__stmt_free(t);
    free(t);
}

static size_t bytes_in_use(const ag_tape *t) {
    return t->arena_bytes + t->nnodes * sizeof(ag_tensor) + ag__stmt_bytes(t);
}

void ag_tape_reset(ag_tape *t) {
    if (!t) return;
    run_finalizers(t); /* before the arena that holds the list is reused */
    size_t used = bytes_in_use(t);
    if (used > t->peak_bytes) t->peak_bytes = used;
    if (t->debug) ag__tape_debug_retire(t); /* fresh memory from now on */
    t->nnodes = 0;
    t->next = t->nblocks ? t->blocks[0] : NULL;
    t->end = t->nblocks ? t->blocks[0] + AG_NODE_BLOCK : NULL;
    t->cur = t->first;
    t->cur_off = 0;
    t->arena_bytes = 0;
    t->nuses = 0;
    t->gen = next_generation();
    t->err = AG_OK;
    t->msg[0] = '\0';
    t->anomaly_found = (ag_anomaly_report){0};
    t->anomaly_rule = NULL;
    ag__stmt_reset(t);
}

void ag__tape_mark(const ag_tape *t, ag_tape_mark *m) {
    *m = (ag_tape_mark){t->nnodes, t->cur_off, t->arena_bytes, t->next, t->end, t->cur};
}

void ag__tape_rewind(ag_tape *t, const ag_tape_mark *m) {
    size_t used = bytes_in_use(t);
    if (used > t->peak_bytes) t->peak_bytes = used;
    t->nnodes = m->nnodes;
    t->next = m->next;
    t->end = m->end;
    t->cur = m->cur;
    t->cur_off = m->cur_off;
    t->arena_bytes = m->arena_bytes;
}

void ag_tape_set_mem_cap(ag_tape *t, size_t mem_cap_bytes) {
    if (t) t->mem_cap = mem_cap_bytes;
}

ag_tape_stats ag_tape_get_stats(const ag_tape *t) {
    ag_tape_stats s = {0};
    if (!t) return s;
    s.scalars = ag__stmt_count(&t->s);
    s.nodes = t->nnodes + s.scalars;
    s.bytes_in_use = bytes_in_use(t);
    s.peak_bytes = s.bytes_in_use > t->peak_bytes ? s.bytes_in_use : t->peak_bytes;
    s.bytes_reserved = t->bytes_reserved;
    s.allocations = t->allocations;
    return s;
}

ag_status ag_tape_status(const ag_tape *t) { return t ? t->err : AG_ERR_NULL; }

const char *ag_tape_error(const ag_tape *t) {
    if (!t) return "tape is NULL";
    return t->err == AG_OK ? NULL : t->msg;
}

void ag_tape_clear_error(ag_tape *t) {
    if (!t) return;
    t->err = AG_OK;
    t->msg[0] = '\0';
    t->anomaly_found = (ag_anomaly_report){0};
    ag__stmt_sync(t);
}

/* Both fast paths (0-d nodes and statements) are off in no-grad and
 * anomaly mode. */
static void update_scalar_slow(ag_tape *t) {
    t->scalar_slow = t->no_grad + (t->anomaly ? 1 : 0);
    ag__stmt_sync(t);
}

void ag_no_grad_begin(ag_tape *t) {
    if (!t) return;
    t->no_grad++;
    update_scalar_slow(t);
}

void ag_no_grad_end(ag_tape *t) {
    if (!t || t->no_grad == 0) return;
    t->no_grad--;
    update_scalar_slow(t);
}

void ag_tape_set_anomaly(ag_tape *t, bool on) {
    if (!t) return;
    t->anomaly = on;
    update_scalar_slow(t);
}

bool ag_tape_anomaly(const ag_tape *t) { return t && t->anomaly; }

bool ag_grad_enabled(const ag_tape *t) { return t && t->no_grad == 0; }

/* Whether `bytes` more may be reserved under the cap (no sum can wrap). */
static bool within_cap(const ag_tape *t, size_t bytes) {
    return !t->mem_cap || (bytes <= t->mem_cap && t->bytes_reserved <= t->mem_cap - bytes);
}

/* Reserves `bytes` more from malloc, within the cap. */
static void *tape_malloc(ag_tape *t, size_t bytes) {
    if (!within_cap(t, bytes)) return NULL;
    void *p = malloc(bytes);
    if (!p) return NULL;
    t->bytes_reserved += bytes;
    t->allocations++;
    return p;
}

void *ag__tape_aligned(ag_tape *t, size_t bytes) {
    if (!within_cap(t, bytes)) return NULL;
    void *p = aligned_alloc(bytes, bytes);
    if (!p) return NULL;
    t->bytes_reserved += bytes;
    t->allocations++;
    return p;
}

bool ag__tape_grow(ag_tape *t, void **p, size_t *cap, size_t need, size_t elsize, size_t min_cap) {
    if (need <= *cap) return true;
    size_t n = *cap ? 2 * *cap : min_cap;
    while (n < need) n *= 2;
    size_t more = (n - *cap) * elsize;
    if (!within_cap(t, more)) return false;
    void *q = realloc(*p, n * elsize);
    if (!q) return false;
    *p = q;
    *cap = n;
    t->bytes_reserved += more;
    t->allocations++;
    return true;
}

/* A region for two node blocks: 2 MiB, 2 MiB-aligned, so the kernel may
 * back it with one transparent huge page (a large tape's node list is
 * streamed from memory by every recording and sweep, and 4 KiB pages cost
 * a TLB miss every 73 nodes), and so a node's address finds the region's
 * head (ag__region_head). The first region asks for small pages, so a small
 * tape stays small; the others for huge ones. NULL (nothing reserved) when
 * the cap or malloc refuses. */
static ag_tensor *new_region(ag_tape *t, bool huge) {
    if (!within_cap(t, AG_REGION)) return NULL;
    ag_tensor *p = aligned_alloc(AG_REGION, AG_REGION);
    if (!p) return NULL;
    (void)huge; /* madvise is a hint: failure is fine */
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    (void)madvise(p, AG_REGION, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
    ag_region_head *h = (ag_region_head *)((char *)p + AG_REGION_HEAD_OFFSET);
    *h = (ag_region_head){.tape = t};
    t->bytes_reserved += AG_REGION;
    t->allocations++;
    return p;
}

/* ag__tape_push when the current block is full: moves to the next block,
 * allocating a region when the tape has not grown this far before. */
ag_tensor *ag__tape_push_slow(ag_tape *t) {
    size_t b = t->nnodes >> AG_NODE_BLOCK_SHIFT;
    AG_ASSERT((t->nnodes & (AG_NODE_BLOCK - 1)) == 0);
    if (b == t->nblocks) {
        if (t->nblocks + 2 > t->cap_blocks) {
            size_t cap = t->cap_blocks ? 2 * t->cap_blocks : 16;
            ag_tensor **blocks = realloc(t->blocks, cap * sizeof *blocks);
            if (!blocks) return NULL;
            t->blocks = blocks;
            t->cap_blocks = cap;
        }
        ag_tensor *region = new_region(t, t->nblocks >= 2);
        if (!region) return NULL;
        t->blocks[t->nblocks++] = region;
        t->blocks[t->nblocks++] = region + AG_NODE_BLOCK;
    }
    t->next = t->blocks[b];
    t->end = t->next + AG_NODE_BLOCK;
    t->nnodes++;
    return t->next++;
}

/* Arena allocation, 64-byte aligned for tensors' data, 8 for small records:
 * a bump in the current chunk (inlined in each caller), else arena_grow. */
static void *arena_grow(ag_tape *t, size_t bytes, size_t align);

static inline void *arena_alloc(ag_tape *t, size_t bytes, size_t align) {
    if (t->cur) {
        uintptr_t base = (uintptr_t)t->cur->data;
        size_t off = (size_t)(((base + t->cur_off + align - 1) & ~(uintptr_t)(align - 1)) - base);
        if (off <= t->cur->size && bytes <= t->cur->size - off) { /* no sum can wrap */
            t->cur_off = off + bytes;
            t->arena_bytes += bytes;
            return t->cur->data + off;
        }
    }
    return arena_grow(t, bytes, align);
}

/* Moves on to the next kept chunk, or adds one (twice the last one's size,
 * or what the request needs), then allocates there. Every sum is checked:
 * a request near SIZE_MAX must fail, not wrap. */
static AG_NOINLINE void *arena_grow(ag_tape *t, size_t bytes, size_t align) {
    size_t need; /* a chunk that surely fits the request, alignment included */
    if (__builtin_add_overflow(bytes, align, &need) || need > SIZE_MAX - sizeof(ag_chunk)) return NULL;
    while (t->cur && t->cur->next) { /* kept chunks, from before the reset */
        t->cur = t->cur->next;
        t->cur_off = 0;
        if (bytes + align <= t->cur->size) return arena_alloc(t, bytes, align);
    }
    size_t last = t->cur ? t->cur->size : AG_FIRST_CHUNK / 2;
    size_t size = last <= (SIZE_MAX - sizeof(ag_chunk)) / 2 ? 2 * last : need;
    if (size < need) size = need;
    if (!within_cap(t, size + sizeof(ag_chunk)))
        size = need; /* near the cap: take only what is needed */
    ag_chunk *c = tape_malloc(t, sizeof(ag_chunk) + size);
    if (!c) return NULL;
    c->size = size;
    c->next = NULL;
    if (t->cur) {
        c->next = t->cur->next;
        t->cur->next = c;
    } else {
        t->first = c;
    }
    t->cur = c;
    t->cur_off = 0;
    return arena_alloc(t, bytes, align);
}

void ag__tape_fail_memory(ag_tape *t, const char *op, size_t bytes, const char *what) {
    if (!within_cap(t, bytes))
        ag__error_fail(t, AG_ERR_MEMORY, op, "cannot allocate %zu bytes%s%s: over the tape's memory cap "
                       "of %zu bytes (%zu reserved)", bytes, what ? " for " : "", what ? what : "",
                       t->mem_cap, t->bytes_reserved);
    else
        ag__error_fail(t, AG_ERR_MEMORY, op, "cannot allocate %zu bytes%s%s: out of memory", bytes,
                       what ? " for " : "", what ? what : "");
}

void *ag__tape_alloc(ag_tape *t, size_t bytes, const char *op) {
    void *p = arena_alloc(t, bytes ? bytes : 1, 64);
    if (!p) ag__tape_fail_memory(t, op, bytes, NULL);
    return p;
}

void *ag__tape_alloc_array(ag_tape *t, int64_t count, size_t elsize, const char *op) {
    size_t bytes;
    if (count < 0 || __builtin_mul_overflow((size_t)count, elsize, &bytes)) {
        ag__error_fail(t, AG_ERR_MEMORY, op, "cannot allocate %lld items of %zu bytes: the size overflows",
                       (long long)count, elsize);
        return NULL;
    }
    return ag__tape_alloc(t, bytes, op);
}

void *ag__tape_data(ag_tape *t, size_t bytes) { return arena_alloc(t, bytes ? bytes : 1, 64); }

bool ag__tape_on_reset(ag_tape *t, void (*fn)(void *arg), void *arg) {
    ag_finalizer *f = arena_alloc(t, sizeof *f, 8);
    if (!f) return false;
    *f = (ag_finalizer){t->finalizers, fn, arg};
    t->finalizers = f;
    return true;
}

/* A node outside the node list (no-grad mode), in the data arena. */
ag_tensor *ag__tape_loose_node(ag_tape *t) {
    return arena_alloc(t, sizeof(ag_tensor), 8);
}

bool ag__tape_owns_loose(const ag_tape *t, const ag_tensor *x) {
    uintptr_t p = (uintptr_t)x;
    /* The chunks used since the reset: the first ones whole, the current
     * one up to its fill. */
    for (const ag_chunk *c = t->first; c; c = c->next) {
        uintptr_t base = (uintptr_t)c->data, used = c == t->cur ? t->cur_off : c->size;
        if (p >= base && p - base < used) return true;
        if (c == t->cur) break;
    }
    return false;
}

ag_status ag__tape_foreign(ag_tape *t, const char *op, int i, int n, ag_tensor *const *xs) {
    const ag_tensor *x = xs[i];
    bool stale = ag__is_stmt(x) ? ((const ag_sblock_head *)ag__stmt_block(x))->retired_from == t
                 : (x->flags & AG_F_ON_TAPE) ? ag__region_head(x)->retired_from == t
                                             : ag__tape_debug_holds(t, x);
    char a[128], b[160] = "";
    ag__error_fmt_operand(a, sizeof a, x);
    if (n == 2) {
        char o[128];
        snprintf(b, sizeof b, " (the other operand is %s)", ag__error_fmt_operand(o, sizeof o, xs[1 - i]));
    }
    if (stale) {
        ag__error_fail(t, AG_ERR_STATE, op, "operand %d %s was recorded on this tape before its last "
                       "ag_tape_reset%s: a tensor must not be used after the reset of its tape (caught "
                       "by the tape's debug mode)", i + 1, a, b);
        return AG_ERR_STATE;
    }
    ag__error_fail(t, AG_ERR_ARG, op, "operand %d %s was recorded on another tape%s; tensors of two "
                   "tapes cannot meet in one op (only parameters, which belong to no tape, can)", i + 1,
                   a, b);
    return AG_ERR_ARG;
}

void *ag__tape_small(ag_tape *t, size_t bytes) { return arena_alloc(t, bytes, 8); }

/* Notes that the tape recorded parameter p, with its version, once per
 * reset: ag_backward compares the versions to detect writes in between.
 * Tapes of other threads may note p at the same time: seen_gen is atomic,
 * and whichever tape wrote it last has it; another one notes p again. */
bool ag__tape_note_param(ag_tape *t, ag_tensor *p) {
    if (atomic_load_explicit(&p->ext->seen_gen, memory_order_relaxed) == t->gen) return true;
    if (t->nuses == t->cap_uses) {
        size_t cap = t->cap_uses ? 2 * t->cap_uses : 64;
        ag_param_use *u = realloc(t->uses, cap * sizeof *u);
        if (!u) return false;
        t->uses = u;
        t->cap_uses = cap;
    }
    t->uses[t->nuses++] = (ag_param_use){p, p->ext->version};
    atomic_store_explicit(&p->ext->seen_gen, t->gen, memory_order_relaxed);
    return true;
}

/* The calling thread's number, from 1 (0 means no thread in ext->writer). */
static uint64_t thread_number(void) {
    static atomic_uint_fast64_t next = 1;
    static _Thread_local uint64_t mine;
    if (!mine) mine = atomic_fetch_add(&next, 1);
    return mine;
}

ag_status ag__tape_lock_params(ag_tape *t, const char *op) {
    uint64_t me = thread_number();
    for (size_t i = 0; i < t->nuses; i++) {
        ag_ext *e = t->uses[i].param->ext;
        uint64_t none = 0;
        /* acquire: this backward sees every write of the one before it */
        if (atomic_compare_exchange_strong_explicit(&e->writer, &none, me, memory_order_acquire,
                                                    memory_order_relaxed) || none == me)
            continue;
        for (size_t k = 0; k < i; k++) { /* give back what this call took */
            ag_ext *taken = t->uses[k].param->ext;
            uint64_t mine = me;
            atomic_compare_exchange_strong_explicit(&taken->writer, &mine, 0, memory_order_release,
                                                    memory_order_relaxed);
        }
        const char *name = e->name;
        ag__error_fail(t, AG_ERR_STATE, op, "parameter %s%s%s is being written by a backward "
                       "in another thread; backward calls that reach one parameter must not overlap "
                       "(see Threads in autograd.h)", name ? "'" : "", name ? name : "(unnamed)",
                       name ? "'" : "");
        return AG_ERR_STATE;
    }
    return AG_OK;
}

void ag__tape_unlock_params(ag_tape *t) {
    uint64_t me = thread_number();
    for (size_t i = 0; i < t->nuses; i++) {
        uint64_t mine = me; /* a parameter noted twice is given back once */
        atomic_compare_exchange_strong_explicit(&t->uses[i].param->ext->writer, &mine, 0,
                                                memory_order_release, memory_order_relaxed);
    }
}

