/* The tape's debug mode: see tape_debug.h and ag_tape_set_debug. */
#include "tape_debug.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define AG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_ASAN 1
#endif
#endif
#ifdef AG_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Retired memory kept (and checked) before it is really freed: a stale
 * use of anything recorded within about the last 64 MiB of resets is
 * caught; older memory goes back to malloc. */
#define AG_QUARANTINE ((size_t)64 << 20)

/* What one reset retired. */
struct ag_retired {
    ag_retired *next;
    ag_chunk *chunks;
    size_t bytes, nregions;
    ag_tensor *regions[]; /* each AG_REGION bytes */
};

bool ag__tape_debug_from_env(void) {
    const char *v = getenv("TAPEGRAD_DEBUG_TAPE");
    return v && *v && strcmp(v, "0") != 0;
}

static void free_record(ag_retired *r) {
    for (size_t i = 0; i < r->nregions; i++) UNPOISON(r->regions[i], AG_REGION);
    for (ag_chunk *c = r->chunks; c; c = c->next) UNPOISON(c->data, c->size);
    for (size_t i = 0; i < r->nregions; i++) free(r->regions[i]);
    ag__tape_free_memory(NULL, 0, r->chunks);
    free(r);
}

/* The scalar tape's blocks at a reset: heads marked, memory poisoned, the
 * blocks kept in the quarantine of statement blocks (bounded as the rest),
 * the tape left with none. Without memory for the list it keeps them. */
static void retire_statement_blocks(ag_tape *t) {
    ag_stape *s = &t->s;
    if (!s->nblocks) return;
    if (s->nretired + s->nblocks > s->cap_retired) {
        size_t cap = s->cap_retired ? 2 * s->cap_retired : 16;
        while (cap < s->nretired + s->nblocks) cap *= 2;
        char **r = realloc(s->retired, cap * sizeof *r);
        if (!r) return;
        s->retired = r;
        s->cap_retired = cap;
    }
    for (size_t i = 0; i < s->nblocks; i++) {
        char *blk = s->blocks[i];
        *(ag_sblock_head *)blk = (ag_sblock_head){.tape = NULL, .retired_from = t};
        POISON(blk, AG_SBLOCK_BYTES);
        s->retired[s->nretired++] = blk;
    }
    t->bytes_reserved -= s->nblocks * AG_SBLOCK_BYTES;
    s->nblocks = 0;
    while (s->nretired * AG_SBLOCK_BYTES > AG_QUARANTINE) { /* the oldest go back to malloc */
        UNPOISON(s->retired[0], AG_SBLOCK_BYTES);
        free(s->retired[0]);
        memmove(s->retired, s->retired + 1, --s->nretired * sizeof *s->retired);
    }
}

void ag__tape_debug_retire(ag_tape *t) {
    retire_statement_blocks(t);
    size_t nregions = t->nblocks / 2;
    if (!nregions && !t->first) return;
    ag_retired *r = malloc(sizeof *r + nregions * sizeof r->regions[0]);
    if (!r) return;
    *r = (ag_retired){.chunks = t->first, .nregions = nregions, .bytes = nregions * AG_REGION};
    for (size_t i = 0; i < nregions; i++) {
        ag_tensor *region = t->blocks[2 * i];
        ag_region_head *h = (ag_region_head *)((char *)region + AG_REGION_HEAD_OFFSET);
        *h = (ag_region_head){.tape = NULL, .retired_from = t};
        r->regions[i] = region;
        POISON(region, AG_REGION);
    }
    for (ag_chunk *c = t->first; c; c = c->next) {
        r->bytes += sizeof *c + c->size;
        POISON(c->data, c->size); /* the chunk's own header stays readable */
    }
    t->nblocks = 0;
    t->first = t->cur = NULL;
    t->cur_off = 0;
    t->bytes_reserved -= r->bytes;
    if (t->retired_last) t->retired_last->next = r;
    else t->retired = r;
    t->retired_last = r;
    t->retired_bytes += r->bytes;
    while (t->retired != r && t->retired_bytes > AG_QUARANTINE) {
        ag_retired *old = t->retired;
        t->retired = old->next;
        t->retired_bytes -= old->bytes;
        free_record(old);
    }
}

bool ag__tape_debug_holds(const ag_tape *t, const ag_tensor *x) {
    uintptr_t p = (uintptr_t)x;
    for (const ag_retired *r = t->retired; r; r = r->next) {
        for (size_t i = 0; i < r->nregions; i++)
            if (p - (uintptr_t)r->regions[i] < AG_REGION) return true;
        for (const ag_chunk *c = r->chunks; c; c = c->next)
            if (p - (uintptr_t)c->data < c->size) return true;
    }
    return false;
}

void ag__tape_debug_free_retired(ag_tape *t) {
    for (size_t i = 0; i < t->s.nretired; i++) {
        UNPOISON(t->s.retired[i], AG_SBLOCK_BYTES);
        free(t->s.retired[i]);
    }
    t->s.nretired = 0;
    for (ag_retired *r = t->retired, *next; r; r = next) {
        next = r->next;
        free_record(r);
    }
    t->retired = t->retired_last = NULL;
    t->retired_bytes = 0;
}

void ag_tape_set_debug(ag_tape *t, bool on) {
    if (!t) return;
    t->debug = on;
    if (!on) ag__tape_debug_free_retired(t);
}

bool ag_tape_debug(const ag_tape *t) { return t && t->debug; }
