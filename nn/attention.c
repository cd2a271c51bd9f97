/* Multi-head self-attention (ag_matmul, ag_softmax) and the pre-LN
 * transformer block built on it with nn_layer_norm and nn_linear. */
#include "nn_layer.h"

#include <math.h>
#include <stdlib.h>

/* What a masked score becomes: softmax gives it exactly 0, like -inf, and
 * it stays finite for anomaly mode. */
#define MASKED (-1e30)

/* The (T, T) causal mask: 0 on and below the diagonal, MASKED above. */
static ag_tensor *causal_mask(ag_tape *t, ag_dtype dt, int64_t T) {
    double *m = malloc((size_t)(T * T) * sizeof *m);
    if (!m) return nn__tape_fail(t, AG_ERR_MEMORY, "self_attention", "out of memory for a %lld x %lld mask",
                                 (long long)T, (long long)T);
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) m[i * T + j] = j > i ? MASKED : 0;
    ag_tensor *mask = ag_from_doubles(t, dt, 2, (const int64_t[]){T, T}, m);
    free(m);
    return mask;
}

/* Projection k (0: q, 1: k, 2: v) of x (B, T, E) with block k of w_in
 * (E, 3E) and b_in (3E) (NULL: none), times `scale`, split into heads and
 * permuted by perm from (B, T, heads, D). Slicing the (E, E) weight block
 * costs less than slicing the (B, T, 3E) projection when B·T > E, and the
 * scale goes on the weight block too. */
static ag_tensor *project(ag_tape *t, ag_tensor *x, ag_tensor *w_in, ag_tensor *b_in, int k, double scale,
                          int64_t heads, const int *perm) {
    int64_t B = ag_dim(x, 0), T = ag_dim(x, 1), E = ag_dim(x, 2);
    ag_tensor *w = ag_slice(t, w_in, 1, k * E, (k + 1) * E), *b = b_in ? ag_slice(t, b_in, 0, k * E, (k + 1) * E) : NULL;
    if (scale != 1) {
        w = ag_mul_c(t, w, scale);
        if (b) b = ag_mul_c(t, b, scale);
    }
    ag_tensor *p = nn_linear(t, x, w, b);                                    // (B, T, E)
    p = ag_reshape(t, p, 4, (const int64_t[]){B, T, heads, E / heads});     // (B, T, heads, D), a view
    return ag_permute(t, p, perm);
}

ag_tensor *nn_self_attention(ag_tape *t, ag_tensor *x, int64_t heads, bool causal, ag_tensor *w_in,
                             ag_tensor *b_in, ag_tensor *w_out, ag_tensor *b_out) {
    const char *op = "self_attention";
    ag_tensor *need[] = {x, w_in, w_out};
    if (!nn__inputs_ok(t, op, 3, need)) return NULL;
    char sx[96], s1[96], s2[96], sb[96];
    int64_t E = ag_dim(x, -1);
    if (ag_ndim(x) != 3 || heads < 1 || E % heads != 0 || ag_ndim(w_in) != 2 || ag_dim(w_in, 0) != E ||
        ag_dim(w_in, 1) != 3 * E || ag_ndim(w_out) != 2 || ag_dim(w_out, 0) != E || ag_dim(w_out, 1) != E)
        return nn__tape_fail(t, AG_ERR_SHAPE, op, "x %s, %lld heads, in_proj %s, out_proj %s: need x (B, T, E) "
                             "with E a multiple of heads, in_proj (E, 3E) and out_proj (E, E)",
                             NN__SHAPE(x, sx), (long long)heads, NN__SHAPE(w_in, s1), NN__SHAPE(w_out, s2));
    if (b_in && (ag_ndim(b_in) != 1 || ag_dim(b_in, 0) != 3 * E))
        return nn__tape_fail(t, AG_ERR_SHAPE, op, "in_proj_bias %s does not fit E = %lld (need (3E))",
                             NN__SHAPE(b_in, sb), (long long)E);
    int64_t B = ag_dim(x, 0), T = ag_dim(x, 1), D = E / heads;
    static const int to_heads[] = {0, 2, 1, 3};  // (B, heads, T, D)
    static const int to_keys[] = {0, 2, 3, 1};   // (B, heads, D, T): k already transposed
    ag_tensor *q = project(t, x, w_in, b_in, 0, 1 / sqrt((double)D), heads, to_heads);
    ag_tensor *k = project(t, x, w_in, b_in, 1, 1, heads, to_keys);
    ag_tensor *v = project(t, x, w_in, b_in, 2, 1, heads, to_heads);
    ag_tensor *scores = ag_matmul(t, q, k); // (B, heads, T, T)
    if (causal) scores = ag_add(t, scores, causal_mask(t, ag_dtype_of(x), T));
    ag_tensor *ctx = ag_matmul(t, ag_softmax(t, scores, -1), v);                 // (B, heads, T, D)
    ctx = ag_permute(t, ctx, to_heads);                                          // (B, T, heads, D)
    ctx = ag_reshape(t, ctx, 3, (const int64_t[]){B, T, E});                     // heads side by side
    return nn_linear(t, ctx, w_out, b_out);                                      // (B, T, E)
}

