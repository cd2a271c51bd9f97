/* Matrix product and axis permutation, each forward beside its derivative.
 *
 * matmul runs on the GEMM layer (gemm.h). Its backward writes dA = dY·Bᵀ and
 * dB = Aᵀ·dY straight into the gradient buffers, with the GEMM's transpose
 * flags instead of transposed copies and beta = 0 on a buffer's first touch
 * in a sweep (no zeroing pass), beta = 1 after; it allocates nothing.
 *
 * permute keeps its permutation in ext->iattr; transpose is a permute. */
#include "gemm.h"
#include "kernels.h"

/* ---------------------------------------------------------------- matmul */

/* A matmul node as nb GEMMs of (m, k) @ (k, n), operand i of batch bi at
 * base + bi·stride (elements). A b shared by a batched a (stride 0) folds
 * the batch into the rows instead: one GEMM of (B·m, k) @ (k, n), which also
 * makes dB = Aᵀ·dY sum over the batch inside the GEMM. */
typedef struct mm_view {
    int64_t nb, m, k, n;
    int64_t sa, sb, sy; /* batch strides of a, b and y */
} mm_view;

static mm_view mm_view_of(const ag_tensor *y) {
    const ag_tensor *a = y->in[0], *b = y->in[1];
    const int64_t *sa = ag__shape(a), *sb = ag__shape(b);
    mm_view v;
    v.nb = a->ndim == 3 ? sa[0] : 1;
    v.m = sa[a->ndim - 2];
    v.k = sa[a->ndim - 1];
    v.n = sb[b->ndim - 1];
    if (a->ndim == 3 && b->ndim == 2) {
        v.m *= v.nb;
        v.nb = 1;
    }
    v.sa = v.m * v.k;
    v.sb = b->ndim == 3 ? v.k * v.n : 0;
    v.sy = v.m * v.n;
    return v;
}

