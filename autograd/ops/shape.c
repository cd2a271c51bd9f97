/* Shape ops: reshape, broadcast_to, slice, concat and stack (the indexing
 * ops are in index.c). For each op, its shape rule (the public function),
 * forward kernel and backward rule sit together.
 *
 * These ops move values without arithmetic, so most forward kernels copy
 * bytes (one path for f32 and f64); backward kernels add in the dtype's
 * arithmetic (always-inline kernels, kernels.h).
 * Axis ops view a tensor as (outer, len, inner) around the axis: outer is the
 * product of the dimensions before it, inner of those after. attr.r.axis
 * holds the (normalised) axis. */
#include "kernels.h"

#define SHAPE_OF(buf, x) ag_format_shape((buf), sizeof(buf), (x)->ndim, ag__shape(x))

/* Checks a requested (ndim, shape): NULL, too many dimensions. */
static bool check_shape_arg(ag_tape *t, const char *op, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > AG_MAX_DIMS) {
        ag__error_fail(t, AG_ERR_SHAPE, op, "%d dimensions (at most %d)", ndim, AG_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        ag__error_fail(t, AG_ERR_NULL, op, "shape is NULL");
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- reshape */

/* A tensor's reshape is a view (ag__record_view): the same storage, so no
 * forward kernel copies anything. Only a reshape to or from a 0-d tensor,
 * whose one value lives inline in its node, copies. */
static void fwd_reshape(ag_tensor *n) {
    if (ag__val(n) != ag__val(n->in[0]))
        memcpy(ag__val(n), ag__val(n->in[0]), (size_t)ag__numel(n) * ag__elsize(n->dtype));
}

/* Same elements in the same row-major order: the gradient adds elementwise
 * (or is copied into a gradient not yet written this sweep). */
static void bwd_reshape(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *gx = ag__sweep_dst(s, n->in[0], &fresh);
    if (!gx) return;
    if (fresh) memcpy(gx, ag__grad(n), (size_t)ag__numel(n) * ag__elsize(n->dtype));
    else AG_BY_DTYPE(n->dtype, ag__kernel_add, gx, ag__grad(n), ag__numel(n));
}

/* Graph form: the gradient reshaped back. */
static bool vjp_reshape(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    return (gin[0] = ag_reshape(t, g, x->ndim, ag__shape(x))) != NULL;
}

const ag_op_info ag__op_RESHAPE = {"reshape", 1, fwd_reshape, bwd_reshape,
                                   "d reshape(x)_i/dx_i = 1 (row-major order kept)", vjp_reshape, NULL};

ag_tensor *ag_reshape(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "reshape", 1, &x)) return NULL;
    if (!check_shape_arg(t, "reshape", ndim, shape)) return NULL;
    char sx[96], ss[96];
    int64_t out[AG_MAX_DIMS];
    int infer = -1;
    int64_t known = 1; /* product of the given dimensions */
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0 || (shape[i] && known > INT64_MAX / shape[i]))
            return ag__error_fail(t, AG_ERR_SHAPE, "reshape", "cannot reshape %s into %s: %s",
                            SHAPE_OF(sx, x), ag_format_shape(ss, sizeof ss, ndim, shape),
                            shape[i] == -1 ? "more than one -1" : "bad dimension");
        known *= shape[i];
    }
    int64_t numel = ag__numel(x);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return ag__error_fail(t, AG_ERR_SHAPE, "reshape",
                            "cannot reshape %s (%lld elements) into %s: no size fits the -1",
                            SHAPE_OF(sx, x), (long long)numel,
                            ag_format_shape(ss, sizeof ss, ndim, shape));
        out[infer] = numel / known;
        known = numel;
    }
    if (known != numel)
        return ag__error_fail(t, AG_ERR_SHAPE, "reshape",
                        "cannot reshape %s (%lld elements) into %s (%lld elements)",
                        SHAPE_OF(sx, x), (long long)numel,
                        ag_format_shape(ss, sizeof ss, ndim, shape), (long long)known);
    if (x->ndim && ndim) return ag__record_view(t, AG_OP_RESHAPE, x, ndim, out);
    return ag__record(t, AG_OP_RESHAPE, (ag_dtype)x->dtype, ndim, out, x, NULL, (ag_attr){.i = 0});
}

/* ----------------------------------------------------------- broadcast_to */

/* The broadcast iterator walks the output and gives each element's offset in
 * x (stride 0 along stretched dimensions). The backward loop's `+=` through
 * the same offsets is the sum back to x's shape: the same reduction the
 * binary ops use, not a second one. */
static void broadcast_to_iter(ag_bcast *bc, const ag_tensor *n) {
    const ag_tensor *x = n->in[0];
    int nds[1] = {x->ndim};
    const int64_t *shapes[1] = {ag__shape(x)};
    ag__bcast_init(bc, n->ndim, ag__shape(n), 1, nds, shapes);
}

