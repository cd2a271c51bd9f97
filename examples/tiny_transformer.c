/* tiny_transformer: a 2-block causal transformer language model on the
 * same text and split as char_lstm.
 *
 *   tiny_transformer [--text FILE] [--steps N] [--lstm FILE] [--max-loss L] [--seed S]
 *
 * The model: token and position embeddings of 64 features (nn_embedding_new,
 * a context of 64 characters), two pre-LN transformer blocks with 4 heads
 * and a feed-forward of 256 (nn_transformer_block_new, causal), a final
 * LayerNorm and a Linear to the logits. Trained on random windows of 64
 * characters from the training text, 16 per step, with Adam (3e-3 on a
 * cosine schedule, gradients clipped to norm 1), f32.
 *
 * The held-out loss is measured on windows: each held-out block is cut into
 * consecutive windows of 65 characters, and the last 64 of each are
 * predicted from the ones before them in the window. When --lstm names a
 * model saved by char_lstm (default ./char_lstm.tgm), it is loaded and
 * measured the same way, and also on whole blocks (its own measure), and
 * the figures are printed side by side. Prints samples. Exit status 0 when
 * the held-out loss is at most --max-loss (default 1.9), 1 when not, 2 on
 * an error. Defaults: --steps 1500 --seed 1. */
#include "text_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTEXT 64
#define EMBED 64
#define HEADS 4
#define FF 256
#define BLOCKS 2
#define BATCH 16
#define LR 3e-3
#define CLIP 1.0

typedef struct model {
    nn_module *tok, *pos, *blocks[BLOCKS], *ln_f, *head;
} model;

static bool build(model *m, nn_params *ps, int vocab, ag_rng *r) {
    m->tok = nn_embedding_new(ps, "tok", vocab, EMBED, AG_F32, r);
    m->pos = nn_embedding_new(ps, "pos", CONTEXT, EMBED, AG_F32, r);
    bool ok = m->tok && m->pos;
    for (int b = 0; b < BLOCKS; b++) {
        char name[32];
        snprintf(name, sizeof name, "blocks.%d", b);
        ok = ok && (m->blocks[b] = nn_transformer_block_new(ps, name, EMBED, HEADS, FF, true, AG_F32, r));
    }
    ok = ok && (m->ln_f = nn_layer_norm_new(ps, "ln_f", 1, (const int64_t[]){EMBED}, true, NN_NORM_EPS, AG_F32));
    ok = ok && (m->head = nn_linear_new(ps, "head", EMBED, vocab, true, AG_F32, r));
    if (!ok) fprintf(stderr, "tiny_transformer: %s\n", nn_last_error());
    return ok;
}

static void model_free(model *m) {
    nn_module_free(m->tok);
    nn_module_free(m->pos);
    for (int b = 0; b < BLOCKS; b++) nn_module_free(m->blocks[b]);
    nn_module_free(m->ln_f);
    nn_module_free(m->head);
}

/* Logits (B, T, V) of ids (B, T), T <= CONTEXT. */
static ag_tensor *logits(model *m, ag_tape *t, int64_t B, int64_t T, const int64_t *ids) {
    int64_t pos[CONTEXT];
    for (int64_t i = 0; i < T; i++) pos[i] = i;
    ag_tensor *x = ag_add(t, nn_embedding_lookup(m->tok, t, 2, (const int64_t[]){B, T}, ids), // (B, T, E)
                          nn_embedding_lookup(m->pos, t, 1, &T, pos));                        // (T, E)
    for (int b = 0; b < BLOCKS; b++) x = nn_forward(m->blocks[b], t, x);
    return nn_forward(m->head, t, nn_forward(m->ln_f, t, x));
}

static ag_tensor *transformer_window(void *p, ag_tape *t, int64_t T, const int64_t *ids) {
    return logits(p, t, 1, T, ids);
}

static ag_tensor *lstm_window(void *p, ag_tape *t, int64_t T, const int64_t *ids) {
    return char_lstm_logits(p, t, 1, T, ids, NULL, NULL);
}

/* 300 characters after the prompt at temperature 0.8, each from a forward
 * over the last CONTEXT characters. */
static void sample(model *m, ag_tape *t, const text_corpus *c, const char *prompt, ag_rng *r) {
    int64_t ids[512], n = 0;
    for (const char *p = prompt; *p && n < CONTEXT; p++)
        if (c->id_of[(unsigned char)*p] >= 0) ids[n++] = c->id_of[(unsigned char)*p];
    double z[256];
    for (int k = 0; k < 300 && n > 0; k++) {
        int64_t T = n < CONTEXT ? n : CONTEXT;
        ag_tape_reset(t);
        ag_no_grad_begin(t);
        ag_tensor *y = logits(m, t, 1, T, ids + n - T); // (1, T, V)
        ag_no_grad_end(t);
        if (!y) break;
        for (int v = 0; v < c->vocab; v++) z[v] = ag_get(y, (T - 1) * c->vocab + v);
        ids[n++] = sample_id(z, c->vocab, 0.8, r);
    }
    ag_tape_reset(t);
    print_text(c, ids, n);
}

