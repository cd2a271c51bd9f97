/* Indexing ops: gather and index_select, their recorded backwards
 * scatter_add and index_add, and the constant one_hot.
 *
 * The four ops pair the elements of two tensors through an index along one
 * axis, and share one loop nest (index_walk). `big` is the tensor whose axis
 * is indexed (gather's and index_select's input, scatter_add's and
 * index_add's output), `small` the other, with the index's length on the
 * axis; both are viewed as (outer, len, inner) around it. Element (o, j, i)
 * of small pairs with element (o, r, i) of big, where r = idx[o, j, i] for
 * the element ops (gather, scatter_add: idx has small's shape) and r =
 * idx[j] for the row ops (index_select, index_add). Each op's forward and
 * backward is one direction of that pairing:
 *
 *   gather, index_select      forward  small = big      backward  d big += d small
 *   scatter_add, index_add    forward  big += small     backward  d small += d big
 *
 * so each is the other's derivative, to any order. The indices live on the
 * tape (ext->aux), normalised to [0, len), and attr.r.axis holds the axis. */
#include "index.h"
#include "kernels.h"

/* What index_walk does with each pair. */
typedef enum index_dir {
    INDEX_TO_SMALL,     /* small = big: gather, index_select */
    INDEX_ADD_TO_SMALL, /* small += big: the backward of scatter_add, index_add */
    INDEX_ADD_TO_BIG,   /* big += small: scatter_add, index_add, and the backward of gather, index_select */
} index_dir;

/* The loop nest, for dtype dt; rows and dir are constants at each call. */
static AG_ALWAYS_INLINE void index_walk(int dt, bool rows, index_dir dir, void *big, ag_view3 vb,
                                        void *small, ag_view3 vs, const int64_t *idx) {
    for (int64_t o = 0; o < vs.outer; o++)
        for (int64_t j = 0; j < vs.len; j++) {
            const int64_t qs = (o * vs.len + j) * vs.inner;
            for (int64_t i = 0; i < vs.inner; i++) {
                const int64_t q = qs + i, p = (o * vb.len + (rows ? idx[j] : idx[q])) * vb.inner + i;
                if (dir == INDEX_TO_SMALL) ag__st(small, dt, q, ag__ld(big, dt, p));
                else if (dir == INDEX_ADD_TO_SMALL) ag__kernel_acc(small, dt, q, ag__ld(big, dt, p));
                else ag__kernel_acc(big, dt, p, ag__ld(small, dt, q));
            }
        }
}

/* Runs the nest for node n of an indexing op: `bigt` and `smallt` are the
 * tensors giving the views (n or its input), big and small the buffers to
 * walk (their values or gradients). */
static AG_ALWAYS_INLINE void index_run(const ag_tensor *n, bool rows, index_dir dir, const ag_tensor *bigt,
                                       void *big, const ag_tensor *smallt, void *small) {
    const int axis = n->attr.r.axis;
    const ag_view3 vb = ag__shape_view(bigt, axis), vs = ag__shape_view(smallt, axis);
    AG_BY_DTYPE(n->dtype, index_walk, rows, dir, big, vb, small, vs, n->ext->aux);
}

/* The forward and backward of a picking op (gather, index_select: big is
 * the input, small the output) and of an adding op (scatter_add,
 * index_add: big is the output, zeroed first, small the input). */
static AG_ALWAYS_INLINE void pick_fwd(ag_tensor *n, bool rows) {
    index_run(n, rows, INDEX_TO_SMALL, n->in[0], ag__val(n->in[0]), n, ag__val(n));
}
static AG_ALWAYS_INLINE void pick_bwd(ag_sweep *s, ag_tensor *n, bool rows) {
    void *gx = ag__sweep_acc(s, n->in[0]);
    if (gx) index_run(n, rows, INDEX_ADD_TO_BIG, n->in[0], gx, n, ag__grad(n));
}
static AG_ALWAYS_INLINE void add_fwd(ag_tensor *n, bool rows) {
    memset(ag__val(n), 0, (size_t)ag__numel(n) * ag__elsize(n->dtype));
    index_run(n, rows, INDEX_ADD_TO_BIG, n, ag__val(n), n->in[0], ag__val(n->in[0]));
}
static AG_ALWAYS_INLINE void add_bwd(ag_sweep *s, ag_tensor *n, bool rows) {
    void *gs = ag__sweep_acc(s, n->in[0]);
    if (gs) index_run(n, rows, INDEX_ADD_TO_SMALL, n, ag__grad(n), n->in[0], gs);
}

