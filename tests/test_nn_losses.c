/* nn losses: hand-computed values, both reductions, gradient checks with
 * respect to predictions and targets, stability at extreme inputs, and
 * errors. */
#include "testutil.h"

#include <tapegrad/nn.h>
#include <string.h>

static ag_tensor *vec(ag_tape *t, int64_t n, const double *v) {
    return ag_from_doubles(t, AG_F64, AG_SHAPE(n), v);
}

/* ------------------------------------------------------------- values */

START_TEST(regression_values) {
    ag_tape *t = ag_tape_new(0);
    const double p[] = {1, 2, 3, 4}, y[] = {1.5, 1, 3, 2}; /* d = -0.5, 1, 0, 2 */
    ag_tensor *P = vec(t, 4, p), *Y = vec(t, 4, y);
    ck_assert_double_eq_tol(ag_item(nn_mse_loss(t, P, Y, NN_MEAN)), (0.25 + 1 + 0 + 4) / 4, 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_mse_loss(t, P, Y, NN_SUM)), 5.25, 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_mae_loss(t, P, Y, NN_MEAN)), (0.5 + 1 + 0 + 2) / 4, 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_mae_loss(t, P, Y, NN_SUM)), 3.5, 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_rmse_loss(t, P, Y, NN_MEAN)), sqrt(5.25 / 4), 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_rmse_loss(t, P, Y, NN_SUM)), sqrt(5.25), 1e-15);
    /* Huber, delta 1: 0.5·0.25, then 0.5·1 (the edge), 0, 1·(2 - 0.5). */
    ck_assert_double_eq_tol(ag_item(nn_huber_loss(t, P, Y, 1.0, NN_SUM)), 0.125 + 0.5 + 0 + 1.5, 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_huber_loss(t, P, Y, 1.0, NN_MEAN)), 2.125 / 4, 1e-15);
    /* delta 0.25: every nonzero |d| is outside: 0.25·(|d| - 0.125). */
    ck_assert_double_eq_tol(ag_item(nn_huber_loss(t, P, Y, 0.25, NN_SUM)),
                            0.25 * (0.5 - 0.125) + 0.25 * (1 - 0.125) + 0.25 * (2 - 0.125), 1e-15);
    /* A 0-d result, and f32 works too. */
    ag_tensor *l = nn_mse_loss(t, P, Y, NN_MEAN);
    ck_assert_int_eq(ag_ndim(l), 0);
    ag_tensor *l32 = nn_mse_loss(t, ag_from_doubles(t, AG_F32, AG_SHAPE(2, 2), p),
                                 ag_from_doubles(t, AG_F32, AG_SHAPE(2, 2), y), NN_MEAN);
    ck_assert_int_eq(ag_dtype_of(l32), AG_F32);
    ck_assert_double_eq_tol(ag_item(l32), 1.3125, 1e-6);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

