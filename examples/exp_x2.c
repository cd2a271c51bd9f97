/* The demonstration: d/dx e^(x^2) from the tape, beside the hand-derived
 * 2x·e^(x^2) and a central finite difference, at a few points. */
#include <tapegrad/autograd.h>
#include <math.h>

static ag_tensor *f(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_exp(t, ag_square(t, x[0]));
}

int main(void) {
    const double points[] = {-1.5, -0.5, 0.0, 0.5, 1.0, 2.0};
    const int npoints = (int)(sizeof points / sizeof points[0]);
    ag_tape *t = ag_tape_new(0);
    if (!t) return 2;
    int failures = 0;
    printf("f(x) = e^(x^2);  hand derivation: f'(x) = 2x e^(x^2)\n\n");
    printf("%6s %16s %18s %18s %18s %9s  %s\n", "x", "f(x)", "autodiff f'(x)", "2x e^(x^2)",
           "finite diff", "|ad-hand|", "verdict");
    for (int i = 0; i < npoints; i++) {
        double x0 = points[i];
        ag_tape_reset(t);
        ag_tensor *x = ag_requires_grad(t, ag_scalar(t, x0));
        ag_tensor *y = f(t, &x, NULL);
        if (ag_backward(t, y) != AG_OK) {
            fprintf(stderr, "error: %s\n", ag_tape_error(t));
            ag_tape_free(t);
            return 2;
        }
        double ad = ag_grad_item(x), hand = 2 * x0 * exp(x0 * x0);
        double h = 1e-6, fd = (exp((x0 + h) * (x0 + h)) - exp((x0 - h) * (x0 - h))) / (2 * h);
        ag_gradcheck_report r;
        bool ok = ag_gradcheck(f, NULL, 1, &x, NULL, &r) && fabs(ad - hand) <= 1e-12 * fmax(1, fabs(hand));
        failures += !ok;
        printf("%6.2f %16.10f %18.12f %18.12f %18.12f %9.1e  %s\n", x0, ag_item(y), ad, hand, fd,
               fabs(ad - hand), ok ? "agree" : "DISAGREE");
    }
    printf("\n%s: autodiff matches 2x e^(x^2) to 1e-12 and the finite difference within "
           "gradcheck's tolerance at %d of %d points\n",
           failures ? "FAIL" : "OK", npoints - failures, npoints);
    ag_tape_free(t);
    return failures ? 1 : 0;
}
