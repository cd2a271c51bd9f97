/* regression: fit y = sin(x) on [-π, π] from 200 noisy samples with an MLP
 * 1-32-32-1 (tanh) and mean squared error, full batch, Adam. Writes an SVG
 * picture of the fit (the samples, the true curve, the model's curve):
 *
 *   DIR/regression_fit.svg
 *
 *   regression [--out DIR] [--steps N] [--seed S]
 *
 * Defaults: --out . --steps 600 --seed 7. The final figure is the MSE
 * between the model and sin(x) itself on a 400-point grid (the noise of the
 * samples, σ = 0.1, puts a floor of about 0.01 under the training MSE but
 * not under this one). Exit status 0 when it is below 0.005. */
#include "svg.h"

#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 200         /* training samples */
#define GRID 400      /* points of the curves and of the final MSE */
#define NOISE 0.1
#define LR 0.01
#define THRESHOLD 0.005

/* The model at n points x (n) into y (n), in no-grad mode. */
static bool predict(nn_module *mlp, ag_tape *t, int n, const double *x, double *y) {
    ag_tape_reset(t);
    ag_no_grad_begin(t);
    ag_tensor *out = nn_forward(mlp, t, ag_from_doubles(t, AG_F64, AG_SHAPE(n, 1), x)); // (n, 1)
    ag_no_grad_end(t);
    return out && ag_to_doubles(out, y, n) == AG_OK;
}

static bool write_fit(const char *path, const double *xs, const double *ys, const double *gx,
                      const double *gtrue, const double *gmodel, double mse) {
    svg s;
    if (!svg_open(&s, path, 700, 480)) return false;
    svg_plot p = {70, 40, 580, 380, -M_PI, M_PI, -1.5, 1.5};
    for (int i = 0; i < N; i++) svg_circle(&s, svg_px(&p, xs[i]), svg_py(&p, ys[i]), 2.5, "#9db8de", "none");
    svg_curve(&s, &p, GRID, gx, gtrue, "#333333", 1.5);
    svg_curve(&s, &p, GRID, gx, gmodel, "#d64541", 2.5);
    char title[128];
    snprintf(title, sizeof title, "sin(x): samples (blue), true curve (black), MLP (red); MSE %.2e", mse);
    svg_axes(&s, &p, "x", "y", title);
    return svg_close(&s);
}

int main(int argc, char **argv) {
    const char *out = ".";
    int steps = 600;
    uint64_t seed = 7;
    for (int a = 1; a < argc; a += 2) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (v && strcmp(argv[a], "--out") == 0) out = v;
        else if (v && strcmp(argv[a], "--steps") == 0) steps = atoi(v);
        else if (v && strcmp(argv[a], "--seed") == 0) seed = strtoull(v, NULL, 10);
        else steps = 0;
    }
    if (steps < 1) {
        fprintf(stderr, "usage: regression [--out DIR] [--steps N] [--seed S]\n");
        return 2;
    }
    ag_rng rng;
    ag_rng_seed(&rng, seed);
    double xs[N], ys[N]; // (N, 1) each
    for (int i = 0; i < N; i++) {
        xs[i] = -M_PI + 2 * M_PI * ag_rng_uniform(&rng);
        ys[i] = sin(xs[i]) + NOISE * ag_rng_normal(&rng);
    }
    nn_params *ps = nn_params_new();
    nn_module *mlp = nn_mlp_new(ps, "mlp", 4, (const int64_t[]){1, 32, 32, 1}, NN_TANH, AG_F64, &rng);
    nn_optim_opts oo = nn_adam_opts(LR);
    nn_optim *opt = mlp ? nn_optim_new(ps, &oo) : NULL;
    ag_tape *t = ag_tape_new(0);
    if (!opt || !t) {
        fprintf(stderr, "regression: setup failed: %s\n", nn_last_error() ? nn_last_error() : "out of memory");
        return 2;
    }
    printf("regression: y = sin(x) + N(0, %.1f^2) at %d points; MLP 1-32-32-1 (tanh), MSE, "
           "Adam lr %g, full batch, %d steps\n", NOISE, N, LR, steps);
    double loss = NAN;
    for (int s = 1; s <= steps; s++) {
        ag_tape_reset(t);
        nn_optim_zero_grad(opt);
        ag_tensor *x = ag_from_doubles(t, AG_F64, AG_SHAPE(N, 1), xs); // (N, 1)
        ag_tensor *y = ag_from_doubles(t, AG_F64, AG_SHAPE(N, 1), ys); // (N, 1)
        ag_tensor *l = nn_mse_loss(t, nn_forward(mlp, t, x), y, NN_MEAN);
        if (ag_backward(t, l) != AG_OK) {
            fprintf(stderr, "regression: %s\n", ag_tape_error(t));
            return 2;
        }
        nn_optim_step(opt);
        loss = ag_item(l);
        if (s == 1 || s % 250 == 0) printf("  step %5d  training MSE %.5f\n", s, loss);
    }
    double gx[GRID], gtrue[GRID], gmodel[GRID], mse = 0;
    for (int i = 0; i < GRID; i++) {
        gx[i] = -M_PI + 2 * M_PI * i / (GRID - 1);
        gtrue[i] = sin(gx[i]);
    }
    if (!predict(mlp, t, GRID, gx, gmodel)) {
        fprintf(stderr, "regression: %s\n", ag_tape_error(t));
        return 2;
    }
    for (int i = 0; i < GRID; i++) mse += (gmodel[i] - gtrue[i]) * (gmodel[i] - gtrue[i]) / GRID;
    char path[4096];
    snprintf(path, sizeof path, "%s/regression_fit.svg", out);
    bool wrote = write_fit(path, xs, ys, gx, gtrue, gmodel, mse);
    if (wrote) printf("picture written: %s\n", path);
    bool ok = mse < THRESHOLD;
    printf("%s: MSE against sin(x) on %d grid points %.2e (training MSE %.5f, noise floor ~%.2f); "
           "target < %g\n", ok ? "OK" : "FAIL", GRID, mse, loss, NOISE * NOISE, THRESHOLD);
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_module_free(mlp);
    nn_params_free(ps);
    return !wrote ? 2 : ok ? 0 : 1;
}
