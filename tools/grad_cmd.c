/* `tapegrad grad`: parse, record, differentiate, check, and report. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything one run computes, for the text or JSON report. */
typedef struct grad_run {
    const grad_args *a;
    const ag_expr *e;
    int n;               /* input elements (the inputs when all are scalars) */
    const ag_expr_shape *shapes; /* the inputs' shapes, NULL when all are scalars */
    const int64_t *off;  /* where input i's elements start in x, grad and fd */
    double *x;           /* the point */
    double value;
    ag_expr_nonfinite nf;
    double *grad, *fd;   /* n each */
    bool *grad_ok;
    check_stats check;
    double *hess, *hfd;  /* n*n each, --order 2 */
    bool *hess_ok;
    check_stats hcheck;
    expect_result *expects;
    int nunused;         /* given names the program does not use: gradient 0 */
    const char **unused;
} grad_run;

/* The Hessian, printing why it failed. */
static bool hessian(ag_tape *t, ag_tensor *y, int n, ag_tensor **in, double *h) {
    if (autodiff_hessian(t, y, n, in, h)) return true;
    fprintf(stderr, "tapegrad %s: second order failed: %s\n", cli_command,
            ag_tape_error(t) ? ag_tape_error(t) : "out of memory");
    return false;
}

/* ---------------------------------------------------------------- text */

static const char *verdict(bool ok) { return ok ? "ok" : "MISMATCH"; }

/* NaN without a sign: printf shows a negative NaN as "-nan". */
static double shown(double v) { return isnan(v) ? fabs(v) : v; }

static const ag_expr_shape SCALAR = {0, {0, 0}};

/* Input i's shape and first element's index in the flat arrays. */
static const ag_expr_shape *input_shape(const grad_run *r, int i) { return r->shapes ? &r->shapes[i] : &SCALAR; }
static int64_t input_off(const grad_run *r, int i) { return r->shapes ? r->off[i] : i; }

/* The shape an unused input's value was given in: its gradient's zeros. */
static const ag_expr_shape *unused_shape(const grad_run *r, const char *name) {
    for (int k = 0; k < r->a->nvalues; k++)
        if (!strcmp(r->a->names[k], name)) return &r->a->shapes[k];
    return &SCALAR;
}

static void print_point(FILE *out, const grad_run *r, const double *x) {
    for (int i = 0; i < ag_expr_num_inputs(r->e); i++) {
        fprintf(out, "%s%s = ", i ? ", " : "", ag_expr_input_name(r->e, i));
        print_tensor(out, input_shape(r, i), x + input_off(r, i));
    }
}

