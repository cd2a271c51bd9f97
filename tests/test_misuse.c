/* Misuse a new user tries, which used to fail silently: a backward of a
 * constant, gradients with respect to what the output does not use, reading
 * a gradient no backward reached, operands of two tapes in one op, a tensor
 * used after the reset of its tape. Each is now an error, a documented
 * value, or (debug mode under ASan) a sanitizer report. */
#include "testutil.h"

#include "tape.h" /* white box: the debug mode's quarantine */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

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

/* Operands of two tapes were accepted: backward on one tape then wrote the
 * other's gradients, and read freed memory once that tape was freed. */
START_TEST(operands_of_two_tapes) {
    ag_tape *a = ag_tape_new(0), *b = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(a, ag_ones(a, AG_F64, AG_SHAPE(3)));
    ag_tensor *z = ag_requires_grad(b, ag_full(b, AG_F64, AG_SHAPE(3), 2.0));
    ag_tensor *sa = ag_requires_grad(a, ag_scalar(a, 1.0)), *sb = ag_requires_grad(b, ag_scalar(b, 2.0));
    ag_tensor *y = ag_mul(a, x, z);
    ag_tensor *sy = ag_mul(a, sa, sb); /* 0-d: the scalar fast path */
    if (y) { /* accepted before the fix: backward through b's freed node */
        ag_tape_free(b);
        b = NULL;
        ag_backward(a, ag_sum(a, y, AG_ALL, false));
    }
    ck_assert_ptr_null(y);
    ck_assert_ptr_null(sy);
    assert_error(a, ag_tape_status(a), AG_ERR_ARG,
                 "mul: operand 2 [3] was recorded on another tape (the other operand is [3])");
    ck_assert_ptr_null(ag_mul(a, sa, sb));
    assert_error(a, ag_tape_status(a), AG_ERR_ARG, "operand 2 [] was recorded on another tape");
    ck_assert_ptr_null(ag_exp(a, ag_set_name(b, z, "z")));
    assert_error(a, ag_tape_status(a), AG_ERR_ARG, "exp: operand 1 [3] 'z' was recorded on another tape");
    ag_tensor *both[2] = {x, z};
    ck_assert_ptr_null(ag_concat(a, 2, both, 0));
    assert_error(a, ag_tape_status(a), AG_ERR_ARG, "concat: operand 2");
    /* A no-grad node of b (in b's arena, not its node list). */
    ag_no_grad_begin(b);
    ag_tensor *nb = ag_exp(b, z);
    ag_no_grad_end(b);
    ck_assert_ptr_null(ag_add(a, x, nb));
    assert_error(a, ag_tape_status(a), AG_ERR_ARG, "recorded on another tape");
    /* ... and one of a's own is fine. */
    ag_no_grad_begin(a);
    ag_tensor *na = ag_exp(a, x);
    ag_no_grad_end(a);
    ck_assert_ptr_nonnull(ag_add(a, x, na));
    /* Backward, grad, requires_grad and names check their tensors too. */
    ag_tensor *yb = ag_sum(b, ag_square(b, z), AG_ALL, false), *g;
    assert_error(a, ag_backward(a, yb), AG_ERR_ARG, "backward: operand 1 [] was recorded on another tape");
    ag_tensor *ya = ag_sum(a, ag_square(a, x), AG_ALL, false);
    assert_error(a, ag_grad(a, ya, NULL, 1, &z, &g), AG_ERR_ARG, "grad: operand 1 [3] 'z' was recorded");
    assert_error(a, ag_backward_seed(a, ag_square(a, x), ag_ones(b, AG_F64, AG_SHAPE(3))), AG_ERR_ARG,
                 "operand 2 [3] was recorded on another tape");
    ck_assert_ptr_null(ag_requires_grad(a, ag_ones(b, AG_F64, AG_SHAPE(2))));
    assert_error(a, ag_tape_status(a), AG_ERR_ARG, "requires_grad: operand 1 [2]");
    ck_assert_ptr_null(ag_set_name(a, z, "mine"));
    assert_error(a, ag_tape_status(a), AG_ERR_ARG, "set_name");
    ck_assert_int_eq(ag_tape_status(b), AG_OK); /* b itself is untouched */
    /* A parameter belongs to no tape: both may record it. */
    ag_tensor *p = ag_param_scalar(AG_F64, 3.0);
    ck_assert_int_eq(ag_backward(a, ag_mul(a, p, sa)), AG_OK);
    ck_assert_int_eq(ag_backward(b, ag_mul(b, p, sb)), AG_OK);
    ck_assert_double_eq(ag_grad_item(p), 3.0);
    ag_param_free(p);
    ag_tape_free(a);
    ag_tape_free(b);
}
END_TEST

/* A tape in debug mode, whatever TAPEGRAD_DEBUG_TAPE says. */
static ag_tape *debug_tape(void) {
    ag_tape *t = ag_tape_new(0);
    ag_tape_set_debug(t, true);
    return t;
}

/* A tensor recorded before a reset silently read the reused slot (an old x
 * read as 7 where it was 2; backward of an old loss returned OK with
 * gradient 0). In debug mode it is a clean error; under ASan, where the
 * retired memory is poisoned, a report from the op (tested in a child). */
