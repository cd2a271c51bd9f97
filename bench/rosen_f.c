/* The function of the tape_ratio and hvp workloads,
 *   f(x) = sum_{i=0}^{n-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 + sin(x_i) exp(-x_i^2),
 * in plain doubles, with its hand-written adjoint, and recorded on a tape
 * as a user would write it. */
#include "bench.h"

#include <tapegrad/scalar.h>

#include <math.h>

double rosen_plain(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n - 1; i++) {
        double xi = x[i], d = x[i + 1] - xi * xi, e = 1 - xi;
        s += 100 * d * d + e * e + sin(xi) * exp(-xi * xi);
    }
    return s;
}

double rosen_hand(const double *x, double *g, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) g[i] = 0;
    for (int i = 0; i < n - 1; i++) {
        double xi = x[i], d = x[i + 1] - xi * xi, e = 1 - xi;
        double si = sin(xi), ci = cos(xi), ex = exp(-xi * xi);
        s += 100 * d * d + e * e + si * ex;
        /* d/dx_i: 200 d (-2 x_i) - 2 e + cos·ex + sin·ex·(-2 x_i) */
        g[i] += -400 * d * xi - 2 * e + ci * ex - 2 * xi * si * ex;
        g[i + 1] += 200 * d;
    }
    return s;
}

/* x_i^2 computed once and used twice: 13 nodes per term. */
ag_tensor *rosen_record(ag_tape *t, ag_tensor *const *xs, int n) {
    ag_tensor *sum = NULL;
    for (int i = 0; i < n - 1; i++) {
        ag_tensor *xi = xs[i];
        ag_tensor *sq = ag_square(t, xi);
        ag_tensor *d = ag_sub(t, xs[i + 1], sq);
        ag_tensor *a = ag_mul_c(t, ag_square(t, d), 100);
        ag_tensor *b = ag_square(t, ag_rsub_c(t, 1, xi));
        ag_tensor *e = ag_mul(t, ag_sin(t, xi), ag_exp(t, ag_neg(t, sq)));
        ag_tensor *term = ag_add(t, ag_add(t, a, b), e);
        sum = sum ? ag_add(t, sum, term) : term;
    }
    return sum;
}

/* One statement per term: s_new = s + 100 d^2 + e^2 + sin(x_i) exp(-x_i^2),
 * its value and its partials in s, x_i and x_{i+1} carried inline, so the
 * tape holds one record of 3 operands per term instead of 13 nodes. */
ag_tensor *rosen_record_statements(ag_tape *t, ag_tensor *const *xs, int n) {
    ag_tensor *sum = ag_scalar(t, 0.0);
    for (int i = 0; i < n - 1; i++) {
        ag_sx_stmt s = {0};
        ag_sx acc = ag_sx_input(&s, sum), xi = ag_sx_input(&s, xs[i]), xn = ag_sx_input(&s, xs[i + 1]);
        ag_sx sq = ag_sx_square(xi);
        ag_sx d = ag_sx_sub(xn, sq), e = ag_sx_rsub_c(1, xi);
        ag_sx term = ag_sx_add(ag_sx_add(ag_sx_mul_c(ag_sx_square(d), 100), ag_sx_square(e)),
                               ag_sx_mul(ag_sx_sin(xi), ag_sx_exp(ag_sx_neg(sq))));
        sum = ag_sx_record(t, &s, ag_sx_add(acc, term));
    }
    return sum;
}
