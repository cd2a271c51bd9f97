/* micrograd's demo model with scalar nodes (see moons_scalar.h). Written
 * from the description of the demo, not translated: each neuron is the
 * scalar sum b + Σ w_i·x_i, recorded node by node as micrograd records its
 * Values, so a step's graph has about as many nodes as micrograd's. */
#include "moons_scalar.h"

#include <math.h>
#include <stdlib.h>

void moons_data(int n, double noise, uint64_t seed, double *x, double *y) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    const double pi = acos(-1.0);
    int n_upper = n / 2, n_lower = n - n_upper;
    for (int i = 0; i < n; i++) {
        bool upper = i < n_upper;
        int k = upper ? i : i - n_upper, m = upper ? n_upper : n_lower;
        double a = m > 1 ? pi * k / (m - 1) : 0; /* evenly spaced on [0, π] */
        x[2 * i] = upper ? cos(a) : 1 - cos(a);
        x[2 * i + 1] = upper ? sin(a) : 0.5 - sin(a);
        y[i] = upper ? -1.0 : 1.0;
    }
    for (int i = 0; i < 2 * n; i++) x[i] += noise * ag_rng_normal(&r);
}

moons_mlp *moons_mlp_new(uint64_t seed) {
    moons_mlp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    ag_rng r;
    ag_rng_seed(&r, seed);
    static const int fan_in[3] = {MOONS_IN, MOONS_H, MOONS_H}, width[3] = {MOONS_H, MOONS_H, 1};
    int k = 0;
    for (int l = 0; l < 3; l++)
        for (int j = 0; j < width[l]; j++) {
            for (int i = 0; i < fan_in[l]; i++) m->p[k++] = ag_param_scalar(AG_F64, 2 * ag_rng_uniform(&r) - 1);
            m->p[k++] = ag_param_scalar(AG_F64, 0.0);
        }
    for (int i = 0; i < MOONS_NPARAMS; i++)
        if (!m->p[i]) {
            moons_mlp_free(m);
            return NULL;
        }
    return m;
}

void moons_mlp_free(moons_mlp *m) {
    if (!m) return;
    for (int i = 0; i < MOONS_NPARAMS; i++) ag_param_free(m->p[i]);
    free(m);
}

/* One neuron: b + w_0·in_0 + ... + w_{k-1}·in_{k-1}; relu unless linear. */
static ag_tensor *neuron(ag_tape *t, ag_tensor *const *p, int k, ag_tensor *const *in, bool relu) {
    ag_tensor *act = p[k]; /* the bias */
    for (int i = 0; i < k; i++) act = ag_add(t, act, ag_mul(t, p[i], in[i]));
    return relu ? ag_relu(t, act) : act;
}

ag_tensor *moons_score(ag_tape *t, const moons_mlp *m, double x0, double x1) {
    ag_tensor *in[MOONS_IN] = {ag_scalar(t, x0), ag_scalar(t, x1)};
    ag_tensor *h1[MOONS_H], *h2[MOONS_H];
    ag_tensor *const *p = m->p;
    for (int j = 0; j < MOONS_H; j++, p += MOONS_IN + 1) h1[j] = neuron(t, p, MOONS_IN, in, true);
    for (int j = 0; j < MOONS_H; j++, p += MOONS_H + 1) h2[j] = neuron(t, p, MOONS_H, h1, true);
    return neuron(t, p, MOONS_H, h2, false);
}

ag_tensor *moons_loss(ag_tape *t, const moons_mlp *m, int n, const double *x, const double *y,
                      moons_result *r) {
    ag_tensor *data = NULL;
    int correct = 0;
    for (int i = 0; i < n; i++) {
        ag_tensor *score = moons_score(t, m, x[2 * i], x[2 * i + 1]);
        /* max-margin: relu(1 - y·score), zero once the point is beyond the margin */
        ag_tensor *li = ag_relu(t, ag_add_c(t, ag_mul_c(t, score, -y[i]), 1.0));
        data = data ? ag_add(t, data, li) : li;
        correct += (y[i] > 0) == (ag_item(score) > 0);
    }
    data = ag_mul_c(t, data, 1.0 / n);
    ag_tensor *reg = NULL;
    for (int i = 0; i < MOONS_NPARAMS; i++) {
        ag_tensor *sq = ag_mul(t, m->p[i], m->p[i]);
        reg = reg ? ag_add(t, reg, sq) : sq;
    }
    ag_tensor *loss = ag_add(t, data, ag_mul_c(t, reg, 1e-4));
    if (r) {
        *r = (moons_result){.loss = ag_item(loss), .accuracy = n ? (double)correct / n : 0,
                            .nodes = ag_tape_get_stats(t).nodes, .status = ag_tape_status(t)};
    }
    return loss;
}

moons_result moons_step(ag_tape *t, moons_mlp *m, int n, const double *x, const double *y,
                        double lr) {
    moons_result r;
    ag_tensor *loss = moons_loss(t, m, n, x, y, &r);
    for (int i = 0; i < MOONS_NPARAMS; i++) ag_zero_grad(m->p[i]);
    r.status = ag_backward(t, loss);
    if (r.status == AG_OK) {
        for (int i = 0; i < MOONS_NPARAMS; i++) {
            double g = ag_grad_item(m->p[i]);
            double *v = ag_data_mut(m->p[i]);
            *v -= lr * g;
        }
    }
    ag_tape_reset(t);
    return r;
}
