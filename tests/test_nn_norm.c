/* nn layers: LayerNorm, BatchNorm1d/2d (with the store's buffers) and
 * Embedding — gradient checks with respect to inputs and parameters,
 * PyTorch's values, train/eval semantics, running statistics saved with the
 * model and never touched by an optimizer, and errors. */
#include "layer_reference.h"
#include "nn_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* -------------------------------------------------------------- helpers */

static ag_tensor *module_fn(ag_tape *t, ag_tensor *const *in, void *ctx) { return nn_forward(ctx, t, in[0]); }

/* Runs the module on fill(shape, seed) and asserts its output, the input's
 * gradient and the parameters' gradients against reference r. */
static void assert_like_torch(nn_module *m, nn_params *ps, const tu_ref *r, int ndim, const int64_t *shape,
                              int seed, double scale) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_filled(t, ndim, shape, seed, scale);
    ag_tensor *y = nn_forward(m, t, x);
    ck_assert_msg(y != NULL, "%s: %s", r->name, ag_tape_error(t));
    tu_assert_values(r->name, y, false, tu_ref_get(r, "out", "y"), 1e-10);
    nn_params_zero_grad(ps);
    ck_assert_int_eq(ag_backward(t, tu_ref_loss(t, 1, &y)), AG_OK);
    tu_assert_values("dx", x, true, tu_ref_get(r, "din", "x"), 1e-10);
    tu_assert_param_grads(ps, "m", r, 1e-10);
    ag_tape_free(t);
}

/* ------------------------------------------------------------ layer norm */

START_TEST(layer_norm_like_torch) {
    nn_params *ps = nn_params_new();
    nn_module *ln = nn_layer_norm_new(ps, "m", 1, (const int64_t[]){4}, true, NN_NORM_EPS, AG_F64);
    ck_assert_ptr_nonnull(ln);
    /* PyTorch's initialisation: weight ones, bias zeros. */
    ck_assert_double_eq(ag_get(nn_params_get(ps, "m.weight"), 3), 1);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "m.bias"), 3), 0);
    tu_set_torch_params(ps, 10);
    assert_like_torch(ln, ps, &ref_layer_norm, 3, (const int64_t[]){2, 3, 4}, 1, 1);
    nn_module_free(ln);
    nn_params_free(ps);

    ps = nn_params_new(); /* over the last two axes */
    ln = nn_layer_norm_new(ps, "m", 2, (const int64_t[]){3, 4}, true, NN_NORM_EPS, AG_F64);
    tu_set_torch_params(ps, 20);
    assert_like_torch(ln, ps, &ref_layer_norm2, 3, (const int64_t[]){2, 3, 4}, 2, 1);
    nn_module_free(ln);
    nn_params_free(ps);
}
END_TEST

START_TEST(layer_norm_gradcheck) {
    for (int axes = 1; axes <= 2; axes++) {
        nn_params *ps = nn_params_new();
        char prefix[8];
        snprintf(prefix, sizeof prefix, "ln%d", axes);
        nn_module *ln = nn_layer_norm_new(ps, prefix, axes, (const int64_t[]){3, 4} + (2 - axes), true, 1e-5, AG_F64);
        ag_rng r;
        ag_rng_seed(&r, 3);
        nn_init_uniform(nn_params_at(ps, nn_params_count(ps) - 2), 0.5, 1.5, &r);
        nn_init_uniform(nn_params_at(ps, nn_params_count(ps) - 1), -0.5, 0.5, &r);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, 3, (const int64_t[]){2, 3, 4}, -2, 2);
        tu_check_layer(module_fn, ln, 1, &x, ps, 0);
        tu_assert_gradgradcheck(module_fn, ln, 1, &x);
        ag_tape_free(t);
        nn_module_free(ln);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(layer_norm_normalises) {
    /* Without affine parameters each row has mean 0 and variance
     * var/(var + eps) (the biased variance, as PyTorch). */
    nn_params *ps = nn_params_new();
    nn_module *ln = nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){5}, false, 1e-5, AG_F64);
    ck_assert_uint_eq(nn_params_count(ps), 0);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = nn_forward(ln, t, ag_from_doubles(t, AG_F64, AG_SHAPE(1, 5), (const double[]){1, 2, 3, 4, 5}));
    double mean = 0, var = 0;
    for (int i = 0; i < 5; i++) mean += ag_get(y, i) / 5;
    for (int i = 0; i < 5; i++) var += (ag_get(y, i) - mean) * (ag_get(y, i) - mean) / 5;
    ck_assert_double_eq_tol(mean, 0, 1e-15);
    ck_assert_double_eq_tol(var, 2 / (2 + 1e-5), 1e-12);
    ck_assert_double_eq_tol(ag_get(y, 0), -2 / sqrt(2 + 1e-5), 1e-12);
    ag_tape_free(t);
    nn_module_free(ln);
    nn_params_free(ps);
}
END_TEST

