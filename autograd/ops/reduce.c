/* Reductions over one axis or all elements, with keepdims: sum, mean, max,
 * min, logsumexp and variance. The input is viewed as (outer, len, inner)
 * around the reduced axis (ag__shape_view); attr.r.axis holds the axis
 * (AG_ALL for all) and attr.r.flag the keepdims flag, or for var the
 * correction. Accumulation is in double for both dtypes. */
#include "kernels.h"
#include "reduce_split.h"

/* Every kernel runs through reduce_split.h: a slot's partials over blocks
 * of AG_REDUCE_BLOCK elements, combined in block order, so the result is
 * the same at every thread count. A block function below takes the job,
 * the slot's first element b, the block [k0, k1) and the slot's constants
 * s, t; element k of the slot is at b + k·inner. */
#define RED_BLOCK_ARGS const ag_red_job *jb, int64_t b, int64_t k0, int64_t k1, double s, double t
#define RED_AT(k) (b + (k) * jb->v.inner)

/* ------------------------------------------------------------ sum, mean */

/* Sum (scale 1) and mean (scale 1/len) share their kernels. */
static double mean_scale(const ag_tensor *n, ag_view3 v) {
    return n->op == AG_OP_MEAN ? 1.0 / (double)v.len : 1.0;
}

/* A contiguous slot (inner 1) sums in eight interleaved partial sums,
 * added pairwise at the end: one chain of dependent additions waited on
 * each one (4 cycles an element: the per-channel means of a CNN step).
 * The order depends on the block alone, so the result does not depend on
 * the thread count. */
static AG_ALWAYS_INLINE double sum_block_t(int dt, RED_BLOCK_ARGS) {
    (void)s, (void)t;
    if (jb->v.inner != 1) {
        double acc = 0;
        for (int64_t k = k0; k < k1; k++) acc += ag__ld(jb->px, dt, RED_AT(k));
        return acc;
    }
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t k = k0;
    for (; k + 8 <= k1; k += 8)
        for (int u = 0; u < 8; u++) p[u] += ag__ld(jb->px, dt, b + k + u);
    for (; k < k1; k++) p[k % 8] += ag__ld(jb->px, dt, b + k);
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}
static double sum_block(RED_BLOCK_ARGS) { return AG_BY_DTYPE(jb->dt, sum_block_t, jb, b, k0, k1, s, t); }

static void sum_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++)
        ag__st(jb->dst, jb->dt, j, ag__red_reduce(jb, sum_block, AG_RED_SUM, j, 0, 0) * jb->scale);
}

/* d sum(x)/dx_k = 1 and d mean(x)/dx_k = 1/len: the upstream gradient
 * (times the scale: s) is spread back over the reduced axis, added to dx
 * (jb->flag), or stored into a fresh one: each element is in one slot. */
static AG_ALWAYS_INLINE double sum_bwd_block_t(int dt, RED_BLOCK_ARGS) {
    (void)t;
    if (jb->v.inner == 1) { /* contiguous: loops the compiler vectorises */
        if (jb->flag)
            for (int64_t k = k0; k < k1; k++) ag__kernel_acc(jb->dst, dt, b + k, s);
        else
            for (int64_t k = k0; k < k1; k++) ag__st(jb->dst, dt, b + k, s);
    } else if (jb->flag) {
        for (int64_t k = k0; k < k1; k++) ag__kernel_acc(jb->dst, dt, RED_AT(k), s);
    } else {
        for (int64_t k = k0; k < k1; k++) ag__st(jb->dst, dt, RED_AT(k), s);
    }
    return 0;
}
static double sum_bwd_block(RED_BLOCK_ARGS) {
    return AG_BY_DTYPE(jb->dt, sum_bwd_block_t, jb, b, k0, k1, s, t);
}

static void sum_bwd_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++)
        ag__red_apply(jb, sum_bwd_block, j, ag__ld(jb->pg, jb->dt, j) * jb->scale, 0);
}

