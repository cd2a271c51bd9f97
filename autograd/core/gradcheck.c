/* The gradient checker: analytic gradients from one backward pass against
 * central finite differences in float64, element by element. */
#include "node.h"
#include "tape.h"

#include <stdarg.h>
#include <stdlib.h>

ag_gradcheck_opts ag_gradcheck_defaults(void) {
    return (ag_gradcheck_opts){.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .max_elements = 0, .seed = 42};
}

/* Evaluates the checked scalar: sum(w·y) with the fixed weights w (w = 1 for
 * a scalar y). Returns NaN if f fails. */
static double evaluate(ag_fn f, void *ctx, ag_tape *t, ag_tensor *const *inputs, const double *w,
                       int64_t nw, ag_tensor **out) {
    ag_tensor *y = f(t, inputs, ctx);
    if (out) *out = y;
    if (!y || ag_tape_status(t) != AG_OK || (nw && ag_numel(y) != nw)) return NAN;
    double acc = 0;
    for (int64_t i = 0, m = ag_numel(y); i < m; i++) acc += (nw ? w[i] : 1.0) * ag_get(y, i);
    return acc;
}

static void finish(ag_gradcheck_report *r, ag_gradcheck_verdict v, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void finish(ag_gradcheck_report *r, ag_gradcheck_verdict v, const char *fmt, ...) {
    r->verdict = v;
    r->passed = v == AG_GRADCHECK_PASS;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* The comparison both checkers make, element by element, and the verdict
 * it comes to. */
typedef struct tally {
    bool any_analytic, any_numeric, nonfinite;
    double worst_excess;
} tally;

/* Compares one element (input i, flat index k) into the report. */
static void tally_add(ag_gradcheck_report *r, tally *s, const ag_gradcheck_opts *o, int i,
                      int64_t k, double analytic, double numeric) {
    r->checked++;
    if (!isfinite(numeric) || !isfinite(analytic)) {
        if (!s->nonfinite) { /* the first one is the one reported */
            r->worst_input = i;
            r->worst_index = k;
            r->worst_analytic = analytic;
            r->worst_numeric = numeric;
        }
        s->nonfinite = true;
        return;
    }
    s->any_analytic |= analytic != 0;
    s->any_numeric |= fabs(numeric) > o->atol;
    double err = fabs(analytic - numeric);
    double rel = err / fmax(fabs(numeric), o->atol);
    if (err > r->max_abs_err) r->max_abs_err = err;
    if (rel > r->max_rel_err) r->max_rel_err = rel;
    /* The worst element is the one closest to (or furthest past) its
     * tolerance, on a pass as on a mismatch. */
    double excess = err - (o->atol + o->rtol * fabs(numeric));
    if (!s->nonfinite && excess > s->worst_excess) {
        s->worst_excess = excess;
        r->worst_input = i;
        r->worst_index = k;
        r->worst_analytic = analytic;
        r->worst_numeric = numeric;
    }
}

/* The verdict; `what` is "gradcheck" or "gradgradcheck", `quantity` what
 * was compared ("gradient", "second derivative"). */
static void tally_finish(ag_gradcheck_report *r, const tally *s, const ag_gradcheck_opts *o,
                         const char *what, const char *quantity) {
    if (s->nonfinite)
        finish(r, AG_GRADCHECK_NONFINITE, "%s: a value or %s is not finite (analytic %g, numeric %g)",
               what, quantity, r->worst_analytic, r->worst_numeric);
    else if (!s->any_analytic && s->any_numeric)
        finish(r, AG_GRADCHECK_ZERO_GRAD, "%s: the analytic %s is all zeros but the numeric one is "
               "not (max |numeric| > atol %g)", what, quantity, o->atol);
    else if (s->worst_excess > 0)
        finish(r, AG_GRADCHECK_MISMATCH, "%s: analytic %.10g differs from numeric %.10g", what,
               r->worst_analytic, r->worst_numeric);
    else
        finish(r, AG_GRADCHECK_PASS, "%s: passed (max abs error %.3g, max rel error %.3g)", what,
               r->max_abs_err, r->max_rel_err);
}

/* Starts a report and checks the checker's arguments; false (with the
 * report saying why) when they are bad. */
static bool check_start(ag_gradcheck_report *r, const char *what, ag_fn f, int n,
                        ag_tensor *const *inputs, const ag_gradcheck_opts *o) {
    memset(r, 0, sizeof *r);
    r->worst_input = -1;
    r->worst_index = -1;
    if (!f || n <= 0 || !inputs) {
        finish(r, AG_GRADCHECK_ERROR, "%s: bad arguments (need a function and inputs)", what);
        return false;
    }
    /* A NaN tolerance would make every comparison false: a mismatch would pass. */
    if (!(o->eps > 0 && isfinite(o->eps)) || !(o->atol >= 0 && isfinite(o->atol)) ||
        !(o->rtol >= 0 && isfinite(o->rtol)) || o->max_elements < 0) {
        finish(r, AG_GRADCHECK_ERROR, "%s: bad options (eps %g must be finite and > 0, atol %g and rtol %g "
               "finite and >= 0, max_elements %lld >= 0)", what, o->eps, o->atol, o->rtol,
               (long long)o->max_elements);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) {
            finish(r, AG_GRADCHECK_ERROR, "%s: input %d is NULL", what, i + 1);
            return false;
        }
    }
    return true;
}

bool ag_gradcheck(ag_fn f, void *ctx, int n, ag_tensor *const *inputs, const ag_gradcheck_opts *opts,
                  ag_gradcheck_report *report) {
    ag_gradcheck_report dummy;
    ag_gradcheck_report *r = report ? report : &dummy;
    ag_gradcheck_opts o = opts ? *opts : ag_gradcheck_defaults();
    if (!check_start(r, "gradcheck", f, n, inputs, &o)) return false;
    /* f64 parameter copies of the inputs: they survive the tape resets
     * between evaluations. */
    ag_tensor **ps = calloc((size_t)n, sizeof *ps);
    ag_tape *t = ag_tape_new(0);
    double *w = NULL;
    bool ok = ps && t;
    for (int i = 0; ok && i < n; i++) {
        ag_tensor *x = inputs[i];
        ps[i] = ag_param_new(AG_F64, ag_ndim(x), ag_shape(x), NULL);
        ok = ps[i] != NULL;
        for (int64_t k = 0; ok && k < ag_numel(x); k++) ((double *)ag__val(ps[i]))[k] = ag_get(x, k);
    }
    if (!ok) {
        finish(r, AG_GRADCHECK_ERROR, "gradcheck: out of memory");
        goto out;
    }
    /* Analytic gradients, with fixed random weights for a non-scalar output. */
    ag_rng rng;
    ag_rng_seed(&rng, o.seed);
    ag_tensor *y;
    evaluate(f, ctx, t, ps, NULL, 0, &y);
    if (!y || ag_tape_status(t) != AG_OK) {
        finish(r, AG_GRADCHECK_ERROR, "gradcheck: the function failed: %s",
               ag_tape_error(t) ? ag_tape_error(t) : "it returned NULL");
        goto out;
    }
    int64_t nw = ag_numel(y);
    w = malloc((size_t)nw * sizeof *w);
    if (!w) {
        finish(r, AG_GRADCHECK_ERROR, "gradcheck: out of memory");
        goto out;
    }
    for (int64_t i = 0; i < nw; i++) w[i] = nw == 1 ? 1.0 : ag_rng_uniform(&rng) + 0.5;
    ag_tensor *seed = ag_from_doubles(t, ag_dtype_of(y), ag_ndim(y), ag_shape(y), w);
    /* A y that requires no gradient has an analytic gradient of zeros,
     * which the comparison then judges (ZERO_GRAD when f used detach). */
    if (ag_backward_ex(t, y, &(ag_backward_opts){.seed = seed, .allow_unused = true}) != AG_OK) {
        finish(r, AG_GRADCHECK_ERROR, "gradcheck: backward failed: %s", ag_tape_error(t));
        goto out;
    }
    /* Numeric gradients, element by element, compared as they come. */
    tally tl = {.worst_excess = -INFINITY};
    for (int i = 0; i < n; i++) {
        int64_t m = ag__numel(ps[i]);
        int64_t count = (o.max_elements > 0 && o.max_elements < m) ? o.max_elements : m;
        double *v = ag__val(ps[i]);
        const double *g = ag__grad(ps[i]);
        for (int64_t c = 0; c < count; c++) {
            int64_t k = count == m ? c : (int64_t)(ag_rng_next(&rng) % (uint64_t)m);
            double saved = v[k], analytic = g[k];
            v[k] = saved + o.eps;
            ag_tape_reset(t);
            double fp = evaluate(f, ctx, t, ps, w, nw, NULL);
            v[k] = saved - o.eps;
            ag_tape_reset(t);
            double fm = evaluate(f, ctx, t, ps, w, nw, NULL);
            v[k] = saved;
            double numeric = (fp - fm) / (2 * o.eps);
            tally_add(r, &tl, &o, i, k, analytic, numeric);
        }
    }
    tally_finish(r, &tl, &o, "gradcheck", "gradient");
out:
    free(w);
    for (int i = 0; ps && i < n; i++) ag_param_free(ps[i]);
    free(ps);
    ag_tape_free(t);
    return r->passed;
}

/* ---------------------------------------------------------- gradgradcheck */

/* phi(x) = sum_i v_i · dF/dx_i with F = sum(w·f): the first gradient (numeric
 * sweep) projected on the directions. With `second`, also returns
 * d phi / dx_i = (H v)_i through the recorded backward, into h[i]'s values.
 * NaN when anything fails. */
static double projected_grad(ag_fn f, void *ctx, ag_tape *t, ag_tensor *const *ps, int n,
                             const double *w, int64_t nw, double *const *v, double **h) {
    ag_tape_reset(t);
    ag_tensor *y = f(t, ps, ctx);
    if (!y || ag_tape_status(t) != AG_OK || ag_numel(y) != nw) return NAN;
    ag_tensor *seed = ag_from_doubles(t, ag_dtype_of(y), ag_ndim(y), ag_shape(y), w);
    ag_tensor **g = ag__tape_alloc(t, (size_t)n * sizeof *g, "gradgradcheck");
    if (!seed || !g) return NAN;
    ag_backward_opts o = {.seed = seed, .create_graph = h != NULL, .allow_unused = true};
    if (ag_grad_ex(t, y, n, ps, g, &o) != AG_OK) return NAN;
    double phi = 0;
    ag_tensor *dot = NULL;
    for (int i = 0; i < n; i++) {
        int64_t m = ag__numel(ps[i]);
        for (int64_t k = 0; k < m; k++) phi += v[i][k] * ag_get(g[i], k);
        if (h) {
            ag_tensor *vi = ag_tensor_new(t, AG_F64, ps[i]->ndim, ag__shape(ps[i]), v[i]);
            ag_tensor *term = ag_sum(t, ag_mul(t, g[i], vi), AG_ALL, false);
            dot = dot ? ag_add(t, dot, term) : term;
        }
    }
    if (h) {
        ag_tensor **hv = ag__tape_alloc(t, (size_t)n * sizeof *hv, "gradgradcheck");
        if (!dot || !hv || ag_grad_ex(t, dot, n, ps, hv, &(ag_backward_opts){.allow_unused = true}) != AG_OK)
            return NAN;
        for (int i = 0; i < n; i++) ag_to_doubles(hv[i], h[i], ag__numel(ps[i]));
    }
    return phi;
}

bool ag_gradgradcheck(ag_fn f, void *ctx, int n, ag_tensor *const *inputs,
                      const ag_gradcheck_opts *opts, ag_gradcheck_report *report) {
    ag_gradcheck_report dummy;
    ag_gradcheck_report *r = report ? report : &dummy;
    ag_gradcheck_opts o = opts ? *opts : ag_gradcheck_defaults();
    if (!check_start(r, "gradgradcheck", f, n, inputs, &o)) return false;
    ag_tensor **ps = calloc((size_t)n, sizeof *ps);
    double **v = calloc((size_t)n, sizeof *v), **h = calloc((size_t)n, sizeof *h);
    ag_tape *t = ag_tape_new(0);
    double *w = NULL;
    bool ok = ps && v && h && t;
    ag_rng rng;
    ag_rng_seed(&rng, o.seed);
    for (int i = 0; ok && i < n; i++) {
        ag_tensor *x = inputs[i];
        int64_t m = ag_numel(x);
        ps[i] = ag_param_new(AG_F64, ag_ndim(x), ag_shape(x), NULL);
        v[i] = malloc((size_t)(m ? m : 1) * sizeof **v);
        h[i] = malloc((size_t)(m ? m : 1) * sizeof **h);
        ok = ps[i] && v[i] && h[i];
        for (int64_t k = 0; ok && k < m; k++) {
            ((double *)ag__val(ps[i]))[k] = ag_get(x, k);
            v[i][k] = ag_rng_uniform(&rng) * 2 - 1; /* a random direction */
        }
    }
    if (!ok) {
        finish(r, AG_GRADCHECK_ERROR, "gradgradcheck: out of memory");
        goto out;
    }
    /* The output's size, for the weights w of a non-scalar output. */
    ag_tensor *y = f(t, ps, ctx);
    if (!y || ag_tape_status(t) != AG_OK) {
        finish(r, AG_GRADCHECK_ERROR, "gradgradcheck: the function failed: %s",
               ag_tape_error(t) ? ag_tape_error(t) : "it returned NULL");
        goto out;
    }
    int64_t nw = ag_numel(y);
    w = malloc((size_t)(nw ? nw : 1) * sizeof *w);
    if (!w) {
        finish(r, AG_GRADCHECK_ERROR, "gradgradcheck: out of memory");
        goto out;
    }
    for (int64_t i = 0; i < nw; i++) w[i] = nw == 1 ? 1.0 : ag_rng_uniform(&rng) + 0.5;
    /* Analytic: (H v) through the recorded backward. */
    if (isnan(projected_grad(f, ctx, t, ps, n, w, nw, v, h))) {
        finish(r, AG_GRADCHECK_ERROR, "gradgradcheck: the recorded backward failed: %s",
               ag_tape_error(t) ? ag_tape_error(t) : "a value is NaN");
        goto out;
    }
    /* Numeric: central differences of the analytic first gradient. */
    tally tl = {.worst_excess = -INFINITY};
    for (int i = 0; i < n; i++) {
        int64_t m = ag__numel(ps[i]);
        int64_t count = (o.max_elements > 0 && o.max_elements < m) ? o.max_elements : m;
        double *x = ag__val(ps[i]);
        for (int64_t c = 0; c < count; c++) {
            int64_t k = count == m ? c : (int64_t)(ag_rng_next(&rng) % (uint64_t)m);
            double saved = x[k], analytic = h[i][k];
            x[k] = saved + o.eps;
            double fp = projected_grad(f, ctx, t, ps, n, w, nw, v, NULL);
            x[k] = saved - o.eps;
            double fm = projected_grad(f, ctx, t, ps, n, w, nw, v, NULL);
            x[k] = saved;
            double numeric = (fp - fm) / (2 * o.eps);
            tally_add(r, &tl, &o, i, k, analytic, numeric);
        }
    }
    tally_finish(r, &tl, &o, "gradgradcheck", "second derivative");
out:
    free(w);
    for (int i = 0; i < n; i++) {
        if (ps) ag_param_free(ps[i]);
        if (v) free(v[i]);
        if (h) free(h[i]);
    }
    free(ps);
    free(v);
    free(h);
    ag_tape_free(t);
    return r->passed;
}

void ag_gradcheck_print(FILE *out, const ag_gradcheck_report *r) {
    if (!out || !r) return;
    static const char *names[] = {"PASS", "MISMATCH", "ZERO GRADIENT", "NOT FINITE", "ERROR"};
    fprintf(out, "%s: %s\n", names[r->verdict], r->message);
    fprintf(out, "  checked %lld elements; max abs error %.3g, max rel error %.3g\n",
            (long long)r->checked, r->max_abs_err, r->max_rel_err);
    if (r->worst_input >= 0)
        fprintf(out, "  worst: input %d element %lld: analytic %.12g, numeric %.12g\n",
                r->worst_input, (long long)r->worst_index, r->worst_analytic, r->worst_numeric);
}
