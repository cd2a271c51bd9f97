/* softmax and log-softmax along one axis, computed the stable way: the max
 * of each slot is subtracted before exp, so nothing overflows, and
 * log-softmax never takes the log of an underflowed 0. The slot layout is
 * ag__shape_view's (outer, len, inner); attr.r.axis holds the axis. */
#include "backward.h"
#include "error.h"
#include "node.h"
#include "op.h"
#include "record.h"
#include "shape.h"
#include "tape.h"

/* softmax: y_k = exp(x_k - m) / sum_j exp(x_j - m);
 * log_softmax: y_k = x_k - m - log(sum_j exp(x_j - m)). */
#define SOFTMAX_FWD_T(T)                                                     \
    do {                                                                     \
        const T *px = ag__val(x);                                            \
        T *py = ag__val(n);                                                  \
        AG_FOR_SLOTS(v, j, b, {                                              \
            (void)j;                                                         \
            double m = -INFINITY, acc = 0;                                   \
            for (int64_t k = 0; k < v.len; k++) m = fmax(m, px[b + k * v.inner]); \
            if (isinf(m)) m = 0; /* all -inf or some +inf: let IEEE decide */ \
            for (int64_t k = 0; k < v.len; k++) acc += exp(px[b + k * v.inner] - m); \
            const double lse = m + log(acc);                                 \
            for (int64_t k = 0; k < v.len; k++) {                            \
                const double z = px[b + k * v.inner] - lse;                  \
                py[b + k * v.inner] = (T)(is_log ? z : exp(z));              \
            }                                                                \
        });                                                                  \
    } while (0)

/* softmax:     dx_k = y_k (g_k - sum_j g_j y_j)
 * log_softmax: dx_k = g_k - exp(y_k) sum_j g_j */
#define SOFTMAX_BWD_T(T)                                                     \
    do {                                                                     \
        const T *py = ag__val(n), *pg = ag__grad(n);                         \
        T *gx = ag__grad_acc(s, x);                                          \
        if (!gx) break;                                                      \
        AG_FOR_SLOTS(v, j, b, {                                              \
            (void)j;                                                         \
            double dot = 0;                                                  \
            for (int64_t k = 0; k < v.len; k++) {                            \
                const int64_t e = b + k * v.inner;                           \
                dot += is_log ? (double)pg[e] : (double)pg[e] * py[e];       \
            }                                                                \
            for (int64_t k = 0; k < v.len; k++) {                            \
                const int64_t e = b + k * v.inner;                           \
                const double y = py[e], g = pg[e];                           \
                gx[e] += (T)(is_log ? g - exp(y) * dot : y * (g - dot));     \
            }                                                                \
        });                                                                  \
    } while (0)

static void fwd_softmax(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    const bool is_log = n->op == AG_OP_LOG_SOFTMAX;
    if (n->dtype == AG_F64) SOFTMAX_FWD_T(double);
    else SOFTMAX_FWD_T(float);
}

static void bwd_softmax(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    ag_view3 v = ag__shape_view(x, n->attr.r.axis);
    const bool is_log = n->op == AG_OP_LOG_SOFTMAX;
    if (n->dtype == AG_F64) SOFTMAX_BWD_T(double);
    else SOFTMAX_BWD_T(float);
}

/* Graph forms of the same rules. */
static bool vjp_softmax(ag_tape *t, ag_tensor *n, ag_tensor *g, ag_tensor **gin) {
    const int axis = n->attr.r.axis;
    if (n->op == AG_OP_LOG_SOFTMAX)
        gin[0] = ag_sub(t, g, ag_mul(t, ag_exp(t, n), ag_sum(t, g, axis, true)));
    else
        gin[0] = ag_mul(t, n, ag_sub(t, g, ag_sum(t, ag_mul(t, g, n), axis, true)));
    return gin[0] != NULL;
}

const ag_op_info ag__op_SOFTMAX = {"softmax", 1, fwd_softmax, bwd_softmax,
                                   "d softmax(x)_i/dx_k = y_i ([i = k] - y_k)", vjp_softmax};
const ag_op_info ag__op_LOG_SOFTMAX = {"log_softmax", 1, fwd_softmax, bwd_softmax,
                                       "d log_softmax(x)_i/dx_k = [i = k] - softmax(x)_k",
                                       vjp_softmax};

static ag_tensor *softmax_op(ag_tape *t, ag_op op, ag_tensor *x, int axis) {
    const char *name = ag__ops[op]->name;
    if (!ag__record_check_inputs(t, name, 1, &x)) return NULL;
    /* A 0-d tensor is a one-element slot (softmax 1, log_softmax 0). */
    int a = x->ndim ? ag__shape_axis(axis, x->ndim) : (axis == 0 || axis == -1 ? AG_ALL : -1);
    if (a == -1) {
        char sx[96];
        return ag__error_fail(t, AG_ERR_AXIS, name, "axis %d is out of range for shape %s", axis,
                        ag__error_fmt_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
    }
    ag_attr attr = {.r = {.axis = a}};
    return ag__record(t, op, (ag_dtype)x->dtype, x->ndim, ag__shape(x), x, NULL, attr);
}

ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int axis) {
    return softmax_op(t, AG_OP_SOFTMAX, x, axis);
}

ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int axis) {
    return softmax_op(t, AG_OP_LOG_SOFTMAX, x, axis);
}
