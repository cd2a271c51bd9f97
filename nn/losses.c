/* Losses, each a composition of engine ops ending in a sum or mean. */
#include "nn_tape.h"

#include <math.h>

/* Checks of every two-operand loss: non-NULL, same shape, at least one
 * element. */
static bool pair_ok(ag_tape *t, const char *op, ag_tensor *pred, ag_tensor *target) {
    ag_tensor *xs[] = {pred, target};
    if (!nn__inputs_ok(t, op, 2, xs) || !nn__same_shape(t, op, pred, target)) return false;
    if (ag_numel(pred) == 0) {
        nn__tape_fail(t, AG_ERR_SHAPE, op, "the prediction has no elements");
        return false;
    }
    return true;
}

static double prob_eps(const ag_tensor *x) {
    return ag_dtype_of(x) == AG_F32 ? NN_PROB_EPS_F32 : NN_PROB_EPS_F64;
}

ag_tensor *nn_mse_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, nn_reduction r) {
    if (!pair_ok(t, "mse_loss", pred, target)) return NULL;
    ag_tensor *d = ag_sub(t, pred, target);
    return nn__reduce(t, "mse_loss", ag_square(t, d), r);
}

ag_tensor *nn_mae_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, nn_reduction r) {
    if (!pair_ok(t, "mae_loss", pred, target)) return NULL;
    ag_tensor *d = ag_sub(t, pred, target);
    return nn__reduce(t, "mae_loss", ag_abs(t, d), r);
}

ag_tensor *nn_rmse_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, nn_reduction r) {
    if (!pair_ok(t, "rmse_loss", pred, target)) return NULL;
    ag_tensor *d = ag_sub(t, pred, target);
    return ag_sqrt(t, nn__reduce(t, "rmse_loss", ag_square(t, d), r));
}

ag_tensor *nn_huber_loss(ag_tape *t, ag_tensor *pred, ag_tensor *target, double delta, nn_reduction r) {
    if (!pair_ok(t, "huber_loss", pred, target)) return NULL;
    if (!(delta > 0) || !isfinite(delta))
        return nn__tape_fail(t, AG_ERR_ARG, "huber_loss", "delta = %g must be finite and > 0", delta);
    ag_tensor *a = ag_abs(t, ag_sub(t, pred, target)); // |d|
    ag_tensor *q = ag_clamp(t, a, 0, delta);           // min(|d|, delta)
    /* 0.5·q² + delta·(|d| - q): 0.5·d² inside, delta·(|d| - delta/2) outside */
    ag_tensor *per = ag_add(t, ag_mul_c(t, ag_square(t, q), 0.5), ag_mul_c(t, ag_sub(t, a, q), delta));
    return nn__reduce(t, "huber_loss", per, r);
}

ag_tensor *nn_bce_loss(ag_tape *t, ag_tensor *prob, ag_tensor *target, nn_reduction r) {
    if (!pair_ok(t, "bce_loss", prob, target)) return NULL;
    double eps = prob_eps(prob);
    ag_tensor *p = ag_clamp(t, prob, eps, 1 - eps);
    ag_tensor *pos = ag_mul(t, target, ag_log(t, p));                                // y·log(p)
    ag_tensor *neg = ag_mul(t, ag_rsub_c(t, 1, target), ag_log(t, ag_rsub_c(t, 1, p))); // (1-y)·log(1-p)
    return nn__reduce(t, "bce_loss", ag_neg(t, ag_add(t, pos, neg)), r);
}

ag_tensor *nn_bce_with_logits_loss(ag_tape *t, ag_tensor *logits, ag_tensor *target, nn_reduction r) {
    if (!pair_ok(t, "bce_with_logits_loss", logits, target)) return NULL;
    /* max(z, 0) - z·y + log(1 + e^(-|z|)): no exp of a large positive number */
    ag_tensor *lin = ag_sub(t, ag_relu(t, logits), ag_mul(t, logits, target));
    ag_tensor *soft = ag_softplus(t, ag_neg(t, ag_abs(t, logits)));
    return nn__reduce(t, "bce_with_logits_loss", ag_add(t, lin, soft), r);
}

/* Sums a (B, C) tensor of per-class terms over the classes, then reduces
 * over the rows. */
static ag_tensor *rows_reduce(ag_tape *t, const char *op, ag_tensor *per_class, nn_reduction r) {
    return nn__reduce(t, op, ag_sum(t, per_class, 1, false), r); // (B) -> ()
}

ag_tensor *nn_categorical_cross_entropy(ag_tape *t, ag_tensor *prob, ag_tensor *target, nn_reduction r) {
    const char *op = "categorical_cross_entropy";
    if (!pair_ok(t, op, prob, target)) return NULL;
    char s[96];
    if (ag_ndim(prob) != 2)
        return nn__tape_fail(t, AG_ERR_SHAPE, op, "probabilities %s must be (B, C)",
                             ag_shape_str(prob, s, sizeof s));
    ag_tensor *logp = ag_log(t, ag_clamp(t, prob, prob_eps(prob), 1)); // (B, C)
    return rows_reduce(t, op, ag_neg(t, ag_mul(t, target, logp)), r);
}

ag_tensor *nn_sparse_cross_entropy(ag_tape *t, ag_tensor *logits, int64_t n, const int64_t *labels,
                                   nn_reduction r) {
    const char *op = "sparse_cross_entropy";
    if (!nn__inputs_ok(t, op, 1, &logits)) return NULL;
    if (!labels) return nn__tape_fail(t, AG_ERR_NULL, op, "the labels are NULL");
    char s[96];
    if (ag_ndim(logits) != 2 || ag_dim(logits, 0) != n || n < 1 || ag_dim(logits, 1) < 1)
        return nn__tape_fail(t, AG_ERR_SHAPE, op, "logits %s must be (B, C) with B = %lld labels and C >= 1",
                             ag_shape_str(logits, s, sizeof s), (long long)n);
    int64_t classes = ag_dim(logits, 1);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return nn__tape_fail(t, AG_ERR_AXIS, op, "label %lld of row %lld is outside [0, %lld)",
                                 (long long)labels[i], (long long)i, (long long)classes);
    ag_tensor *logp = ag_log_softmax(t, logits, 1);       // (B, C)
    ag_tensor *picked = ag_gather(t, logp, 1, 1, labels); // (B, 1): log p of each row's label
    return nn__reduce(t, op, ag_neg(t, picked), r);
}
