/* --expect NAME=FORMULA: the user's hand-derived partial derivative,
 * compared with autodiff at the given point and at seeded random points. */
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A parsed formula and where each of its names sits in the program: an
 * input of the program (map[i] >= 0), or a name the program binds (binding
 * -map[i] - 1), whose value at the point the formula then reads. */
typedef struct formula {
    ag_expr *e;
    int *map;
    double *x;  /* the formula's input values, flat */
    ag_expr_shape *shapes; /* of its inputs (the names' shapes in the program), NULL: scalars */
    double *want; /* its value at a point, flat */
} formula;

static const ag_expr_shape SCALAR = {0, {0, 0}};

/* The shape of a name located by locate() and where its elements start in
 * the program's flat point (an input) or binding arrays (a binding). */
static const ag_expr_shape *located_shape(const evaluator *ev, const int64_t *ioff, int at, int64_t *start) {
    if (at >= 0) {
        *start = ev->shapes ? ioff[at] : at;
        return ev->shapes ? &ev->shapes[at] : &SCALAR;
    }
    int b = -at - 1;
    *start = ev->boff ? ev->boff[b] : b;
    return ev->bshapes ? &ev->bshapes[b] : &SCALAR;
}

static bool agree(double a, double b, double rtol, double atol) {
    if (isnan(a) && isnan(b)) return true; /* both outside the domain */
    if (a == b) return true;
    return fabs(a - b) <= atol + rtol * fmax(fabs(a), fabs(b));
}

/* "x, y; bound: a, b" for messages. */
static void input_list(const ag_expr *e, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < ag_expr_num_inputs(e) && o + 1 < size; i++) {
        int w = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", ag_expr_input_name(e, i));
        if (w < 0) break;
        o += (size_t)w;
    }
    for (int i = 0; i < ag_expr_num_bindings(e) && o + 1 < size; i++) {
        int w = snprintf(buf + o, size - o, "%s%s", i ? ", " : o ? "; bound: " : "bound: ",
                         ag_expr_binding_name(e, i));
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* Where a name sits in the program: input i (i >= 0), binding -i - 1, or
 * INT32_MIN for neither. An input that is also rebound means the input. */
static int locate(const ag_expr *prog, const char *name) {
    int i = ag_expr_input_index(prog, name);
    if (i >= 0) return i;
    int b = ag_expr_binding_index(prog, name);
    return b >= 0 ? -b - 1 : INT32_MIN;
}

static int setup(const char *spec, const evaluator *ev, const int64_t *ioff, expect_result *r, formula *f) {
    const ag_expr *prog = ev->e;
    char list[200];
    input_list(prog, list, sizeof list);
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) {
        fprintf(stderr, "tapegrad grad: --expect takes NAME=FORMULA (the partial derivative by "
                "NAME), e.g. --expect 'x=2*x', not '%s'\n", spec);
        return EXIT_ERROR;
    }
    char *name = strndup(spec, (size_t)(eq - spec));
    if (!name) return EXIT_ERROR;
    r->spec = spec;
    r->name = name;
    r->formula = eq + 1;
    int at = locate(prog, name);
    if (at == INT32_MIN) {
        fprintf(stderr, "tapegrad grad: --expect %s: '%s' is neither an input nor a binding of the "
                "program (its names: %s)\n", spec, name, list[0] ? list : "none");
        return EXIT_ERROR;
    }
    r->input = at >= 0 ? at : -1;
    r->binding = at >= 0 ? -1 : -at - 1;
    ag_expr_error err;
    f->e = ag_expr_parse(r->formula, &err);
    if (!f->e) {
        char prefix[160];
        snprintf(prefix, sizeof prefix, "tapegrad grad: --expect formula for %.64s", name);
        ag_expr_error_print(stderr, prefix, &err);
        return EXIT_ERROR;
    }
    int64_t start;
    r->shape = *located_shape(ev, ioff, at, &start);
    int m = ag_expr_num_inputs(f->e);
    f->map = malloc(((size_t)m + 1) * sizeof *f->map);
    f->shapes = malloc(((size_t)m + 1) * sizeof *f->shapes);
    f->want = malloc((size_t)shape_numel(&r->shape) * sizeof *f->want);
    if (!f->map || !f->shapes || !f->want) return EXIT_ERROR;
    int64_t nel = 0;
    bool any_tensor = false;
    for (int i = 0; i < m; i++) {
        f->map[i] = locate(prog, ag_expr_input_name(f->e, i));
        if (f->map[i] == INT32_MIN) {
            fprintf(stderr, "tapegrad grad: --expect %s: unknown name '%s' in the formula "
                    "(the program's names: %s)\n", spec, ag_expr_input_name(f->e, i),
                    list[0] ? list : "none");
            return EXIT_ERROR;
        }
        f->shapes[i] = *located_shape(ev, ioff, f->map[i], &start);
        nel += shape_numel(&f->shapes[i]);
        any_tensor |= f->shapes[i].ndim > 0;
    }
    if (!any_tensor) { /* the scalar layout */
        free(f->shapes);
        f->shapes = NULL;
    }
    f->x = malloc(((size_t)nel + 1) * sizeof *f->x);
    return f->x ? EXIT_OK : EXIT_ERROR;
}

/* The formula's value at the program's point x, where its bindings have
 * the values bv, into f->want (NaN when the build fails). False (printed)
 * when its shape is not the derivative's. */
