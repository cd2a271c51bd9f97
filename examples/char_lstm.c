/* char_lstm: a character-level LSTM language model on the GPL's text.
 *
 *   char_lstm [--text FILE] [--steps N] [--out DIR] [--max-loss L] [--seed S]
 *
 * The text (default /usr/share/common-licenses/GPL-3, about 35 KB, 76
 * distinct characters) is split into blocks of 1,000 characters, every
 * tenth block held out (text_lm.h). The model: an embedding of 32 features
 * per character, a one-layer LSTM of 128 units, a Linear to the logits
 * (nn_embedding_new, nn_lstm_new, nn_linear_new; PyTorch's names).
 *
 * Training is truncated backpropagation through time: the training text is
 * cut into 32 parallel streams, each step reads the next 32 characters of
 * every stream (batch 32 x 32), and the LSTM's last state is carried into
 * the next step across ag_tape_reset — kept in two parameters with
 * nn_assign after the backward and copied back onto the tape as the next
 * window's initial state (the gradient stops there). Adam, learning rate
 * 3e-3 on a cosine schedule to 0, gradients clipped to norm 1, f32.
 *
 * At the end it prints samples, saves the model to DIR/char_lstm.tgm,
 * loads it into a fresh model and checks that the held-out loss is the
 * same, to the bit. Exit status 0 when the held-out loss (nats per
 * character) is at most --max-loss (default 1.6) and the reload agrees, 1
 * when not, 2 on an error. Defaults: --steps 2000 --out . --seed 1. */
#include "text_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAMS 32
#define WINDOW 32
#define LR 3e-3
#define CLIP 1.0

typedef struct options {
    const char *text, *out;
    int steps;
    double max_loss;
    uint64_t seed;
} options;

static bool parse(int argc, char **argv, options *o) {
    for (int a = 1; a < argc; a += 2) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!v) return false;
        if (strcmp(k, "--text") == 0) o->text = v;
        else if (strcmp(k, "--out") == 0) o->out = v;
        else if (strcmp(k, "--steps") == 0) o->steps = atoi(v);
        else if (strcmp(k, "--max-loss") == 0) o->max_loss = atof(v);
        else if (strcmp(k, "--seed") == 0) o->seed = strtoull(v, NULL, 10);
        else return false;
    }
    return o->steps >= 1;
}

/* The batch of window w: x[b][j] = stream b's character w·WINDOW + j, and
 * y the one after it. Streams are the training text cut in STREAMS parts. */
static void window_batch(const text_corpus *c, int64_t w, int64_t *x, int64_t *y) {
    int64_t len = c->n_train / STREAMS;
    for (int64_t b = 0; b < STREAMS; b++)
        for (int64_t j = 0; j < WINDOW; j++) {
            int64_t i = b * len + w * WINDOW + j;
            x[b * WINDOW + j] = c->train[i];
            y[b * WINDOW + j] = c->train[i + 1];
        }
}

/* 300 characters after the prompt, one LSTM step at a time, at temperature
 * 0.8. */
static void sample(char_lstm *m, ag_tape *t, const text_corpus *c, const char *prompt, ag_rng *r) {
    int64_t ids[512], n = 0;
    for (const char *p = prompt; *p && n < 64; p++)
        if (c->id_of[(unsigned char)*p] >= 0) ids[n++] = c->id_of[(unsigned char)*p];
    int64_t np = n;
    ag_tape_reset(t);
    ag_no_grad_begin(t);
    nn_rnn_state s = {0};
    double logits[256];
    for (int64_t i = 0; i < np + 300 - 1; i++) {
        ag_tensor *x = nn_embedding_lookup(m->emb, t, 1, (const int64_t[]){1}, ids + i); // (1, E)
        ag_tensor *z = nn_forward(m->out, t, nn_cell_step(m->lstm, t, x, &s, &s));    // (1, V)
        if (!z) break;
        if (i + 1 < np) continue;
        ag_to_doubles(z, logits, c->vocab);
        ids[n++] = sample_id(logits, c->vocab, 0.8, r);
    }
    ag_no_grad_end(t);
    ag_tape_reset(t);
    print_text(c, ids, n);
}

