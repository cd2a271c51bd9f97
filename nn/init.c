/* Parameter initialisers: Xavier/Glorot and He/Kaiming (uniform and
 * normal), plain uniform/normal, zeros. Values are drawn in row-major order
 * from an ag_rng, so a seed fixes them on every machine. */
#include "nn_internal.h"

#include <math.h>

double nn_init_gain(nn_act act, double slope) {
    switch (act) {
    case NN_TANH: return 5.0 / 3.0;
    case NN_RELU:
    case NN_GELU: return sqrt(2.0);
    case NN_LEAKY_RELU: return sqrt(2.0 / (1.0 + slope * slope));
    default: return 1.0;
    }
}

/* fan_in and fan_out for the (in, out, receptive...) layout described in
 * nn.h. */
static void fans(const ag_tensor *p, double *fan_in, double *fan_out) {
    int nd = ag_ndim(p);
    if (nd < 2) {
        *fan_in = *fan_out = (double)ag_numel(p);
        return;
    }
    double receptive = 1;
    for (int i = 2; i < nd; i++) receptive *= (double)ag_dim(p, i);
    *fan_in = (double)ag_dim(p, 0) * receptive;
    *fan_out = (double)ag_dim(p, 1) * receptive;
}

typedef enum { UNIFORM, NORMAL } dist;

/* Fills p with U(a, b) or N(a, b²). */
static nn_status fill(const char *what, ag_tensor *p, dist d, double a, double b, ag_rng *rng) {
    if (!p || !rng) return nn__fail(NN_ERR_NULL, "%s: %s is NULL", what, !p ? "the tensor" : "the generator");
    if (!isfinite(a) || !isfinite(b) || (d == UNIFORM && !(a <= b)) || (d == NORMAL && b < 0))
        return nn__fail(NN_ERR_ARG, "%s: bad distribution (%g, %g)", what, a, b);
    int64_t n = ag_numel(p);
    if (n == 0) return NN_OK;
    bool f32 = ag_dtype_of(p) == AG_F32;
    void *v = ag_data_mut(p);
    for (int64_t i = 0; i < n; i++) {
        double x = d == UNIFORM ? a + (b - a) * ag_rng_uniform(rng) : a + b * ag_rng_normal(rng);
        if (f32) ((float *)v)[i] = (float)x;
        else ((double *)v)[i] = x;
    }
    return NN_OK;
}

nn_status nn_init_uniform(ag_tensor *p, double lo, double hi, ag_rng *rng) {
    return fill("init_uniform", p, UNIFORM, lo, hi, rng);
}

nn_status nn_init_normal(ag_tensor *p, double mean, double std, ag_rng *rng) {
    return fill("init_normal", p, NORMAL, mean, std, rng);
}

nn_status nn_init_xavier_uniform(ag_tensor *p, double gain, ag_rng *rng) {
    double fi = 1, fo = 1;
    if (p) fans(p, &fi, &fo);
    double a = gain * sqrt(6.0 / fmax(fi + fo, 1));
    return fill("init_xavier_uniform", p, UNIFORM, -a, a, rng);
}

nn_status nn_init_xavier_normal(ag_tensor *p, double gain, ag_rng *rng) {
    double fi = 1, fo = 1;
    if (p) fans(p, &fi, &fo);
    return fill("init_xavier_normal", p, NORMAL, 0, gain * sqrt(2.0 / fmax(fi + fo, 1)), rng);
}

nn_status nn_init_kaiming_uniform(ag_tensor *p, double gain, ag_rng *rng) {
    double fi = 1, fo = 1;
    if (p) fans(p, &fi, &fo);
    double a = gain * sqrt(3.0 / fmax(fi, 1));
    return fill("init_kaiming_uniform", p, UNIFORM, -a, a, rng);
}

nn_status nn_init_kaiming_normal(ag_tensor *p, double gain, ag_rng *rng) {
    double fi = 1, fo = 1;
    if (p) fans(p, &fi, &fo);
    return fill("init_kaiming_normal", p, NORMAL, 0, gain / sqrt(fmax(fi, 1)), rng);
}

nn_status nn_init_constant(ag_tensor *p, double value) {
    if (!p) return nn__fail(NN_ERR_NULL, "init_constant: the tensor is NULL");
    int64_t n = ag_numel(p);
    if (n == 0) return NN_OK;
    bool f32 = ag_dtype_of(p) == AG_F32;
    void *v = ag_data_mut(p);
    for (int64_t i = 0; i < n; i++) {
        if (f32) ((float *)v)[i] = (float)value;
        else ((double *)v)[i] = value;
    }
    return NN_OK;
}

nn_status nn_init_zeros(ag_tensor *p) {
    if (!p) return nn__fail(NN_ERR_NULL, "init_zeros: the tensor is NULL");
    return nn_init_constant(p, 0);
}
