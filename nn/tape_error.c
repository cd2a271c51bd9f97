/* nn's tape errors and input checks: errors go to the tape's sticky error
 * (ag_tape_fail), like an engine op's. */
#include "nn_tape.h"

#include <stdarg.h>
#include <stdio.h>

ag_tensor *nn__tape_fail(ag_tape *t, ag_status code, const char *op, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!t) {
        nn__fail(NN_ERR_NULL, "%s: %s", op, msg);
        return NULL;
    }
    ag_tape_fail(t, code, op, msg);
    return NULL;
}

bool nn__inputs_ok(ag_tape *t, const char *op, int n, ag_tensor *const *xs) {
    if (!t) {
        nn__fail(NN_ERR_NULL, "%s: the tape is NULL", op);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            if (ag_tape_status(t) == AG_OK)
                nn__tape_fail(t, AG_ERR_NULL, op, "input %d is NULL", i + 1);
            return false;
        }
    }
    return true;
}

bool nn__same_shape(ag_tape *t, const char *op, const ag_tensor *a, const ag_tensor *b) {
    bool same = ag_ndim(a) == ag_ndim(b);
    for (int i = 0; same && i < ag_ndim(a); i++) same = ag_dim(a, i) == ag_dim(b, i);
    if (same) return true;
    char sa[96], sb[96];
    nn__tape_fail(t, AG_ERR_SHAPE, op, "shapes %s and %s differ (no broadcasting here)",
                  ag_shape_str(a, sa, sizeof sa), ag_shape_str(b, sb, sizeof sb));
    return false;
}

ag_tensor *nn__reduce(ag_tape *t, const char *op, ag_tensor *x, nn_reduction r) {
    if (r == NN_MEAN) return ag_mean(t, x, AG_ALL, false);
    if (r == NN_SUM) return ag_sum(t, x, AG_ALL, false);
    return nn__tape_fail(t, AG_ERR_ARG, op, "unknown reduction %d (use NN_MEAN or NN_SUM)", (int)r);
}
