/* `tapegrad jacobian`: the Jacobian of a program with a tensor (or scalar)
 * output, one reverse sweep per output element (seeded with that element's
 * one-hot), checked against central finite differences. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything one run computes. */
typedef struct jac_run {
    const ag_expr *e;
    int ni;                    /* inputs */
    int n;                     /* input elements */
    const ag_expr_shape *shapes; /* NULL: all scalars */
    const int64_t *off;
    ag_expr_shape ys;          /* the output's shape */
    int64_t m;                 /* its elements */
    double *value, *jac, *fd;  /* m; m*n; m*n */
    bool *ok;
    check_stats check;
} jac_run;

static const ag_expr_shape SCALAR = {0, {0, 0}};
static const ag_expr_shape *in_shape(const jac_run *r, int i) { return r->shapes ? &r->shapes[i] : &SCALAR; }
static int64_t in_off(const jac_run *r, int i) { return r->shapes ? r->off[i] : i; }

/* Text: for each input, one row per output element: d out[i] / d input,
 * autodiff beside the finite differences. */
static void print_text(const jac_run *r) {
    char b[SHORTEST_LEN], shape[64], idx[48];
    fputs("value: ", stdout);
    print_tensor(stdout, &r->ys, r->value);
    shape_text(shape, sizeof shape, &r->ys);
    printf("\njacobian (one reverse sweep per output element; central finite difference), output shape %s:\n",
           shape);
    for (int i = 0; i < r->ni; i++) {
        const ag_expr_shape *s = in_shape(r, i);
        const int64_t o = in_off(r, i), k = shape_numel(s);
        char ishape[64];
        shape_text(ishape, sizeof ishape, s);
        int w = 1;
        for (int64_t row = 0; row < r->m; row++)
            for (int64_t c = 0; c < k; c++) {
                int l1 = (int)strlen(shortest(r->jac[row * r->n + o + c], b));
                int l2 = (int)strlen(shortest(r->fd[row * r->n + o + c], b));
                w = l1 > w ? l1 : w;
                w = l2 > w ? l2 : w;
            }
        printf("  d out/d%s, %s shape %s (its elements in a row, row-major):\n", ag_expr_input_name(r->e, i),
               ag_expr_input_name(r->e, i), ishape);
        for (int64_t row = 0; row < r->m; row++) {
            bool row_ok = true;
            if (r->ys.ndim == 0) snprintf(idx, sizeof idx, "out");
            else {
                char ix[40];
                index_text(ix, sizeof ix, &r->ys, row);
                snprintf(idx, sizeof idx, "out%s", ix);
            }
            printf("    %-10s [", idx);
            for (int64_t c = 0; c < k; c++) printf(" %*s", w, shortest(r->jac[row * r->n + o + c], b));
            fputs(" ] | [", stdout);
            for (int64_t c = 0; c < k; c++) {
                printf(" %*s", w, shortest(r->fd[row * r->n + o + c], b));
                row_ok = row_ok && r->ok[row * r->n + o + c];
            }
            printf(" ]  %s\n", row_ok ? "ok" : "MISMATCH");
        }
    }
    printf("check: %s (max abs err %.3g, max rel err %.3g)\n", r->check.ok ? "ok" : "FAILED",
           r->check.max_abs_err, r->check.max_rel_err);
}

/* JSON: "jacobian": {input: [one entry per output element (row-major), each
 * the derivative in the input's shape]}. */
static void print_json(const jac_run *r) {
    fputs("{\"value\": ", stdout);
    json_tensor(stdout, &r->ys, r->value);
    fputs(", \"shape\": [", stdout);
    for (int d = 0; d < r->ys.ndim; d++) printf("%s%lld", d ? ", " : "", (long long)r->ys.dims[d]);
    fputs("], \"jacobian\": {", stdout);
    for (int i = 0; i < r->ni; i++) {
        fputs(i ? ", " : "", stdout);
        json_string(stdout, ag_expr_input_name(r->e, i));
        fputs(": [", stdout);
        for (int64_t row = 0; row < r->m; row++) {
            fputs(row ? ", " : "", stdout);
            json_tensor(stdout, in_shape(r, i), r->jac + row * r->n + in_off(r, i));
        }
        fputc(']', stdout);
    }
    printf("}, \"check\": {\"ok\": %s, \"max_abs_err\": ", r->check.ok ? "true" : "false");
    json_number(stdout, r->check.max_abs_err);
    fputs(", \"max_rel_err\": ", stdout);
    json_number(stdout, r->check.max_rel_err);
    fputs("}}\n", stdout);
}

