/* The backward sweep: the pitfalls of docs/design.md, known values, the
 * functional form, and parameters. */
#include "testutil.h"

#include "backward.h" /* white box: the sweep counter's test hook */

#include <stdlib.h>
#include <string.h>

START_TEST(fan_out_sums_paths) { /* pitfall 1: b = a + a; c = b + b gives 4 */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, ag_scalar(t, 3.0));
    ag_tensor *b = ag_add(t, a, a);
    ag_tensor *c = ag_add(t, b, b);
    ck_assert_int_eq(ag_backward(t, c), AG_OK);
    ck_assert_double_eq(ag_grad_item(a), 4.0);
    ck_assert_double_eq(ag_grad_item(b), 2.0);
    /* b = a * a; c = b * b = a^4: dc/da = 4a^3 */
    ag_tensor *a2 = ag_requires_grad(t, ag_scalar(t, 3.0));
    ag_tensor *b2 = ag_mul(t, a2, a2);
    ck_assert_int_eq(ag_backward(t, ag_mul(t, b2, b2)), AG_OK);
    ck_assert_double_eq(ag_grad_item(a2), 108.0);
    ag_tape_free(t);
}
END_TEST

START_TEST(backward_twice_accumulates_leaves_only) { /* pitfall 2 */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 2.0));
    ag_tensor *h = ag_square(t, x);    /* intermediate: 4 */
    ag_tensor *y = ag_mul_c(t, h, 3.0); /* 12, dy/dx = 6x = 12 */
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 12.0);
    ck_assert_double_eq(ag_grad_item(h), 3.0);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 24.0); /* leaf accumulates, like PyTorch */
    ck_assert_double_eq(ag_grad_item(h), 3.0);  /* intermediate recomputed, not 6 */
    ag_zero_grad(x);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 12.0);
    ag_tape_free(t);
}
END_TEST

START_TEST(million_node_chain) { /* pitfall 3: no recursion */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 0.5));
    ag_tensor *h = x;
    for (int i = 0; i < 1000000; i++) h = ag_mul_c(t, h, 1.0);
    h = ag_add_c(t, h, 0.0);
    ck_assert_int_eq(ag_backward(t, h), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 1.0);
    ck_assert_uint_ge(ag_tape_get_stats(t).nodes, 1000000);
    ag_tape_free(t);
}
END_TEST

START_TEST(broadcast_gradient_reduced) { /* pitfall 4 */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *m = ag_ones(t, AG_F64, AG_SHAPE(3, 4));
    ag_tensor *row = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(4)));
    ag_tensor *s = ag_requires_grad(t, ag_scalar(t, 2.0));
    ag_tensor *y = ag_sum(t, ag_mul(t, ag_add(t, m, row), s), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_int_eq(ag_ndim(row), 1);
    for (int j = 0; j < 4; j++) ck_assert_double_eq(ag_grad_get(row, j), 6.0); /* 3 rows × s */
    ck_assert_double_eq(ag_grad_item(s), 24.0); /* sum of (m + row) = 12 × 2 */
    ag_tape_free(t);
}
END_TEST

START_TEST(param_written_after_record_is_refused) { /* pitfall 6 */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *w = ag_param_scalar(AG_F64, 3.0);
    ag_set_name(t, w, "w");
    ag_tensor *y = ag_square(t, w);
    double *v = ag_data_mut(w); /* an optimizer step between forward and backward */
    v[0] = 4.0;
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "'w'"));
    ck_assert_double_eq(ag_grad_item(w), 0.0);
    ag_tape_reset(t); /* recompute: fine again */
    ck_assert_int_eq(ag_backward(t, ag_square(t, w)), AG_OK);
    ck_assert_double_eq(ag_grad_item(w), 8.0);
    ag_param_free(w);
    ag_tape_free(t);
}
END_TEST

START_TEST(exp_x_squared_known) {
    const double xs[] = {-2, -0.75, 0, 0.5, 1, 1.7};
    ag_tape *t = ag_tape_new(0);
    for (int i = 0; i < 6; i++) {
        ag_tape_reset(t);
        ag_tensor *x = ag_requires_grad(t, ag_scalar(t, xs[i]));
        ck_assert_int_eq(ag_backward(t, ag_exp(t, ag_square(t, x))), AG_OK);
        double expect = 2 * xs[i] * exp(xs[i] * xs[i]);
        ck_assert_double_eq_tol(ag_grad_item(x), expect, 1e-12 * fmax(1, fabs(expect)));
    }
    ag_tape_free(t);
}
END_TEST

/* The textbook two-layer network with squared error C = sum_j (a_j - y_j)^2,
 * sigmoid g at both layers. For an output weight w_jk: dC/dw_jk =
 * 2(a_j - y_j)·g'(z_j)·h_k; for a hidden weight v_ki: dC/dv_ki =
 * sum_j 2(a_j - y_j)·g'(z_j)·w_jk·g'(u_k)·x_i. */
