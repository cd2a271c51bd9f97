/* The ops' kernel header: the small rule language of the elementwise ops,
 * and the typed helpers every family's kernels use. Not installed.
 *
 * Rule lines. An elementwise op is one line in a rules header
 * (elementwise_rules.h, unary_rules.h):
 *
 *   AG_BINARY_OP(NAME, name, F, DA, DB, FORMULA, VA, VB)
 *   AG_UNARY_OP(NAME, name, F, D, FORMULA, V)
 *
 * NAME is the op's enum name (AG_OP_NAME, listed in the family's .def),
 * name its lower-case name (the row's name; the recorder rec_name, which
 * the public ag_name calls).
 * FORMULA is the derivative as text, for traces. The other arguments are C
 * expressions in these letters:
 *
 *   numeric, in doubles (F, DA, DB, D):
 *     a, b   the binary op's operand elements      x   the unary op's input element
 *     y      the output element (DA, DB, D only)   c   the node's constant (attr.c: x + c,
 *     n      the node (clamp reads its bounds          leaky_relu's slope)
 *            in n->ext->dattr)
 *   graph ops, for create_graph (VA, VB, V): each returns the input's share
 *   of the upstream gradient as recorded ops, NULL on failure:
 *     G      the upstream gradient node (the output's shape)
 *     A, B   the binary op's input nodes            X   the unary op's input node
 *     Y      the output node                        C   the constant (a double)
 *     t      the tape                               n   the node
 *
 * What expands where. Each rules header is included twice, with the
 * includer's definition of AG_BINARY_OP / AG_UNARY_OP:
 *   - by its family's .c file as AG_DEFINE_BINARY / AG_DEFINE_UNARY (below):
 *     the forward and backward kernels for f32 and f64 (fwd_name, bwd_name,
 *     from F and DA, DB / D), the recorded backward vjp_name (VA, VB / V),
 *     the table row ag__op_NAME, and the recorder rec_name with the scalar
 *     fast path (F again, on 0-d inputs);
 *   - by ops/scalar_sweep.h, which core/backward.c includes, as
 *     AG_BINARY_SBWD / AG_UNARY_SBWD: the 0-d backward ag__sbwd_NAME (DA, DB
 *     / D) inlined into the sweep's switch.
 * So a D formula compiles in two files and F, V in one: a helper that a D
 * formula calls (sigmoid, normal_cdf, ...) must be visible to the sweep,
 * defined static inline in the rules header itself under an include guard
 * (unary_rules.h has them); a helper only F or V use (ag__vjp_const_map's
 * masks, safe_log, clamp_mask) may be static in the family's .c file. The
 * broadcast loops' `+=` into a stretched operand is where broadcasting's
 * gradient is summed back to the operand's shape (see AG_BINARY_BWD_T).
 *
 * Kernels without a formula (reductions, softmax, shape and index ops) are
 * always-inline functions taking the dtype as their first argument, called
 * through AG_BY_DTYPE with the constant AG_F64 or AG_F32: each call inlines
 * a copy compiled for one element type, and ag__ld / ag__st / ag__kernel_acc
 * fold to plain typed loads and stores. */
#ifndef TAPEGRAD_OPS_KERNELS_H
#define TAPEGRAD_OPS_KERNELS_H

#include "backward.h"
#include "bcast.h"
#include "elementwise.h"
#include "error.h"
#include "gemm.h"
#include "hints.h"
#include "parallel.h"
#include "record.h"
#include "scalar_path.h"
#include "shape.h"

#include <stdlib.h>
#include "tape.h"
#include "vjp.h"
#include "vmath.h"

/* Runs KERNEL(dt, ...) with dt the constant for `dtype` (AG_F64 or AG_F32). */
#define AG_BY_DTYPE(dtype, KERNEL, ...)                                      \
    ((dtype) == AG_F64 ? KERNEL(AG_F64, __VA_ARGS__) : KERNEL(AG_F32, __VA_ARGS__))

/* Adds v into element i of a dtype-dt buffer in that dtype's arithmetic
 * (an f32 gradient adds (float)v in float): the `+=` of backward kernels. */
static AG_ALWAYS_INLINE void ag__kernel_acc(void *p, int dt, int64_t i, double v) {
    if (dt == AG_F32) ((float *)p)[i] += (float)v;
    else ((double *)p)[i] += v;
}

/* dst[i] += src[i] for i < len, both of dtype dt. */
static AG_ALWAYS_INLINE void ag__kernel_add(int dt, void *dst, const void *src, int64_t len) {
    for (int64_t i = 0; i < len; i++) ag__kernel_acc(dst, dt, i, ag__ld(src, dt, i));
}

/* Element i of a dtype-dt buffer, as a pointer. */
static AG_ALWAYS_INLINE void *ag__kernel_at(const void *p, int dt, int64_t i) {
    return (char *)(uintptr_t)p + (size_t)i * ag__elsize(dt);
}

/* C = op(A)·op(B) + beta·C (kernels/gemm.h) in dtype dt, on element
 * pointers: the GEMM layer for the families built on it (matmul, conv). */
