/* Matrix product with NumPy's matmul rules, forward beside its derivative.
 *
 *   a (..., m, k) @ b (..., k, n) -> (..., m, n), the leading (batch)
 *   dimensions broadcast; a 1-D a (k) is a row (1, k) and a 1-D b (k) a
 *   column (k, 1), whose added dimension the result drops: (k) @ (k) is a
 *   0-d dot product, (k) @ (..., k, n) is (..., n), (..., m, k) @ (k) is
 *   (..., m).
 *
 * Every case runs as GEMMs on the GEMM layer (gemm.h), one per batch
 * element, reading the operands in place (a broadcast operand is the same
 * matrix for several batch elements). When b is one matrix shared by every
 * batch element of a, the batch folds into the rows: one GEMM of
 * (batch·m, k) @ (k, n), which also makes dB = Aᵀ·dY sum over the batch
 * inside the GEMM. The backward writes dA = dY·Bᵀ and dB = Aᵀ·dY straight
 * into the gradient buffers with the GEMM's transpose flags, beta = 0 on a
 * buffer's first touch in a sweep, beta = 1 after; it allocates nothing. */
#include "kernels.h"

/* A matmul of operands a and b as nbatch GEMMs of (m, k) @ (k, n): the
 * broadcast batch shape, and each operand's matrix stride per batch
 * dimension (0 where it is broadcast). */
typedef struct mm_geom {
    int64_t m, k, n;
    int nbd; /* batch dimensions */
    int64_t bshape[AG_MAX_DIMS];
    int64_t sta[AG_MAX_DIMS], stb[AG_MAX_DIMS]; /* in matrices */
    int64_t nbatch, na, nb;                     /* batch elements: of y, of a, of b */
    bool fold;                                  /* b shared by every batch element of a */
} mm_geom;

/* An operand's (batch dims, rows, cols), a 1-D one promoted as NumPy does. */
static void promoted(const ag_tensor *x, bool is_a, int *nbd, const int64_t **batch, int64_t *r,
                     int64_t *c) {
    const int64_t *s = ag__shape(x);
    if (x->ndim == 1) {
        *nbd = 0;
        *r = is_a ? 1 : s[0];
        *c = is_a ? s[0] : 1;
    } else {
        *nbd = x->ndim - 2;
        *r = s[x->ndim - 2];
        *c = s[x->ndim - 1];
    }
    *batch = s;
}

/* The geometry of a @ b; false when the batch dimensions do not broadcast
 * (the inner dimensions are checked by the caller). */
static bool mm_geom_of(const ag_tensor *a, const ag_tensor *b, mm_geom *g) {
    int nda, ndb;
    const int64_t *ba, *bb;
    int64_t kb;
    promoted(a, true, &nda, &ba, &g->m, &g->k);
    promoted(b, false, &ndb, &bb, &kb, &g->n);
    if (!ag__bcast_shape(nda, ba, ndb, bb, &g->nbd, g->bshape)) return false;
    if (g->nbd == 0) g->bshape[0] = 1; /* ag__bcast_shape gives no dimension */
    g->nbatch = ag__shape_numel(g->nbd, g->bshape);
    g->na = ag__shape_numel(nda, ba);
    g->nb = ag__shape_numel(ndb, bb);
    int64_t sa = 1, sb = 1;
    for (int i = g->nbd - 1; i >= 0; i--) {
        int ia = i - (g->nbd - nda), ib = i - (g->nbd - ndb); /* aligned at the end */
        bool a_has = ia >= 0 && ba[ia] == g->bshape[i], b_has = ib >= 0 && bb[ib] == g->bshape[i];
        g->sta[i] = a_has && g->bshape[i] > 1 ? sa : 0;
        g->stb[i] = b_has && g->bshape[i] > 1 ? sb : 0;
        if (ia >= 0) sa *= ba[ia];
        if (ib >= 0) sb *= bb[ib];
    }
    g->fold = g->nb == 1 && g->na == g->nbatch;
    return true;
}

/* The matrices of batch element i (0 .. nbatch-1) in a and b: ia[i], ib[i]
 * walk the broadcast batch shape with the operands' strides. */
static void batch_offsets(const mm_geom *g, int64_t i, int64_t *ia, int64_t *ib) {
    *ia = *ib = 0;
    for (int d = g->nbd - 1; d >= 0; d--) {
        const int64_t idx = i % g->bshape[d];
        i /= g->bshape[d];
        *ia += idx * g->sta[d];
        *ib += idx * g->stb[d];
    }
}