START_TEST(layer_norm_errors) {
    nn_params *ps = nn_params_new();
    ck_assert_ptr_null(nn_layer_norm_new(ps, "ln", 0, (const int64_t[]){4}, true, 1e-5, AG_F64));
    ck_assert_ptr_null(nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){0}, true, 1e-5, AG_F64));
    ck_assert_ptr_null(nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){4}, true, -1, AG_F64));
    ck_assert_ptr_null(nn_layer_norm_new(NULL, "ln", 1, (const int64_t[]){4}, true, 1e-5, AG_F64));
    ck_assert_uint_eq(nn_params_count(ps), 0);
    nn_module *ln = nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){4}, true, 1e-5, AG_F64);
    ck_assert_ptr_null(nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){4}, true, 1e-5, AG_F64));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "already registered"));
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_null(nn_forward(ln, t, ag_zeros(t, AG_F64, AG_SHAPE(2, 3))));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[4] does not fit the last 1 axes of x [2, 3]"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_layer_norm(t, ag_zeros(t, AG_F64, AG_SHAPE(2, 3)), 3, NULL, NULL, 1e-5));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_forward(ln, t, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_free(t);
    nn_module_free(ln);
    nn_params_free(ps);
}
END_TEST

/* ------------------------------------------------------------ batch norm */

/* BatchNorm's reference sequence (gen_layer_reference.py): a training
 * forward on fill(3) (checked with its gradients), a second on fill(4)·2,
 * then the running statistics, then an evaluation forward on fill(5). */
static void batch_norm_case(nn_module *bn, nn_params *ps, const tu_ref *train, const tu_ref *eval, int ndim,
                            const int64_t *shape) {
    tu_set_torch_params(ps, 30);
    assert_like_torch(bn, ps, train, ndim, shape, 3, 1);
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_nonnull(nn_forward(bn, t, tu_filled(t, ndim, shape, 4, 2)));
    ag_tape_free(t);
    tu_assert_values("running_mean", nn_params_get(ps, "m.running_mean"), false,
                     tu_ref_get(train, "buffer", "running_mean"), 1e-12);
    tu_assert_values("running_var", nn_params_get(ps, "m.running_var"), false,
                     tu_ref_get(train, "buffer", "running_var"), 1e-12);
    tu_assert_values("num_batches_tracked", nn_params_get(ps, "m.num_batches_tracked"), false,
                     tu_ref_get(train, "buffer", "num_batches_tracked"), 0);
    nn_module_set_training(bn, false);
    assert_like_torch(bn, ps, eval, ndim, shape, 5, 1);
}

