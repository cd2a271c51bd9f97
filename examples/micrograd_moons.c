/* micrograd's demo in C: a 2-16-16-1 MLP built from scalar nodes learns to
 * separate two moons with a max-margin loss and plain SGD.
 *
 *   ./micrograd_moons [--steps N]     (or MOONS_STEPS=N; default 100)
 *
 * Prints the loss and training accuracy of every step, and exits nonzero
 * unless the full run ends at 100 % accuracy (with fewer steps it only
 * requires the loss to have gone down). */
#include "moons_scalar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPOINTS 100

int main(int argc, char **argv) {
    int steps = 100;
    const char *env = getenv("MOONS_STEPS");
    if (env) steps = atoi(env);
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--steps") == 0 && a + 1 < argc) {
            steps = atoi(argv[++a]);
        } else {
            fprintf(stderr, "usage: micrograd_moons [--steps N]\n");
            return 2;
        }
    }
    if (steps < 1 || steps > 100000) {
        fprintf(stderr, "micrograd_moons: steps must be in 1..100000\n");
        return 2;
    }
    static double x[2 * NPOINTS], y[NPOINTS];
    moons_data(NPOINTS, 0.1, 7, x, y);
    moons_mlp *m = moons_mlp_new(1337);
    ag_tape *t = ag_tape_new(0);
    if (!m || !t) {
        fprintf(stderr, "micrograd_moons: out of memory\n");
        return 1;
    }
    printf("MLP(2, [16, 16, 1]) with %d scalar parameters, %d points\n", MOONS_NPARAMS, NPOINTS);
    double first_loss = 0, acc = 0, loss = 0;
    for (int k = 0; k < steps; k++) {
        /* micrograd's schedule: the rate falls linearly from 1.0 to 0.1 over 100 steps */
        double lr = 1.0 - 0.9 * k / 100.0;
        moons_result r = moons_step(t, m, NPOINTS, x, y, lr);
        if (r.status != AG_OK) {
            fprintf(stderr, "step %d failed: %s\n", k, ag_status_str(r.status));
            return 1;
        }
        if (k == 0) {
            first_loss = r.loss;
            printf("%zu nodes per step\n", r.nodes);
        }
        printf("step %3d  loss %.6f  accuracy %5.1f%%\n", k, r.loss, 100 * r.accuracy);
        loss = r.loss;
        acc = r.accuracy;
    }
    /* The accuracy after the last update. */
    moons_result fin;
    moons_loss(t, m, NPOINTS, x, y, &fin);
    ag_tape_reset(t);
    printf("after %d steps: loss %.6f, accuracy %.1f%%\n", steps, fin.loss, 100 * fin.accuracy);
    (void)acc, (void)loss;
    int status = 0;
    if (steps >= 100 && fin.accuracy < 1.0) {
        fprintf(stderr, "micrograd_moons: expected 100%% training accuracy\n");
        status = 1;
    }
    if (!(fin.loss < first_loss)) {
        fprintf(stderr, "micrograd_moons: the loss did not go down\n");
        status = 1;
    }
    ag_tape_free(t);
    moons_mlp_free(m);
    return status;
}
