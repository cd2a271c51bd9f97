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