int main(int argc, char **argv) {
    options o = {TEXT_DEFAULT, ".", 2000, 1.6, 1};
    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: char_lstm [--text FILE] [--steps N] [--out DIR] [--max-loss L] [--seed S]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show as they come, also in a file */
    ag_set_blas_threads(1); /* (32, 128) @ (128, 512) products: one thread is faster */
    text_corpus c;
    if (!text_load(o.text, &c)) return 2;
    ag_rng rng;
    ag_rng_seed(&rng, o.seed);
    nn_params *ps = nn_params_new();
    char_lstm m;
    if (!ps || !char_lstm_build(&m, ps, c.vocab, AG_F32, &rng)) return 2;
    nn_optim_opts oo = nn_adam_opts(LR);
    nn_optim *opt = nn_optim_new(ps, &oo);
    nn_lr_schedule sched = nn_lr_cosine(LR, o.steps, 0);
    /* The state carried from one window to the next, off the tape. */
    ag_tensor *kept_h = ag_param_new(AG_F32, AG_SHAPE(STREAMS, CHAR_HIDDEN), NULL);
    ag_tensor *kept_c = ag_param_new(AG_F32, AG_SHAPE(STREAMS, CHAR_HIDDEN), NULL);
    ag_tape *t = ag_tape_new(0);
    if (!opt || !kept_h || !kept_c || !t) return 2;
    int64_t windows = (c.n_train / STREAMS - 1) / WINDOW, x[STREAMS * WINDOW], y[STREAMS * WINDOW];
    printf("char_lstm: %s, %lld training and %lld held-out characters, vocabulary %d; embedding %d, LSTM %d, "
           "%lld parameters; %d streams x %d characters per step (%lld windows per pass), %d steps, Adam %g\n",
           o.text, (long long)c.n_train, (long long)(c.n_test * TEXT_BLOCK), c.vocab, CHAR_EMBED, CHAR_HIDDEN,
           (long long)nn_params_numel(ps), STREAMS, WINDOW, (long long)windows, o.steps, LR);

    double t0 = text_now(), t_eval = 0, sum = 0, held = NAN;
    int seen = 0;
    for (int step = 0; step < o.steps; step++) {
        int64_t w = step % windows;
        if (w == 0) { /* a new pass starts the streams from zeros */
            nn_init_zeros(kept_h);
            nn_init_zeros(kept_c);
        }
        window_batch(&c, w, x, y);
        ag_tape_reset(t);
        const int64_t *shape = ag_shape(kept_h);
        nn_rnn_state init = {ag_tensor_new(t, AG_F32, 2, shape, ag_data(kept_h)),
                             ag_tensor_new(t, AG_F32, 2, shape, ag_data(kept_c))}, fin;
        ag_tensor *loss = lm_loss(t, char_lstm_logits(&m, t, STREAMS, WINDOW, x, &init, &fin), y);
        nn_optim_zero_grad(opt);
        if (ag_backward(t, loss) != AG_OK) {
            fprintf(stderr, "char_lstm: %s\n", ag_tape_error(t));
            return 2;
        }
        nn_params_clip_grad_norm(ps, CLIP);
        nn_optim_set_lr(opt, nn_lr_at(&sched, step));
        nn_optim_step(opt);
        nn_assign(kept_h, fin.h); /* after the backward, which read the old state */
        nn_assign(kept_c, fin.c);
        sum += ag_item(loss);
        seen++;
        if ((step + 1) % 250 == 0 || step + 1 == o.steps) {
            double e0 = text_now();
            held = char_lstm_heldout(&m, t, &c);
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

    /* Saved, reloaded into a fresh model: the same loss. */
    char path[4096];
    snprintf(path, sizeof path, "%s/char_lstm.tgm", o.out);
    nn_params *ps2 = nn_params_new();
    char_lstm m2;
    ag_rng other;
    ag_rng_seed(&other, o.seed + 1);
    if (nn_save(ps, path) != NN_OK || !ps2 || !char_lstm_build(&m2, ps2, c.vocab, AG_F32, &other) ||
        nn_load(ps2, path, NULL) != NN_OK) {
        fprintf(stderr, "char_lstm: %s\n", nn_last_error());
        return 2;
    }
    double reloaded = char_lstm_heldout(&m2, t, &c);
    printf("saved to %s and reloaded: held-out loss %.6f (before: %.6f)\n", path, reloaded, held);
    bool ok = held <= o.max_loss && reloaded == held;
    printf("%s: held-out loss %.3f nats/char (target <= %.2f) after %d steps in %.1f s of training (%.1f ms/step), "
           "the reloaded model %s\n",
           ok ? "OK" : "FAIL", held, o.max_loss, o.steps, t_train, 1e3 * t_train / o.steps,
           reloaded == held ? "agrees" : "DIFFERS");
    char_lstm_free(&m);
    char_lstm_free(&m2);
    nn_optim_free(opt);
    nn_params_free(ps);
    nn_params_free(ps2);
    ag_param_free(kept_h);
    ag_param_free(kept_c);
    ag_tape_free(t);
    text_free(&c);
    return ok ? 0 : 1;
}
