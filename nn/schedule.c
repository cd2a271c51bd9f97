/* Learning-rate schedules: constant, step decay, cosine annealing. */
#include "nn_internal.h"

#include <math.h>

nn_lr_schedule nn_lr_constant(double base) { return (nn_lr_schedule){.kind = NN_LR_CONSTANT, .base = base}; }

nn_lr_schedule nn_lr_step(double base, int64_t step_size, double gamma) {
    return (nn_lr_schedule){.kind = NN_LR_STEP, .base = base, .step_size = step_size, .gamma = gamma};
}

nn_lr_schedule nn_lr_cosine(double base, int64_t total, double min_lr) {
    return (nn_lr_schedule){.kind = NN_LR_COSINE, .base = base, .total = total, .min_lr = min_lr};
}

double nn_lr_at(const nn_lr_schedule *s, int64_t step) {
    if (!s) {
        nn__fail(NN_ERR_NULL, "lr_at: the schedule is NULL");
        return NAN;
    }
    if (step < 0) step = 0;
    switch (s->kind) {
    case NN_LR_CONSTANT: return s->base;
    case NN_LR_STEP:
        if (s->step_size < 1) break;
        return s->base * pow(s->gamma, (double)(step / s->step_size));
    case NN_LR_COSINE: {
        if (s->total < 1) break;
        double f = (double)(step < s->total ? step : s->total) / (double)s->total;
        return s->min_lr + (s->base - s->min_lr) * (1 + cos(M_PI * f)) / 2;
    }
    default:
        nn__fail(NN_ERR_ARG, "lr_at: unknown schedule kind %d", (int)s->kind);
        return NAN;
    }
    nn__fail(NN_ERR_ARG, "lr_at: step_size and total must be >= 1");
    return NAN;
}
