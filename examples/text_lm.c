/* The character-level language models' shared parts (text_lm.h). */
#include "text_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double text_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool text_load(const char *path, text_corpus *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return false;
    }
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            unsigned char *b = realloc(buf, cap = cap ? 2 * cap : 65536);
            if (!b) break;
            buf = b;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    int64_t blocks = (int64_t)(n / TEXT_BLOCK) + (n % TEXT_BLOCK != 0);
    if (!buf || blocks < TEXT_HOLDOUT || blocks / TEXT_HOLDOUT > TEXT_MAX_BLOCKS) {
        fprintf(stderr, "%s: %zu bytes; need %d to %d blocks of %d characters\n", path, n, TEXT_HOLDOUT,
                TEXT_MAX_BLOCKS * TEXT_HOLDOUT, TEXT_BLOCK);
        free(buf);
        return false;
    }
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) seen[buf[i]] = true;
    for (int b = 0; b < 256; b++) {
        c->id_of[b] = seen[b] ? c->vocab : -1;
        if (seen[b]) c->chars[c->vocab++] = (unsigned char)b;
    }
    c->train = malloc(n * sizeof *c->train);
    for (int64_t k = 0; c->train && k < blocks; k++) {
        size_t start = (size_t)k * TEXT_BLOCK, len = n - start < TEXT_BLOCK ? n - start : TEXT_BLOCK;
        int64_t *dst = c->train + c->n_train;
        if (k % TEXT_HOLDOUT == TEXT_HOLDOUT - 1) {
            dst = c->test[c->n_test] = malloc(len * sizeof *dst);
            if (!dst) break;
            c->test_len[c->n_test++] = (int64_t)len;
        } else {
            c->n_train += (int64_t)len;
        }
        for (size_t i = 0; i < len; i++) dst[i] = c->id_of[buf[start + i]];
    }
    free(buf);
    if (!c->train || c->n_test != blocks / TEXT_HOLDOUT) {
        fprintf(stderr, "%s: out of memory\n", path);
        text_free(c);
        return false;
    }
    return true;
}

void text_free(text_corpus *c) {
    free(c->train);
    for (int i = 0; i < c->n_test; i++) free(c->test[i]);
    memset(c, 0, sizeof *c);
}

bool char_lstm_build(char_lstm *m, nn_params *ps, int vocab, ag_dtype dtype, ag_rng *rng) {
    m->emb = nn_embedding_new(ps, "emb", vocab, CHAR_EMBED, dtype, rng);
    m->lstm = nn_lstm_new(ps, "lstm", CHAR_EMBED, CHAR_HIDDEN, true, dtype, rng);
    m->out = nn_linear_new(ps, "out", CHAR_HIDDEN, vocab, true, dtype, rng);
    if (m->emb && m->lstm && m->out) return true;
    fprintf(stderr, "char_lstm: %s\n", nn_last_error());
    char_lstm_free(m);
    return false;
}

void char_lstm_free(char_lstm *m) {
    nn_module_free(m->emb);
    nn_module_free(m->lstm);
    nn_module_free(m->out);
    *m = (char_lstm){0};
}

ag_tensor *char_lstm_logits(char_lstm *m, ag_tape *t, int64_t B, int64_t T, const int64_t *ids,
                            const nn_rnn_state *init, nn_rnn_state *final) {
    ag_tensor *x = nn_embedding_lookup(m->emb, t, 2, (const int64_t[]){B, T}, ids); // (B, T, E)
    ag_tensor *h = nn_rnn_run(m->lstm, t, x, init, final);                       // (B, T, H)
    return nn_forward(m->out, t, h);                                             // (B, T, V)
}

ag_tensor *lm_loss(ag_tape *t, ag_tensor *logits, const int64_t *next) {
    if (!logits) return NULL;
    int64_t V = ag_dim(logits, -1), n = ag_numel(logits) / V;
    ag_tensor *z = ag_reshape(t, logits, 2, (const int64_t[]){n, V}); // (B·T, V)
    return nn_sparse_cross_entropy(t, z, n, next, NN_MEAN);
}

double char_lstm_heldout(char_lstm *m, ag_tape *t, const text_corpus *c) {
    double sum = 0;
    int64_t count = 0;
    for (int b = 0; b < c->n_test; b++) {
        int64_t T = c->test_len[b] - 1;
        ag_tape_reset(t);
        ag_no_grad_begin(t);
        ag_tensor *loss = lm_loss(t, char_lstm_logits(m, t, 1, T, c->test[b], NULL, NULL), c->test[b] + 1);
        ag_no_grad_end(t);
        if (!loss) {
            fprintf(stderr, "held-out loss: %s\n", ag_tape_error(t));
            return NAN;
        }
        sum += ag_item(loss) * (double)T;
        count += T;
    }
    ag_tape_reset(t);
    return sum / (double)count;
}

double heldout_windows(const text_corpus *c, ag_tape *t, int64_t window,
                       ag_tensor *(*logits_of)(void *model, ag_tape *t, int64_t T, const int64_t *ids),
                       void *model) {
    double sum = 0;
    int64_t count = 0;
    for (int b = 0; b < c->n_test; b++)
        for (int64_t s = 0; s + window + 1 <= c->test_len[b]; s += window) {
            ag_tape_reset(t);
            ag_no_grad_begin(t);
            ag_tensor *loss = lm_loss(t, logits_of(model, t, window, c->test[b] + s), c->test[b] + s + 1);
            ag_no_grad_end(t);
            if (!loss) {
                fprintf(stderr, "held-out loss: %s\n", ag_tape_error(t));
                return NAN;
            }
            sum += ag_item(loss) * (double)window;
            count += window;
        }
    ag_tape_reset(t);
    return sum / (double)count;
}

int sample_id(const double *logits, int vocab, double temperature, ag_rng *r) {
    double m = logits[0], total = 0, p[256];
    for (int v = 1; v < vocab; v++) m = fmax(m, logits[v]);
    for (int v = 0; v < vocab; v++) total += p[v] = exp((logits[v] - m) / temperature);
    double u = ag_rng_uniform(r) * total;
    for (int v = 0; v < vocab; v++)
        if ((u -= p[v]) < 0) return v;
    return vocab - 1;
}

void print_text(const text_corpus *c, const int64_t *ids, int64_t n) {
    printf("  ");
    for (int64_t i = 0; i < n; i++) {
        unsigned char ch = c->chars[ids[i]];
        if (ch == '\n') printf("\n  ");
        else putchar(ch);
    }
    printf("\n");
}
