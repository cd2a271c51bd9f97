/* conv2d, conv1d, max_pool2d, avg_pool2d and pad: the op rows of their
 * families (tests/rows/conv.c, pool.c, pad.c); values and gradients
 * against PyTorch's for fixed cases (tests/conv_reference.h, made by
 * tests/gen_conv_reference.py), in f64 and f32; first and second
 * derivatives against finite differences over strides, paddings,
 * dilations, groups, "same", bias, 1x1 kernels and unbatched inputs; the
 * internal ops (the convolution's two gradient products, max pooling's
 * scatter, the crop) differentiated once more; max pooling's ties; and the
 * bad-argument errors. */
#include "op_rows.h"

#include "conv_reference.h"
#include "conv.h" /* the scratch budget, lowered to split batches into chunks */

#include <tapegrad/trace.h>

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------ PyTorch's reference */

static ag_tensor *ref_apply(ag_tape *t, const ref_case *c, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    switch (c->kind) {
    case REF_CONV2D: {
        ag_conv2d_opts o = {{c->stride[0], c->stride[1]}, {c->padding[0], c->padding[1]},
                            {c->dilation[0], c->dilation[1]}, c->groups, c->same};
        return ag_conv2d(t, x, w, b, &o);
    }
    case REF_CONV1D: {
        ag_conv1d_opts o = {c->stride[1], c->padding[1], c->dilation[1], c->groups, c->same};
        return ag_conv1d(t, x, w, b, &o);
    }
    case REF_MAXPOOL:
    case REF_AVGPOOL: {
        ag_pool2d_opts o = {{c->kernel[0], c->kernel[1]}, {c->stride[0], c->stride[1]},
                            {c->padding[0], c->padding[1]}, c->exclude_pad};
        return c->kind == REF_MAXPOOL ? ag_max_pool2d(t, x, &o) : ag_avg_pool2d(t, x, &o);
    }
    case REF_PAD: return ag_pad(t, x, c->pads, c->value);
    default: return ag_matmul(t, x, w);
    }
}

static int64_t count(int nd, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

static void assert_close(const char *what, const ag_tensor *got, const double *want, int64_t n, double tol) {
    ck_assert_int_eq(ag_numel(got), n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(ag_get(got, i) - want[i]) <= tol * (1 + fabs(want[i])),
                      "%s[%lld]: %.17g, PyTorch %.17g", what, (long long)i, ag_get(got, i), want[i]);
}

/* Values and every gradient of sum(y · wgt), as PyTorch computed them. */
START_TEST(pytorch_reference) {
    const ref_case *c = &ref_cases[_i];
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_F64 : AG_F32;
        double tol = d ? 1e-12 : 2e-5;
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, dt, c->xnd, c->xshape, c->x));
        ag_tensor *w = c->has_w ? ag_requires_grad(t, ag_from_doubles(t, dt, c->wnd, c->wshape, c->w)) : NULL;
        ag_tensor *b = c->has_b ? ag_requires_grad(t, ag_from_doubles(t, dt, AG_SHAPE(c->wshape[0]), c->b)) : NULL;
        ag_tensor *y = ref_apply(t, c, x, w, b);
        ck_assert_msg(y != NULL, "%s: %s", c->name, ag_tape_error(t));
        ck_assert_int_eq(ag_ndim(y), c->ynd);
        for (int i = 0; i < c->ynd; i++) ck_assert_int_eq(ag_dim(y, i), c->yshape[i]);
        ag_tensor *wgt = ag_from_doubles(t, dt, c->ynd, c->yshape, c->wgt);
        ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, wgt), AG_ALL, false)), AG_OK);
        assert_close(c->name, y, c->y, count(c->ynd, c->yshape), tol);
        ag_tensor *g[3] = {ag_tensor_new(t, AG_F64, c->xnd, c->xshape, NULL), NULL, NULL};
        for (int64_t i = 0; i < ag_numel(x); i++) ((double *)ag_data_mut(g[0]))[i] = ag_grad_get(x, i);
        assert_close("dx", g[0], c->dx, ag_numel(x), tol);
        if (w) {
            g[1] = ag_tensor_new(t, AG_F64, c->wnd, c->wshape, NULL);
            for (int64_t i = 0; i < ag_numel(w); i++) ((double *)ag_data_mut(g[1]))[i] = ag_grad_get(w, i);
            assert_close("dw", g[1], c->dw, ag_numel(w), tol);
        }
        if (b) {
            g[2] = ag_tensor_new(t, AG_F64, AG_SHAPE(c->wshape[0]), NULL);
            for (int64_t i = 0; i < ag_numel(b); i++) ((double *)ag_data_mut(g[2]))[i] = ag_grad_get(b, i);
            assert_close("db", g[2], c->db, ag_numel(b), tol);
        }
        ag_tape_free(t);
    }
}
END_TEST

