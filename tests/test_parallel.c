/* The kernels' thread pool (kernels/parallel.h) and the kernels split over
 * it: unary and binary elementwise ops (with and without broadcasting) and
 * reductions, full and by axis, forward and backward, on tensors large
 * enough to split (about 3·10^5 elements, odd sizes). At 2 and 3 threads
 * every value and gradient is bitwise the one at 1 thread, and all agree
 * with a plain double loop. Also ag_set_num_threads' bad inputs, the pool
 * after changes of count, nested and concurrent calls. ./dev test builds
 * this suite under ThreadSanitizer too. */
#include "testutil.h"

#include "conv.h"     /* white box: the convolution's scratch budget */
#include "parallel.h" /* white box: the pool itself */

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- the pool */

/* Each index's visit count, and the chunks seen. */
typedef struct cover {
    int *hits;
    int chunks;
    pthread_mutex_t mu;
} cover;

static void cover_fn(void *ctx, int64_t b, int64_t e) {
    cover *c = ctx;
    for (int64_t i = b; i < e; i++) c->hits[i]++; /* chunks are disjoint: no race */
    pthread_mutex_lock(&c->mu);
    c->chunks++;
    pthread_mutex_unlock(&c->mu);
}

/* ag__parallel_for(n, grain) visits every index of [0, n) exactly once in
 * at most min(threads, n / grain) chunks (one when inline). */
static void check_cover(int64_t n, int64_t grain) {
    cover c = {calloc((size_t)(n > 0 ? n : 1), sizeof(int)), 0, PTHREAD_MUTEX_INITIALIZER};
    ck_assert_ptr_nonnull(c.hits);
    ag__parallel_for(n, grain, cover_fn, &c);
    int64_t i = 0;
    while (i < n && c.hits[i] == 1) i++;
    ck_assert_msg(i == n, "index %lld visited %d times (n %lld, grain %lld)", (long long)i,
                  i < n ? c.hits[i] : 1, (long long)n, (long long)grain);
    const int64_t g = grain < 1 ? 1 : grain;
    int64_t most = n < 2 * g ? 1 : n / g;
    if (most > ag_get_num_threads()) most = ag_get_num_threads();
    ck_assert_int_le(c.chunks, n > 0 ? most : 0);
    if (n > 0 && n < 2 * g) ck_assert_int_eq(c.chunks, 1);
    free(c.hits);
}

/* The count from the environment (meson runs this suite with
 * TAPEGRAD_NUM_THREADS=3): the first case, before any ag_set_num_threads. */
START_TEST(count_from_environment) {
    const char *env = getenv("TAPEGRAD_NUM_THREADS");
    if (env) ck_assert_int_eq(ag_get_num_threads(), atoi(env));
    ck_assert_int_ge(ag_get_num_threads(), 1);
}
END_TEST

START_TEST(set_num_threads_rejects_bad_counts) {
    ck_assert_int_eq(ag_set_num_threads(2), AG_OK);
    const int bad[] = {0, -1, -1000, AG__PARALLEL_MAX_THREADS + 1, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(ag_set_num_threads(bad[i]), AG_ERR_ARG);
        ck_assert_ptr_nonnull(ag_last_error());
        ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag_set_num_threads"));
        ck_assert_int_eq(ag_get_num_threads(), 2); /* unchanged */
    }
    ck_assert_int_eq(ag_set_num_threads(AG__PARALLEL_MAX_THREADS), AG_OK);
    ck_assert_int_eq(ag_get_num_threads(), AG__PARALLEL_MAX_THREADS);
    ck_assert_int_eq(ag_set_num_threads(1), AG_OK);
    ck_assert_int_eq(ag_get_num_threads(), 1);
}
END_TEST

/* The pool keeps working across changes of count, at odd sizes, grains
 * and the edges (n = 0, n just below and at 2·grain). */
START_TEST(pool_covers_every_index_after_changes) {
    const int counts[] = {2, 1, 3, 2, 4, 1, 3, 7, 2};
    const int64_t sizes[][2] = {{0, 10}, {1, 1}, {19, 10}, {20, 10}, {21, 10}, {1000, 1},
                                {100003, 4096}, {300007, 32768}, {5, 0}};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
        ck_assert_int_eq(ag_set_num_threads(counts[k]), AG_OK);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) check_cover(sizes[i][0], sizes[i][1]);
    }
}
END_TEST