/* y = x stretched (the forward); or with add, dx += g summed over the
 * copies (the backward): dst and src are y and x, or dx and g. */
static AG_ALWAYS_INLINE void broadcast_to_walk(int dt, const ag_tensor *n, void *dst, const void *src,
                                               bool add) {
    ag_bcast bc;
    broadcast_to_iter(&bc, n);
    const int64_t sx = bc.st[0][bc.nd - 1];
    AG_BCAST_ROWS(bc, o, off, {
        for (int64_t j = 0; j < rowlen_; j++) {
            if (add) ag__kernel_acc(dst, dt, off[0] + j * sx, ag__ld(src, dt, o + j));
            else ag__st(dst, dt, o + j, ag__ld(src, dt, off[0] + j * sx));
        }
    });
}

static void fwd_broadcast_to(ag_tensor *n) {
    AG_BY_DTYPE(n->dtype, broadcast_to_walk, n, ag__val(n), ag__val(n->in[0]), false);
}

/* dx_j = sum of g over the output elements that copy x_j. */
static void bwd_broadcast_to(ag_sweep *s, ag_tensor *n) {
    void *gx = ag__sweep_acc(s, n->in[0]);
    if (gx) AG_BY_DTYPE(n->dtype, broadcast_to_walk, n, gx, ag__grad(n), true);
}

/* Graph form: g as is; the sweep sums it back to x's shape (ag__vjp_sum_to). */
static bool vjp_broadcast_to(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    (void)t, (void)n;
    gin[0] = g;
    return true;
}

const ag_op_info ag__op_BROADCAST_TO = {"broadcast_to", 1, fwd_broadcast_to, bwd_broadcast_to,
                                        "dx_j = sum of g over the copies of x_j", vjp_broadcast_to, NULL};

ag_tensor *ag_broadcast_to(ag_tape *t, ag_tensor *x, int ndim, const int64_t *shape) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "broadcast_to", 1, &x)) return NULL;
    if (!check_shape_arg(t, "broadcast_to", ndim, shape)) return NULL;
    char sx[96], ss[96];
    bool ok = ndim >= x->ndim;
    for (int i = 0; ok && i < ndim; i++) {
        int j = i - (ndim - x->ndim); /* x's dimension aligned with i */
        ok = shape[i] >= 0 && (j < 0 || x->ext->shape[j] == shape[i] || x->ext->shape[j] == 1);
    }
    if (!ok)
        return ag__error_fail(t, AG_ERR_SHAPE, "broadcast_to", "cannot broadcast %s to %s",
                        SHAPE_OF(sx, x), ag_format_shape(ss, sizeof ss, ndim, shape));
    return ag__record(t, AG_OP_BROADCAST_TO, (ag_dtype)x->dtype, ndim, shape, x, NULL,
                      (ag_attr){.i = 0});
}

/* ------------------------------------------------------------------ slice */

/* y (outer, len_y, inner) = x (outer, len_x, inner)[:, start:start+len_y, :];
 * ext->iattr[0] holds start. */
static void fwd_slice(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    int axis = n->attr.r.axis;
    ag_view3 vx = ag__shape_view(x, axis), vy = ag__shape_view(n, axis);
    int64_t start = n->ext->iattr[0];
    size_t es = ag__elsize(n->dtype);
    const char *px = ag__val(x);
    char *py = ag__val(n);
    for (int64_t o = 0; o < vy.outer; o++)
        memcpy(py + (size_t)(o * vy.len * vy.inner) * es,
               px + (size_t)((o * vx.len + start) * vx.inner) * es, (size_t)(vy.len * vy.inner) * es);
}

/* The gradient lands in the sliced region only; the rest of x gets 0. */
static void bwd_slice(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    const int axis = n->attr.r.axis;
    const ag_view3 vx = ag__shape_view(x, axis), vy = ag__shape_view(n, axis);
    const int64_t start = n->ext->iattr[0], row = vy.len * vy.inner; /* one outer step of y */
    for (int64_t o = 0; o < vy.outer; o++)
        AG_BY_DTYPE(n->dtype, ag__kernel_add, ag__kernel_at(gx, n->dtype, (o * vx.len + start) * vx.inner),
                    ag__kernel_at(ag__grad(n), n->dtype, o * row), row);
}

