/* attention_step: one training step of one pre-LN transformer block
 * (nn_transformer_block_new: causal multi-head self-attention, 4 heads, and
 * a GELU feed-forward of 256) on x (B = 16, T = 64, d = 64), f32: zero-grad,
 * forward, mean squared error against a fixed target, backward, Adam
 * (lr 3e-3), tape reset. x and the target are U(-1, 1), drawn once.
 * PyTorch's side builds the same block from torch's ops (Linear,
 * LayerNorm, matmul, softmax, gelu: the target, <= 0.7x) and, for
 * reference, as torch.nn.TransformerEncoderLayer (norm_first, gelu,
 * dropout 0), whose attention is torch.nn.MultiheadAttention
 * (bench/torch_peer.py attention_step). */
#include "model_step.h"

#include <tapegrad/nn_layers.h>

#include <math.h>
#include <stdio.h>

#define B 16
#define T 64
#define E 64

typedef struct ctx {
    ag_tape *tape;
    nn_params *ps;
    nn_module *block;
    nn_optim *opt;
    float x[B * T * E], target[B * T * E];
    model_step_losses losses;
} ctx;

static void step(void *p) {
    ctx *c = p;
    ag_tape *t = c->tape;
    nn_optim_zero_grad(c->opt);
    ag_tensor *x = ag_tensor_new(t, AG_F32, AG_SHAPE(B, T, E), c->x);           // (B, T, E)
    ag_tensor *want = ag_tensor_new(t, AG_F32, AG_SHAPE(B, T, E), c->target);   // (B, T, E)
    ag_tensor *d = ag_sub(t, nn_forward(c->block, t, x), want);                 // (B, T, E)
    ag_tensor *loss = ag_mean(t, ag_mul(t, d, d), AG_ALL, false);              // ()
    ag_status st = ag_backward(t, loss);
    if (st == AG_OK) nn_optim_step(c->opt);
    model_step_record(&c->losses, st, loss);
    ag_tape_reset(t);
}

static bool check(void *p, char *note, size_t size) {
    ctx *c = p;
    return model_step_verdict(&c->losses, c->tape, "f32 B 16 T 64 d 64, 4 heads, causal, Adam", note, size);
}

void bench_attention_step(void) {
    static ctx c;
    ag_rng r;
    ag_rng_seed(&r, 9);
    c = (ctx){.losses = MODEL_STEP_LOSSES_INIT, .tape = ag_tape_new(0), .ps = nn_params_new()};
    c.block = c.ps ? nn_transformer_block_new(c.ps, "block", E, 4, 256, true, AG_F32, &r) : NULL;
    nn_optim_opts oo = nn_adam_opts(3e-3);
    c.opt = c.block ? nn_optim_new(c.ps, &oo) : NULL;
    for (int i = 0; i < B * T * E; i++) {
        c.x[i] = (float)(2 * ag_rng_uniform(&r) - 1);
        c.target[i] = (float)(2 * ag_rng_uniform(&r) - 1);
    }
    if (c.tape && c.opt)
        model_step_run(&(model_step){"attention_step", step, &c, check, "ms_ops", 0.7, "ms_mha",
                                     "TransformerEncoderLayer (nn.MultiheadAttention)"});
    else
        fprintf(stderr, "attention_step: setup failed: %s\n", nn_last_error());
    nn_optim_free(c.opt);
    nn_module_free(c.block);
    nn_params_free(c.ps);
    ag_tape_free(c.tape);
}
