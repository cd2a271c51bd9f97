/* Recording a node: input checks, storage, flags, and small shared helpers. */
#include "error.h"
#include "hints.h"
#include "node.h"
#include "op.h"
#include "record.h"
#include "shape.h"
#include "tape.h"
#include "scalar_path.h"

#include <stdarg.h>
#include <stdio.h>

/* Zeroes an ext in 64-byte pieces of constant size, which compilers expand
 * as a few vector stores; one memset of the whole ext (over 200 bytes)
 * becomes `rep stos` on x86-64, whose startup cost was half of recording a
 * small tensor node. */
static void zero_ext(ag_ext *ext) {
    unsigned char *p = (unsigned char *)ext;
    enum { SIZE = sizeof *ext, PIECE = 64 };
    _Static_assert(SIZE <= 6 * PIECE, "zero_ext: add pieces");
#define AG_ZERO_PIECE(off) \
    if ((off) < SIZE) memset(p + (off), 0, SIZE - (off) < PIECE ? SIZE - (off) : PIECE)
    AG_ZERO_PIECE(0 * PIECE);
    AG_ZERO_PIECE(1 * PIECE);
    AG_ZERO_PIECE(2 * PIECE);
    AG_ZERO_PIECE(3 * PIECE);
    AG_ZERO_PIECE(4 * PIECE);
    AG_ZERO_PIECE(5 * PIECE);
#undef AG_ZERO_PIECE
}

bool ag__record_check_inputs(ag_tape *t, const char *op, int n, ag_tensor *const *xs) {
    if (!t) return false;
    if (t->err != AG_OK) return false; /* sticky: fail once, at the first mistake */
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            ag__error_fail(t, AG_ERR_NULL, op, "operand %d is NULL", i + 1);
            return false;
        }
    }
    /* A tensor of another tape would make this tape's backward write that
     * tape's gradients, and read freed memory once it is freed. */
    for (int i = 0; i < n; i++) {
        if (!ag__tape_owns(t, xs[i])) {
            ag__tape_foreign(t, op, i, n, xs);
            return false;
        }
    }
    for (int i = 1; i < n; i++) {
        if (ag_dtype_of(xs[i]) != ag_dtype_of(xs[0])) {
            char a[128], b[128];
            ag__error_fail(t, AG_ERR_DTYPE, op, "operands have dtypes %s%s and %s%s",
                     ag_dtype_name(ag_dtype_of(xs[0])),
                     ag__error_fmt_operand(a, sizeof a, xs[0]),
                     ag_dtype_name(ag_dtype_of(xs[i])),
                     ag__error_fmt_operand(b, sizeof b, xs[i]));
            return false;
        }
    }
    return true;
}

/* The error for a shape ag__shape_check refused (out of line: rare). */
static AG_NOINLINE void bad_shape(ag_tape *t, const char *name, ag_dtype dtype, int ndim,
                                  const int64_t *shape, const char *why) {
    char ss[AG_MAX_DIMS * 21 + 4];
    ag__error_fail(t, AG_ERR_SHAPE, name, "shape %s (%s) %s", ag_format_shape(ss, sizeof ss, ndim, shape),
                   ag_dtype_name(dtype), why);
}

/* The error for memory the recorder could not get: `bytes` for a node (or
 * its data) of the given shape. Out of line: rare. */
static AG_NOINLINE void no_memory(ag_tape *t, const char *name, ag_dtype dtype, int ndim,
                                  const int64_t *shape, size_t bytes, const char *what) {
    char ss[AG_MAX_DIMS * 21 + 4], w[AG_MAX_DIMS * 21 + 40];
    snprintf(w, sizeof w, "%s %s (%s)", what, ag_format_shape(ss, sizeof ss, ndim, shape),
             ag_dtype_name(dtype));
    ag__tape_fail_memory(t, name, bytes, w);
}

bool ag__record_check_shape(ag_tape *t, const char *name, ag_dtype dtype, int ndim,
                            const int64_t *shape, int64_t *numel, size_t *bytes) {
    const char *bad = ag__shape_check(ndim, shape, ag__elsize(dtype), numel, bytes);
    if (bad) bad_shape(t, name, dtype, ndim, shape, bad);
    return !bad;
}

ag_tensor *ag__record_node_n(ag_tape *t, ag_op op, ag_dtype dtype, int ndim,
                      const int64_t *shape, int n, ag_tensor *const *xs) {
    return ag__record_node_as(t, ag__ops[op]->name, op, dtype, ndim, shape, n, xs);
}

