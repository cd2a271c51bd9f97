/* softmax and log-softmax along one axis, computed the stable way: the max
 * of each slot is subtracted before exp, so nothing overflows, and
 * log-softmax never takes the log of an underflowed 0. The slot layout is
 * ag__shape_view's (outer, len, inner); attr.r.axis holds the axis. */
#include "kernels.h"

/* softmax: y_k = exp(x_k - m) / sum_j exp(x_j - m);
 * log_softmax: y_k = x_k - m - log(sum_j exp(x_j - m)). */
static AG_ALWAYS_INLINE void softmax_fwd(int dt, const void *px, void *py, ag_view3 v, bool is_log) {
    AG_FOR_SLOTS(v, j, b, {
        (void)j;
        double m = -INFINITY, acc = 0;
        for (int64_t k = 0; k < v.len; k++) m = fmax(m, ag__ld(px, dt, b + k * v.inner));
        if (isinf(m)) m = 0; /* all -inf or some +inf: let IEEE decide */
        for (int64_t k = 0; k < v.len; k++) acc += exp(ag__ld(px, dt, b + k * v.inner) - m);
        const double lse = m + log(acc);
        for (int64_t k = 0; k < v.len; k++) {
            const int64_t e = b + k * v.inner;
            const double z = ag__ld(px, dt, e) - lse;
            ag__st(py, dt, e, is_log ? z : exp(z));
        }
    });
}

/* softmax:     dx_k = y_k (g_k - sum_j g_j y_j)
 * log_softmax: dx_k = g_k - exp(y_k) sum_j g_j */
static AG_ALWAYS_INLINE void softmax_bwd(int dt, const void *py, const void *pg, void *gx, ag_view3 v,
                                         bool is_log) {
    AG_FOR_SLOTS(v, j, b, {
        (void)j;
        double dot = 0;
        for (int64_t k = 0; k < v.len; k++) {
            const int64_t e = b + k * v.inner;
            dot += is_log ? ag__ld(pg, dt, e) : ag__ld(pg, dt, e) * ag__ld(py, dt, e);
        }
        for (int64_t k = 0; k < v.len; k++) {
            const int64_t e = b + k * v.inner;
            const double y = ag__ld(py, dt, e), g = ag__ld(pg, dt, e);
            ag__kernel_acc(gx, dt, e, is_log ? g - exp(y) * dot : y * (g - dot));
        }
    });
}

/* The f32 forms, with the exps by the vector math (kernels/vmath.h): each
 * slot's e^(x_k - shift), the shift carried exactly, a chunk at a time
 * into buf (read with the slot's stride); sums and the log in double. */
enum { CHUNK = 256 };
#define FOR_SLOT_CHUNKS(v, k0, m, ...)                                       \
    for (int64_t k0 = 0; k0 < (v).len; k0 += CHUNK) {                        \
        const int64_t m = (v).len - k0 < CHUNK ? (v).len - k0 : CHUNK;       \
        __VA_ARGS__;                                                         \
    }

static void softmax_fwd_f32(const float *px, float *py, ag_view3 v, bool is_log) {
    float buf[CHUNK];
    ag_vexp_shift *ex = ag__vmath()->exp_shift;
    AG_FOR_SLOTS(v, j, b, {
        (void)j;
        double m = -INFINITY;
        for (int64_t k = 0; k < v.len; k++) m = fmax(m, px[b + k * v.inner]);
        if (isinf(m)) m = 0; /* all -inf or some +inf: let IEEE decide */
        const double lse = m + log(ag__vmath_sum_exp(px + b, v.inner, v.len, m));
        float hi, lo;
        ag__vmath_split(lse, &hi, &lo);
        FOR_SLOT_CHUNKS(v, k0, cm, {
            const int64_t e0 = b + k0 * v.inner;
            if (is_log) {
                for (int64_t k = 0; k < cm; k++) py[e0 + k * v.inner] = (float)(px[e0 + k * v.inner] - lse);
            } else {
                ex(px + e0, v.inner, buf, cm, hi, lo);
                for (int64_t k = 0; k < cm; k++) py[e0 + k * v.inner] = buf[k];
            }
        });
    });
}

/* log_softmax's exp(y_k), the one exp of the backward (softmax's has none). */
static void log_softmax_bwd_f32(const float *py, const float *pg, float *gx, ag_view3 v) {
    float buf[CHUNK];
    ag_vexp_shift *ex = ag__vmath()->exp_shift;
    AG_FOR_SLOTS(v, j, b, {
        (void)j;
        double dot = 0;
        for (int64_t k = 0; k < v.len; k++) dot += pg[b + k * v.inner];
        FOR_SLOT_CHUNKS(v, k0, cm, {
            const int64_t e0 = b + k0 * v.inner;
            ex(py + e0, v.inner, buf, cm, 0.0f, 0.0f);
            for (int64_t k = 0; k < cm; k++) {
                const int64_t e = e0 + k * v.inner;
                gx[e] += (float)(pg[e] - buf[k] * dot);
            }
        });
    });
}

static void fwd_softmax(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    if (n->dtype == AG_F32)
        softmax_fwd_f32(ag__val(x), ag__val(n), ag__shape_view(x, n->attr.r.axis), n->op == AG_OP_LOG_SOFTMAX);
    else
        AG_BY_DTYPE(n->dtype, softmax_fwd, ag__val(x), ag__val(n), ag__shape_view(x, n->attr.r.axis),
                    n->op == AG_OP_LOG_SOFTMAX);
}

static void bwd_softmax(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    void *gx = ag__sweep_acc(s, x);
    if (!gx) return;
    if (n->dtype == AG_F32 && n->op == AG_OP_LOG_SOFTMAX)
        log_softmax_bwd_f32(ag__val(n), ag__grad(n), gx, ag__shape_view(x, n->attr.r.axis));
    else
        AG_BY_DTYPE(n->dtype, softmax_bwd, ag__val(n), ag__grad(n), gx, ag__shape_view(x, n->attr.r.axis),
                    n->op == AG_OP_LOG_SOFTMAX);
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
                                   "d softmax(x)_i/dx_k = y_i ([i = k] - y_k)", vjp_softmax, NULL};
const ag_op_info ag__op_LOG_SOFTMAX = {"log_softmax", 1, fwd_softmax, bwd_softmax,
                                       "d log_softmax(x)_i/dx_k = [i = k] - softmax(x)_k",
                                       vjp_softmax, NULL};

static ag_tensor *softmax_op(ag_tape *t, ag_op op, ag_tensor *x, int axis) {
    const char *name = ag__ops[op]->name;
    if (!ag__record_check_inputs(t, name, 1, &x)) return NULL;
    /* A 0-d tensor is a one-element slot (softmax 1, log_softmax 0); AG_ALL
     * is no axis here. */
    int a = axis == AG_ALL ? ag__shape_check_axis(t, name, x, axis)
                           : ag__shape_check_reduce_axis(t, name, x, axis);
    if (a == -1) return NULL;
    ag_attr attr = {.r = {.axis = a}};
    return ag__record(t, op, (ag_dtype)x->dtype, x->ndim, ag__shape(x), x, NULL, attr);
}

ag_tensor *ag_softmax(ag_tape *t, ag_tensor *x, int axis) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return softmax_op(t, AG_OP_SOFTMAX, x, axis);
}

ag_tensor *ag_log_softmax(ag_tape *t, ag_tensor *x, int axis) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    return softmax_op(t, AG_OP_LOG_SOFTMAX, x, axis);
}