START_TEST(batch_norm_like_torch) {
    struct {
        bool two_d;
        const tu_ref *train, *eval;
        int ndim;
        int64_t shape[4];
    } cases[] = {{false, &ref_batch_norm1d, &ref_batch_norm1d_eval, 3, {4, 3, 5}},
                 {false, &ref_batch_norm1d_2d, &ref_batch_norm1d_2d_eval, 2, {6, 3}},
                 {true, &ref_batch_norm2d, &ref_batch_norm2d_eval, 4, {3, 2, 4, 4}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_params *ps = nn_params_new();
        int64_t c = cases[i].shape[1];
        nn_module *bn = cases[i].two_d ? nn_batch_norm2d_new(ps, "m", c, NN_NORM_EPS, 0.1, true, AG_F64)
                                       : nn_batch_norm1d_new(ps, "m", c, NN_NORM_EPS, 0.1, true, AG_F64);
        ck_assert_ptr_nonnull(bn);
        /* PyTorch's state_dict order, and its initial values. */
        const char *names[] = {"m.weight", "m.bias", "m.running_mean", "m.running_var", "m.num_batches_tracked"};
        ck_assert_uint_eq(nn_params_count(ps), 5);
        for (size_t k = 0; k < 5; k++) {
            ck_assert_str_eq(nn_params_name_at(ps, k), names[k]);
            ck_assert(nn_params_is_buffer_at(ps, k) == (k >= 2));
        }
        ck_assert_int_eq(nn_params_numel(ps), 2 * c);
        ck_assert_double_eq(ag_get(nn_params_get(ps, "m.running_var"), 0), 1);
        ck_assert_double_eq(ag_get(nn_params_get(ps, "m.weight"), 0), 1);
        batch_norm_case(bn, ps, cases[i].train, cases[i].eval, cases[i].ndim, cases[i].shape);
        nn_module_free(bn);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(batch_norm_gradcheck) {
    for (int mode = 0; mode < 2; mode++) {
        nn_params *ps = nn_params_new();
        nn_module *bn = nn_batch_norm2d_new(ps, "bn", 2, 1e-5, 0.1, true, AG_F64);
        ag_rng r;
        ag_rng_seed(&r, 4);
        nn_init_uniform(nn_params_get(ps, "bn.weight"), 0.5, 1.5, &r);
        nn_init_uniform(nn_params_get(ps, "bn.bias"), -0.5, 0.5, &r);
        nn_init_uniform(nn_params_get(ps, "bn.running_mean"), -0.5, 0.5, &r);
        nn_init_uniform(nn_params_get(ps, "bn.running_var"), 0.5, 1.5, &r);
        nn_module_set_training(bn, mode == 0);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, 4, (const int64_t[]){3, 2, 2, 3}, -2, 2);
        tu_check_layer(module_fn, bn, 1, &x, ps, 0);
        /* No gradient reaches the buffers, in either mode. */
        ck_assert_double_eq(ag_grad_get(nn_params_get(ps, "bn.running_mean"), 0), 0);
        ck_assert_double_eq(ag_grad_get(nn_params_get(ps, "bn.running_var"), 1), 0);
        ag_tape_free(t);
        nn_module_free(bn);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(batch_norm_modes) {
    nn_params *ps = nn_params_new();
    nn_module *bn = nn_batch_norm1d_new(ps, "bn", 2, 0, 0.5, false, AG_F64);
    ck_assert_uint_eq(nn_params_count(ps), 3); /* buffers only */
    ck_assert_int_eq(nn_params_numel(ps), 0);
    ag_tape *t = ag_tape_new(0);
    /* Channel 0: 1, 3 (mean 2, biased var 1, unbiased 2); channel 1: 2, 2. */
    ag_tensor *x = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 2), (const double[]){1, 2, 3, 2});
    ag_tensor *y = nn_forward(bn, t, x);
    ck_assert_double_eq_tol(ag_get(y, 0), -1, 1e-15); /* (1 - 2) / sqrt(1) */
    ck_assert_double_eq_tol(ag_get(y, 2), 1, 1e-15);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "bn.running_mean"), 0), 0.5 * 0 + 0.5 * 2);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "bn.running_var"), 0), 0.5 * 1 + 0.5 * 2);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "bn.running_var"), 1), 0.5);
    /* Evaluation uses the running statistics and changes nothing. */
    nn_module_set_training(bn, false);
    ag_tape_reset(t);
    y = nn_forward(bn, t, ag_from_doubles(t, AG_F64, AG_SHAPE(1, 2), (const double[]){2.5, 1})); // one sample is fine
    ck_assert_double_eq_tol(ag_get(y, 0), (2.5 - 1) / sqrt(1.5), 1e-15);
    ck_assert_double_eq_tol(ag_get(y, 1), (1 - 1) / sqrt(0.5), 1e-15);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "bn.running_mean"), 0), 1);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "bn.num_batches_tracked"), 0), 1);
    /* A training batch of one value per channel is refused, as PyTorch does. */
    nn_module_set_training(bn, true);
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_forward(bn, t, ag_zeros(t, AG_F64, AG_SHAPE(1, 2))));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "more than 1 value per channel"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_forward(bn, t, ag_zeros(t, AG_F64, AG_SHAPE(4, 3))));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "x [4, 3]: need (N, C) or (N, C, L) with C = 2"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_forward(bn, t, ag_zeros(t, AG_F32, AG_SHAPE(4, 2))));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ag_tape_free(t);
    nn_module_free(bn);
    nn_params_free(ps);
}
END_TEST

