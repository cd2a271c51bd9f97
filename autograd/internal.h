/* Internal layout of tapegrad: the node, the tape, the op table and the
 * helpers every op family uses. Not installed. */
#ifndef TAPEGRAD_INTERNAL_H
#define TAPEGRAD_INTERNAL_H

#include "autograd.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ invariants */

void ag__assert_fail(const char *file, int line, const char *expr);
#define AG_ASSERT(cond)                                                      \
    do {                                                                     \
        if (!(cond)) ag__assert_fail(__FILE__, __LINE__, #cond);             \
    } while (0)

/* Inlining hints for the scalar hot paths: AG_NOINLINE keeps a small
 * kernel out of a big one (whose prologue, saved registers and stack for
 * broadcast state, it would otherwise pay); AG_ALWAYS_INLINE keeps the node
 * push inside each recorder, where GCC's heuristics stopped putting it. */
#if defined(__GNUC__)
#define AG_NOINLINE __attribute__((noinline))
#define AG_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define AG_NOINLINE
#define AG_ALWAYS_INLINE inline
#endif

/* Software prefetch of tape memory (the node list is far larger than the
 * caches, and the hardware's stream prefetch alone left the sweep and the
 * recorders waiting on memory). p may point past the node list: a prefetch
 * never faults. */
#if defined(__GNUC__)
#define AG_PREFETCH(p, w) __builtin_prefetch((const void *)(uintptr_t)(p), w)
#else
#define AG_PREFETCH(p, w) ((void)0)
#endif
#ifndef AG_RECORD_PREFETCH
#define AG_RECORD_PREFETCH 2048 /* bytes ahead of the next node slot */
#endif

/* ------------------------------------------------------------------ ops */

/* Every op has a name here; AG_OP_LIST expands X(NAME) for each. The op
 * table in op_table.c has one row per entry, pinned by a static assert.
 * Each family lists its own ops in its .def file. */
#define AG_OP_LIST(X)                                                        \
    X(LEAF)                                                                  \
    AG_OPS_ELEMENTWISE(X)                                                    \
    AG_OPS_UNARY(X)                                                          \
    AG_OPS_REDUCE(X)                                                         \
    AG_OPS_LINALG(X)                                                         \
    AG_OPS_SHAPE(X)                                                          \
    AG_OPS_SOFTMAX(X)

#include "ops_elementwise.def"
#include "ops_unary.def"
#include "ops_reduce.def"
#include "ops_linalg.def"
#include "ops_shape.def"
#include "ops_softmax.def"

typedef enum ag_op {
#define AG_X_ENUM(name) AG_OP_##name,
    AG_OP_LIST(AG_X_ENUM)
#undef AG_X_ENUM
    AG_OP_COUNT
} ag_op;

/* ----------------------------------------------------------------- node */

enum {
    AG_F_REQUIRES_GRAD = 1u << 0, /* gradient flows into this node */
    AG_F_LEAF = 1u << 1,          /* no inputs; its gradient accumulates */
    AG_F_PARAM = 1u << 2,         /* malloc'd parameter, off the tape */
    AG_F_WANTED = 1u << 3,        /* temporary: requested by ag_grad */
    AG_F_ON_TAPE = 1u << 4,       /* recorded on the tape's node list */
};

/* Per-op attribute stored inline: a constant (x*c), or an axis and a flag. */
typedef union ag_attr {
    double c;
    struct {
        int32_t axis;
        int32_t flag; /* keepdims, ddof, ... */
    } r;
    int64_t i;
} ag_attr;

/* What a tensor (ndim >= 1), a named scalar or a parameter needs beyond the
 * node: its shape, name, extra inputs and op-owned data. Lives right after
 * the node's data on the tape (or in the parameter's malloc block). */
typedef struct ag_ext {
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    const char *name;
    struct ag_node **xin; /* inputs beyond in[0], in[1] */
    int nxin;
    int64_t iattr[AG_MAX_DIMS + 2]; /* op-owned integers: axes, bounds */
    double dattr[2];                /* op-owned doubles: clamp bounds */
    void *aux;                      /* op-owned memory on the tape (indices) */
    uint32_t version;               /* parameters: writes through ag_data_mut */
    uint32_t seen_gen;              /* parameters: tape generation last seen */
    uint32_t seen_version;          /* parameters: version when first recorded */
    struct ag_node *graph_grad;     /* leaves: gradient of the last create_graph backward */
    uint32_t graph_grad_gen;        /* tape generation graph_grad belongs to */
} ag_ext;

/* A node: 56 bytes, stored in the tape's node list. A scalar (ndim 0) keeps
 * its value and gradient inline (an f32 scalar in the first 4 bytes of each
 * slot); a tensor points at its data in the tape's data arena. */
struct ag_node {
    uint8_t op;
    uint8_t dtype;
    uint8_t ndim;
    uint8_t flags;
    uint32_t epoch;          /* sweep that last wrote this node's gradient */
    struct ag_node *in[2];   /* inputs (more in ext->xin) */
    ag_attr attr;
    ag_ext *ext;             /* NULL for an unnamed scalar */
    union {
        struct { double val, grad; } s; /* ndim == 0 */
        struct { void *val, *grad; } t; /* ndim >= 1 */
    } d;
};

static inline void *ag__val(ag_tensor *n) {
    return n->ndim ? n->d.t.val : (void *)&n->d.s.val;
}
static inline void *ag__grad(ag_tensor *n) {
    return n->ndim ? n->d.t.grad : (void *)&n->d.s.grad;
}
static inline int64_t ag__numel(const ag_tensor *n) {
    return n->ndim ? n->ext->numel : 1;
}
static inline const int64_t *ag__shape(const ag_tensor *n) {
    return n->ndim ? n->ext->shape : NULL;
}
static inline size_t ag__elsize(int dtype) { return dtype == AG_F32 ? 4 : 8; }
static inline int ag__ninputs(const ag_tensor *n);
static inline ag_tensor *ag__input(const ag_tensor *n, int i) {
    return i < 2 ? n->in[i] : n->ext->xin[i - 2];
}
static inline bool ag__requires_grad(const ag_tensor *n) {
    return n && (n->flags & AG_F_REQUIRES_GRAD);
}

/* A 0-d node's value and gradient as doubles, given its dtype dt (callers
 * branch on the dtype once and pass a constant). An f32 scalar lives in the
 * first 4 bytes of its slot. */
static inline double ag__scalar_get(const ag_tensor *x, int dt) {
    if (dt == AG_F64) return x->d.s.val;
    float f;
    memcpy(&f, &x->d.s.val, sizeof f);
    return (double)f;
}
static inline double ag__scalar_grad(const ag_tensor *x, int dt) {
    if (dt == AG_F64) return x->d.s.grad;
    float f;
    memcpy(&f, &x->d.s.grad, sizeof f);
    return (double)f;
}
static inline void ag__scalar_set(ag_tensor *n, int dt, double v) {
    if (dt == AG_F64) {
        n->d.s.val = v;
    } else {
        float f = (float)v;
        n->d.s.val = 0.0; /* the other 4 bytes as the generic path's memset */
        memcpy(&n->d.s.val, &f, sizeof f);
    }
}

/* ---------------------------------------------------------------- sweep */

typedef struct ag_sweep {
    ag_tape *tape;
    uint32_t epoch;
    bool functional; /* ag_grad: only AG_F_WANTED leaves receive gradients */
} ag_sweep;

/* Forward kernel: computes n's value from its inputs and attributes. */
typedef void (*ag_forward_fn)(ag_tensor *n);
/* Backward rule: n's gradient (ag__grad(n)) holds the upstream gradient;
 * add each input's share into ag__grad_acc(s, input). */
typedef void (*ag_backward_fn)(ag_sweep *s, ag_tensor *n);

/* Backward rule as recorded graph ops (create_graph): given g, a node of
 * n's shape holding the upstream gradient, records ops computing each
 * input's share and stores it in gin[i] (NULL where input i needs none).
 * A share may have the broadcast output's shape: the sweep sums it back to
 * the input's shape (ag__sum_to). Returns false with the tape error set. */
typedef bool (*ag_vjp_fn)(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin);

/* One row of the op table. The numeric backward is what ag_backward runs:
 * kernels only, no node allocation. The vjp is the same rule written with
 * ops, used only when the caller asks to record the backward pass. */
typedef struct ag_op_info {
    const char *name;      /* "mul" */
    int arity;             /* inputs; -1 when variable (concat, stack) */
    ag_forward_fn forward;
    ag_backward_fn backward;
    const char *local_grad; /* the local partial for traces, e.g. "d(a*b)/da = b" */
    ag_vjp_fn vjp;         /* backward as graph ops (second order) */
} ag_op_info;

/* Fails (AG_ERR_STATE) if a parameter was written after being recorded. */
ag_status ag__check_versions(ag_tape *t);

/* Validates ag_grad's arguments: the output and seed (ag__check_output),
 * n >= 0, and no NULL among the arrays and inputs. */
ag_status ag__check_grad_args(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n,
                              ag_tensor *const *xs, ag_tensor **grads);

/* Starts a numeric sweep: checks the tape's error and parameter versions,
 * then takes a new epoch (so every intermediate gradient starts at zero). */
ag_status ag__sweep_begin(ag_tape *t, ag_sweep *s, bool functional);

/* Adds the seed (NULL = ones) into y's gradient; false when y needs none. */
bool ag__sweep_seed(ag_sweep *s, ag_tensor *y, ag_tensor *seed);

/* Validates a backward's output and seed: y recorded, seed of y's shape and
 * dtype, and a scalar y unless a seed is given (when the flag is set). */
ag_status ag__check_output(ag_tape *t, const char *op, ag_tensor *y, ag_tensor *seed,
                           bool need_seed_if_not_scalar);

/* Sums a gradient share c (of a broadcast shape) back to x's shape. */
ag_tensor *ag__sum_to(ag_tape *t, ag_tensor *c, const ag_tensor *x);

/* A constant tensor of x's shape and dtype with f(x_i, c) at element i:
 * the masks and sign factors of piecewise derivatives (relu, abs, max). */
ag_tensor *ag__const_map(ag_tape *t, ag_tensor *x, double (*f)(double x, double c), double c);

/* g reshaped from a reduction's output shape to keepdims form, so it
 * broadcasts against the reduction's input x (axis as in attr.r.axis). */
ag_tensor *ag__unreduce(ag_tape *t, ag_tensor *g, const ag_tensor *x, int axis);

extern const ag_op_info *const ag__ops[AG_OP_COUNT];

static inline int ag__ninputs(const ag_tensor *n) {
    int a = ag__ops[n->op]->arity;
    if (a >= 0) return a;
    return n->in[1] ? 2 + n->ext->nxin : (n->in[0] ? 1 : 0);
}

/* Whether input `in` takes a gradient in sweep s: it requires one, and in a
 * functional sweep (ag_grad) a leaf only when it was asked for. */
static inline bool ag__grad_wanted(const ag_sweep *s, const ag_tensor *in) {
    if (!(in->flags & AG_F_REQUIRES_GRAD)) return false;
    return !((in->flags & AG_F_LEAF) && s->functional && !(in->flags & AG_F_WANTED));
}

/* Like ag__grad_acc but without zeroing: *fresh says whether the buffer
 * holds garbage (so the kernel must overwrite, e.g. beta = 0 in a GEMM)
 * rather than a gradient to add to. Inline: the sweep calls it per input. */
static inline void *ag__grad_dst(ag_sweep *s, ag_tensor *in, bool *fresh) {
    if (!ag__grad_wanted(s, in)) return NULL;
    if (in->epoch == s->epoch) {
        *fresh = false;
    } else {
        in->epoch = s->epoch;
        /* Leaves accumulate across calls; ag_grad zeroes its wanted leaves. */
        *fresh = !(in->flags & AG_F_LEAF);
    }
    return ag__grad(in);
}

/* Where the gradient for input `in` goes during sweep s, or NULL if it needs
 * none. The first write of a sweep zeroes an intermediate's buffer (so
 * nothing leaks between backward calls); leaves accumulate. The caller adds
 * into the returned buffer. */
static inline void *ag__grad_acc(ag_sweep *s, ag_tensor *in) {
    bool fresh;
    void *g = ag__grad_dst(s, in, &fresh);
    if (g && fresh) memset(g, 0, (size_t)ag__numel(in) * ag__elsize(in->dtype));
    return g;
}

/* ag__grad_acc and `+= v` in one, for a 0-d input of dtype dt that
 * ag__grad_wanted, in doubles: the scalar backward kernels' accumulation.
 * Same arithmetic as the tensor kernels: a fresh gradient is 0 + v, and an
 * f32 one adds in float. */
static inline void ag__scalar_acc(const ag_sweep *s, ag_tensor *in, int dt, double v) {
    bool fresh = in->epoch != s->epoch && !(in->flags & AG_F_LEAF);
    in->epoch = s->epoch;
    if (dt == AG_F64) {
        in->d.s.grad = (fresh ? 0.0 : in->d.s.grad) + v;
    } else {
        float f = 0.0f;
        if (!fresh) memcpy(&f, &in->d.s.grad, sizeof f);
        f += (float)v;
        memcpy(&in->d.s.grad, &f, sizeof f);
    }
}

/* ------------------------------------------------------------- recording */

/* Sets the sticky error (if none is set yet): "op: message". Returns NULL so
 * ops can `return ag__fail(...)`. */
ag_tensor *ag__fail(ag_tape *t, ag_status code, const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Fails with AG_ERR_NULL when t or any of the n inputs is NULL (an input
 * that is NULL after an earlier failure keeps the first error), and with
 * AG_ERR_DTYPE when the inputs' dtypes differ. Returns true when fine. */
bool ag__check_inputs(ag_tape *t, const char *op, int n, ag_tensor *const *xs);

/* Allocates and links a new node for `op` with the given inputs and output
 * shape, marks it as requiring a gradient when an input does (and grad mode
 * is on), and allocates its value (and gradient) storage. Does not run the
 * forward kernel. Returns NULL (tape error set) on memory cap. */
ag_tensor *ag__node(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                    const int64_t *shape, ag_tensor *in0, ag_tensor *in1);

/* Same, for ops with more than two inputs. */
ag_tensor *ag__node_n(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                      const int64_t *shape, int n, ag_tensor *const *xs);

/* Records a node and runs its forward kernel: what most ops do. */
static inline ag_tensor *ag__record(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                                    const int64_t *shape, ag_tensor *in0,
                                    ag_tensor *in1, ag_attr attr) {
    ag_tensor *n = ag__node(t, op, dtype, ndim, shape, in0, in1);
    if (!n) return NULL;
    n->attr = attr;
    ag__ops[op]->forward(n);
    return n;
}

/* Tape memory for op-owned data (64-byte aligned), or NULL with a tape
 * error. Freed by ag_tape_reset. */
void *ag__alloc(ag_tape *t, size_t bytes, const char *op);

/* Ensures the node has an ext (allocating one on the tape for a scalar). */
ag_ext *ag__ext(ag_tape *t, ag_tensor *n);

/* Normalises a possibly negative axis for ndim dimensions; -1 if invalid. */
int ag__axis(int axis, int ndim);

/* Formats an operand for an error message: its shape and, when it has one,
 * its name: "[3, 4] 'w1'". */
char *ag__fmt_operand(char *buf, size_t size, const ag_tensor *x);

/* Formats a shape as "[3, 4]" into buf. */
char *ag__fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape);

/* Sets the thread's last error (tape-less functions). */
void ag__set_last_error(const char *fmt, ...);

/* Numbers the shape's elements: product of dims (0 if ndim is 0 → 1). */
static inline int64_t ag__shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Loads/stores element i of a buffer of the given dtype as a double. */
static inline double ag__ld(const void *p, int dtype, int64_t i) {
    return dtype == AG_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static inline void ag__st(void *p, int dtype, int64_t i, double v) {
    if (dtype == AG_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* ------------------------------------------------------- axis views */

/* A tensor viewed as (outer, len, inner) around one axis: element k of the
 * slot (o, i) is at (o * len + k) * inner + i. Reductions and softmax walk
 * their axis this way; axis AG_ALL is outer = inner = 1. */
typedef struct ag_view3 {
    int64_t outer, len, inner;
} ag_view3;

static inline ag_view3 ag__axis_view(const ag_tensor *x, int axis) {
    ag_view3 v = {1, x->ndim ? x->ext->numel : 1, 1};
    if (axis == AG_ALL) return v;
    const int64_t *s = x->ext->shape;
    v.len = s[axis];
    for (int i = 0; i < axis; i++) v.outer *= s[i];
    for (int i = axis + 1; i < x->ndim; i++) v.inner *= s[i];
    return v;
}

/* Runs the statement for each slot of view v: `j` is the slot's index in
 * the reduced output (o * inner + i), `b` the offset of its first element;
 * its elements are at b + k * v.inner. */
#define AG_FOR_SLOTS(v, j, b, ...)                                           \
    for (int64_t o_ = 0, j = 0; o_ < (v).outer; o_++)                        \
        for (int64_t i_ = 0; i_ < (v).inner; i_++, j++) {                    \
            const int64_t b = o_ * (v).len * (v).inner + i_;                 \
            __VA_ARGS__;                                                     \
        }

/* ------------------------------------------------------------ broadcast */

/* Up to three operands aligned against one output shape. Strides are in
 * elements; a broadcast dimension has stride 0. Dimensions are collapsed
 * where possible so the inner loop is long. */
typedef struct ag_bcast {
    int nd;                        /* >= 1 */
    int64_t shape[AG_MAX_DIMS];
    int64_t st[3][AG_MAX_DIMS];
} ag_bcast;

/* Result shape of broadcasting a and b; false when incompatible. */
bool ag__broadcast_shape(int nda, const int64_t *sa, int ndb, const int64_t *sb,
                         int *nd, int64_t *shape);

/* Prepares iteration of `nops` operands (shapes nds[i], shapes[i]) against
 * the output shape (out_nd, out_shape). */
void ag__bcast_init(ag_bcast *bc, int out_nd, const int64_t *out_shape, int nops,
                    const int *nds, const int64_t *const *shapes);

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
            for (int d_ = nd_ - 2; d_ >= 0; d_--) {                          \
                for (int k_ = 0; k_ < 3; k_++) off[k_] += (bc).st[k_][d_];   \
                if (++idx_[d_] < (bc).shape[d_]) break;                      \
                for (int k_ = 0; k_ < 3; k_++)                               \
                    off[k_] -= (bc).st[k_][d_] * (bc).shape[d_];             \
                idx_[d_] = 0;                                                \
            }                                                                \
        }                                                                    \
    } while (0)

/* ----------------------------------------------------------------- tape */

#define AG_NODE_BLOCK_SHIFT 14
#define AG_NODE_BLOCK ((size_t)1 << AG_NODE_BLOCK_SHIFT) /* nodes per block */

typedef struct ag_chunk {
    struct ag_chunk *next;
    size_t size;
    size_t pad_; /* keeps data 16-aligned; allocations align themselves to 64 */
    unsigned char data[];
} ag_chunk;

typedef struct ag_param_use {
    ag_tensor *param;
    uint32_t version;
} ag_param_use;

struct ag_tape {
    /* The node list: fixed-size blocks, so a reverse walk is two loops. */
    ag_tensor **blocks;
    bool *block_tail;     /* block i is the second of a huge-page pair (tape.c) */
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
    uint32_t epoch;       /* last sweep's number */
    uint32_t gen;         /* unique per reset, to note parameter uses once */
    ag_param_use *uses;   /* parameters recorded since reset, with versions */
    size_t nuses, cap_uses;
    ag_status err;
    char msg[512];
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

/* ------------------------------------------------------ scalar fast path */

/* Scalar programs record millions of 0-d nodes, so the common case skips
 * the generic recorder (ag__node_n: shape checks, broadcasting, ext, the
 * parameter scan, a memset of the node). It applies when grad mode is on,
 * no error is set, and every input is a 0-d node of the node's dtype that
 * is not a parameter, or a parameter the tape has already noted since its
 * last reset (so the version check of backward knows it: its first use
 * takes the generic path, which notes it); the caller checks that. The node it writes is exactly what
 * ag__node_n writes for the same op and inputs (every field, ext NULL,
 * epoch 0, gradient slot 0), so the sweeps cannot tell them apart. */

/* Whether x can be an input of a fast-path scalar node on tape t. */
static inline bool ag__scalar_input(const ag_tape *t, const ag_tensor *x) {
    return x && x->ndim == 0 && (!(x->flags & AG_F_PARAM) || x->ext->seen_gen == t->gen);
}
static inline bool ag__scalar_tape(const ag_tape *t) {
    return t && t->err == AG_OK && t->no_grad == 0;
}

/* Pushes a 0-d node with the given fields (value unset), or NULL when the
 * tape needs a new block and the memory cap forbids it: the caller then
 * takes the generic path, which reports the error. */
static AG_ALWAYS_INLINE ag_tensor *ag__scalar_push(ag_tape *t, ag_op op, int dtype, bool requires,
                                                   ag_tensor *in0, ag_tensor *in1, ag_attr attr) {
    ag_tensor *n = t->next;
    if (n != t->end) { /* ag__tape_push, without a NULL check on the fast side */
        t->next = n + 1;
        t->nnodes++;
    } else if (!(n = ag__tape_push_slow(t))) {
        return NULL;
    }
    AG_PREFETCH((const char *)n + AG_RECORD_PREFETCH, 1);
    n->op = (uint8_t)op;
    n->dtype = (uint8_t)dtype;
    n->ndim = 0;
    n->flags = (uint8_t)((requires ? AG_F_REQUIRES_GRAD : 0) | AG_F_ON_TAPE |
                         (op == AG_OP_LEAF ? AG_F_LEAF : 0));
    n->epoch = 0;
    n->in[0] = in0;
    n->in[1] = in1;
    n->attr = attr;
    n->ext = NULL;
    n->d.s.grad = 0.0;
    return n;
}

#endif /* TAPEGRAD_INTERNAL_H */