static void fwd_sum(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .dst = ag__val(n),
                     .v = ag__shape_view(x, n->attr.r.axis)};
    jb.scale = mean_scale(n, jb.v);
    ag__red_run(&jb, sum_slots);
}

static void bwd_sum(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    bool fresh = false;
    void *gx = ag__sweep_dst(s, x, &fresh);
    if (!gx) return;
    ag_red_job jb = {.dt = n->dtype, .pg = ag__grad(n), .dst = gx, .v = ag__shape_view(x, n->attr.r.axis),
                     .flag = !fresh};
    jb.scale = mean_scale(n, jb.v);
    ag__red_run(&jb, sum_bwd_slots);
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

/* A NaN anywhere in the slot makes the result NaN (as PyTorch). jb->flag:
 * max, else min. */
static AG_ALWAYS_INLINE double extreme_block_t(int dt, RED_BLOCK_ARGS) {
    (void)s, (void)t;
    double m = ag__ld(jb->px, dt, RED_AT(k0));
    for (int64_t k = k0 + 1; k < k1 && m == m; k++) {
        const double e = ag__ld(jb->px, dt, RED_AT(k));
        if (e != e || (jb->flag ? e > m : e < m)) m = e;
    }
    return m;
}
static double extreme_block(RED_BLOCK_ARGS) {
    return AG_BY_DTYPE(jb->dt, extreme_block_t, jb, b, k0, k1, s, t);
}

static void extreme_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    const ag_red_combine how = jb->flag ? AG_RED_MAX : AG_RED_MIN;
    for (int64_t j = j0; j < j1; j++)
        ag__st(jb->dst, jb->dt, j, ag__red_reduce(jb, extreme_block, how, j, 0, 0));
}

/* The number of elements equal to the slot's extreme s (0 if s is NaN). */
static AG_ALWAYS_INLINE double ties_block_t(int dt, RED_BLOCK_ARGS) {
    (void)t;
    int64_t ties = 0;
    for (int64_t k = k0; k < k1; k++) ties += ag__ld(jb->px, dt, RED_AT(k)) == s;
    return (double)ties;
}
static double ties_block(RED_BLOCK_ARGS) { return AG_BY_DTYPE(jb->dt, ties_block_t, jb, b, k0, k1, s, t); }

/* Where x equals the extreme s: with jb->flag (add), dst += t; else dst =
 * t there and 0 elsewhere. */
static AG_ALWAYS_INLINE double share_block_t(int dt, RED_BLOCK_ARGS) {
    for (int64_t k = k0; k < k1; k++) {
        const int64_t e = RED_AT(k);
        const bool hit = ag__ld(jb->px, dt, e) == s;
        if (jb->flag && hit) ag__kernel_acc(jb->dst, dt, e, t);
        else if (!jb->flag) ag__st(jb->dst, dt, e, hit ? t : 0.0);
    }
    return 0;
}
static double share_block(RED_BLOCK_ARGS) {
    return AG_BY_DTYPE(jb->dt, share_block_t, jb, b, k0, k1, s, t);
}

/* d max(x)/dx_k = 1/t for the t elements equal to the max, 0 elsewhere:
 * ties split the gradient so it still sums to the upstream gradient. With
 * add (jb->flag), dst += g · that derivative (the backward); else dst = the
 * derivative itself (the constant mask of the recorded backward). */
static void share_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const double y = ag__ld(jb->py, jb->dt, j);
        const double ties = ag__red_reduce(jb, ties_block, AG_RED_SUM, j, y, 0);
        if (jb->flag && !ties) continue; /* NaN */
        ag__red_apply(jb, share_block, j, y, (jb->flag ? ag__ld(jb->pg, jb->dt, j) : 1.0) / ties);
    }
}

static void fwd_extreme(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .dst = ag__val(n),
                     .v = ag__shape_view(x, n->attr.r.axis), .flag = n->op == AG_OP_MAX};
    ag__red_run(&jb, extreme_slots);
}

