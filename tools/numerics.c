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

int64_t shape_numel(const ag_expr_shape *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->dims[d];
    return n;
}

void shape_text(char *buf, size_t size, const ag_expr_shape *s) {
    if (s->ndim == 0) snprintf(buf, size, "()");
    else if (s->ndim == 1) snprintf(buf, size, "(%lld)", (long long)s->dims[0]);
    else snprintf(buf, size, "(%lld, %lld)", (long long)s->dims[0], (long long)s->dims[1]);
}

/* x's shape into *s; false when it has more than 2 dimensions. */
static bool shape_of(const ag_tensor *x, ag_expr_shape *s) {
    *s = (ag_expr_shape){.ndim = ag_ndim(x)};
    if (s->ndim > 2) return false;
    for (int d = 0; d < s->ndim; d++) s->dims[d] = ag_dim(x, d);
    return true;
}

double eval_value(evaluator *ev, const double *x, bool *ok) {
    ag_expr_error err;
    ag_tensor *y = ag_expr_build(ev->scratch, ev->e, x,
                                 &(ag_expr_build_opts){.constant_inputs = true, .no_names = true,
                                                       .shapes = ev->shapes},
                                 NULL, NULL, &err);
    double v = y ? ag_item(y) : NAN;
    if (!y) report_tape_error(&err);
    if (ok) *ok = y != NULL;
    ag_tape_reset(ev->scratch);
    return v;
}

bool eval_values(evaluator *ev, const double *x, ag_expr_shape *shape, double *out, int64_t max) {
    ag_expr_error err;
    ag_tensor *y = ag_expr_build(ev->scratch, ev->e, x,
                                 &(ag_expr_build_opts){.constant_inputs = true, .no_names = true,
                                                       .shapes = ev->shapes},
                                 NULL, NULL, &err);
    bool ok = y != NULL;
    if (!ok) report_tape_error(&err);
    if (ok && !shape_of(y, shape)) {
        fprintf(stderr, "tapegrad grad: a value has %d dimensions; the command shows at most 2\n", ag_ndim(y));
        ok = false;
    }
    if (ok && out && ag_numel(y) <= max) ok = ag_to_doubles(y, out, ag_numel(y)) == AG_OK;
    ag_tape_reset(ev->scratch);
    return ok;
}

bool eval_binding_shapes(evaluator *ev, const double *x, ag_expr_shape **bshapes, int64_t **boff) {
    const int nb = ag_expr_num_bindings(ev->e);
    ag_tensor **b = malloc(((size_t)nb + 1) * sizeof *b);
    *bshapes = malloc(((size_t)nb + 1) * sizeof **bshapes);
    *boff = malloc(((size_t)nb + 1) * sizeof **boff);
    bool ok = b && *bshapes && *boff;
    ag_expr_error err;
    ag_tensor *y = !ok ? NULL : ag_expr_build(ev->scratch, ev->e, x,
        &(ag_expr_build_opts){.constant_inputs = true, .no_names = true, .bindings = b, .shapes = ev->shapes},
        NULL, NULL, &err);
    if (ok && !y) {
        report_tape_error(&err);
        ok = false;
    }
    if (ok) (*boff)[0] = 0;
    for (int i = 0; ok && i < nb; i++) {
        if (!shape_of(b[i], &(*bshapes)[i])) {
            fprintf(stderr, "tapegrad grad: '%s' has %d dimensions; the command takes at most 2\n",
                    ag_expr_binding_name(ev->e, i), ag_ndim(b[i]));
            ok = false;
        } else {
            (*boff)[i + 1] = (*boff)[i] + shape_numel(&(*bshapes)[i]);
        }
    }
    ag_tape_reset(ev->scratch);
    free(b);
    ev->bshapes = *bshapes;
    ev->boff = *boff;
    return ok;
}

bool eval_gradient(evaluator *ev, const double *x, double *g, double *gb, double *bv) {
    ag_expr_error err;
    const int nb = gb || bv ? ag_expr_num_bindings(ev->e) : 0;
    const int ni = ag_expr_num_inputs(ev->e);
    const size_t slots = (size_t)ni + (size_t)nb + 1;
    ag_tensor **in = malloc(slots * 2 * sizeof *in);
    if (!in) return false;
    ag_tensor **gr = in + slots;
    /* The bindings follow the inputs, so one backward gives both. */
    ag_tensor *y = ag_expr_build(ev->scratch, ev->e, x,
                                 &(ag_expr_build_opts){.no_names = true, .bindings = nb ? in + ni : NULL,
                                                       .shapes = ev->shapes},
                                 in, NULL, &err);
    bool ok = y != NULL;
    if (!ok) report_tape_error(&err);
    if (ok && ag_grad_ex(ev->scratch, y, ni + nb, in, gr, &(ag_backward_opts){.allow_unused = true}) != AG_OK) {
        fprintf(stderr, "tapegrad grad: %s\n", ag_tape_error(ev->scratch));
        ok = false;
    }
    /* every gradient has its tensor's shape: copied out flat, in order */
    int64_t o = 0;
    for (int i = 0; ok && i < ni; i++) {
        ok = ag_to_doubles(gr[i], g + o, ag_numel(in[i])) == AG_OK;
        o += ag_numel(in[i]);
    }
    for (int i = 0; ok && i < nb; i++) {
        const int64_t at = ev->boff ? ev->boff[i] : i, k = ag_numel(in[ni + i]);
        if (ev->boff ? k != ev->boff[i + 1] - at : k != 1) ok = false; /* shapes are fixed by the inputs' */
        if (ok && gb) ok = ag_to_doubles(gr[ni + i], gb + at, k) == AG_OK;
        if (ok && bv) ok = ag_to_doubles(in[ni + i], bv + at, k) == AG_OK;
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

bool fd_jacobian(evaluator *ev, const double *x, int64_t m, double *fd) {
    const int n = ev->n;
    double *p = malloc(((size_t)n + 1 + 2 * (size_t)m) * sizeof *p);
    if (!p) return false;
    double *yu = p + n + 1, *yd = yu + m;
    ag_expr_shape s;
    bool ok = true;
    for (int j = 0; j < n && ok; j++) {
        for (int k = 0; k < n; k++) p[k] = x[k];
        double h = step_for(x[j]);
        double up = x[j] + h, down = x[j] - h;
        p[j] = up;
        ok = eval_values(ev, p, &s, yu, m) && shape_numel(&s) == m;
        p[j] = down;
        ok = ok && eval_values(ev, p, &s, yd, m) && shape_numel(&s) == m;
        for (int64_t i = 0; ok && i < m; i++) fd[i * n + j] = (yu[i] - yd[i]) / (up - down);
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
    ag_expr_shape shape;
    double *data = NULL;
    if (!eval_constant_tensor(formula, what, &shape, &data)) return false;
    bool ok = shape.ndim == 0;
    if (ok) *out = data[0];
    else fprintf(stderr, "tapegrad grad: the value of %.64s must be a number here\n", what);
    free(data);
    return ok;
}

bool eval_constant_tensor(const char *formula, const char *what, ag_expr_shape *shape, double **data) {
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
    evaluator ev = {e, t, 0, NULL, NULL, NULL};
    bool ok = t != NULL && eval_values(&ev, NULL, shape, NULL, 0);
    *data = ok ? malloc((size_t)shape_numel(shape) * sizeof **data) : NULL;
    ok = ok && *data && eval_values(&ev, NULL, shape, *data, shape_numel(shape));
    if (!ok) {
        free(*data);
        *data = NULL;
    }
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