START_TEST(batch_norm_buffers_not_trained) {
    /* AdamW's decoupled decay would move every tensor it holds; the buffers
     * are not among them. Nor does clipping see them. */
    nn_params *ps = nn_params_new();
    nn_module *bn = nn_batch_norm1d_new(ps, "bn", 2, 1e-5, 0.1, true, AG_F32);
    nn_optim_opts o = nn_adamw_opts(0.1);
    o.weight_decay = 0.5;
    nn_optim *opt = nn_optim_new(ps, &o);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F32, AG_SHAPE(3, 2), (const double[]){1, 2, 3, 4, 5, 7});
    ag_tensor *y = nn_forward(bn, t, x);
    nn_optim_zero_grad(opt);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, y), AG_ALL, false)), AG_OK);
    float rm = (float)ag_get(nn_params_get(ps, "bn.running_mean"), 1), rv = (float)ag_get(nn_params_get(ps, "bn.running_var"), 1);
    float w0 = (float)ag_get(nn_params_get(ps, "bn.weight"), 0);
    ck_assert_int_eq(nn_optim_step(opt), NN_OK);
    ck_assert_float_eq(ag_get(nn_params_get(ps, "bn.running_mean"), 1), rm);
    ck_assert_float_eq(ag_get(nn_params_get(ps, "bn.running_var"), 1), rv);
    ck_assert_float_eq(ag_get(nn_params_get(ps, "bn.num_batches_tracked"), 0), 1);
    ck_assert_float_ne(ag_get(nn_params_get(ps, "bn.weight"), 0), w0); /* the weight did move */
    ck_assert_uint_eq(nn_params_trainable(ps, NULL), 2);
    ag_tensor *list[2];
    nn_params_trainable(ps, list);
    ck_assert_ptr_eq(list[0], nn_params_get(ps, "bn.weight"));
    ck_assert_ptr_eq(list[1], nn_params_get(ps, "bn.bias"));
    ag_tape_free(t);
    nn_optim_free(opt);
    nn_module_free(bn);
    nn_params_free(ps);
}
END_TEST