/* dst += g · d extreme/dx (add), or dst = d extreme/dx. */
static void extreme_share(ag_tensor *n, const void *pg, void *dst, bool add) {
    ag_tensor *x = n->in[0];
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .py = ag__val(n), .pg = pg, .dst = dst,
                     .v = ag__shape_view(x, n->attr.r.axis), .flag = add};
    ag__red_run(&jb, share_slots);
}

static void bwd_extreme(ag_sweep *s, ag_tensor *n) {
    void *gx = ag__sweep_acc(s, n->in[0]);
    if (gx) extreme_share(n, ag__grad(n), gx, true);
}

/* Graph form: g times the constant d max/dx (1/ties where x equals the
 * extreme, else 0). */
static bool vjp_extreme(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    ag_tensor *m = ag_tensor_new(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x), NULL);
    if (!m) return false;
    extreme_share(n, NULL, ag__val(m), false);
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, n->attr.r.axis), m)) != NULL;
}

const ag_op_info ag__op_MAX = {"max", 1, fwd_extreme, bwd_extreme,
                               "d max(x)/dx_i = [x_i = max] / (number of ties)", vjp_extreme, NULL};
const ag_op_info ag__op_MIN = {"min", 1, fwd_extreme, bwd_extreme,
                               "d min(x)/dx_i = [x_i = min] / (number of ties)", vjp_extreme, NULL};

/* ------------------------------------------------------------- logsumexp */

/* The max ignoring NaNs (fmax), from -inf. */
static AG_ALWAYS_INLINE double fmax_block_t(int dt, RED_BLOCK_ARGS) {
    (void)s, (void)t;
    double m = -INFINITY;
    for (int64_t k = k0; k < k1; k++) m = fmax(m, ag__ld(jb->px, dt, RED_AT(k)));
    return m;
}
static double fmax_block(RED_BLOCK_ARGS) { return AG_BY_DTYPE(jb->dt, fmax_block_t, jb, b, k0, k1, s, t); }

/* sum exp(x - s): in double for f64; for f32 the exps by the vector math
 * (kernels/vmath.h), the shift carried exactly, the sum in double. */
static double sum_exp_block(RED_BLOCK_ARGS) {
    (void)t;
    if (jb->dt == AG_F32)
        return ag__vmath_sum_exp((const float *)jb->px + RED_AT(k0), jb->v.inner, k1 - k0, s);
    double acc = 0;
    for (int64_t k = k0; k < k1; k++) acc += exp(((const double *)jb->px)[RED_AT(k)] - s);
    return acc;
}

/* y = m + log(sum exp(x - m)), m = max(x): no exp overflows. If every
 * element is -inf, y = -inf; if one is +inf, y = +inf. */
static void lse_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const double m = ag__red_reduce(jb, fmax_block, AG_RED_FMAX, j, 0, 0);
        const double y = isinf(m) ? m : m + log(ag__red_reduce(jb, sum_exp_block, AG_RED_SUM, j, m, 0));
        ag__st(jb->dst, jb->dt, j, y);
    }
}

/* d lse(x)/dx_i = exp(x_i - lse(x)) = softmax(x)_i: dst += t · exp(x - s)
 * (s = y, t = g). */
static double lse_bwd_block(RED_BLOCK_ARGS) {
    if (jb->dt == AG_F64) {
        const double *px = jb->px;
        double *gx = jb->dst;
        for (int64_t k = k0; k < k1; k++) gx[RED_AT(k)] += t * exp(px[RED_AT(k)] - s);
        return 0;
    }
    enum { CHUNK = 256 };
    float buf[CHUNK];
    const float *px = jb->px;
    float *gx = jb->dst;
    ag_vexp_shift *ex = ag__vmath()->exp_shift;
    for (int64_t c0 = k0; c0 < k1; c0 += CHUNK) {
        const int64_t m = k1 - c0 < CHUNK ? k1 - c0 : CHUNK, e0 = RED_AT(c0);
        ex(px + e0, jb->v.inner, buf, m, (float)s, 0.0f);
        for (int64_t k = 0; k < m; k++) gx[e0 + k * jb->v.inner] += (float)(t * buf[k]);
    }
    return 0;
}

