/* matmul with NumPy's rules: 1-D operands, any number of batch dimensions,
 * broadcasting. Values against a naive loop written from NumPy's
 * definition, first and second derivatives against finite differences
 * (also with the operand behind a tanh, so a broadcast intermediate's
 * gradient starts fresh), f32 against f64, and accumulation across two
 * backward calls. */
#include "testutil.h"

#include <string.h>

typedef struct {
    int nda, ndb;
    int64_t a[4], b[4];
    int ndy;
    int64_t y[4];
} mm_case;

static const mm_case cases[] = {
    {1, 1, {4}, {4}, 0, {0}},                                   /* dot */
    {1, 2, {3}, {3, 5}, 1, {5}},                                /* row @ matrix */
    {2, 1, {2, 3}, {3}, 1, {2}},                                /* matrix @ column */
    {1, 3, {3}, {2, 3, 4}, 2, {2, 4}},                          /* row @ batch */
    {3, 1, {2, 4, 3}, {3}, 2, {2, 4}},                          /* batch @ column */
    {4, 4, {2, 3, 4, 5}, {2, 3, 5, 4}, 4, {2, 3, 4, 4}},        /* (B, H, T, D) @ (B, H, D, T) */
    {4, 3, {2, 1, 3, 4}, {5, 4, 2}, 4, {2, 5, 3, 2}},           /* both broadcast */
    {2, 3, {3, 4}, {2, 4, 5}, 3, {2, 3, 5}},                    /* shared a, batched b */
    {3, 3, {1, 3, 4}, {2, 4, 5}, 3, {2, 3, 5}},                 /* size-1 batch of a */
    {3, 3, {2, 3, 4}, {1, 4, 5}, 3, {2, 3, 5}},                 /* size-1 batch of b: folded */
    {4, 2, {2, 2, 3, 4}, {4, 5}, 4, {2, 2, 3, 5}},              /* 4-D a, shared b: folded */
    {2, 2, {3, 4}, {4, 2}, 2, {3, 2}},                          /* the 2-D path */
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int64_t numel(int nd, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

/* y = a @ b from the definition: promote 1-D operands, broadcast the batch
 * dimensions by index, sum over k. */
static void naive(const mm_case *c, const double *a, const double *b, double *y) {
    int64_t pa[4], pb[4];
    int na = c->nda, nb = c->ndb;
    memcpy(pa, c->a, sizeof pa);
    memcpy(pb, c->b, sizeof pb);
    if (na == 1) pa[1] = pa[0], pa[0] = 1, na = 2;
    if (nb == 1) pb[1] = 1, nb = 2;
    int64_t m = pa[na - 2], k = pa[na - 1], n = pb[nb - 1];
    int bd = (na > nb ? na : nb) - 2;
    int64_t bs[4] = {1, 1, 1, 1}, sa[4], sb[4];
    for (int i = 0; i < bd; i++) {
        int ia = i - (bd - (na - 2)), ib = i - (bd - (nb - 2));
        int64_t da = ia >= 0 ? pa[ia] : 1, db = ib >= 0 ? pb[ib] : 1;
        bs[i] = da > db ? da : db;
        sa[i] = da, sb[i] = db;
    }
    int64_t nbatch = numel(bd, bs);
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0, mula = 1, mulb = 1;
        for (int i = bd - 1; i >= 0; i--) {
            int64_t idx = rem % bs[i];
            rem /= bs[i];
            oa += (sa[i] == 1 ? 0 : idx) * mula, mula *= sa[i];
            ob += (sb[i] == 1 ? 0 : idx) * mulb, mulb *= sb[i];
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t p = 0; p < k; p++) acc += a[(oa * m + i) * k + p] * b[(ob * k + p) * n + j];
                y[(bi * m + i) * n + j] = acc;
            }
    }
}

static ag_tensor *apply_matmul(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_matmul(t, x[0], x[1]);
}

/* An operand behind tanh: its gradient buffer is an intermediate's. */
static ag_tensor *apply_tanh_matmul(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_matmul(t, ag_tanh(t, x[0]), ag_sin(t, x[1]));
}

START_TEST(values_vs_naive) {
    const mm_case *c = &cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 70 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = tu_rand(t, &r, c->nda, c->a, -1, 1), *b = tu_rand(t, &r, c->ndb, c->b, -1, 1);
    ag_tensor *y = ag_matmul(t, a, b);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(ag_ndim(y), c->ndy);
    for (int i = 0; i < c->ndy; i++) ck_assert_int_eq(ag_dim(y, i), c->y[i]);
    double ref[256];
    naive(c, ag_data(a), ag_data(b), ref);
    for (int64_t i = 0; i < numel(c->ndy, c->y); i++) ck_assert_double_eq_tol(ag_get(y, i), ref[i], 1e-13);
    ag_tape_free(t);
}
END_TEST

