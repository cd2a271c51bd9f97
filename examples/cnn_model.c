/* cnn_mnist's model (cnn_model.h). */
#include "cnn_model.h"

#include <tapegrad/nn_layers.h>

/* Appends m to seq; false (freeing m) when either is NULL or it fails. */
static bool add(nn_module *seq, nn_module *m) {
    if (m && nn_sequential_add(seq, m) == NN_OK) return true;
    nn_module_free(m);
    return false;
}

nn_module *cnn_mnist_model(nn_params *ps, ag_dtype dt, ag_rng *r) {
    nn_module *seq = nn_sequential_new();
    const ag_pool2d_opts pool = {.kernel = {2, 2}};
    bool ok = seq && add(seq, nn_unflatten_new(3, (const int64_t[]){1, 28, 28})) &&
              add(seq, nn_conv2d_new(ps, "conv1", 1, 16, 5, 5, &(ag_conv2d_opts){.padding = {2, 2}}, true, dt, r)) &&
              add(seq, nn_batch_norm2d_new(ps, "bn1", 16, NN_NORM_EPS, 0.1, true, dt)) &&
              add(seq, nn_activation_new(NN_RELU)) && add(seq, nn_max_pool2d_new(&pool)) &&
              add(seq, nn_conv2d_new(ps, "conv2", 16, 32, 5, 5, NULL, true, dt, r)) &&
              add(seq, nn_batch_norm2d_new(ps, "bn2", 32, NN_NORM_EPS, 0.1, true, dt)) &&
              add(seq, nn_activation_new(NN_RELU)) && add(seq, nn_max_pool2d_new(&pool)) &&
              add(seq, nn_flatten_new()) && add(seq, nn_linear_new(ps, "fc1", 32 * 5 * 5, 128, true, dt, r)) &&
              add(seq, nn_activation_new(NN_RELU)) && add(seq, nn_dropout_new(0.4, ag_rng_next(r))) &&
              add(seq, nn_linear_new(ps, "fc2", 128, 10, true, dt, r));
    if (ok) return seq;
    nn_module_free(seq);
    return NULL;
}

