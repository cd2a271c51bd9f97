/* Backpropagation by hand in the textbook two-layer network, beside the
 * engine's gradients.
 *
 *   inputs   i1, i2
 *   hidden   z_h = w·i + b1,   a_h = g(z_h)        (h1, h2; g the sigmoid)
 *   outputs  z_o = w·a_h + b2, a_o = g(z_o)        (o1, o2)
 *   cost     C = (a_o1 - y1)² + (a_o2 - y2)²
 *
 * An output-layer weight w (from hidden h to output o) sits on one path:
 *   ∂C/∂w = 2(a_o - y_o) · g'(z_o) · a_h
 * A hidden-layer weight w (from input i to hidden h) reaches C through
 * every output, so its gradient is a sum over the output nodes j:
 *   ∂C/∂w = Σ_j 2(a_j - y_j) · g'(z_j) · w_hj · g'(z_h) · a_i
 * with g'(z) = g(z)(1 - g(z)). Exit status 1 if any hand value differs from
 * the engine's by more than 1e-12. */
#include <tapegrad/autograd.h>

#include <math.h>
#include <stdio.h>

static double g(double z) { return 1.0 / (1.0 + exp(-z)); }
static double gp(double z) { return g(z) * (1.0 - g(z)); }

int main(void) {
    /* The weights of a well-known worked example (inputs 0.05, 0.10). */
    const double in[2] = {0.05, 0.10}, target[2] = {0.01, 0.99};
    const double w1[2][2] = {{0.15, 0.20}, {0.25, 0.30}}; /* w1[h][i]: input i -> hidden h */
    const double w2[2][2] = {{0.40, 0.45}, {0.50, 0.55}}; /* w2[o][h]: hidden h -> output o */
    const double b1 = 0.35, b2 = 0.60;

    /* The engine: every weight a scalar leaf. */
    ag_tape *t = ag_tape_new(0);
    if (!t) return 1;
    ag_tensor *W1[2][2], *W2[2][2], *ah[2], *ao[2];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            W1[a][b] = ag_requires_grad(t, ag_scalar(t, w1[a][b]));
            W2[a][b] = ag_requires_grad(t, ag_scalar(t, w2[a][b]));
        }
    for (int h = 0; h < 2; h++) {
        ag_tensor *z = ag_scalar(t, b1);
        for (int i = 0; i < 2; i++) z = ag_add(t, z, ag_mul_c(t, W1[h][i], in[i]));
        ah[h] = ag_sigmoid(t, z);
    }
    ag_tensor *C = NULL;
    for (int o = 0; o < 2; o++) {
        ag_tensor *z = ag_scalar(t, b2);
        for (int h = 0; h < 2; h++) z = ag_add(t, z, ag_mul(t, W2[o][h], ah[h]));
        ao[o] = ag_sigmoid(t, z);
        ag_tensor *e = ag_square(t, ag_add_c(t, ao[o], -target[o]));
        C = C ? ag_add(t, C, e) : e;
    }
    if (ag_backward(t, C) != AG_OK) {
        printf("backward failed: %s\n", ag_tape_error(t));
        return 1;
    }

    /* By hand: the forward values. */
    double zh[2], a_h[2], zo[2], a_o[2];
    for (int h = 0; h < 2; h++) {
        zh[h] = b1 + w1[h][0] * in[0] + w1[h][1] * in[1];
        a_h[h] = g(zh[h]);
    }
    for (int o = 0; o < 2; o++) {
        zo[o] = b2 + w2[o][0] * a_h[0] + w2[o][1] * a_h[1];
        a_o[o] = g(zo[o]);
    }
    printf("Forward: a_h1 = %.12f, a_h2 = %.12f, a_o1 = %.12f, a_o2 = %.12f\n", a_h[0], a_h[1],
           a_o[0], a_o[1]);
    printf("Cost C = (a_o1 - %.2f)² + (a_o2 - %.2f)² = %.12f (engine %.12f)\n\n", target[0],
           target[1], pow(a_o[0] - target[0], 2) + pow(a_o[1] - target[1], 2), ag_item(C));

    int failures = 0;
    printf("Output layer: ∂C/∂w = 2(a_o - y_o) · g'(z_o) · a_h\n");
    for (int o = 0; o < 2; o++)
        for (int h = 0; h < 2; h++) {
            double d = 2 * (a_o[o] - target[o]), s = gp(zo[o]), hand = d * s * a_h[h];
            double eng = ag_grad_item(W2[o][h]);
            bool ok = fabs(hand - eng) <= 1e-12 * fmax(1, fabs(eng));
            failures += !ok;
            printf("  w(h%d->o%d) = %.12f · %.12f · %.12f = %+.15f   engine %+.15f  %s\n", h + 1,
                   o + 1, d, s, a_h[h], hand, eng, ok ? "agree" : "DISAGREE");
        }
    printf("\nHidden layer: ∂C/∂w = Σ_j 2(a_j - y_j) · g'(z_j) · w_hj · g'(z_h) · a_i,"
           " one term per output j\n");
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 2; i++) {
            double hand = 0;
            printf("  w(i%d->h%d):\n", i + 1, h + 1);
            for (int j = 0; j < 2; j++) {
                double term = 2 * (a_o[j] - target[j]) * gp(zo[j]) * w2[j][h] * gp(zh[h]) * in[i];
                printf("    via o%d: %.12f · %.12f · %.2f · %.12f · %.2f = %+.15f\n", j + 1,
                       2 * (a_o[j] - target[j]), gp(zo[j]), w2[j][h], gp(zh[h]), in[i], term);
                hand += term;
            }
            double eng = ag_grad_item(W1[h][i]);
            bool ok = fabs(hand - eng) <= 1e-12 * fmax(1, fabs(eng));
            failures += !ok;
            printf("    sum %+.15f   engine %+.15f  %s\n", hand, eng, ok ? "agree" : "DISAGREE");
        }
    ag_tape_free(t);
    printf("\n%s\n", failures ? "Some hand values DISAGREE with the engine." :
                                "All 8 hand-derived gradients agree with the engine within 1e-12.");
    return failures ? 1 : 0;
}
