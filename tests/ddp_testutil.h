/* Shared by the MPI test programs (run under mpirun by mpi_run.sh): a check
 * that ends the whole job on failure, so a failed rank can never leave the
 * others waiting in a collective (Check's longjmp would), and the small
 * model and data they train. */
#ifndef TAPEGRAD_DDP_TESTUTIL_H
#define TAPEGRAD_DDP_TESTUTIL_H

#include <tapegrad/nn_mpi.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dt_checks;

/* On failure: "rank R: file:line: message", then MPI_Abort of every rank. */
#define DT_CHECK(cond, ...)                                                                  \
    do {                                                                                     \
        dt_checks++;                                                                         \
        if (!(cond)) {                                                                       \
            int r_ = 0;                                                                      \
            MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                              \
            fprintf(stderr, "FAIL rank %d: %s:%d: %s: ", r_, __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                    \
        }                                                                                    \
    } while (0)

/* A status check that prints nn_last_error() on failure. */
#define DT_OK(call) DT_CHECK((call) == NN_OK, "%s", nn_last_error() ? nn_last_error() : "")

enum { DT_FEATURES = 5, DT_HIDDEN = 7, DT_CLASSES = 3 };

/* n samples of DT_FEATURES features in [-1, 1) with labels from a fixed
 * rule (the same on every rank: the seed is fixed). */
static inline nn_dataset *dt_data(int64_t n) {
    double *x = malloc((size_t)n * DT_FEATURES * sizeof *x);
    int64_t *y = malloc((size_t)n * sizeof *y);
    ag_rng r;
    ag_rng_seed(&r, 77);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < DT_FEATURES; j++) s += (x[i * DT_FEATURES + j] = 2 * ag_rng_uniform(&r) - 1) * (j + 1);
        y[i] = s < -0.5 ? 0 : s < 0.5 ? 1 : 2;
    }
    nn_dataset *ds = nn_dataset_new_labels(n, DT_FEATURES, x, y, DT_CLASSES);
    free(x);
    free(y);
    return ds;
}

/* A DT_FEATURES-DT_HIDDEN-DT_CLASSES tanh MLP in `ps`, initialised from `seed`. */
static inline nn_module *dt_model(nn_params *ps, ag_dtype dt, uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    return nn_mlp_new(ps, "mlp", 3, (const int64_t[]){DT_FEATURES, DT_HIDDEN, DT_CLASSES}, NN_TANH, dt, &r);
}

/* Forward and backward of the mean cross-entropy on samples idx[0..m-1]
 * (gradients accumulate into the parameters; zero them first). Returns the loss. */
static inline double dt_backward(nn_module *mlp, ag_tape *t, const nn_dataset *ds, ag_dtype dt, int64_t m,
                                 const int64_t *idx) {
    int64_t y[256];
    DT_CHECK(m <= 256, "batch %lld too large", (long long)m);
    ag_tape_reset(t);
    nn_dataset_gather(ds, m, idx, NULL, NULL, y);
    ag_tensor *loss = nn_sparse_cross_entropy(t, nn_forward(mlp, t, nn_batch_x(t, ds, dt, m, idx)), m, y, NN_MEAN);
    DT_CHECK(ag_backward(t, loss) == AG_OK, "%s", ag_tape_error(t));
    return ag_item(loss);
}

/* Largest |a - b| over the two stores' values (same layout). */
static inline double dt_max_diff(const nn_params *a, const nn_params *b) {
    double m = 0;
    for (size_t i = 0; i < nn_params_count(a); i++) {
        const ag_tensor *p = nn_params_at(a, i), *q = nn_params_at(b, i);
        for (int64_t j = 0; j < ag_numel(p); j++) m = fmax(m, fabs(ag_get(p, j) - ag_get(q, j)));
    }
    return m;
}

/* True when every rank's store holds the same bits as rank 0's. */
static inline int dt_same_on_all_ranks(const nn_params *ps) {
    int same = 1;
    for (size_t i = 0; i < nn_params_count(ps); i++) {
        const ag_tensor *p = nn_params_at(ps, i);
        size_t bytes = (size_t)ag_numel(p) * (ag_dtype_of(p) == AG_F32 ? 4 : 8);
        unsigned char *root = malloc(bytes);
        memcpy(root, ag_data(p), bytes);
        MPI_Bcast(root, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        same &= memcmp(root, ag_data(p), bytes) == 0;
        free(root);
    }
    int all = 0;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

#endif
