/* Shapes: axis normalisation. */
#include "shape.h"

int ag__shape_axis(int axis, int ndim) {
    if (axis < 0) axis += ndim;
    return (axis >= 0 && axis < ndim) ? axis : -1;
}

