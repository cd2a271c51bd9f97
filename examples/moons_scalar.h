/* micrograd's demo model in C, scalar nodes only: two-moons data, an MLP
 * whose neurons are sums of scalar products, the max-margin loss, and one
 * SGD step. Shared by examples/micrograd_moons.c and bench/scalar_moons.c. */
#ifndef TAPEGRAD_MOONS_SCALAR_H
#define TAPEGRAD_MOONS_SCALAR_H

#include <tapegrad/autograd.h>

/* Two interleaving half circles, like sklearn's make_moons: the first n/2
 * points on the upper arc (label -1), the rest on the lower, shifted arc
 * (label +1), each coordinate plus normal noise of the given standard
 * deviation. x holds n (x0, x1) pairs, y n labels. */
void moons_data(int n, double noise, uint64_t seed, double *x, double *y);

/* MLP(2, [16, 16, 1]): relu hidden layers, a linear output. Every weight
 * and bias is a scalar parameter; weights uniform in [-1, 1], biases 0. */
enum { MOONS_IN = 2, MOONS_H = 16, MOONS_NPARAMS = 16 * 3 + 16 * 17 + 17 };

typedef struct moons_mlp {
    ag_tensor *p[MOONS_NPARAMS]; /* layer by layer, neuron by neuron: w..., b */
} moons_mlp;

/* NULL if a parameter cannot be allocated. */
moons_mlp *moons_mlp_new(uint64_t seed);
void moons_mlp_free(moons_mlp *m);

/* The model's score for one point, recorded as scalar nodes. */
ag_tensor *moons_score(ag_tape *t, const moons_mlp *m, double x0, double x1);

typedef struct moons_result {
    double loss;     /* mean(relu(1 - y·score)) + 1e-4·Σ p² */
    double accuracy; /* fraction of points with sign(score) = y */
    size_t nodes;    /* nodes recorded on the tape */
    ag_status status;
} moons_result;

/* Records the loss over all n points on t (which should be fresh) and
 * returns its node, or NULL on error; fills r (when not NULL) with the
 * loss's value, the accuracy and the node count. */
ag_tensor *moons_loss(ag_tape *t, const moons_mlp *m, int n, const double *x, const double *y,
                      moons_result *r);

/* One training step: forward, backward, p -= lr·∂loss/∂p (through
 * ag_data_mut), tape reset. Returns the loss and accuracy before the
 * update. */
moons_result moons_step(ag_tape *t, moons_mlp *m, int n, const double *x, const double *y,
                        double lr);

#endif