START_TEST(bce_values) {
    ag_tape *t = ag_tape_new(0);
    const double p[] = {0.9, 0.2, 0.6, 0.3}, y[] = {1, 0, 1, 0.5};
    double want = -(log(0.9) + log(0.8) + log(0.6) + 0.5 * log(0.3) + 0.5 * log(0.7));
    ag_tensor *P = vec(t, 4, p), *Y = vec(t, 4, y);
    ck_assert_double_eq_tol(ag_item(nn_bce_loss(t, P, Y, NN_SUM)), want, 1e-14);
    ck_assert_double_eq_tol(ag_item(nn_bce_loss(t, P, Y, NN_MEAN)), want / 4, 1e-14);

    /* Probabilities 0 and 1 on the wrong side: clamped, finite, -log(eps). */
    const double pe[] = {0, 1}, ye[] = {1, 0};
    double eps = NN_PROB_EPS_F64;
    ag_tensor *le = nn_bce_loss(t, vec(t, 2, pe), vec(t, 2, ye), NN_SUM);
    ck_assert(isfinite(ag_item(le)));
    ck_assert_double_eq_tol(ag_item(le), -log(eps) - log(1 - (1 - eps)), 1e-12);
    /* ... and on the right side about 0. */
    ag_tensor *lr = nn_bce_loss(t, vec(t, 2, pe), vec(t, 2, (const double[]){0, 1}), NN_SUM);
    ck_assert_double_lt(ag_item(lr), 1e-11);
    /* f32: 1 - eps still below 1, so finite too. */
    ag_tensor *l32 = nn_bce_loss(t, ag_from_doubles(t, AG_F32, AG_SHAPE(2), pe),
                                 ag_from_doubles(t, AG_F32, AG_SHAPE(2), ye), NN_SUM);
    ck_assert(isfinite(ag_item(l32)));

    /* With logits: per element log(1 + e^-z) for y = 1, log(1 + e^z) for y = 0. */
    const double z[] = {2, -1, 0, 0.5}, yz[] = {1, 0, 1, 0.25};
    double wz = log1p(exp(-2)) + log1p(exp(-1)) + log(2) + (0.25 * log1p(exp(-0.5)) + 0.75 * log1p(exp(0.5)));
    ag_tensor *Z = vec(t, 4, z);
    ck_assert_double_eq_tol(ag_item(nn_bce_with_logits_loss(t, Z, vec(t, 4, yz), NN_SUM)), wz, 1e-14);
    ck_assert_double_eq_tol(ag_item(nn_bce_with_logits_loss(t, Z, vec(t, 4, yz), NN_MEAN)), wz / 4, 1e-14);
    /* It equals BCE of the sigmoid where that is accurate. */
    ck_assert_double_eq_tol(ag_item(nn_bce_with_logits_loss(t, Z, vec(t, 4, yz), NN_SUM)),
                            ag_item(nn_bce_loss(t, ag_sigmoid(t, Z), vec(t, 4, yz), NN_SUM)), 1e-12);

    /* Huge logits: finite loss and gradient. Wrong side costs |z|, right side 0. */
    ag_tensor *H = ag_requires_grad(t, vec(t, 4, (const double[]){1000, -1000, 1e300, -1e300}));
    ag_tensor *lh = nn_bce_with_logits_loss(t, H, vec(t, 4, (const double[]){0, 1, 1, 0}), NN_SUM);
    ck_assert_double_eq_tol(ag_item(lh), 2000, 1e-9);
    ck_assert_int_eq(ag_backward(t, lh), AG_OK);
    const double g[] = {1, -1, 0, 0}; /* sigmoid(z) - y */
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(ag_grad_get(H, i), g[i], 1e-12);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

START_TEST(cross_entropy_values) {
    ag_tape *t = ag_tape_new(0);
    const double p[] = {0.7, 0.2, 0.1, 0.1, 0.3, 0.6};
    const double y[] = {1, 0, 0, 0, 0, 1};
    ag_tensor *P = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), p);
    ag_tensor *Y = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), y);
    ck_assert_double_eq_tol(ag_item(nn_categorical_cross_entropy(t, P, Y, NN_MEAN)), -(log(0.7) + log(0.6)) / 2,
                            1e-15);
    ck_assert_double_eq_tol(ag_item(nn_categorical_cross_entropy(t, P, Y, NN_SUM)), -(log(0.7) + log(0.6)), 1e-15);
    /* A zero probability on the target class is clamped: finite. */
    const double p0[] = {0, 1, 0, 0.5, 0.5, 0};
    ck_assert(isfinite(ag_item(nn_categorical_cross_entropy(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), p0), Y,
                                                             NN_SUM))));

    /* Sparse from logits: logsumexp(z) - z_label per row. */
    const double z[] = {1, 2, 3, 1, -1, 0.5};
    const int64_t labels[] = {2, 0};
    ag_tensor *Z = ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), z);
    double r0 = log(exp(1) + exp(2) + exp(3)) - 3, r1 = log(exp(1) + exp(-1) + exp(0.5)) - 1;
    ck_assert_double_eq_tol(ag_item(nn_sparse_cross_entropy(t, Z, 2, labels, NN_MEAN)), (r0 + r1) / 2, 1e-15);
    ck_assert_double_eq_tol(ag_item(nn_sparse_cross_entropy(t, Z, 2, labels, NN_SUM)), r0 + r1, 1e-15);
    /* ... equals categorical CE of the softmax and the one-hot of the same classes. */
    ag_tensor *oh = ag_one_hot(t, AG_F64, 2, labels, 3);
    ck_assert_double_eq_tol(ag_item(nn_categorical_cross_entropy(t, ag_softmax(t, Z, 1), oh, NN_MEAN)),
                            ag_item(nn_sparse_cross_entropy(t, Z, 2, labels, NN_MEAN)), 1e-14);
    /* Huge logits stay finite (stable log-softmax). */
    const double zh[] = {1000, -1000, 0, 0, 0, 5000};
    ag_tensor *lh = nn_sparse_cross_entropy(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2, 3), zh), 2,
                                            (const int64_t[]){1, 0}, NN_SUM);
    ck_assert_double_eq_tol(ag_item(lh), 2000 + 5000, 1e-9);
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