static void fwd_gather(ag_tensor *n) { pick_fwd(n, false); }
static void bwd_gather(ag_sweep *s, ag_tensor *n) { pick_bwd(s, n, false); }
static void fwd_scatter_add(ag_tensor *n) { add_fwd(n, false); }
static void bwd_scatter_add(ag_sweep *s, ag_tensor *n) { add_bwd(s, n, false); }
static void fwd_index_select(ag_tensor *n) { pick_fwd(n, true); }
static void bwd_index_select(ag_sweep *s, ag_tensor *n) { pick_bwd(s, n, true); }
static void fwd_index_add(ag_tensor *n) { add_fwd(n, true); }
static void bwd_index_add(ag_sweep *s, ag_tensor *n) { add_bwd(s, n, true); }

ag_tensor *ag__index_record(ag_tape *t, ag_op op, ag_tensor *x, int axis, int ndim,
                            const int64_t *shape, const int64_t *idx) {
    if (!ag__record_check_inputs(t, ag__ops[op]->name, 1, &x)) return NULL;
    ag_tensor *n = ag__record_node(t, op, (ag_dtype)x->dtype, ndim, shape, x, NULL);
    if (!n) return NULL;
    n->attr.r.axis = axis;
    n->ext->aux = (void *)idx; /* tape memory, immutable once recorded */
    ag__ops[op]->forward(n);
    return ag__record_done(t, n);
}

/* The graph forms: each op's derivative is its partner op on the same
 * indices. A picking op's gradient has the input's shape; an adding op's
 * has its input's (the index's length on the axis). */
static bool vjp_pick(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    const ag_tensor *x = n->in[0];
    const ag_op partner = n->op == AG_OP_GATHER ? AG_OP_SCATTER_ADD : AG_OP_INDEX_ADD;
    return (gin[0] = ag__index_record(t, partner, g, n->attr.r.axis, x->ndim, ag__shape(x),
                                    n->ext->aux)) != NULL;
}

static bool vjp_add(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    const ag_tensor *src = n->in[0];
    const ag_op partner = n->op == AG_OP_SCATTER_ADD ? AG_OP_GATHER : AG_OP_INDEX_SELECT;
    return (gin[0] = ag__index_record(t, partner, g, n->attr.r.axis, src->ndim, ag__shape(src),
                                    n->ext->aux)) != NULL;
}

const ag_op_info ag__op_GATHER = {"gather", 1, fwd_gather, bwd_gather,
                                  "dx[.., index[.., j, ..], ..] += g[.., j, ..]", vjp_pick, NULL};
const ag_op_info ag__op_INDEX_SELECT = {"index_select", 1, fwd_index_select, bwd_index_select,
                                        "dx[.., index[j], ..] += g[.., j, ..]", vjp_pick, NULL};
/* Internal: the recorded backwards of gather and index_select. */
const ag_op_info ag__op_SCATTER_ADD = {"scatter_add", 1, fwd_scatter_add, bwd_scatter_add,
                                       "d scatter_add(s)/ds[.., j, ..] = [y at index[.., j, ..]]",
                                       vjp_add, NULL};
const ag_op_info ag__op_INDEX_ADD = {"index_add", 1, fwd_index_add, bwd_index_add,
                                     "d index_add(s)/ds[.., j, ..] = [y row index[j]]", vjp_add, NULL};

/* Validates `count` indices against an axis of size len and copies them onto
 * the tape, negative ones normalised to [0, len). Fails with AG_ERR_AXIS
 * naming the first bad value and its position. */