/* ---------------------------------------------- finite differences */

typedef struct conv_case {
    int nsp, xnd;
    int64_t x[4], w[4];
    bool bias;
    ag_conv2d_opts o; /* conv1d reads the W entries ([1]) */
} conv_case;

static const conv_case conv_cases[] = {
    {2, 4, {2, 2, 4, 4}, {3, 2, 3, 3}, true, {{0}, {0}, {0}, 0, false}},            /* plain, bias */
    {2, 4, {1, 2, 5, 4}, {2, 2, 2, 3}, false, {{2, 1}, {1, 1}, {0}, 0, false}},      /* stride, pad */
    {2, 4, {1, 4, 5, 5}, {4, 2, 2, 2}, true, {{0}, {0}, {2, 1}, 2, false}},          /* dilation, groups */
    {2, 4, {1, 2, 4, 5}, {2, 2, 2, 3}, true, {{0}, {0}, {1, 2}, 0, true}},           /* "same", even kernel */
    {2, 4, {2, 3, 3, 3}, {2, 3, 1, 1}, true, {{0}, {0}, {0}, 0, false}},            /* 1x1: x in place */
    {2, 3, {2, 5, 5, 0}, {3, 2, 3, 3}, false, {{2, 2}, {1, 1}, {0}, 0, false}},      /* unbatched */
    {2, 4, {1, 3, 4, 4}, {3, 1, 3, 3}, false, {{0}, {1, 1}, {0}, 3, false}},         /* depthwise */
    {1, 3, {2, 2, 7, 0}, {3, 2, 3, 0}, true, {{0, 2}, {0, 1}, {0, 2}, 0, false}},    /* conv1d */
    {1, 3, {1, 4, 6, 0}, {4, 2, 2, 0}, false, {{0}, {0}, {0}, 2, true}},             /* conv1d same, groups */
    {1, 2, {2, 5, 0, 0}, {3, 2, 2, 0}, true, {{0}, {0, 1}, {0}, 0, false}},          /* conv1d unbatched */
};
#define NCONV (int)(sizeof conv_cases / sizeof conv_cases[0])

static ag_tensor *conv_of(ag_tape *t, const conv_case *c, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    if (c->nsp == 2) return ag_conv2d(t, x, w, b, &c->o);
    ag_conv1d_opts o = {c->o.stride[1], c->o.padding[1], c->o.dilation[1], c->o.groups, c->o.same};
    return ag_conv1d(t, x, w, b, &o);
}

static ag_tensor *apply_conv(ag_tape *t, ag_tensor *const *in, void *ctx) {
    const conv_case *c = ctx;
    return conv_of(t, c, in[0], in[1], c->bias ? in[2] : NULL);
}

/* The same with every operand behind an op: gradient buffers that start
 * fresh in the sweep (written, beta = 0), where a leaf's accumulate. */
static ag_tensor *apply_conv_mid(ag_tape *t, ag_tensor *const *in, void *ctx) {
    const conv_case *c = ctx;
    ag_tensor *b = c->bias ? ag_mul_c(t, in[2], 1.5) : NULL;
    return conv_of(t, c, ag_mul_c(t, in[0], 1.5), ag_mul_c(t, in[1], 1.5), b);
}

/* The convolution's first derivatives as functions: dx = conv_input_grad
 * and dw = conv_weight_grad of an upstream g (in[2]), recorded, so their
 * gradgradchecks reach the third derivative of the convolution. */
static ag_tensor *apply_conv_grads(ag_tape *t, ag_tensor *const *in, void *ctx) {
    conv_case c = *(const conv_case *)ctx;
    c.bias = false;
    ag_tensor *y = conv_of(t, &c, in[0], in[1], NULL);
    ag_tensor *g[2];
    ag_tensor *const xs[2] = {in[0], in[1]};
    if (ag_grad_ex(t, ag_sum(t, ag_mul(t, y, in[2]), AG_ALL, false), 2, xs, g,
                   &(ag_backward_opts){.create_graph = true}) != AG_OK)
        return NULL;
    return ag_add(t, ag_sum(t, ag_square(t, g[0]), AG_ALL, false), ag_sum(t, ag_mul(t, g[1], g[1]), AG_ALL, false));
}

