/* Anomaly mode (ag_tape_set_anomaly): the first NaN or infinity of the
 * forward pass (tensor and scalar ops, no-grad mode), of the backward pass
 * (numeric and functional sweeps, the seed, a custom op's rule) and of a
 * recorded backward (create_graph), each named in the sticky error and the
 * report; off by default; kept across reset. */
#include "testutil.h"

#include <tapegrad/custom_op.h>

#include <string.h>

static void assert_msg(ag_tape *t, const char *a, const char *b, const char *c) {
    const char *msg = ag_tape_error(t);
    ck_assert_int_eq(ag_tape_status(t), AG_ERR_NONFINITE);
    ck_assert_ptr_nonnull(msg);
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (parts[i]) ck_assert_msg(strstr(msg, parts[i]), "'%s' not in '%s'", parts[i], msg);
}

START_TEST(off_by_default) {
    ag_tape *t = ag_tape_new(0);
    ck_assert(!ag_tape_anomaly(t));
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(3), (const double[]){1, 0, 2}));
    ag_tensor *y = ag_log(t, x);
    ck_assert_ptr_nonnull(y);
    ck_assert(isinf(ag_get(y, 1)));
    ck_assert_int_eq(ag_backward(t, ag_sum(t, y, AG_ALL, false)), AG_OK);
    ck_assert(isinf(ag_grad_get(x, 1)));
    ck_assert(!ag_tape_anomaly_report(t).found);
    ag_tape_free(t);
}
END_TEST

START_TEST(forward_tensor) {
    for (int d = 0; d < 2; d++) {
        ag_tape *t = ag_tape_new(0);
        ag_tape_set_anomaly(t, true);
        ck_assert(ag_tape_anomaly(t));
        ag_tensor *x = ag_set_name(t, ag_from_doubles(t, d ? AG_F64 : AG_F32, AG_SHAPE(2, 2),
                                                      (const double[]){1, 2, 0, 3}), "x");
        ag_tensor *h = ag_mul_c(t, x, 2);
        ck_assert_ptr_nonnull(h);
        ag_tensor *y = ag_log(t, h);
        ck_assert_ptr_null(y);
        assert_msg(t, "log: anomaly mode: non-finite output in the forward pass", "-inf at element 2",
                   "operands [2, 2]");
        ck_assert_ptr_null(ag_exp(t, y)); /* the chain fails once */
        ag_anomaly_report r = ag_tape_anomaly_report(t);
        ck_assert(r.found && !r.backward);
        ck_assert_str_eq(r.op, "log");
        ck_assert_int_eq(r.index, 2);
        ck_assert(isinf(r.value) && r.value < 0);
        ag_tape_reset(t);
        ck_assert(!ag_tape_anomaly_report(t).found);
        ck_assert(ag_tape_anomaly(t)); /* the mode is a tape setting: kept */
        ag_tape_free(t);
    }
}
END_TEST

/* Scalars leave the fast path while the mode is on, and are checked. */
START_TEST(forward_scalar) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, ag_scalar(t, 0));
    ck_assert_ptr_nonnull(ag_div(t, ag_scalar(t, 1), a)); /* off: +inf, no error */
    ag_tape_set_anomaly(t, true);
    ag_tensor *b = ag_set_name(t, ag_add(t, a, ag_scalar(t, 0)), "b");
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(ag_div(t, ag_scalar(t, 1), b));
    assert_msg(t, "div: ", "+inf at element 0", "'b'");
    ag_tape_clear_error(t);
    ck_assert(!ag_tape_anomaly_report(t).found);
    ag_tape_set_anomaly(t, false);
    ck_assert_ptr_nonnull(ag_div(t, ag_scalar(t, 1), b));
    ag_tape_free(t);
}
END_TEST

/* A leaf that already holds NaN is pointed out; no-grad mode checks too. */
START_TEST(forward_nan_operand_and_no_grad) {
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_anomaly(t, true);
    ag_tensor *x = ag_set_name(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2), (const double[]){NAN, 1}), "x");
    ck_assert_ptr_null(ag_add_c(t, x, 1));
    assert_msg(t, "add_c: ", "NaN at element 0", "[2] 'x' (already NaN)");
    ag_tape_clear_error(t);
    ag_no_grad_begin(t);
    ck_assert_ptr_null(ag_sqrt(t, ag_from_doubles(t, AG_F64, AG_SHAPE(1), (const double[]){-1})));
    ag_no_grad_end(t);
    assert_msg(t, "sqrt: ", "NaN", NULL);
    ag_tape_free(t);
}
END_TEST

