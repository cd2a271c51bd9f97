/* neuron: one sigmoid neuron with squared error, differentiated by hand as
 * a textbook does and by the tape, side by side, then by the gradient
 * checker.
 *
 *   z = w·x + b        (w, x in R², b a scalar)
 *   a = sigmoid(z)
 *   L = (a - y)²
 *
 * Chain rule by hand:
 *   dL/da = 2(a - y)
 *   da/dz = a(1 - a)
 *   dL/dz = dL/da · da/dz
 *   dL/dw = dL/dz · x,   dL/db = dL/dz
 *
 * Exit status 0 when the tape agrees with every hand formula to 1e-12 and
 * ag_gradcheck passes; 1 otherwise. */
#include <tapegrad/autograd.h>

#include <math.h>
#include <stdio.h>

static const double X[2] = {1.5, -0.5}; /* the input */
static const double Y = 1.0;            /* the target */

/* L(w, b) for the fixed x and y: the function the gradient checker probes.
 * in[0] = w (2), in[1] = b (scalar). */
static ag_tensor *loss_of(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    ag_dtype dt = ag_dtype_of(in[0]);
    ag_tensor *x = ag_from_doubles(t, dt, AG_SHAPE(2), X);
    ag_tensor *z = ag_add(t, ag_sum(t, ag_mul(t, in[0], x), AG_ALL, false), in[1]);
    ag_tensor *a = ag_sigmoid(t, z);
    return ag_square(t, ag_add_c(t, a, -Y));
}

static int report(const char *what, double hand, double tape) {
    double diff = fabs(hand - tape);
    bool ok = diff <= 1e-12 * fmax(1, fabs(hand));
    printf("  %-10s %+.15f  %+.15f  %8.1e  %s\n", what, hand, tape, diff, ok ? "agree" : "DISAGREE");
    return ok ? 0 : 1;
}

int main(void) {
    ag_tape *t = ag_tape_new(0);
    if (!t) return 2;
    const double w0[2] = {0.8, -0.4}, b0 = 0.1;
    ag_tensor *w = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2), w0));
    ag_tensor *b = ag_requires_grad(t, ag_scalar(t, b0));
    ag_tensor *x = ag_from_doubles(t, AG_F64, AG_SHAPE(2), X);
    ag_tensor *z = ag_add(t, ag_sum(t, ag_mul(t, w, x), AG_ALL, false), b); // ()
    ag_tensor *a = ag_sigmoid(t, z);                                          // ()
    ag_tensor *L = ag_square(t, ag_add_c(t, a, -Y));                          // ()

    /* The tape's gradients of L with respect to a, z, w and b, and of a
     * with respect to z (the local derivative da/dz on its own). */
    ag_tensor *wrt[4] = {a, z, w, b}, *g[4], *g_az;
    if (!L || ag_grad(t, L, NULL, 4, wrt, g) != AG_OK || ag_grad(t, a, NULL, 1, &z, &g_az) != AG_OK) {
        fprintf(stderr, "neuron: %s\n", ag_tape_error(t));
        ag_tape_free(t);
        return 2;
    }

    /* The same by hand. */
    double zv = w0[0] * X[0] + w0[1] * X[1] + b0, av = 1 / (1 + exp(-zv));
    double dL_da = 2 * (av - Y), da_dz = av * (1 - av), dL_dz = dL_da * da_dz;

    printf("one sigmoid neuron, squared error: z = w.x + b, a = sigmoid(z), L = (a - y)^2\n");
    printf("  x = (%g, %g), y = %g, w = (%g, %g), b = %g\n", X[0], X[1], Y, w0[0], w0[1], b0);
    printf("  z = %.6f, a = %.6f, L = %.6f\n\n", ag_item(z), ag_item(a), ag_item(L));
    printf("  %-10s %-18s  %-18s  %8s\n", "", "by hand", "tape (autodiff)", "|diff|");
    int bad = 0;
    bad += report("dL/da", dL_da, ag_item(g[0]));     /* 2(a - y) */
    bad += report("da/dz", da_dz, ag_item(g_az));     /* a(1 - a) */
    bad += report("dL/dz", dL_dz, ag_item(g[1]));     /* dL/da · da/dz */
    bad += report("dL/dw1", dL_dz * X[0], ag_get(g[2], 0)); /* dL/dz · x1 */
    bad += report("dL/dw2", dL_dz * X[1], ag_get(g[2], 1)); /* dL/dz · x2 */
    bad += report("dL/db", dL_dz, ag_item(g[3]));     /* dL/dz · 1 */

    printf("\ngradient check of L(w, b) against central differences:\n");
    ag_tensor *inputs[2] = {w, b};
    ag_gradcheck_report r;
    bool ok = ag_gradcheck(loss_of, NULL, 2, inputs, NULL, &r);
    ag_gradcheck_print(stdout, &r);
    bad += !ok;
    printf("\n%s\n", bad ? "FAIL: the tape disagrees" : "OK: hand formulas, tape and finite differences agree");
    ag_tape_free(t);
    return bad ? 1 : 0;
}
