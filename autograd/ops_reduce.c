/* Reductions over one axis or all elements, with keepdims. The input is
 * viewed as (outer, len, inner) around the reduced axis; the reduce-all case
 * is outer = inner = 1. attr.r.axis holds the axis (AG_ALL for all). */
#include "internal.h"

typedef struct view3 {
    int64_t outer, len, inner;
} view3;

static view3 reduce_view(const ag_tensor *x, int axis) {
    view3 v = {1, ag__numel(x), 1};
    if (axis == AG_ALL) return v;
    const int64_t *s = ag__shape(x);
    v.len = s[axis];
    v.outer = 1;
    v.inner = 1;
    for (int i = 0; i < axis; i++) v.outer *= s[i];
    for (int i = axis + 1; i < x->ndim; i++) v.inner *= s[i];
    return v;
}

/* Sum (scale 1) and mean (scale 1/len) share their kernels. */
#define SUM_FWD_T(T)                                                         \
    do {                                                                     \
        const T *px = ag__val(x);                                            \
        T *py = ag__val(n);                                                  \
        for (int64_t o = 0; o < v.outer; o++)                                \
            for (int64_t i = 0; i < v.inner; i++) {                          \
                double acc = 0;                                              \
                for (int64_t k = 0; k < v.len; k++)                          \
                    acc += px[(o * v.len + k) * v.inner + i];                \
                py[o * v.inner + i] = (T)(acc * scale);                      \
            }                                                                \
    } while (0)

#define SUM_BWD_T(T)                                                         \
    do {                                                                     \
        const T *pg = ag__grad(n);                                           \
        T *gx = ag__grad_acc(s, x);                                          \
        if (!gx) break;                                                      \
        for (int64_t o = 0; o < v.outer; o++)                                \
            for (int64_t k = 0; k < v.len; k++)                              \
                for (int64_t i = 0; i < v.inner; i++)                        \
                    gx[(o * v.len + k) * v.inner + i] += (T)(pg[o * v.inner + i] * scale); \
    } while (0)

static double mean_scale(const ag_tensor *n, view3 v) {
    return n->op == AG_OP_MEAN ? 1.0 / (double)v.len : 1.0;
}

static void fwd_sum(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    view3 v = reduce_view(x, n->attr.r.axis);
    double scale = mean_scale(n, v);
    if (n->dtype == AG_F64) SUM_FWD_T(double);
    else SUM_FWD_T(float);
}

/* d sum(x)/dx_k = 1 and d mean(x)/dx_k = 1/len: the upstream gradient is
 * spread back over the reduced axis. */
static void bwd_sum(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    view3 v = reduce_view(x, n->attr.r.axis);
    double scale = mean_scale(n, v);
    if (n->dtype == AG_F64) SUM_BWD_T(double);
    else SUM_BWD_T(float);
}

const ag_op_info ag__op_SUM = {"sum", 1, fwd_sum, bwd_sum, "d sum(x)/dx_i = 1"};
const ag_op_info ag__op_MEAN = {"mean", 1, fwd_sum, bwd_sum, "d mean(x)/dx_i = 1/n"};

/* Checks the axis and records a reduction node with the reduced shape. */
static ag_tensor *reduce(ag_tape *t, ag_op op, ag_tensor *x, int axis, bool keepdims) {
    const char *name = ag__ops[op]->name;
    if (!ag__check_inputs(t, name, 1, &x)) return NULL;
    int64_t shape[AG_MAX_DIMS];
    int nd = 0;
    int a = AG_ALL;
    if (axis != AG_ALL) {
        a = ag__axis(axis, x->ndim);
        if (a < 0) {
            char sx[96];
            return ag__fail(t, AG_ERR_AXIS, name, "axis %d is out of range for shape %s", axis,
                            ag__fmt_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
        }
    }
    for (int i = 0; i < x->ndim; i++) {
        bool reduced = a == AG_ALL || i == a;
        if (!reduced) shape[nd++] = x->ext->shape[i];
        else if (keepdims) shape[nd++] = 1;
    }
    if (a != AG_ALL && x->ext->shape[a] == 0 && op != AG_OP_SUM)
        return ag__fail(t, AG_ERR_SHAPE, name, "cannot reduce an empty axis");
    ag_attr attr = {.r = {.axis = a, .flag = keepdims}};
    return ag__record(t, op, (ag_dtype)x->dtype, nd, shape, x, NULL, attr);
}

ag_tensor *ag_sum(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return reduce(t, AG_OP_SUM, x, axis, keepdims);
}

ag_tensor *ag_mean(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    if (x && axis == AG_ALL && ag__numel(x) == 0 && t && t->err == AG_OK)
        return ag__fail(t, AG_ERR_SHAPE, "mean", "mean of an empty tensor");
    return reduce(t, AG_OP_MEAN, x, axis, keepdims);
}