static int run(const grad_args *a, const ag_expr *e, ag_tape *t, ag_tape *scratch) {
    jac_run r = {.e = e, .ni = ag_expr_num_inputs(e)};
    ag_expr_shape *shapes = NULL;
    int64_t *off = NULL, nel = 0;
    double *x = NULL, *seed = NULL;
    const char **unused = calloc((size_t)a->nvalues + 1, sizeof *unused);
    ag_tensor **in = calloc(((size_t)r.ni + 1) * 2, sizeof *in);
    ag_tensor **gr = in ? in + r.ni + 1 : NULL;
    int nunused = 0;
    int rc = unused && in ? bind_inputs(a, e, unused, &nunused, &shapes, &off, &x, &nel) : EXIT_ERROR;
    r.n = (int)nel;
    r.shapes = shapes;
    r.off = off;
    ag_expr_error err;
    if (rc != EXIT_OK) goto done;
    ag_tensor *y = ag_expr_build(t, e, x, &(ag_expr_build_opts){.shapes = shapes}, in, NULL, &err);
    if (!y) {
        fprintf(stderr, "tapegrad jacobian: %s\n", err.message);
        rc = EXIT_ERROR;
        goto done;
    }
    if (ag_ndim(y) > 2) {
        fprintf(stderr, "tapegrad jacobian: the output has %d dimensions; at most 2 are shown\n", ag_ndim(y));
        rc = EXIT_ERROR;
        goto done;
    }
    r.ys.ndim = ag_ndim(y);
    for (int d = 0; d < r.ys.ndim; d++) r.ys.dims[d] = ag_dim(y, d);
    r.m = ag_numel(y);
    const size_t mn = (size_t)r.m * (size_t)r.n + 1;
    r.value = calloc((size_t)r.m + 1, sizeof *r.value);
    seed = calloc((size_t)r.m + 1, sizeof *seed);
    r.jac = calloc(mn, sizeof *r.jac);
    r.fd = calloc(mn, sizeof *r.fd);
    r.ok = calloc(mn, sizeof *r.ok);
    if (!r.value || !seed || !r.jac || !r.fd || !r.ok) {
        fprintf(stderr, "tapegrad jacobian: out of memory\n");
        rc = EXIT_ERROR;
        goto done;
    }
    ag_to_doubles(y, r.value, r.m);
    /* Row k: the backward seeded with the one-hot of output element k. */
    for (int64_t k = 0; k < r.m; k++) {
        seed[k] = 1;
        ag_tensor *s = ag_from_doubles(t, AG_F64, r.ys.ndim, r.ys.dims, seed);
        seed[k] = 0;
        if (!s || ag_grad_ex(t, y, r.ni, in, gr, &(ag_backward_opts){.seed = s, .allow_unused = true}) != AG_OK) {
            fprintf(stderr, "tapegrad jacobian: %s\n", ag_tape_error(t));
            rc = EXIT_ERROR;
            goto done;
        }
        for (int i = 0; i < r.ni; i++)
            ag_to_doubles(gr[i], r.jac + k * r.n + in_off(&r, i), ag_numel(in[i]));
    }
    evaluator ev = {e, scratch, r.n, shapes, NULL, NULL};
    if (!fd_jacobian(&ev, x, r.m, r.fd)) {
        rc = EXIT_ERROR;
        goto done;
    }
    r.check = (check_stats){.ok = true};
    for (int64_t k = 0; k < r.m; k++) r.check.ok = r.check.ok && isfinite(r.value[k]);
    compare(r.jac, r.fd, (int)(mn - 1), &r.check, r.ok);
    if (a->json) print_json(&r);
    else print_text(&r);
    rc = r.check.ok ? EXIT_OK : EXIT_CHECK_FAILED;
done:
    free(r.ok);
    free(r.fd);
    free(r.jac);
    free(r.value);
    free(seed);
    free(x);
    free(shapes);
    free(off);
    free(in);
    free(unused);
    return rc;
}

int jacobian_main(int argc, char **argv) {
    grad_args a;
    int rc = grad_args_parse(argc, argv, &a);
    if (rc != 0) {
        grad_args_free(&a);
        return rc < 0 ? EXIT_OK : rc;
    }
    if (a.nexpect || a.order != 1 || a.trace || a.dot || a.svg || a.png) {
        fprintf(stderr, "tapegrad jacobian: takes --json and --file only (--expect, --order, --trace and "
                "the pictures belong to grad)\n");
        grad_args_free(&a);
        return EXIT_ERROR;
    }
    ag_expr_error err;
    ag_expr *e = ag_expr_parse(a.program, &err);
    if (!e) {
        ag_expr_error_print(stderr, "tapegrad jacobian: parse error", &err);
        grad_args_free(&a);
        return EXIT_ERROR;
    }
    ag_tape *t = ag_tape_new(0), *scratch = ag_tape_new(0);
    if (!t || !scratch) {
        fprintf(stderr, "tapegrad jacobian: out of memory\n");
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
