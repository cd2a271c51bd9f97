#include "testutil.h"

#include <stdlib.h>

int tu_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

ag_tensor *tu_rand(ag_tape *t, ag_rng *r, int ndim, const int64_t *shape, double lo, double hi) {
    return ag_uniform(t, AG_F64, ndim, shape, lo, hi, r);
}

ag_tensor *tu_leaky(ag_tape *t, ag_tensor *x) { return ag_leaky_relu(t, x, 0.1); }
ag_tensor *tu_clamp(ag_tape *t, ag_tensor *x) { return ag_clamp(t, x, -0.5, 0.5); }
ag_tensor *tu_add_c(ag_tape *t, ag_tensor *x) { return ag_add_c(t, x, 1.5); }
ag_tensor *tu_rsub_c(ag_tape *t, ag_tensor *x) { return ag_rsub_c(t, 1.5, x); }
ag_tensor *tu_mul_c(ag_tape *t, ag_tensor *x) { return ag_mul_c(t, x, -2.5); }
ag_tensor *tu_rdiv_c(ag_tape *t, ag_tensor *x) { return ag_rdiv_c(t, 3.0, x); }
ag_tensor *tu_pow_c(ag_tape *t, ag_tensor *x) { return ag_pow_c(t, x, 3.0); }
ag_tensor *tu_rpow_c(ag_tape *t, ag_tensor *x) { return ag_rpow_c(t, 2.0, x); }

ag_tensor *tu_var1(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return ag_var(t, x, axis, keepdims, 1);
}
ag_tensor *tu_var0(ag_tape *t, ag_tensor *x, int axis, bool keepdims) {
    return ag_var(t, x, axis, keepdims, 0);
}
