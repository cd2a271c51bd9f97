/* Inverted dropout: x times a constant mask of 0 and 1/(1-p). */
#include "nn_tape.h"

#include <stdlib.h>

ag_tensor *nn_dropout(ag_tape *t, ag_tensor *x, double p, bool training, ag_rng *rng) {
    if (!nn__inputs_ok(t, "dropout", 1, &x)) return NULL;
    if (!(p >= 0 && p <= 1)) return nn__tape_fail(t, AG_ERR_ARG, "dropout", "p = %g is outside [0, 1]", p);
    if (!training || p == 0) return x;
    if (!rng) return nn__tape_fail(t, AG_ERR_NULL, "dropout", "the generator is NULL");
    ag_dtype dt = ag_dtype_of(x);
    ag_tensor *mask = ag_zeros(t, dt, ag_ndim(x), ag_shape(x)); // x's shape, a constant
    if (!mask) return NULL;
    double keep = p < 1 ? 1.0 / (1.0 - p) : 0.0;
    void *m = ag_data_mut(mask);
    for (int64_t i = 0, n = ag_numel(x); i < n; i++) {
        double v = ag_rng_uniform(rng) < p ? 0.0 : keep;
        if (dt == AG_F32) ((float *)m)[i] = (float)v;
        else ((double *)m)[i] = v;
    }
    return ag_mul(t, x, mask);
}

typedef struct dropout {
    nn_module base;
    double p;
    ag_rng rng;
} dropout;

static ag_tensor *dropout_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    dropout *d = (dropout *)m;
    return nn_dropout(t, x, d->p, m->training, &d->rng);
}

static void dropout_destroy(nn_module *m) { free(m); }

nn_module *nn_dropout_new(double p, uint64_t seed) {
    if (!(p >= 0 && p <= 1)) {
        nn__fail(NN_ERR_ARG, "dropout_new: p = %g is outside [0, 1]", p);
        return NULL;
    }
    dropout *d = calloc(1, sizeof *d);
    if (!d) {
        nn__fail(NN_ERR_MEMORY, "dropout_new: out of memory");
        return NULL;
    }
    d->base = (nn_module){.kind = "dropout", .forward = dropout_forward, .destroy = dropout_destroy,
                          .training = true};
    d->p = p;
    ag_rng_seed(&d->rng, seed);
    return &d->base;
}
