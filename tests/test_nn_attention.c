/* nn attention: multi-head self-attention and the pre-LN transformer block
 * — gradient checks with respect to the input and the parameters,
 * PyTorch's values (nn.MultiheadAttention, nn.TransformerEncoderLayer with
 * norm_first), the causal mask (no output depends on a later position, in
 * value or gradient), PyTorch's names, save/load, errors. */
#include "layer_reference.h"
#include "nn_check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ag_tensor *module_fn(ag_tape *t, ag_tensor *const *in, void *ctx) { return nn_forward(ctx, t, in[0]); }

static void assert_like_torch(nn_module *m, nn_params *ps, const tu_ref *r, int seed) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_filled(t, 3, (const int64_t[]){2, 5, 8}, seed, 1);
    ag_tensor *y = nn_forward(m, t, x);
    ck_assert_msg(y != NULL, "%s: %s", r->name, ag_tape_error(t));
    tu_assert_values(r->name, y, false, tu_ref_get(r, "out", "y"), 1e-10);
    nn_params_zero_grad(ps);
    ck_assert_int_eq(ag_backward(t, tu_ref_loss(t, 1, &y)), AG_OK);
    tu_assert_values("dx", x, true, tu_ref_get(r, "din", "x"), 1e-10);
    tu_assert_param_grads(ps, "m", r, 1e-10);
    ag_tape_free(t);
}

START_TEST(attention_like_torch) {
    for (int causal = 0; causal < 2; causal++) {
        ag_rng r;
        ag_rng_seed(&r, 1);
        nn_params *ps = nn_params_new();
        nn_module *mha = nn_self_attention_new(ps, "m", 8, 2, causal, true, AG_F64, &r);
        ck_assert_ptr_nonnull(mha);
        const char *names[] = {"m.in_proj_weight", "m.in_proj_bias", "m.out_proj.weight", "m.out_proj.bias"};
        for (int i = 0; i < 4; i++) ck_assert_str_eq(nn_params_name_at(ps, (size_t)i), names[i]);
        ck_assert_double_eq(ag_get(nn_params_get(ps, "m.in_proj_bias"), 5), 0); /* PyTorch's zeros */
        tu_set_torch_params(ps, 80);
        assert_like_torch(mha, ps, causal ? &ref_mha_causal : &ref_mha, 12);
        nn_module_free(mha);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(transformer_block_like_torch) {
    ag_rng r;
    ag_rng_seed(&r, 2);
    nn_params *ps = nn_params_new();
    nn_module *blk = nn_transformer_block_new(ps, "m", 8, 2, 16, true, AG_F64, &r);
    ck_assert_ptr_nonnull(blk);
    ck_assert_uint_eq(nn_params_count(ps), 12);
    ck_assert_str_eq(nn_params_name_at(ps, 4), "m.linear1.weight");
    ck_assert_str_eq(nn_params_name_at(ps, 11), "m.norm2.bias");
    tu_set_torch_params(ps, 100);
    assert_like_torch(blk, ps, &ref_transformer_block, 13);
    nn_module_free(blk);
    nn_params_free(ps);
}
END_TEST

START_TEST(attention_gradcheck) {
    for (int causal = 0; causal < 2; causal++) {
        ag_rng r;
        ag_rng_seed(&r, 3 + causal);
        nn_params *ps = nn_params_new();
        nn_module *mha = nn_self_attention_new(ps, "a", 6, 3, causal, true, AG_F64, &r);
        /* Biases away from their zero initialisation, so they matter. */
        nn_init_uniform(nn_params_get(ps, "a.in_proj_bias"), -0.5, 0.5, &r);
        nn_init_uniform(nn_params_get(ps, "a.out_proj.bias"), -0.5, 0.5, &r);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, 3, (const int64_t[]){2, 4, 6}, -1, 1);
        tu_check_layer(module_fn, mha, 1, &x, ps, 30);
        tu_assert_gradgradcheck(module_fn, mha, 1, &x);
        ag_tape_free(t);
        nn_module_free(mha);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(transformer_block_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 5);
    nn_params *ps = nn_params_new();
    nn_module *blk = nn_transformer_block_new(ps, "b", 4, 2, 8, true, AG_F64, &r);
    for (size_t i = 0; i < nn_params_count(ps); i++)
        if (strstr(nn_params_name_at(ps, i), "norm") || strstr(nn_params_name_at(ps, i), "proj_bias") ||
            strstr(nn_params_name_at(ps, i), "out_proj.bias"))
            nn_init_uniform(nn_params_at(ps, i), 0.5, 1.5, &r);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, 3, (const int64_t[]){2, 3, 4}, -1, 1);
    tu_check_layer(module_fn, blk, 1, &x, ps, 16);
    ag_tape_free(t);
    nn_module_free(blk);
    nn_params_free(ps);
}
END_TEST

START_TEST(causal_mask) {
    /* With the mask, output position i depends on inputs 0..i only: the
     * Jacobian block d y_i / d x_j is zero for j > i and not for j <= i,
     * and changing a later input leaves every earlier output exactly as
     * it was. Without the mask, later inputs do matter. */
    for (int causal = 0; causal < 2; causal++) {
        ag_rng r;
        ag_rng_seed(&r, 6);
        nn_params *ps = nn_params_new();
        nn_module *mha = nn_self_attention_new(ps, "a", 4, 2, causal, true, AG_F64, &r);
        const int64_t T = 5, E = 4;
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = ag_requires_grad(t, tu_rand(t, &r, 3, (const int64_t[]){1, T, E}, -1, 1));
        ag_tensor *y = nn_forward(mha, t, x);
        for (int64_t i = 0; i < T; i++) {
            ag_tensor *yi = ag_sum(t, ag_slice(t, y, 1, i, i + 1), AG_ALL, false), *g;
            ck_assert_int_eq(ag_grad(t, yi, NULL, 1, &x, &g), AG_OK);
            for (int64_t j = 0; j < T; j++) {
                double norm = 0;
                for (int64_t e = 0; e < E; e++) norm += fabs(ag_get(g, j * E + e));
                if (causal && j > i) ck_assert_msg(norm == 0, "d y_%lld / d x_%lld = %g", (long long)i, (long long)j, norm);
                else ck_assert_msg(norm > 0, "d y_%lld / d x_%lld is zero", (long long)i, (long long)j);
            }
        }
        double xv[20];
        ag_to_doubles(x, xv, T * E);
        xv[(T - 1) * E] += 1; /* the last position only */
        ag_tensor *y2 = nn_forward(mha, t, ag_from_doubles(t, AG_F64, 3, (const int64_t[]){1, T, E}, xv));
        bool earlier_changed = false;
        for (int64_t k = 0; k < (T - 1) * E; k++) earlier_changed |= ag_get(y2, k) != ag_get(y, k);
        ck_assert(earlier_changed == !causal);
        ag_tape_free(t);
        nn_module_free(mha);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(causal_mask_f32_anomaly_free) {
    /* The mask is finite: a causal block in f32 leaves no NaN or infinity
     * and its first row attends only to itself. */
    ag_rng r;
    ag_rng_seed(&r, 7);
    nn_params *ps = nn_params_new();
    nn_module *blk = nn_transformer_block_new(ps, "b", 8, 2, 16, true, AG_F32, &r);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_uniform(t, AG_F32, 3, (const int64_t[]){2, 6, 8}, -3, 3, &r));
    ag_tensor *y = nn_forward(blk, t, x);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_square(t, y), AG_ALL, false)), AG_OK);
    for (int64_t i = 0; i < ag_numel(y); i++) ck_assert(isfinite(ag_get(y, i)) && isfinite(ag_grad_get(x, i)));
    ag_tape_free(t);
    nn_module_free(blk);
    nn_params_free(ps);
}
END_TEST