/* A call from inside a chunk runs inline, whole. */
static void nested_fn(void *ctx, int64_t b, int64_t e) {
    (void)b, (void)e;
    cover c = {calloc(50000, sizeof(int)), 0, PTHREAD_MUTEX_INITIALIZER};
    ag__parallel_for(50000, 100, cover_fn, &c);
    bool ok = c.chunks == 1;
    for (int i = 0; i < 50000; i++) ok = ok && c.hits[i] == 1;
    free(c.hits);
    if (!ok) __atomic_store_n((int *)ctx, 1, __ATOMIC_RELAXED);
}

START_TEST(nested_calls_run_inline) {
    ck_assert_int_eq(ag_set_num_threads(3), AG_OK);
    int bad = 0;
    ag__parallel_for(30, 10, nested_fn, &bad);
    ck_assert_int_eq(bad, 0);
    ck_assert(!ag__parallel_in_worker());
}
END_TEST

/* A child forked after the pool started (Check's fork mode does that)
 * has no workers: it forgets them and runs calls inline, whole. */
START_TEST(pool_works_after_fork) {
    ck_assert_int_eq(ag_set_num_threads(2), AG_OK);
    check_cover(100000, 1000); /* the worker is running */
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int *hits = calloc(100000, sizeof *hits);
        cover c = {hits, 0, PTHREAD_MUTEX_INITIALIZER};
        if (hits) ag__parallel_for(100000, 1000, cover_fn, &c);
        int ok = hits != NULL;
        for (int i = 0; ok && i < 100000; i++) ok = hits[i] == 1;
        ok = ok && c.chunks == 1;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_cover(100000, 1000); /* and the parent's pool still works */
}
END_TEST

/* ------------------------------------------------------ ops, references */

enum { R = 601, C = 499, N = 300007 };

/* An op case: inputs of the given shapes (one or two), the op, and the
 * reference (values and gradients in double from the inputs and the
 * upstream gradient). */
typedef struct pcase pcase;
typedef ag_tensor *op_fn(ag_tape *t, ag_tensor *const *in, const pcase *c);
typedef void ref_fn(const pcase *c, const double *const *x, const double *seed, double *y,
                    double *const *g);
struct pcase {
    const char *name;
    ag_dtype dt;
    int nin;
    int ndim[2];
    int64_t shape[2][3];
    op_fn *op;
    ref_fn *ref;
    int kind; /* which function, for op and ref */
    int axis; /* reductions */
};

