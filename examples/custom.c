/* custom: an architecture built only from engine ops, no nn layers — a
 * residual block with a layer norm written out from ag_mean, ag_var and
 * ag_sqrt:
 *
 *   h   = x·W_in + b_in                                 // (B, D)
 *   n   = (h - mean(h)) / sqrt(var(h) + 1e-5) · γ + β   // (B, D), over the last axis
 *   h   = h + gelu(n·W1 + b1)·W2 + b2                   // (B, D), the residual
 *   out = h·W_out + b_out                               // (B, 1)
 *
 * trained with MSE and Adam to predict y = sin(πx1)·x2 + x3² - x4 from
 * x ~ U(-1, 1)^4. The forward is one function of (tape, parameters, x), so
 * the gradient checker can call it with its own copies of the parameters:
 * the check covers the whole model, every parameter element.
 *
 *   custom [--epochs N] [--seed S]      (defaults 40 and 3)
 *
 * Exit status 0 when the gradient check passes and training cuts the
 * held-out MSE to a quarter or less of its starting value; 1 otherwise. */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN 4
#define D 16      /* width of the residual stream */
#define HID 32    /* width inside the block */
#define TRAIN 512
#define TEST 256
#define BATCH 64
#define CHECK_BATCH 8 /* samples in the gradient check's loss */

enum { W_IN, B_IN, GAMMA, BETA, W1, B1, W2, B2, W_OUT, B_OUT, NPARAMS };
static const char *const NAMES[NPARAMS] = {"in.weight", "in.bias", "norm.gamma", "norm.beta",
                                           "block.w1", "block.b1", "block.w2", "block.b2",
                                           "out.weight", "out.bias"};

/* Layer norm over the last axis, from mean, variance and sqrt. */
static ag_tensor *layer_norm(ag_tape *t, ag_tensor *h, ag_tensor *gamma, ag_tensor *beta) {
    ag_tensor *mu = ag_mean(t, h, -1, true);                                   // (B, 1)
    ag_tensor *sd = ag_sqrt(t, ag_add_c(t, ag_var(t, h, -1, true, 0), 1e-5));  // (B, 1)
    ag_tensor *n = ag_div(t, ag_sub(t, h, mu), sd);                            // (B, D)
    return ag_add(t, ag_mul(t, n, gamma), beta);                               // (B, D)
}

static ag_tensor *affine(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    return ag_add(t, ag_matmul(t, x, w), b);
}

/* The model: x (B, IN) -> (B, 1). */
static ag_tensor *model(ag_tape *t, ag_tensor *const *p, ag_tensor *x) {
    ag_tensor *h = affine(t, x, p[W_IN], p[B_IN]);                         // (B, D)
    ag_tensor *n = layer_norm(t, h, p[GAMMA], p[BETA]);                    // (B, D)
    ag_tensor *u = ag_gelu(t, affine(t, n, p[W1], p[B1]));                 // (B, HID)
    h = ag_add(t, h, affine(t, u, p[W2], p[B2]));                          // (B, D)
    return affine(t, h, p[W_OUT], p[B_OUT]);                               // (B, 1)
}

typedef struct batch {
    int64_t n;
    const double *x, *y; // (n, IN), (n, 1)
} batch;

static ag_tensor *mse(ag_tape *t, ag_tensor *const *p, const batch *b) {
    ag_dtype dt = ag_dtype_of(p[0]);
    ag_tensor *x = ag_from_doubles(t, dt, AG_SHAPE(b->n, IN), b->x);
    ag_tensor *y = ag_from_doubles(t, dt, AG_SHAPE(b->n, 1), b->y);
    return nn_mse_loss(t, model(t, p, x), y, NN_MEAN);
}

/* The gradient checker's view: the loss as a function of the parameters. */
static ag_tensor *loss_of_params(ag_tape *t, ag_tensor *const *p, void *ctx) {
    return mse(t, p, ctx);
}

static void make_data(int64_t n, ag_rng *r, double *x, double *y) {
    for (int64_t i = 0; i < n; i++) {
        double *xi = x + i * IN;
        for (int j = 0; j < IN; j++) xi[j] = 2 * ag_rng_uniform(r) - 1;
        y[i] = sin(M_PI * xi[0]) * xi[1] + xi[2] * xi[2] - xi[3];
    }
}

