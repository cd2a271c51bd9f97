/* Shared helpers of the Check suites. */
#ifndef TAPEGRAD_TESTUTIL_H
#define TAPEGRAD_TESTUTIL_H

#include <tapegrad/autograd.h>
#include <check.h>
#include <math.h>

/* Runs the suite and returns the process exit status. */
int tu_run(Suite *s);

/* A random f64 constant tensor of the given shape, values in [lo, hi). */
ag_tensor *tu_rand(ag_tape *t, ag_rng *r, int ndim, const int64_t *shape, double lo, double hi);

/* Asserts that check (ag_gradcheck or ag_gradgradcheck) passes on f at
 * inputs, printing the report if not, and that the analytic derivative
 * was not all zeros; the failure message starts with label. */
#define tu_assert_check(check, label, f, ctx, n, inputs)                     \
    do {                                                                     \
        ag_gradcheck_report r_;                                              \
        bool ok_ = check((f), (ctx), (n), (inputs), NULL, &r_);              \
        if (!ok_) ag_gradcheck_print(stderr, &r_);                           \
        ck_assert_msg(ok_, "%s: %s", (label), r_.message);                   \
        ck_assert_int_gt(r_.checked, 0);                                     \
    } while (0)
#define tu_assert_gradcheck(f, ctx, n, inputs) tu_assert_check(ag_gradcheck, "gradcheck", f, ctx, n, inputs)
#define tu_assert_gradgradcheck(f, ctx, n, inputs)                           \
    tu_assert_check(ag_gradgradcheck, "gradgradcheck", f, ctx, n, inputs)

/* The ops with a parameter, at the fixed parameters every suite tests them
 * with, as plain (tape, x) functions for the op tables of the suites. */
ag_tensor *tu_leaky(ag_tape *t, ag_tensor *x);  /* leaky_relu, slope 0.1 */
ag_tensor *tu_clamp(ag_tape *t, ag_tensor *x);  /* clamp to [-0.5, 0.5] */
ag_tensor *tu_add_c(ag_tape *t, ag_tensor *x);  /* x + 1.5 */
ag_tensor *tu_rsub_c(ag_tape *t, ag_tensor *x); /* 1.5 - x */
ag_tensor *tu_mul_c(ag_tape *t, ag_tensor *x);  /* x · -2.5 */
ag_tensor *tu_rdiv_c(ag_tape *t, ag_tensor *x); /* 3 / x */
ag_tensor *tu_pow_c(ag_tape *t, ag_tensor *x);  /* x^3 */
ag_tensor *tu_rpow_c(ag_tape *t, ag_tensor *x); /* 2^x */

/* var with correction 1 (unbiased) and 0 (population), as reductions. */
ag_tensor *tu_var1(ag_tape *t, ag_tensor *x, int axis, bool keepdims);
ag_tensor *tu_var0(ag_tape *t, ag_tensor *x, int axis, bool keepdims);

#endif
