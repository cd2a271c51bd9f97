/* Reductions over one axis or all elements, with keepdims: sum, mean, max,
 * min, logsumexp and variance. The input is viewed as (outer, len, inner)
 * around the reduced axis (ag__shape_view); attr.r.axis holds the axis
 * (AG_ALL for all) and attr.r.flag the keepdims flag, or for var the
 * correction. Accumulation is in double for both dtypes. */
#include "backward.h"
#include "error.h"
#include "node.h"
#include "op.h"
#include "vjp.h"
#include "record.h"
#include "shape.h"
#include "bcast.h"
#include "tape.h"

/* ------------------------------------------------------------ sum, mean */

/* Sum (scale 1) and mean (scale 1/len) share their kernels. */
static double mean_scale(const ag_tensor *n, ag_view3 v) {
    return n->op == AG_OP_MEAN ? 1.0 / (double)v.len : 1.0;
}

#define SUM_FWD_T(T)                                                         \
    do {                                                                     \
        const T *px = ag__val(x);                                            \
        T *py = ag__val(n);                                                  \
        AG_FOR_SLOTS(v, j, b, {                                              \
            double acc = 0;                                                  \
            for (int64_t k = 0; k < v.len; k++) acc += px[b + k * v.inner];  \
            py[j] = (T)(acc * scale);                                        \
        });                                                                  \
    } while (0)

/* d sum(x)/dx_k = 1 and d mean(x)/dx_k = 1/len: the upstream gradient is
 * spread back over the reduced axis. */
#define SUM_BWD_T(T)                                                         \
    do {                                                                     \
        const T *pg = ag__grad(n);                                           \
        T *gx = ag__grad_acc(s, x);                                          \
        if (!gx) break;                                                      \
        AG_FOR_SLOTS(v, j, b, {                                              \
            const T g = (T)(pg[j] * scale);                                  \
            for (int64_t k = 0; k < v.len; k++) gx[b + k * v.inner] += g;    \
        });                                                                  \
    } while (0)

static void fwd_sum(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    double scale = mean_scale(n, v);
    if (n->dtype == AG_F64) SUM_FWD_T(double);
    else SUM_FWD_T(float);
}

static void bwd_sum(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    double scale = mean_scale(n, v);
    if (n->dtype == AG_F64) SUM_BWD_T(double);
    else SUM_BWD_T(float);
}

/* Graph form: g, back in keepdims shape, broadcast over the axis. */
static bool vjp_sum(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    ag_tensor *gx = ag_broadcast_to(t, ag__vjp_unreduce(t, g, x, n->attr.r.axis), x->ndim, ag__shape(x));
    if (n->op == AG_OP_MEAN) gx = ag_mul_c(t, gx, mean_scale(n, v));
    return (gin[0] = gx) != NULL;
}

const ag_op_info ag__op_SUM = {"sum", 1, fwd_sum, bwd_sum, "d sum(x)/dx_i = 1", vjp_sum};
const ag_op_info ag__op_MEAN = {"mean", 1, fwd_sum, bwd_sum, "d mean(x)/dx_i = 1/len", vjp_sum};

/* -------------------------------------------------------------- max, min */

/* A NaN anywhere in the slot makes the result NaN (as PyTorch). */
#define EXTREME_FWD_T(T)                                                     \
    do {                                                                     \
        const T *px = ag__val(x);                                            \
        T *py = ag__val(n);                                                  \
        AG_FOR_SLOTS(v, j, b, {                                              \
            T m = px[b];                                                     \
            for (int64_t k = 1; k < v.len && m == m; k++) {                  \
                T e = px[b + k * v.inner];                                   \
                if (e != e || (is_max ? e > m : e < m)) m = e;               \
            }                                                                \
            py[j] = m;                                                       \
        });                                                                  \
    } while (0)

/* d max(x)/dx_k = 1/t for the t elements equal to the max, 0 elsewhere:
 * ties split the gradient so it still sums to the upstream gradient. */
#define EXTREME_BWD_T(T)                                                     \
    do {                                                                     \
        const T *px = ag__val(x), *py = ag__val(n), *pg = ag__grad(n);       \
        T *gx = ag__grad_acc(s, x);                                          \
        if (!gx) break;                                                      \
        AG_FOR_SLOTS(v, j, b, {                                              \
            int64_t ties = 0;                                                \
            for (int64_t k = 0; k < v.len; k++) ties += px[b + k * v.inner] == py[j]; \
            if (!ties) continue; /* NaN */                                   \
            const T share = (T)(pg[j] / (double)ties);                       \
            for (int64_t k = 0; k < v.len; k++)                              \
                if (px[b + k * v.inner] == py[j]) gx[b + k * v.inner] += share; \
        });                                                                  \
    } while (0)

