/* Misuse a new user tries, which used to fail silently: a backward of a
 * constant, gradients with respect to what the output does not use, reading
 * a gradient no backward reached. Each is now an error or a documented
 * value. */
#include "testutil.h"

#include <string.h>

static void assert_error(ag_tape *t, ag_status got, ag_status want, const char *text) {
    ck_assert_int_eq(got, want);
    ck_assert_int_eq(ag_tape_status(t), want);
    ck_assert_msg(strstr(ag_tape_error(t), text), "'%s' lacks '%s'", ag_tape_error(t), text);
    ag_tape_clear_error(t);
}

static const ag_backward_opts allow_unused = {.allow_unused = true};

/* It returned OK and left zeros. */
START_TEST(backward_of_an_output_that_requires_no_gradient) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *c = ag_mul(t, ag_scalar(t, 2.0), ag_scalar(t, 3.0));
    assert_error(t, ag_backward(t, c), AG_ERR_STATE, "does not require grad");
    ag_tensor *v = ag_exp(t, ag_ones(t, AG_F64, AG_SHAPE(3)));
    assert_error(t, ag_backward_seed(t, v, ag_ones(t, AG_F64, AG_SHAPE(3))), AG_ERR_STATE,
                 "output [3] does not require a gradient");
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 1.0));
    ag_tensor *d = ag_detach(t, ag_mul(t, x, x)); /* cut from the graph */
    assert_error(t, ag_backward(t, d), AG_ERR_STATE, "does not require");
    assert_error(t, ag_backward_ex(t, c, &(ag_backward_opts){.create_graph = true}), AG_ERR_STATE,
                 "does not require");
    ck_assert_int_eq(ag_backward_ex(t, c, &allow_unused), AG_OK); /* accepted: nothing to do */
    ag_tensor *g;
    assert_error(t, ag_grad(t, c, NULL, 1, &x, &g), AG_ERR_STATE, "does not require");
    ck_assert_int_eq(ag_grad_ex(t, c, 1, &x, &g, &allow_unused), AG_OK);
    ck_assert_double_eq(ag_item(g), 0.0);
    ag_tape_free(t);
}
END_TEST

/* ag_grad returned zeros for both. */
START_TEST(grad_with_respect_to_an_unused_input) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 3.0));
    ag_tensor *z = ag_set_name(t, ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(2))), "z");
    ag_tensor *c = ag_ones(t, AG_F64, AG_SHAPE(2)); /* a constant */
    ag_tensor *y = ag_mul(t, x, x);
    ag_tensor *xs[3] = {x, z, c}, *g[3];
    for (int graph = 0; graph < 2; graph++) {
        ag_backward_opts o = {.create_graph = graph};
        assert_error(t, ag_grad_ex(t, y, 2, xs, g, &o), AG_ERR_STATE,
                     "input 2 [2] 'z' was not used to compute the output");
        ag_tensor *xc[2] = {x, c};
        assert_error(t, ag_grad_ex(t, y, 2, xc, g, &o), AG_ERR_STATE,
                     "input 2 [2] does not require a gradient");
        o.allow_unused = true;
        ck_assert_int_eq(ag_grad_ex(t, y, 3, xs, g, &o), AG_OK);
        ck_assert_double_eq(ag_item(g[0]), 6.0);
        for (int k = 1; k < 3; k++) {
            ck_assert_int_eq(ag_numel(g[k]), 2);
            ck_assert_double_eq(ag_get(g[k], 0), 0.0);
            ck_assert_double_eq(ag_get(g[k], 1), 0.0);
        }
    }
    /* A parameter y does not use. */
    ag_tensor *p = ag_param_scalar(AG_F64, 1.0);
    assert_error(t, ag_grad(t, y, NULL, 1, &p, g), AG_ERR_STATE, "was not used");
    ag_param_free(p);
    ag_tape_free(t);
}
END_TEST

/* A parameter's stamp may come from another tape's sweep with the same
 * number: tape b's first sweep (1) took the parameter tape a's first sweep
 * (1) had reached as reached. */
START_TEST(unused_parameter_stamped_by_another_tape) {
    ag_tape *a = ag_tape_new(0), *b = ag_tape_new(0);
    ag_tensor *p = ag_param_scalar(AG_F64, 2.0);
    ck_assert_int_eq(ag_backward(a, ag_mul(a, p, p)), AG_OK);
    ag_tensor *x = ag_requires_grad(b, ag_scalar(b, 1.0));
    ag_tensor *g;
    assert_error(b, ag_grad(b, ag_mul(b, x, x), NULL, 1, &p, &g), AG_ERR_STATE, "was not used");
    ag_param_free(p);
    ag_tape_free(a);
    ag_tape_free(b);
}
END_TEST

/* An intermediate tensor's gradient buffer is not zeroed when recorded:
 * read before any backward reached it, it showed what the reused memory
 * held (here the previous step's gradient, 1). */
START_TEST(reading_a_gradient_no_backward_reached) {
    ag_tape *t = ag_tape_new(0);
    for (int step = 0; step < 2; step++) {
        ag_tape_reset(t);
        ag_tensor *x = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(4)));
        ag_tensor *h = ag_mul_c(t, x, 2.0);
        ag_tensor *y = ag_sum(t, h, AG_ALL, false);
        if (step == 0) {
            ck_assert_int_eq(ag_backward(t, y), AG_OK);
            ck_assert_double_eq(ag_grad_get(h, 3), 1.0);
            continue;
        }
        for (int i = 0; i < 4; i++) {
            ck_assert_double_eq(ag_grad_get(h, i), 0.0);
            ck_assert_double_eq(ag_grad_get(x, i), 0.0);
        }
        const double *gh = ag_grad_data(h);
        ck_assert_ptr_nonnull(gh);
        for (int i = 0; i < 4; i++) ck_assert_double_eq(gh[i], 0.0);
        /* Reached, then a backward that does not reach it: the last value. */
        ck_assert_int_eq(ag_backward(t, y), AG_OK);
        ag_tensor *other = ag_sum(t, ag_mul_c(t, x, 5.0), AG_ALL, false);
        ck_assert_int_eq(ag_backward(t, other), AG_OK);
        ck_assert_double_eq(ag_grad_get(h, 0), 1.0);
        ck_assert_double_eq(ag_grad_get(x, 0), 7.0); /* 2 + 5: leaves accumulate */
    }
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create("misuse");
    tcase_add_test(tc, backward_of_an_output_that_requires_no_gradient);
    tcase_add_test(tc, grad_with_respect_to_an_unused_input);
    tcase_add_test(tc, unused_parameter_stamped_by_another_tape);
    tcase_add_test(tc, reading_a_gradient_no_backward_reached);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