static int wnd_of(const conv_case *c) { return c->nsp + 2; }

START_TEST(conv_gradients) {
    const conv_case *c = &conv_cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 200 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[3] = {tu_rand(t, &r, c->xnd, c->x, -1, 1), tu_rand(t, &r, wnd_of(c), c->w, -1, 1),
                        tu_rand(t, &r, AG_SHAPE(c->w[0]), -1, 1)};
    int n = c->bias ? 3 : 2;
    tu_assert_gradcheck(apply_conv, (void *)c, n, in);
    tu_assert_gradcheck(apply_conv_mid, (void *)c, n, in);
    ag_gradcheck_report rep;
    bool ok = ag_gradgradcheck(apply_conv, (void *)c, n, in, NULL, &rep);
    if (!ok) ag_gradcheck_print(stderr, &rep);
    ck_assert(ok);
    ck_assert_int_gt(rep.checked, 0);
    /* Third order: the gradient products' own graph-form backwards. */
    ag_tensor *y = apply_conv(t, in, (void *)c);
    ck_assert_ptr_nonnull(y);
    ag_tensor *gin[3] = {in[0], in[1], tu_rand(t, &r, ag_ndim(y), ag_shape(y), -1, 1)};
    ok = ag_gradgradcheck(apply_conv_grads, (void *)c, 3, gin, NULL, &rep);
    if (!ok) ag_gradcheck_print(stderr, &rep);
    ck_assert(ok);
    ag_tape_free(t);
}
END_TEST

/* The same convolutions with batches split into chunks of 1 and of 2 (the
 * last chunk short) agree with the unsplit ones, values and gradients, and
 * pass the gradient checks. */
START_TEST(conv_chunks) {
    conv_case c = conv_cases[_i];
    c.x[0] = c.xnd == c.nsp + 2 ? 5 : c.x[0]; /* a batch of 5 where batched */
    ag_rng r;
    ag_rng_seed(&r, 600 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[3] = {tu_rand(t, &r, c.xnd, c.x, -1, 1), tu_rand(t, &r, wnd_of(&c), c.w, -1, 1),
                        tu_rand(t, &r, AG_SHAPE(c.w[0]), -1, 1)};
    int n = c.bias ? 3 : 2;
    double ref[3][512];
    const size_t budget = ag__conv_scratch_bytes;
    for (int run = 0; run < 3; run++) {
        /* budgets: below one image (chunks of 1), 16 KiB, the default */
        ag__conv_scratch_bytes = run == 2 ? budget : (size_t)run * 16 * 1024 + 1;
        ag_tensor *x[3];
        for (int k = 0; k < n; k++) x[k] = ag_requires_grad(t, ag_detach(t, in[k]));
        ag_tensor *y = apply_conv_mid(t, x, &c);
        ck_assert_ptr_nonnull(y);
        ag_tensor *w = ag_sin(t, ag_detach(t, y));
        ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, y, w), AG_ALL, false)), AG_OK);
        for (int k = 0; k < n; k++)
            for (int64_t i = 0; i < ag_numel(x[k]); i++) {
                if (run == 0) ref[k][i] = ag_grad_get(x[k], i);
                else ck_assert_double_eq_tol(ag_grad_get(x[k], i), ref[k][i], 1e-12);
            }
        if (run == 0) tu_assert_gradcheck(apply_conv_mid, &c, n, in);
    }
    ag__conv_scratch_bytes = budget;
    ag_tape_free(t);
}
END_TEST

typedef struct pool_case {
    bool max;
    int xnd;
    int64_t x[4];
    ag_pool2d_opts o;
} pool_case;