static void print_text(const grad_run *r) {
    const int n = r->n;
    char b1[SHORTEST_LEN], b2[SHORTEST_LEN];
    printf("value: %s\n", shortest(r->value, b1));
    if (r->nf.found) {
        printf("  the value is not finite; the first non-finite value was made by '%s'",
               r->nf.op);
        if (r->nf.name) printf(" (bound to %s)", r->nf.name);
        printf(" at line %d, column %d: %s\n", r->nf.line, r->nf.column, shortest(r->nf.value, b1));
    }
    if (n == 0 && r->nunused == 0) {
        /* "check: ok" here would claim a check that never ran. */
        printf("nothing was differentiated: the program has no inputs (a name it uses but does "
               "not bind, given as NAME=VALUE)\n");
    } else {
        printf("gradient (autodiff; central finite difference):\n");
        for (int i = 0; i < ag_expr_num_inputs(r->e); i++) {
            const int64_t o = input_off(r, i);
            if (input_shape(r, i)->ndim > 0)
                print_grad_table(stdout, ag_expr_input_name(r->e, i), input_shape(r, i), r->grad + o, r->fd + o,
                                 r->grad_ok + o);
            else
                printf("  d/d%-6s = %-24s fd %-24s %s\n", ag_expr_input_name(r->e, i), shortest(r->grad[o], b1),
                       shortest(r->fd[o], b2), verdict(r->grad_ok[o]));
        }
        for (int i = 0; i < r->nunused; i++) {
            const ag_expr_shape *zs = unused_shape(r, r->unused[i]);
            if (zs->ndim == 0) {
                printf("  d/d%-6s = %-24s (not used by the program)\n", r->unused[i], "0");
                continue;
            }
            char sh[64];
            shape_text(sh, sizeof sh, zs);
            printf("  d/d%-6s = zeros, shape %-12s (not used by the program)\n", r->unused[i], sh);
        }
        printf("check: %s (max abs err %.3g, max rel err %.3g)\n",
               r->check.ok ? "ok" : "FAILED", shown(r->check.max_abs_err), shown(r->check.max_rel_err));
    }
    if (r->a->order == 2 && n > 0) {
        printf("hessian (second-order autodiff; differences of the gradient):\n");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                printf("  d2/d%s d%-4s = %-24s fd %-24s %s\n", ag_expr_input_name(r->e, i),
                       ag_expr_input_name(r->e, j), shortest(r->hess[i * n + j], b1), shortest(r->hfd[i * n + j], b2),
                       verdict(r->hess_ok[i * n + j]));
        printf("hessian check: %s (max abs err %.3g, max rel err %.3g)\n",
               r->hcheck.ok ? "ok" : "FAILED", shown(r->hcheck.max_abs_err), shown(r->hcheck.max_rel_err));
    }
    if (isfinite(r->value) && (!r->check.ok || (r->a->order == 2 && !r->hcheck.ok)))
        printf("  (a kink of abs, relu, max or min near the point can explain a mismatch)\n");
    for (int k = 0; k < r->a->nexpect; k++) {
        const expect_result *x = &r->expects[k];
        if (x->ok) {
            printf("expect d/d%s = %s: agrees at the given point and %ld random point%s\n",
                   x->name, x->formula, x->points - 1, x->points == 2 ? "" : "s");
        } else {
            printf("expect d/d%s = %s: DISAGREES at ", x->name, x->formula);
            if (x->at) print_point(stdout, r, x->at);
            if (x->shape.ndim > 0) { /* the worst element */
                char idx[48];
                index_text(idx, sizeof idx, &x->shape, x->worst);
                printf("\n  %lld of %lld elements disagree; the worst, %s: autodiff %s, expected %s\n",
                       (long long)x->nbad, (long long)shape_numel(&x->shape), idx, shortest(x->autodiff, b1),
                       shortest(x->expected, b2));
            } else {
                printf("\n  autodiff %s, expected %s\n", shortest(x->autodiff, b1), shortest(x->expected, b2));
            }
        }
    }
}

/* ---------------------------------------------------------------- JSON */

/* {name: value} over the program's inputs, then `nzero` more names with 0
 * (the unused inputs of a gradient). */
static void json_by_name_and(FILE *out, const grad_run *r, const double *v, int nzero,
                             const char *const *zero) {
    fputc('{', out);
    int k = 0;
    for (int i = 0; i < ag_expr_num_inputs(r->e); i++, k++) {
        fputs(k ? ", " : "", out);
        json_string(out, ag_expr_input_name(r->e, i));
        fputs(": ", out);
        json_tensor(out, input_shape(r, i), v + input_off(r, i)); /* nested arrays for a tensor */
    }
    for (int i = 0; i < nzero; i++, k++) {
        fputs(k ? ", " : "", out);
        json_string(out, zero[i]);
        fputs(": ", out);
        const ag_expr_shape *zs = unused_shape(r, zero[i]);
        double *z = calloc((size_t)shape_numel(zs), sizeof *z);
        if (z) json_tensor(out, zs, z);
        else fputs("0", out);
        free(z);
    }
    fputc('}', out);
}

static void json_by_name(FILE *out, const grad_run *r, const double *v) {
    json_by_name_and(out, r, v, 0, NULL);
}

static void json_check(FILE *out, const check_stats *s) {
    fprintf(out, "{\"ok\": %s, \"max_abs_err\": ", s->ok ? "true" : "false");
    json_number(out, s->max_abs_err);
    fputs(", \"max_rel_err\": ", out);
    json_number(out, s->max_rel_err);
    fputc('}', out);
}