static AG_ALWAYS_INLINE void ag__kernel_gemm(int dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                                             const void *a, int64_t lda, const void *b, int64_t ldb,
                                             double beta, void *c, int64_t ldc) {
    if (dt == AG_F64) ag__gemm_f64(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    else ag__gemm_f32(ta, tb, m, n, k, 1, a, lda, b, ldb, (float)beta, c, ldc);
}

/* A binary backward's work: the node and the gradient buffers its loops
 * add into (NULL: that operand's loop does not run). */
typedef struct ag_binary_job {
    ag_tensor *n;
    void *ga, *gb;
    bool fresh_a, fresh_b; /* the buffer holds no gradient yet: write, not add */
} ag_binary_job;

/* Sorts a binary node's gradient buffers (ag__sweep_acc) into the loops
 * that may be split across threads, of operands with the output's element
 * count (no broadcast: each output adds into its own element), and those
 * that run on one thread, of broadcast operands. */
static inline void ag__binary_jobs(ag_sweep *s, ag_tensor *n, ag_binary_job *split,
                                   ag_binary_job *serial) {
    const int64_t m = ag__numel(n);
    const bool fa = ag__numel(n->in[0]) == m, fb = ag__numel(n->in[1]) == m;
    /* A fresh buffer of an operand with the output's size is written once
     * per element, so the loop stores instead of adding and nothing zeroes
     * it first (a memset was a full extra pass over each gradient); a
     * broadcast operand's buffer is zeroed and added into. When both
     * operands are one tensor (x*x) the second sees the first's write. */
    bool fra = false, frb = false;
    void *ga = fa ? ag__sweep_dst(s, n->in[0], &fra) : ag__sweep_acc(s, n->in[0]);
    void *gb = fb ? ag__sweep_dst(s, n->in[1], &frb) : ag__sweep_acc(s, n->in[1]);
    *split = (ag_binary_job){n, fa ? ga : NULL, fb ? gb : NULL, fa && ga && fra, fb && gb && frb};
    *serial = (ag_binary_job){n, fa ? NULL : ga, fb ? NULL : gb, false, false};
}

/* Binary op y = F(a, b) with local partials DA = dy/da and DB = dy/db; the
 * expressions may use a, b and y (doubles). The broadcast iterator maps each
 * output element to its operands, so the backward loop's `+=` into a
 * broadcast operand is the reduction back to its shape: the one place where
 * broadcasting's gradient is summed.
 *
 * Both kernels run over the output elements [E0, E1), so ag__parallel_for
 * can split them (AG_DEFINE_BINARY): the forward writes only its own
 * outputs, the backward only the gradients of an operand that is not
 * broadcast (one element per output element); a broadcast operand's loop
 * adds many outputs into one element and runs on one thread, over all the
 * elements, so its sums keep their order (ag_binary_job). */
#define AG_BINARY_FWD_T(T, N, F, E0, E1)                                     \
    do {                                                                     \
        ag_tensor *A_ = (N)->in[0], *B_ = (N)->in[1];                        \
        const T *pa = ag__val(A_), *pb = ag__val(B_);                        \
        T *py = ag__val(N);                                                  \
        if (!(N)->ndim) {                                                    \
            double a = pa[0], b = pb[0];                                     \
            (void)a; (void)b;                                                \
            py[0] = (T)(F);                                                  \
            break;                                                           \
        }                                                                    \
        ag_bcast bc;                                                         \
        ag__bcast_binary(&bc, N);                                            \
        const int64_t sa = bc.st[0][bc.nd - 1], sb = bc.st[1][bc.nd - 1];    \
        /* With unit strides as constants the compiler vectorises the row. */ \
        if (sa == 1 && sb == 1)                                              \
            AG_BCAST_RANGE(bc, E0, E1, o, off, AG_BINARY_FWD_ROW(T, F, 1, 1)); \
        else                                                                 \
            AG_BCAST_RANGE(bc, E0, E1, o, off, AG_BINARY_FWD_ROW(T, F, sa, sb)); \
    } while (0)

/* J is an ag_binary_job: the node and the gradient buffers to add into. */
#define AG_BINARY_BWD_T(T, J, DA, DB, E0, E1)                                \
    do {                                                                     \
        ag_tensor *N_ = (J)->n;                                              \
        ag_tensor *A_ = N_->in[0], *B_ = N_->in[1];                          \
        const T *pa = ag__val(A_), *pb = ag__val(B_);                        \
        const T *py = ag__val(N_), *pg = ag__grad(N_);                       \
        T *ga = (J)->ga, *gb = (J)->gb;                                      \
        const bool fra = (J)->fresh_a, frb = (J)->fresh_b;                   \
        ag_bcast bc;                                                         \
        ag__bcast_binary(&bc, N_);                                           \
        const int64_t sa = bc.st[0][bc.nd - 1], sb = bc.st[1][bc.nd - 1];    \
        /* One loop per operand, each with one store stream, and a copy of   \
         * the loops with unit strides: the compiler vectorises those (the   \
         * common case: same shapes, or a bias along the last axis). */      \
        if (sa == 1 && sb == 1)                                              \
            AG_BCAST_RANGE(bc, E0, E1, o, off, AG_BINARY_BWD_ROW(T, DA, DB, 1, 1)); \
        else if (sa == 1 && sb == 0) /* b stretched along the row: x - mean */ \
            AG_BCAST_RANGE(bc, E0, E1, o, off, AG_BINARY_BWD_ROW(T, DA, DB, 1, 0)); \
        else if (sa == 0 && sb == 1)                                         \
            AG_BCAST_RANGE(bc, E0, E1, o, off, AG_BINARY_BWD_ROW(T, DA, DB, 0, 1)); \
        else                                                                 \
            AG_BCAST_RANGE(bc, E0, E1, o, off, AG_BINARY_BWD_ROW(T, DA, DB, sa, sb)); \
    } while (0)
/* One row of AG_BINARY_FWD_T / AG_BINARY_BWD_T inside AG_BCAST_RANGE (j0_,
 * j1_, o and off are its), the operands' strides along the row SA and SB. */
#define AG_BINARY_FWD_ROW(T, F, SA, SB)                                      \
    for (int64_t j = j0_; j < j1_; j++) {                                    \
        double a = pa[off[0] + j * (SA)], b = pb[off[1] + j * (SB)];         \
        (void)a; (void)b;                                                    \
        py[o + j] = (T)(F);                                                  \
    }
#define AG_BINARY_BWD_ROW(T, DA, DB, SA, SB)                                 \
    {                                                                        \
        if (ga) AG_BINARY_BWD_ROW_ONE(T, DA, SA, SB, ga, off[0], SA, fra);   \
        if (gb) AG_BINARY_BWD_ROW_ONE(T, DB, SA, SB, gb, off[1], SB, frb);   \
    }
/* One operand's loop: its gradient gx at offset OFF with stride S along
 * the row. An operand stretched along the row (S = 0: a per-channel mean
 * or scale against (N, C, H, W)) gets the row's sum, added once: summed in
 * doubles in four interleaved partial sums, which a loop-carried += into
 * one float element (a store per element) was not. */
#define AG_BINARY_BWD_ROW_ONE(T, D, SA, SB, gx, OFF, S, FRESH)               \
    do {                                                                     \
        if ((S) == 0) {                                                      \
            double acc_[4] = {0, 0, 0, 0};                                   \
            int64_t j = j0_;                                                 \
            for (; j + 4 <= j1_; j += 4)                                     \
                for (int u_ = 0; u_ < 4; u_++) {                             \
                    const int64_t k_ = j + u_;                               \
                    double a = pa[off[0] + k_ * (SA)], b = pb[off[1] + k_ * (SB)]; \
                    double y = py[o + k_], g = pg[o + k_];                   \
                    (void)a; (void)b; (void)y;                               \
                    acc_[u_] += g * (D);                                     \
                }                                                            \
            for (; j < j1_; j++) {                                           \
                double a = pa[off[0] + j * (SA)], b = pb[off[1] + j * (SB)]; \
                double y = py[o + j], g = pg[o + j];                         \
                (void)a; (void)b; (void)y;                                   \
                acc_[0] += g * (D);                                          \
            }                                                                \
            /* (fresh only for an operand of the output's size whose row \
             * has length 1: a size-1 axis may have stride 0) */          \
            const T sum_ = (T)((acc_[0] + acc_[1]) + (acc_[2] + acc_[3]));   \
            gx[OFF] = (FRESH) ? sum_ : (T)(gx[OFF] + sum_);                  \
            break;                                                           \
        }                                                                    \
        if (FRESH)                                                           \
            for (int64_t j = j0_; j < j1_; j++) {                            \
                double a = pa[off[0] + j * (SA)], b = pb[off[1] + j * (SB)]; \
                double y = py[o + j], g = pg[o + j];                         \
                (void)a; (void)b; (void)y;                                   \
                gx[OFF + j * (S)] = (T)(g * (D));                            \
            }                                                                \
        else                                                                 \
            for (int64_t j = j0_; j < j1_; j++) {                            \
                double a = pa[off[0] + j * (SA)], b = pb[off[1] + j * (SB)]; \
                double y = py[o + j], g = pg[o + j];                         \
                (void)a; (void)b; (void)y;                                   \
                gx[OFF + j * (S)] += (T)(g * (D));                           \
            }                                                                \
    } while (0)

/* The row sums of a broadcast operand stretched along the rows (stride 0
 * there: a per-channel mean or scale against (N, C, H, W)), split over
 * the pool. Each row's sum, the same four partial sums as
 * AG_BINARY_BWD_ROW_ONE's, goes to sums[row] on whichever thread; then one
 * thread adds them into the operand's gradient in row order. The additions
 * into the gradient are the serial loop's, in its order: the same bits. */
typedef struct ag_rowsum_job {
    ag_tensor *n;
    int which; /* the operand: 0 (a) or 1 (b) */
    void *sums; /* one per row, in the node's dtype */
    int64_t rowlen;
} ag_rowsum_job;

/* Rows [R0, R1) of operand J->which's sums, D its partial. */
#define AG_BINARY_ROWSUM_T(T, J, D, R0, R1)                                  \
    do {                                                                     \
        ag_tensor *N_ = (J)->n;                                              \
        const T *pa = ag__val(N_->in[0]), *pb = ag__val(N_->in[1]);          \
        const T *py = ag__val(N_), *pg = ag__grad(N_);                       \
        T *sums_ = (J)->sums;                                                \
        const int64_t len_ = (J)->rowlen;                                    \
        ag_bcast bc;                                                         \
        ag__bcast_binary(&bc, N_);                                           \
        const int64_t sa = bc.st[0][bc.nd - 1], sb = bc.st[1][bc.nd - 1];    \
        AG_BCAST_RANGE(bc, (R0) * len_, (R1) * len_, o, off,                 \
                       AG_BINARY_BWD_ROW_ONE(T, D, sa, sb, sums_, o / len_, 0, true)); \
    } while (0)

/* The gradient buffer gx of operand `which` += sums in row order. */
#define AG_ROWSUM_APPLY_T(T, N, WHICH, GX, SUMS)                             \
    do {                                                                     \
        T *gx_ = (GX);                                                       \
        const T *sums_ = (SUMS);                                             \
        ag_bcast bc;                                                         \
        ag__bcast_binary(&bc, N);                                            \
        const int64_t len_ = bc.shape[bc.nd - 1];                            \
        AG_BCAST_RANGE(bc, 0, ag__numel(N), o, off, {                        \
            (void)j0_; (void)j1_; /* whole rows */                           \
            gx_[off[WHICH]] = (T)(gx_[off[WHICH]] + sums_[o / len_]);        \
        });                                                                  \
    } while (0)

/* Runs the serial job's operands by row sums when the node is large, the
 * pool has threads, and each such operand is stretched along the rows;
 * false (nothing done) otherwise, or when the sums' buffer cannot be had:
 * the caller then runs the serial loop. fn computes sums (a job's rows). */
static inline bool ag__binary_rowsums(const ag_binary_job *serial, int64_t m, ag_parallel_fn *fn) {
    ag_tensor *n = serial->n;
    if (m < 2 * AG__PARALLEL_GRAIN) return false;
    ag_bcast bc;
    ag__bcast_binary(&bc, n);
    const int64_t rowlen = bc.shape[bc.nd - 1], rows = rowlen > 0 ? m / rowlen : 0;
    void *g[2] = {serial->ga, serial->gb};
    for (int k = 0; k < 2; k++)
        if (g[k] && bc.st[k][bc.nd - 1] != 0) return false;
    if (rows < 2 || ag__parallel_threads() < 2) return false;
    enum { ON_STACK = 2048 }; /* a CNN's (N·C) rows: no allocation */
    double stack[ON_STACK];
    void *sums = rows <= ON_STACK ? (void *)stack : malloc((size_t)rows * ag__elsize(n->dtype));
    if (!sums) return false;
    for (int k = 0; k < 2; k++) {
        if (!g[k]) continue;
        ag_rowsum_job j = {n, k, sums, rowlen};
        ag__parallel_for(rows, AG__PARALLEL_GRAIN / rowlen + 1, fn, &j);
        if (n->dtype == AG_F64) AG_ROWSUM_APPLY_T(double, n, k, g[k], sums);
        else AG_ROWSUM_APPLY_T(float, n, k, g[k], sums);
    }
    if (sums != stack) free(sums);
    return true;
}

/* The backward of a 0-d node of dtype DT, in doubles on the inline values
 * and gradients: no buffers, no broadcasting. A partial is evaluated only
 * for an input that takes a gradient. */
#define AG_BINARY_BWD_S(S, N, DT, DA, DB)                                    \
    do {                                                                     \
        ag_tensor *A_ = (N)->in[0], *B_ = (N)->in[1];                        \
        const bool wa_ = ag__sweep_wants(S, A_), wb_ = ag__sweep_wants(S, B_); \
        const double a = ag__scalar_get(A_, DT), b = ag__scalar_get(B_, DT); \
        const double y = ag__scalar_get(N, DT), g = ag__scalar_grad(N, DT);  \
        (void)a; (void)b; (void)y;                                           \
        if (wa_) ag__sweep_scalar_acc(S, A_, DT, g * (DA));                        \
        if (wb_) ag__sweep_scalar_acc(S, B_, DT, g * (DB));                        \
    } while (0)

/* ag__sbwd_NAME: the backward of a 0-d node of op NAME, static inline so
 * the sweep (backward.c, from the same rules) inlines it into its switch. */
#define AG_BINARY_SBWD(NAME, DA, DB)                                         \
    static inline void ag__sbwd_##NAME(const ag_sweep *s, ag_tensor *n) {   \
        if (n->dtype == AG_F64) AG_BINARY_BWD_S(s, n, AG_F64, DA, DB);       \
        else AG_BINARY_BWD_S(s, n, AG_F32, DA, DB);                          \
    }

