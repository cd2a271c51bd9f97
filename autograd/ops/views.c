/* flatten, squeeze and unsqueeze: shape rules only. Each is a reshape to
 * the shape it computes, so it is a view that shares its input's storage
 * (ag__record_view, as reshape), and its derivative is reshape's: the
 * gradient reshaped back (ops/shape.c). Errors name the op the user called. */
#include "kernels.h"

#define SHAPE_OF(buf, x) ag_format_shape((buf), sizeof(buf), (x)->ndim, ag__shape(x))

/* An axis in -ndim..ndim-1 (or ..ndim when `one_more`, for a new axis)
 * normalised to 0..; -1 after an error naming op. */
static int axis_of(ag_tape *t, const char *op, const ag_tensor *x, int axis, bool one_more) {
    const int n = x->ndim + (one_more ? 1 : 0);
    if (axis < -n || axis >= n) {
        char sx[96];
        ag__error_fail(t, AG_ERR_SHAPE, op, "axis %d is out of range for %s (%d to %d)", axis,
                       SHAPE_OF(sx, x), -n, n - 1);
        return -1;
    }
    return axis < 0 ? axis + n : axis;
}

ag_tensor *ag_flatten(ag_tape *t, ag_tensor *x, int start_axis, int end_axis) {
    if (!ag__record_check_inputs(t, "flatten", 1, &x)) return NULL;
    if (!(x = ag__stmt_promote(t, x))) return NULL; /* a scalar statement as a node */
    if (x->ndim == 0) return ag_reshape(t, x, AG_SHAPE(1)); /* torch: a 0-d tensor flattens to (1,) */
    int s = axis_of(t, "flatten", x, start_axis, false), e = axis_of(t, "flatten", x, end_axis, false);
    if (s < 0 || e < 0) return NULL;
    if (s > e)
        return ag__error_fail(t, AG_ERR_SHAPE, "flatten", "start axis %d comes after end axis %d",
                              start_axis, end_axis);
    const int64_t *d = ag__shape(x);
    int64_t out[AG_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < s; i++) out[nd++] = d[i];
    int64_t joined = 1; /* cannot overflow: numel(x) fits */
    for (int i = s; i <= e; i++) joined *= d[i];
    out[nd++] = joined;
    for (int i = e + 1; i < x->ndim; i++) out[nd++] = d[i];
    return ag_reshape(t, x, nd, out);
}

ag_tensor *ag_squeeze(ag_tape *t, ag_tensor *x, int axis) {
    if (!ag__record_check_inputs(t, "squeeze", 1, &x)) return NULL;
    if (!(x = ag__stmt_promote(t, x))) return NULL; /* a scalar statement as a node */
    const int64_t *d = ag__shape(x);
    int64_t out[AG_MAX_DIMS];
    int nd = 0;
    if (axis == AG_ALL) {
        for (int i = 0; i < x->ndim; i++)
            if (d[i] != 1) out[nd++] = d[i];
    } else {
        int a = axis_of(t, "squeeze", x, axis, false);
        if (a < 0) return NULL;
        if (d[a] != 1) {
            char sx[96];
            return ag__error_fail(t, AG_ERR_SHAPE, "squeeze", "axis %d of %s has size %lld, not 1",
                                  axis, SHAPE_OF(sx, x), (long long)d[a]);
        }
        for (int i = 0; i < x->ndim; i++)
            if (i != a) out[nd++] = d[i];
    }
    return ag_reshape(t, x, nd, out);
}

ag_tensor *ag_unsqueeze(ag_tape *t, ag_tensor *x, int axis) {
    if (!ag__record_check_inputs(t, "unsqueeze", 1, &x)) return NULL;
    if (!(x = ag__stmt_promote(t, x))) return NULL; /* a scalar statement as a node */
    if (x->ndim >= AG_MAX_DIMS)
        return ag__error_fail(t, AG_ERR_SHAPE, "unsqueeze", "%d dimensions already (at most %d)",
                              x->ndim, AG_MAX_DIMS);
    int a = axis_of(t, "unsqueeze", x, axis, true);
    if (a < 0) return NULL;
    const int64_t *d = ag__shape(x);
    int64_t out[AG_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == a) out[nd++] = 1;
        if (i < x->ndim) out[nd++] = d[i];
    }
    return ag_reshape(t, x, nd, out);
}