START_TEST(save_load_in_torch_layout) {
    if (!nn_safetensors_available()) return;
    char path[] = "/tmp/tapegrad-blk-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ag_rng r;
    ag_rng_seed(&r, 8);
    nn_params *a = nn_params_new(), *b = nn_params_new();
    nn_module *ma = nn_transformer_block_new(a, "blk", 8, 4, 32, true, AG_F32, &r);
    nn_module *mb = nn_transformer_block_new(b, "blk", 8, 4, 32, true, AG_F32, &r);
    nn_safetensors_opts torch = {.layout = NN_LAYOUT_PYTORCH};
    ck_assert_int_eq(nn_save_safetensors(a, path, &torch), NN_OK);
    ck_assert_int_eq(nn_load_safetensors(b, path, &torch), NN_OK);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_uniform(t, AG_F32, 3, (const int64_t[]){2, 3, 8}, -1, 1, &r);
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

START_TEST(errors) {
    ag_rng r;
    ag_rng_seed(&r, 9);
    nn_params *ps = nn_params_new();
    ck_assert_ptr_null(nn_self_attention_new(ps, "a", 6, 4, false, true, AG_F64, &r));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "multiple of heads"));
    ck_assert_ptr_null(nn_transformer_block_new(ps, "b", 8, 2, 0, false, AG_F64, &r));
    ck_assert_uint_eq(nn_params_count(ps), 0);
    nn_module *mha = nn_self_attention_new(ps, "a", 6, 2, false, false, AG_F64, &r);
    ck_assert_uint_eq(nn_params_count(ps), 2);
    ck_assert_ptr_null(nn_transformer_block_new(ps, "a.x", 6, 2, 4, false, AG_F64, NULL));
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_null(nn_forward(mha, t, ag_zeros(t, AG_F64, AG_SHAPE(2, 6))));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "need x (B, T, E)"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_forward(mha, t, ag_zeros(t, AG_F64, 3, (const int64_t[]){1, 2, 5})));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_free(t);
    nn_module_free(mha);
    nn_params_free(ps);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_attention");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, attention_like_torch);
    tcase_add_test(tc, transformer_block_like_torch);
    tcase_add_test(tc, attention_gradcheck);
    tcase_add_test(tc, transformer_block_gradcheck);
    tcase_add_test(tc, causal_mask);
    tcase_add_test(tc, causal_mask_f32_anomaly_free);
    tcase_add_test(tc, save_load_in_torch_layout);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
