/* cnn_step: one training step of the cnn_mnist model (examples/cnn_model.c:
 * conv 5x5 16 + BatchNorm2d + relu + max_pool 2, conv 5x5 32 + BatchNorm2d +
 * relu + max_pool 2, Linear 800-128 + relu + Dropout 0.4, Linear 128-10),
 * f32, batch 64, training mode: zero-grad, forward, cross-entropy from
 * logits with class indices, backward, Adam (lr 2e-3, as cnn_mnist), tape
 * reset. The batch is fixed: pixels U(0, 1) and labels drawn once (PyTorch
 * draws its own of the same distribution: the time of these ops does not
 * depend on the values). PyTorch runs torch.nn's same layers, whose Conv2d
 * is oneDNN's (bench/torch_peer.py cnn_step). Target: <= 0.7x PyTorch (issue 12). */
#include "cnn_model.h"
#include "model_step.h"

#include <math.h>
#include <stdio.h>

#define B 64

typedef struct ctx {
    ag_tape *tape;
    nn_params *ps;
    nn_module *model;
    nn_optim *opt;
    float x[B * 784];
    int64_t labels[B];
    model_step_losses losses;
} ctx;

static void step(void *p) {
    ctx *c = p;
    nn_optim_zero_grad(c->opt);
    ag_tensor *x = ag_tensor_new(c->tape, AG_F32, AG_SHAPE(B, 784), c->x);               // (B, 784)
    ag_tensor *loss = nn_sparse_cross_entropy(c->tape, nn_forward(c->model, c->tape, x), B, c->labels,
                                              NN_MEAN);                                  // ()
    ag_status st = ag_backward(c->tape, loss);
    if (st == AG_OK) nn_optim_step(c->opt);
    model_step_record(&c->losses, st, loss);
    ag_tape_reset(c->tape);
}

static bool check(void *p, char *note, size_t size) {
    ctx *c = p;
    return model_step_verdict(&c->losses, c->tape, "f32 batch 64, Adam", note, size);
}

void bench_cnn_step(void) {
    static ctx c;
    ag_rng r;
    ag_rng_seed(&r, 7);
    c = (ctx){.losses = MODEL_STEP_LOSSES_INIT, .tape = ag_tape_new(0), .ps = nn_params_new()};
    c.model = c.ps ? cnn_mnist_model(c.ps, AG_F32, &r) : NULL;
    nn_optim_opts oo = nn_adam_opts(2e-3);
    c.opt = c.model ? nn_optim_new(c.ps, &oo) : NULL;
    for (int i = 0; i < B * 784; i++) c.x[i] = (float)ag_rng_uniform(&r);
    for (int i = 0; i < B; i++) c.labels[i] = (int64_t)(ag_rng_next(&r) % 10);
    if (c.tape && c.opt)
        model_step_run(&(model_step){"cnn_step", step, &c, check, "ms_step", 0.7, NULL, NULL});
    else
        fprintf(stderr, "cnn_step: setup failed: %s\n", nn_last_error());
    nn_optim_free(c.opt);
    nn_module_free(c.model);
    nn_params_free(c.ps);
    ag_tape_free(c.tape);
}
