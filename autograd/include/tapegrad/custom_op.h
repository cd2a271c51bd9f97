/* tapegrad — ops defined in user code with their own derivative, like
 * torch.autograd.Function and jax.custom_vjp.
 *
 * An op is a description (ag_custom_op, usually a static const) of
 * callbacks on plain buffers; ag_custom applies it to inputs and records
 * the output on the tape like any node: it can be named, shows in traces
 * and DOT pictures (with the description's local-derivative text), counts
 * against the memory cap, and its backward runs in ag_backward and ag_grad.
 *
 *   static ag_status sp_forward(const ag_custom_call *c, void *out) {
 *       const double *x = ag_data(c->in[0]);          // f64 only, for brevity
 *       double *y = out;
 *       for (int64_t i = 0; i < ag_numel(c->out); i++) y[i] = log1p(exp(x[i]));
 *       return AG_OK;
 *   }
 *   static ag_status sp_backward(const ag_custom_call *c, const void *gout, void *const *gin) {
 *       const double *x = ag_data(c->in[0]), *g = gout;
 *       double *gx = gin[0];                           // NULL when x needs no gradient
 *       for (int64_t i = 0; gx && i < ag_numel(c->out); i++) gx[i] += g[i] / (1 + exp(-x[i]));
 *       return AG_OK;
 *   }
 *   static const ag_custom_op softplus_op = {
 *       .name = "my_softplus", .ninputs = 1,
 *       .forward = sp_forward, .backward = sp_backward,
 *       .local_grad = "d softplus(x)/dx = sigmoid(x)",
 *   };
 *   ag_tensor *y = ag_custom(t, &softplus_op, NULL, 1, &x);
 *
 * Second derivatives (create_graph, ag_hvp, ag_gradgradcheck) need
 * backward_graph: the same backward written with engine ops, so that it is
 * recorded and can be differentiated again. Without it, create_graph
 * through the op fails with a clear error; it never yields a wrong second
 * derivative.
 *
 * Include as <tapegrad/custom_op.h>; it includes <tapegrad/autograd.h>. */
#ifndef TAPEGRAD_CUSTOM_OP_H
#define TAPEGRAD_CUSTOM_OP_H

#include <tapegrad/autograd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most inputs a custom op may have. */
#define AG_CUSTOM_MAX_INPUTS 16

typedef struct ag_custom_op ag_custom_op;

/* What every callback is told about one application of the op. */
typedef struct ag_custom_call {
    const ag_custom_op *op;
    void *ctx;             /* the ctx given to ag_custom for this application */
    ag_dtype dtype;        /* every input's and the output's: AG_F32 (float) or AG_F64 (double) */
    int n;                 /* number of inputs */
    ag_tensor *const *in;  /* the inputs: read them with ag_data, ag_shape, ag_numel, ... */
    ag_tensor *out;        /* the output (its value is complete in backward); NULL in shape */
    char *msg;             /* a failing callback may write why here (msg_size bytes, "" at entry) */
    size_t msg_size;
} ag_custom_call;

/* The description of an op. Every pointer in it (strings too) must stay
 * valid while a tape holds a node made from it: a static const serves.
 * A callback returns AG_OK, or another status on failure (with msg filled
 * in), which becomes the tape's sticky error:
 *   "NAME: forward failed: MSG (operands [2, 3] 'x', ...)".
 * Callbacks must not record ops on the tape, except backward_graph. */
struct ag_custom_op {
    const char *name;  /* shown in errors, traces and DOT, e.g. "fused_softplus" */
    int ninputs;       /* 1 .. AG_CUSTOM_MAX_INPUTS; ag_custom must get exactly this many */

    /* The output's shape from the inputs (c->out is NULL): writes *ndim
     * (0 .. AG_MAX_DIMS) and shape[0 .. *ndim-1]. NULL: input 0's shape. */
    ag_status (*shape)(const ag_custom_call *c, int *ndim, int64_t *shape);

    /* Computes the output into `out` (the output's numel values of the
     * dtype, row-major, zero on entry). Required. It may keep what the
     * backward needs in c->ctx. */
    ag_status (*forward)(const ag_custom_call *c, void *out);

    /* The chain rule: given gout, the gradient with respect to the output
     * (its shape), ADDS each input's share into gin[i] (input i's shape).
     * gin[i] is NULL when input i needs no gradient; it may already hold
     * other paths' sums, and two gin entries are the same buffer when one
     * tensor is passed twice, so never overwrite. Required. */
    ag_status (*backward)(const ag_custom_call *c, const void *gout, void *const *gin);

    /* Optional: the same rule with engine ops on tape t, for create_graph:
     * gout is a node of the output's shape; sets gin[i] to a node of input
     * i's shape and dtype (a share of a broadcast shape is summed back), or
     * leaves it NULL (no dependence on input i). gin[] is NULL on entry. */
    ag_status (*backward_graph)(ag_tape *t, const ag_custom_call *c, ag_tensor *gout,
                                ag_tensor **gin);

    /* Optional: frees a non-NULL ctx. Runs exactly once per application, at
     * the tape's next ag_tape_reset or at ag_tape_free (or before ag_custom
     * returns, when it fails before the node is recorded). Leave it NULL
     * when one ctx is shared by several applications. */
    void (*destroy)(void *ctx);

    /* The local derivative for traces, in the op table's convention:
     * placeholders x (one input), a and b (two), m, a, b (three), y the
     * output, "d" marking a partial, one part per input separated by ", ":
     * "d(a*b)/da = b, d(a*b)/db = a". NULL shows none. */
    const char *local_grad;
};

/* Applies op to inputs[0 .. n-1] (all of one dtype; n == op->ninputs) with
 * the per-application context ctx (may be NULL), and returns the output,
 * which requires a gradient when an input does. Fails (NULL, sticky error
 * naming the op) on NULL arguments, a bad description (no name, forward
 * or backward; ninputs out of range), n != ninputs, mixed dtypes, a shape
 * rule's error or bad shape, the memory cap, or a callback's error. In
 * no-grad mode it computes the value and records nothing, as other ops do.
 * ctx's destructor runs as described at `destroy`, whatever happens. */
ag_tensor *ag_custom(ag_tape *t, const ag_custom_op *op, void *ctx, int n,
                     ag_tensor *const *inputs);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_CUSTOM_OP_H */
