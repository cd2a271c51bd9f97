/* The tape (tape.c): the node list in fixed-size blocks, the data arena,
 * accounting, the memory cap and the parameters noted since the last
 * reset. Not installed. */
#ifndef TAPEGRAD_CORE_TAPE_H
#define TAPEGRAD_CORE_TAPE_H

#include "hints.h"
#include "node.h"
#include "stmt.h"

#define AG_NODE_BLOCK_SHIFT 14
#define AG_NODE_BLOCK ((size_t)1 << AG_NODE_BLOCK_SHIFT) /* nodes per block */

typedef struct ag_chunk {
    struct ag_chunk *next;
    size_t size;
    size_t pad_; /* keeps data 16-aligned; allocations align themselves to 64 */
    unsigned char data[];
} ag_chunk;

/* Work to run when the tape drops what it recorded (reset and free): a
 * custom op's context destructor. Lives in the data arena. */
typedef struct ag_finalizer {
    struct ag_finalizer *next;
    void (*fn)(void *arg);
    void *arg;
} ag_finalizer;

typedef struct ag_param_use {
    ag_tensor *param;
    uint32_t version;
} ag_param_use;

/* Node blocks come two by two in 2 MiB-aligned regions (a transparent huge
 * page each, see tape.c), and each region ends with its head, which says
 * whose nodes it holds: from a node's address alone the recorder finds its
 * tape, to refuse operands of another tape (or, in debug mode, recorded
 * before the last reset) at the cost of a mask and a load. */
#define AG_REGION ((size_t)2 << 20)
#define AG_REGION_HEAD_OFFSET (2 * AG_NODE_BLOCK * sizeof(ag_tensor))

typedef struct ag_region_head {
    const ag_tape *tape;         /* the owner; NULL once retired (debug mode) */
    const ag_tape *retired_from; /* debug mode: the tape whose reset retired it */
} ag_region_head;

_Static_assert(AG_REGION_HEAD_OFFSET + sizeof(ag_region_head) <= AG_REGION,
               "two node blocks and the head must fit in a region");

/* The head of the region holding node n, which must be on a node list
 * (AG_F_ON_TAPE). */
static inline const ag_region_head *ag__region_head(const ag_tensor *n) {
    return (const ag_region_head *)(((uintptr_t)n & ~(uintptr_t)(AG_REGION - 1)) + AG_REGION_HEAD_OFFSET);
}

/* Debug mode keeps what resets retire here (see ag_tape_set_debug). */
typedef struct ag_retired ag_retired;

struct ag_tape {
    /* The node list: fixed-size blocks, so a reverse walk is two loops.
     * Block 2k is the start of region k, block 2k + 1 its second half. */
    ag_tensor **blocks;
    size_t nblocks, cap_blocks;
    size_t nnodes;
    /* The next free slot and the end of its block: recording a node is a
     * pointer bump while the current block has room (ag__tape_push). They
     * must agree with nnodes: whatever changes nnodes (ag__tape_push,
     * ag_tape_reset) sets them too. */
    ag_tensor *next, *end;
    /* The data arena: a chain of chunks, reused after reset. */
    ag_chunk *first, *cur;
    size_t cur_off;
    /* Accounting. The node list's bytes are nnodes * sizeof(ag_tensor),
     * counted when asked rather than per node; arena_bytes is the rest.
     * Both only grow between resets, so the peak is taken at reset and
     * whenever the statistics are read. */
    size_t arena_bytes, peak_bytes, bytes_reserved, mem_cap, allocations;
    int no_grad;          /* depth of ag_no_grad_begin */
    /* Nonzero turns the scalar fast path of recording off (scalar_path.h):
     * no_grad plus the anomaly flag, kept in one word so the fast path's
     * test costs what the no-grad test alone cost. */
    int scalar_slow;
    uint32_t epoch;       /* last sweep's number */
    uint32_t gen;         /* unique per reset, to note parameter uses once */
    ag_param_use *uses;   /* parameters recorded since reset, with versions */
    size_t nuses, cap_uses;
    ag_status err;
    char msg[512];
    /* Debug mode: resets retire memory instead of reusing it. */
    bool debug;
    ag_retired *retired, *retired_last; /* oldest first */
    size_t retired_bytes;
    /* Off the recorders' path (so after the fields they read): */
    bool anomaly;         /* ag_tape_set_anomaly: check every value made */
    const ag_tensor *anomaly_rule; /* create_graph: the node whose rule is being recorded */
    ag_anomaly_report anomaly_found; /* what set the error (core/anomaly.c) */
    ag_finalizer *finalizers; /* newest first */
    ag_stape s; /* the scalar tape: f64 scalars as compact statements (stmt.h) */
};

/* The i-th recorded node. */
static inline ag_tensor *ag__tape_node(const ag_tape *t, size_t i) {
    return &t->blocks[i >> AG_NODE_BLOCK_SHIFT][i & (AG_NODE_BLOCK - 1)];
}

