/* The MNIST training program that examples/mnist.c (an MLP) and
 * examples/cnn_mnist.c (a LeNet-like CNN) share: reading the IDX files,
 * the options, the training loop (alone or data-parallel with --ddp), the
 * held-out accuracy, the OK/FAIL line. Each example gives its model. */
#ifndef TAPEGRAD_EXAMPLES_MNIST_TRAIN_H
#define TAPEGRAD_EXAMPLES_MNIST_TRAIN_H

#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#define MNIST_PIXELS 784
#define MNIST_CLASSES 10

typedef struct mnist_recipe {
    const char *name;  /* the program's name, in messages */
    /* The model: (B, 784) pixels in [0, 1] -> (B, 10) logits, its
     * parameters registered in ps; NULL with nn_last_error() on failure.
     * `what` gets a one-line description. */
    nn_module *(*build)(nn_params *ps, ag_dtype dtype, ag_rng *rng, char *what, size_t size);
    double lr;            /* Adam's learning rate */
    bool cosine;          /* the rate on a cosine schedule to 0 over the run, else constant */
    int epochs;           /* default epoch count */
    double min_accuracy;  /* default target */
    int eval_chunk;       /* held-out images per no-grad forward */
} mnist_recipe;

/* The whole program: options
 *   [--data DIR] [--epochs N] [--dtype f32|f64] [--min-accuracy P] [--seed S] [--ddp]
 * then training with Adam, batch 64, a line per epoch and the OK/FAIL
 * line. Returns the exit status: 0 when the final held-out accuracy is at
 * least the target, 1 when not, 2 on an error. */
int mnist_train_main(int argc, char **argv, const mnist_recipe *r);

#endif
