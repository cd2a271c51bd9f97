/* Custom ops (<tapegrad/custom_op.h>): one op row, CUSTOM, whose behaviour
 * comes from each node's description. A custom node's ext->aux holds a
 * custom_node whose first member is a per-node ag_op_info (name, arity,
 * local_grad and vjp from the description), which ag__op_of returns, so
 * errors, traces and DOT name the user's op; the row's backward and the
 * per-node vjp call the user's callbacks on the node's buffers. */
#include <tapegrad/custom_op.h>

#include "backward.h"
#include "error.h"
#include "node.h"
#include "op.h"
#include "record.h"
#include "stmt.h"
#include "tape.h"

#include <stdio.h>

typedef struct custom_node {
    ag_op_info info; /* first: ag__op_of casts ext->aux to it */
    const ag_custom_op *op;
    void *ctx;
} custom_node;

static custom_node *custom_of(const ag_tensor *n) { return n->ext->aux; }

/* The inputs of n and the call every callback gets. */
typedef struct call_frame {
    ag_tensor *in[AG_CUSTOM_MAX_INPUTS];
    char msg[256];
    ag_custom_call c;
} call_frame;

static void frame_init(call_frame *f, const ag_custom_op *op, void *ctx, int n,
                       ag_tensor *const *in, ag_tensor *out) {
    AG_ASSERT(n >= 1 && n <= AG_CUSTOM_MAX_INPUTS);
    for (int k = 0; k < n; k++) f->in[k] = in ? in[k] : ag__input(out, k);
    f->msg[0] = '\0';
    f->c = (ag_custom_call){op, ctx, (ag_dtype)f->in[0]->dtype, n, f->in, out, f->msg, sizeof f->msg};
}

/* "[2, 3] 'x', [3]": the operands of a call, for messages. */
static char *fmt_operands(char *buf, size_t size, const call_frame *f) {
    size_t off = 0;
    buf[0] = '\0';
    for (int k = 0; k < f->c.n && off < size; k++) {
        char one[96];
        int w = snprintf(buf + off, size - off, "%s%s", k ? ", " : "",
                         ag__error_fmt_operand(one, sizeof one, f->in[k]));
        if (w < 0) break;
        off += (size_t)w;
    }
    return buf;
}

/* A callback's failure (or misuse) as the tape's sticky error. */
static void fail_callback(ag_tape *t, const call_frame *f, const char *which, ag_status st) {
    char ops[384];
    f->c.msg[f->c.msg_size - 1] = '\0';
    ag__error_fail(t, st == AG_OK ? AG_ERR_ARG : st, f->c.op->name, "%s failed: %s (operands %s)", which,
                   f->c.msg[0] ? f->c.msg : ag_status_str(st), fmt_operands(ops, sizeof ops, f));
}

/* Callbacks other than backward_graph must leave the tape as it was. */
static bool recorded_nothing(ag_tape *t, const call_frame *f, const char *which, size_t before) {
    if (t->nnodes == before) return true;
    snprintf(f->c.msg, f->c.msg_size, "it recorded %zu node(s) on the tape; only backward_graph may "
             "record ops", t->nnodes - before);
    fail_callback(t, f, which, AG_ERR_STATE);
    return false;
}

/* ------------------------------------------------------------- the row */

/* Custom nodes run their forward in ag_custom, where the tape is at hand
 * for the callback's errors; nothing else calls a row's forward. */
static void fwd_custom(ag_tensor *n) {
    (void)n;
    AG_ASSERT(!"a custom op's forward runs in ag_custom");
}

/* The user's backward adds each input's share into its gradient buffer:
 * ag__sweep_acc hands over the buffer, zeroed on its first write of the
 * sweep, or NULL where no gradient is wanted. */
static void bwd_custom(ag_sweep *s, ag_tensor *n) {
    ag_tape *t = s->tape;
    if (t->err != AG_OK) return; /* an earlier rule failed: the sweep returns its error */
    custom_node *cn = custom_of(n);
    call_frame f;
    frame_init(&f, cn->op, cn->ctx, ag__op_ninputs(n), NULL, n);
    void *gin[AG_CUSTOM_MAX_INPUTS];
    for (int k = 0; k < f.c.n; k++) gin[k] = ag__sweep_acc(s, f.in[k]);
    size_t before = t->nnodes;
    ag_status st = cn->op->backward(&f.c, ag__grad(n), gin);
    if (st != AG_OK) fail_callback(t, &f, "backward", st);
    else recorded_nothing(t, &f, "backward", before);
}

/* Whether a share of shape gs can be summed back to x's shape (the graph
 * sweep's ag__vjp_sum_to): x's shape aligned at the end, 1 or equal. */
static bool sums_to(const ag_tensor *g, const ag_tensor *x) {
    if (g->dtype != x->dtype || g->ndim < x->ndim) return false;
    int lead = g->ndim - x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        int64_t xd = x->ext->shape[i], gd = g->ext->shape[lead + i];
        if (xd != gd && xd != 1) return false;
    }
    return true;
}