START_TEST(batch_norm_statistics_saved) {
    /* The running statistics go into the file and come back with the
     * model; an evaluation forward then gives the same output. */
    char path[] = "/tmp/tapegrad-bn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    nn_params *ps = nn_params_new();
    nn_module *bn = nn_batch_norm2d_new(ps, "bn", 3, 1e-5, 0.1, true, AG_F32);
    ag_rng r;
    ag_rng_seed(&r, 8);
    ag_tape *t = ag_tape_new(0);
    for (int i = 0; i < 3; i++) {
        ag_tape_reset(t);
        nn_forward(bn, t, ag_uniform(t, AG_F32, 4, (const int64_t[]){4, 3, 2, 2}, -1, 3, &r));
    }
    nn_module_set_training(bn, false);
    ag_tape_reset(t);
    ag_tensor *x = ag_uniform(t, AG_F32, 4, (const int64_t[]){2, 3, 2, 2}, -1, 3, &r);
    ag_tensor *y = nn_forward(bn, t, x);
    ck_assert_int_eq(nn_save(ps, path), NN_OK);

    nn_params *ps2 = nn_params_new();
    nn_module *bn2 = nn_batch_norm2d_new(ps2, "bn", 3, 1e-5, 0.1, true, AG_F32);
    nn_module_set_training(bn2, false);
    ck_assert_int_eq(nn_load(ps2, path, NULL), NN_OK);
    ck_assert_float_eq(ag_get(nn_params_get(ps2, "bn.num_batches_tracked"), 0), 3);
    ck_assert_float_ne(ag_get(nn_params_get(ps2, "bn.running_mean"), 2), 0);
    ag_tensor *y2 = nn_forward(bn2, t, x);
    for (int64_t i = 0; i < ag_numel(y); i++) ck_assert_float_eq(ag_get(y2, i), ag_get(y, i));
    remove(path);
    ag_tape_free(t);
    nn_module_free(bn);
    nn_module_free(bn2);
    nn_params_free(ps);
    nn_params_free(ps2);
}
END_TEST

START_TEST(batch_norm_errors) {
    nn_params *ps = nn_params_new();
    ck_assert_ptr_null(nn_batch_norm1d_new(ps, "bn", 0, 1e-5, 0.1, true, AG_F64));
    ck_assert_ptr_null(nn_batch_norm1d_new(ps, "bn", 2, 1e-5, 1.5, true, AG_F64));
    ck_assert_ptr_null(nn_batch_norm2d_new(ps, NULL, 2, 1e-5, 0.1, true, AG_F64));
    ck_assert_uint_eq(nn_params_count(ps), 0);
    nn_params_create(ps, "bn.running_var", AG_F64, AG_SHAPE(2), NULL);
    ck_assert_ptr_null(nn_batch_norm2d_new(ps, "bn", 2, 1e-5, 0.1, true, AG_F64));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'bn.running_var' is already registered"));
    ck_assert_uint_eq(nn_params_count(ps), 1);
    nn_module *bn = nn_batch_norm2d_new(ps, "b2", 2, 1e-5, 0.1, true, AG_F64);
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_null(nn_forward(bn, t, ag_zeros(t, AG_F64, AG_SHAPE(4, 2, 3))));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "need (N, C, H, W) with C = 2"));
    ag_tape_free(t);
    nn_module_free(bn);
    nn_params_free(ps);
}
END_TEST

/* ------------------------------------------------------------- embedding */

START_TEST(embedding_like_torch) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_module *emb = nn_embedding_new(ps, "m", 7, 3, AG_F64, &r);
    tu_set_torch_params(ps, 40);
    const int64_t idx[] = {1, 0, 6, 3, 1, 1};
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = nn_embedding_lookup(emb, t, 2, (const int64_t[]){2, 3}, idx);
    ck_assert_int_eq(ag_ndim(y), 3);
    ck_assert_int_eq(ag_dim(y, 2), 3);
    tu_assert_values("embedding", y, false, tu_ref_get(&ref_embedding, "out", "y"), 1e-12);
    nn_params_zero_grad(ps);
    ck_assert_int_eq(ag_backward(t, tu_ref_loss(t, 1, &y)), AG_OK);
    tu_assert_param_grads(ps, "m", &ref_embedding, 1e-12);
    /* The same through nn_forward, the indices held as numbers. */
    ag_tape_reset(t);
    ag_tensor *x = ag_from_doubles(t, AG_F32, AG_SHAPE(2, 3), (const double[]){1, 0, 6, 3, 1, 1});
    ag_tensor *y2 = nn_forward(emb, t, x);
    tu_assert_values("embedding (forward)", y2, false, tu_ref_get(&ref_embedding, "out", "y"), 1e-12);
    ag_tape_free(t);
    nn_module_free(emb);
    nn_params_free(ps);
}
END_TEST

static ag_tensor *embedding_fn(ag_tape *t, ag_tensor *const *in, void *ctx) {
    (void)ctx;
    return nn_embedding(t, in[0], 5, (const int64_t[]){2, 0, 2, 3, 2});
}