static void lse_bwd_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const double y = ag__ld(jb->py, jb->dt, j);
        if (isinf(y)) continue; /* all -inf: no element matters */
        ag__red_apply(jb, lse_bwd_block, j, y, ag__ld(jb->pg, jb->dt, j));
    }
}

static void fwd_logsumexp(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .dst = ag__val(n),
                     .v = ag__shape_view(x, n->attr.r.axis)};
    ag__red_run(&jb, lse_slots);
}

static void bwd_logsumexp(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .py = ag__val(n), .pg = ag__grad(n),
                     .dst = gx, .v = ag__shape_view(x, n->attr.r.axis)};
    ag__red_run(&jb, lse_bwd_slots);
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

/* sum (x - s)^2. */
static AG_ALWAYS_INLINE double sqdev_block_t(int dt, RED_BLOCK_ARGS) {
    (void)t;
    double ss = 0;
    for (int64_t k = k0; k < k1; k++) {
        const double d = ag__ld(jb->px, dt, RED_AT(k)) - s;
        ss += d * d;
    }
    return ss;
}
static double sqdev_block(RED_BLOCK_ARGS) { return AG_BY_DTYPE(jb->dt, sqdev_block_t, jb, b, k0, k1, s, t); }

/* Two passes (mean, then squared deviations) for accuracy; jb->scale is
 * the denominator len - correction. */
static void var_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const double mean = ag__red_reduce(jb, sum_block, AG_RED_SUM, j, 0, 0) / (double)jb->v.len;
        ag__st(jb->dst, jb->dt, j, ag__red_reduce(jb, sqdev_block, AG_RED_SUM, j, mean, 0) / jb->scale);
    }
}

/* d var(x)/dx_i = 2 (x_i - mean) / (len - correction); the mean's own
 * dependence on x_i cancels because the deviations sum to zero. dst +=
 * t (x - s), s the mean and t = 2 g / denominator. */
static AG_ALWAYS_INLINE double var_bwd_block_t(int dt, RED_BLOCK_ARGS) {
    for (int64_t k = k0; k < k1; k++) {
        const int64_t e = RED_AT(k);
        ag__kernel_acc(jb->dst, dt, e, t * (ag__ld(jb->px, dt, e) - s));
    }
    return 0;
}
static double var_bwd_block(RED_BLOCK_ARGS) {
    return AG_BY_DTYPE(jb->dt, var_bwd_block_t, jb, b, k0, k1, s, t);
}

static void var_bwd_slots(const ag_red_job *jb, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const double mean = ag__red_reduce(jb, sum_block, AG_RED_SUM, j, 0, 0) / (double)jb->v.len;
        ag__red_apply(jb, var_bwd_block, j, mean, 2.0 * ag__ld(jb->pg, jb->dt, j) / jb->scale);
    }
}

/* len - correction, var's denominator. */
static double var_denom(const ag_tensor *n, ag_view3 v) { return (double)(v.len - n->attr.r.flag); }

static void fwd_var(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .dst = ag__val(n),
                     .v = ag__shape_view(x, n->attr.r.axis)};
    jb.scale = var_denom(n, jb.v);
    ag__red_run(&jb, var_slots);
}

static void bwd_var(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    ag_red_job jb = {.dt = n->dtype, .px = ag__val(x), .pg = ag__grad(n), .dst = gx,
                     .v = ag__shape_view(x, n->attr.r.axis)};
    jb.scale = var_denom(n, jb.v);
    ag__red_run(&jb, var_bwd_slots);
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
