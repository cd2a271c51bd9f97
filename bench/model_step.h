/* What cnn_step, lstm_step and attention_step share: one training step of a
 * model timed at the machine's default threads and at one thread, beside
 * PyTorch's same model in its own process, pinned the same way
 * (bench_run_peer_pinned), at its best configuration on this machine
 * (OpenBLAS's core type forced where the installed one misdetects the CPU;
 * the target is against it) and as installed. */
#ifndef TAPEGRAD_BENCH_MODEL_STEP_H
#define TAPEGRAD_BENCH_MODEL_STEP_H

#include "bench.h"

#include <math.h>

typedef struct model_step {
    const char *workload;  /* also the peer's workload name */
    void (*step)(void *ctx); /* one training step, tape reset included */
    void *ctx;
    /* Called after the timed steps: true when every step succeeded and the
     * model learned (the note then says how), else false with the reason. */
    bool (*check)(void *ctx, char *note, size_t size);
    const char *peer_key;  /* the peer's figure of the same model (ms) */
    double target;         /* step time / the peer's best, at most */
    const char *ref_key;   /* a reference figure of the peer (NULL: none) */
    const char *ref_what;  /* what it is, e.g. "torch.nn.LSTM" */
} model_step;

/* The losses of a model's timed steps: the first and the last, and the
 * first failure. Start from MODEL_STEP_LOSSES_INIT. */
typedef struct model_step_losses {
    double first, last;
    ag_status status;
} model_step_losses;
#define MODEL_STEP_LOSSES_INIT ((model_step_losses){NAN, NAN, AG_OK})

/* Records one step: its backward's status and, when that succeeded, the
 * value of its loss (0-d). */
void model_step_record(model_step_losses *l, ag_status st, ag_tensor *loss);

/* The check of model_step: true when every step succeeded and the loss
 * fell; the note then reads "WHAT; loss A -> B (same batch)", else it
 * says what failed (the tape's error). */
bool model_step_verdict(const model_step_losses *l, ag_tape *t, const char *what, char *note,
                        size_t size);

/* Measures and emits the rows
 *   step_time, step_time_1thread            against PyTorch at its best
 *   step_vs_installed[_1thread]             against PyTorch as installed
 *   vs_<ref>[_1thread]                      against the reference figure
 *   peer_cpu_per_wall[_1thread]             the pinning, seen
 * and a target line saying in how many of the two thread counts the target
 * was met. */
void model_step_run(const model_step *m);

#endif
