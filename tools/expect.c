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
    double *x;  /* the formula's input values */
} formula;

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

static int setup(const char *spec, const ag_expr *prog, expect_result *r, formula *f) {
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
    int m = ag_expr_num_inputs(f->e);
    f->map = malloc(((size_t)m + 1) * sizeof *f->map);
    f->x = malloc(((size_t)m + 1) * sizeof *f->x);
    if (!f->map || !f->x) return EXIT_ERROR;
    for (int i = 0; i < m; i++) {
        f->map[i] = locate(prog, ag_expr_input_name(f->e, i));
        if (f->map[i] == INT32_MIN) {
            fprintf(stderr, "tapegrad grad: --expect %s: unknown name '%s' in the formula "
                    "(the program's names: %s)\n", spec, ag_expr_input_name(f->e, i),
                    list[0] ? list : "none");
            return EXIT_ERROR;
        }
    }
    return EXIT_OK;
}

/* The formula's value at the program's point x, where its bindings have
 * the values bv; NaN when the build fails. */
static double formula_at(formula *f, ag_tape *scratch, const double *x, const double *bv) {
    int m = ag_expr_num_inputs(f->e);
    for (int i = 0; i < m; i++) f->x[i] = f->map[i] >= 0 ? x[f->map[i]] : bv[-f->map[i] - 1];
    evaluator ev = {f->e, scratch, m};
    return eval_value(&ev, f->x, NULL);
}

int run_expects(const grad_args *a, evaluator *ev, const double *x, expect_result *out) {
    const int n = ev->n, k = a->nexpect;
    int rc = EXIT_OK;
    formula *fs = calloc((size_t)k + 1, sizeof *fs);
    const int nb = ag_expr_num_bindings(ev->e);
    double *p = malloc(((size_t)n + 1) * 2 * sizeof *p + ((size_t)nb + 1) * 2 * sizeof *p);
    if (!fs || !p) {
        free(fs);
        free(p);
        fprintf(stderr, "tapegrad grad: out of memory\n");
        return EXIT_ERROR;
    }
    double *g = p + n + 1, *gb = g + n + 1, *bv = gb + nb + 1;
    for (int i = 0; i < k && rc == EXIT_OK; i++) {
        out[i] = (expect_result){.ok = true};
        rc = setup(a->expect[i], ev->e, &out[i], &fs[i]);
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
            double want = formula_at(&fs[i], ev->scratch, p, bv);
            double got = r->input >= 0 ? g[r->input] : gb[r->binding];
            r->points++;
            if (!agree(got, want, a->rtol, a->atol)) {
                r->ok = false;
                r->autodiff = got;
                r->expected = want;
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
    }
    free(fs);
    free(p);
    return rc;
}

void expect_results_free(expect_result *r, int n) {
    for (int i = 0; i < n; i++) {
        free((char *)r[i].name);
        free(r[i].at);
    }
}