static void print_json(const grad_run *r) {
    FILE *out = stdout;
    const int n = r->n;
    fputs("{\"value\": ", out);
    json_number(out, shown(r->value));
    fputs(", \"grad\": ", out);
    json_by_name_and(out, r, r->grad, r->nunused, r->unused);
    fputs(", \"unused\": [", out);
    for (int i = 0; i < r->nunused; i++) {
        fputs(i ? ", " : "", out);
        json_string(out, r->unused[i]);
    }
    fputs("], \"check\": ", out);
    if (n == 0 && r->nunused == 0) fputs("null", out); /* nothing was differentiated */
    else json_check(out, &r->check);
    if (r->a->order == 2) {
        fputs(", \"hessian\": {", out);
        for (int i = 0; i < n; i++) {
            fputs(i ? ", " : "", out);
            json_string(out, ag_expr_input_name(r->e, i));
            fputs(": ", out);
            json_by_name(out, r, r->hess + (size_t)i * n);
        }
        fputs("}, \"hessian_check\": ", out);
        json_check(out, &r->hcheck);
    }
    if (r->a->nexpect > 0) {
        fputs(", \"expect\": [", out);
        for (int k = 0; k < r->a->nexpect; k++) {
            const expect_result *x = &r->expects[k];
            fputs(k ? ", " : "", out);
            fputs("{\"name\": ", out);
            json_string(out, x->name);
            fputs(", \"formula\": ", out);
            json_string(out, x->formula);
            fprintf(out, ", \"ok\": %s, \"points\": %ld, \"disagreement\": ", x->ok ? "true" : "false",
                    x->points);
            if (x->ok || !x->at) {
                fputs("null", out);
            } else {
                fputs("{\"at\": ", out);
                json_by_name(out, r, x->at);
                if (x->shape.ndim > 0) {
                    fputs(", \"index\": [", out);
                    if (x->shape.ndim == 2) fprintf(out, "%lld, %lld", (long long)(x->worst / x->shape.dims[1]),
                                                    (long long)(x->worst % x->shape.dims[1]));
                    else fprintf(out, "%lld", (long long)x->worst);
                    fprintf(out, "], \"elements_disagreeing\": %lld", (long long)x->nbad);
                }
                fputs(", \"autodiff\": ", out);
                json_number(out, x->autodiff);
                fputs(", \"expected\": ", out);
                json_number(out, x->expected);
                fputc('}', out);
            }
            fputc('}', out);
        }
        fputc(']', out);
    }
    if (r->nf.found) {
        fputs(", \"first_nonfinite\": {\"op\": ", out);
        json_string(out, r->nf.op);
        fputs(", \"name\": ", out);
        if (r->nf.name) json_string(out, r->nf.name);
        else fputs("null", out);
        fprintf(out, ", \"line\": %d, \"column\": %d, \"value\": ", r->nf.line, r->nf.column);
        json_number(out, shown(r->nf.value));
        fputc('}', out);
    }
    fputs("}\n", out);
}

/* ---------------------------------------------------------------- main */