START_TEST(embedding_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 2);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *w = tu_rand(t, &r, AG_SHAPE(4, 3), -1, 1);
    tu_assert_gradcheck(embedding_fn, NULL, 1, &w);
    /* Row 2 picked three times gets three upstream rows; row 1 none. */
    ag_requires_grad(t, w);
    ag_tensor *y = embedding_fn(t, &w, NULL);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    ck_assert_double_eq(ag_grad_get(w, 2 * 3), 3);
    ck_assert_double_eq(ag_grad_get(w, 1 * 3), 0);
    ag_tape_free(t);
}
END_TEST

START_TEST(embedding_errors) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 1);
    ck_assert_ptr_null(nn_embedding_new(ps, "e", 0, 3, AG_F64, &r));
    ck_assert_ptr_null(nn_embedding_new(ps, "e", 3, 3, AG_F64, NULL));
    nn_module *emb = nn_embedding_new(ps, "e", 4, 2, AG_F64, &r);
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_null(nn_embedding_lookup(emb, t, 1, (const int64_t[]){2}, (const int64_t[]){1, 4}));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "index 4 at position 1 is outside [0, 4)"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_embedding_lookup(emb, t, 1, (const int64_t[]){1}, (const int64_t[]){-1}));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_forward(emb, t, ag_from_doubles(t, AG_F64, AG_SHAPE(2), (const double[]){1, 0.5})));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "index 1 of x is 0.5, not an integer"));
    ag_tape_reset(t);
    nn_module *ln = nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){2}, false, 1e-5, AG_F64);
    ck_assert_ptr_null(nn_embedding_lookup(ln, t, 1, (const int64_t[]){1}, (const int64_t[]){0}));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_free(t);
    nn_module_free(ln);
    nn_module_free(emb);
    nn_params_free(ps);
}
END_TEST

/* ---------------------------------------------------------------- assign */

START_TEST(assign_copies_into_a_parameter) {
    ag_tensor *p = ag_param_new(AG_F32, AG_SHAPE(2), NULL);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_from_doubles(t, AG_F32, AG_SHAPE(2), (const double[]){1.5, -2});
    uint32_t v = ag_param_version(p);
    ck_assert_int_eq(nn_assign(p, x), NN_OK);
    ck_assert_uint_gt(ag_param_version(p), v);
    ag_tape_reset(t); /* the value outlives the tape */
    ck_assert_float_eq(ag_get(p, 1), -2);
    x = ag_from_doubles(t, AG_F32, AG_SHAPE(2), (const double[]){1.5, -2}); /* the reset freed the old x */
    ck_assert_int_eq(nn_assign(p, ag_zeros(t, AG_F32, AG_SHAPE(3))), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "does not take a f32 [3]"));
    ck_assert_int_eq(nn_assign(p, ag_zeros(t, AG_F64, AG_SHAPE(2))), NN_ERR_ARG);
    ck_assert_int_eq(nn_assign(ag_zeros(t, AG_F32, AG_SHAPE(2)), x), NN_ERR_ARG);
    ck_assert_int_eq(nn_assign(NULL, x), NN_ERR_NULL);
    ag_tape_free(t);
    ag_param_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_norm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, layer_norm_like_torch);
    tcase_add_test(tc, layer_norm_gradcheck);
    tcase_add_test(tc, layer_norm_normalises);
    tcase_add_test(tc, layer_norm_errors);
    tcase_add_test(tc, batch_norm_like_torch);
    tcase_add_test(tc, batch_norm_gradcheck);
    tcase_add_test(tc, batch_norm_modes);
    tcase_add_test(tc, batch_norm_buffers_not_trained);
    tcase_add_test(tc, batch_norm_statistics_saved);
    tcase_add_test(tc, batch_norm_errors);
    tcase_add_test(tc, embedding_like_torch);
    tcase_add_test(tc, embedding_gradcheck);
    tcase_add_test(tc, embedding_errors);
    tcase_add_test(tc, assign_copies_into_a_parameter);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
