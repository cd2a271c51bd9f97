/* nn convolution and pooling layers: Conv1d, Conv2d (stride, padding or
 * "same", dilation, groups, bias), MaxPool2d, AvgPool2d, Flatten — gradient
 * checks with respect to the input and the parameters, PyTorch's values,
 * PyTorch's names and initialisation, a LeNet-like Sequential saved and
 * loaded, errors. */
#include "layer_reference.h"
#include "nn_check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ag_tensor *module_fn(ag_tape *t, ag_tensor *const *in, void *ctx) { return nn_forward(ctx, t, in[0]); }

/* The module on fill(shape, seed) against reference r (parameters in ps,
 * which may be NULL for a pool). */
static void assert_like_torch(nn_module *m, nn_params *ps, const tu_ref *r, int ndim, const int64_t *shape, int seed) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_filled(t, ndim, shape, seed, 1);
    ag_tensor *y = nn_forward(m, t, x);
    ck_assert_msg(y != NULL, "%s: %s", r->name, ag_tape_error(t));
    tu_assert_values(r->name, y, false, tu_ref_get(r, "out", "y"), 1e-10);
    if (ps) nn_params_zero_grad(ps);
    ck_assert_int_eq(ag_backward(t, tu_ref_loss(t, 1, &y)), AG_OK);
    tu_assert_values("dx", x, true, tu_ref_get(r, "din", "x"), 1e-10);
    if (ps) tu_assert_param_grads(ps, "m", r, 1e-10);
    ag_tape_free(t);
}

START_TEST(conv_like_torch) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_params *ps = nn_params_new();
    nn_module *c = nn_conv1d_new(ps, "m", 4, 6, 3, &(ag_conv1d_opts){.stride = 2, .padding = 1, .groups = 2}, true,
                                 AG_F64, &r);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ag_dim(nn_params_get(ps, "m.weight"), 1), 2); /* (out, in / groups, k) */
    ck_assert_ptr_null(nn_params_torch_layout(ps, "m.weight"));   /* PyTorch's own layout */
    tu_set_torch_params(ps, 110);
    assert_like_torch(c, ps, &ref_conv1d, 3, (const int64_t[]){2, 4, 9}, 14);
    nn_module_free(c);
    nn_params_free(ps);

    ps = nn_params_new();
    c = nn_conv2d_new(ps, "m", 4, 6, 3, 2,
                      &(ag_conv2d_opts){.stride = {1, 2}, .padding = {1, 0}, .dilation = {2, 1}, .groups = 2}, true,
                      AG_F64, &r);
    tu_set_torch_params(ps, 120);
    assert_like_torch(c, ps, &ref_conv2d, 4, (const int64_t[]){2, 4, 7, 6}, 15);
    nn_module_free(c);
    nn_params_free(ps);

    ps = nn_params_new();
    c = nn_conv2d_new(ps, "m", 3, 2, 4, 4, &(ag_conv2d_opts){.same = true}, false, AG_F64, &r);
    ck_assert_uint_eq(nn_params_count(ps), 1);
    tu_set_torch_params(ps, 130);
    assert_like_torch(c, ps, &ref_conv2d_same, 4, (const int64_t[]){1, 3, 5, 6}, 16);
    nn_module_free(c);
    nn_params_free(ps);
}
END_TEST