/* Graph form: g between zero blocks, joined by concat along the axis. */
static bool vjp_slice(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    const int axis = n->attr.r.axis;
    const int64_t start = n->ext->iattr[0], len = n->ext->shape[axis];
    int64_t before[AG_MAX_DIMS], after[AG_MAX_DIMS];
    memcpy(before, x->ext->shape, sizeof before);
    memcpy(after, x->ext->shape, sizeof after);
    before[axis] = start;
    after[axis] = x->ext->shape[axis] - start - len;
    ag_tensor *parts[3] = {ag_zeros(t, (ag_dtype)x->dtype, x->ndim, before), g,
                           ag_zeros(t, (ag_dtype)x->dtype, x->ndim, after)};
    return (gin[0] = ag_concat(t, 3, parts, axis)) != NULL;
}

const ag_op_info ag__op_SLICE = {"slice", 1, fwd_slice, bwd_slice,
                                 "dx[start:stop] = g, 0 elsewhere", vjp_slice, NULL};

/* A Python-style bound: negative counts from the end, then clamped. */
static int64_t clamp_bound(int64_t b, int64_t len) {
    if (b < 0) b = b < -len ? 0 : b + len;
    return b > len ? len : b;
}

ag_tensor *ag_slice(ag_tape *t, ag_tensor *x, int axis, int64_t start, int64_t stop) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "slice", 1, &x)) return NULL;
    int a = ag__shape_check_axis(t, "slice", x, axis);
    if (a < 0) return NULL;
    int64_t len = x->ext->shape[a];
    int64_t lo = clamp_bound(start, len), hi = clamp_bound(stop, len);
    if (hi < lo) hi = lo; /* empty */
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, x->ext->shape, sizeof shape);
    shape[a] = hi - lo;
    ag_tensor *n = ag__record_node(t, AG_OP_SLICE, (ag_dtype)x->dtype, x->ndim, shape, x, NULL);
    if (!n) return NULL;
    n->attr.r.axis = a;
    n->ext->iattr[0] = lo;
    fwd_slice(n);
    return ag__record_done(t, n);
}

/* ----------------------------------------------------------- concat, stack */

/* Concat and stack share kernels. The output, viewed as (outer, total,
 * inner) around the joined axis, takes input i in rows off_i .. off_i+len_i-1,
 * where len_i is input i's size on the axis for concat and 1 for stack (a
 * stacked input is (outer, inner), the new axis being the output's). */
static int64_t join_len(const ag_tensor *n, int i) {
    return n->op == AG_OP_STACK ? 1 : ag__shape(ag__input(n, i))[n->attr.r.axis];
}

static void fwd_join(ag_tensor *n) {
    ag_view3 v = ag__shape_view(n, n->attr.r.axis); /* (outer, total, inner) */
    size_t es = ag__elsize(n->dtype);
    char *py = ag__val(n);
    int64_t off = 0;
    for (int i = 0, m = ag__op_ninputs(n); i < m; i++) {
        const char *px = ag__val(ag__input(n, i)); /* (outer, len, inner) */
        int64_t len = join_len(n, i);
        size_t block = (size_t)(len * v.inner) * es;
        for (int64_t o = 0; o < v.outer; o++)
            memcpy(py + (size_t)((o * v.len + off) * v.inner) * es, px + (size_t)o * block, block);
        off += len;
    }
}

/* Each input gets back its own rows of the gradient. */
static void bwd_join(ag_sweep *s, ag_tensor *n) {
    const ag_view3 v = ag__shape_view(n, n->attr.r.axis);
    const int dt = n->dtype;
    int64_t off = 0;
    for (int i = 0, m = ag__op_ninputs(n); i < m; i++) {
        const int64_t block = join_len(n, i) * v.inner;
        void *gx = ag__sweep_acc(s, ag__input(n, i));
        for (int64_t o = 0; gx && o < v.outer; o++)
            AG_BY_DTYPE(dt, ag__kernel_add, ag__kernel_at(gx, dt, o * block),
                        ag__kernel_at(ag__grad(n), dt, (o * v.len + off) * v.inner), block);
        off += join_len(n, i);
    }
}

/* Graph form: each input's rows sliced out of g (and, for stack, the new
 * axis dropped). */
static bool vjp_join(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    const int axis = n->attr.r.axis;
    int64_t off = 0;
    for (int i = 0, m = ag__op_ninputs(n); i < m; i++) {
        ag_tensor *x = ag__input(n, i);
        int64_t len = join_len(n, i);
        if (ag__requires_grad(x)) {
            gin[i] = ag_slice(t, g, axis, off, off + len);
            if (n->op == AG_OP_STACK) gin[i] = ag_reshape(t, gin[i], x->ndim, ag__shape(x));
            if (!gin[i]) return false;
        }
        off += len;
    }
    return true;
}

const ag_op_info ag__op_CONCAT = {"concat", -1, fwd_join, bwd_join,
                                  "dx_i = g[rows of x_i along the axis]", vjp_join, NULL};
