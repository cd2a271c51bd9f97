/* cnn_mnist: a LeNet-like convolutional network on MNIST digits read from
 * IDX files, trained like examples/mnist.c (the same program,
 * mnist_train.c): cross-entropy from logits, Adam, batch 64, a line per
 * epoch.
 *
 *   cnn_mnist [--data DIR] [--epochs N] [--dtype f32|f64] [--min-accuracy P] [--seed S] [--ddp]
 *
 * The model, as a torch.nn.Sequential would list it (nn_layers.h):
 *   Unflatten(1, (1, 28, 28))
 *   Conv2d(1, 16, 5, padding=2), BatchNorm2d(16), ReLU, MaxPool2d(2)   -> (16, 14, 14)
 *   Conv2d(16, 32, 5), BatchNorm2d(32), ReLU, MaxPool2d(2)             -> (32, 5, 5)
 *   Flatten, Linear(800, 128), ReLU, Dropout(0.4), Linear(128, 10)
 * (cnn_model.c, which bench/cnn_step.c times) with PyTorch's
 * initialisation, Adam at 2e-3 on a cosine schedule to 0 over 12 epochs. The held-out accuracy is measured in evaluation mode
 * (BatchNorm's running statistics).
 *
 * With --ddp the ranks mpirun starts share each batch of 64 (nn_ddp.h), as
 * for mnist; BatchNorm's batch statistics are then each rank's own (as in
 * PyTorch's DistributedDataParallel without SyncBatchNorm), so the figures
 * are close to one process's, not equal, and the evaluation uses rank 0's
 * running statistics.
 *
 * Defaults: data/mnist (`./dev mnist`), 12 epochs, f32, seed 1; exit status
 * 1 when the final held-out accuracy is below --min-accuracy (0.98), 2 on
 * an error. */
#include "cnn_model.h"
#include "mnist_train.h"

#include <stdio.h>

static nn_module *lenet(nn_params *ps, ag_dtype dt, ag_rng *r, char *what, size_t size) {
    snprintf(what, size, "CNN conv5x5(16)-bn-relu-pool, conv5x5(32)-bn-relu-pool, 800-128 (dropout 0.4)-10");
    return cnn_mnist_model(ps, dt, r);
}

int main(int argc, char **argv) {
    const mnist_recipe recipe = {.name = "cnn_mnist", .build = lenet, .lr = 2e-3, .cosine = true, .epochs = 12,
                                 .min_accuracy = 0.98, .eval_chunk = 250};
    return mnist_train_main(argc, argv, &recipe);
}