/* The node, with storage of its own, or (view) with xs[0]'s values. */
static AG_ALWAYS_INLINE ag_tensor *record_node(ag_tape *t, const char *name, ag_op op, ag_dtype dtype,
                                               int ndim, const int64_t *shape, int n,
                                               ag_tensor *const *xs, bool view) {
    if (ndim < 0 || ndim > AG_MAX_DIMS)
        return ag__error_fail(t, AG_ERR_SHAPE, name, "%d dimensions (at most %d)", ndim, AG_MAX_DIMS);
    if (dtype != AG_F32 && dtype != AG_F64)
        return ag__error_fail(t, AG_ERR_DTYPE, name, "unknown dtype %d", (int)dtype);
    /* The one size check of every tensor: numel and bytes without overflow. */
    size_t bytes;
    int64_t numel;
    const char *bad = ag__shape_check(ndim, shape, ag__elsize(dtype), &numel, &bytes);
    if (bad) return bad_shape(t, name, dtype, ndim, shape, bad), NULL;
    bool recording = t->no_grad == 0;
    bool requires = false;
    for (int i = 0; i < n && recording; i++) requires |= ag__requires_grad(xs[i]);

    ag_tensor *node = recording ? ag__tape_push(t) : ag__tape_loose_node(t);
    if (!node) return no_memory(t, name, dtype, ndim, shape, recording ? AG_REGION : sizeof *node, "a node of shape"), NULL;
    memset(node, 0, sizeof *node);
    node->op = (uint8_t)op;
    node->dtype = (uint8_t)dtype;
    node->ndim = (uint8_t)ndim;
    node->flags = (uint8_t)((requires ? AG_F_REQUIRES_GRAD : 0) | (recording ? AG_F_ON_TAPE : 0) |
                            (op == AG_OP_LEAF ? AG_F_LEAF : 0) | (view ? AG_F_VIEW : 0));
    /* Inputs are linked even in no-grad mode: the forward kernel reads them.
     * Such a node is off the node list and needs no gradient, so no sweep
     * ever follows the links. */
    node->in[0] = n > 0 ? xs[0] : NULL;
    node->in[1] = n > 1 ? xs[1] : NULL;
    if (ndim > 0 || n > 2) {
        ag_ext *ext = ag__tape_small(t, sizeof *ext);
        void *val = !ext ? NULL : view ? xs[0]->d.t.val : ag__tape_data(t, bytes);
        void *grad = (val && requires) ? ag__tape_data(t, bytes) : NULL;
        if (!ext || !val || (requires && !grad))
            return no_memory(t, name, dtype, ndim, shape, ext ? bytes : sizeof *ext, "shape"), NULL;
        zero_ext(ext);
        for (int i = 0; i < ndim; i++) ext->shape[i] = shape[i];
        ext->numel = numel;
        node->ext = ext;
        if (ndim > 0) {
            node->d.t.val = val;
            node->d.t.grad = grad;
        }
        if (n > 2) {
            ext->xin = ag__tape_small(t, (size_t)(n - 2) * sizeof *ext->xin);
            if (!ext->xin) return ag__error_fail(t, AG_ERR_MEMORY, name, "tape memory cap reached");
            for (int i = 2; i < n; i++) ext->xin[i - 2] = xs[i];
            ext->nxin = n - 2;
        }
    }
    for (int i = 0; i < n && recording; i++) {
        if ((xs[i]->flags & AG_F_PARAM) && !ag__tape_note_param(t, xs[i]))
            return ag__error_fail(t, AG_ERR_MEMORY, name, "out of memory noting a parameter");
    }
    return node;
}

ag_tensor *ag__record_node_as(ag_tape *t, const char *name, ag_op op, ag_dtype dtype, int ndim,
                              const int64_t *shape, int n, ag_tensor *const *xs) {
    return record_node(t, name, op, dtype, ndim, shape, n, xs, false);
}

ag_tensor *ag__record_view(ag_tape *t, ag_op op, ag_tensor *x, int ndim, const int64_t *shape) {
    return record_node(t, ag__ops[op]->name, op, (ag_dtype)x->dtype, ndim, shape, 1, &x, true);
}

ag_tensor *ag__record_node(ag_tape *t, ag_op op, ag_dtype dtype, int ndim, const int64_t *shape,
                    ag_tensor *in0, ag_tensor *in1) {
    ag_tensor *xs[2] = {in0, in1};
    return ag__record_node_n(t, op, dtype, ndim, shape, in1 ? 2 : (in0 ? 1 : 0), xs);
}

ag_ext *ag__record_ext(ag_tape *t, ag_tensor *n) {
    if (n->ext) return n->ext;
    ag_ext *ext = ag__tape_small(t, sizeof *ext);
    if (!ext) {
        ag__error_fail(t, AG_ERR_MEMORY, "name", "tape memory cap reached");
        return NULL;
    }
    zero_ext(ext);
    ext->numel = 1;
    n->ext = ext;
    return ext;
}

