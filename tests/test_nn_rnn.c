/* nn recurrent layers: LSTM and GRU cells and the sequence runner —
 * gradient checks with respect to the input, the initial state and the
 * parameters, PyTorch's values (nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell),
 * the runner against stepping by hand, truncated backpropagation through
 * time with the state kept across ag_tape_reset, save/load, errors. */
#include "layer_reference.h"
#include "nn_check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- like torch */

/* nn_rnn_run (or, for cells, nn_cell_step) from fill() inputs against the
 * reference: outputs, input and state gradients, parameter gradients. */
static void assert_like_torch(nn_module *m, nn_params *ps, const tu_ref *r, bool lstm, bool sequence,
                              int seed_x, int seed_h, int64_t B, int64_t T) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = sequence ? tu_filled(t, 3, (const int64_t[]){B, T, 3}, seed_x, 1)
                            : tu_filled(t, 2, (const int64_t[]){B, 3}, seed_x, 1);
    ag_tensor *h0 = tu_filled(t, 2, (const int64_t[]){B, 4}, seed_h, 1);
    ag_tensor *c0 = lstm ? tu_filled(t, 2, (const int64_t[]){B, 4}, seed_h + 1, 1) : NULL;
    nn_rnn_state init = {h0, c0}, fin;
    ag_tensor *outs[3];
    int n = 0;
    if (sequence) {
        outs[n++] = nn_rnn_run(m, t, x, &init, &fin);
        tu_assert_values("y", outs[0], false, tu_ref_get(r, "out", "y"), 1e-10);
    } else {
        nn_cell_step(m, t, x, &init, &fin);
    }
    outs[n++] = fin.h;
    tu_assert_values("h", fin.h, false, tu_ref_get(r, "out", "h"), 1e-10);
    if (lstm) {
        outs[n++] = fin.c;
        tu_assert_values("c", fin.c, false, tu_ref_get(r, "out", "c"), 1e-10);
    } else {
        ck_assert_ptr_null(fin.c);
    }
    nn_params_zero_grad(ps);
    ck_assert_int_eq(ag_backward(t, tu_ref_loss(t, n, outs)), AG_OK);
    tu_assert_values("dx", x, true, tu_ref_get(r, "din", "x"), 1e-10);
    tu_assert_values("dh0", h0, true, tu_ref_get(r, "din", "h0"), 1e-10);
    if (lstm) tu_assert_values("dc0", c0, true, tu_ref_get(r, "din", "c0"), 1e-10);
    tu_assert_param_grads(ps, "m", r, 1e-10);
    ag_tape_free(t);
}

START_TEST(lstm_like_torch) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_module *lstm = nn_lstm_new(ps, "m", 3, 4, true, AG_F64, &r);
    ck_assert_ptr_nonnull(lstm);
    const char *names[] = {"m.weight_ih_l0", "m.weight_hh_l0", "m.bias_ih_l0", "m.bias_hh_l0"};
    for (int i = 0; i < 4; i++) ck_assert_str_eq(nn_params_name_at(ps, (size_t)i), names[i]);
    /* Held (in, 4H) here; PyTorch's (4H, in). */
    ck_assert_int_eq(ag_dim(nn_params_at(ps, 0), 0), 3);
    ck_assert_int_eq(ag_dim(nn_params_at(ps, 0), 1), 16);
    ck_assert_ptr_eq(nn_params_torch_layout(ps, names[0]), &nn_torch_transpose);
    tu_set_torch_params(ps, 50);
    assert_like_torch(lstm, ps, &ref_lstm, true, true, 6, 7, 2, 5);
    nn_module_free(lstm);
    nn_params_free(ps);
}
END_TEST

START_TEST(gru_like_torch) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_module *gru = nn_gru_new(ps, "m", 3, 4, true, AG_F64, &r);
    ck_assert_int_eq(ag_dim(nn_params_get(ps, "m.weight_hh_l0"), 1), 12);
    tu_set_torch_params(ps, 50);
    assert_like_torch(gru, ps, &ref_gru, false, true, 6, 7, 2, 5);
    nn_module_free(gru);
    nn_params_free(ps);
}
END_TEST

