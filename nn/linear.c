/* The Linear layer (y = x @ w + b from ag_matmul and a broadcast ag_add)
 * and the MLP builder. */
#include "nn_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

ag_tensor *nn_linear(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    ag_tensor *xs[] = {x, w};
    if (!nn__inputs_ok(t, "linear", 2, xs)) return NULL;
    char sx[96], sw[96], sb[96];
    int nx = ag_ndim(x);
    if (ag_ndim(w) != 2 || (nx != 2 && nx != 3) || ag_dim(x, -1) != ag_dim(w, 0))
        return nn__tape_fail(t, AG_ERR_SHAPE, "linear", "x %s does not fit weight %s "
                             "(need x (B, in) or (N, B, in) and weight (in, out))",
                             ag_shape_str(x, sx, sizeof sx), ag_shape_str(w, sw, sizeof sw));
    if (b && (ag_ndim(b) != 1 || ag_dim(b, 0) != ag_dim(w, 1)))
        return nn__tape_fail(t, AG_ERR_SHAPE, "linear", "bias %s does not fit weight %s (need bias (out))",
                             ag_shape_str(b, sb, sizeof sb), ag_shape_str(w, sw, sizeof sw));
    ag_tensor *y = ag_matmul(t, x, w); // (B, out)
    return b ? ag_add(t, y, b) : y;    // bias broadcast over the rows; its gradient is summed back
}

typedef struct linear {
    nn_module base;
    ag_tensor *w; /* (in, out), owned by the store */
    ag_tensor *b; /* (out) or NULL */
} linear;

static ag_tensor *linear_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    linear *l = (linear *)m;
    return nn_linear(t, x, l->w, l->b);
}

static linear *as_linear(const nn_module *m) {
    return (m && m->forward == linear_forward) ? (linear *)m : NULL;
}

ag_tensor *nn_linear_weight(const nn_module *m) {
    linear *l = as_linear(m);
    return l ? l->w : NULL;
}

ag_tensor *nn_linear_bias(const nn_module *m) {
    linear *l = as_linear(m);
    return l ? l->b : NULL;
}

nn_module *nn_linear_new(nn_params *ps, const char *prefix, int64_t in, int64_t out, bool bias,
                         ag_dtype dtype, ag_rng *rng) {
    if (!ps || !prefix || !rng) {
        nn__fail(NN_ERR_NULL, "linear_new: %s is NULL", !ps ? "the store" : !prefix ? "the prefix" : "the generator");
        return NULL;
    }
    if (in < 1 || out < 1) {
        nn__fail(NN_ERR_ARG, "linear_new: '%s': sizes must be >= 1 (in %lld, out %lld)", prefix, (long long)in,
                 (long long)out);
        return NULL;
    }
    char wname[NN_NAME_MAX + 2], bname[NN_NAME_MAX + 2];
    if (!nn__param_name(wname, "linear_new", prefix, "weight") || !nn__param_name(bname, "linear_new", prefix, "bias"))
        return NULL;
    /* Check both names before registering either: the store has no removal. */
    const char *taken = nn_params_get(ps, wname) ? wname : (bias && nn_params_get(ps, bname)) ? bname : NULL;
    if (taken) {
        nn__fail(NN_ERR_EXISTS, "linear_new: '%s' is already registered", taken);
        return NULL;
    }
    linear *l = calloc(1, sizeof *l);
    if (!l) {
        nn__fail(NN_ERR_MEMORY, "linear_new: out of memory");
        return NULL;
    }
    l->base = (nn_module){.kind = "linear", .forward = linear_forward, .destroy = nn__module_free_self,
                          .training = true};
    double bound = 1.0 / sqrt((double)in);
    l->w = nn_params_create(ps, wname, dtype, AG_SHAPE(in, out), NULL);
    if (l->w && bias) l->b = nn_params_create(ps, bname, dtype, AG_SHAPE(out), NULL);
    if (!l->w || (bias && !l->b)) {
        free(l);
        return NULL;
    }
    /* torch.nn.Linear keeps its weight (out, in). */
    nn_params_set_torch_layout(ps, wname, &nn_torch_transpose);
    nn_init_uniform(l->w, -bound, bound, rng);
    if (l->b) nn_init_uniform(l->b, -bound, bound, rng);
    return &l->base;
}

/* ------------------------------------------------------------------- MLP */

nn_module *nn_mlp_new(nn_params *ps, const char *prefix, int n_sizes, const int64_t *sizes, nn_act act,
                      ag_dtype dtype, ag_rng *rng) {
    if (!ps || !prefix || !sizes || !rng) {
        nn__fail(NN_ERR_NULL, "mlp_new: %s is NULL",
                 !ps ? "the store" : !prefix ? "the prefix" : !sizes ? "sizes" : "the generator");
        return NULL;
    }
    if (n_sizes < 2) {
        nn__fail(NN_ERR_ARG, "mlp_new: need at least 2 sizes (input and output), got %d", n_sizes);
        return NULL;
    }
    if (act < NN_IDENTITY || act > NN_SOFTMAX) {
        nn__fail(NN_ERR_ARG, "mlp_new: unknown activation %d", (int)act);
        return NULL;
    }
    char name[NN_NAME_MAX + 2];
    for (int i = 0; i < n_sizes; i++) {
        if (sizes[i] < 1) {
            nn__fail(NN_ERR_ARG, "mlp_new: sizes[%d] = %lld, must be >= 1", i, (long long)sizes[i]);
            return NULL;
        }
        if (i == n_sizes - 1) break;
        /* Every name free before any is registered. */
        for (int k = 0; k < 2; k++) {
            int n = snprintf(name, sizeof name, "%s.%d.%s", prefix, i, k ? "bias" : "weight");
            if (n < 0 || n > NN_NAME_MAX) {
                nn__fail(NN_ERR_ARG, "mlp_new: the name of layer %d is too long", i);
                return NULL;
            }
            if (nn_params_get(ps, name)) {
                nn__fail(NN_ERR_EXISTS, "mlp_new: '%s' is already registered", name);
                return NULL;
            }
        }
    }
    nn_module *seq = nn_sequential_new();
    if (!seq) return NULL;
    bool he = act == NN_RELU || act == NN_LEAKY_RELU || act == NN_GELU;
    double gain = nn_init_gain(act, NN_LEAKY_SLOPE);
    for (int i = 0; i + 1 < n_sizes; i++) {
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        nn_module *lin = nn_linear_new(ps, name, sizes[i], sizes[i + 1], true, dtype, rng);
        if (!lin || nn_sequential_add(seq, lin) != NN_OK) {
            nn_module_free(lin);
            nn_module_free(seq);
            return NULL;
        }
        ag_tensor *w = nn_linear_weight(lin);
        if (he) nn_init_kaiming_uniform(w, gain, rng);
        else nn_init_xavier_uniform(w, gain, rng);
        nn_init_zeros(nn_linear_bias(lin));
        if (i + 2 < n_sizes && act != NN_IDENTITY) {
            nn_module *a = nn_activation_new(act);
            if (!a || nn_sequential_add(seq, a) != NN_OK) {
                nn_module_free(a);
                nn_module_free(seq);
                return NULL;
            }
        }
    }
    return seq;
}
