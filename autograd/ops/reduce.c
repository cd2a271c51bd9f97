/* Reductions over one axis or all elements, with keepdims: sum, mean, max,
 * min, logsumexp and variance. The input is viewed as (outer, len, inner)
 * around the reduced axis (ag__shape_view); attr.r.axis holds the axis
 * (AG_ALL for all) and attr.r.flag the keepdims flag, or for var the
 * correction. Accumulation is in double for both dtypes. */
#include "kernels.h"

/* ------------------------------------------------------------ sum, mean */

/* Sum (scale 1) and mean (scale 1/len) share their kernels. */
static double mean_scale(const ag_tensor *n, ag_view3 v) {
    return n->op == AG_OP_MEAN ? 1.0 / (double)v.len : 1.0;
}

static AG_ALWAYS_INLINE void sum_fwd(int dt, const void *px, void *py, ag_view3 v, double scale) {
    AG_FOR_SLOTS(v, j, b, {
        double acc = 0;
        for (int64_t k = 0; k < v.len; k++) acc += ag__ld(px, dt, b + k * v.inner);
        ag__st(py, dt, j, acc * scale);
    });
}

/* d sum(x)/dx_k = 1 and d mean(x)/dx_k = 1/len: the upstream gradient is
 * spread back over the reduced axis. */
static AG_ALWAYS_INLINE void sum_bwd(int dt, const void *pg, void *gx, ag_view3 v, double scale) {
    AG_FOR_SLOTS(v, j, b, {
        const double g = ag__ld(pg, dt, j) * scale;
        for (int64_t k = 0; k < v.len; k++) ag__kernel_acc(gx, dt, b + k * v.inner, g);
    });
}

static void fwd_sum(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    AG_BY_DTYPE(n->dtype, sum_fwd, ag__val(x), ag__val(n), v, mean_scale(n, v));
}

static void bwd_sum(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    AG_BY_DTYPE(n->dtype, sum_bwd, ag__grad(n), gx, v, mean_scale(n, v));
}

/* Graph form: g, back in keepdims shape, broadcast over the axis. */
static bool vjp_sum(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    ag_tensor *gx = ag_broadcast_to(t, ag__vjp_unreduce(t, g, x, n->attr.r.axis), x->ndim, ag__shape(x));
    if (n->op == AG_OP_MEAN) gx = ag_mul_c(t, gx, mean_scale(n, v));
    return (gin[0] = gx) != NULL;
}

const ag_op_info ag__op_SUM = {"sum", 1, fwd_sum, bwd_sum, "d sum(x)/dx_i = 1", vjp_sum, NULL};
const ag_op_info ag__op_MEAN = {"mean", 1, fwd_sum, bwd_sum, "d mean(x)/dx_i = 1/len", vjp_sum, NULL};

/* -------------------------------------------------------------- max, min */

/* A NaN anywhere in the slot makes the result NaN (as PyTorch). */
static AG_ALWAYS_INLINE void extreme_fwd(int dt, const void *px, void *py, ag_view3 v, bool is_max) {
    AG_FOR_SLOTS(v, j, b, {
        double m = ag__ld(px, dt, b);
        for (int64_t k = 1; k < v.len && m == m; k++) {
            const double e = ag__ld(px, dt, b + k * v.inner);
            if (e != e || (is_max ? e > m : e < m)) m = e;
        }
        ag__st(py, dt, j, m);
    });
}

/* The number of elements of slot b equal to its extreme y (0 if y is NaN). */
static AG_ALWAYS_INLINE int64_t extreme_ties(int dt, const void *px, ag_view3 v, int64_t b, double y) {
    int64_t ties = 0;
    for (int64_t k = 0; k < v.len; k++) ties += ag__ld(px, dt, b + k * v.inner) == y;
    return ties;
}

/* d max(x)/dx_k = 1/t for the t elements equal to the max, 0 elsewhere:
 * ties split the gradient so it still sums to the upstream gradient. With
 * add, dst += g · that derivative (the backward); else dst = the
 * derivative itself (the constant mask of the recorded backward). */
static AG_ALWAYS_INLINE void extreme_share(int dt, const void *px, const void *py, const void *pg,
                                           void *dst, ag_view3 v, bool add) {
    AG_FOR_SLOTS(v, j, b, {
        const double y = ag__ld(py, dt, j);
        const int64_t ties = extreme_ties(dt, px, v, b, y);
        if (add && !ties) continue; /* NaN */
        const double share = (add ? ag__ld(pg, dt, j) : 1.0) / (double)ties;
        for (int64_t k = 0; k < v.len; k++) {
            const int64_t e = b + k * v.inner;
            const bool hit = ag__ld(px, dt, e) == y;
            if (add && hit) ag__kernel_acc(dst, dt, e, share);
            else if (!add) ag__st(dst, dt, e, hit ? share : 0.0);
        }
    });
}

static void fwd_extreme(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    AG_BY_DTYPE(n->dtype, extreme_fwd, ag__val(x), ag__val(n), v, n->op == AG_OP_MAX);
}