static int64_t numel_of(int nd, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

/* Unary: y = f(x), dy/dx. */
enum { U_TANH, U_EXP, U_SQUARE, U_GELU, U_RELU, U_SIGMOID };
static ag_tensor *unary_op(ag_tape *t, ag_tensor *const *in, const pcase *c) {
    switch (c->kind) {
    case U_TANH: return ag_tanh(t, in[0]);
    case U_EXP: return ag_exp(t, in[0]);
    case U_SQUARE: return ag_square(t, in[0]);
    case U_GELU: return ag_gelu(t, in[0]);
    case U_RELU: return ag_relu(t, in[0]);
    default: return ag_sigmoid(t, in[0]);
    }
}
static void unary_ref(const pcase *c, const double *const *x, const double *seed, double *y,
                      double *const *g) {
    for (int64_t i = 0, n = numel_of(c->ndim[0], c->shape[0]); i < n; i++) {
        const double v = x[0][i], phi = exp(-0.5 * v * v) / sqrt(2 * M_PI), cdf = 0.5 * erfc(-v / sqrt(2));
        const double s = 1 / (1 + exp(-v));
        double f, d;
        switch (c->kind) {
        case U_TANH: f = tanh(v), d = 1 - f * f; break;
        case U_EXP: f = exp(v), d = f; break;
        case U_SQUARE: f = v * v, d = 2 * v; break;
        case U_GELU: f = v * cdf, d = cdf + v * phi; break;
        case U_RELU: f = v > 0 ? v : 0, d = v > 0; break;
        default: f = s, d = s * (1 - s); break;
        }
        y[i] = f;
        g[0][i] = seed[i] * d;
    }
}

/* Binary on a (R, C) output; an operand is (R, C), (C), (R, 1) or (1, C). */
enum { B_ADD, B_MUL, B_DIV };
static ag_tensor *binary_op(ag_tape *t, ag_tensor *const *in, const pcase *c) {
    switch (c->kind) {
    case B_ADD: return ag_add(t, in[0], in[1]);
    case B_MUL: return ag_mul(t, in[0], in[1]);
    default: return ag_div(t, in[0], in[1]);
    }
}
/* The flat index into operand k of output element (i, j). */
static int64_t operand_at(const pcase *c, int k, int64_t i, int64_t j) {
    const int nd = c->ndim[k];
    const int64_t rows = nd == 2 ? c->shape[k][0] : 1, cols = c->shape[k][nd - 1];
    return (rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j);
}
static void binary_ref(const pcase *c, const double *const *x, const double *seed, double *y,
                       double *const *g) {
    memset(g[0], 0, sizeof(double) * (size_t)numel_of(c->ndim[0], c->shape[0]));
    memset(g[1], 0, sizeof(double) * (size_t)numel_of(c->ndim[1], c->shape[1]));
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) {
            const int64_t ia = operand_at(c, 0, i, j), ib = operand_at(c, 1, i, j), o = i * C + j;
            const double a = x[0][ia], b = x[1][ib], s = seed[o];
            switch (c->kind) {
            case B_ADD: y[o] = a + b, g[0][ia] += s, g[1][ib] += s; break;
            case B_MUL: y[o] = a * b, g[0][ia] += s * b, g[1][ib] += s * a; break;
            default: y[o] = a / b, g[0][ia] += s / b, g[1][ib] -= s * a / (b * b); break;
            }
        }
}

/* Reductions over one axis (or all: AG_ALL), no keepdims. */
enum { R_SUM, R_MEAN, R_VAR, R_MAX, R_MIN, R_LSE };
static ag_tensor *reduce_op(ag_tape *t, ag_tensor *const *in, const pcase *c) {
    switch (c->kind) {
    case R_SUM: return ag_sum(t, in[0], c->axis, false);
    case R_MEAN: return ag_mean(t, in[0], c->axis, false);
    case R_VAR: return ag_var(t, in[0], c->axis, false, 1);
    case R_MAX: return ag_max(t, in[0], c->axis, false);
    case R_MIN: return ag_min(t, in[0], c->axis, false);
    default: return ag_logsumexp(t, in[0], c->axis, false);
    }
}
static void reduce_ref(const pcase *c, const double *const *x, const double *seed, double *y,
                       double *const *g) {
    const int nd = c->ndim[0];
    const int64_t *s = c->shape[0];
    int64_t outer = 1, len = numel_of(nd, s), inner = 1;
    if (c->axis != AG_ALL) {
        len = s[c->axis];
        for (int i = 0; i < c->axis; i++) outer *= s[i];
        for (int i = c->axis + 1; i < nd; i++) inner *= s[i];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const int64_t j = o * inner + in, b = o * len * inner + in;
#define AT(k) (b + (k) * inner)
            double sum = 0, mx = -INFINITY, mn = INFINITY;
            for (int64_t k = 0; k < len; k++) {
                sum += x[0][AT(k)];
                mx = fmax(mx, x[0][AT(k)]);
                mn = fmin(mn, x[0][AT(k)]);
            }
            const double mean = sum / (double)len;
            double ss = 0, se = 0, ties = 0;
            for (int64_t k = 0; k < len; k++) {
                const double d = x[0][AT(k)] - mean;
                ss += d * d;
                se += exp(x[0][AT(k)] - mx);
                ties += x[0][AT(k)] == (c->kind == R_MIN ? mn : mx);
            }
            const double lse = mx + log(se);
            switch (c->kind) {
            case R_SUM: y[j] = sum; break;
            case R_MEAN: y[j] = mean; break;
            case R_VAR: y[j] = ss / (double)(len - 1); break;
            case R_MAX: y[j] = mx; break;
            case R_MIN: y[j] = mn; break;
            default: y[j] = lse; break;
            }
            for (int64_t k = 0; k < len; k++) {
                const double v = x[0][AT(k)];
                double d;
                switch (c->kind) {
                case R_SUM: d = 1; break;
                case R_MEAN: d = 1 / (double)len; break;
                case R_VAR: d = 2 * (v - mean) / (double)(len - 1); break;
                case R_MAX: d = v == mx ? 1 / ties : 0; break;
                case R_MIN: d = v == mn ? 1 / ties : 0; break;
                default: d = exp(v - lse); break;
                }
                g[0][AT(k)] = seed[j] * d;
            }
#undef AT
        }
}