/* Defines fwd_NAME, bwd_NAME, vjp_NAME, svjp_NAME and the table row
 * ag__op_NAME, the scalar backward ag__sbwd_NAME (AG_BINARY_SBWD) and the
 * recorder rec_NAME. VA and VB are the same chain rule as graph ops, for
 * create_graph: the shares of the upstream gradient G for a and b, built
 * with ops from the handles A, B and Y (the output: a node, or a scalar
 * statement) on tape t. */
#define AG_DEFINE_BINARY(NAME, name, F, DA, DB, FORMULA, VA, VB)             \
    static AG_ALWAYS_INLINE void fwd_range_##name(void *ctx_, int64_t e0_, int64_t e1_) {     \
        ag_tensor *n = ctx_;                                                 \
        if (n->dtype == AG_F64) AG_BINARY_FWD_T(double, n, F, e0_, e1_);     \
        else AG_BINARY_FWD_T(float, n, F, e0_, e1_);                         \
    }                                                                        \
    static void fwd_##name(ag_tensor *n) {                                   \
        AG_PARALLEL_FOR(ag__numel(n), AG__PARALLEL_GRAIN, fwd_range_##name, n); \
    }                                                                        \
    AG_BINARY_SBWD(NAME, DA, DB)                                             \
    static AG_ALWAYS_INLINE void bwd_range_##name(void *ctx_, int64_t e0_, int64_t e1_) {     \
        const ag_binary_job *j_ = ctx_;                                      \
        if (j_->n->dtype == AG_F64) AG_BINARY_BWD_T(double, j_, DA, DB, e0_, e1_); \
        else AG_BINARY_BWD_T(float, j_, DA, DB, e0_, e1_);                   \
    }                                                                        \
    static void rowsum_range_##name(void *ctx_, int64_t r0_, int64_t r1_) {  \
        const ag_rowsum_job *j_ = ctx_;                                      \
        if (j_->n->dtype == AG_F64) {                                        \
            if (j_->which == 0) AG_BINARY_ROWSUM_T(double, j_, DA, r0_, r1_); \
            else AG_BINARY_ROWSUM_T(double, j_, DB, r0_, r1_);               \
        } else {                                                             \
            if (j_->which == 0) AG_BINARY_ROWSUM_T(float, j_, DA, r0_, r1_);  \
            else AG_BINARY_ROWSUM_T(float, j_, DB, r0_, r1_);                \
        }                                                                    \
    }                                                                        \
    static void bwd_##name(ag_sweep *s, ag_tensor *n) {                      \
        if (!n->ndim) {                                                      \
            ag__sbwd_##NAME(s, n);                                           \
            return;                                                          \
        }                                                                    \
        ag_binary_job split_, serial_;                                       \
        ag__binary_jobs(s, n, &split_, &serial_);                            \
        const int64_t m_ = ag__numel(n);                                     \
        if (split_.ga || split_.gb)                                          \
            AG_PARALLEL_FOR(m_, AG__PARALLEL_GRAIN, bwd_range_##name, &split_); \
        if ((serial_.ga || serial_.gb) && !ag__binary_rowsums(&serial_, m_, rowsum_range_##name)) \
            bwd_range_##name(&serial_, 0, m_);                               \
    }                                                                        \
    static bool svjp_##name(ag_tape *t, int nin, ag_tensor *const *in, ag_tensor *Y, double C, \
                            const double *p, ag_tensor *G, ag_tensor **gin) { \
        ag_tensor *A = in[0], *B = in[1];                                    \
        (void)t; (void)nin; (void)A; (void)B; (void)Y; (void)C; (void)p;     \
        if (ag__handle_requires_grad(A) && !(gin[0] = (VA))) return false;   \
        if (ag__handle_requires_grad(B) && !(gin[1] = (VB))) return false;   \
        return true;                                                         \
    }                                                                        \
    static bool vjp_##name(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) { \
        return svjp_##name(t, 2, n->in, n, n->attr.c, NULL, G, gin);         \
    }                                                                        \
    const ag_op_info ag__op_##NAME = {#name, 2, fwd_##name, bwd_##name, FORMULA, vjp_##name, \
                                      svjp_##name};                          \
    AG_BINARY_SCALAR_REC(NAME, name, F, DA, DB)