/* -------------------------------------------------------- gradient checks */

typedef enum { MSE, MAE, RMSE, HUBER, BCE, BCE_LOGITS, CATEGORICAL, SPARSE } loss_kind;

typedef struct loss_ctx {
    loss_kind kind;
    nn_reduction red;
} loss_ctx;

static const int64_t sparse_labels[] = {2, 0, 1, 2};

static ag_tensor *loss_fn(ag_tape *t, ag_tensor *const *in, void *ctx) {
    loss_ctx *c = ctx;
    switch (c->kind) {
    case MSE: return nn_mse_loss(t, in[0], in[1], c->red);
    case MAE: return nn_mae_loss(t, in[0], in[1], c->red);
    case RMSE: return nn_rmse_loss(t, in[0], in[1], c->red);
    case HUBER: return nn_huber_loss(t, in[0], in[1], 0.5, c->red);
    case BCE: return nn_bce_loss(t, in[0], in[1], c->red);
    case BCE_LOGITS: return nn_bce_with_logits_loss(t, in[0], in[1], c->red);
    case CATEGORICAL: return nn_categorical_cross_entropy(t, in[0], in[1], c->red);
    case SPARSE: return nn_sparse_cross_entropy(t, in[0], 4, sparse_labels, c->red);
    }
    return NULL;
}

START_TEST(losses_gradcheck) {
    ag_rng r;
    ag_rng_seed(&r, 12);
    ag_tape *t = ag_tape_new(0);
    for (int red = NN_MEAN; red <= NN_SUM; red++) {
        /* Regression: predictions and targets far enough apart to miss the
         * kinks (|d| = 0 for MAE, |d| = delta for Huber is smooth anyway). */
        ag_tensor *pred = tu_rand(t, &r, AG_SHAPE(4, 3), -2, 2);
        double yv[12];
        for (int i = 0; i < 12; i++) yv[i] = ag_get(pred, i) + (i % 2 ? 1 : -1) * (0.1 + 0.15 * (i % 5));
        ag_tensor *reg[] = {pred, ag_from_doubles(t, AG_F64, AG_SHAPE(4, 3), yv)};
        loss_kind rk[] = {MSE, MAE, RMSE, HUBER, BCE_LOGITS};
        for (size_t k = 0; k < 5; k++) {
            loss_ctx c = {rk[k], (nn_reduction)red};
            tu_assert_gradcheck(loss_fn, &c, 2, reg);
        }
        /* Probabilities in (0.05, 0.95), targets in [0, 1]. */
        ag_tensor *prob[] = {tu_rand(t, &r, AG_SHAPE(4, 3), 0.05, 0.95), tu_rand(t, &r, AG_SHAPE(4, 3), 0, 1)};
        loss_ctx cb = {BCE, (nn_reduction)red};
        tu_assert_gradcheck(loss_fn, &cb, 2, prob);
        loss_ctx cc = {CATEGORICAL, (nn_reduction)red};
        tu_assert_gradcheck(loss_fn, &cc, 2, prob);
        ag_tensor *logits[] = {tu_rand(t, &r, AG_SHAPE(4, 3), -3, 3)};
        loss_ctx cs = {SPARSE, (nn_reduction)red};
        tu_assert_gradcheck(loss_fn, &cs, 1, logits);
    }
    ag_tape_free(t);
}
END_TEST