#define UNARY(nm, dt, k) {nm, dt, 1, {1}, {{N}}, unary_op, unary_ref, k, 0}
#define BINARY(nm, dt, k, nda, sa0, sa1, ndb, sb0, sb1)                      \
    {nm, dt, 2, {nda, ndb}, {{sa0, sa1}, {sb0, sb1}}, binary_op, binary_ref, k, 0}
#define REDUCE(nm, dt, k, nd, s0, s1, s2, ax) {nm, dt, 1, {nd}, {{s0, s1, s2}}, reduce_op, reduce_ref, k, ax}

static const pcase cases[] = {
    /* unary: the f64 formulas, the f32 vector kernels, an f32 formula */
    UNARY("tanh f64", AG_F64, U_TANH), UNARY("exp f64", AG_F64, U_EXP),
    UNARY("square f64", AG_F64, U_SQUARE), UNARY("tanh f32", AG_F32, U_TANH),
    UNARY("gelu f32", AG_F32, U_GELU), UNARY("relu f32", AG_F32, U_RELU),
    UNARY("sigmoid f32", AG_F32, U_SIGMOID), UNARY("square f32", AG_F32, U_SQUARE),
    /* binary: same shapes; a bias along the last axis; a column; both
     * broadcast (an outer product) */
    BINARY("mul same f64", AG_F64, B_MUL, 2, R, C, 2, R, C),
    BINARY("div same f32", AG_F32, B_DIV, 2, R, C, 2, R, C),
    BINARY("add bias f64", AG_F64, B_ADD, 2, R, C, 1, C, 0),
    BINARY("mul bias f32", AG_F32, B_MUL, 2, R, C, 1, C, 0),
    BINARY("div column f64", AG_F64, B_DIV, 2, R, C, 2, R, 1),
    BINARY("mul column first f32", AG_F32, B_MUL, 2, R, 1, 2, R, C),
    BINARY("mul outer f64", AG_F64, B_MUL, 2, R, 1, 2, 1, C),
    /* reductions: full (one slot, its blocks split), by axis with many
     * slots (split by slot), with few long slots, contiguous and strided */
    REDUCE("sum all f64", AG_F64, R_SUM, 1, N, 0, 0, AG_ALL),
    REDUCE("sum all f32", AG_F32, R_SUM, 1, N, 0, 0, AG_ALL),
    REDUCE("mean all f64", AG_F64, R_MEAN, 2, R, C, 0, AG_ALL),
    REDUCE("var all f64", AG_F64, R_VAR, 1, N, 0, 0, AG_ALL),
    REDUCE("var all f32", AG_F32, R_VAR, 1, N, 0, 0, AG_ALL),
    REDUCE("max all f64", AG_F64, R_MAX, 1, N, 0, 0, AG_ALL),
    REDUCE("min all f32", AG_F32, R_MIN, 1, N, 0, 0, AG_ALL),
    REDUCE("logsumexp all f64", AG_F64, R_LSE, 1, N, 0, 0, AG_ALL),
    REDUCE("logsumexp all f32", AG_F32, R_LSE, 1, N, 0, 0, AG_ALL),
    REDUCE("sum axis 0 f64", AG_F64, R_SUM, 2, R, C, 0, 0),
    REDUCE("sum axis 1 f32", AG_F32, R_SUM, 2, R, C, 0, 1),
    REDUCE("mean axis 1 f64", AG_F64, R_MEAN, 2, R, C, 0, 1),
    REDUCE("var axis 0 f32", AG_F32, R_VAR, 2, R, C, 0, 0),
    REDUCE("max axis 1 f32", AG_F32, R_MAX, 2, R, C, 0, 1),
    REDUCE("logsumexp axis 0 f64", AG_F64, R_LSE, 2, R, C, 0, 0),
    REDUCE("sum long rows f64", AG_F64, R_SUM, 2, 3, 200003, 0, 1),
    REDUCE("var long rows f64", AG_F64, R_VAR, 2, 3, 200003, 0, 1),
    REDUCE("max long columns f64", AG_F64, R_MAX, 2, 200003, 3, 0, 0),
    REDUCE("logsumexp long columns f32", AG_F32, R_LSE, 2, 200003, 3, 0, 0),
    REDUCE("mean middle axis f32", AG_F32, R_MEAN, 3, 5, 70001, 3, 1),
};