static bool vjp_custom(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    custom_node *cn = custom_of(n);
    call_frame f;
    frame_init(&f, cn->op, cn->ctx, ag__op_ninputs(n), NULL, n);
    ag_status st = cn->op->backward_graph(t, &f.c, g, gin);
    if (st == AG_OK && t->err != AG_OK) return false; /* an op inside it failed */
    if (st != AG_OK) {
        fail_callback(t, &f, "backward_graph", st);
        return false;
    }
    for (int k = 0; k < f.c.n; k++) {
        /* a rule on scalars records statements: the checks read nodes */
        if (gin[k] && !(gin[k] = ag__stmt_promote(t, gin[k]))) return false;
        if (!gin[k] || sums_to(gin[k], f.in[k])) continue;
        char a[96], b[96];
        snprintf(f.c.msg, f.c.msg_size, "it gave input %d a gradient %s %s for a %s %s input", k + 1,
                 gin[k]->dtype == AG_F32 ? "f32" : "f64",
                 ag_format_shape(a, sizeof a, gin[k]->ndim, ag__shape(gin[k])),
                 f.in[k]->dtype == AG_F32 ? "f32" : "f64", ag__error_fmt_operand(b, sizeof b, f.in[k]));
        fail_callback(t, &f, "backward_graph", AG_ERR_SHAPE);
        return false;
    }
    return true;
}

const ag_op_info ag__op_CUSTOM = {"custom", -1, fwd_custom, bwd_custom, "", NULL, NULL};

/* --------------------------------------------------------- recording */

/* Fails before the node exists: ctx is freed now, as the header says. */
static ag_tensor *refuse(ag_tape *t, const ag_custom_op *op, void *ctx, ag_status code,
                         const char *what) {
    if (op && op->destroy && ctx) op->destroy(ctx);
    if (t && code != AG_OK) ag__error_fail(t, code, op && op->name ? op->name : "custom", "%s", what);
    return NULL;
}

/* The output's shape: the shape rule's, checked, or input 0's. */
static bool output_shape(ag_tape *t, const call_frame *f, int *ndim, int64_t *shape) {
    const ag_custom_op *op = f->c.op;
    if (!op->shape) {
        *ndim = f->in[0]->ndim;
        for (int i = 0; i < *ndim; i++) shape[i] = f->in[0]->ext->shape[i];
        return true;
    }
    *ndim = -1;
    ag_status st = op->shape(&f->c, ndim, shape);
    if (st != AG_OK) {
        fail_callback(t, f, "shape", st);
        return false;
    }
    bool ok = *ndim >= 0 && *ndim <= AG_MAX_DIMS;
    for (int i = 0; ok && i < *ndim; i++) ok = shape[i] >= 0;
    if (!ok) {
        snprintf(f->c.msg, f->c.msg_size, "it gave %d dimensions%s (0 to %d, sizes >= 0)", *ndim,
                 *ndim >= 0 && *ndim <= AG_MAX_DIMS ? " with a negative size" : "", AG_MAX_DIMS);
        fail_callback(t, f, "shape", AG_ERR_SHAPE);
    }
    return ok;
}

ag_tensor *ag_custom(ag_tape *t, const ag_custom_op *op, void *ctx, int n, ag_tensor *const *inputs) {
    if (!t || (t->err != AG_OK)) return refuse(t, op, ctx, AG_OK, NULL); /* sticky: keep the first */
    if (!op) return refuse(t, op, ctx, AG_ERR_NULL, "the op description is NULL");
    if (!op->name || !op->forward || !op->backward)
        return refuse(t, op, ctx, AG_ERR_ARG, "the description needs a name, a forward and a backward");
    if (op->ninputs < 1 || op->ninputs > AG_CUSTOM_MAX_INPUTS) {
        char m[96];
        snprintf(m, sizeof m, "ninputs is %d (1 to %d)", op->ninputs, AG_CUSTOM_MAX_INPUTS);
        return refuse(t, op, ctx, AG_ERR_ARG, m);
    }
    if (n != op->ninputs) {
        char m[96];
        snprintf(m, sizeof m, "given %d input(s), the op takes %d", n, op->ninputs);
        return refuse(t, op, ctx, AG_ERR_ARG, m);
    }
    if (!inputs) return refuse(t, op, ctx, AG_ERR_NULL, "inputs array is NULL");
    if (!ag__record_check_inputs(t, op->name, n, inputs)) return refuse(t, op, ctx, AG_OK, NULL);
    ag_tensor *nodes[AG_CUSTOM_MAX_INPUTS]; /* scalar statements as nodes */
    if (!ag__stmt_promote_n(t, n, inputs, nodes)) return refuse(t, op, ctx, AG_OK, NULL);
    inputs = nodes;

    call_frame f;
    frame_init(&f, op, ctx, n, inputs, NULL);
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    if (!output_shape(t, &f, &ndim, shape)) return refuse(t, op, ctx, AG_OK, NULL);
    ag_tensor *y = ag__record_node_as(t, op->name, AG_OP_CUSTOM, f.c.dtype, ndim, shape, n, inputs);
    ag_ext *ext = y ? ag__record_ext(t, y) : NULL;
    custom_node *cn = ext ? ag__tape_small(t, sizeof *cn) : NULL;
    if (!cn || (op->destroy && ctx && !ag__tape_on_reset(t, op->destroy, ctx))) {
        ag__error_fail(t, AG_ERR_MEMORY, op->name, "tape memory cap %zu reached", t->mem_cap);
        return refuse(t, op, ctx, AG_OK, NULL);
    }
    /* From here on the tape owns ctx: its destructor runs at reset. */
    *cn = (custom_node){{op->name, n, fwd_custom, bwd_custom, op->local_grad ? op->local_grad : "",
                         op->backward_graph ? vjp_custom : NULL, NULL},
                        op, ctx};
    ext->aux = cn;
    f.c.out = y;
    memset(ag__val(y), 0, (size_t)ag__numel(y) * ag__elsize(y->dtype));
    size_t before = t->nnodes;
    ag_status st = op->forward(&f.c, ag__val(y));
    if (st != AG_OK) {
        fail_callback(t, &f, "forward", st);
        return NULL;
    }
    if (!recorded_nothing(t, &f, "forward", before)) return NULL;
    return ag__record_done(t, y);
}
