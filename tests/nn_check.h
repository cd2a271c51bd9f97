/* Checks shared by the suites of the nn layers (nn_layers.h): gradients of
 * a layer with respect to its inputs and its parameters against central
 * differences, and agreement with PyTorch's values in
 * tests/layer_reference.h (tests/gen_layer_reference.py). */
#ifndef TAPEGRAD_NN_CHECK_H
#define TAPEGRAD_NN_CHECK_H

#include "testutil.h"

#include <tapegrad/nn_io.h>
#include <tapegrad/nn_layers.h>

/* One array of a reference case: kind "out" (an output), "din" (the
 * loss's gradient with respect to input `label`), "dparam" (with respect
 * to parameter `label`, PyTorch's name and layout) or "buffer". */
typedef struct tu_ref_entry {
    const char *kind, *label;
    int64_t n;
    const double *v;
} tu_ref_entry;

typedef struct tu_ref {
    const char *name;
    int n;
    tu_ref_entry e[24];
} tu_ref;

/* The reference inputs' values: v[i] = scale·(0.5 sin(0.731 i + 1.37 seed)
 * + 0.25 cos(2.113 i + 0.5 seed)), as fill() in gen_layer_reference.py. */
void tu_fill(double *v, int64_t n, int seed, double scale);

/* A (shape) f64 tensor of those values that requires a gradient. */
ag_tensor *tu_filled(ag_tape *t, int ndim, const int64_t *shape, int seed, double scale);

/* Sets trainable parameter k of the store (registration order, buffers
 * skipped) to fill(·, seed0 + k, 0.8) in PyTorch's layout, as
 * set_params() in the script does to the PyTorch module. */
void tu_set_torch_params(nn_params *ps, int seed0);

/* The reference's entry of that kind and label (the test fails without). */
const tu_ref_entry *tu_ref_get(const tu_ref *r, const char *kind, const char *label);

/* The loss of the reference cases: sum over k of sum(outs[k]·fill(·, 90 + k)). */
ag_tensor *tu_ref_loss(ag_tape *t, int n, ag_tensor *const *outs);

/* Asserts |x - ref| <= tol·(1 + |ref|) elementwise for the n values of x
 * (its values, or its gradient when grad), naming what. */
void tu_assert_values(const char *what, const ag_tensor *x, bool grad, const tu_ref_entry *ref, double tol);

/* Asserts every "dparam" entry of r against the gradient of the store's
 * "<prefix>.<label>", read through its declared PyTorch layout, and that
 * every trainable parameter of the store had an entry. */
void tu_assert_param_grads(nn_params *ps, const char *prefix, const tu_ref *r, double tol);

/* The layer check: ag_gradcheck of f at inputs (f64; gradients with respect
 * to each), then the same comparison with central differences for every
 * trainable parameter of the store (perturbed in place, at most
 * max_per_param sampled elements each, 0 = all), each with the guard that
 * the analytic gradient is not all zeros. */
void tu_check_layer(ag_fn f, void *ctx, int n, ag_tensor *const *inputs, nn_params *ps, int64_t max_per_param);

#endif