static const pool_case pool_cases[] = {
    {true, 4, {2, 2, 4, 4}, {{2, 2}, {0}, {0}, false}},
    {true, 4, {1, 2, 5, 6}, {{3, 3}, {2, 2}, {1, 1}, false}},
    {true, 3, {2, 5, 4}, {{2, 3}, {1, 1}, {1, 0}, false}}, /* unbatched, overlapping */
    {false, 4, {2, 2, 4, 4}, {{2, 2}, {0}, {0}, false}},
    {false, 4, {1, 2, 5, 6}, {{3, 3}, {2, 2}, {1, 1}, false}},
    {false, 4, {1, 2, 5, 6}, {{3, 2}, {2, 1}, {1, 1}, true}},
    {false, 3, {2, 5, 4}, {{2, 3}, {1, 1}, {1, 0}, true}},
};
#define NPOOL (int)(sizeof pool_cases / sizeof pool_cases[0])

static ag_tensor *apply_pool(ag_tape *t, ag_tensor *const *in, void *ctx) {
    const pool_case *c = ctx;
    /* tanh first: a non-linear input, so the second order is not trivial */
    ag_tensor *x = ag_tanh(t, in[0]);
    ag_tensor *y = c->max ? ag_max_pool2d(t, x, &c->o) : ag_avg_pool2d(t, x, &c->o);
    return ag_mul(t, y, y);
}

/* max pooling's scatter and the gathering it differentiates into */
static ag_tensor *apply_pool_grad(ag_tape *t, ag_tensor *const *in, void *ctx) {
    const pool_case *c = ctx;
    ag_tensor *y = c->max ? ag_max_pool2d(t, in[0], &c->o) : ag_avg_pool2d(t, in[0], &c->o), *g;
    if (ag_grad_ex(t, ag_sum(t, ag_mul(t, ag_square(t, y), in[1]), AG_ALL, false), 1, &in[0], &g,
                   &(ag_backward_opts){.create_graph = true}) != AG_OK)
        return NULL;
    return ag_mul(t, g, ag_sin(t, in[0]));
}

START_TEST(pool_gradients) {
    const pool_case *c = &pool_cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 300 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    /* distinct values far apart, so no finite-difference step crosses a tie */
    int64_t n = count(c->xnd, c->x);
    double v[256];
    for (int64_t i = 0; i < n; i++) v[i] = 0.9 * ((double)((i * 37) % n) / (double)n - 0.5);
    ag_tensor *x = ag_from_doubles(t, AG_F64, c->xnd, c->x, v);
    tu_assert_gradcheck(apply_pool, (void *)c, 1, &x);
    ag_gradcheck_report rep;
    bool ok = ag_gradgradcheck(apply_pool, (void *)c, 1, &x, NULL, &rep);
    if (!ok) ag_gradcheck_print(stderr, &rep);
    ck_assert(ok);
    ag_tensor *y = c->max ? ag_max_pool2d(t, x, &c->o) : ag_avg_pool2d(t, x, &c->o);
    ag_tensor *in[2] = {x, tu_rand(t, &r, ag_ndim(y), ag_shape(y), -1, 1)};
    tu_assert_gradcheck(apply_pool_grad, (void *)c, 2, in);
    ok = ag_gradgradcheck(apply_pool_grad, (void *)c, 2, in, NULL, &rep);
    if (!ok) ag_gradcheck_print(stderr, &rep);
    ck_assert(ok);
    ag_tape_free(t);
}
END_TEST

/* A window of equal values sends its gradient to the first one, in
 * row-major window order (PyTorch's CPU choice); a NaN is a window's max. */
START_TEST(max_pool_ties_and_nan) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_from_doubles(t, AG_F64, AG_SHAPE(1, 1, 2, 4),
                                                       (const double[]){1, 1, 2, NAN, 1, 1, 2, 3}));
    ag_tensor *y = ag_max_pool2d(t, x, &(ag_pool2d_opts){.kernel = {2, 2}});
    ck_assert_double_eq(ag_get(y, 0), 1);
    ck_assert(isnan(ag_get(y, 1)));
    ck_assert_int_eq(ag_backward_seed(t, y, ag_ones(t, AG_F64, AG_SHAPE(1, 1, 1, 2))), AG_OK);
    const double want[8] = {1, 0, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) ck_assert_double_eq(ag_grad_get(x, i), want[i]);
    /* two NaNs in a window: the first; three equal maxima: the first */
    ag_tensor *x2 = ag_requires_grad(t, ag_from_doubles(t, AG_F32, AG_SHAPE(1, 1, 2, 4),
                                                        (const double[]){5, NAN, 7, 7, NAN, 1, 7, 1}));
    ag_tensor *y2 = ag_max_pool2d(t, x2, &(ag_pool2d_opts){.kernel = {2, 2}});
    ck_assert(isnan(ag_get(y2, 0)));
    ck_assert_double_eq(ag_get(y2, 1), 7);
    ck_assert_int_eq(ag_backward_seed(t, y2, ag_ones(t, AG_F32, AG_SHAPE(1, 1, 1, 2))), AG_OK);
    const double want2[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) ck_assert_double_eq(ag_grad_get(x2, i), want2[i]);
    ag_tape_free(t);
}
END_TEST