/* The four tensors of torch.nn.MultiheadAttention. */
typedef struct attn_params {
    ag_tensor *w_in, *b_in, *w_out, *b_out; /* biases NULL without bias */
} attn_params;

/* Registers "<prefix>.in_proj_weight", ... with PyTorch's initialisation
 * (see nn_layers.h). The names were checked free. */
static bool attn_params_new(nn_params *ps, const char *W, const char *prefix, int64_t E, bool bias, ag_dtype dt,
                            ag_rng *rng, attn_params *a) {
    char name[NN_NAME_MAX + 2];
    a->w_in = nn__param(ps, W, prefix, "in_proj_weight", dt, 2, (const int64_t[]){E, 3 * E}, false);
    if (!a->w_in) return false;
    nn_init_xavier_uniform(a->w_in, 1, rng);
    nn__param_name(name, W, prefix, "in_proj_weight");
    nn_params_set_torch_layout(ps, name, &nn_torch_transpose);
    if (bias && !(a->b_in = nn__param(ps, W, prefix, "in_proj_bias", dt, 1, (const int64_t[]){3 * E}, false)))
        return false;
    a->w_out = nn__param(ps, W, prefix, "out_proj.weight", dt, 2, (const int64_t[]){E, E}, false);
    if (!a->w_out) return false;
    nn_init_uniform(a->w_out, -1 / sqrt((double)E), 1 / sqrt((double)E), rng);
    nn__param_name(name, W, prefix, "out_proj.weight");
    nn_params_set_torch_layout(ps, name, &nn_torch_transpose);
    return !bias || (a->b_out = nn__param(ps, W, prefix, "out_proj.bias", dt, 1, (const int64_t[]){E}, false));
}

static const char *const attn_leaves[] = {"in_proj_weight", "out_proj.weight", "in_proj_bias", "out_proj.bias"};

/* The constructor's checks of the sizes. */
static bool sizes_ok(const char *W, const char *prefix, int64_t E, int64_t heads, ag_rng *rng) {
    if (rng && E >= 1 && heads >= 1 && E % heads == 0 && E <= INT64_MAX / 4) return true;
    nn__fail(!rng ? NN_ERR_NULL : NN_ERR_ARG, "%s: '%s': %s", W, prefix,
             !rng ? "the generator is NULL" : "need embed >= 1 a multiple of heads >= 1");
    return false;
}

typedef struct attention {
    nn_module base;
    int64_t heads;
    bool causal;
    attn_params p;
} attention;

static ag_tensor *attention_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    attention *a = (attention *)m;
    return nn_self_attention(t, x, a->heads, a->causal, a->p.w_in, a->p.b_in, a->p.w_out, a->p.b_out);
}

nn_module *nn_self_attention_new(nn_params *ps, const char *prefix, int64_t embed, int64_t heads, bool causal,
                                 bool bias, ag_dtype dtype, ag_rng *rng) {
    const char *W = "self_attention_new";
    if (!nn__names_free(ps, W, prefix, bias ? 4 : 2, attn_leaves) || !sizes_ok(W, prefix, embed, heads, rng))
        return NULL;
    attention *a = nn__module_new(sizeof *a, W, "self_attention", attention_forward);
    if (!a) return NULL;
    a->heads = heads;
    a->causal = causal;
    if (!attn_params_new(ps, W, prefix, embed, bias, dtype, rng, &a->p)) {
        nn_module_free(&a->base);
        return NULL;
    }
    return &a->base;
}

/* ----------------------------------------------------- transformer block */

typedef struct block {
    nn_module base;
    int64_t heads;
    bool causal;
    attn_params attn;
    ag_tensor *w1, *b1, *w2, *b2;             /* (E, ff), (ff), (ff, E), (E) */
    ag_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* (E) */
} block;

