/* libFuzzer target for the expression language: parse, build the graph,
 * first-order backward at arbitrary input values, and second order on small
 * programs. The same entry point is replayed over tests/corpus/expr by the
 * fuzz_replay test, so every crash found becomes a regression test.
 *
 * Input: the program's bytes up to the first NUL byte; after it, the input
 * values as raw 8-byte doubles (any bits: NaN and infinities included).
 * Missing values get fixed defaults. */
#include "cli.h" /* autodiff_hessian */

#include <tapegrad/trace.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink(void) {
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    ag_expr_error err;
    ag_expr *e = ag_expr_parse_n((const char *)data, plen, &err);
    if (!e) {
        ag_expr_error_print(sink(), "fuzz", &err);
        return 0;
    }
    const int n = ag_expr_num_inputs(e);
    double *x = calloc((size_t)n + 1, sizeof *x);
    ag_tensor **in = calloc((size_t)n * 2 + 2, sizeof *in);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    if (!x || !in || !names) goto out;
    const uint8_t *vals = nul ? nul + 1 : data + size;
    size_t nvals = (size_t)(data + size - vals) / sizeof(double);
    for (int i = 0; i < n; i++) {
        if ((size_t)i < nvals) memcpy(&x[i], vals + (size_t)i * sizeof(double), sizeof(double));
        else x[i] = 0.5 + 0.75 * i * (i % 2 ? -1 : 1);
        names[i] = ag_expr_input_name(e, i);
        if (ag_expr_input_index(e, names[i]) != i) abort(); /* the symbol table must agree */
    }
    double *bound = calloc((size_t)n + 1, sizeof *bound);
    if (bound) {
        if (ag_expr_bind_values(e, n, names, x, bound, &err) != 0 ||
            (n > 0 && memcmp(bound, x, (size_t)n * sizeof *x) != 0))
            abort();
        free(bound);
    }

    ag_tape *t = ag_tape_new((size_t)256 << 20);
    if (!t) goto out;
    ag_expr_nonfinite nf;
    ag_tensor *y = ag_expr_build(t, e, x, NULL, in, &nf, &err);
    if (y) {
        ag_tensor **g = in + n + 1;
        ag_grad_ex(t, y, n, in, g, &(ag_backward_opts){.allow_unused = true});
        if (ag_expr_num_nodes(e) <= 200 && n <= 4) autodiff_hessian(t, y, n, in, NULL);
        if (ag_expr_num_nodes(e) <= 200) {
            ag_tape_clear_error(t);
            ag_trace(sink(), t, y, NULL);
            ag_write_dot(sink(), t, y);
        }
    }
    ag_tape_reset(t);
    ag_expr_build(t, e, x, &(ag_expr_build_opts){.constant_inputs = true, .no_names = true}, NULL,
                  NULL, &err);
    ag_tape_free(t);
out:
    free(names);
    free(in);
    free(x);
    ag_expr_free(e);
    return 0;
}
