/* mnist: an MLP 784-128-10 (relu) trained on MNIST digits read from IDX
 * files, with cross-entropy from logits and Adam (lr 1e-3), batch 64,
 * printing each epoch's training loss, held-out accuracy and time.
 *
 *   mnist [--data DIR] [--epochs N] [--dtype f32|f64] [--min-accuracy P] [--seed S] [--ddp]
 *
 * With --ddp it trains data-parallel on the ranks mpirun starts
 * (nn_ddp.h): `mpirun -np 2 mnist --ddp` splits every batch of 64 into 32
 * per rank, averages the gradients after each backward, and reaches the
 * accuracy of one process (the same steps, to rounding); rank 0 prints.
 * Each rank reads the files; the held-out set is split for evaluation and
 * the counts summed.
 *
 * DIR (default data/mnist, which `./dev mnist` fills) holds
 * train-images.idx, train-labels.idx, test-images.idx and test-labels.idx,
 * images u8 (n, 28, 28) or any (n, ...) whose other dimensions multiply to
 * 784, labels (n) in 0..9. Defaults: 10 epochs, f32, seed 1, and exit
 * status 1 when the final held-out accuracy is below --min-accuracy (0.94;
 * pass 0 to only report). Exit status 2 on an error (a missing or malformed
 * file says which and why). */
#include "mnist_train.h"

#include <stdio.h>

#define HIDDEN 128

static nn_module *mlp(nn_params *ps, ag_dtype dtype, ag_rng *rng, char *what, size_t size) {
    snprintf(what, size, "MLP %d-%d-%d (relu)", MNIST_PIXELS, HIDDEN, MNIST_CLASSES);
    return nn_mlp_new(ps, "mlp", 3, (const int64_t[]){MNIST_PIXELS, HIDDEN, MNIST_CLASSES}, NN_RELU, dtype, rng);
}

int main(int argc, char **argv) {
    const mnist_recipe recipe = {.name = "mnist", .build = mlp, .lr = 1e-3, .cosine = false, .epochs = 10,
                                 .min_accuracy = 0.94, .eval_chunk = 1000};
    return mnist_train_main(argc, argv, &recipe);
}