/* Unary op y = F(x) with local derivative D = dy/dx; the expressions may use
 * x, y (doubles), c (the node's constant, attr.c) and n (the node). The
 * kernels run over the elements [B, E), which ag__parallel_for splits
 * (AG_DEFINE_UNARY): each element is its own. */
#define AG_UNARY_FWD_T(T, N, F, B, E)                                        \
    do {                                                                     \
        const T *px = ag__val((N)->in[0]);                                   \
        T *py = ag__val(N);                                                  \
        const double c = (N)->attr.c;                                        \
        (void)c;                                                             \
        for (int64_t i = (B), m = (E); i < m; i++) {                         \
            double x = px[i];                                                \
            py[i] = (T)(F);                                                  \
        }                                                                    \
    } while (0)

/* GX is the input's gradient buffer (ag__sweep_dst): written when FRESH
 * (it holds no gradient yet), else added into. */
#define AG_UNARY_BWD_T(T, N, GX, FRESH, D, B, E)                             \
    do {                                                                     \
        const T *px = ag__val((N)->in[0]), *py = ag__val(N), *pg = ag__grad(N); \
        T *gx = (GX);                                                        \
        const double c = (N)->attr.c;                                        \
        (void)c;                                                             \
        if (FRESH)                                                           \
            for (int64_t i = (B), m = (E); i < m; i++) {                     \
                double x = px[i], y = py[i];                                 \
                (void)x; (void)y;                                            \
                gx[i] = (T)(pg[i] * (D));                                    \
            }                                                                \
        else                                                                 \
            for (int64_t i = (B), m = (E); i < m; i++) {                     \
                double x = px[i], y = py[i];                                 \
                (void)x; (void)y;                                            \
                gx[i] += (T)(pg[i] * (D));                                   \
            }                                                                \
    } while (0)

