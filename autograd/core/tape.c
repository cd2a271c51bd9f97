/* The tape: a node list in fixed-size blocks plus a data arena of chunks.
 * Reset is O(1) and keeps all memory, so a training loop stops allocating
 * after its first step. */
#include "error.h"
#include "node.h"
#include "tape.h"

#include <stdarg.h>
#include <stdatomic.h>
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
    return t;
}

void ag_tape_free(ag_tape *t) {
    if (!t) return;
    for (size_t i = 0; i < t->nblocks; i++)
        if (!t->block_tail[i]) free(t->blocks[i]);
    free(t->blocks);
    free(t->block_tail);
    for (ag_chunk *c = t->first, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(t->uses);
    free(t);
}

static size_t bytes_in_use(const ag_tape *t) {
    return t->arena_bytes + t->nnodes * sizeof(ag_tensor);
}

void ag_tape_reset(ag_tape *t) {
    if (!t) return;
    size_t used = bytes_in_use(t);
    if (used > t->peak_bytes) t->peak_bytes = used;
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
}

void ag_tape_set_mem_cap(ag_tape *t, size_t mem_cap_bytes) {
    if (t) t->mem_cap = mem_cap_bytes;
}

ag_tape_stats ag_tape_get_stats(const ag_tape *t) {
    ag_tape_stats s = {0};
    if (!t) return s;
    s.nodes = t->nnodes;
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
}

void ag_no_grad_begin(ag_tape *t) {
    if (t) t->no_grad++;
}

void ag_no_grad_end(ag_tape *t) {
    if (t && t->no_grad > 0) t->no_grad--;
}

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

/* ag__tape_push when the current block is full: moves to the next block,
 * allocating it when the tape has not grown this far before. */
/* Two node blocks in one 2 MiB-aligned 2 MiB region the kernel may back
 * with a transparent huge page: a large tape's node list is streamed from
 * memory by every recording and sweep, and 4 KiB pages cost a TLB miss
 * every 73 nodes. NULL (nothing reserved) when the cap or malloc refuses. */
#define AG_HUGE_PAGE ((size_t)2 << 20)
_Static_assert(2 * AG_NODE_BLOCK * sizeof(ag_tensor) <= AG_HUGE_PAGE,
               "two node blocks must fit in one huge page");
static ag_tensor *huge_pair(ag_tape *t) {
    if (!within_cap(t, AG_HUGE_PAGE)) return NULL;
    ag_tensor *p = aligned_alloc(AG_HUGE_PAGE, AG_HUGE_PAGE);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, AG_HUGE_PAGE, MADV_HUGEPAGE); /* a hint: failure is fine */
#endif
    t->bytes_reserved += AG_HUGE_PAGE;
    t->allocations++;
    return p;
}

ag_tensor *ag__tape_push_slow(ag_tape *t) {
    size_t b = t->nnodes >> AG_NODE_BLOCK_SHIFT;
    AG_ASSERT((t->nnodes & (AG_NODE_BLOCK - 1)) == 0);
    if (b == t->nblocks) {
        if (t->nblocks + 2 > t->cap_blocks) {
            size_t cap = t->cap_blocks ? 2 * t->cap_blocks : 16;
            ag_tensor **blocks = realloc(t->blocks, cap * sizeof *blocks);
            if (!blocks) return NULL;
            t->blocks = blocks;
            bool *tail = realloc(t->block_tail, cap * sizeof *tail);
            if (!tail) return NULL;
            t->block_tail = tail;
            t->cap_blocks = cap;
        }
        /* Small tapes keep plain blocks; from the third on, blocks come in
         * huge-page pairs where the cap allows (else one plain block). */
        ag_tensor *pair = b >= 2 ? huge_pair(t) : NULL;
        if (pair) {
            t->block_tail[t->nblocks] = false;
            t->blocks[t->nblocks++] = pair;
            t->block_tail[t->nblocks] = true; /* freed with its head */
            t->blocks[t->nblocks++] = pair + AG_NODE_BLOCK;
        } else {
            ag_tensor *block = tape_malloc(t, AG_NODE_BLOCK * sizeof(ag_tensor));
            if (!block) return NULL;
            t->block_tail[t->nblocks] = false;
            t->blocks[t->nblocks++] = block;
        }
    }
    t->next = t->blocks[b];
    t->end = t->next + AG_NODE_BLOCK;
    t->nnodes++;
    return t->next++;
}

/* Arena allocation, 64-byte aligned for tensors' data, 8 for small records.
 * Every sum is checked: a request near SIZE_MAX must fail, not wrap. */
static void *arena_alloc(ag_tape *t, size_t bytes, size_t align) {
    size_t need; /* a chunk that surely fits the request, alignment included */
    if (__builtin_add_overflow(bytes, align, &need) || need > SIZE_MAX - sizeof(ag_chunk)) return NULL;
    for (;;) {
        if (t->cur) {
            uintptr_t base = (uintptr_t)t->cur->data;
            size_t off = (size_t)(((base + t->cur_off + align - 1) & ~(uintptr_t)(align - 1)) - base);
            if (off <= t->cur->size && bytes <= t->cur->size - off) {
                t->cur_off = off + bytes;
                t->arena_bytes += bytes;
                return t->cur->data + off;
            }
            if (t->cur->next) { /* move on to a kept chunk */
                t->cur = t->cur->next;
                t->cur_off = 0;
                continue;
            }
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
    }
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

/* A node outside the node list (no-grad mode), in the data arena. */
ag_tensor *ag__tape_loose_node(ag_tape *t) {
    return arena_alloc(t, sizeof(ag_tensor), 8);
}

void *ag__tape_small(ag_tape *t, size_t bytes) { return arena_alloc(t, bytes, 8); }

/* Notes that the tape recorded parameter p, with its version, once per
 * reset: ag_backward compares the versions to detect writes in between. */
bool ag__tape_note_param(ag_tape *t, ag_tensor *p) {
    if (p->ext->seen_gen == t->gen) return true;
    if (t->nuses == t->cap_uses) {
        size_t cap = t->cap_uses ? 2 * t->cap_uses : 64;
        ag_param_use *u = realloc(t->uses, cap * sizeof *u);
        if (!u) return false;
        t->uses = u;
        t->cap_uses = cap;
    }
    t->uses[t->nuses++] = (ag_param_use){p, p->ext->version};
    p->ext->seen_gen = t->gen;
    return true;
}