START_TEST(two_layer_network_by_hand) {
    enum { NI = 3, NH = 4, NO = 2 };
    double x[NI] = {0.5, -1.0, 2.0}, y[NO] = {1.0, 0.0};
    double V[NH * NI], W[NO * NH];
    ag_rng r;
    ag_rng_seed(&r, 11);
    for (int i = 0; i < NH * NI; i++) V[i] = ag_rng_normal(&r) * 0.5;
    for (int i = 0; i < NO * NH; i++) W[i] = ag_rng_normal(&r) * 0.5;
    /* By hand. */
    double u[NH], h[NH], z[NO], a[NO];
    for (int k = 0; k < NH; k++) {
        u[k] = 0;
        for (int i = 0; i < NI; i++) u[k] += V[k * NI + i] * x[i];
        h[k] = 1 / (1 + exp(-u[k]));
    }
    for (int j = 0; j < NO; j++) {
        z[j] = 0;
        for (int k = 0; k < NH; k++) z[j] += W[j * NH + k] * h[k];
        a[j] = 1 / (1 + exp(-z[j]));
    }
    /* On the tape, from scalar ops only. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *pV[NH * NI], *pW[NO * NH];
    for (int i = 0; i < NH * NI; i++) pV[i] = ag_param_scalar(AG_F64, V[i]);
    for (int i = 0; i < NO * NH; i++) pW[i] = ag_param_scalar(AG_F64, W[i]);
    ag_tensor *hn[NH], *C = ag_scalar(t, 0);
    for (int k = 0; k < NH; k++) {
        ag_tensor *acc = ag_scalar(t, 0);
        for (int i = 0; i < NI; i++) acc = ag_add(t, acc, ag_mul_c(t, pV[k * NI + i], x[i]));
        hn[k] = ag_sigmoid(t, acc);
    }
    for (int j = 0; j < NO; j++) {
        ag_tensor *acc = ag_scalar(t, 0);
        for (int k = 0; k < NH; k++) acc = ag_add(t, acc, ag_mul(t, pW[j * NH + k], hn[k]));
        C = ag_add(t, C, ag_square(t, ag_add_c(t, ag_sigmoid(t, acc), -y[j])));
    }
    ck_assert_int_eq(ag_backward(t, C), AG_OK);
    for (int j = 0; j < NO; j++)
        for (int k = 0; k < NH; k++) {
            double hand = 2 * (a[j] - y[j]) * a[j] * (1 - a[j]) * h[k];
            ck_assert_double_eq_tol(ag_grad_item(pW[j * NH + k]), hand, 1e-12);
        }
    for (int k = 0; k < NH; k++)
        for (int i = 0; i < NI; i++) {
            double hand = 0; /* the sum over output nodes */
            for (int j = 0; j < NO; j++)
                hand += 2 * (a[j] - y[j]) * a[j] * (1 - a[j]) * W[j * NH + k] * h[k] * (1 - h[k]) * x[i];
            ck_assert_double_eq_tol(ag_grad_item(pV[k * NI + i]), hand, 1e-12);
        }
    for (int i = 0; i < NH * NI; i++) ag_param_free(pV[i]);
    for (int i = 0; i < NO * NH; i++) ag_param_free(pW[i]);
    ag_tape_free(t);
}
END_TEST

START_TEST(functional_grad_leaves_stored_gradients) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}));
    ag_tensor *w = ag_param_scalar(AG_F64, 2.0);
    ag_tensor *y = ag_sum(t, ag_mul(t, ag_square(t, x), w), AG_ALL, false); /* w·Σx² */
    ck_assert_int_eq(ag_backward(t, y), AG_OK);                         /* stored: 2wx, Σx² */
    ag_tensor *g[2];
    ag_tensor *xs[2] = {x, w};
    ck_assert_int_eq(ag_grad(t, y, NULL, 2, xs, g), AG_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(ag_get(g[0], i), 4.0 * (i + 1));
        ck_assert_double_eq(ag_grad_get(x, i), 4.0 * (i + 1)); /* untouched, not doubled */
    }
    ck_assert_double_eq(ag_item(g[1]), 14.0);
    ck_assert_double_eq(ag_grad_item(w), 14.0);
    /* An input y does not depend on is an error (as in PyTorch), or zeros
     * with allow_unused. */
    ag_tensor *z = ag_requires_grad(t, ag_scalar(t, 1.0));
    ck_assert_int_eq(ag_grad(t, y, NULL, 1, &z, g), AG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "was not used"));
    ag_tape_clear_error(t);
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &z, g, &(ag_backward_opts){.allow_unused = true}), AG_OK);
    ck_assert_double_eq(ag_item(g[0]), 0.0);
    ag_param_free(w);
    ag_tape_free(t);
}
END_TEST

