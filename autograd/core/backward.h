/* The numeric reverse sweep (backward.c): its state, where each input's
 * gradient goes, and the checks and seeding every sweep shares (the
 * recorded sweep in vjp.c and the trace use them too). Not installed. */
#ifndef TAPEGRAD_CORE_BACKWARD_H
#define TAPEGRAD_CORE_BACKWARD_H

#include "hints.h"
#include "op.h"

struct ag_sweep {
    ag_tape *tape;
    uint32_t epoch;
    bool functional; /* ag_grad: only wanted leaves (ag__wanted) receive gradients */
};

/* Fails (AG_ERR_STATE) if a parameter was written after being recorded. */
ag_status ag__sweep_check_versions(ag_tape *t);

/* Validates ag_grad's arguments: the output and seed (ag__sweep_check_output),
 * n >= 0, and no NULL among the arrays and inputs. */
ag_status ag__sweep_check_args(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n,
                              ag_tensor *const *xs, ag_tensor **grads);

/* Starts a numeric sweep: checks the tape's error and parameter versions,
 * then takes a new epoch (so every intermediate gradient starts at zero). */
ag_status ag__sweep_begin(ag_tape *t, ag_sweep *s, bool functional);

/* AG_OK when y requires a gradient, else AG_ERR_STATE saying so (ag_backward
 * and ag_grad of a constant are errors, as in PyTorch). */
ag_status ag__sweep_check_requires(ag_tape *t, const char *op, ag_tensor *y);

/* ag_grad's numeric path; allow_unused gives zeros for inputs the sweep did
 * not reach (and for all of them when y is a constant). */
ag_status ag__grad_numeric(ag_tape *t, ag_tensor *y, ag_tensor *seed, int n, ag_tensor *const *xs,
                           ag_tensor **grads, bool allow_unused);

/* The error for input i of ag_grad, which y did not reach (or which does
 * not require a gradient). Returns AG_ERR_STATE. */
ag_status ag__grad_unused(ag_tape *t, int i, ag_tensor *x);

/* Tests only: sets the tape's last sweep number, to reach the wrap. */
void ag__sweep_test_set_epoch(ag_tape *t, uint32_t epoch);

/* Adds the seed (NULL = ones) into y's gradient; false when y needs none. */
bool ag__sweep_seed(ag_sweep *s, ag_tensor *y, ag_tensor *seed);

/* Validates a backward's output and seed: y recorded, seed of y's shape and
 * dtype, and a scalar y unless a seed is given (when the flag is set). */
ag_status ag__sweep_check_output(ag_tape *t, const char *op, ag_tensor *y, ag_tensor *seed,
                           bool need_seed_if_not_scalar);

/* Whether input `in` takes a gradient in sweep s: it requires one, and in a
 * functional sweep (ag_grad) a leaf only when it was asked for. */
static inline bool ag__sweep_wants(const ag_sweep *s, const ag_tensor *in) {
    if (!(in->flags & AG_F_REQUIRES_GRAD)) return false;
    return !((in->flags & AG_F_LEAF) && s->functional && !ag__wanted(in));
}

/* Like ag__sweep_acc but without zeroing: *fresh says whether the buffer
 * holds garbage (so the kernel must overwrite, e.g. beta = 0 in a GEMM)
 * rather than a gradient to add to. Inline: the sweep calls it per input. */
static inline void *ag__sweep_dst(ag_sweep *s, ag_tensor *in, bool *fresh) {
    if (!ag__sweep_wants(s, in)) return NULL;
    if (in->epoch == s->epoch) {
        *fresh = false;
    } else {
        in->epoch = s->epoch;
        /* Leaves accumulate across calls; ag_grad zeroes its wanted leaves. */
        *fresh = !(in->flags & AG_F_LEAF);
    }
    return ag__grad(in);
}

/* Where the gradient for input `in` goes during sweep s, or NULL if it needs
 * none. The first write of a sweep zeroes an intermediate's buffer (so
 * nothing leaks between backward calls); leaves accumulate. The caller adds
 * into the returned buffer. */
static inline void *ag__sweep_acc(ag_sweep *s, ag_tensor *in) {
    bool fresh;
    void *g = ag__sweep_dst(s, in, &fresh);
    if (g && fresh) memset(g, 0, (size_t)ag__numel(in) * ag__elsize(in->dtype));
    return g;
}

/* An f32 0-d input's gradient to add into: 0 when the sweep has not
 * touched it yet (a fresh non-leaf), its value otherwise; the caller adds
 * and stores the sum with ag__sweep_scalar_f32_end. For
 * ag__sweep_scalar_acc, and for kernels that do the adding themselves (the
 * f32 vector kernels). */
static AG_ALWAYS_INLINE float ag__sweep_scalar_f32_begin(const ag_sweep *s, ag_tensor *in) {
    bool fresh = in->epoch != s->epoch && !(in->flags & AG_F_LEAF);
    in->epoch = s->epoch;
    float f = 0.0f;
    if (!fresh) memcpy(&f, &in->d.s.grad, sizeof f);
    return f;
}
static AG_ALWAYS_INLINE void ag__sweep_scalar_f32_end(ag_tensor *in, float f) {
    memcpy(&in->d.s.grad, &f, sizeof f);
}

/* ag__sweep_acc and `+= v` in one, for a 0-d input of dtype dt that
 * ag__sweep_wants, in doubles: the scalar backward kernels' accumulation.
 * Same arithmetic as the tensor kernels: a fresh gradient is 0 + v, and an
 * f32 one adds in float. */
static AG_ALWAYS_INLINE void ag__sweep_scalar_acc(const ag_sweep *s, ag_tensor *in, int dt, double v) {
    if (dt == AG_F64) {
        bool fresh = in->epoch != s->epoch && !(in->flags & AG_F_LEAF);
        in->epoch = s->epoch;
        in->d.s.grad = (fresh ? 0.0 : in->d.s.grad) + v;
    } else {
        ag__sweep_scalar_f32_end(in, ag__sweep_scalar_f32_begin(s, in) + (float)v);
    }
}

#endif /* TAPEGRAD_CORE_BACKWARD_H */