typedef struct pad_case {
    int nd;
    int64_t x[4];
    int64_t pads[8];
} pad_case;

static const pad_case pad_cases[] = {
    {1, {4}, {2, 1}},
    {2, {2, 3}, {1, 0, 0, 2}},
    {3, {2, 1, 3}, {0, 1, 2, 2, 1, 0}},
    {4, {1, 2, 2, 2}, {0, 0, 0, 0, 1, 1, 1, 1}},
};

static ag_tensor *apply_pad(ag_tape *t, ag_tensor *const *in, void *ctx) {
    const pad_case *c = ctx;
    ag_tensor *p = ag_pad(t, ag_square(t, in[0]), c->pads, 0.75);
    return ag_mul(t, p, ag_sin(t, p));
}

/* pad's derivative, the crop, and the crop's own graph-form backward */
static ag_tensor *apply_pad_grad(ag_tape *t, ag_tensor *const *in, void *ctx) {
    ag_tensor *g, *y = apply_pad(t, in, ctx);
    if (!y || ag_grad_ex(t, ag_sum(t, y, AG_ALL, false), 1, in, &g,
                         &(ag_backward_opts){.create_graph = true}) != AG_OK)
        return NULL;
    return ag_pad(t, ag_mul(t, g, in[0]), ((const pad_case *)ctx)->pads, -0.5);
}

START_TEST(pad_gradients) {
    const pad_case *c = &pad_cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 400 + (uint64_t)_i);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = tu_rand(t, &r, c->nd, c->x, -1, 1);
    tu_assert_gradcheck(apply_pad, (void *)c, 1, &x);
    ag_gradcheck_report rep;
    ck_assert_msg(ag_gradgradcheck(apply_pad, (void *)c, 1, &x, NULL, &rep), "%s", rep.message);
    tu_assert_gradcheck(apply_pad_grad, (void *)c, 1, &x);
    ck_assert_msg(ag_gradgradcheck(apply_pad_grad, (void *)c, 1, &x, NULL, &rep), "%s", rep.message);
    ag_tape_free(t);
}
END_TEST

/* A 0-d tensor has no axes: pad gives it back, pads may be NULL. */
START_TEST(pad_scalar) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_scalar(t, 2.5));
    ag_tensor *y = ag_pad(t, x, NULL, 9);
    ck_assert_double_eq(ag_item(y), 2.5);
    ck_assert_int_eq(ag_backward(t, ag_mul_c(t, y, 3)), AG_OK);
    ck_assert_double_eq(ag_grad_item(x), 3);
    ag_tape_free(t);
}
END_TEST

/* -------------------------------------------------------------- errors */

static void assert_error(ag_tape *t, ag_status code, const char *a, const char *b) {
    const char *msg = ag_tape_error(t);
    ck_assert_int_eq(ag_tape_status(t), code);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, a), "'%s' not in '%s'", a, msg);
    if (b) ck_assert_msg(strstr(msg, b), "'%s' not in '%s'", b, msg);
    ag_tape_clear_error(t);
}