START_TEST(seeded_backward_of_tensor_output) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}));
    ag_tensor *y = ag_square(t, x);
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_SHAPE); /* not a scalar, no seed */
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[3]"));
    ag_tape_clear_error(t);
    ag_tensor *seed = ag_from_doubles(t, AG_F64, 1, (int64_t[]){3}, (double[]){1, 10, 100});
    ck_assert_int_eq(ag_backward_seed(t, y, seed), AG_OK);
    ck_assert_double_eq(ag_grad_get(x, 0), 2);
    ck_assert_double_eq(ag_grad_get(x, 1), 40);
    ck_assert_double_eq(ag_grad_get(x, 2), 600);
    ag_tape_free(t);
}
END_TEST

START_TEST(params_survive_reset) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *w = ag_param_new(AG_F32, AG_SHAPE(2), (float[]){1, 2});
    for (int step = 0; step < 3; step++) {
        ag_tape_reset(t);
        ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_square(t, w), AG_ALL, false)), AG_OK);
    }
    ck_assert_double_eq(ag_grad_get(w, 0), 6.0); /* 3 × 2·1, accumulated */
    ck_assert_double_eq(ag_grad_get(w, 1), 12.0);
    ag_zero_grad(w);
    ck_assert_double_eq(ag_grad_get(w, 1), 0.0);
    ag_param_free(w);
    ag_tape_free(t);
}
END_TEST

START_TEST(no_grad_and_detach) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 3.0));
    size_t before = ag_tape_get_stats(t).nodes;
    ag_no_grad_begin(t);
    ag_tensor *y = ag_square(t, x);
    ag_no_grad_end(t);
    ck_assert_double_eq(ag_item(y), 9.0);
    ck_assert_uint_eq(ag_tape_get_stats(t).nodes, before); /* nothing recorded */
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_STATE);
    ag_tape_clear_error(t);
    /* y = x · detach(x): dy/dx = detach(x) = 3, not 2x = 6. */
    ck_assert_int_eq(ag_backward(t, ag_mul(t, x, ag_detach(t, x))), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 3.0);
    ag_tape_free(t);
}
END_TEST

/* The sweep number is 32 bits. The call whose sweep wrapped it renumbered
 * the stamps but then compared them with the number from before the wrap,
 * and returned zeros with status OK (after 2^32 calls on one tape). */
START_TEST(sweep_counter_wrap) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 3.0));
    ag_tensor *v = ag_requires_grad(t, ag_full(t, AG_F64, AG_SHAPE(2), 0.5));
    ag_tensor *h = ag_mul(t, v, x);                 /* an intermediate tensor */
    ag_tensor *y = ag_add(t, ag_mul(t, x, x), ag_sum(t, h, AG_ALL, false));
    ag_tensor *xs[2] = {x, v}, *g[2];
    ck_assert_int_eq(ag_backward(t, y), AG_OK); /* stamps to renumber */
    ag__sweep_test_set_epoch(t, UINT32_MAX - 3);
    for (int k = 0; k < 4; k++) { /* eight sweeps, the wrap among them */
        ck_assert_int_eq(ag_grad(t, y, NULL, 2, xs, g), AG_OK);
        ck_assert_double_eq(ag_item(g[0]), 7.0); /* 2x + sum(v) */
        ck_assert_double_eq(ag_get(g[1], 1), 3.0);
        ag_tensor *gh;
        ck_assert_int_eq(ag_grad(t, y, NULL, 1, &h, &gh), AG_OK);
        ck_assert_double_eq(ag_get(gh, 0), 1.0);
    }
    ck_assert_double_eq(ag_grad_item(x), 7.0); /* the first backward's, untouched */
    ag_tensor *other = ag_mul_c(t, x, 2.0);
    ag__sweep_test_set_epoch(t, UINT32_MAX);
    ck_assert_int_eq(ag_backward(t, other), AG_OK); /* wraps without reaching h */
    ck_assert_double_eq(ag_grad_get(h, 1), 1.0); /* reached before the wrap: still readable */
    ck_assert_double_eq(ag_grad_item(x), 9.0);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 16.0);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("backward");
    TCase *tc = tcase_create("backward");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fan_out_sums_paths);
    tcase_add_test(tc, backward_twice_accumulates_leaves_only);
    tcase_add_test(tc, million_node_chain);
    tcase_add_test(tc, broadcast_gradient_reduced);
    tcase_add_test(tc, param_written_after_record_is_refused);
    tcase_add_test(tc, exp_x_squared_known);
    tcase_add_test(tc, two_layer_network_by_hand);
    tcase_add_test(tc, functional_grad_leaves_stored_gradients);
    tcase_add_test(tc, seeded_backward_of_tensor_output);
    tcase_add_test(tc, params_survive_reset);
    tcase_add_test(tc, no_grad_and_detach);
    tcase_add_test(tc, sweep_counter_wrap);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