static double eval_mse(ag_tape *t, ag_tensor *const *p, const batch *b) {
    ag_tape_reset(t);
    ag_no_grad_begin(t);
    double v = ag_item(mse(t, p, b));
    ag_no_grad_end(t);
    return v;
}

int main(int argc, char **argv) {
    int epochs = 40;
    uint64_t seed = 3;
    for (int a = 1; a < argc; a += 2) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (v && strcmp(argv[a], "--epochs") == 0) epochs = atoi(v);
        else if (v && strcmp(argv[a], "--seed") == 0) seed = strtoull(v, NULL, 10);
        else epochs = 0;
    }
    if (epochs < 1) {
        fprintf(stderr, "usage: custom [--epochs N] [--seed S]\n");
        return 2;
    }
    ag_rng rng;
    ag_rng_seed(&rng, seed);
    static double xtr[TRAIN * IN], ytr[TRAIN], xte[TEST * IN], yte[TEST];
    make_data(TRAIN, &rng, xtr, ytr);
    make_data(TEST, &rng, xte, yte);

    /* Parameters: weights Xavier-uniform, biases and β zero, γ one. */
    const int64_t shapes[NPARAMS][2] = {{IN, D}, {D, 0}, {D, 0}, {D, 0}, {D, HID},
                                        {HID, 0}, {HID, D}, {D, 0}, {D, 1}, {1, 0}};
    nn_params *ps = nn_params_new();
    ag_tensor *p[NPARAMS];
    bool ok = ps != NULL;
    for (int i = 0; ok && i < NPARAMS; i++) {
        int nd = shapes[i][1] ? 2 : 1;
        p[i] = nn_params_create(ps, NAMES[i], AG_F64, nd, shapes[i], NULL);
        ok = p[i] && (nd == 1 || nn_init_xavier_uniform(p[i], 1, &rng) == NN_OK);
    }
    for (int j = 0; ok && j < D; j++) ((double *)ag_data_mut(p[GAMMA]))[j] = 1;
    nn_optim_opts oo = nn_adam_opts(3e-3);
    nn_optim *opt = ok ? nn_optim_new(ps, &oo) : NULL;
    ag_tape *t = ag_tape_new(0);
    if (!opt || !t) {
        fprintf(stderr, "custom: setup failed: %s\n", nn_last_error() ? nn_last_error() : "out of memory");
        return 2;
    }
    printf("custom: residual block with a hand-written layer norm (mean, var, sqrt), %lld "
           "parameters;\n        y = sin(pi x1) x2 + x3^2 - x4, %d training / %d held-out points, "
           "MSE, Adam lr 3e-3, batch %d\n", (long long)nn_params_numel(ps), TRAIN, TEST, BATCH);

    const batch test = {TEST, xte, yte};
    double first = eval_mse(t, p, &test), last = first;
    printf("  before training: held-out MSE %.4f\n", first);
    for (int e = 1; e <= epochs; e++) {
        for (int64_t s = 0; s < TRAIN; s += BATCH) {
            const batch b = {BATCH, xtr + s * IN, ytr + s};
            ag_tape_reset(t);
            nn_optim_zero_grad(opt);
            if (ag_backward(t, mse(t, p, &b)) != AG_OK) {
                fprintf(stderr, "custom: %s\n", ag_tape_error(t));
                return 2;
            }
            nn_optim_step(opt);
        }
        last = eval_mse(t, p, &test);
        if (e == 1 || e % 10 == 0 || e == epochs) printf("  epoch %3d: held-out MSE %.4f\n", e, last);
    }
    bool improved = last <= 0.25 * first;

    /* The whole model's gradient, every parameter element, against central
     * differences, at the trained parameters on a few samples. */
    printf("gradient check of the loss with respect to all %d parameter tensors:\n", NPARAMS);
    const batch small = {CHECK_BATCH, xte, yte};
    ag_gradcheck_report r;
    bool grad_ok = ag_gradcheck(loss_of_params, (void *)&small, NPARAMS, p, NULL, &r);
    ag_gradcheck_print(stdout, &r);

    bool pass = improved && grad_ok;
    printf("%s: held-out MSE %.4f -> %.4f (%s); gradient check %s\n", pass ? "OK" : "FAIL", first,
           last, improved ? "improved at least 4x" : "did NOT improve 4x", grad_ok ? "passed" : "FAILED");
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_params_free(ps);
    return pass ? 0 : 1;
}