START_TEST(pool_like_torch) {
    nn_module *p = nn_max_pool2d_new(&(ag_pool2d_opts){.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
    assert_like_torch(p, NULL, &ref_max_pool2d, 4, (const int64_t[]){2, 3, 6, 7}, 17);
    nn_module_free(p);
    p = nn_avg_pool2d_new(&(ag_pool2d_opts){.kernel = {2, 3}, .stride = {2, 1}, .padding = {1, 1}});
    assert_like_torch(p, NULL, &ref_avg_pool2d, 4, (const int64_t[]){2, 3, 6, 7}, 18);
    nn_module_free(p);
}
END_TEST

START_TEST(conv_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 2);
    for (int two_d = 0; two_d < 2; two_d++) {
        nn_params *ps = nn_params_new();
        nn_module *c = two_d ? nn_conv2d_new(ps, "c", 2, 4, 3, 2, &(ag_conv2d_opts){.padding = {1, 1}, .groups = 2},
                                             true, AG_F64, &r)
                             : nn_conv1d_new(ps, "c", 3, 2, 2, &(ag_conv1d_opts){.dilation = 2}, true, AG_F64, &r);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = two_d ? tu_rand(t, &r, 4, (const int64_t[]){2, 2, 4, 3}, -1, 1)
                             : tu_rand(t, &r, 3, (const int64_t[]){2, 3, 6}, -1, 1);
        tu_check_layer(module_fn, c, 1, &x, ps, 0);
        ag_tape_free(t);
        nn_module_free(c);
        nn_params_free(ps);
    }
}
END_TEST

/* A LeNet-like stack: conv, batch norm, relu, max pool, conv, relu, avg
 * pool, flatten, linear, as cnn_mnist builds it at a small size. */
static nn_module *small_cnn(nn_params *ps, ag_dtype dt, ag_rng *r) {
    nn_module *seq = nn_sequential_new();
    nn_module *parts[] = {
        nn_conv2d_new(ps, "c1", 1, 3, 3, 3, &(ag_conv2d_opts){.padding = {1, 1}}, true, dt, r),
        nn_batch_norm2d_new(ps, "bn1", 3, NN_NORM_EPS, 0.1, true, dt),
        nn_activation_new(NN_RELU),
        nn_max_pool2d_new(&(ag_pool2d_opts){.kernel = {2, 2}}),
        nn_conv2d_new(ps, "c2", 3, 4, 2, 2, NULL, true, dt, r),
        nn_activation_new(NN_TANH),
        nn_avg_pool2d_new(&(ag_pool2d_opts){.kernel = {2, 2}, .stride = {1, 1}}),
        nn_flatten_new(),
        nn_linear_new(ps, "fc", 4, 3, true, dt, r),
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        ck_assert_ptr_nonnull(parts[i]);
        ck_assert_int_eq(nn_sequential_add(seq, parts[i]), NN_OK);
    }
    return seq;
}

START_TEST(cnn_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 3);
    nn_params *ps = nn_params_new();
    nn_module *cnn = small_cnn(ps, AG_F64, &r);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, 4, (const int64_t[]){3, 1, 6, 6}, -1, 1);
    tu_check_layer(module_fn, cnn, 1, &x, ps, 12);
    ag_tape_free(t);
    nn_module_free(cnn);
    nn_params_free(ps);
}
END_TEST

START_TEST(cnn_save_load) {
    char path[] = "/tmp/tapegrad-cnn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ag_rng r;
    ag_rng_seed(&r, 4);
    nn_params *a = nn_params_new(), *b = nn_params_new();
    nn_module *ma = small_cnn(a, AG_F32, &r), *mb = small_cnn(b, AG_F32, &r);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_uniform(t, AG_F32, 4, (const int64_t[]){5, 1, 6, 6}, -1, 1, &r);
    nn_forward(ma, t, x); /* moves the running statistics */
    nn_module_set_training(ma, false);
    nn_module_set_training(mb, false);
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    ck_assert_int_eq(nn_load(b, path, NULL), NN_OK);
    ag_tensor *ya = nn_forward(ma, t, x), *yb = nn_forward(mb, t, x);
    for (int64_t i = 0; i < ag_numel(ya); i++) ck_assert_float_eq(ag_get(ya, i), ag_get(yb, i));
    remove(path);
    ag_tape_free(t);
    nn_module_free(ma);
    nn_module_free(mb);
    nn_params_free(a);
    nn_params_free(b);
}
END_TEST