START_TEST(known_gradients) {
    /* MSE mean: dL/dp = 2d/n; sparse CE mean: (softmax - one_hot)/B. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *P = ag_requires_grad(t, vec(t, 3, (const double[]){1, 2, 3}));
    ck_assert_int_eq(ag_backward(t, nn_mse_loss(t, P, vec(t, 3, (const double[]){0, 2, 5}), NN_MEAN)), AG_OK);
    const double gm[] = {2.0 / 3, 0, -4.0 / 3};
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(ag_grad_get(P, i), gm[i], 1e-15);
    const double z[] = {1, 2, 3};
    ag_tensor *Z = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(1, 3), z));
    ck_assert_int_eq(ag_backward(t, nn_sparse_cross_entropy(t, Z, 1, (const int64_t[]){1}, NN_MEAN)), AG_OK);
    double s = exp(1) + exp(2) + exp(3);
    ck_assert_double_eq_tol(ag_grad_get(Z, 0), exp(1) / s, 1e-15);
    ck_assert_double_eq_tol(ag_grad_get(Z, 1), exp(2) / s - 1, 1e-15);
    ck_assert_double_eq_tol(ag_grad_get(Z, 2), exp(3) / s, 1e-15);
    ag_tape_free(t);
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(loss_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_ones(t, AG_F64, AG_SHAPE(4, 1)), *b = ag_ones(t, AG_F64, AG_SHAPE(4));
    /* (B, 1) against (B): an error, not a silent (B, B) broadcast. */
    ck_assert_ptr_null(nn_mse_loss(t, a, b, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "mse_loss"));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[4, 1]"));
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "[4]"));
    /* A later call with a NULL input keeps the first error. */
    ck_assert_ptr_null(nn_bce_loss(t, NULL, b, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);

    ag_tensor *(*pair[])(ag_tape *, ag_tensor *, ag_tensor *, nn_reduction) = {
        nn_mse_loss, nn_mae_loss, nn_rmse_loss, nn_bce_loss, nn_bce_with_logits_loss, nn_categorical_cross_entropy};
    for (size_t i = 0; i < sizeof pair / sizeof *pair; i++) {
        ck_assert_ptr_null(pair[i](t, a, b, NN_SUM));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
        ag_tape_clear_error(t);
        ck_assert_ptr_null(pair[i](t, b, NULL, NN_SUM));
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
        ag_tape_clear_error(t);
        ck_assert_ptr_null(pair[i](NULL, b, b, NN_SUM));
    }
    ck_assert_ptr_null(nn_mse_loss(t, b, b, (nn_reduction)7));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_huber_loss(t, b, b, 0, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "delta"));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_mse_loss(t, b, ag_ones(t, AG_F32, AG_SHAPE(4)), NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_DTYPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_mse_loss(t, ag_ones(t, AG_F64, AG_SHAPE(0)), ag_ones(t, AG_F64, AG_SHAPE(0)), NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_categorical_cross_entropy(t, b, b, NN_MEAN)); /* 1-D */
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);

    /* Sparse: bad class index, count, shape, NULL labels. */
    ag_tensor *z = ag_zeros(t, AG_F64, AG_SHAPE(3, 5));
    ck_assert_ptr_null(nn_sparse_cross_entropy(t, z, 3, (const int64_t[]){0, 5, 1}, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ck_assert_ptr_nonnull(strstr(ag_tape_error(t), "label 5 of row 1 is outside [0, 5)"));
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_sparse_cross_entropy(t, z, 3, (const int64_t[]){0, -1, 1}, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_AXIS);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_sparse_cross_entropy(t, z, 2, (const int64_t[]){0, 1}, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_sparse_cross_entropy(t, b, 4, (const int64_t[]){0, 0, 0, 0}, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_SHAPE);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_sparse_cross_entropy(t, z, 3, NULL, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_clear_error(t);
    ck_assert_ptr_null(nn_sparse_cross_entropy(t, NULL, 3, (const int64_t[]){0, 1, 2}, NN_MEAN));
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
    ag_tape_free(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_losses");
    TCase *c = tcase_create("losses");
    tcase_add_test(c, regression_values);
    tcase_add_test(c, bce_values);
    tcase_add_test(c, cross_entropy_values);
    tcase_add_test(c, losses_gradcheck);
    tcase_add_test(c, known_gradients);
    tcase_add_test(c, loss_errors);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