/* Which tensor's matrices an operand of a batched GEMM walks. */
typedef enum mm_of { OF_A, OF_B, OF_Y } mm_of;

/* Matrix `which` of batch element i, as an element offset. */
static int64_t matrix_at(const mm_geom *g, mm_of which, int64_t i) {
    int64_t ia, ib;
    batch_offsets(g, i, &ia, &ib);
    return which == OF_A ? ia * g->m * g->k : which == OF_B ? ib * g->k * g->n : i * g->m * g->n;
}

/* C = op(A)·op(B) + beta·C for every batch element, each operand at its
 * tensor's matrix of that element (a broadcast operand's repeats). */
static void batched_gemm(int dt, const mm_geom *g, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                         const void *A, mm_of a_of, int64_t lda, const void *B, mm_of b_of, int64_t ldb,
                         double beta, void *C, mm_of c_of, int64_t ldc) {
    for (int64_t i = 0; i < g->nbatch; i++)
        ag__kernel_gemm(dt, ta, tb, M, N, K, ag__kernel_at(A, dt, matrix_at(g, a_of, i)), lda,
                        ag__kernel_at(B, dt, matrix_at(g, b_of, i)), ldb, beta,
                        ag__kernel_at(C, dt, matrix_at(g, c_of, i)), ldc);
}

/* y_i (m, n) = a_ia (m, k) @ b_ib (k, n) */
static void fwd_matmul(ag_tensor *n) {
    mm_geom g;
    mm_geom_of(n->in[0], n->in[1], &g);
    const void *pa = ag__val(n->in[0]), *pb = ag__val(n->in[1]);
    if (g.fold)
        ag__kernel_gemm(n->dtype, false, false, g.nbatch * g.m, g.n, g.k, pa, g.k, pb, g.n, 0, ag__val(n), g.n);
    else
        batched_gemm(n->dtype, &g, false, false, g.m, g.n, g.k, pa, OF_A, g.k, pb, OF_B, g.n, 0, ag__val(n),
                     OF_Y, g.n);
}

/* The beta of a gradient's GEMMs: 0 on a fresh buffer each batch element
 * writes once; a buffer shared by several batch elements (a broadcast
 * operand) is zeroed first and added into. */
static double grad_beta(void *buf, bool fresh, int64_t count, int64_t nbatch, int64_t bytes) {
    if (!fresh) return 1;
    if (count == nbatch) return 0;
    memset(buf, 0, (size_t)bytes);
    return 1;
}

/* dA_ia (m, k) += dY_i (m, n) · B_ibᵀ and dB_ib (k, n) += A_iaᵀ · dY_i. Each
 * gradient pointer is fetched just before its GEMMs, so for a @ a the first
 * writes (beta 0) and the second adds. */
static void bwd_matmul(ag_sweep *s, ag_tensor *n) {
    mm_geom g;
    mm_geom_of(n->in[0], n->in[1], &g);
    const int dt = n->dtype;
    const int64_t es = (int64_t)ag__elsize(dt), rows = g.fold ? g.nbatch * g.m : g.m;
    ag_tensor *a = n->in[0], *b = n->in[1];
    const void *pa = ag__val(a), *pb = ag__val(b), *pg = ag__grad(n);
    bool fresh;
    void *ga = ag__sweep_dst(s, a, &fresh);
    if (ga && g.fold)
        ag__kernel_gemm(dt, false, true, rows, g.k, g.n, pg, g.n, pb, g.n, fresh ? 0 : 1, ga, g.k);
    else if (ga)
        batched_gemm(dt, &g, false, true, g.m, g.k, g.n, pg, OF_Y, g.n, pb, OF_B, g.n,
                     grad_beta(ga, fresh, g.na, g.nbatch, g.na * g.m * g.k * es), ga, OF_A, g.k);
    void *gb = ag__sweep_dst(s, b, &fresh);
    if (gb && g.fold)
        ag__kernel_gemm(dt, true, false, g.k, g.n, rows, pa, g.k, pg, g.n, fresh ? 0 : 1, gb, g.n);
    else if (gb)
        batched_gemm(dt, &g, true, false, g.k, g.n, g.m, pa, OF_A, g.k, pg, OF_Y, g.n,
                     grad_beta(gb, fresh, g.nb, g.nbatch, g.nb * g.k * g.n * es), gb, OF_B, g.n);
}