int bind_inputs(const grad_args *a, const ag_expr *e, const char **unused, int *nunused,
                ag_expr_shape **shapes, int64_t **off, double **x, int64_t *nel) {
    const int n = ag_expr_num_inputs(e);
    const char **used = calloc((size_t)a->nvalues + 1, sizeof *used);
    double *which = calloc((size_t)a->nvalues + 1, sizeof *which);
    double *slot = calloc((size_t)n + 1, sizeof *slot);
    *shapes = calloc((size_t)n + 1, sizeof **shapes);
    *off = calloc((size_t)n + 1, sizeof **off);
    int nused = 0, rc = EXIT_OK;
    if (!used || !which || !slot || !*shapes || !*off) {
        fprintf(stderr, "tapegrad %s: out of memory\n", cli_command);
        rc = EXIT_ERROR;
    }
    /* A name the program does not use gets the gradient 0 and a note, as
     * PyTorch's allow_unused: scripts pass one set of variables to many
     * programs, and d/dx = 0 is worth checking. */
    for (int k = 0; rc == EXIT_OK && k < a->nvalues; k++) {
        if (ag_expr_input_index(e, a->names[k]) >= 0) {
            used[nused] = a->names[k];
            which[nused++] = k; /* bound below: slot[i] = the argument input i came from */
            continue;
        }
        bool twice = false;
        for (int j = 0; j < *nunused; j++) twice |= !strcmp(unused[j], a->names[k]);
        if (twice) {
            fprintf(stderr, "tapegrad %s: input '%s' is given twice\n", cli_command, a->names[k]);
            rc = EXIT_ERROR;
            break;
        }
        unused[(*nunused)++] = a->names[k];
        fprintf(stderr, "tapegrad %s: note: the program does not use '%s': its gradient is 0\n", cli_command,
                a->names[k]);
    }
    ag_expr_error err;
    if (rc == EXIT_OK && ag_expr_bind_values(e, nused, used, which, slot, &err) != 0) {
        fprintf(stderr, "tapegrad %s: %s\n", cli_command, err.message);
        rc = EXIT_ERROR;
    }
    bool any_tensor = false;
    *nel = 0;
    for (int i = 0; rc == EXIT_OK && i < n; i++) {
        const int k = (int)slot[i];
        (*shapes)[i] = a->shapes[k];
        (*off)[i] = *nel;
        *nel += shape_numel(&a->shapes[k]);
        any_tensor |= a->shapes[k].ndim > 0;
    }
    *x = rc == EXIT_OK ? calloc((size_t)*nel + 1, sizeof **x) : NULL;
    if (rc == EXIT_OK && !*x) {
        fprintf(stderr, "tapegrad %s: out of memory\n", cli_command);
        rc = EXIT_ERROR;
    }
    for (int i = 0; rc == EXIT_OK && i < n; i++) {
        const int k = (int)slot[i];
        if (a->shapes[k].ndim == 0) (*x)[(*off)[i]] = a->values[k];
        else memcpy(*x + (*off)[i], a->data[k], (size_t)shape_numel(&a->shapes[k]) * sizeof **x);
    }
    if (rc == EXIT_OK && !any_tensor) { /* the scalar layout: x[i] is input i */
        free(*shapes);
        *shapes = NULL;
    }
    free(used);
    free(which);
    free(slot);
    return rc;
}

