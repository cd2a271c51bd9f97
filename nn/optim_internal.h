/* The optimizer's state, shared by optim.c (the updates) and optim_state.c
 * (checkpoints of the state). Not installed. */
#ifndef TAPEGRAD_NN_OPTIM_INTERNAL_H
#define TAPEGRAD_NN_OPTIM_INTERNAL_H

#include "nn_internal.h"

struct nn_optim {
    nn_optim_opts o;
    size_t n;
    ag_tensor **params; /* not owned */
    double **buf1;      /* SGD momentum buffer, or Adam's m; NULL until the first step */
    double **buf2;      /* Adam's v */
    int64_t steps;
};

/* Allocates the buffers the kind needs (zeros), unless they exist: at the
 * first step, or when a saved state is imported. */
nn_status nn__optim_ensure_state(nn_optim *o);

#endif
