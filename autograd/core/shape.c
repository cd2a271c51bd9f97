/* Shapes: axis normalisation and its error. */
#include "shape.h"

#include "error.h"

int ag__shape_axis(int axis, int ndim) {
    if (axis < 0) axis += ndim;
    return (axis >= 0 && axis < ndim) ? axis : -1;
}

int ag__shape_check_axis(ag_tape *t, const char *op, const ag_tensor *x, int axis) {
    int a = ag__shape_axis(axis, x->ndim);
    if (a < 0) {
        char sx[96];
        ag__error_fail(t, AG_ERR_AXIS, op, "axis %d is out of range for shape %s", axis,
                       ag_format_shape(sx, sizeof sx, x->ndim, ag__shape(x)));
    }
    return a;
}

int ag__shape_check_reduce_axis(ag_tape *t, const char *op, const ag_tensor *x, int axis) {
    if (axis == AG_ALL || (x->ndim == 0 && (axis == 0 || axis == -1))) return AG_ALL;
    return ag__shape_check_axis(t, op, x, axis);
}