/* A slot for one more node in the node list (ag__tape_push_slow when the
 * current block is full or missing), or NULL at the memory cap. The slot
 * holds garbage: the caller writes every field. */
ag_tensor *ag__tape_push_slow(ag_tape *t);
static AG_ALWAYS_INLINE ag_tensor *ag__tape_push(ag_tape *t) {
    if (t->next == t->end) return ag__tape_push_slow(t);
    t->nnodes++;
    return t->next++;
}

/* Tape memory for op-owned data (64-byte aligned), or NULL with a tape
 * error. Freed by ag_tape_reset. */
void *ag__tape_alloc(ag_tape *t, size_t bytes, const char *op);

/* ag__tape_alloc of count items of elsize bytes, the product checked. */
void *ag__tape_alloc_array(ag_tape *t, int64_t count, size_t elsize, const char *op);

/* ag__tape_alloc without setting an error: the recorder reports its own,
 * naming the shape, through ag__tape_fail_memory. */
void *ag__tape_data(ag_tape *t, size_t bytes);

/* Sets AG_ERR_MEMORY for a failed request of `bytes` (for `what`, when not
 * NULL): over the cap, or out of memory. */
void ag__tape_fail_memory(ag_tape *t, const char *op, size_t bytes, const char *what);
/* Memory from the C heap within the cap, counted as reserved: `bytes`
 * aligned to `bytes` (a power of two), or NULL. */
void *ag__tape_aligned(ag_tape *t, size_t bytes);

/* Grows *p (an array of *cap elements of elsize bytes, on the C heap) to
 * at least `need` elements, doubling from min_cap, within the cap. False
 * when the cap or malloc refuses (nothing changed). */
bool ag__tape_grow(ag_tape *t, void **p, size_t *cap, size_t need, size_t elsize, size_t min_cap);

/* A point on the tape to go back to: what is recorded after the mark is
 * dropped by the rewind (memory is kept). For temporary nodes. */
typedef struct ag_tape_mark {
    size_t nnodes, cur_off, arena_bytes;
    ag_tensor *next, *end;
    ag_chunk *cur;
} ag_tape_mark;
void ag__tape_mark(const ag_tape *t, ag_tape_mark *m);
void ag__tape_rewind(ag_tape *t, const ag_tape_mark *m);

/* Runs fn(arg) once, when the tape next drops its recording (ag_tape_reset
 * or ag_tape_free), newest first. False (nothing registered, no error set)
 * at the memory cap. */
bool ag__tape_on_reset(ag_tape *t, void (*fn)(void *arg), void *arg);

/* A node outside the node list (no-grad mode), in the data arena. */
ag_tensor *ag__tape_loose_node(ag_tape *t);

/* Whether x may be an operand of an op on tape t: a statement of t's
 * scalar tape, a parameter (on no tape), a node of t's node list, or a node
 * t made in no-grad mode since its last reset (found in its arena: slower,
 * and rare). */
bool ag__tape_owns_loose(const ag_tape *t, const ag_tensor *x);
static inline bool ag__tape_owns(const ag_tape *t, const ag_tensor *x) {
    if (ag__is_stmt(x)) return ag__stmt_tape(x) == t; /* a scalar statement: its block's head */
    if (x->flags & AG_F_PARAM) return true;
    if (x->flags & AG_F_ON_TAPE) return ag__region_head(x)->tape == t;
    return ag__tape_owns_loose(t, x);
}

/* The tape error for operand i (0-based) of `op` that t does not own:
 * recorded on another tape, or (debug mode) before t's last reset. n and
 * xs are all the operands, for the message. Returns AG_ERR_STATE. */
ag_status ag__tape_foreign(ag_tape *t, const char *op, int i, int n, ag_tensor *const *xs);

/* Small tape memory (8-byte aligned): exts, input lists, names. NULL at
 * the memory cap, without setting an error. */
void *ag__tape_small(ag_tape *t, size_t bytes);

/* Notes that the tape recorded parameter p, with its version, once per
 * reset: ag_backward compares the versions to detect writes in between.
 * False when out of memory. */
bool ag__tape_note_param(ag_tape *t, ag_tensor *p);

/* A backward (numeric or recorded, ag_grad, the trace) writes the gradient
 * and marks of every parameter it reaches; tapes of other threads may have
 * recorded the same parameters. Before it starts it takes each parameter
 * the tape noted for the calling thread (ext->writer), and gives them back
 * when done: a backward of another thread that reaches one of them in the
 * meantime fails with AG_ERR_STATE instead of racing, and calls that do
 * not overlap are ordered (acquire/release), so none loses an update. */
ag_status ag__tape_lock_params(ag_tape *t, const char *op);
void ag__tape_unlock_params(ag_tape *t);

#endif /* TAPEGRAD_CORE_TAPE_H */