START_TEST(gradients) {
    const mm_case *c = &cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 90 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[2] = {tu_rand(t, &r, c->nda, c->a, -1, 1), tu_rand(t, &r, c->ndb, c->b, -1, 1)};
    tu_assert_gradcheck(apply_matmul, NULL, 2, x);
    tu_assert_gradcheck(apply_tanh_matmul, NULL, 2, x);
    ag_gradcheck_report rep;
    bool ok = ag_gradgradcheck(apply_tanh_matmul, NULL, 2, x, NULL, &rep);
    if (!ok) ag_gradcheck_print(stderr, &rep);
    ck_assert(ok);
    ck_assert_int_gt(rep.checked, 0);
    ag_tape_free(t);
}
END_TEST

/* f32 values and gradients agree with f64's. */
START_TEST(f32_vs_f64) {
    const mm_case *c = &cases[_i];
    double out[2][3][256];
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        ag_rng r;
        ag_rng_seed(&r, 11);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *a = ag_requires_grad(t, ag_uniform(t, dt, c->nda, c->a, -1, 1, &r));
        ag_tensor *b = ag_requires_grad(t, ag_uniform(t, dt, c->ndb, c->b, -1, 1, &r));
        ag_tensor *y = ag_matmul(t, a, b);
        ag_tensor *w = ag_uniform(t, dt, c->ndy, c->y, -1, 1, &r);
        ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, w), AG_ALL, false)), AG_OK);
        ck_assert_int_eq(ag_to_doubles(y, out[d][0], 256), AG_OK);
        for (int64_t i = 0; i < ag_numel(a); i++) out[d][1][i] = ag_grad_get(a, i);
        for (int64_t i = 0; i < ag_numel(b); i++) out[d][2][i] = ag_grad_get(b, i);
        ag_tape_free(t);
    }
    int64_t counts[3] = {numel(c->ndy, c->y), numel(c->nda, c->a), numel(c->ndb, c->b)};
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < counts[k]; i++) ck_assert_double_eq_tol(out[0][k][i], out[1][k][i], 2e-6);
}
END_TEST

/* Leaves accumulate: a second backward doubles the gradients, including a
 * broadcast operand's (whose GEMMs add into one buffer). */
START_TEST(backward_accumulates) {
    const mm_case *c = &cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 13);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *a = ag_requires_grad(t, tu_rand(t, &r, c->nda, c->a, -1, 1));
    ag_tensor *b = ag_requires_grad(t, tu_rand(t, &r, c->ndb, c->b, -1, 1));
    ag_tensor *y = ag_sum(t, ag_square(t, ag_matmul(t, a, b)), AG_ALL, false);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    double g1[256];
    for (int64_t i = 0; i < ag_numel(a); i++) g1[i] = ag_grad_get(a, i);
    double gb = ag_grad_get(b, ag_numel(b) - 1);
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    for (int64_t i = 0; i < ag_numel(a); i++) ck_assert_double_eq_tol(ag_grad_get(a, i), 2 * g1[i], 1e-12);
    ck_assert_double_eq_tol(ag_grad_get(b, ag_numel(b) - 1), 2 * gb, 1e-12);
    ag_tape_free(t);
}
END_TEST

/* A batched a @ a: one node on both sides of every batch element. */
static ag_tensor *apply_square(ag_tape *t, ag_tensor *const *x, void *ctx) {
    (void)ctx;
    return ag_matmul(t, x[0], x[0]);
}

START_TEST(batched_square) {
    ag_rng r;
    ag_rng_seed(&r, 17);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, AG_SHAPE(2, 2, 3, 3), -1, 1);
    tu_assert_gradcheck(apply_square, NULL, 1, &x);
    ag_gradcheck_report rep;
    ck_assert_msg(ag_gradgradcheck(apply_square, NULL, 1, &x, NULL, &rep), "%s", rep.message);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("matmul");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, values_vs_naive, 0, NCASES);
    tcase_add_loop_test(tc, gradients, 0, NCASES);
    tcase_add_loop_test(tc, f32_vs_f64, 0, NCASES);
    tcase_add_loop_test(tc, backward_accumulates, 0, NCASES);
    tcase_add_test(tc, batched_square);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