/* The f32 vector kernels of a unary op, named in its rule line: AG_VEC(k)
 * is kernels/vmath.h's k (y = f(x)) and k_bwd (gx += g f'), at the vector
 * level in use; AG_VEC_RELU, relu's; AG_NO_VEC, none. Every f32 node of the op runs them in
 * place of the formula in double, 0-d ones too (one element), so an f32
 * value is the same bits whatever the shape it is computed in. */
#define AG_VEC(k) ag__vmath()->k, ag__vmath()->k##_bwd
#define AG_NO_VEC NULL, NULL
/* relu's branch-free f32 loops (vmath.h), the same at every level. */
#define AG_VEC_RELU ag__vmath_relu, ag__vmath_relu_bwd
#define AG_VEC_FWD(...) AG_VEC_FWD_(__VA_ARGS__)
#define AG_VEC_FWD_(fwd, bwd) (fwd)
#define AG_VEC_BWD(...) AG_VEC_BWD_(__VA_ARGS__)
#define AG_VEC_BWD_(fwd, bwd) (bwd)

/* A unary kernel's work for ag__parallel_for: the node, the input's
 * gradient buffer (backward) and the f32 vector kernel, if any. */
typedef struct ag_unary_job {
    ag_tensor *n;
    void *gx;
    ag_vfun *vf;
    ag_vgrad *vg;
    bool fresh; /* gx holds no gradient yet (ag__sweep_dst) */
} ag_unary_job;

/* A fresh buffer is zeroed by the vector backward kernels (which add) a
 * block at a time just before they add into it, so the zeros are still
 * in the L1 cache and split with the kernel: a memset of the whole buffer
 * first was a serial pass over it (relu's backward in cnn_step). */
#define AG__FRESH_BLOCK 2048

static inline void ag__unary_fwd_vec_range(void *ctx, int64_t b, int64_t e) {
    const ag_unary_job *j = ctx;
    const float *x = ag__val(j->n->in[0]);
    j->vf(x + b, (float *)ag__val(j->n) + b, e - b);
}

static inline void ag__unary_bwd_vec_range(void *ctx, int64_t b, int64_t e) {
    const ag_unary_job *j = ctx;
    const float *x = ag__val(j->n->in[0]), *y = ag__val(j->n), *g = ag__grad(j->n);
    float *gx = j->gx;
    if (!j->fresh) {
        j->vg(x + b, y + b, g + b, gx + b, e - b);
        return;
    }
    for (int64_t k = b; k < e; k += AG__FRESH_BLOCK) {
        const int64_t len = e - k < AG__FRESH_BLOCK ? e - k : AG__FRESH_BLOCK;
        memset(gx + k, 0, (size_t)len * sizeof *gx);
        j->vg(x + k, y + k, g + k, gx + k, len);
    }
}

