/* The tape's debug mode (tape_debug.c): resets retire memory instead of
 * reusing it, so a tensor recorded before a reset and used after it is a
 * clean error (the region head says "retired") or, under AddressSanitizer,
 * a report at the first read (the memory is poisoned). Not installed. */
#ifndef TAPEGRAD_CORE_TAPE_DEBUG_H
#define TAPEGRAD_CORE_TAPE_DEBUG_H

#include "tape.h"

/* Whether TAPEGRAD_DEBUG_TAPE asks for debug mode (set, and not "0"). */
bool ag__tape_debug_from_env(void);

/* At a reset in debug mode: moves every region and chunk to the
 * quarantine (heads marked, memory poisoned under ASan), leaving the tape
 * with none; frees the oldest retired memory beyond the quarantine's
 * bound. Without memory for its record it leaves the tape as it is (the
 * reset then reuses memory as in release mode). */
void ag__tape_debug_retire(ag_tape *t);

/* Whether x lies in memory the tape's debug mode retired (for messages). */
bool ag__tape_debug_holds(const ag_tape *t, const ag_tensor *x);

/* Frees all retired memory. */
void ag__tape_debug_free_retired(ag_tape *t);

/* Frees regions (every other block of blocks[0..nblocks)) and a chunk
 * chain (tape.c). */
void ag__tape_free_memory(ag_tensor **blocks, size_t nblocks, ag_chunk *chunks);

#endif /* TAPEGRAD_CORE_TAPE_DEBUG_H */