const ag_op_info ag__op_STACK = {"stack", -1, fwd_join, bwd_join, "dx_i = g[i along the new axis]",
                                 vjp_join, NULL};

/* Checks n and xs (NULLs, dtypes) for concat and stack. */
static bool check_join_inputs(ag_tape *t, const char *op, int n, ag_tensor *const *xs) {
    if (!t || t->err != AG_OK) return false;
    if (n < 1) {
        ag__error_fail(t, AG_ERR_ARG, op, "needs at least one tensor (n = %d)", n);
        return false;
    }
    if (!xs) {
        ag__error_fail(t, AG_ERR_NULL, op, "the array of tensors is NULL");
        return false;
    }
    return ag__record_check_inputs(t, op, n, xs);
}

/* The inputs with every scalar statement promoted to a node (in a tape
 * copy of the array when there is one), or NULL with the tape error set. */
static ag_tensor *const *node_inputs(ag_tape *t, int n, ag_tensor *const *xs) {
    bool any = false;
    for (int i = 0; t && xs && i < n; i++) any |= xs[i] && ag__is_stmt(xs[i]);
    if (!any) return xs;
    ag_tensor **out = ag__tape_alloc(t, (size_t)n * sizeof *out, "join");
    return out && ag__stmt_promote_n(t, n, xs, out) ? out : NULL;
}

ag_tensor *ag_concat(ag_tape *t, int n, ag_tensor *const *xs, int axis) {
    if (!(xs = node_inputs(t, n, xs)) && t && t->err != AG_OK) return NULL;
    if (!check_join_inputs(t, "concat", n, xs)) return NULL;
    const ag_tensor *x0 = xs[0];
    if (x0->ndim == 0)
        return ag__error_fail(t, AG_ERR_AXIS, "concat", "cannot concatenate 0-d tensors (use stack)");
    int a = ag__shape_check_axis(t, "concat", x0, axis);
    if (a < 0) return NULL;
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, x0->ext->shape, sizeof shape);
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        const ag_tensor *x = xs[i];
        bool ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == a || x->ext->shape[d] == x0->ext->shape[d];
        if (!ok) {
            char s0[96], si[96];
            return ag__error_fail(t, AG_ERR_SHAPE, "concat",
                            "shapes %s (tensor 1) and %s (tensor %d) differ off axis %d",
                            SHAPE_OF(s0, x0), SHAPE_OF(si, x), i + 1, a);
        }
        if (x->ext->shape[a] > INT64_MAX - shape[a])
            return ag__error_fail(t, AG_ERR_SHAPE, "concat", "axis %d is too long", a);
        shape[a] += x->ext->shape[a];
    }
    ag_tensor *y = ag__record_node_n(t, AG_OP_CONCAT, (ag_dtype)x0->dtype, x0->ndim, shape, n, xs);
    if (!y) return NULL;
    y->attr.r.axis = a;
    fwd_join(y);
    return ag__record_done(t, y);
}

ag_tensor *ag_stack(ag_tape *t, int n, ag_tensor *const *xs, int axis) {
    if (!(xs = node_inputs(t, n, xs)) && t && t->err != AG_OK) return NULL;
    if (!check_join_inputs(t, "stack", n, xs)) return NULL;
    const ag_tensor *x0 = xs[0];
    int nd = x0->ndim + 1;
    char s0[96], si[96];
    if (nd > AG_MAX_DIMS)
        return ag__error_fail(t, AG_ERR_SHAPE, "stack", "stacking %s gives %d dimensions (at most %d)",
                        SHAPE_OF(s0, x0), nd, AG_MAX_DIMS);
    int a = ag__shape_axis(axis, nd); /* the new axis: 0..ndim, negative from the end */
    if (a < 0)
        return ag__error_fail(t, AG_ERR_AXIS, "stack", "axis %d is out of range for stacking %s", axis,
                        SHAPE_OF(s0, x0));
    for (int i = 1; i < n; i++) {
        const ag_tensor *x = xs[i];
        bool ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = x->ext->shape[d] == x0->ext->shape[d];
        if (!ok)
            return ag__error_fail(t, AG_ERR_SHAPE, "stack", "shapes %s (tensor 1) and %s (tensor %d) differ",
                            SHAPE_OF(s0, x0), SHAPE_OF(si, x), i + 1);
    }
    int64_t shape[AG_MAX_DIMS];
    for (int d = 0, j = 0; d < nd; d++) shape[d] = d == a ? n : x0->ext->shape[j++];
    ag_tensor *y = ag__record_node_n(t, AG_OP_STACK, (ag_dtype)x0->dtype, nd, shape, n, xs);
    if (!y) return NULL;
    y->attr.r.axis = a;
    fwd_join(y);
    return ag__record_done(t, y);
}