START_TEST(conv_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(1, 4, 5, 5)), *w = ag_ones(t, AG_F64, AG_SHAPE(2, 4, 3, 3));
    ck_assert_ptr_null(ag_conv2d(NULL, x, w, NULL, NULL));
    ck_assert_ptr_null(ag_conv2d(t, NULL, w, NULL, NULL));
    assert_error(t, AG_ERR_NULL, "conv2d: operand 1 is NULL", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, NULL, NULL, NULL));
    assert_error(t, AG_ERR_NULL, "conv2d: operand 2 is NULL", NULL);
    ck_assert_ptr_null(ag_conv2d(t, ag_ones(t, AG_F64, AG_SHAPE(4, 5)), w, NULL, NULL));
    assert_error(t, AG_ERR_SHAPE, "conv2d: x [4, 5] must be (N, C, H, W)", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, ag_ones(t, AG_F64, AG_SHAPE(2, 4, 3)), NULL, NULL));
    assert_error(t, AG_ERR_SHAPE, "conv2d: weight [2, 4, 3]", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, ag_ones(t, AG_F64, AG_SHAPE(2, 3, 3, 3)), NULL, NULL));
    assert_error(t, AG_ERR_SHAPE, "conv2d: x [1, 4, 5, 5] has 4 channels", "groups");
    ck_assert_ptr_null(ag_conv2d(t, x, ag_ones(t, AG_F64, AG_SHAPE(3, 2, 3, 3)), NULL,
                                 &(ag_conv2d_opts){.groups = 2}));
    assert_error(t, AG_ERR_SHAPE, "multiples of groups", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, ag_ones(t, AG_F64, AG_SHAPE(3)), NULL));
    assert_error(t, AG_ERR_SHAPE, "conv2d: bias [3] must be (2)", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, ag_ones(t, AG_F64, AG_SHAPE(2, 4, 6, 3)), NULL, NULL));
    assert_error(t, AG_ERR_SHAPE, "larger than the padded input", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, NULL, &(ag_conv2d_opts){.dilation = {3, 1}}));
    assert_error(t, AG_ERR_SHAPE, "dilated to 7", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, NULL, &(ag_conv2d_opts){.stride = {-1, 1}}));
    assert_error(t, AG_ERR_ARG, "conv2d: stride, padding and dilation must be >= 0", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, NULL, &(ag_conv2d_opts){.groups = -2}));
    assert_error(t, AG_ERR_ARG, "groups -2", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, NULL, &(ag_conv2d_opts){.stride = {2, 2}, .same = true}));
    assert_error(t, AG_ERR_ARG, "\"same\" needs stride 1", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, NULL, &(ag_conv2d_opts){.padding = {1, 0}, .same = true}));
    assert_error(t, AG_ERR_ARG, "conv2d: give padding numbers or \"same\", not both", NULL);
    ck_assert_ptr_null(ag_conv1d(t, ag_ones(t, AG_F64, AG_SHAPE(1, 4, 5)), ag_ones(t, AG_F64, AG_SHAPE(2, 4, 3)),
                                 NULL, &(ag_conv1d_opts){.stride = 2, .same = true}));
    assert_error(t, AG_ERR_ARG, "conv1d: padding \"same\" needs stride 1", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, w, NULL, &(ag_conv2d_opts){.padding = {(int64_t)1 << 40, 0}}));
    assert_error(t, AG_ERR_ARG, "below 2^31", NULL);
    ck_assert_ptr_null(ag_conv2d(t, x, ag_ones(t, AG_F32, AG_SHAPE(2, 4, 3, 3)), NULL, NULL));
    assert_error(t, AG_ERR_DTYPE, "conv2d: ", "f32");
    ck_assert_ptr_null(ag_conv1d(t, x, w, NULL, NULL));
    assert_error(t, AG_ERR_SHAPE, "conv1d: x [1, 4, 5, 5] must be (N, C, L)", NULL);
    /* sticky: the first error stays */
    ck_assert_ptr_null(ag_conv2d(t, ag_add(t, x, ag_ones(t, AG_F64, AG_SHAPE(3))), w, NULL, NULL));
    assert_error(t, AG_ERR_SHAPE, "add: ", NULL);
    ag_tape_free(t);
}
END_TEST

