/* Axis permutation, forward beside its derivative (matrix products are in
 * matmul.c). permute keeps its permutation in ext->iattr; transpose is a
 * permute. */
#include "kernels.h"

/* --------------------------------------------------------------- permute */

/* Row-major strides (elements) of a shape. */
static void strides_of(int nd, const int64_t *shape, int64_t *st) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

/* Walks dst (nd, shape) in row-major order, reading src at strides st (one
 * per dst axis): dst = src, or dst += src when add. The writes are
 * contiguous; the reads follow the permutation. */
static AG_ALWAYS_INLINE void permute_walk(int dt, void *dst, const void *src, int nd, const int64_t *shape,
                                          const int64_t *st, bool add) {
    if (nd == 0) {
        if (add) ag__kernel_acc(dst, dt, 0, ag__ld(src, dt, 0));
        else ag__st(dst, dt, 0, ag__ld(src, dt, 0));
        return;
    }
    const int64_t len = shape[nd - 1], is = st[nd - 1];
    const int64_t rows = len ? ag__shape_numel(nd, shape) / len : 0;
    int64_t idx[AG_MAX_DIMS] = {0}, off = 0;
    for (int64_t r = 0, d = 0; r < rows; r++, d += len) {
        for (int64_t j = 0; j < len; j++) {
            if (add) ag__kernel_acc(dst, dt, d + j, ag__ld(src, dt, off + j * is));
            else ag__st(dst, dt, d + j, ag__ld(src, dt, off + j * is));
        }
        for (int ax = nd - 2; ax >= 0; ax--) {
            off += st[ax];
            if (++idx[ax] < shape[ax]) break;
            off -= st[ax] * shape[ax];
            idx[ax] = 0;
        }
    }
}

static void permute_copy(int dtype, void *dst, const void *src, int nd, const int64_t *shape,
                         const int64_t *st, bool add) {
    AG_BY_DTYPE(dtype, permute_walk, dst, src, nd, shape, st, add);
}

/* y axis i is x axis perm[i]: y walks x at x's stride of axis perm[i]. */
static void fwd_permute(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    int nd = n->ndim;
    int64_t xst[AG_MAX_DIMS], st[AG_MAX_DIMS];
    strides_of(nd, ag__shape(x), xst);
    for (int i = 0; i < nd; i++) st[i] = xst[n->ext->iattr[i]];
    permute_copy(n->dtype, ag__val(n), ag__val(x), nd, ag__shape(n), st, false);
}

/* The inverse permutation carries dy back: x axis perm[i] is y axis i, so
 * dx walks dy at dy's stride of axis inv[j], adding unless dx is fresh. */
static void bwd_permute(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    bool fresh;
    void *gx = ag__sweep_dst(s, x, &fresh);
    if (!gx) return;
    int nd = n->ndim;
    int64_t yst[AG_MAX_DIMS], st[AG_MAX_DIMS];
    strides_of(nd, ag__shape(n), yst);
    for (int i = 0; i < nd; i++) st[n->ext->iattr[i]] = yst[i]; /* st[j] = yst[inv[j]] */
    permute_copy(n->dtype, gx, ag__grad(n), nd, ag__shape(x), st, !fresh);
}

/* Graph form: g permuted back by the inverse permutation. */
static bool vjp_permute(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    int inv[AG_MAX_DIMS];
    for (int i = 0; i < n->ndim; i++) inv[n->ext->iattr[i]] = i;
    return (gin[0] = ag_permute(t, g, inv)) != NULL;
}

const ag_op_info ag__op_PERMUTE = {"permute", 1, fwd_permute, bwd_permute,
                                   "dx = permute(dy, inverse(perm))", vjp_permute, NULL};

/* Validates perm for x and records the node; `op` names the caller. */
static ag_tensor *permute(ag_tape *t, const char *op, ag_tensor *x, const int *perm) {
    int nd = x->ndim;
    bool seen[AG_MAX_DIMS] = {false};
    bool ok = true;
    for (int i = 0; i < nd && ok; i++) {
        ok = perm[i] >= 0 && perm[i] < nd && !seen[perm[i]];
        if (ok) seen[perm[i]] = true;
    }
    if (!ok) {
        char sx[96], sp[96];
        size_t off = 0;
        sp[0] = '\0';
        for (int i = 0; i < nd && off < sizeof sp; i++) {
            int w = snprintf(sp + off, sizeof sp - off, i ? ", %d" : "%d", perm[i]);
            if (w < 0) break;
            off += (size_t)w;
        }
        return ag__error_fail(t, AG_ERR_AXIS, op, "perm (%s) is not a permutation of the %d axes of shape %s",
                        sp, nd, ag_format_shape(sx, sizeof sx, nd, ag__shape(x)));
    }
    int64_t shape[AG_MAX_DIMS] = {0};
    for (int i = 0; i < nd; i++) shape[i] = x->ext->shape[perm[i]];
    ag_tensor *n = ag__record_node(t, AG_OP_PERMUTE, (ag_dtype)x->dtype, nd, shape, x, NULL);
    if (!n) return NULL;
    for (int i = 0; i < nd; i++) n->ext->iattr[i] = perm[i]; /* nd > 0 has an ext */
    fwd_permute(n);
    return ag__record_done(t, n);
}

ag_tensor *ag_permute(ag_tape *t, ag_tensor *x, const int *perm) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "permute", 1, &x)) return NULL;
    if (!perm) return ag__error_fail(t, AG_ERR_NULL, "permute", "perm is NULL");
    return permute(t, "permute", x, perm);
}

ag_tensor *ag_transpose(ag_tape *t, ag_tensor *x) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "transpose", 1, &x)) return NULL;
    if (x->ndim < 2) {
        char sx[96];
        return ag__error_fail(t, AG_ERR_SHAPE, "transpose", "shape %s has fewer than 2 axes to swap",
                        ag_format_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
    }
    int perm[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[x->ndim - 2] = x->ndim - 1;
    perm[x->ndim - 1] = x->ndim - 2;
    return permute(t, "transpose", x, perm);
}