static int64_t *tape_indices(ag_tape *t, const char *op, const ag_tensor *x, int axis,
                             int64_t count, const int64_t *index) {
    if (count > 0 && !index) {
        ag__error_fail(t, AG_ERR_NULL, op, "index is NULL");
        return NULL;
    }
    int64_t len = x->ext->shape[axis];
    for (int64_t i = 0; i < count; i++) {
        if (index[i] < -len || index[i] >= len) {
            char sx[96];
            ag__error_fail(t, AG_ERR_AXIS, op,
                           "index[%lld] = %lld is out of range for axis %d of size %lld (input %s)",
                           (long long)i, (long long)index[i], axis, (long long)len,
                           ag_format_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
            return NULL;
        }
    }
    int64_t *idx = ag__tape_alloc_array(t, count, sizeof *idx, op);
    if (!idx) return NULL;
    for (int64_t i = 0; i < count; i++) idx[i] = index[i] < 0 ? index[i] + len : index[i];
    return idx;
}

/* Checks x, the axis and the count (k or n) of a picking op; fills x's
 * shape with count on the axis, and returns the axis or -1 (error set). An
 * output too large to exist is refused here, before the index array (as
 * long as it) is read. */
static int pick_shape(ag_tape *t, const char *op, ag_tensor *x, int axis, int64_t count,
                      const char *what, int64_t *shape) {
    if (!ag__record_check_inputs(t, op, 1, &x)) return -1;
    int a = ag__shape_check_axis(t, op, x, axis);
    if (a < 0) return -1;
    if (count < 0) {
        char sx[96];
        ag__error_fail(t, AG_ERR_SHAPE, op, "%s = %lld is negative (input %s)", what, (long long)count,
                       ag_format_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
        return -1;
    }
    memcpy(shape, x->ext->shape, sizeof x->ext->shape);
    shape[a] = count;
    int64_t numel;
    size_t bytes;
    if (!ag__record_check_shape(t, op, (ag_dtype)x->dtype, x->ndim, shape, &numel, &bytes)) return -1;
    return a;
}

ag_tensor *ag_gather(ag_tape *t, ag_tensor *x, int axis, int64_t k, const int64_t *index) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    int64_t shape[AG_MAX_DIMS]; /* index and output: x's shape with k on the axis */
    int a = pick_shape(t, "gather", x, axis, k, "k", shape);
    if (a < 0) return NULL;
    int64_t count = k;
    for (int d = 0; d < x->ndim; d++) {
        if (d == a) continue;
        if (shape[d] && count > INT64_MAX / shape[d]) {
            char sx[96];
            return ag__error_fail(t, AG_ERR_SHAPE, "gather", "k = %lld is too large for %s", (long long)k,
                                  ag_format_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
        }
        count *= shape[d];
    }
    int64_t *idx = tape_indices(t, "gather", x, a, count, index);
    return idx ? ag__index_record(t, AG_OP_GATHER, x, a, x->ndim, shape, idx) : NULL;
}

ag_tensor *ag_index_select(ag_tape *t, ag_tensor *x, int axis, int64_t n, const int64_t *index) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    int64_t shape[AG_MAX_DIMS];
    int a = pick_shape(t, "index_select", x, axis, n, "n", shape);
    if (a < 0) return NULL;
    int64_t *idx = tape_indices(t, "index_select", x, a, n, index);
    return idx ? ag__index_record(t, AG_OP_INDEX_SELECT, x, a, x->ndim, shape, idx) : NULL;
}

/* ---------------------------------------------------------------- one_hot */

/* A constant leaf: no op row, no gradient. */
ag_tensor *ag_one_hot(ag_tape *t, ag_dtype dtype, int64_t n, const int64_t *index,
                      int64_t classes) {
    if (!t || t->err != AG_OK) return NULL;
    if (dtype != AG_F32 && dtype != AG_F64)
        return ag__error_fail(t, AG_ERR_DTYPE, "one_hot", "unknown dtype %d", (int)dtype);
    if (n < 0 || classes < 0)
        return ag__error_fail(t, AG_ERR_SHAPE, "one_hot", "n = %lld and classes = %lld must be >= 0",
                              (long long)n, (long long)classes);
    if (n > 0 && !index) return ag__error_fail(t, AG_ERR_NULL, "one_hot", "index is NULL");
    for (int64_t i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= classes)
            return ag__error_fail(t, AG_ERR_AXIS, "one_hot",
                                  "index[%lld] = %lld is out of range for %lld classes", (long long)i,
                                  (long long)index[i], (long long)classes);
    ag_tensor *y = ag__record_node_as(t, "one_hot", AG_OP_LEAF, dtype, AG_SHAPE(n, classes), 0, NULL);
    if (!y) return NULL;
    void *v = ag__val(y); // (n, classes)
    memset(v, 0, (size_t)(n * classes) * ag__elsize(dtype));
    for (int64_t i = 0; i < n; i++) ag__st(v, dtype, i * classes + index[i], 1.0);
    return y;
}
