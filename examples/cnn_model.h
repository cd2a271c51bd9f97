/* The LeNet-like CNN of examples/cnn_mnist.c, also timed by
 * bench/cnn_step.c. */
#ifndef TAPEGRAD_EXAMPLES_CNN_MODEL_H
#define TAPEGRAD_EXAMPLES_CNN_MODEL_H

#include <tapegrad/nn.h>

/* (B, 784) pixels -> (B, 10) logits, as a torch.nn.Sequential of
 *   Unflatten(1, (1, 28, 28)),
 *   Conv2d(1, 16, 5, padding=2), BatchNorm2d(16), ReLU, MaxPool2d(2),
 *   Conv2d(16, 32, 5), BatchNorm2d(32), ReLU, MaxPool2d(2),
 *   Flatten, Linear(800, 128), ReLU, Dropout(0.4), Linear(128, 10)
 * with parameters "conv1.*", "bn1.*", "conv2.*", "bn2.*", "fc1.*", "fc2.*".
 * NULL with nn_last_error() on failure. */
nn_module *cnn_mnist_model(nn_params *ps, ag_dtype dtype, ag_rng *rng);

#endif