/* The elements a chunk of a unary op holds at least: fewer for the ops
 * with vector kernels, whose functions (exp, tanh, ...) cost more per
 * element than a sign or a square. */
#define ag__unary_grain(numel, vec)                                          \
    ((numel) < 2 * AG__PARALLEL_GRAIN_MATH /* inline either way: vec unread */ \
         ? AG__PARALLEL_GRAIN_MATH                                            \
         : ((vec) != NULL ? AG__PARALLEL_GRAIN_MATH : AG__PARALLEL_GRAIN))

static inline bool ag__unary_fwd_vec(ag_tensor *n, ag_vfun *f) {
    if (!f) return false;
    ag_unary_job j = {n, NULL, f, NULL, false};
    ag__parallel_for(ag__numel(n), AG__PARALLEL_GRAIN_MATH, ag__unary_fwd_vec_range, &j);
    return true;
}

static inline bool ag__unary_bwd_vec(ag_sweep *s, ag_tensor *n, ag_vgrad *f) {
    if (!f) return false;
    bool fresh = false;
    void *gx = ag__sweep_dst(s, n->in[0], &fresh);
    ag_unary_job j = {n, gx, NULL, f, fresh};
    if (j.gx) ag__parallel_for(ag__numel(n), AG__PARALLEL_GRAIN_MATH, ag__unary_bwd_vec_range, &j);
    return true;
}

/* f(x) for one f32 x, by the vector kernel: the scalar recorder's value. */
static inline double ag__vec_one(ag_vfun *f, double x) {
    float xf = (float)x, y;
    f(&xf, &y, 1);
    return y;
}

/* The unary form of AG_BINARY_BWD_S; an f32 node with a vector backward
 * kernel VB adds through it, as its tensor form does. */
#define AG_UNARY_BWD_S(S, N, DT, D, VB)                                      \
    do {                                                                     \
        ag_tensor *X_ = (N)->in[0];                                          \
        if (!ag__sweep_wants(S, X_)) break;                                  \
        ag_vgrad *vb_ = (DT) == AG_F32 ? (VB) : NULL;                        \
        if (vb_) {                                                           \
            float x_ = (float)ag__scalar_get(X_, DT), y_ = (float)ag__scalar_get(N, DT); \
            float g_ = (float)ag__scalar_grad(N, DT), acc_ = ag__sweep_scalar_f32_begin(S, X_); \
            vb_(&x_, &y_, &g_, &acc_, 1);                                    \
            ag__sweep_scalar_f32_end(X_, acc_);                              \
            break;                                                           \
        }                                                                    \
        const double x = ag__scalar_get(X_, DT), y = ag__scalar_get(N, DT);  \
        const double c = (N)->attr.c;                                        \
        (void)x; (void)y; (void)c;                                           \
        ag__sweep_scalar_acc(S, X_, DT, ag__scalar_grad(N, DT) * (D));             \
    } while (0)

/* The unary form of AG_BINARY_SBWD. */
#define AG_UNARY_SBWD(NAME, D, ...) /* ...: the op's VEC */              \
    static inline void ag__sbwd_##NAME(const ag_sweep *s, ag_tensor *n) {   \
        if (n->dtype == AG_F64) AG_UNARY_BWD_S(s, n, AG_F64, D, NULL);       \
        else AG_UNARY_BWD_S(s, n, AG_F32, D, AG_VEC_BWD(__VA_ARGS__));       \
    }

/* Defines fwd_NAME, bwd_NAME, vjp_NAME and the row ag__op_NAME, with
 * ag__sbwd_NAME and rec_NAME as for binary ops. V is the input's share of
 * the upstream gradient node G as graph ops, from the nodes X and Y (the
 * output) and the constant C, on tape t; VEC the f32 vector kernels. */
#define AG_DEFINE_UNARY(NAME, name, F, D, FORMULA, V, ...) /* ...: VEC */   \
    static AG_ALWAYS_INLINE void fwd_range_##name(void *ctx_, int64_t b_, int64_t e_) {       \
        ag_tensor *n = ctx_;                                                 \
        if (n->dtype == AG_F64) AG_UNARY_FWD_T(double, n, F, b_, e_);        \
        else AG_UNARY_FWD_T(float, n, F, b_, e_);                            \
    }                                                                        \
    static void fwd_##name(ag_tensor *n) {                                   \
        if (n->dtype == AG_F32 && ag__unary_fwd_vec(n, AG_VEC_FWD(__VA_ARGS__))) return; \
        AG_PARALLEL_FOR(ag__numel(n), ag__unary_grain(ag__numel(n), AG_VEC_FWD(__VA_ARGS__)), fwd_range_##name, n); \
    }                                                                        \
    AG_UNARY_SBWD(NAME, D, __VA_ARGS__)                                         \
    static AG_ALWAYS_INLINE void bwd_range_##name(void *ctx_, int64_t b_, int64_t e_) {       \
        const ag_unary_job *j_ = ctx_;                                       \
        ag_tensor *n = j_->n;                                                \
        if (n->dtype == AG_F64) AG_UNARY_BWD_T(double, n, j_->gx, j_->fresh, D, b_, e_); \
        else AG_UNARY_BWD_T(float, n, j_->gx, j_->fresh, D, b_, e_);         \
    }                                                                        \
    static void bwd_##name(ag_sweep *s, ag_tensor *n) {                      \
        if (!n->ndim) {                                                      \
            ag__sbwd_##NAME(s, n);                                           \
            return;                                                          \
        }                                                                    \
        if (n->dtype == AG_F32 && ag__unary_bwd_vec(s, n, AG_VEC_BWD(__VA_ARGS__))) return; \
        bool fresh_ = false;                                                 \
        void *gx_ = ag__sweep_dst(s, n->in[0], &fresh_);                     \
        ag_unary_job j_ = {n, gx_, NULL, NULL, fresh_};                      \
        if (j_.gx)                                                           \
            AG_PARALLEL_FOR(ag__numel(n), ag__unary_grain(ag__numel(n), AG_VEC_FWD(__VA_ARGS__)), bwd_range_##name, &j_); \
    }                                                                        \
    static bool svjp_##name(ag_tape *t, int nin, ag_tensor *const *in, ag_tensor *Y, double C, \
                            const double *p, ag_tensor *G, ag_tensor **gin) { \
        ag_tensor *X = in[0], *n = Y; /* clamp's V reads its node n */       \
        (void)t; (void)nin; (void)X; (void)n; (void)C; (void)p;              \
        return (gin[0] = (V)) != NULL;                                       \
    }                                                                        \
    static bool vjp_##name(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) { \
        return svjp_##name(t, 1, n->in, n, n->attr.c, NULL, G, gin);         \
    }                                                                        \
    const ag_op_info ag__op_##NAME = {#name, 1, fwd_##name, bwd_##name, FORMULA, vjp_##name, \
                                      svjp_##name};                          \
    AG_UNARY_SCALAR_REC(NAME, name, F, D, __VA_ARGS__)