START_TEST(cells_like_torch) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_params *ps = nn_params_new();
    nn_module *cell = nn_lstm_cell_new(ps, "m", 3, 4, true, AG_F64, &r);
    ck_assert_ptr_nonnull(nn_params_get(ps, "m.weight_ih"));
    tu_set_torch_params(ps, 60);
    assert_like_torch(cell, ps, &ref_lstm_cell, true, false, 9, 10, 2, 1);
    nn_module_free(cell);
    nn_params_free(ps);
    ps = nn_params_new();
    cell = nn_gru_cell_new(ps, "m", 3, 4, true, AG_F64, &r);
    tu_set_torch_params(ps, 70);
    assert_like_torch(cell, ps, &ref_gru_cell, false, false, 9, 10, 2, 1);
    nn_module_free(cell);
    nn_params_free(ps);
}
END_TEST

/* ------------------------------------------------------------- gradients */

typedef struct rnn_ctx {
    nn_module *m;
    bool lstm, with_state;
} rnn_ctx;

/* The runner on inputs (x, h0[, c0]) -> y, concatenated with the last c
 * for an LSTM so that every output of the runner is checked. */
static ag_tensor *run_fn(ag_tape *t, ag_tensor *const *in, void *p) {
    rnn_ctx *c = p;
    nn_rnn_state init = {c->with_state ? in[1] : NULL, c->with_state && c->lstm ? in[2] : NULL}, fin;
    ag_tensor *y = nn_rnn_run(c->m, t, in[0], &init, &fin); // (B, T, H)
    if (!c->lstm || !y) return y;
    ag_tensor *cl = ag_reshape(t, fin.c, 3, (const int64_t[]){ag_dim(y, 0), 1, ag_dim(y, 2)});
    return ag_concat(t, 2, (ag_tensor *const[]){y, cl}, 1);
}

START_TEST(runner_gradcheck) {
    for (int kind = 0; kind < 2; kind++)
        for (int with_state = 0; with_state < 2; with_state++) {
            ag_rng r;
            ag_rng_seed(&r, 10 + kind);
            nn_params *ps = nn_params_new();
            nn_module *m = kind ? nn_gru_new(ps, "rnn", 3, 4, true, AG_F64, &r) : nn_lstm_new(ps, "rnn", 3, 4, true, AG_F64, &r);
            rnn_ctx c = {m, kind == 0, with_state};
            ag_tape *t = ag_tape_new(0);
            ag_tensor *in[3] = {tu_rand(t, &r, 3, (const int64_t[]){2, 3, 3}, -1, 1),
                                tu_rand(t, &r, AG_SHAPE(2, 4), -1, 1), tu_rand(t, &r, AG_SHAPE(2, 4), -1, 1)};
            tu_check_layer(run_fn, &c, with_state ? (kind ? 2 : 3) : 1, in, ps, 24);
            if (with_state) tu_assert_gradgradcheck(run_fn, &c, kind ? 2 : 3, in);
            ag_tape_free(t);
            nn_module_free(m);
            nn_params_free(ps);
        }
}
END_TEST