/* The inputs of case c as doubles (rounded to f32 for f32 cases, so the
 * reference sees the values the op sees): values in [-2, 2), divisors
 * away from 0, and a tie at the maximum and minimum of the reductions. */
static double *make_input(const pcase *c, int k, ag_rng *r) {
    const int64_t n = numel_of(c->ndim[k], c->shape[k]);
    double *v = malloc(sizeof *v * (size_t)n);
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < n; i++) {
        double u = 4 * ag_rng_uniform(r) - 2;
        if (c->op == binary_op && c->kind == B_DIV && k == 1) u = u < 0 ? u - 0.5 : u + 0.5;
        v[i] = c->dt == AG_F32 ? (double)(float)u : u;
    }
    if (c->op == reduce_op && n > 10) {
        v[n - 1] = v[n / 2] = 3; /* ties at the max and min, far apart */
        v[1] = v[n - 2] = -3;
    }
    return v;
}

/* The output's element count. */
static int64_t out_numel(const pcase *c) {
    if (c->op == binary_op) return R * C;
    const int64_t n = numel_of(c->ndim[0], c->shape[0]);
    if (c->op == unary_op || c->axis == AG_ALL) return c->op == unary_op ? n : 1;
    return n / c->shape[0][c->axis];
}

/* Values and gradients of one run, in double. */
typedef struct outcome {
    double *y, *g[2];
    int64_t ny, ng[2];
} outcome;

static void outcome_free(outcome *o) {
    free(o->y);
    free(o->g[0]);
    free(o->g[1]);
}

static double *copy_out(ag_tensor *x, bool grad, int64_t n) {
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < n; i++) v[i] = grad ? ag_grad_get(x, i) : ag_get(x, i);
    return v;
}

/* Runs case c at the given thread count on the inputs x, with the
 * upstream gradient seed (of y's size). */
static outcome run_case(const pcase *c, int threads, double *const *x, const double *seed) {
    ck_assert_int_eq(ag_set_num_threads(threads), AG_OK);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *in[2] = {NULL, NULL};
    outcome o = {0};
    for (int k = 0; k < c->nin; k++) {
        in[k] = ag_requires_grad(t, ag_from_doubles(t, c->dt, c->ndim[k], c->shape[k], x[k]));
        o.ng[k] = numel_of(c->ndim[k], c->shape[k]);
    }
    ag_tensor *y = c->op(t, in, c);
    ck_assert_msg(y != NULL, "%s: %s", c->name, ag_tape_error(t));
    o.ny = ag_numel(y);
    ag_tensor *s = ag_from_doubles(t, c->dt, ag_ndim(y), ag_shape(y), seed);
    ck_assert_int_eq(ag_backward_seed(t, y, s), AG_OK);
    o.y = copy_out(y, false, o.ny);
    for (int k = 0; k < c->nin; k++) o.g[k] = copy_out(in[k], true, o.ng[k]);
    ag_tape_free(t);
    return o;
}

/* a and b are the same bits. (One assertion per array: Check logs every
 * assertion that passes.) */
static void assert_same_bits(const pcase *c, const char *what, int threads, const double *a,
                             const double *b, int64_t n) {
    int64_t i = 0;
    while (i < n && memcmp(a + i, b + i, sizeof *a) == 0) i++;
    ck_assert_msg(i == n, "%s: %s[%lld] at %d threads is %.17g, at 1 thread %.17g", c->name, what,
                  (long long)i, threads, i < n ? b[i] : 0, i < n ? a[i] : 0);
}

