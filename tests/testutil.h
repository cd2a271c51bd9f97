/* Shared helpers of the Check suites. */
#ifndef TAPEGRAD_TESTUTIL_H
#define TAPEGRAD_TESTUTIL_H

#include <autograd.h>
#include <check.h>
#include <math.h>

/* Runs the suite and returns the process exit status. */
int tu_run(Suite *s);

/* A random f64 constant tensor of the given shape, values in [lo, hi). */
ag_tensor *tu_rand(ag_tape *t, ag_rng *r, int ndim, const int64_t *shape, double lo, double hi);

/* Asserts that gradcheck passes on f at inputs, printing the report if not,
 * and that the analytic gradient was not all zeros. */
#define tu_assert_gradcheck(f, ctx, n, inputs)                               \
    do {                                                                     \
        ag_gradcheck_report r_;                                              \
        bool ok_ = ag_gradcheck((f), (ctx), (n), (inputs), NULL, &r_);       \
        if (!ok_) ag_gradcheck_print(stderr, &r_);                           \
        ck_assert_msg(ok_, "%s", r_.message);                                \
        ck_assert_int_gt(r_.checked, 0);                                     \
    } while (0)

#endif
