/* Anomaly mode: the first NaN or infinity an op makes, found where it is
 * made. The forward check looks at each op's output as the recorder
 * finishes it (ag__record_done); the backward check looks at the gradient
 * each op's rule gave its inputs, right after the rule ran. So the error
 * names the op that made the value, not a later one that propagated it.
 * When the mode is off none of this runs: the recorders test the tape's
 * flag once per op, backward.c picks its checked sweep once per sweep, and
 * the scalar fast path is off while the mode is on (tape.h, scalar_slow). */
#include "anomaly.h"
#include "error.h"
#include "op.h"

#include <math.h>
#include <stdio.h>

/* Index of the first non-finite element of a buffer, or -1. */
static int64_t first_nonfinite(const void *p, int dtype, int64_t n) {
    if (dtype == AG_F64) {
        const double *d = p;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(d[i])) return i;
    } else {
        const float *f = p;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(f[i])) return i;
    }
    return -1;
}

static const char *kind(double v) { return isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf"; }

/* Appends to buf at *off, never past size. */
static void put(char *buf, size_t size, size_t *off, const char *fmt, const char *a, const char *b) {
    if (*off >= size) return;
    int w = snprintf(buf + *off, size - *off, fmt, a, b);
    if (w > 0) *off += (size_t)w;
}

/* n's operands for a message: "[2, 3] 'x', [3] (already NaN)". An operand
 * that is already non-finite was made outside the checks (a leaf, a
 * parameter, a value made before the mode was on). */
static char *fmt_operands(char *buf, size_t size, const ag_tensor *n) {
    size_t off = 0;
    buf[0] = '\0';
    int m = ag__op_ninputs(n);
    if (m == 0) put(buf, size, &off, "%s%s", "none", "");
    for (int k = 0; k < m; k++) {
        ag_tensor *in = ag__input(n, k);
        char op[96];
        put(buf, size, &off, "%s%s", k ? ", " : "", ag__error_fmt_operand(op, sizeof op, in));
        int64_t bad = first_nonfinite(ag__val(in), in->dtype, ag__numel(in));
        if (bad >= 0) put(buf, size, &off, " (already %s%s)", kind(ag__ld(ag__val(in), in->dtype, bad)), "");
    }
    return buf;
}

/* Sets the error from a formatted message and records the report. */
static void report(ag_tape *t, const char *op, bool backward, const char *name, int64_t index,
                   double value, const char *msg) {
    if (t->err != AG_OK) return;
    ag__error_fail(t, AG_ERR_NONFINITE, op, "%s", msg);
    t->anomaly_found = (ag_anomaly_report){true, backward, op, name, index, value};
}

ag_tensor *ag__anomaly_forward(ag_tape *t, ag_tensor *n) {
    int64_t bad = first_nonfinite(ag__val(n), n->dtype, ag__numel(n));
    if (bad < 0) return n;
    const char *op = ag__op_of(n)->name;
    double v = ag__ld(ag__val(n), n->dtype, bad);
    char shape[96], ops[256], during[160] = "", msg[512];
    if (t->anomaly_rule) { /* made by a create_graph sweep */
        const ag_tensor *r = t->anomaly_rule;
        const char *rn = r->ext ? r->ext->name : NULL;
        snprintf(during, sizeof during, ", recording the backward of %s%s%s%s (create_graph)",
                 ag__op_of(r)->name, rn ? " '" : "", rn ? rn : "", rn ? "'" : "");
    }
    snprintf(msg, sizeof msg,
             "anomaly mode: non-finite output in the forward pass%s: the output %s%s holds %s at "
             "element %lld; operands %s",
             during, n->dtype == AG_F32 ? "f32 " : "f64 ",
             ag_format_shape(shape, sizeof shape, n->ndim, ag__shape(n)), kind(v), (long long)bad,
             fmt_operands(ops, sizeof ops, n));
    report(t, op, false, NULL, bad, v, msg);
    return NULL;
}

bool ag__anomaly_seed(ag_sweep *s, ag_tensor *y) {
    if (!(y->flags & AG_F_REQUIRES_GRAD) || y->epoch != s->epoch) return true;
    int64_t bad = first_nonfinite(ag__grad(y), y->dtype, ag__numel(y));
    if (bad < 0) return true;
    double v = ag__ld(ag__grad(y), y->dtype, bad);
    char msg[256];
    snprintf(msg, sizeof msg, "anomaly mode: the seed gradient holds %s at element %lld", kind(v),
             (long long)bad);
    report(s->tape, "backward", true, y->ext ? y->ext->name : NULL, bad, v, msg);
    return false;
}

bool ag__anomaly_backward(ag_sweep *s, ag_tensor *n) {
    for (int k = 0, m = ag__op_ninputs(n); k < m; k++) {
        ag_tensor *in = ag__input(n, k);
        if (!ag__sweep_wants(s, in) || in->epoch != s->epoch) continue;
        int64_t bad = first_nonfinite(ag__grad(in), in->dtype, ag__numel(in));
        if (bad < 0) continue;
        const char *op = ag__op_of(n)->name;
        const char *node = n->ext ? n->ext->name : NULL;
        double v = ag__ld(ag__grad(in), in->dtype, bad);
        char operand[96], ops[256], msg[512];
        bool up_bad = first_nonfinite(ag__grad(n), n->dtype, ag__numel(n)) >= 0;
        snprintf(msg, sizeof msg,
                 "anomaly mode: non-finite gradient in the backward pass, through %s's rule%s%s%s: "
                 "the gradient of operand %d %s holds %s at element %lld (the upstream gradient "
                 "is %s); operands %s",
                 op, node ? " at '" : "", node ? node : "", node ? "'" : "", k + 1,
                 ag__error_fmt_operand(operand, sizeof operand, in), kind(v), (long long)bad,
                 up_bad ? "not finite either" : "finite", fmt_operands(ops, sizeof ops, n));
        report(s->tape, op, true, in->ext ? in->ext->name : NULL, bad, v, msg);
        return false;
    }
    return true;
}

ag_anomaly_report ag_tape_anomaly_report(const ag_tape *t) {
    if (!t || t->err != AG_ERR_NONFINITE) return (ag_anomaly_report){0};
    return t->anomaly_found;
}