static void bwd_extreme(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    AG_BY_DTYPE(n->dtype, extreme_share, ag__val(x), ag__val(n), ag__grad(n), gx, v, true);
}

/* Graph form: g times the constant d max/dx (1/ties where x equals the
 * extreme, else 0). */
static bool vjp_extreme(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    ag_tensor *m = ag_tensor_new(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x), NULL);
    if (!m) return false;
    AG_BY_DTYPE(n->dtype, extreme_share, ag__val(x), ag__val(n), NULL, ag__val(m), v, false);
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, n->attr.r.axis), m)) != NULL;
}

const ag_op_info ag__op_MAX = {"max", 1, fwd_extreme, bwd_extreme,
                               "d max(x)/dx_i = [x_i = max] / (number of ties)", vjp_extreme, NULL};
const ag_op_info ag__op_MIN = {"min", 1, fwd_extreme, bwd_extreme,
                               "d min(x)/dx_i = [x_i = min] / (number of ties)", vjp_extreme, NULL};

/* ------------------------------------------------------------- logsumexp */

/* y = m + log(sum exp(x - m)), m = max(x): no exp overflows. If every
 * element is -inf, y = -inf; if one is +inf, y = +inf. */
static AG_ALWAYS_INLINE void lse_fwd(int dt, const void *px, void *py, ag_view3 v) {
    AG_FOR_SLOTS(v, j, b, {
        double m = -INFINITY;
        for (int64_t k = 0; k < v.len; k++) m = fmax(m, ag__ld(px, dt, b + k * v.inner));
        if (isinf(m)) {
            ag__st(py, dt, j, m);
            continue;
        }
        double acc = 0;
        for (int64_t k = 0; k < v.len; k++) acc += exp(ag__ld(px, dt, b + k * v.inner) - m);
        ag__st(py, dt, j, m + log(acc));
    });
}

/* d lse(x)/dx_i = exp(x_i - lse(x)) = softmax(x)_i. */
static AG_ALWAYS_INLINE void lse_bwd(int dt, const void *px, const void *py, const void *pg,
                                     void *gx, ag_view3 v) {
    AG_FOR_SLOTS(v, j, b, {
        const double y = ag__ld(py, dt, j), g = ag__ld(pg, dt, j);
        if (isinf(y)) continue; /* all -inf: no element matters */
        for (int64_t k = 0; k < v.len; k++) {
            const int64_t e = b + k * v.inner;
            ag__kernel_acc(gx, dt, e, g * exp(ag__ld(px, dt, e) - y));
        }
    });
}

/* The f32 forms, the exps by the vector math (kernels/vmath.h), the shift
 * carried exactly; the sum and the log in double. */
static void lse_fwd_f32(const float *px, float *py, ag_view3 v) {
    AG_FOR_SLOTS(v, j, b, {
        double m = -INFINITY;
        for (int64_t k = 0; k < v.len; k++) m = fmax(m, px[b + k * v.inner]);
        py[j] = (float)(isinf(m) ? m : m + log(ag__vmath_sum_exp(px + b, v.inner, v.len, m)));
    });
}

static void lse_bwd_f32(const float *px, const float *py, const float *pg, float *gx, ag_view3 v) {
    enum { CHUNK = 256 };
    float buf[CHUNK];
    ag_vexp_shift *ex = ag__vmath()->exp_shift;
    AG_FOR_SLOTS(v, j, b, {
        const double g = pg[j];
        if (isinf(py[j])) continue; /* all -inf: no element matters */
        for (int64_t k0 = 0; k0 < v.len; k0 += CHUNK) {
            const int64_t m = v.len - k0 < CHUNK ? v.len - k0 : CHUNK, e0 = b + k0 * v.inner;
            ex(px + e0, v.inner, buf, m, py[j], 0.0f);
            for (int64_t k = 0; k < m; k++) gx[e0 + k * v.inner] += (float)(g * buf[k]);
        }
    });
}

static void fwd_logsumexp(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    if (n->dtype == AG_F32) lse_fwd_f32(ag__val(x), ag__val(n), ag__shape_view(x, n->attr.r.axis));
    else AG_BY_DTYPE(n->dtype, lse_fwd, ag__val(x), ag__val(n), ag__shape_view(x, n->attr.r.axis));
}

static void bwd_logsumexp(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    if (n->dtype == AG_F32)
        lse_bwd_f32(ag__val(x), ag__val(n), ag__grad(n), gx, ag__shape_view(x, n->attr.r.axis));
    else
        AG_BY_DTYPE(n->dtype, lse_bwd, ag__val(x), ag__val(n), ag__grad(n), gx,
                    ag__shape_view(x, n->attr.r.axis));
}

/* Graph form: g · exp(x - y), with g and y in keepdims shape. */
static bool vjp_logsumexp(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    int axis = n->attr.r.axis;
    ag_tensor *p = ag_exp(t, ag_sub(t, x, ag__vjp_unreduce(t, n, x, axis)));
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, axis), p)) != NULL;
}