/* got agrees with the reference within the dtype's tolerance. */
static void assert_close(const pcase *c, const char *what, const double *got, const double *want,
                         int64_t n) {
    const double tol = c->dt == AG_F32 ? 2e-5 : 1e-11;
    int64_t i = 0;
    while (i < n && fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))) i++;
    ck_assert_msg(i == n, "%s: %s[%lld] = %.17g, the double loop gives %.17g", c->name, what,
                  (long long)i, i < n ? got[i] : 0, i < n ? want[i] : 0);
}

START_TEST(op_same_bits_at_every_count) {
    const pcase *c = &cases[_i];
    ag_rng r;
    ag_rng_seed(&r, 1000 + (uint64_t)_i);
    double *x[2] = {make_input(c, 0, &r), c->nin > 1 ? make_input(c, 1, &r) : NULL};
    const int64_t ny = out_numel(c);
    double *seed = malloc(sizeof *seed * (size_t)ny);
    ck_assert_ptr_nonnull(seed);
    for (int64_t i = 0; i < ny; i++) {
        const double u = 2 * ag_rng_uniform(&r) - 1;
        seed[i] = c->dt == AG_F32 ? (double)(float)u : u;
    }
    outcome one = run_case(c, 1, x, seed);
    ck_assert_int_eq(one.ny, ny);

    /* The double loop. */
    double *ry = malloc(sizeof *ry * (size_t)one.ny);
    double *rg[2] = {malloc(sizeof(double) * (size_t)one.ng[0]),
                     c->nin > 1 ? malloc(sizeof(double) * (size_t)one.ng[1]) : NULL};
    c->ref(c, (const double *const *)x, seed, ry, rg);
    assert_close(c, "value", one.y, ry, one.ny);
    for (int k = 0; k < c->nin; k++) assert_close(c, k ? "grad b" : "grad a", one.g[k], rg[k], one.ng[k]);

    for (int threads = 2; threads <= 3; threads++) {
        outcome o = run_case(c, threads, x, seed);
        assert_same_bits(c, "value", threads, one.y, o.y, one.ny);
        for (int k = 0; k < c->nin; k++)
            assert_same_bits(c, k ? "grad b" : "grad a", threads, one.g[k], o.g[k], one.ng[k]);
        outcome_free(&o);
    }
    outcome_free(&one);
    free(ry);
    free(rg[0]);
    free(rg[1]);
    free(seed);
    free(x[0]);
    free(x[1]);
}
END_TEST

/* ------------------------------------------------------ convolutions */

/* A convolution case: x, w (1-D when xnd is 3) and its options. */
typedef struct ccase {
    const char *name;
    ag_dtype dt;
    int xnd;
    int64_t x[4], w[4];
    ag_conv2d_opts o;
} ccase;

static const ccase conv_pcases[] = {
    {"wide padded f32", AG_F32, 4, {13, 3, 12, 12}, {8, 3, 3, 3}, {.padding = {1, 1}}},
    {"strided groups f64", AG_F64, 4, {11, 4, 9, 9}, {6, 2, 3, 3}, {.stride = {2, 2}, .groups = 2}},
    {"direct 1x1 f32", AG_F32, 4, {10, 8, 7, 7}, {5, 8, 1, 1}, {.groups = 1}},
    {"1-D dilated f64", AG_F64, 3, {9, 3, 40}, {4, 3, 5, 0}, {.dilation = {1, 2}, .padding = {0, 3}}},
};

/* y, dx, dw and db of case c at `threads` threads, in double, from fixed
 * inputs (seeded) and a fixed upstream gradient. */