int main(int argc, char **argv) {
    const char *text = TEXT_DEFAULT, *lstm_path = "char_lstm.tgm";
    int steps = 1500;
    double max_loss = 1.9;
    uint64_t seed = 1;
    for (int a = 1; a < argc; a += 2) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (v && strcmp(k, "--text") == 0) text = v;
        else if (v && strcmp(k, "--steps") == 0) steps = atoi(v);
        else if (v && strcmp(k, "--lstm") == 0) lstm_path = v;
        else if (v && strcmp(k, "--max-loss") == 0) max_loss = atof(v);
        else if (v && strcmp(k, "--seed") == 0) seed = strtoull(v, NULL, 10);
        else steps = 0;
    }
    if (steps < 1) {
        fprintf(stderr, "usage: tiny_transformer [--text FILE] [--steps N] [--lstm FILE] [--max-loss L] [--seed S]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show as they come, also in a file */
    ag_set_blas_threads(1);
    text_corpus c;
    if (!text_load(text, &c)) return 2;
    ag_rng rng;
    ag_rng_seed(&rng, seed);
    nn_params *ps = nn_params_new();
    model m = {0};
    if (!ps || !build(&m, ps, c.vocab, &rng)) return 2;
    nn_optim_opts oo = nn_adam_opts(LR);
    nn_optim *opt = nn_optim_new(ps, &oo);
    nn_lr_schedule sched = nn_lr_cosine(LR, steps, 0);
    ag_tape *t = ag_tape_new(0);
    if (!opt || !t) return 2;
    printf("tiny_transformer: %s, %lld training and %lld held-out characters, vocabulary %d; %d causal pre-LN blocks, "
           "embedding %d, %d heads, feed-forward %d, context %d, %lld parameters; batch %d, %d steps, Adam %g\n",
           text, (long long)c.n_train, (long long)(c.n_test * TEXT_BLOCK), c.vocab, BLOCKS, EMBED, HEADS, FF,
           CONTEXT, (long long)nn_params_numel(ps), BATCH, steps, LR);

    int64_t x[BATCH * CONTEXT], y[BATCH * CONTEXT];
    double t0 = text_now(), t_eval = 0, sum = 0, held = NAN;
    int seen = 0;
    for (int step = 0; step < steps; step++) {
        for (int b = 0; b < BATCH; b++) {
            int64_t s = (int64_t)(ag_rng_next(&rng) % (uint64_t)(c.n_train - CONTEXT - 1));
            memcpy(x + b * CONTEXT, c.train + s, CONTEXT * sizeof *x);
            memcpy(y + b * CONTEXT, c.train + s + 1, CONTEXT * sizeof *y);
        }
        ag_tape_reset(t);
        ag_tensor *loss = lm_loss(t, logits(&m, t, BATCH, CONTEXT, x), y);
        nn_optim_zero_grad(opt);
        if (ag_backward(t, loss) != AG_OK) {
            fprintf(stderr, "tiny_transformer: %s\n", ag_tape_error(t));
            return 2;
        }
        nn_params_clip_grad_norm(ps, CLIP);
        nn_optim_set_lr(opt, nn_lr_at(&sched, step));
        nn_optim_step(opt);
        sum += ag_item(loss);
        seen++;
        if ((step + 1) % 250 == 0 || step + 1 == steps) {
            double e0 = text_now();
            held = heldout_windows(&c, t, CONTEXT, transformer_window, &m);
            t_eval += text_now() - e0;
            printf("step %5d  training loss %.3f  held-out %.3f nats/char  %.1f s\n", step + 1, sum / seen, held,
                   text_now() - t0 - t_eval);
            sum = 0;
            seen = 0;
        }
    }
    double t_train = text_now() - t0 - t_eval;
    printf("samples (temperature 0.8):\n");
    sample(&m, t, &c, "This License", &rng);
    sample(&m, t, &c, "You may ", &rng);

    /* Beside the LSTM that char_lstm saved, measured the same way. */
    nn_params *lps = nn_params_new();
    char_lstm lstm = {0};
    bool found = access(lstm_path, R_OK) == 0;
    if (found && lps && char_lstm_build(&lstm, lps, c.vocab, AG_F32, &rng) && nn_load(lps, lstm_path, NULL) == NN_OK) {
        double lw = heldout_windows(&c, t, CONTEXT, lstm_window, &lstm), lb = char_lstm_heldout(&lstm, t, &c);
        printf("held-out loss in nats/char, windows of %d: transformer %.3f, LSTM %.3f (%s; on whole blocks, its "
               "own measure: %.3f)\n", CONTEXT, held, lw, lstm_path, lb);
    } else {
        printf("held-out loss in nats/char, windows of %d: transformer %.3f (%s %s: run char_lstm first to compare)\n",
               CONTEXT, held, found ? "could not load the LSTM at" : "no LSTM at", lstm_path);
    }
    bool ok = held <= max_loss;
    printf("%s: held-out loss %.3f nats/char (target <= %.2f) after %d steps in %.1f s of training (%.1f ms/step)\n",
           ok ? "OK" : "FAIL", held, max_loss, steps, t_train, 1e3 * t_train / steps);
    char_lstm_free(&lstm);
    nn_params_free(lps);
    model_free(&m);
    nn_optim_free(opt);
    nn_params_free(ps);
    ag_tape_free(t);
    text_free(&c);
    return ok ? 0 : 1;
}