/* C = op(A)·op(B) + beta·C (gemm.h) in dtype dt, on element pointers. */
static void gemm(int dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a, int64_t lda,
                 const void *b, int64_t ldb, double beta, void *c, int64_t ldc) {
    if (dt == AG_F64) ag__gemm_f64(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    else ag__gemm_f32(ta, tb, m, n, k, 1, a, lda, b, ldb, (float)beta, c, ldc);
}

/* y_b (m, n) = a_b (m, k) @ b_b (k, n) */
static void fwd_matmul(ag_tensor *n) {
    const mm_view v = mm_view_of(n);
    const int dt = n->dtype;
    const void *pa = ag__val(n->in[0]); /* (B, m, k) */
    const void *pb = ag__val(n->in[1]); /* (B, k, n) or (k, n) */
    void *py = ag__val(n);              /* (B, m, n) */
    for (int64_t bi = 0; bi < v.nb; bi++)
        gemm(dt, false, false, v.m, v.n, v.k, ag__kernel_at(pa, dt, bi * v.sa), v.k,
             ag__kernel_at(pb, dt, bi * v.sb), v.n, 0, ag__kernel_at(py, dt, bi * v.sy), v.n);
}

/* dA_b (m, k) = dY_b (m, n) · B_bᵀ and dB_b (k, n) = A_bᵀ · dY_b. Each
 * gradient pointer is fetched just before its GEMM, so for a @ a the first
 * GEMM overwrites (beta 0) and the second adds (beta 1). */
static void bwd_matmul(ag_sweep *s, ag_tensor *n) {
    const mm_view v = mm_view_of(n);
    const int dt = n->dtype;
    ag_tensor *a = n->in[0], *b = n->in[1];
    const void *pa = ag__val(a), *pb = ag__val(b);
    const void *pg = ag__grad(n); /* (B, m, n) */
    bool fresh;
    void *ga = ag__sweep_dst(s, a, &fresh); /* (B, m, k) */
    for (int64_t bi = 0; ga && bi < v.nb; bi++)
        gemm(dt, false, true, v.m, v.k, v.n, ag__kernel_at(pg, dt, bi * v.sy), v.n,
             ag__kernel_at(pb, dt, bi * v.sb), v.n, fresh ? 0 : 1, ag__kernel_at(ga, dt, bi * v.sa), v.k);
    void *gb = ag__sweep_dst(s, b, &fresh); /* (B, k, n) or (k, n) */
    for (int64_t bi = 0; gb && bi < v.nb; bi++)
        gemm(dt, true, false, v.k, v.n, v.m, ag__kernel_at(pa, dt, bi * v.sa), v.k,
             ag__kernel_at(pg, dt, bi * v.sy), v.n, fresh ? 0 : 1, ag__kernel_at(gb, dt, bi * v.sb), v.n);
}

/* Graph form: the same products as ops. A b shared by a batched a gets
 * the batch folded into the rows: (B·m, k)ᵀ @ (B·m, n). */
static bool vjp_matmul(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *a = n->in[0], *b = n->in[1];
    if (ag__requires_grad(a) && !(gin[0] = ag_matmul(t, g, ag_transpose(t, b)))) return false;
    if (!ag__requires_grad(b)) return true;
    if (a->ndim == 3 && b->ndim == 2) {
        const int64_t *sa = ag__shape(a);
        ag_tensor *a2 = ag_reshape(t, a, AG_SHAPE(sa[0] * sa[1], sa[2]));
        ag_tensor *g2 = ag_reshape(t, g, AG_SHAPE(sa[0] * sa[1], ag__shape(b)[1]));
        gin[1] = ag_matmul(t, ag_transpose(t, a2), g2);
    } else {
        gin[1] = ag_matmul(t, ag_transpose(t, a), g);
    }
    return gin[1] != NULL;
}

const ag_op_info ag__op_MATMUL = {"matmul", 2, fwd_matmul, bwd_matmul,
                                  "d(A@B)/dA: dA = dY B^T; d(A@B)/dB: dB = A^T dY", vjp_matmul, NULL};

ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    a = ag__stmt_promote(t, a);
    b = ag__stmt_promote(t, b);
    ag_tensor *xs[2] = {a, b};
    if (!ag__record_check_inputs(t, "matmul", 2, xs)) return NULL;
    char sa[96], sb[96];
    ag__error_fmt_operand(sa, sizeof sa, a);
    ag__error_fmt_operand(sb, sizeof sb, b);
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3)
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul",
                        "a %s @ b %s: operands must be (m, k) @ (k, n), (B, m, k) @ (B, k, n) "
                        "or (B, m, k) @ (k, n)", sa, sb);
    if (a->ndim == 2 && b->ndim == 3)
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul",
                        "a %s @ b %s: a 2-D a with a batched b is not supported "
                        "(a batched a may share a 2-D b)", sa, sb);
    const int64_t *ash = ag__shape(a), *bsh = ag__shape(b);
    int64_t k = ash[a->ndim - 1], kb = bsh[b->ndim - 2];
    if (k != kb)
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul", "a %s @ b %s: inner dimensions differ (%lld vs %lld)",
                        sa, sb, (long long)k, (long long)kb);
    if (a->ndim == 3 && b->ndim == 3 && ash[0] != bsh[0])
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul", "a %s @ b %s: batch sizes differ (%lld vs %lld)",
                        sa, sb, (long long)ash[0], (long long)bsh[0]);
    int64_t shape[3]; /* (B, m, n) or (m, n) */
    int nd = a->ndim;
    for (int i = 0; i < nd - 1; i++) shape[i] = ash[i];
    shape[nd - 1] = bsh[b->ndim - 1];
    ag_attr attr = {.i = 0};
    return ag__record(t, AG_OP_MATMUL, (ag_dtype)a->dtype, nd, shape, a, b, attr);
}

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
    return n;
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