const ag_op_info ag__op_LOGSUMEXP = {"logsumexp", 1, fwd_logsumexp, bwd_logsumexp,
                                     "d lse(x)/dx_i = exp(x_i - lse(x))", vjp_logsumexp, NULL};

/* -------------------------------------------------------------- variance */

/* The mean of slot b. */
static AG_ALWAYS_INLINE double slot_mean(int dt, const void *px, ag_view3 v, int64_t b) {
    double mean = 0;
    for (int64_t k = 0; k < v.len; k++) mean += ag__ld(px, dt, b + k * v.inner);
    return mean / (double)v.len;
}

/* Two passes (mean, then squared deviations) for accuracy. */
static AG_ALWAYS_INLINE void var_fwd(int dt, const void *px, void *py, ag_view3 v, double denom) {
    AG_FOR_SLOTS(v, j, b, {
        const double mean = slot_mean(dt, px, v, b);
        double ss = 0;
        for (int64_t k = 0; k < v.len; k++) {
            const double d = ag__ld(px, dt, b + k * v.inner) - mean;
            ss += d * d;
        }
        ag__st(py, dt, j, ss / denom);
    });
}

/* d var(x)/dx_i = 2 (x_i - mean) / (len - correction); the mean's own
 * dependence on x_i cancels because the deviations sum to zero. */
static AG_ALWAYS_INLINE void var_bwd(int dt, const void *px, const void *pg, void *gx, ag_view3 v,
                                     double denom) {
    AG_FOR_SLOTS(v, j, b, {
        const double mean = slot_mean(dt, px, v, b);
        const double c = 2.0 * ag__ld(pg, dt, j) / denom;
        for (int64_t k = 0; k < v.len; k++) {
            const int64_t e = b + k * v.inner;
            ag__kernel_acc(gx, dt, e, c * (ag__ld(px, dt, e) - mean));
        }
    });
}

/* len - correction, var's denominator. */
static double var_denom(const ag_tensor *n, ag_view3 v) { return (double)(v.len - n->attr.r.flag); }

static void fwd_var(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    AG_BY_DTYPE(n->dtype, var_fwd, ag__val(x), ag__val(n), v, var_denom(n, v));
}

static void bwd_var(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    AG_BY_DTYPE(n->dtype, var_bwd, ag__val(x), ag__grad(n), gx, v, var_denom(n, v));
}

/* Graph form: g · 2 (x - mean(x)) / (len - correction). */
static bool vjp_var(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    int axis = n->attr.r.axis;
    const double denom = var_denom(n, ag__shape_view(x, axis));
    ag_tensor *dev = ag_sub(t, x, ag_mean(t, x, axis, true));
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, axis), ag_mul_c(t, dev, 2.0 / denom))) != NULL;
}

const ag_op_info ag__op_VAR = {"var", 1, fwd_var, bwd_var,
                               "d var(x)/dx_i = 2 (x_i - mean) / (len - correction)", vjp_var, NULL};

/* ------------------------------------------------------------- recording */

/* Checks the axis and records a reduction node with the reduced shape.
 * `flag` is stored in attr.r.flag (keepdims, or var's correction);
 * `min_len` is the fewest elements the reduced axis may have. */
static ag_tensor *reduce(ag_tape *t, ag_op op, ag_tensor *x, int axis, bool keepdims,
                         int32_t flag, int64_t min_len) {
    const char *name = ag__ops[op]->name;
    if (!ag__record_check_inputs(t, name, 1, &x)) return NULL;
    int a = ag__shape_check_reduce_axis(t, name, x, axis);
    if (a == -1) return NULL;
    int64_t len = a == AG_ALL ? ag__numel(x) : x->ext->shape[a];
    if (len < min_len) {
        char sx[96];
        return ag__error_fail(t, AG_ERR_SHAPE, name, "needs at least %lld element%s along the axis, "
                        "shape %s has %lld", (long long)min_len, min_len == 1 ? "" : "s",
                        ag_format_shape(sx, sizeof sx, x->ndim, ag__shape(x)), (long long)len);
    }
    int64_t shape[AG_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        bool reduced = a == AG_ALL || i == a;
        if (!reduced) shape[nd++] = x->ext->shape[i];
        else if (keepdims) shape[nd++] = 1;
    }
    ag_attr attr = {.r = {.axis = a, .flag = flag}};
    return ag__record(t, op, (ag_dtype)x->dtype, nd, shape, x, NULL, attr);
}

ag_tensor *ag_sum(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return reduce(t, AG_OP_SUM, x, axis, keepdims, keepdims, 0);
}

ag_tensor *ag_mean(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return reduce(t, AG_OP_MEAN, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_max(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return reduce(t, AG_OP_MAX, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_min(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return reduce(t, AG_OP_MIN, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return reduce(t, AG_OP_LOGSUMEXP, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_var(ag_tape *t, ag_tensor *x, int axis, bool keepdims, int correction) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (t && x && correction < 0 && ag_tape_status(t) == AG_OK)
        return ag__error_fail(t, AG_ERR_ARG, "var", "correction %d is negative", correction);
    return reduce(t, AG_OP_VAR, x, axis, keepdims, correction, (int64_t)correction + 1);
}