static outcome run_conv(const ccase *c, int threads) {
    ck_assert_int_eq(ag_set_num_threads(threads), AG_OK);
    ag_rng r;
    ag_rng_seed(&r, 77);
    ag_tape *t = ag_tape_new(0);
    const int wnd = c->xnd;
    ag_tensor *x = ag_requires_grad(t, ag_uniform(t, c->dt, c->xnd, c->x, -1, 1, &r));
    ag_tensor *w = ag_requires_grad(t, ag_uniform(t, c->dt, wnd, c->w, -1, 1, &r));
    ag_tensor *b = ag_requires_grad(t, ag_uniform(t, c->dt, 1, c->w, -1, 1, &r));
    ag_tensor *y = c->xnd == 4 ? ag_conv2d(t, x, w, b, &c->o)
                               : ag_conv1d(t, x, w, b,
                                           &(ag_conv1d_opts){.padding = c->o.padding[1],
                                                             .dilation = c->o.dilation[1]});
    ck_assert_msg(y != NULL, "%s: %s", c->name, ag_tape_error(t));
    ag_tensor *seed = ag_uniform(t, c->dt, ag_ndim(y), ag_shape(y), -1, 1, &r);
    ck_assert_int_eq(ag_backward_seed(t, y, seed), AG_OK);
    outcome o = {0};
    o.ny = ag_numel(y);
    o.y = copy_out(y, false, o.ny);
    o.ng[0] = ag_numel(x);
    o.g[0] = copy_out(x, true, o.ng[0]);
    o.ng[1] = ag_numel(w) + ag_numel(b);
    o.g[1] = malloc(sizeof(double) * (size_t)o.ng[1]);
    ck_assert_ptr_nonnull(o.g[1]);
    for (int64_t i = 0; i < ag_numel(w); i++) o.g[1][i] = ag_grad_get(w, i);
    for (int64_t i = 0; i < ag_numel(b); i++) o.g[1][ag_numel(w) + i] = ag_grad_get(b, i);
    ag_tape_free(t);
    return o;
}

/* The convolution splits its batch over the pool (parts of whole chunks,
 * the weight gradient summed per part): the same bits at 1, 2 and 3
 * threads, with chunks of one image and of two (a scratch budget below
 * one image, then two), and the default budget. */
START_TEST(conv_same_bits_at_every_count) {
    const ccase *c = &conv_pcases[_i];
    const pcase named = {c->name, c->dt, 0, {0}, {{0}}, NULL, NULL, 0, 0};
    const size_t budget = ag__conv_scratch_bytes;
    for (int run = 0; run < 3; run++) {
        ag__conv_scratch_bytes = run == 2 ? budget : (size_t)(run + 1) * 6000;
        outcome one = run_conv(c, 1);
        bool nonzero = false;
        for (int64_t i = 0; i < one.ng[1]; i++) nonzero |= one.g[1][i] != 0;
        ck_assert_msg(nonzero, "%s: the weight gradient is all zeros", c->name);
        for (int threads = 2; threads <= 3; threads++) {
            outcome o = run_conv(c, threads);
            assert_same_bits(&named, "value", threads, one.y, o.y, one.ny);
            assert_same_bits(&named, "grad x", threads, one.g[0], o.g[0], one.ng[0]);
            assert_same_bits(&named, "grad w, b", threads, one.g[1], o.g[1], one.ng[1]);
            outcome_free(&o);
        }
        outcome_free(&one);
    }
    ag__conv_scratch_bytes = budget;
}
END_TEST

/* Max pooling splits by plane (the forward, its scatter backward and the
 * gather of its second order): the same bits at 1, 2 and 3 threads, and
 * the gradient is the upstream one at each window's argmax. */