static ag_tensor *block_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    block *k = (block *)m;
    if (!nn__inputs_ok(t, "transformer_block", 1, &x)) return NULL;
    ag_tensor *a = nn_layer_norm(t, x, 1, k->ln1_w, k->ln1_b, NN_NORM_EPS);
    x = ag_add(t, x, nn_self_attention(t, a, k->heads, k->causal, k->attn.w_in, k->attn.b_in, k->attn.w_out,
                                       k->attn.b_out));                                // (B, T, E)
    ag_tensor *f = nn_linear(t, nn_layer_norm(t, x, 1, k->ln2_w, k->ln2_b, NN_NORM_EPS), k->w1, k->b1); // (B, T, ff)
    return ag_add(t, x, nn_linear(t, ag_gelu(t, f), k->w2, k->b2));
}

/* A Linear's weight and bias "<prefix>.<leaf>.weight" / ".bias", with
 * nn_linear_new's initialisation and PyTorch layout. */
static bool linear_params(nn_params *ps, const char *W, const char *prefix, const char *leaf, int64_t in,
                          int64_t out, ag_dtype dt, ag_rng *rng, ag_tensor **w, ag_tensor **b) {
    char sub[NN_NAME_MAX + 2], name[NN_NAME_MAX + 2];
    if (!nn__param_name(sub, W, prefix, leaf)) return false;
    *w = nn__param(ps, W, sub, "weight", dt, 2, (const int64_t[]){in, out}, false);
    *b = *w ? nn__param(ps, W, sub, "bias", dt, 1, (const int64_t[]){out}, false) : NULL;
    if (!*b) return false;
    double bound = 1 / sqrt((double)in);
    nn_init_uniform(*w, -bound, bound, rng);
    nn_init_uniform(*b, -bound, bound, rng);
    nn__param_name(name, W, sub, "weight");
    nn_params_set_torch_layout(ps, name, &nn_torch_transpose);
    return true;
}

/* A LayerNorm's ones and zeros "<prefix>.<leaf>.weight" / ".bias". */
static bool norm_params(nn_params *ps, const char *W, const char *prefix, const char *leaf, int64_t E, ag_dtype dt,
                        ag_tensor **w, ag_tensor **b) {
    char sub[NN_NAME_MAX + 2];
    if (!nn__param_name(sub, W, prefix, leaf)) return false;
    *w = nn__param(ps, W, sub, "weight", dt, 1, &E, false);
    *b = *w ? nn__param(ps, W, sub, "bias", dt, 1, &E, false) : NULL;
    if (*w) nn_init_constant(*w, 1);
    return *b != NULL;
}

nn_module *nn_transformer_block_new(nn_params *ps, const char *prefix, int64_t embed, int64_t heads, int64_t ff,
                                    bool causal, ag_dtype dtype, ag_rng *rng) {
    const char *W = "transformer_block_new";
    static const char *const leaves[] = {
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
        "linear1.weight",           "linear1.bias",           "linear2.weight",            "linear2.bias",
        "norm1.weight",             "norm1.bias",             "norm2.weight",              "norm2.bias"};
    if (!nn__names_free(ps, W, prefix, 12, leaves) || !sizes_ok(W, prefix, embed, heads, rng)) return NULL;
    if (ff < 1) {
        nn__fail(NN_ERR_ARG, "%s: '%s': the feed-forward size must be >= 1 (got %lld)", W, prefix, (long long)ff);
        return NULL;
    }
    block *k = nn__module_new(sizeof *k, W, "transformer_block", block_forward);
    if (!k) return NULL;
    k->heads = heads;
    k->causal = causal;
    char sub[NN_NAME_MAX + 2];
    /* In PyTorch's registration order, so files list them alike. */
    bool ok = nn__param_name(sub, W, prefix, "self_attn") &&
              attn_params_new(ps, W, sub, embed, true, dtype, rng, &k->attn) &&
              linear_params(ps, W, prefix, "linear1", embed, ff, dtype, rng, &k->w1, &k->b1) &&
              linear_params(ps, W, prefix, "linear2", ff, embed, dtype, rng, &k->w2, &k->b2) &&
              norm_params(ps, W, prefix, "norm1", embed, dtype, &k->ln1_w, &k->ln1_b) &&
              norm_params(ps, W, prefix, "norm2", embed, dtype, &k->ln2_w, &k->ln2_b);
    if (!ok) {
        nn_module_free(&k->base);
        return NULL;
    }
    return &k->base;
}
