/* Anomaly mode's checks (anomaly.c): hooks the recorders and the sweeps
 * call, which cost one test of the tape's flag when the mode is off. Not
 * installed. */
#ifndef TAPEGRAD_CORE_ANOMALY_H
#define TAPEGRAD_CORE_ANOMALY_H

#include "backward.h"
#include "hints.h"
#include "tape.h"

/* Checks the value of n, just made by its op's forward: returns n, or NULL
 * with the AG_ERR_NONFINITE error set when it holds a NaN or infinity. */
ag_tensor *ag__anomaly_forward(ag_tape *t, ag_tensor *n);

/* The recorders' hook, where a node's value is complete: every op returns
 * through it (record.h's ag__record does so itself). */
static inline ag_tensor *ag__record_done(ag_tape *t, ag_tensor *n) {
    if (n && AG_UNLIKELY(t->anomaly)) return ag__anomaly_forward(t, n);
    return n;
}

/* Checks y's seeded gradient before a sweep starts. */
bool ag__anomaly_seed(ag_sweep *s, ag_tensor *y);

/* The accumulation hook: after n's backward rule ran in sweep s, checks
 * the gradient of each input that received one. False with the error set
 * at the first non-finite value. */
bool ag__anomaly_backward(ag_sweep *s, ag_tensor *n);

/* The statement sweep (stmt.h's ag__stmt_sweep) of anomaly mode: after
 * each statement, the adjoints it fed are checked. False with the error
 * set at the first non-finite one. */
bool ag__stmt_sweep_checked(ag_tape *t, size_t top);

#endif /* TAPEGRAD_CORE_ANOMALY_H */
