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
#include "stmt.h"

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

/* Operand k of a message: "[2, 3] 'x'" or "[3] (already NaN)". An operand
 * that is already non-finite was made outside the checks (a leaf, a
 * parameter, a value made before the mode was on). in is a node or a
 * statement. */
static void put_operand(char *buf, size_t size, size_t *off, int k, ag_tensor *in) {
    char op[96];
    put(buf, size, off, "%s%s", k ? ", " : "", ag__error_fmt_operand(op, sizeof op, in));
    double v = 0;
    if (ag__is_stmt(in)) {
        v = ag__stmt_val(in);
        if (isfinite(v)) return;
    } else {
        int64_t bad = first_nonfinite(ag__val(in), in->dtype, ag__numel(in));
        if (bad < 0) return;
        v = ag__ld(ag__val(in), in->dtype, bad);
    }
    put(buf, size, off, " (already %s%s)", kind(v), "");
}

/* n's operands for a message: "[2, 3] 'x', [3] (already NaN)". */
static char *fmt_operands(char *buf, size_t size, const ag_tensor *n) {
    size_t off = 0;
    buf[0] = '\0';
    int m = ag__op_ninputs(n);
    if (m == 0) put(buf, size, &off, "%s%s", "none", "");
    for (int k = 0; k < m; k++) put_operand(buf, size, &off, k, ag__input(n, k));
    return buf;
}

/* The operands of the statement whose m operand indices are at in. */
static char *fmt_stmt_operands(char *buf, size_t size, const ag_stape *s, const uint32_t *in,
                               unsigned m) {
    size_t off = 0;
    buf[0] = '\0';
    if (m == 0) put(buf, size, &off, "%s%s", "none", "");
    for (unsigned k = 0; k < m; k++) put_operand(buf, size, &off, (int)k, ag__stmt_handle(s, in[k]));
    return buf;
}

/* The op and name of a node or a statement. */
static const char *op_name(const ag_tensor *r) {
    return ag__is_stmt(r) ? ag__ops[ag__sk_op(ag__stmt_kind(r))]->name : ag__op_of(r)->name;
}
static const char *node_name(const ag_tensor *r) {
    return ag__is_stmt(r) ? ag__stmt_name(r) : r->ext ? r->ext->name : NULL;
}

/* ", recording the backward of mul 'z' (create_graph)" while a
 * create_graph sweep records a rule, else "". */
static const char *fmt_during(char *buf, size_t size, const ag_tape *t) {
    buf[0] = '\0';
    const ag_tensor *r = t->anomaly_rule;
    if (!r) return buf;
    const char *rn = node_name(r);
    snprintf(buf, size, ", recording the backward of %s%s%s%s (create_graph)", op_name(r),
             rn ? " '" : "", rn ? rn : "", rn ? "'" : "");
    return buf;
}

/* Sets the error from a formatted message and records the report. */
static void report(ag_tape *t, const char *op, bool backward, const char *name, int64_t index,
                   double value, const char *msg) {
    if (t->err != AG_OK) return;
    ag__error_fail(t, AG_ERR_NONFINITE, op, "%s", msg);
    t->anomaly_found = (ag_anomaly_report){true, backward, op, name, index, value};
}

/* A statement just recorded (the newest): its operands are the last ones. */
static ag_tensor *stmt_forward(ag_tape *t, ag_tensor *h) {
    const double v = ag__stmt_val(h);
    if (isfinite(v)) return h;
    const unsigned m = ag__sk_nops(ag__stmt_kind(h));
    char ops[256], during[160], msg[512];
    snprintf(msg, sizeof msg,
             "anomaly mode: non-finite output in the forward pass%s: the output f64 [] holds %s at "
             "element 0; operands %s",
             fmt_during(during, sizeof during, t), kind(v),
             fmt_stmt_operands(ops, sizeof ops, &t->s, t->s.in + t->s.nops - m, m));
    report(t, op_name(h), false, NULL, 0, v, msg);
    return NULL;
}