static void fwd_extreme(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    const bool is_max = n->op == AG_OP_MAX;
    if (n->dtype == AG_F64) EXTREME_FWD_T(double);
    else EXTREME_FWD_T(float);
}

static void bwd_extreme(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    if (n->dtype == AG_F64) EXTREME_BWD_T(double);
    else EXTREME_BWD_T(float);
}

/* The constant d max/dx: 1/ties where x equals the extreme, else 0. */
#define EXTREME_MASK_T(T)                                                    \
    do {                                                                     \
        const T *px = ag__val(x), *py = ag__val(n);                          \
        T *pm = ag__val(m);                                                  \
        AG_FOR_SLOTS(v, j, b, {                                              \
            int64_t ties = 0;                                                \
            for (int64_t k = 0; k < v.len; k++) ties += px[b + k * v.inner] == py[j]; \
            for (int64_t k = 0; k < v.len; k++)                              \
                pm[b + k * v.inner] = px[b + k * v.inner] == py[j] ? (T)(1.0 / (double)ties) : 0; \
        });                                                                  \
    } while (0)

static bool vjp_extreme(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    ag_tensor *m = ag_tensor_new(t, (ag_dtype)x->dtype, x->ndim, ag__shape(x), NULL);
    if (!m) return false;
    if (n->dtype == AG_F64) EXTREME_MASK_T(double);
    else EXTREME_MASK_T(float);
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, n->attr.r.axis), m)) != NULL;
}

const ag_op_info ag__op_MAX = {"max", 1, fwd_extreme, bwd_extreme,
                               "d max(x)/dx_i = [x_i = max] / (number of ties)", vjp_extreme};
const ag_op_info ag__op_MIN = {"min", 1, fwd_extreme, bwd_extreme,
                               "d min(x)/dx_i = [x_i = min] / (number of ties)", vjp_extreme};

/* ------------------------------------------------------------- logsumexp */

/* y = m + log(sum exp(x - m)), m = max(x): no exp overflows. If every
 * element is -inf, y = -inf; if one is +inf, y = +inf. */
#define LSE_FWD_T(T)                                                         \
    do {                                                                     \
        const T *px = ag__val(x);                                            \
        T *py = ag__val(n);                                                  \
        AG_FOR_SLOTS(v, j, b, {                                              \
            double m = -INFINITY;                                            \
            for (int64_t k = 0; k < v.len; k++) m = fmax(m, px[b + k * v.inner]); \
            if (isinf(m)) { py[j] = (T)m; continue; }                        \
            double acc = 0;                                                  \
            for (int64_t k = 0; k < v.len; k++) acc += exp(px[b + k * v.inner] - m); \
            py[j] = (T)(m + log(acc));                                       \
        });                                                                  \
    } while (0)

/* d lse(x)/dx_i = exp(x_i - lse(x)) = softmax(x)_i. */
#define LSE_BWD_T(T)                                                         \
    do {                                                                     \
        const T *px = ag__val(x), *py = ag__val(n), *pg = ag__grad(n);       \
        T *gx = ag__grad_acc(s, x);                                          \
        if (!gx) break;                                                      \
        AG_FOR_SLOTS(v, j, b, {                                              \
            const double y = py[j], g = pg[j];                               \
            if (isinf(y)) continue; /* all -inf: no element matters */       \
            for (int64_t k = 0; k < v.len; k++)                              \
                gx[b + k * v.inner] += (T)(g * exp(px[b + k * v.inner] - y)); \
        });                                                                  \
    } while (0)

static void fwd_logsumexp(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    if (n->dtype == AG_F64) LSE_FWD_T(double);
    else LSE_FWD_T(float);
}

static void bwd_logsumexp(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    if (n->dtype == AG_F64) LSE_BWD_T(double);
    else LSE_BWD_T(float);
}

/* Graph form: g · exp(x - y), with g and y in keepdims shape. */
static bool vjp_logsumexp(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    int axis = n->attr.r.axis;
    ag_tensor *p = ag_exp(t, ag_sub(t, x, ag__vjp_unreduce(t, n, x, axis)));
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, axis), p)) != NULL;
}

const ag_op_info ag__op_LOGSUMEXP = {"logsumexp", 1, fwd_logsumexp, bwd_logsumexp,
                                     "d lse(x)/dx_i = exp(x_i - lse(x))", vjp_logsumexp};

/* -------------------------------------------------------------- variance */

