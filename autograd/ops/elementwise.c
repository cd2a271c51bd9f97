/* Elementwise binary ops with NumPy broadcasting, their scalar-constant
 * forms, and where(). Each op's forward formula sits beside its local
 * derivatives; the kernels come from kernels.h. */
#include "kernels.h"

/* Constant factors of piecewise derivatives, for the recorded (graph)
 * backward: the derivative of a mask is zero almost everywhere. */
static double pos_or_nan(double a, double c) { (void)c; return a > 0 ? 1.0 : (a == 0 ? 0.0 : NAN); }
static double pos_or_one(double a, double c) { (void)c; return a > 0 ? a : 1.0; }
static ag_tensor *tie_mask(ag_tape *t, ag_tensor *n, ag_tensor *a, ag_tensor *b, int operand);

/* log(a) where a > 0 and 0 elsewhere, without a log of 0 on the graph. */
static ag_tensor *safe_log(ag_tape *t, ag_tensor *a) {
    return ag_log(t, ag_where(t, ag__vjp_const_map(t, a, pos_or_nan, 0), a,
                              ag__vjp_const_map(t, a, pos_or_one, 0)));
}

/* a^2 + b^2 as graph ops (atan2's derivative). */
static ag_tensor *norm2(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return ag_add(t, ag_square(t, a), ag_square(t, b));
}

#define AG_BINARY_OP AG_DEFINE_BINARY
#define AG_UNARY_OP AG_DEFINE_UNARY
#include "elementwise_rules.h"
#undef AG_BINARY_OP
#undef AG_UNARY_OP

/* The constant d maximum/minimum / d operand, in the output's shape: 1 where
 * the operand wins, 0 where it loses, 1/2 at a tie. */
static AG_ALWAYS_INLINE void tie_mask_walk(int dt, ag_tensor *n, void *pm, int operand, bool is_max) {
    const void *pa = ag__val(n->in[0]), *pb = ag__val(n->in[1]);
    if (!n->ndim) {
        const double a = ag__ld(pa, dt, 0), b = ag__ld(pb, dt, 0);
        ag__st(pm, dt, 0, a == b ? 0.5 : ((operand ? b > a : a > b) == is_max));
        return;
    }
    ag_bcast bc;
    ag__bcast_binary(&bc, n);
    const int64_t sa = bc.st[0][bc.nd - 1], sb = bc.st[1][bc.nd - 1];
    AG_BCAST_ROWS(bc, o, off, {
        for (int64_t j = 0; j < rowlen_; j++) {
            const double a = ag__ld(pa, dt, off[0] + j * sa), b = ag__ld(pb, dt, off[1] + j * sb);
            ag__st(pm, dt, o + j, a == b ? 0.5 : ((operand ? b > a : a > b) == is_max));
        }
    });
}

/* n is the maximum or minimum (a node or a scalar statement) of a and b. */
static ag_tensor *tie_mask(ag_tape *t, ag_tensor *n, ag_tensor *a, ag_tensor *b, int operand) {
    if (ag__is_stmt(n)) {
        const bool is_max = ag__sk_op(ag__stmt_kind(n)) == AG_OP_MAXIMUM;
        const double x = ag__stmt_val(a), y = ag__stmt_val(b);
        return ag_scalar(t, x == y ? 0.5 : ((operand ? y > x : x > y) == is_max));
    }
    (void)a, (void)b; /* n's inputs */
    ag_tensor *m = ag_tensor_new(t, (ag_dtype)n->dtype, n->ndim, ag__shape(n), NULL);
    if (!m) return NULL;
    AG_BY_DTYPE(n->dtype, tie_mask_walk, n, ag__val(m), operand, n->op == AG_OP_MAXIMUM);
    return m;
}

ag_tensor *ag__elementwise_binary(ag_tape *t, ag_op op, ag_tensor *a, ag_tensor *b) {
    const char *name = ag__ops[op]->name;
    ag_tensor *xs[2] = {a, b};
    if (!ag__record_check_inputs(t, name, 2, xs)) return NULL;
    if (!(a = ag__stmt_promote(t, a)) || !(b = ag__stmt_promote(t, b))) return NULL;
    int nd;
    int64_t shape[AG_MAX_DIMS];
    if (!ag__bcast_shape(a->ndim, ag__shape(a), b->ndim, ag__shape(b), &nd, shape)) {
        char sa[96], sb[96];
        return ag__error_fail(t, AG_ERR_SHAPE, name, "shapes %s and %s do not broadcast",
                        ag__error_fmt_operand(sa, sizeof sa, a),
                        ag__error_fmt_operand(sb, sizeof sb, b));
    }
    return ag__record(t, op, (ag_dtype)a->dtype, nd, shape, a, b, (ag_attr){.c = 0});
}

ag_tensor *ag__elementwise_unary(ag_tape *t, ag_op op, ag_tensor *x, double c) {
    if (!ag__record_check_inputs(t, ag__ops[op]->name, 1, &x)) return NULL;
    if (!(x = ag__stmt_promote(t, x))) return NULL;
    return ag__record(t, op, (ag_dtype)x->dtype, x->ndim, ag__shape(x), x, NULL, (ag_attr){.c = c});
}

ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_add(t, a, b); }
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_sub(t, a, b); }
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_mul(t, a, b); }
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_div(t, a, b); }
ag_tensor *ag_pow(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_pow(t, a, b); }
ag_tensor *ag_maximum(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_maximum(t, a, b); }
ag_tensor *ag_minimum(ag_tape *t, ag_tensor *a, ag_tensor *b) { return rec_minimum(t, a, b); }
ag_tensor *ag_atan2(ag_tape *t, ag_tensor *y, ag_tensor *x) { return rec_atan2(t, y, x); }