START_TEST(pool_and_pad_errors) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(1, 2, 4, 4));
    ck_assert_ptr_null(ag_max_pool2d(t, x, NULL));
    assert_error(t, AG_ERR_NULL, "max_pool2d: opts is NULL", NULL);
    ck_assert_ptr_null(ag_avg_pool2d(t, NULL, &(ag_pool2d_opts){.kernel = {2, 2}}));
    assert_error(t, AG_ERR_NULL, "avg_pool2d: operand 1 is NULL", NULL);
    ck_assert_ptr_null(ag_max_pool2d(t, ag_ones(t, AG_F64, AG_SHAPE(4, 4)), &(ag_pool2d_opts){.kernel = {2, 2}}));
    assert_error(t, AG_ERR_SHAPE, "max_pool2d: x [4, 4] must be", NULL);
    ck_assert_ptr_null(ag_max_pool2d(t, x, &(ag_pool2d_opts){.kernel = {2}}));
    assert_error(t, AG_ERR_ARG, "kernel (2, 0) must be >= 1", NULL);
    ck_assert_ptr_null(ag_avg_pool2d(t, x, &(ag_pool2d_opts){.kernel = {2, 2}, .padding = {2, 0}}));
    assert_error(t, AG_ERR_ARG, "more than half the kernel", NULL);
    ck_assert_ptr_null(ag_avg_pool2d(t, x, &(ag_pool2d_opts){.kernel = {5, 2}}));
    assert_error(t, AG_ERR_SHAPE, "larger than the padded input x [1, 2, 4, 4]", NULL);
    ck_assert_ptr_null(ag_pad(t, x, NULL, 0));
    assert_error(t, AG_ERR_NULL, "pad: pads is NULL", NULL);
    ck_assert_ptr_null(ag_pad(t, x, (const int64_t[]){0, 0, 1, -1, 0, 0, 0, 0}, 0));
    assert_error(t, AG_ERR_ARG, "pad: pads (1, -1) of axis 1", NULL);
    ck_assert_ptr_null(ag_pad(t, NULL, (const int64_t[]){0, 0}, 0));
    assert_error(t, AG_ERR_NULL, "pad: operand 1", NULL);
    ag_tape_free(t);
}
END_TEST

/* Scratch and outputs count against the memory cap: the op fails cleanly. */
START_TEST(memory_cap) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_ones(t, AG_F64, AG_SHAPE(2, 3, 32, 32)), *w = ag_ones(t, AG_F64, AG_SHAPE(4, 3, 5, 5));
    ag_tape_set_mem_cap(t, ag_tape_get_stats(t).bytes_reserved);
    ag_tensor *y = NULL;
    for (int i = 0; i < 1000 && (y = ag_conv2d(t, x, w, NULL, NULL)); i++) {}
    ck_assert_ptr_null(y);
    assert_error(t, AG_ERR_MEMORY, "conv", "cap");
    ag_tape_free(t);
}
END_TEST

/* The new ops in a trace and a DOT picture, like any node. */
START_TEST(trace_and_dot) {
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_set_name(t, ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(1, 1, 4, 4))), "img");
    ag_tensor *w = ag_set_name(t, ag_requires_grad(t, ag_ones(t, AG_F64, AG_SHAPE(2, 1, 3, 3))), "k");
    ag_tensor *h = ag_max_pool2d(t, ag_conv2d(t, ag_pad(t, x, (const int64_t[]){0, 0, 0, 0, 1, 1, 1, 1}, 0),
                                              w, NULL, NULL), &(ag_pool2d_opts){.kernel = {2, 2}});
    ag_tensor *y = ag_sum(t, ag_avg_pool2d(t, h, &(ag_pool2d_opts){.kernel = {2, 2}}), AG_ALL, false);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(ag_trace(f, t, y, NULL), AG_OK);
    ck_assert_int_eq(ag_write_dot(f, t, y), AG_OK);
    fclose(f);
    const char *want[] = {"conv", "max_pool2d", "avg_pool2d", "pad", "img", "k"};
    for (int i = 0; i < 6; i++) ck_assert_msg(strstr(buf, want[i]), "'%s' missing", want[i]);
    free(buf);
    /* each pool window keeps its 9 (a full 3x3 of ones), at the four centre
     * positions, each with 1/4 from the mean: the centre tap sees 4 · 1/4 */
    ck_assert_double_eq(ag_grad_get(w, 4), 1);
    ag_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 300);
    const tu_op_table *const tables[] = {&tu_rows_conv, &tu_rows_pool, &tu_rows_pad};
    tu_add_op_rows(tc, 3, tables);
    tcase_add_loop_test(tc, pytorch_reference, 0, NREF);
    tcase_add_loop_test(tc, conv_gradients, 0, NCONV);
    tcase_add_loop_test(tc, conv_chunks, 0, NCONV);
    tcase_add_loop_test(tc, pool_gradients, 0, NPOOL);
    tcase_add_test(tc, max_pool_ties_and_nan);
    tcase_add_loop_test(tc, pad_gradients, 0, (int)(sizeof pad_cases / sizeof pad_cases[0]));
    tcase_add_test(tc, pad_scalar);
    tcase_add_test(tc, conv_errors);
    tcase_add_test(tc, pool_and_pad_errors);
    tcase_add_test(tc, memory_cap);
    tcase_add_test(tc, trace_and_dot);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