/* Two passes (mean, then squared deviations) for accuracy. */
#define VAR_FWD_T(T)                                                         \
    do {                                                                     \
        const T *px = ag__val(x);                                            \
        T *py = ag__val(n);                                                  \
        AG_FOR_SLOTS(v, j, b, {                                              \
            double mean = 0, ss = 0;                                         \
            for (int64_t k = 0; k < v.len; k++) mean += px[b + k * v.inner]; \
            mean /= (double)v.len;                                           \
            for (int64_t k = 0; k < v.len; k++) {                            \
                double d = px[b + k * v.inner] - mean;                       \
                ss += d * d;                                                 \
            }                                                                \
            py[j] = (T)(ss / denom);                                         \
        });                                                                  \
    } while (0)

/* d var(x)/dx_i = 2 (x_i - mean) / (len - correction); the mean's own
 * dependence on x_i cancels because the deviations sum to zero. */
#define VAR_BWD_T(T)                                                         \
    do {                                                                     \
        const T *px = ag__val(x), *pg = ag__grad(n);                         \
        T *gx = ag__grad_acc(s, x);                                          \
        if (!gx) break;                                                      \
        AG_FOR_SLOTS(v, j, b, {                                              \
            double mean = 0;                                                 \
            for (int64_t k = 0; k < v.len; k++) mean += px[b + k * v.inner]; \
            mean /= (double)v.len;                                           \
            const double c = 2.0 * pg[j] / denom;                            \
            for (int64_t k = 0; k < v.len; k++)                              \
                gx[b + k * v.inner] += (T)(c * (px[b + k * v.inner] - mean)); \
        });                                                                  \
    } while (0)

static void fwd_var(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    const double denom = (double)(v.len - n->attr.r.flag);
    if (n->dtype == AG_F64) VAR_FWD_T(double);
    else VAR_FWD_T(float);
}

static void bwd_var(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    const double denom = (double)(v.len - n->attr.r.flag);
    if (n->dtype == AG_F64) VAR_BWD_T(double);
    else VAR_BWD_T(float);
}

/* Graph form: g · 2 (x - mean(x)) / (len - correction). */
static bool vjp_var(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *x = n->in[0];
    int axis = n->attr.r.axis;
    ag_view3 v = ag__shape_view(x, axis);
    const double denom = (double)(v.len - n->attr.r.flag);
    ag_tensor *dev = ag_sub(t, x, ag_mean(t, x, axis, true));
    return (gin[0] = ag_mul(t, ag__vjp_unreduce(t, g, x, axis), ag_mul_c(t, dev, 2.0 / denom))) != NULL;
}

const ag_op_info ag__op_VAR = {"var", 1, fwd_var, bwd_var,
                               "d var(x)/dx_i = 2 (x_i - mean) / (len - correction)", vjp_var};

/* ------------------------------------------------------------- recording */

/* Checks the axis and records a reduction node with the reduced shape.
 * `flag` is stored in attr.r.flag (keepdims, or var's correction);
 * `min_len` is the fewest elements the reduced axis may have. */
static ag_tensor *reduce(ag_tape *t, ag_op op, ag_tensor *x, int axis, bool keepdims,
                         int32_t flag, int64_t min_len) {
    const char *name = ag__ops[op]->name;
    if (!ag__record_check_inputs(t, name, 1, &x)) return NULL;
    char sx[96];
    int a = AG_ALL;
    if (axis != AG_ALL) {
        a = ag__shape_axis(axis, x->ndim);
        if (a < 0)
            return ag__error_fail(t, AG_ERR_AXIS, name, "axis %d is out of range for shape %s", axis,
                            ag__error_fmt_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
    }
    int64_t len = a == AG_ALL ? ag__numel(x) : x->ext->shape[a];
    if (len < min_len)
        return ag__error_fail(t, AG_ERR_SHAPE, name, "needs at least %lld element%s along the axis, "
                        "shape %s has %lld", (long long)min_len, min_len == 1 ? "" : "s",
                        ag__error_fmt_shape(sx, sizeof sx, x->ndim, ag__shape(x)), (long long)len);
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
    return reduce(t, AG_OP_SUM, x, axis, keepdims, keepdims, 0);
}

ag_tensor *ag_mean(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return reduce(t, AG_OP_MEAN, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_max(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return reduce(t, AG_OP_MAX, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_min(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return reduce(t, AG_OP_MIN, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_logsumexp(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return reduce(t, AG_OP_LOGSUMEXP, x, axis, keepdims, keepdims, 1);
}

ag_tensor *ag_var(ag_tape *t, ag_tensor *x, int axis, bool keepdims, int correction) {
    if (t && x && correction < 0 && ag_tape_status(t) == AG_OK)
        return ag__error_fail(t, AG_ERR_ARG, "var", "correction %d is negative", correction);
    return reduce(t, AG_OP_VAR, x, axis, keepdims, correction, (int64_t)correction + 1);
}
