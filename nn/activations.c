/* Activation functions as functions and as modules: each is one engine op. */
#include "nn_tape.h"

#include <stdlib.h>

const char *nn_act_name(nn_act act) {
    switch (act) {
    case NN_IDENTITY: return "identity";
    case NN_RELU: return "relu";
    case NN_LEAKY_RELU: return "leaky_relu";
    case NN_TANH: return "tanh";
    case NN_SIGMOID: return "sigmoid";
    case NN_GELU: return "gelu";
    case NN_SOFTMAX: return "softmax";
    }
    return "?";
}

static ag_tensor *apply(ag_tape *t, nn_act act, double slope, ag_tensor *x) {
    if (!nn__inputs_ok(t, nn_act_name(act), 1, &x)) return NULL;
    switch (act) {
    case NN_IDENTITY: return x;
    case NN_RELU: return ag_relu(t, x);
    case NN_LEAKY_RELU: return ag_leaky_relu(t, x, slope);
    case NN_TANH: return ag_tanh(t, x);
    case NN_SIGMOID: return ag_sigmoid(t, x);
    case NN_GELU: return ag_gelu(t, x);
    case NN_SOFTMAX: return ag_softmax(t, x, -1);
    }
    return nn__tape_fail(t, AG_ERR_ARG, "activate", "unknown activation %d", (int)act);
}

ag_tensor *nn_activate(ag_tape *t, nn_act act, ag_tensor *x) {
    return apply(t, act, NN_LEAKY_SLOPE, x);
}

typedef struct activation {
    nn_module base;
    nn_act act;
    double slope; /* leaky relu only */
} activation;

static ag_tensor *activation_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    activation *a = (activation *)m;
    return apply(t, a->act, a->slope, x);
}

static void activation_destroy(nn_module *m) { free(m); }

static nn_module *make(nn_act act, double slope) {
    if (act < NN_IDENTITY || act > NN_SOFTMAX) {
        nn__fail(NN_ERR_ARG, "activation_new: unknown activation %d", (int)act);
        return NULL;
    }
    activation *a = calloc(1, sizeof *a);
    if (!a) {
        nn__fail(NN_ERR_MEMORY, "activation_new: out of memory");
        return NULL;
    }
    a->base = (nn_module){.kind = nn_act_name(act), .forward = activation_forward,
                          .destroy = activation_destroy, .training = true};
    a->act = act;
    a->slope = slope;
    return &a->base;
}

nn_module *nn_activation_new(nn_act act) { return make(act, NN_LEAKY_SLOPE); }

nn_module *nn_leaky_relu_new(double slope) { return make(NN_LEAKY_RELU, slope); }
