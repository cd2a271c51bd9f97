/* The node: one type for scalars (0-d, value and gradient inline) and
 * tensors (data in the tape's arena), its flags, attributes and the
 * accessors every file uses. Not installed. */
#ifndef TAPEGRAD_CORE_NODE_H
#define TAPEGRAD_CORE_NODE_H

#include <tapegrad/autograd.h>

#include <math.h>
#include <stdatomic.h>
#include <string.h>

enum {
    AG_F_REQUIRES_GRAD = 1u << 0, /* gradient flows into this node */
    AG_F_LEAF = 1u << 1,          /* no inputs; its gradient accumulates */
    AG_F_PARAM = 1u << 2,         /* malloc'd parameter, off the tape */
    AG_F_WANTED = 1u << 3,        /* temporary: requested by ag_grad (tape leaves; see ag__wanted) */
    AG_F_ON_TAPE = 1u << 4,       /* recorded on the tape's node list */
    AG_F_VIEW = 1u << 5,          /* values are in[0]'s storage (reshape): not a copy */
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
    /* Parameters: the generation of the tape that last noted it. Tapes of
     * several threads may record one parameter at once, so it is atomic
     * (relaxed: a plain load or store on common CPUs). */
    _Atomic uint32_t seen_gen;
    struct ag_node *graph_grad;     /* leaves: gradient of the last create_graph backward */
    uint32_t graph_grad_gen;        /* tape generation graph_grad belongs to */
    bool wanted;                    /* parameters: asked for by the running ag_grad */
    /* Parameters: the thread whose backward is writing its gradient (0:
     * none); see ag__tape_lock_params. */
    _Atomic uint64_t writer;
    /* Parameters, 0-d leaves: their leaf statement (core/stmt.h) on the tape
     * of generation stmt_gen. Tapes of other threads may import a shared
     * parameter at once: both are atomic (relaxed), and a reader checks the
     * statement's tape, so a mixed pair is only a second import. */
    _Atomic(struct ag_node *) stmt;
    _Atomic uint32_t stmt_gen;
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
static inline ag_tensor *ag__input(const ag_tensor *n, int i) {
    return i < 2 ? n->in[i] : n->ext->xin[i - 2];
}
static inline bool ag__requires_grad(const ag_tensor *n) {
    return n && (n->flags & AG_F_REQUIRES_GRAD);
}

/* Whether leaf x is asked for by the running ag_grad. A parameter keeps the
 * mark in its ext: its flags are read by every recorder, in any thread, so
 * a sweep must not write them. */
static inline bool ag__wanted(const ag_tensor *x) {
    return (x->flags & AG_F_PARAM) ? x->ext->wanted : (x->flags & AG_F_WANTED);
}
static inline void ag__set_wanted(ag_tensor *x, bool on) {
    if (x->flags & AG_F_PARAM) x->ext->wanted = on;
    else x->flags = (uint8_t)(on ? x->flags | AG_F_WANTED : x->flags & ~AG_F_WANTED);
}

/* Loads/stores element i of a buffer of the given dtype as a double. */
static inline double ag__ld(const void *p, int dtype, int64_t i) {
    return dtype == AG_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static inline void ag__st(void *p, int dtype, int64_t i, double v) {
    if (dtype == AG_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

#endif /* TAPEGRAD_CORE_NODE_H */