START_TEST(runner_without_bias) {
    ag_rng r;
    ag_rng_seed(&r, 12);
    for (int kind = 0; kind < 2; kind++) {
        nn_params *ps = nn_params_new();
        nn_module *m = kind ? nn_gru_new(ps, "rnn", 2, 3, false, AG_F64, &r) : nn_lstm_new(ps, "rnn", 2, 3, false, AG_F64, &r);
        ck_assert_uint_eq(nn_params_count(ps), 2);
        rnn_ctx c = {m, kind == 0, false};
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = tu_rand(t, &r, 3, (const int64_t[]){2, 3, 2}, -1, 1);
        tu_check_layer(run_fn, &c, 1, &x, ps, 0);
        ag_tape_free(t);
        nn_module_free(m);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(runner_is_the_steps) {
    /* nn_rnn_run gives what T calls of nn_cell_step give, bit for bit in
     * f64 up to the order of the bias sums. */
    for (int kind = 0; kind < 2; kind++) {
        ag_rng r;
        ag_rng_seed(&r, 20 + kind);
        nn_params *ps = nn_params_new();
        nn_module *m = kind ? nn_gru_cell_new(ps, "c", 3, 5, true, AG_F64, &r) : nn_lstm_cell_new(ps, "c", 3, 5, true, AG_F64, &r);
        ag_tape *t = ag_tape_new(0);
        int64_t B = 2, T = 4;
        ag_tensor *x = tu_rand(t, &r, 3, (const int64_t[]){B, T, 3}, -1, 1);
        nn_rnn_state fin, s = {0};
        ag_tensor *y = nn_rnn_run(m, t, x, NULL, &fin);
        ck_assert_int_eq(ag_dim(y, 1), T);
        ck_assert_int_eq(ag_dim(y, 2), 5);
        for (int64_t k = 0; k < T; k++) {
            ag_tensor *xk = ag_reshape(t, ag_slice(t, x, 1, k, k + 1), 2, (const int64_t[]){B, 3});
            nn_cell_step(m, t, xk, &s, &s);
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < 5; j++)
                    ck_assert_double_eq_tol(ag_get(y, (b * T + k) * 5 + j), ag_get(s.h, b * 5 + j), 1e-14);
        }
        for (int64_t i = 0; i < B * 5; i++) {
            ck_assert_double_eq_tol(ag_get(fin.h, i), ag_get(s.h, i), 1e-14);
            if (!kind) ck_assert_double_eq_tol(ag_get(fin.c, i), ag_get(s.c, i), 1e-14);
        }
        /* A cell's nn_forward is one step from zeros. */
        ag_tensor *x0 = ag_reshape(t, ag_slice(t, x, 1, 0, 1), 2, (const int64_t[]){B, 3});
        ag_tensor *h1 = nn_forward(m, t, x0);
        for (int64_t b = 0; b < B; b++) ck_assert_double_eq_tol(ag_get(h1, b * 5), ag_get(y, b * T * 5), 1e-14);
        ck_assert_int_eq(nn_rnn_hidden(m), 5);
        ag_tape_free(t);
        nn_module_free(m);
        nn_params_free(ps);
    }
}
END_TEST

START_TEST(truncated_bptt) {
    /* Two windows of 3 steps with the state kept in parameters across the
     * reset (nn_assign after the backward) end where one run of 6 steps
     * ends; the second window's gradient stops at its start. */
    ag_rng r;
    ag_rng_seed(&r, 30);
    nn_params *ps = nn_params_new();
    nn_module *m = nn_lstm_new(ps, "lstm", 2, 3, true, AG_F64, &r);
    ag_tensor *kept_h = ag_param_new(AG_F64, AG_SHAPE(1, 3), NULL), *kept_c = ag_param_new(AG_F64, AG_SHAPE(1, 3), NULL);
    double xs[12];
    for (int i = 0; i < 12; i++) xs[i] = ag_rng_uniform(&r) - 0.5;
    ag_tape *t = ag_tape_new(0);
    nn_rnn_state whole;
    nn_rnn_run(m, t, ag_from_doubles(t, AG_F64, 3, (const int64_t[]){1, 6, 2}, xs), NULL, &whole);
    double want[3];
    ag_to_doubles(whole.h, want, 3);
    for (int w = 0; w < 2; w++) {
        ag_tape_reset(t);
        nn_rnn_state init = {ag_tensor_new(t, AG_F64, 2, ag_shape(kept_h), ag_data(kept_h)),
                             ag_tensor_new(t, AG_F64, 2, ag_shape(kept_c), ag_data(kept_c))}, fin;
        ag_requires_grad(t, init.h);
        ag_tensor *y = nn_rnn_run(m, t, ag_from_doubles(t, AG_F64, 3, (const int64_t[]){1, 3, 2}, xs + 6 * w), &init, &fin);
        nn_params_zero_grad(ps);
        ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
        ck_assert(ag_grad_get(init.h, 0) != 0); /* reaches the window's start, no further */
        ck_assert_int_eq(nn_assign(kept_h, fin.h), NN_OK);
        ck_assert_int_eq(nn_assign(kept_c, fin.c), NN_OK);
    }
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(ag_get(kept_h, i), want[i], 1e-14);
    ag_tape_free(t);
    ag_param_free(kept_h);
    ag_param_free(kept_c);
    nn_module_free(m);
    nn_params_free(ps);
}
END_TEST

START_TEST(save_load_round_trip) {
    char path[] = "/tmp/tapegrad-rnn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ag_rng r;
    ag_rng_seed(&r, 40);
    nn_params *a = nn_params_new(), *b = nn_params_new();
    nn_module *ma = nn_gru_new(a, "gru", 3, 4, true, AG_F32, &r), *mb = nn_gru_new(b, "gru", 3, 4, true, AG_F32, &r);
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    ck_assert_int_eq(nn_load(b, path, NULL), NN_OK);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_uniform(t, AG_F32, 3, (const int64_t[]){2, 4, 3}, -1, 1, &r);
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
    /* Every tensor in U(-1/sqrt(H), 1/sqrt(H)), and it uses the range. */
    ag_rng r;
    ag_rng_seed(&r, 50);
    nn_params *ps = nn_params_new();
    nn_module *m = nn_lstm_new(ps, "lstm", 8, 16, true, AG_F64, &r);
    for (size_t i = 0; i < nn_params_count(ps); i++) {
        ag_tensor *p = nn_params_at(ps, i);
        double lo = 1, hi = -1;
        for (int64_t k = 0; k < ag_numel(p); k++) {
            lo = fmin(lo, ag_get(p, k));
            hi = fmax(hi, ag_get(p, k));
        }
        ck_assert(lo >= -0.25 && hi <= 0.25);
        ck_assert(lo < -0.2 && hi > 0.2);
    }
    nn_module_free(m);
    nn_params_free(ps);
}
END_TEST

START_TEST(errors) {
    ag_rng r;
    ag_rng_seed(&r, 60);
    nn_params *ps = nn_params_new();
    ck_assert_ptr_null(nn_lstm_new(ps, "l", 0, 4, true, AG_F64, &r));
    ck_assert_ptr_null(nn_gru_new(ps, "l", 3, 4, true, AG_F64, NULL));
    ck_assert_uint_eq(nn_params_count(ps), 0);
    nn_module *lstm = nn_lstm_new(ps, "l", 3, 4, true, AG_F64, &r), *gru = nn_gru_cell_new(ps, "g", 3, 4, true, AG_F64, &r);
    ck_assert_ptr_null(nn_lstm_new(ps, "l", 3, 4, true, AG_F64, &r));
    ag_tape *t = ag_tape_new(0);
    ck_assert_ptr_null(nn_rnn_run(lstm, t, ag_zeros(t, AG_F64, AG_SHAPE(2, 3)), NULL, NULL));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "x [2, 3]: need (B, T, in), T >= 1, with in = 3"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_rnn_run(lstm, t, ag_zeros(t, AG_F64, 3, (const int64_t[]){2, 0, 3}), NULL, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_reset(t);
    nn_rnn_state bad = {ag_zeros(t, AG_F64, AG_SHAPE(3, 4)), NULL};
    ck_assert_ptr_null(nn_rnn_run(lstm, t, ag_zeros(t, AG_F64, 3, (const int64_t[]){2, 1, 3}), &bad, NULL));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "the state h is f64 [3, 4]; need f64 (2, 4)"));
    ag_tape_reset(t);
    nn_rnn_state with_c = {NULL, ag_zeros(t, AG_F64, AG_SHAPE(2, 4))};
    ck_assert_ptr_null(nn_cell_step(gru, t, ag_zeros(t, AG_F64, AG_SHAPE(2, 3)), &with_c, NULL));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "a GRU has no cell state"));
    ag_tape_reset(t);
    ck_assert_ptr_null(nn_cell_step(gru, t, ag_zeros(t, AG_F32, AG_SHAPE(2, 3)), NULL, NULL));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ag_tape_reset(t);
    nn_module *ln = nn_layer_norm_new(ps, "ln", 1, (const int64_t[]){3}, false, 1e-5, AG_F64);
    ck_assert_ptr_null(nn_rnn_run(ln, t, ag_zeros(t, AG_F64, 3, (const int64_t[]){2, 1, 3}), NULL, NULL));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "not an LSTM or GRU"));
    ck_assert_int_eq(nn_rnn_hidden(ln), 0);
    ag_tape_free(t);
    nn_module_free(ln);
    nn_module_free(lstm);
    nn_module_free(gru);
    nn_params_free(ps);
}
END_TEST

int main(void) {
    Suite *s = suite_create("nn_rnn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, lstm_like_torch);
    tcase_add_test(tc, gru_like_torch);
    tcase_add_test(tc, cells_like_torch);
    tcase_add_test(tc, runner_gradcheck);
    tcase_add_test(tc, runner_without_bias);
    tcase_add_test(tc, runner_is_the_steps);
    tcase_add_test(tc, truncated_bptt);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, init_is_torch_default);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
