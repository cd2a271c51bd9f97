/* xor: a 2-4-1 MLP (tanh hidden layer, sigmoid output through the logits
 * loss) learning XOR from its four points, full batch, Adam. Deterministic:
 * the weights come from a fixed seed.
 *
 *   xor [STEPS]     (default 2000; stops early once the loss is below 0.001)
 *
 * Exit status 0 when the final loss (binary cross-entropy) is below 0.01 and
 * all four points are classified right. */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 2000;
    if (steps < 1) {
        fprintf(stderr, "usage: xor [STEPS]\n");
        return 2;
    }
    const double x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}; // (4, 2)
    const double y[4] = {0, 1, 1, 0};                         // (4, 1)

    ag_rng rng;
    ag_rng_seed(&rng, 1);
    nn_params *ps = nn_params_new();
    nn_module *mlp = nn_mlp_new(ps, "mlp", 3, (const int64_t[]){2, 4, 1}, NN_TANH, AG_F64, &rng);
    nn_optim_opts oo = nn_adam_opts(0.05);
    nn_optim *opt = mlp ? nn_optim_new(ps, &oo) : NULL;
    ag_tape *t = ag_tape_new(0);
    if (!opt || !t) {
        fprintf(stderr, "xor: setup failed: %s\n", nn_last_error() ? nn_last_error() : "out of memory");
        return 2;
    }
    printf("xor: MLP 2-4-1 (tanh, sigmoid output), binary cross-entropy, Adam lr 0.05, "
           "%lld parameters\n", (long long)nn_params_numel(ps));

    double loss = 1, logits[4] = {0};
    int step = 0;
    for (step = 1; step <= steps && loss >= 1e-3; step++) {
        ag_tape_reset(t);
        nn_optim_zero_grad(opt);
        ag_tensor *xb = ag_from_doubles(t, AG_F64, AG_SHAPE(4, 2), &x[0][0]);
        ag_tensor *yb = ag_from_doubles(t, AG_F64, AG_SHAPE(4, 1), y);
        ag_tensor *z = nn_forward(mlp, t, xb); // (4, 1) logits
        ag_tensor *l = nn_bce_with_logits_loss(t, z, yb, NN_MEAN);
        if (ag_backward(t, l) != AG_OK) {
            fprintf(stderr, "xor: %s\n", ag_tape_error(t));
            return 2;
        }
        nn_optim_step(opt);
        loss = ag_item(l);
        ag_to_doubles(z, logits, 4);
        if (step == 1 || step % 250 == 0) printf("  step %5d  loss %.6f\n", step, loss);
    }
    /* The logits are from the forward before the last update; close enough
     * to read off the classes, and the loss is the one that was reached. */
    int right = 0;
    for (int i = 0; i < 4; i++) {
        int pred = logits[i] > 0;
        right += pred == (int)y[i];
        printf("  %g xor %g = %g   model: p = %.4f -> %d\n", x[i][0], x[i][1], y[i],
               1 / (1 + exp(-logits[i])), pred);
    }
    bool ok = loss < 0.01 && right == 4;
    printf("%s: loss %.6f after %d steps, %d of 4 right (target: loss < 0.01)\n", ok ? "OK" : "FAIL",
           loss, step - 1, right);
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_module_free(mlp);
    nn_params_free(ps);
    return ok ? 0 : 1;
}
