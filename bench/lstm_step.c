/* lstm_step: one training step of char_lstm's model (examples/text_lm.c:
 * Embedding V-32, a one-layer LSTM of 128 units, Linear 128-V) on B = 32
 * windows of T = 32 characters of the text every Debian machine has
 * (/usr/share/common-licenses/GPL-3; V is its number of distinct bytes):
 * zero-grad, forward, cross-entropy of each next character, backward,
 * gradients clipped to norm 1, Adam (lr 3e-3), tape reset. Window b is
 * characters b·33 .. b·33 + 32 of the text (its start is training text),
 * the same on PyTorch's side, which builds the same model from
 * torch.nn.LSTMCell unrolled over the 32 steps (the target: <= 0.5x), and
 * for reference the fused torch.nn.LSTM (bench/torch_peer.py lstm_step). */
#include "model_step.h"
#include "text_lm.h"

#include <math.h>
#include <stdio.h>

#define B 32
#define T 32

typedef struct ctx {
    ag_tape *tape;
    nn_params *ps;
    char_lstm model;
    nn_optim *opt;
    int64_t ids[B * T], next[B * T];
    model_step_losses losses;
} ctx;

static void step(void *p) {
    ctx *c = p;
    nn_optim_zero_grad(c->opt);
    ag_tensor *loss = lm_loss(c->tape, char_lstm_logits(&c->model, c->tape, B, T, c->ids, NULL, NULL),
                              c->next);                                                  // ()
    ag_status st = ag_backward(c->tape, loss);
    if (st == AG_OK) {
        nn_params_clip_grad_norm(c->ps, 1.0);
        nn_optim_step(c->opt);
    }
    model_step_record(&c->losses, st, loss);
    ag_tape_reset(c->tape);
}

static bool check(void *p, char *note, size_t size) {
    ctx *c = p;
    return model_step_verdict(&c->losses, c->tape, "f32 B 32 T 32 H 128, Adam + clip", note, size);
}

void bench_lstm_step(void) {
    static ctx c;
    text_corpus text;
    if (!text_load(TEXT_DEFAULT, &text)) return;
    ag_rng r;
    ag_rng_seed(&r, 3);
    c = (ctx){.losses = MODEL_STEP_LOSSES_INIT, .tape = ag_tape_new(0), .ps = nn_params_new()};
    bool ok = c.tape && c.ps && char_lstm_build(&c.model, c.ps, text.vocab, AG_F32, &r);
    nn_optim_opts oo = nn_adam_opts(3e-3);
    c.opt = ok ? nn_optim_new(c.ps, &oo) : NULL;
    /* The first TEXT_BLOCK·(TEXT_HOLDOUT-1) characters are training text,
     * the text's own, unsplit. */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            c.ids[b * T + i] = text.train[b * (T + 1) + i];
            c.next[b * T + i] = text.train[b * (T + 1) + i + 1];
        }
    if (c.opt)
        model_step_run(&(model_step){"lstm_step", step, &c, check, "ms_cells", 0.5, "ms_lstm",
                                     "torch.nn.LSTM (fused)"});
    else
        fprintf(stderr, "lstm_step: setup failed: %s\n", nn_last_error());
    nn_optim_free(c.opt);
    char_lstm_free(&c.model);
    nn_params_free(c.ps);
    ag_tape_free(c.tape);
    text_free(&text);
}