static int run(const grad_args *a, const ag_expr *e, ag_tape *t, ag_tape *scratch) {
    const int ni = ag_expr_num_inputs(e);
    grad_run r = {.a = a, .e = e};
    ag_expr_shape *shapes = NULL, *bshapes = NULL;
    int64_t *off = NULL, *boff = NULL, nel = 0;
    ag_tensor **in = calloc(((size_t)ni + 1) * 2, sizeof *in);
    ag_tensor **gr = in ? in + ni + 1 : NULL;
    r.unused = calloc((size_t)a->nvalues + 1, sizeof *r.unused);
    int rc = in && r.unused ? bind_inputs(a, e, r.unused, &r.nunused, &shapes, &off, &r.x, &nel) : EXIT_ERROR;
    const int n = (int)nel;
    const size_t n1 = (size_t)n + 1, nn = (size_t)n * (size_t)n + 1;
    r.n = n;
    r.shapes = shapes;
    r.off = off;
    ag_expr_error err;
    evaluator ev = {e, scratch, n, shapes, NULL, NULL};
    ag_tensor *y = NULL;
    if (rc != EXIT_OK) goto done;
    if (shapes && a->order == 2) {
        fprintf(stderr, "tapegrad %s: --order 2 takes scalar inputs only\n", cli_command);
        rc = EXIT_ERROR;
        goto done;
    }
    r.grad = calloc(n1, sizeof *r.grad);
    r.fd = calloc(n1, sizeof *r.fd);
    r.grad_ok = calloc(n1, sizeof *r.grad_ok);
    r.hess = calloc(a->order == 2 ? nn : 1, sizeof *r.hess);
    r.hfd = calloc(a->order == 2 ? nn : 1, sizeof *r.hfd);
    r.hess_ok = calloc(a->order == 2 ? nn : 1, sizeof *r.hess_ok);
    r.expects = calloc((size_t)a->nexpect + 1, sizeof *r.expects);
    if (!r.grad || !r.fd || !r.grad_ok || !r.hess || !r.hfd || !r.hess_ok || !r.expects) {
        fprintf(stderr, "tapegrad %s: out of memory\n", cli_command);
        rc = EXIT_ERROR;
        goto done;
    }
    y = ag_expr_build(t, e, r.x, &(ag_expr_build_opts){.shapes = shapes}, in, &r.nf, &err);
    if (!y) {
        fprintf(stderr, "tapegrad %s: %s\n", cli_command, err.message);
        rc = EXIT_ERROR;
        goto done;
    }
    if (ag_ndim(y) != 0) {
        char shape[64];
        ag_expr_shape ys = {.ndim = ag_ndim(y) > 2 ? 2 : ag_ndim(y)};
        for (int d = 0; d < ys.ndim; d++) ys.dims[d] = ag_dim(y, d);
        shape_text(shape, sizeof shape, &ys);
        fprintf(stderr, "tapegrad %s: the output has shape %s; grad needs a scalar: use sum(...) or "
                "the jacobian subcommand\n", cli_command, shape);
        rc = EXIT_ERROR;
        goto done;
    }
    r.value = ag_item(y);
    /* An input the program does not use gets 0. */
    if (ag_grad_ex(t, y, ni, in, gr, &(ag_backward_opts){.allow_unused = true}) != AG_OK) {
        fprintf(stderr, "tapegrad %s: %s\n", cli_command, ag_tape_error(t));
        rc = EXIT_ERROR;
        goto done;
    }
    for (int i = 0; i < ni; i++) ag_to_doubles(gr[i], r.grad + input_off(&r, i), ag_numel(in[i]));
    if (!fd_gradient(&ev, r.x, r.fd)) {
        rc = EXIT_ERROR;
        goto done;
    }
    r.check = (check_stats){.ok = isfinite(r.value)};
    compare(r.grad, r.fd, n, &r.check, r.grad_ok);
    if (a->order == 2) {
        if (!hessian(t, y, n, in, r.hess) || !fd_hessian(&ev, r.x, r.hfd)) {
            rc = EXIT_ERROR;
            goto done;
        }
        r.hcheck = (check_stats){.ok = isfinite(r.value)};
        compare(r.hess, r.hfd, n * n, &r.hcheck, r.hess_ok);
    }
    /* scalar inputs can make tensor bindings too (v = x*[1, 2]) */
    if (a->nexpect > 0 && !eval_binding_shapes(&ev, r.x, &bshapes, &boff)) {
        rc = EXIT_ERROR;
        goto done;
    }
    if (a->nexpect > 0 && (rc = run_expects(a, &ev, r.x, r.expects)) != EXIT_OK) goto done;
    if ((rc = render(a, t, y, a->json ? stderr : stdout)) != EXIT_OK) goto done;
    if (a->json) print_json(&r);
    else print_text(&r);
    rc = r.check.ok && (a->order != 2 || r.hcheck.ok) ? EXIT_OK : EXIT_CHECK_FAILED;
    for (int k = 0; k < a->nexpect; k++)
        if (!r.expects[k].ok) rc = EXIT_CHECK_FAILED;
done:
    if (r.expects) expect_results_free(r.expects, a->nexpect);
    free(r.expects);
    free(r.unused);
    free(r.hess_ok);
    free(r.hfd);
    free(r.hess);
    free(r.grad_ok);
    free(r.fd);
    free(r.grad);
    free(r.x);
    free(shapes);
    free(off);
    free(bshapes);
    free(boff);
    free(in);
    return rc;
}

int grad_main(int argc, char **argv) {
    grad_args a;
    int rc = grad_args_parse(argc, argv, &a);
    if (rc != 0) {
        grad_args_free(&a);
        return rc < 0 ? EXIT_OK : rc;
    }
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(a.program, &err);
    if (!e) {
        ag_expr_error_print(stderr, "tapegrad grad: parse error", &err);
        grad_args_free(&a);
        return EXIT_ERROR;
    }
    for (int i = 0; i < ag_expr_num_notes(e); i++)
        fprintf(stderr, "tapegrad %s: note: %s\n", cli_command, ag_expr_note(e, i));
    ag_tape *t = ag_tape_new(0), *scratch = ag_tape_new(0);
    if (!t || !scratch) {
        fprintf(stderr, "tapegrad %s: out of memory\n", cli_command);
        rc = EXIT_ERROR;
    } else {
        rc = run(&a, e, t, scratch);
    }
    ag_tape_free(scratch);
    ag_tape_free(t);
    ag_expr_free(e);
    grad_args_free(&a);
    return rc;
}