static outcome run_max_pool(int threads) {
    ck_assert_int_eq(ag_set_num_threads(threads), AG_OK);
    ag_rng r;
    ag_rng_seed(&r, 78);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_uniform(t, AG_F32, AG_SHAPE(8, 17, 32, 32), -1, 1, &r));
    ag_tensor *y = ag_max_pool2d(t, x, &(ag_pool2d_opts){.kernel = {2, 2}});
    ck_assert_ptr_nonnull(y);
    ag_tensor *seed = ag_requires_grad(t, ag_uniform(t, AG_F32, ag_ndim(y), ag_shape(y), -1, 1, &r));
    ag_tensor *gx = NULL; /* recorded: the scatter, whose backward is a gather */
    ck_assert_int_eq(ag_grad_ex(t, y, 1, &x, &gx, &(ag_backward_opts){.seed = seed, .create_graph = true}),
                     AG_OK);
    ck_assert_int_eq(ag_backward(t, ag_sum(t, ag_mul(t, gx, gx), AG_ALL, false)), AG_OK);
    outcome o = {0};
    o.ny = ag_numel(y);
    o.y = copy_out(y, false, o.ny);
    o.ng[0] = ag_numel(seed);
    o.g[0] = copy_out(seed, true, o.ng[0]); /* d sum(gx^2) / d seed = 2 seed */
    o.ng[1] = ag_numel(gx);
    o.g[1] = copy_out(gx, false, o.ng[1]);
    /* each window's gradient sits at its maximum */
    const float *xv = ag_data(x), *sv = ag_data(seed);
    for (int64_t w = 0; w < o.ny; w++) {
        const int64_t plane = w / 256, oh = w % 256 / 16, ow = w % 16, base = plane * 1024 + 2 * oh * 32 + 2 * ow;
        int64_t at = base;
        for (int k = 1; k < 4; k++)
            if (xv[base + k / 2 * 32 + k % 2] > xv[at]) at = base + k / 2 * 32 + k % 2;
        ck_assert_msg(o.g[1][at] == sv[w] && o.g[0][w] == 2.0 * sv[w], "window %lld", (long long)w);
    }
    ag_tape_free(t);
    return o;
}

START_TEST(max_pool_same_bits_at_every_count) {
    const pcase named = {"max_pool2d f32", AG_F32, 0, {0}, {{0}}, NULL, NULL, 0, 0};
    outcome one = run_max_pool(1);
    for (int threads = 2; threads <= 3; threads++) {
        outcome o = run_max_pool(threads);
        assert_same_bits(&named, "value", threads, one.y, o.y, one.ny);
        assert_same_bits(&named, "second-order grad seed", threads, one.g[0], o.g[0], one.ng[0]);
        assert_same_bits(&named, "grad x", threads, one.g[1], o.g[1], one.ng[1]);
        outcome_free(&o);
    }
    outcome_free(&one);
}
END_TEST

/* Two threads of the program each run large ops on their own tapes at
 * once: one holds the pool, the other runs inline; both are right. */
typedef struct worker_arg {
    double sum;
    int64_t n;
} worker_arg;

static void *program_thread(void *p) {
    worker_arg *w = p;
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_requires_grad(t, ag_arange(t, AG_F64, 0, (double)w->n, 1));
    for (int rep = 0; rep < 5; rep++) {
        ag_tensor *y = ag_sum(t, ag_mul(t, ag_tanh(t, ag_mul_c(t, x, 1e-5)), x), AG_ALL, false);
        if (!y || ag_backward(t, y) != AG_OK) break;
        w->sum = ag_item(y);
    }
    ag_tape_free(t);
    return NULL;
}

START_TEST(concurrent_callers) {
    ck_assert_int_eq(ag_set_num_threads(2), AG_OK);
    enum { M = 200003 };
    double want = 0;
    for (int64_t i = 0; i < M; i++) want += tanh(1e-5 * (double)i) * (double)i;
    worker_arg a[2] = {{0, M}, {0, M}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, program_thread, &a[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) ck_assert_double_eq_tol(a[i].sum, want, 1e-9 * want);
}
END_TEST

static Suite *parallel_suite(void) {
    Suite *s = suite_create("parallel");
    TCase *pool = tcase_create("pool");
    tcase_add_test(pool, count_from_environment);
    tcase_add_test(pool, set_num_threads_rejects_bad_counts);
    tcase_add_test(pool, pool_covers_every_index_after_changes);
    tcase_add_test(pool, nested_calls_run_inline);
    tcase_add_test(pool, concurrent_callers);
    tcase_add_test(pool, pool_works_after_fork);
    suite_add_tcase(s, pool);
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 600);
    tcase_add_loop_test(ops, op_same_bits_at_every_count, 0, (int)(sizeof cases / sizeof *cases));
    tcase_add_test(ops, max_pool_same_bits_at_every_count);
    tcase_add_loop_test(ops, conv_same_bits_at_every_count, 0,
                        (int)(sizeof conv_pcases / sizeof *conv_pcases));
    suite_add_tcase(s, ops);
    return s;
}

int main(void) { return tu_run(parallel_suite()); }