/* x with a 1-D operand promoted to a matrix, (1, k) for a, (k, 1) for b. */
static ag_tensor *as_matrix(ag_tape *t, ag_tensor *x, bool is_a) {
    if (x->ndim != 1) return x;
    int64_t k = x->ext->shape[0];
    return is_a ? ag_reshape(t, x, AG_SHAPE(1, k)) : ag_reshape(t, x, AG_SHAPE(k, 1));
}

/* A share of a promoted operand's shape, summed back (broadcast batch) and
 * returned to the operand's own shape. */
static ag_tensor *share_for(ag_tape *t, ag_tensor *c, ag_tensor *promoted_x, ag_tensor *x) {
    c = ag__vjp_sum_to(t, c, promoted_x);
    return (c && x->ndim == 1) ? ag_reshape(t, c, 1, ag__shape(x)) : c;
}

/* Graph form: dA = G·Bᵀ and dB = Aᵀ·G as ops on the promoted operands (G
 * given back its dropped dimensions), each summed back to its operand. A
 * b shared by a batched a gets the batch folded into the rows instead:
 * (batch·m, k)ᵀ @ (batch·m, n). */
static bool vjp_matmul(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *a = n->in[0], *b = n->in[1];
    mm_geom geo;
    mm_geom_of(a, b, &geo);
    ag_tensor *a2 = as_matrix(t, a, true), *b2 = as_matrix(t, b, false);
    int64_t gshape[AG_MAX_DIMS];
    for (int i = 0; i < geo.nbd; i++) gshape[i] = geo.bshape[i];
    gshape[geo.nbd] = geo.m;
    gshape[geo.nbd + 1] = geo.n;
    ag_tensor *g2 = (a->ndim == 1 || b->ndim == 1) ? ag_reshape(t, g, geo.nbd + 2, gshape) : g;
    if (ag__requires_grad(a) && !(gin[0] = share_for(t, ag_matmul(t, g2, ag_transpose(t, b2)), a2, a)))
        return false;
    if (!ag__requires_grad(b)) return true;
    if (geo.fold && geo.nbatch > 1 && b->ndim == 2) {
        ag_tensor *af = ag_reshape(t, a2, AG_SHAPE(geo.nbatch * geo.m, geo.k));
        ag_tensor *gf = ag_reshape(t, g2, AG_SHAPE(geo.nbatch * geo.m, geo.n));
        gin[1] = ag_matmul(t, ag_transpose(t, af), gf);
    } else {
        gin[1] = share_for(t, ag_matmul(t, ag_transpose(t, a2), g2), b2, b);
    }
    return gin[1] != NULL;
}

const ag_op_info ag__op_MATMUL = {"matmul", 2, fwd_matmul, bwd_matmul,
                                  "d(A@B)/dA: dA = dY B^T; d(A@B)/dB: dB = A^T dY", vjp_matmul, NULL};

ag_tensor *ag_matmul(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    a = ag__stmt_promote(t, a); /* a scalar statement as a node */
    b = ag__stmt_promote(t, b);
    ag_tensor *xs[2] = {a, b};
    if (!ag__record_check_inputs(t, "matmul", 2, xs)) return NULL;
    char sa[96], sb[96];
    ag__error_fmt_operand(sa, sizeof sa, a);
    ag__error_fmt_operand(sb, sizeof sb, b);
    if (a->ndim < 1 || b->ndim < 1)
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul",
                              "a %s @ b %s: a 0-d operand has no matrix dimensions (use mul)", sa, sb);
    const int64_t *ash = ag__shape(a), *bsh = ag__shape(b);
    int64_t k = ash[a->ndim - 1], kb = bsh[b->ndim == 1 ? 0 : b->ndim - 2];
    if (k != kb)
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul", "a %s @ b %s: inner dimensions differ (%lld vs %lld)",
                              sa, sb, (long long)k, (long long)kb);
    mm_geom g;
    if (!mm_geom_of(a, b, &g))
        return ag__error_fail(t, AG_ERR_SHAPE, "matmul",
                              "a %s @ b %s: the batch dimensions (all but the last two) do not broadcast",
                              sa, sb);
    int64_t shape[AG_MAX_DIMS + 2];
    int nd = 0;
    for (int i = 0; i < g.nbd; i++) shape[nd++] = g.bshape[i];
    if (a->ndim > 1) shape[nd++] = g.m;
    if (b->ndim > 1) shape[nd++] = g.n;
    return ag__record(t, AG_OP_MATMUL, (ag_dtype)a->dtype, nd, shape, a, b, (ag_attr){.i = 0});
}