ag_tensor *ag_add_c(ag_tape *t, ag_tensor *x, double c) { return rec_add_c(t, x, c); }
ag_tensor *ag_rsub_c(ag_tape *t, double c, ag_tensor *x) { return rec_rsub_c(t, x, c); }
ag_tensor *ag_mul_c(ag_tape *t, ag_tensor *x, double c) { return rec_mul_c(t, x, c); }
ag_tensor *ag_rdiv_c(ag_tape *t, double c, ag_tensor *x) { return rec_rdiv_c(t, x, c); }
ag_tensor *ag_pow_c(ag_tape *t, ag_tensor *x, double c) { return rec_pow_c(t, x, c); }

ag_tensor *ag_rpow_c(ag_tape *t, double c, ag_tensor *x) {
    if (t && t->err == AG_OK && x && !(c > 0))
        return ag__error_fail(t, AG_ERR_ARG, "rpow_c", "base %g must be > 0", c);
    return rec_rpow_c(t, x, c);
}

/* ------------------------------------------------------------------ where */

static void where_bcast(ag_bcast *bc, const ag_tensor *n) {
    const ag_tensor *m = n->in[0], *a = n->in[1], *b = ag__input(n, 2);
    int nds[3] = {m->ndim, a->ndim, b->ndim};
    const int64_t *shapes[3] = {ag__shape(m), ag__shape(a), ag__shape(b)};
    ag__bcast_init(bc, n->ndim, ag__shape(n), 3, nds, shapes);
}

/* y = m != 0 ? a : b; with gradient buffers ga, gb instead of y (either
 * NULL), the backward: d where(m,a,b)/da = [m != 0], d/db = [m == 0]; the
 * mask gets nothing. */
static AG_ALWAYS_INLINE void where_walk(int dt, ag_tensor *n, void *py, const void *pg, void *ga,
                                        void *gb) {
    const void *pm = ag__val(n->in[0]), *pa = ag__val(n->in[1]), *pb = ag__val(ag__input(n, 2));
    ag_bcast bc;
    where_bcast(&bc, n);
    AG_BCAST_ROWS(bc, o, off, {
        for (int64_t j = 0; j < rowlen_; j++) {
            const int64_t im = off[0] + j * bc.st[0][nd_ - 1], ia = off[1] + j * bc.st[1][nd_ - 1],
                          ib = off[2] + j * bc.st[2][nd_ - 1];
            const bool take_a = ag__ld(pm, dt, im) != 0;
            if (py) ag__st(py, dt, o + j, take_a ? ag__ld(pa, dt, ia) : ag__ld(pb, dt, ib));
            else if (take_a && ga) ag__kernel_acc(ga, dt, ia, ag__ld(pg, dt, o + j));
            else if (!take_a && gb) ag__kernel_acc(gb, dt, ib, ag__ld(pg, dt, o + j));
        }
    });
}

static void fwd_where(ag_tensor *n) {
    AG_BY_DTYPE(n->dtype, where_walk, n, ag__val(n), NULL, NULL, NULL);
}

static void bwd_where(ag_sweep *s, ag_tensor *n) {
    void *ga = ag__sweep_acc(s, n->in[1]), *gb = ag__sweep_acc(s, ag__input(n, 2));
    if (ga || gb) AG_BY_DTYPE(n->dtype, where_walk, n, NULL, ag__grad(n), ga, gb);
}

/* The same as graph ops: a gets where(m, g, 0), b gets where(m, 0, g). */
static bool vjp_where(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *m = n->in[0], *a = n->in[1], *b = ag__input(n, 2);
    ag_tensor *zero = ag_scalar_of(t, (ag_dtype)n->dtype, 0.0);
    if (ag__requires_grad(a) && !(gin[1] = ag_where(t, m, g, zero))) return false;
    if (ag__requires_grad(b) && !(gin[2] = ag_where(t, m, zero, g))) return false;
    return true;
}

const ag_op_info ag__op_WHERE = {"where", 3, fwd_where, bwd_where,
                                 "d where(m,a,b)/da = [m!=0], d where(m,a,b)/db = [m==0]", vjp_where, NULL};

ag_tensor *ag_where(ag_tape *t, ag_tensor *mask, ag_tensor *a, ag_tensor *b) {
    mask = ag__stmt_promote(t, mask);
    a = ag__stmt_promote(t, a);
    b = ag__stmt_promote(t, b);
    ag_tensor *xs[3] = {mask, a, b};
    if (!ag__record_check_inputs(t, "where", 3, xs)) return NULL;
    int nd1, nd;
    int64_t s1[AG_MAX_DIMS], shape[AG_MAX_DIMS];
    if (!ag__bcast_shape(a->ndim, ag__shape(a), b->ndim, ag__shape(b), &nd1, s1) ||
        !ag__bcast_shape(mask->ndim, ag__shape(mask), nd1, s1, &nd, shape)) {
        char sm[96], sa[96], sb[96];
        return ag__error_fail(t, AG_ERR_SHAPE, "where", "shapes %s, %s and %s do not broadcast",
                        ag__error_fmt_operand(sm, sizeof sm, mask),
                        ag__error_fmt_operand(sa, sizeof sa, a),
                        ag__error_fmt_operand(sb, sizeof sb, b));
    }
    /* The mask never needs a gradient: record it as an input all the same
     * (traces show it), and let ag__sweep_acc skip it if it has none. */
    ag_tensor *n = ag__record_node_n(t, AG_OP_WHERE, (ag_dtype)a->dtype, nd, shape, 3, xs);
    if (!n) return NULL;
    fwd_where(n);
    return ag__record_done(t, n);
}
