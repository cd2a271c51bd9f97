/* The numbers behind the checks: repeated evaluation of a program on a
 * scratch tape, its gradient, central finite differences of both, and the
 * Hessian through the recorded backward (the fuzz target runs it too). */
#include "cli.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* The central-difference step for x: cbrt(DBL_EPSILON) scaled to x, which
 * balances truncation (O(h^2)) against rounding (O(eps/h)). */
static double step_for(double x) { return 6.0554544523933395e-06 * fmax(1.0, fabs(x)); }

static void report_tape_error(const ag_expr_error *err) {
    fprintf(stderr, "tapegrad grad: %s\n", err->message);
}

double eval_value(evaluator *ev, const double *x, bool *ok) {
    ag_expr_error err;
    ag_tensor *y = ag_expr_build(ev->scratch, ev->e, x,
                                 &(ag_expr_build_opts){.constant_inputs = true, .no_names = true},
                                 NULL, NULL, &err);
    double v = y ? ag_item(y) : NAN;
    if (!y) report_tape_error(&err);
    if (ok) *ok = y != NULL;
    ag_tape_reset(ev->scratch);
    return v;
}

bool eval_gradient(evaluator *ev, const double *x, double *g, double *gb, double *bv) {
    ag_expr_error err;
    const int nb = gb || bv ? ag_expr_num_bindings(ev->e) : 0;
    const size_t slots = (size_t)ev->n + (size_t)nb + 1;
    ag_tensor **in = malloc(slots * 2 * sizeof *in);
    if (!in) return false;
    ag_tensor **gr = in + slots;
    /* The bindings follow the inputs, so one backward gives both. */
    ag_tensor *y = ag_expr_build(ev->scratch, ev->e, x,
                                 &(ag_expr_build_opts){.no_names = true, .bindings = nb ? in + ev->n : NULL},
                                 in, NULL, &err);
    bool ok = y != NULL;
    if (!ok) report_tape_error(&err);
    if (ok && ag_grad_ex(ev->scratch, y, ev->n + nb, in, gr, &(ag_backward_opts){.allow_unused = true}) != AG_OK) {
        fprintf(stderr, "tapegrad grad: %s\n", ag_tape_error(ev->scratch));
        ok = false;
    }
    for (int i = 0; ok && i < ev->n; i++) g[i] = ag_item(gr[i]);
    for (int i = 0; ok && i < nb; i++) {
        if (gb) gb[i] = ag_item(gr[ev->n + i]);
        if (bv) bv[i] = ag_item(in[ev->n + i]);
    }
    ag_tape_reset(ev->scratch);
    free(in);
    return ok;
}

bool fd_gradient(evaluator *ev, const double *x, double *fd) {
    double *p = malloc(((size_t)ev->n + 1) * sizeof *p);
    if (!p) return false;
    bool ok = true;
    for (int i = 0; i < ev->n && ok; i++) {
        for (int k = 0; k < ev->n; k++) p[k] = x[k];
        double h = step_for(x[i]);
        double up = x[i] + h, down = x[i] - h;
        p[i] = up;
        double fu = eval_value(ev, p, &ok);
        p[i] = down;
        double fdn = ok ? eval_value(ev, p, &ok) : NAN;
        fd[i] = (fu - fdn) / (up - down); /* the steps actually taken */
    }
    free(p);
    return ok;
}

bool fd_hessian(evaluator *ev, const double *x, double *fd) {
    const int n = ev->n;
    double *p = malloc(((size_t)n + 1) * 3 * sizeof *p);
    if (!p) return false;
    double *gu = p + n + 1, *gd = gu + n + 1;
    bool ok = true;
    for (int j = 0; j < n && ok; j++) {
        for (int k = 0; k < n; k++) p[k] = x[k];
        double h = step_for(x[j]);
        double up = x[j] + h, down = x[j] - h;
        p[j] = up;
        ok = eval_gradient(ev, p, gu, NULL, NULL);
        p[j] = down;
        ok = ok && eval_gradient(ev, p, gd, NULL, NULL);
        for (int i = 0; ok && i < n; i++) fd[i * n + j] = (gu[i] - gd[i]) / (up - down);
    }
    free(p);
    return ok;
}

void compare(const double *a, const double *b, int count, check_stats *s, bool *ok) {
    for (int i = 0; i < count; i++) {
        double err = fabs(a[i] - b[i]);
        bool good = a[i] == b[i] || err <= FD_ATOL + FD_RTOL * fabs(b[i]);
        if (a[i] == b[i]) err = 0; /* equal infinities */
        double rel = err / fmax(fabs(b[i]), FD_ATOL);
        if (isnan(err)) {
            s->max_abs_err = s->max_rel_err = NAN;
        } else if (!isnan(s->max_abs_err)) {
            s->max_abs_err = fmax(s->max_abs_err, err);
            s->max_rel_err = fmax(s->max_rel_err, rel);
        }
        if (!good) s->ok = false;
        if (ok) ok[i] = good;
    }
}

bool eval_constant(const char *formula, const char *what, double *out) {
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(formula, &err);
    if (!e) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "tapegrad grad: the value of %.64s", what);
        ag_expr_error_print(stderr, prefix, &err);
        return false;
    }
    if (ag_expr_num_inputs(e) > 0) {
        fprintf(stderr, "tapegrad grad: the value of %.64s must be a number or a formula of "
                "numbers, pi and e; '%.64s' is not known\n", what, ag_expr_input_name(e, 0));
        ag_expr_free(e);
        return false;
    }
    ag_tape *t = ag_tape_new(0);
    evaluator ev = {e, t, 0};
    bool ok = t != NULL;
    if (ok) *out = eval_value(&ev, NULL, &ok);
    ag_tape_free(t);
    ag_expr_free(e);
    return ok;
}

bool autodiff_hessian(ag_tape *t, ag_tensor *y, int n, ag_tensor **in, double *h) {
    ag_tensor **g = malloc(((size_t)n + 1) * sizeof *g);
    if (!g) return false;
    ag_backward_opts o = {.create_graph = true, .allow_unused = true};
    bool ok = ag_grad_ex(t, y, n, in, g, &o) == AG_OK;
    /* Each row is a numeric backward from g[i], read off the inputs' stored
     * gradients and zeroed again: rows record nothing, so the cost is n
     * passes over a tape of fixed size. (A row by ag_grad recorded n zero
     * tensors: the tape grew by n nodes a row, the run with the cube of n.)
     * A constant g[i] (y linear in x_i, or not using it) is a zero row. */
    for (int i = 0; ok && i < n; i++) {
        if (ag_grad_data(g[i])) ok = ag_backward(t, g[i]) == AG_OK;
        for (int j = 0; ok && j < n; j++) {
            if (h) h[(size_t)i * n + j] = ag_grad_item(in[j]);
            ag_zero_grad(in[j]);
        }
    }
    free(g);
    return ok;
}