static bool formula_at(formula *f, const evaluator *pev, const int64_t *ioff, const expect_result *r,
                       const double *x, const double *bv) {
    int m = ag_expr_num_inputs(f->e);
    int64_t o = 0, start;
    for (int i = 0; i < m; i++) {
        const int64_t k = shape_numel(located_shape(pev, ioff, f->map[i], &start));
        memcpy(f->x + o, (f->map[i] >= 0 ? x : bv) + start, (size_t)k * sizeof *f->x);
        o += k;
    }
    evaluator ev = {f->e, pev->scratch, (int)o, f->shapes, NULL, NULL};
    const int64_t want = shape_numel(&r->shape);
    ag_expr_shape got;
    if (!eval_values(&ev, f->x, &got, f->want, want)) {
        for (int64_t i = 0; i < want; i++) f->want[i] = NAN; /* outside the formula's domain */
        return true;
    }
    bool same = got.ndim == r->shape.ndim;
    for (int d = 0; same && d < got.ndim; d++) same = got.dims[d] == r->shape.dims[d];
    if (!same) {
        char sg[64], sw[64];
        shape_text(sg, sizeof sg, &got);
        shape_text(sw, sizeof sw, &r->shape);
        fprintf(stderr, "tapegrad grad: --expect %s: the formula has shape %s, but d/d%s has shape %s\n",
                r->spec, sg, r->name, sw);
    }
    return same;
}

int run_expects(const grad_args *a, evaluator *ev, const double *x, expect_result *out) {
    const int n = ev->n, k = a->nexpect;
    int rc = EXIT_OK;
    formula *fs = calloc((size_t)k + 1, sizeof *fs);
    const int nb = ag_expr_num_bindings(ev->e), ni = ag_expr_num_inputs(ev->e);
    const int64_t nbel = ev->boff ? ev->boff[nb] : nb; /* the bindings' elements */
    double *p = malloc(((size_t)n + 1) * 2 * sizeof *p + ((size_t)nbel + 1) * 2 * sizeof *p);
    int64_t *ioff = calloc((size_t)ni + 1, sizeof *ioff); /* where input i starts in the point */
    for (int i = 0; ioff && ev->shapes && i < ni; i++) ioff[i + 1] = ioff[i] + shape_numel(&ev->shapes[i]);
    if (!fs || !p || !ioff) {
        free(ioff);
        free(fs);
        free(p);
        fprintf(stderr, "tapegrad grad: out of memory\n");
        return EXIT_ERROR;
    }
    double *g = p + n + 1, *gb = g + n + 1, *bv = gb + nbel + 1;
    for (int i = 0; i < k && rc == EXIT_OK; i++) {
        out[i] = (expect_result){.ok = true};
        rc = setup(a->expect[i], ev, ioff, &out[i], &fs[i]);
    }
    ag_rng rng;
    ag_rng_seed(&rng, a->seed);
    /* Point 0 is the given one; then the random ones. */
    for (long pt = 0; rc == EXIT_OK && pt <= a->points; pt++) {
        for (int j = 0; j < n; j++) {
            if (pt == 0) {
                p[j] = x[j];
            } else {
                double lo = a->have_range ? a->lo : x[j] - 2, hi = a->have_range ? a->hi : x[j] + 2;
                p[j] = lo + (hi - lo) * ag_rng_uniform(&rng);
            }
        }
        if (!eval_gradient(ev, p, g, gb, bv)) {
            rc = EXIT_ERROR;
            break;
        }
        bool any = false;
        for (int i = 0; i < k; i++) {
            expect_result *r = &out[i];
            if (!r->ok) continue;
            any = true;
            if (!formula_at(&fs[i], ev, ioff, r, p, bv)) {
                rc = EXIT_ERROR;
                break;
            }
            int64_t start;
            located_shape(ev, ioff, r->input >= 0 ? r->input : -r->binding - 1, &start);
            const double *got = (r->input >= 0 ? g : gb) + start, *want = fs[i].want;
            r->points++;
            /* element by element; the worst is the one furthest outside its tolerance */
            double worst = -1;
            for (int64_t j = 0; j < shape_numel(&r->shape); j++) {
                if (agree(got[j], want[j], a->rtol, a->atol)) continue;
                double excess = fabs(got[j] - want[j]) / (a->atol + a->rtol * fmax(fabs(got[j]), fabs(want[j])));
                r->nbad++;
                if (!(excess <= worst)) { /* NaN counts as the worst */
                    worst = isnan(excess) ? INFINITY : excess;
                    r->worst = j;
                }
            }
            if (r->nbad > 0) {
                r->ok = false;
                r->autodiff = got[r->worst];
                r->expected = want[r->worst];
                r->at = malloc(((size_t)n + 1) * sizeof *r->at);
                if (r->at) memcpy(r->at, p, (size_t)n * sizeof *p);
            }
        }
        if (!any) break; /* every expectation already failed */
    }
    for (int i = 0; i < k; i++) {
        ag_expr_free(fs[i].e);
        free(fs[i].map);
        free(fs[i].x);
        free(fs[i].shapes);
        free(fs[i].want);
    }
    free(fs);
    free(ioff);
    free(p);
    return rc;
}

void expect_results_free(expect_result *r, int n) {
    for (int i = 0; i < n; i++) {
        free((char *)r[i].name);
        free(r[i].at);
    }
}