ag_tensor *ag__anomaly_forward(ag_tape *t, ag_tensor *n) {
    if (ag__is_stmt(n)) return stmt_forward(t, n);
    int64_t bad = first_nonfinite(ag__val(n), n->dtype, ag__numel(n));
    if (bad < 0) return n;
    const char *op = ag__op_of(n)->name;
    double v = ag__ld(ag__val(n), n->dtype, bad);
    char shape[96], ops[256], during[160], msg[512];
    snprintf(msg, sizeof msg,
             "anomaly mode: non-finite output in the forward pass%s: the output %s%s holds %s at "
             "element %lld; operands %s",
             fmt_during(during, sizeof during, t), n->dtype == AG_F32 ? "f32 " : "f64 ",
             ag_format_shape(shape, sizeof shape, n->ndim, ag__shape(n)), kind(v), (long long)bad,
             fmt_operands(ops, sizeof ops, n));
    report(t, op, false, NULL, bad, v, msg);
    return NULL;
}

static void report_seed(ag_tape *t, const char *name, int64_t bad, double v) {
    char msg[256];
    snprintf(msg, sizeof msg, "anomaly mode: the seed gradient holds %s at element %lld", kind(v),
             (long long)bad);
    report(t, "backward", true, name, bad, v, msg);
}

bool ag__anomaly_seed(ag_sweep *s, ag_tensor *y) {
    if (ag__is_stmt(y)) {
        const double v = ag__stmt_grad_of(&s->tape->s, ag__stmt_index(y));
        if (isfinite(v)) return true;
        report_seed(s->tape, ag__stmt_name(y), 0, v);
        return false;
    }
    if (!(y->flags & AG_F_REQUIRES_GRAD) || y->epoch != s->epoch) return true;
    int64_t bad = first_nonfinite(ag__grad(y), y->dtype, ag__numel(y));
    if (bad < 0) return true;
    report_seed(s->tape, y->ext ? y->ext->name : NULL, bad, ag__ld(ag__grad(y), y->dtype, bad));
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

/* The statement sweep of ag__stmt_sweep, one statement at a time, with
 * the check of the adjoints each statement's partials fed. */
bool ag__stmt_sweep_checked(ag_tape *t, size_t top) {
    ag_stape *s = &t->s;
    size_t o = s->nops;
    for (size_t i = ag__stmt_count(s); i-- > top;) o -= ag__sk_nops(ag__stmt_kind_at(s, i));
    for (size_t i = top; i-- > 0;) {
        const uint16_t k = ag__stmt_kind_at(s, i);
        const unsigned m = ag__sk_nops(k);
        o -= m;
        const double a = s->adj[i];
        for (unsigned j = 0; j < m; j++) s->adj[s->in[o + j]] += s->p[o + j] * a;
        for (unsigned j = 0; j < m; j++) {
            const double v = s->adj[s->in[o + j]];
            if (isfinite(v)) continue;
            const ag_tensor *y = ag__stmt_handle(s, i), *in = ag__stmt_handle(s, s->in[o + j]);
            const char *node = ag__stmt_name(y);
            char operand[96], ops[256], msg[512];
            snprintf(msg, sizeof msg,
                     "anomaly mode: non-finite gradient in the backward pass, through %s's rule%s%s%s: "
                     "the gradient of operand %u %s holds %s at element 0 (the upstream gradient "
                     "is %s); operands %s",
                     op_name(y), node ? " at '" : "", node ? node : "", node ? "'" : "", j + 1,
                     ag__error_fmt_operand(operand, sizeof operand, in), kind(v),
                     isfinite(a) ? "finite" : "not finite either",
                     fmt_stmt_operands(ops, sizeof ops, s, s->in + o, m));
            report(t, op_name(y), true, ag__stmt_name(in), 0, v, msg);
            return false;
        }
    }
    return true;
}

ag_anomaly_report ag_tape_anomaly_report(const ag_tape *t) {
    if (!t || t->err != AG_ERR_NONFINITE) return (ag_anomaly_report){0};
    return t->anomaly_found;
}
