/* autodiff_hessian (tools/numerics.c), the Hessian of `tapegrad grad
 * --order 2` and of the fuzz target: correct, and its rows record nothing. Each row used to be an ag_grad recording n zero
 * tensors, so the tape grew by n nodes a row and the run's cost with n³
 * (250 inputs 0.15 s, 2,000 inputs 50 s and 607 MB). */
#include "testutil.h"

#include "cli.h"

#include <stdlib.h>

enum { N = 40 };

/* y = sum_i x_i² x_(i+1 mod N) + 3 x_0, from N + 1 inputs (the last unused).
 * d²y/dx_k² = 2 x_(k+1), d²y/dx_k dx_(k+1) = 2 x_k (and symmetric). */
static ag_tensor *program(ag_tape *t, ag_tensor **in) {
    for (int i = 0; i <= N; i++) in[i] = ag_requires_grad(t, ag_scalar(t, 0.1 * (i + 1)));
    ag_tensor *y = ag_mul_c(t, in[0], 3.0);
    for (int i = 0; i < N; i++) y = ag_add(t, y, ag_mul(t, ag_square(t, in[i]), in[(i + 1) % N]));
    return y;
}

static double expected(int i, int j) {
    double x[N + 1];
    for (int k = 0; k <= N; k++) x[k] = 0.1 * (k + 1);
    if (i == N || j == N) return 0;
    if (i == j) return 2 * x[(i + 1) % N];
    if (j == (i + 1) % N) return 2 * x[i];
    if (i == (j + 1) % N) return 2 * x[j];
    return 0;
}

START_TEST(hessian_by_rows_on_a_tape_of_fixed_size) {
    ag_tensor *in[N + 1], *g[N + 1];
    /* How many nodes the one recorded backward adds. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = program(t, in);
    size_t before = ag_tape_get_stats(t).nodes;
    ck_assert_int_eq(ag_grad_ex(t, y, N + 1, in, g, &(ag_backward_opts){.create_graph = true, .allow_unused = true}),
                     AG_OK);
    size_t recorded = ag_tape_get_stats(t).nodes - before;
    ag_tape_free(t);

    t = ag_tape_new(0);
    y = program(t, in);
    before = ag_tape_get_stats(t).nodes;
    double *h = malloc((N + 1) * (N + 1) * sizeof *h);
    ck_assert(autodiff_hessian(t, y, N + 1, in, h));
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes - before, recorded); /* rows record nothing */
    for (int i = 0; i <= N; i++) {
        ck_assert_double_eq(ag_grad_item(in[i]), 0.0); /* left as found */
        for (int j = 0; j <= N; j++)
            ck_assert_msg(fabs(h[i * (N + 1) + j] - expected(i, j)) <= 1e-12, "H[%d][%d] = %g, expected %g", i,
                          j, h[i * (N + 1) + j], expected(i, j));
    }
    free(h);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hessian_rows");
    TCase *tc = tcase_create("hessian_rows");
    tcase_add_test(tc, hessian_by_rows_on_a_tape_of_fixed_size);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