START_TEST(init_is_torch_default) {
    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 / 3 · 5 · 5 = 25. */
    ag_rng r;
    ag_rng_seed(&r, 5);
    nn_params *ps = nn_params_new();
    nn_module *c = nn_conv2d_new(ps, "c", 3, 30, 5, 5, &(ag_conv2d_opts){.groups = 3}, true, AG_F64, &r);
    for (size_t i = 0; i < 2; i++) {
        ag_tensor *p = nn_params_at(ps, i);
        double lo = 1, hi = -1;
        for (int64_t k = 0; k < ag_numel(p); k++) {
            lo = fmin(lo, ag_get(p, k));
            hi = fmax(hi, ag_get(p, k));
        }
        ck_assert(lo >= -0.2 && hi <= 0.2);
        ck_assert(lo < -0.15 && hi > 0.15);
    }
    nn_module_free(c);
    nn_params_free(ps);
}
END_TEST

START_TEST(flatten_unflatten) {
    nn_module *f = nn_flatten_new();
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = nn_forward(f, t, ag_arange(t, AG_F64, 0, 24, 1));
    ck_assert_ptr_null(y);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "need (N, ...) with at least 2 axes"));
    ag_tape_reset(t);
    ag_tensor *x = ag_reshape(t, ag_arange(t, AG_F64, 0, 24, 1), 4, (const int64_t[]){2, 3, 2, 2});
    y = nn_forward(f, t, x);
    ck_assert_int_eq(ag_ndim(y), 2);
    ck_assert_int_eq(ag_dim(y, 1), 12);
    ck_assert_double_eq(ag_get(y, 13), 13);
    /* And back: Unflatten(1, (3, 2, 2)). */
    nn_module *u = nn_unflatten_new(3, (const int64_t[]){3, 2, 2});
    ag_tensor *z = nn_forward(u, t, y);
    ck_assert_int_eq(ag_ndim(z), 4);
    ck_assert_int_eq(ag_dim(z, 0), 2);
    ck_assert_int_eq(ag_dim(z, 3), 2);
    ck_assert_double_eq(ag_get(z, 13), 13);
    ck_assert_ptr_null(nn_forward(u, t, x));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "x [2, 3, 2, 2]: need (N, 12)"));
    ck_assert_ptr_null(nn_unflatten_new(0, (const int64_t[]){1}));
    ck_assert_ptr_null(nn_unflatten_new(2, (const int64_t[]){3, 0}));
    ag_tape_free(t);
    nn_module_free(u);
    nn_module_free(f);
}
END_TEST

START_TEST(errors) {
    ag_rng r;
    ag_rng_seed(&r, 6);
    nn_params *ps = nn_params_new();
    ck_assert_ptr_null(nn_conv2d_new(ps, "c", 3, 4, 3, 3, &(ag_conv2d_opts){.groups = 2}, true, AG_F64, &r));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "multiples of the groups"));
    ck_assert_ptr_null(nn_conv1d_new(ps, "c", 3, 4, 0, NULL, true, AG_F64, &r));
    ck_assert_ptr_null(nn_conv1d_new(ps, "c", 3, 4, 2, NULL, true, AG_F64, NULL));
    ck_assert_ptr_null(nn_max_pool2d_new(NULL));
    ck_assert_ptr_null(nn_avg_pool2d_new(&(ag_pool2d_opts){.kernel = {2, 0}}));
    ck_assert_uint_eq(nn_params_count(ps), 0);
    nn_module *c = nn_conv2d_new(ps, "c", 3, 4, 3, 3, NULL, true, AG_F64, &r);
    ck_assert_ptr_null(nn_conv2d_new(ps, "c", 3, 4, 3, 3, NULL, true, AG_F64, &r));
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_null(nn_forward(c, t, ag_zeros(t, AG_F64, 4, (const int64_t[]){1, 2, 5, 5})));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE); /* the engine's error: channels */
    ag_tape_free(t);
    nn_module_free(c);
    nn_params_free(ps);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_conv");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, conv_like_torch);
    tcase_add_test(tc, pool_like_torch);
    tcase_add_test(tc, conv_gradcheck);
    tcase_add_test(tc, cnn_gradcheck);
    tcase_add_test(tc, cnn_save_load);
    tcase_add_test(tc, init_is_torch_default);
    tcase_add_test(tc, flatten_unflatten);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
