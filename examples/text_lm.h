/* What the character-level language models share (examples/char_lstm.c,
 * examples/tiny_transformer.c, bench/lstm_step.c): the text, its
 * vocabulary and held-out split, the LSTM model, the loss in nats per
 * character, and sampling. */
#ifndef TAPEGRAD_EXAMPLES_TEXT_LM_H
#define TAPEGRAD_EXAMPLES_TEXT_LM_H

#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>
#include <tapegrad/nn_layers.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The text every Debian machine has (about 35 KB). */
#define TEXT_DEFAULT "/usr/share/common-licenses/GPL-3"
/* The split: the text in blocks of TEXT_BLOCK characters, every
 * TEXT_HOLDOUT-th block held out (blocks TEXT_HOLDOUT-1, 2·TEXT_HOLDOUT-1,
 * ...), so the held-out text is spread over the whole document and reads
 * like the rest of it. */
#define TEXT_BLOCK 1000
#define TEXT_HOLDOUT 10
#define TEXT_MAX_BLOCKS 64

/* The char LSTM's sizes: an embedding of CHAR_EMBED features per
 * character, a one-layer LSTM of CHAR_HIDDEN units, a Linear to the
 * vocabulary's logits. */
#define CHAR_EMBED 32
#define CHAR_HIDDEN 128

typedef struct text_corpus {
    int vocab;                /* distinct bytes in the text */
    unsigned char chars[256]; /* id -> byte, in byte order */
    int id_of[256];           /* byte -> id, -1 when absent */
    int64_t n_train;
    int64_t *train;           /* ids of the training text (the kept blocks, joined) */
    int n_test;               /* held-out blocks */
    int64_t *test[TEXT_MAX_BLOCKS];
    int64_t test_len[TEXT_MAX_BLOCKS];
} text_corpus;

/* Reads the text at path, builds the vocabulary and splits it. False with
 * a message on stderr (the file is missing, empty, or shorter than
 * TEXT_HOLDOUT blocks). */
bool text_load(const char *path, text_corpus *c);
void text_free(text_corpus *c);

/* The char LSTM: "emb.weight", "lstm.*_l0" (torch.nn.LSTM's names),
 * "out.weight", "out.bias". */
typedef struct char_lstm {
    nn_module *emb, *lstm, *out;
} char_lstm;

bool char_lstm_build(char_lstm *m, nn_params *ps, int vocab, ag_dtype dtype, ag_rng *rng);
void char_lstm_free(char_lstm *m);

/* Logits (B, T, V) for the ids (B, T) from the state init (NULL: zeros);
 * the last state into *final (may be NULL). */
ag_tensor *char_lstm_logits(char_lstm *m, ag_tape *t, int64_t B, int64_t T, const int64_t *ids,
                            const nn_rnn_state *init, nn_rnn_state *final);

/* Mean cross-entropy (nats per character) of logits (B, T, V) against the
 * ids (B·T) that follow each position. */
ag_tensor *lm_loss(ag_tape *t, ag_tensor *logits, const int64_t *next);

/* The LSTM's held-out loss in nats per character: each held-out block read
 * from the zero state, every character after the first predicted (no
 * gradient recorded). NaN on an error (printed). */
double char_lstm_heldout(char_lstm *m, ag_tape *t, const text_corpus *c);

/* The held-out loss of any model seeing windows of `window` characters:
 * each held-out block cut into consecutive windows of window + 1
 * characters, the last `window` predicted from the ones before within the
 * window. logits_of gives (1, window, V) logits for `window` ids. */
double heldout_windows(const text_corpus *c, ag_tape *t, int64_t window,
                       ag_tensor *(*logits_of)(void *model, ag_tape *t, int64_t T, const int64_t *ids),
                       void *model);

/* An id drawn from softmax(logits / temperature), logits[0..vocab-1]. */
int sample_id(const double *logits, int vocab, double temperature, ag_rng *r);

/* Prints the bytes of ids[0..n-1] with newlines kept, indented by two. */
void print_text(const text_corpus *c, const int64_t *ids, int64_t n);

/* Seconds on the monotonic clock. */
double text_now(void);

#endif