/* Recorders. rec_NAME(t, a, b) and rec_NAME(t, x, c) take, in order:
 *   1. the scalar tape (core/stmt.h), inline: every input a statement of t
 *      and room on the tape: one statement, its partials computed here from
 *      the same formulas as the kernels (a partial only for an input that
 *      requires a gradient; 0 in its place otherwise);
 *   2. in rec_slow_NAME: the scalar tape after importing a parameter or a
 *      0-d f64 leaf node, or after making room; else the 0-d node fast path
 *      (core/scalar_path.h: f32 scalars, 0-d f64 op nodes), with any
 *      statement input promoted to a node; else ag__elementwise_binary or
 *      ag__elementwise_unary.
 * A unary F that reads the node beyond attr.c (clamp's bounds in ext) must
 * not use rec_NAME: its statement and fast node have no ext. */
#define AG_BINARY_STMT_REC(NAME, name, F, DA, DB)                            \
    static AG_ALWAYS_INLINE ag_tensor *rec_st_##name(ag_tape *t, ag_tensor *a_, ag_tensor *b_) { \
        const uint16_t ka_ = ag__stmt_kind(a_), kb_ = ag__stmt_kind(b_);     \
        const uint32_t ia_ = ag__stmt_index(a_), ib_ = ag__stmt_index(b_);   \
        const double a = ag__stmt_val(a_), b = ag__stmt_val(b_);             \
        size_t o_;                                                           \
        double *v_ = ag__stmt_push(&t->s, (uint16_t)(AG_OP_##NAME | ((ka_ | kb_) & AG_SK_REQ)), 2, &o_); \
        const double y = (F);                                                \
        (void)y;                                                             \
        *v_ = y;                                                             \
        double *p_ = t->s.p + o_;                                            \
        uint32_t *in_ = t->s.in + o_;                                        \
        p_[0] = (ka_ & AG_SK_REQ) ? (double)(DA) : 0.0;                      \
        p_[1] = (kb_ & AG_SK_REQ) ? (double)(DB) : 0.0;                      \
        in_[0] = ia_;                                                        \
        in_[1] = ib_;                                                        \
        return ag__stmt_of_slot(v_);                                         \
    }

#define AG_BINARY_SCALAR_REC(NAME, name, F, DA, DB)                          \
    AG_BINARY_STMT_REC(NAME, name, F, DA, DB)                                \
    static inline ag_tensor *rec_s_##name(ag_tape *t, ag_tensor *a_, ag_tensor *b_, int dt) { \
        ag_tensor *n_ = ag__scalar_push(t, AG_OP_##NAME, dt,                 \
                                        (a_->flags | b_->flags) & AG_F_REQUIRES_GRAD, \
                                        a_, b_, (ag_attr){.c = 0});          \
        if (n_) {                                                            \
            const double a = ag__scalar_get(a_, dt), b = ag__scalar_get(b_, dt); \
            ag__scalar_set(n_, dt, (F));                                     \
        }                                                                    \
        return n_;                                                           \
    }                                                                        \
    static AG_NOINLINE ag_tensor *rec_slow_##name(ag_tape *t, ag_tensor *a_, ag_tensor *b_) { \
        if (t && a_ && b_) {                                                 \
            if (ag__stmt_can_operand(t, a_) && ag__stmt_can_operand(t, b_)) { \
                ag_tensor *sa_ = ag__stmt_operand(t, a_);                    \
                ag_tensor *sb_ = sa_ ? ag__stmt_operand(t, b_) : NULL;       \
                if (sa_ && sb_ && (ag__stmt_has_room(&t->s) || ag__stmt_reserve(t, 2)))     \
                    return ag__record_done(t, rec_st_##name(t, sa_, sb_));   \
                if (t->err != AG_OK) return NULL;                            \
            }                                                                \
            ag_tensor *xs_[2] = {a_, b_}; /* the owner and dtype checks, before promoting */ \
            if (!ag__record_check_inputs(t, #name, 2, xs_)) return NULL; \
            if (!(a_ = ag__stmt_promote(t, a_)) || !(b_ = ag__stmt_promote(t, b_))) return NULL; \
        }                                                                    \
        if (ag__scalar_tape(t) && ag__scalar_input(t, a_) && ag__scalar_input(t, b_) && \
            a_->dtype == b_->dtype) {                                        \
            ag_tensor *n_ = a_->dtype == AG_F64 ? rec_s_##name(t, a_, b_, AG_F64) \
                                                : rec_s_##name(t, a_, b_, AG_F32); \
            if (n_) return n_;                                               \
        }                                                                    \
        return ag__elementwise_binary(t, AG_OP_##NAME, a_, b_);              \
    }                                                                        \
    static inline ag_tensor *rec_##name(ag_tape *t, ag_tensor *a_, ag_tensor *b_) { \
        if (AG_LIKELY(t && ag__stmt_has_room(&t->s))) {                                                \
            ag_tensor *sa_ = ag__stmt_fast_operand(t, a_);                   \
            ag_tensor *sb_ = sa_ ? ag__stmt_fast_operand(t, b_) : NULL;      \
            if (AG_LIKELY(sb_ != NULL)) return rec_st_##name(t, sa_, sb_);                      \
        }                                                                    \
        if (!t || !a_ || !b_ || (!ag__is_stmt(a_) && a_->ndim) || (!ag__is_stmt(b_) && b_->ndim)) \
            return ag__elementwise_binary(t, AG_OP_##NAME, a_, b_); /* a tensor: no scalar path */ \
        return rec_slow_##name(t, a_, b_);                                   \
    }

/* The unary forms. The op keeps c when c is nonzero (bitwise: -0 is kept),
 * in the constant stream, unless c is its one partial (x*c): then the
 * partial is the constant. */
#define AG_UNARY_STMT_REC(NAME, name, F, D)                                  \
    static AG_ALWAYS_INLINE ag_tensor *rec_st_##name(ag_tape *t, ag_tensor *x_, double c) { \
        ag_tensor *const n = NULL; /* F and D of clamp read n: never here */ \
        (void)n;                                                             \
        const uint16_t kx_ = ag__stmt_kind(x_);                              \
        const uint32_t ix_ = ag__stmt_index(x_);                             \
        const double x = ag__stmt_val(x_);                                   \
        const double y = (F);                                                \
        (void)y;                                                             \
        const double d_ = (kx_ & AG_SK_REQ) ? (double)(D) : 0.0;            \
        uint16_t kind_ = (uint16_t)(AG_OP_##NAME | (kx_ & AG_SK_REQ));       \
        uint64_t cb_, db_;                                                   \
        memcpy(&cb_, &c, sizeof cb_);                                        \
        memcpy(&db_, &d_, sizeof db_);                                       \
        if (cb_) kind_ |= cb_ == db_ ? AG_SK_C_IS_P : AG_SK_CONST;           \
        size_t o_;                                                           \
        double *v_ = ag__stmt_push(&t->s, kind_, 1, &o_);                    \
        *v_ = y;                                                             \
        t->s.p[o_] = d_;                                                     \
        t->s.in[o_] = ix_;                                                   \
        if (kind_ & AG_SK_CONST) t->s.c[t->s.nc++] = c;                      \
        return ag__stmt_of_slot(v_);                                         \
    }

#define AG_UNARY_SCALAR_REC(NAME, name, F, D, ...) /* ...: the op's VEC */ \
    AG_UNARY_STMT_REC(NAME, name, F, D)                                      \
    static inline ag_tensor *rec_s_##name(ag_tape *t, ag_tensor *x_, double c, int dt) { \
        ag_tensor *n = ag__scalar_push(t, AG_OP_##NAME, dt, x_->flags & AG_F_REQUIRES_GRAD, \
                                       x_, NULL, (ag_attr){.c = c});         \
        if (n) {                                                             \
            const double x = ag__scalar_get(x_, dt);                         \
            ag_vfun *vf_ = dt == AG_F32 ? AG_VEC_FWD(__VA_ARGS__) : NULL;    \
            ag__scalar_set(n, dt, vf_ ? ag__vec_one(vf_, x) : (F));          \
        }                                                                    \
        return n;                                                            \
    }                                                                        \
    static AG_NOINLINE ag_tensor *rec_slow_##name(ag_tape *t, ag_tensor *x_, double c) { \
        if (t && x_) {                                                       \
            if (ag__stmt_can_operand(t, x_)) {                               \
                ag_tensor *sx_ = ag__stmt_operand(t, x_);                    \
                if (sx_ && (ag__stmt_has_room(&t->s) || ag__stmt_reserve(t, 1)))            \
                    return ag__record_done(t, rec_st_##name(t, sx_, c));     \
                if (t->err != AG_OK) return NULL;                            \
            }                                                                \
            if (!ag__record_check_inputs(t, #name, 1, &x_)) return NULL; \
            if (!(x_ = ag__stmt_promote(t, x_))) return NULL;                \
        }                                                                    \
        if (ag__scalar_tape(t) && ag__scalar_input(t, x_)) {                 \
            ag_tensor *n_ = x_->dtype == AG_F64 ? rec_s_##name(t, x_, c, AG_F64) \
                                                : rec_s_##name(t, x_, c, AG_F32); \
            if (n_) return n_;                                               \
        }                                                                    \
        return ag__elementwise_unary(t, AG_OP_##NAME, x_, c);                \
    }                                                                        \
    static inline ag_tensor *rec_##name(ag_tape *t, ag_tensor *x_, double c) { \
        if (AG_LIKELY(t && ag__stmt_has_room(&t->s))) {                                                \
            ag_tensor *sx_ = ag__stmt_fast_operand(t, x_);                   \
            if (AG_LIKELY(sx_ != NULL)) return rec_st_##name(t, sx_, c);                        \
        }                                                                    \
        if (!t || !x_ || (!ag__is_stmt(x_) && x_->ndim))                     \
            return ag__elementwise_unary(t, AG_OP_##NAME, x_, c); /* a tensor: no scalar path */ \
        return rec_slow_##name(t, x_, c);                                    \
    }

#endif