START_TEST(stale_tensor_after_reset_in_debug_mode) {
    ag_tape *t = debug_tape();
    ck_assert(ag_tape_debug(t));
    ag_tensor *x = ag_scalar(t, 2.0);
    ag_tensor *w = ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(3)));
    ag_tensor *loss = ag_sum(t, ag_square(t, w), AG_ALL, false);
    ag_tape_reset(t);
    ag_tensor *seven = ag_scalar(t, 7.0), *fresh = ag_ones(t, AG_F64, AG_SHAPE(3));
#ifdef UNDER_ASAN
    (void)x, (void)w, (void)loss, (void)seven, (void)fresh;
    fflush(stderr);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        ag_mul(t, x, seven); /* the stale scalar, read by the fast path */
        _exit(0);
    }
    close(fds[1]);
    char out[16384];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof out - 1 && (k = read(fds[0], out + got, sizeof out - 1 - got)) > 0) got += (size_t)k;
    out[got] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "the stale use went unnoticed");
    ck_assert_msg(strstr(out, "AddressSanitizer: use-after-poison") && strstr(out, "ag_mul"),
                  "no ASan report naming the op: %.2000s", out);
#else
    ck_assert_double_eq(ag_item(x), 2.0); /* not reused: still the old value, not 7 */
    ck_assert_ptr_null(ag_mul(t, x, seven));
    assert_error(t, ag_tape_status(t), AG_ERR_STATE,
                 "mul: operand 1 [] was recorded on this tape before its last ag_tape_reset");
    ck_assert_ptr_null(ag_add(t, fresh, w));
    assert_error(t, ag_tape_status(t), AG_ERR_STATE, "add: operand 2 [3] was recorded on this tape before");
    assert_error(t, ag_backward(t, loss), AG_ERR_STATE, "before its last ag_tape_reset");
    /* No-grad nodes live in the arena, which is retired too. */
    ag_no_grad_begin(t);
    ag_tensor *ng = ag_exp(t, fresh);
    ag_no_grad_end(t);
    ag_tape_reset(t);
    ck_assert_ptr_null(ag_neg(t, ng));
    assert_error(t, ag_tape_status(t), AG_ERR_STATE, "neg: operand 1 [3] was recorded on this tape before");
#endif
    /* Fresh tensors work as ever. */
    ag_tape_reset(t);
    ag_tensor *v = ag_requires_grad(t, ag_full(t, AG_F64, AG_SHAPE(3), 2.0));
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_square(t, v), AG_ALL, false)), AG_OK);
    ck_assert_double_eq(ag_grad_get(v, 2), 4.0);
    ag_tape_free(t);
}
END_TEST

/* Debug mode keeps a bounded quarantine, reports live memory only, and
 * follows TAPEGRAD_DEBUG_TAPE at ag_tape_new. */
START_TEST(debug_mode_memory_and_environment) {
    ag_tape *t = debug_tape();
    for (int step = 0; step < 80; step++) {
        ag_tape_reset(t);
        ck_assert_ptr_nonnull(ag_exp(t, ag_ones(t, AG_F64, AG_SHAPE(1 << 17)))); /* 2 MiB of data */
        ck_assert_uint_le(t->retired_bytes, ((size_t)64 << 20) + ((size_t)8 << 20));
    }
    ag_tape_stats st = ag_tape_get_stats(t);
    ck_assert_uint_le(st.bytes_reserved, (size_t)16 << 20); /* the live memory only */
    ag_tape_set_debug(t, false); /* frees the quarantine; resets reuse memory again */
    ck_assert_uint_eq(t->retired_bytes, 0);
    ag_tape_reset(t);
    size_t allocs = ag_tape_get_stats(t).allocations;
    ag_exp(t, ag_ones(t, AG_F64, AG_SHAPE(1 << 17)));
    ck_assert_uint_eq(ag_tape_get_stats(t).allocations, allocs);
    ag_tape_free(t);

    const char *was = getenv("TAPEGRAD_DEBUG_TAPE");
    char *saved = was ? strdup(was) : NULL;
    const struct { const char *value; bool on; } env[] = {{"1", true}, {"yes", true}, {"0", false}, {"", false}};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        setenv("TAPEGRAD_DEBUG_TAPE", env[i].value, 1);
        t = ag_tape_new(0);
        ck_assert_int_eq(ag_tape_debug(t), env[i].on);
        ag_tape_free(t);
    }
    unsetenv("TAPEGRAD_DEBUG_TAPE");
    t = ag_tape_new(0);
    ck_assert(!ag_tape_debug(t));
    ag_tape_free(t);
    if (saved) setenv("TAPEGRAD_DEBUG_TAPE", saved, 1);
    free(saved);
}
END_TEST

int main(void) {
    Suite *s = suite_create("misuse");
    TCase *tc = tcase_create("misuse");
    tcase_add_test(tc, backward_of_an_output_that_requires_no_gradient);
    tcase_add_test(tc, grad_with_respect_to_an_unused_input);
    tcase_add_test(tc, unused_parameter_stamped_by_another_tape);
    tcase_add_test(tc, reading_a_gradient_no_backward_reached);
    tcase_add_test(tc, operands_of_two_tapes);
    tcase_add_test(tc, stale_tensor_after_reset_in_debug_mode);
    tcase_add_test(tc, debug_mode_memory_and_environment);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