/* sqrt at 0 is finite forward, infinite backward: the rule is named, and
 * the node whose gradient it is. */
START_TEST(backward_rule) {
    for (int functional = 0; functional < 2; functional++) {
        ag_tape *t = ag_tape_new(0);
        ag_tape_set_anomaly(t, true);
        ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(3),
                                                                          (const double[]){1, 0, 4})), "x");
        ag_tensor *s = ag_set_name(t, ag_sqrt(t, x), "s");
        ag_tensor *y = ag_sum(t, ag_mul_c(t, s, 3), AG_ALL, false);
        ck_assert_ptr_nonnull(y);
        ag_tensor *g;
        ag_status st = functional ? ag_grad(t, y, NULL, 1, &x, &g) : ag_backward(t, y);
        ck_assert_int_eq(st, AG_ERR_NONFINITE);
        assert_msg(t, "sqrt: anomaly mode: non-finite gradient in the backward pass, through sqrt's rule at 's'",
                   "the gradient of operand 1 [3] 'x' holds +inf at element 1",
                   "upstream gradient is finite");
        ag_anomaly_report r = ag_tape_anomaly_report(t);
        ck_assert(r.found && r.backward);
        ck_assert_str_eq(r.op, "sqrt");
        ck_assert_str_eq(r.name, "x");
        ck_assert_int_eq(r.index, 1);
        ag_tape_free(t);
    }
}
END_TEST

START_TEST(backward_seed) {
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_anomaly(t, true);
    ag_tensor *x = ag_requires_grad(t, ag_ones(t, AG_F32, AG_SHAPE(2)));
    ag_tensor *y = ag_exp(t, x);
    ag_tensor *seed = ag_from_doubles(t, AG_F32, AG_SHAPE(2), (const double[]){1, INFINITY});
    ck_assert_int_eq(ag_backward_seed(t, y, seed), AG_ERR_NONFINITE);
    assert_msg(t, "backward: anomaly mode: the seed gradient holds +inf at element 1", NULL, NULL);
    ag_tape_free(t);
}
END_TEST

/* With create_graph the recorded backward's nodes are checked as made,
 * and the message says whose rule was being recorded. */
START_TEST(recorded_backward) {
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_anomaly(t, true);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(2), (const double[]){0, 1}));
    ag_tensor *y = ag_sum(t, ag_set_name(t, ag_sqrt(t, x), "r"), AG_ALL, false);
    ag_tensor *g;
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &g, &(ag_backward_opts){.create_graph = true}),
                     AG_ERR_NONFINITE);
    assert_msg(t, "recording the backward of sqrt 'r' (create_graph)", "+inf at element 0", NULL);
    ag_tape_free(t);
}
END_TEST

/* A custom op's backward that returns NaN is caught at its rule. */
static ag_status id_forward(const ag_custom_call *c, void *out) {
    memcpy(out, ag_data(c->in[0]), (size_t)ag_numel(c->out) * sizeof(double));
    return AG_OK;
}
static ag_status nan_backward(const ag_custom_call *c, const void *g, void *const *gin) {
    (void)g;
    for (int64_t i = 0; gin[0] && i < ag_numel(c->out); i++) ((double *)gin[0])[i] += i == 1 ? NAN : 1;
    return AG_OK;
}
static const ag_custom_op nan_op = {.name = "nan_grad", .ninputs = 1, .forward = id_forward,
                                    .backward = nan_backward};

START_TEST(custom_op_rule) {
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_anomaly(t, true);
    ag_tensor *x = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(3)));
    ag_tensor *y = ag_sum(t, ag_tanh(t, ag_custom(t, &nan_op, NULL, 1, &x)), AG_ALL, false);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_NONFINITE);
    assert_msg(t, "nan_grad: ", "through nan_grad's rule", "NaN at element 1");
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("anomaly");
    TCase *tc = tcase_create("anomaly");
    tcase_add_test(tc, off_by_default);
    tcase_add_test(tc, forward_tensor);
    tcase_add_test(tc, forward_scalar);
    tcase_add_test(tc, forward_nan_operand_and_no_grad);
    tcase_add_test(tc, backward_rule);
    tcase_add_test(tc, backward_seed);
    tcase_add_test(tc, recorded_backward);
    tcase_add_test(tc, custom_op_rule);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
