/* 2-D max and average pooling (NCHW, or CHW unbatched), each forward
 * beside its derivative.
 *
 * Max pooling picks, per window, the index of its maximum (the first at a
 * tie, a NaN over any number), kept on the tape; its value is then a
 * gather of x at those indices, so
 *   max_pool2d(x)    = gather(x, idx)     backward: dx = scatter(g, idx)
 *   pool_scatter(g)  = scatter(g, idx)    backward: dg = gather(G, idx)
 *   pool_gather(x)   = gather(x, idx)     backward: dx = scatter(G, idx)
 * and the two internal ops are each other's graph-form backward.
 *
 * Average pooling is linear: y = A·x with A averaging each window, whose
 * transpose Aᵀ spreads g[o]/count(o) over window o; avg_pool2d and its
 * transpose are each other's backward. */
#include "error.h"
#include "node.h"
#include "op.h"
#include "backward.h"
#include "record.h"
#include "tape.h"
#include "pool.h"

/* The geometry of a pooling, shared by its ops (ext->aux). */
typedef struct pool_geom {
    int64_t planes;     /* N·C */
    int64_t H, W, kh, kw, sh, sw, ph, pw, OH, OW;
    bool exclude_pad;   /* avg: divide by the count inside x */
    int64_t *idx;       /* max: (planes, OH·OW) argmax within each plane */
    int xnd, ynd;
    int64_t xshape[4], yshape[4];
} pool_geom;

static const pool_geom *geom_of(const ag_tensor *n) { return n->ext->aux; }

/* Visits each output (p, o) of the pooling with its window [h0, h1) x
 * [w0, w1) clipped to x, and the window's count: kh·kw unless exclude_pad. */
#define POOL_FOR_WINDOWS(g, p, o, h0, h1, w0, w1, count, ...)                \
    for (int64_t p = 0; p < (g)->planes; p++)                                \
        for (int64_t oh_ = 0, o = 0; oh_ < (g)->OH; oh_++)                   \
            for (int64_t ow_ = 0; ow_ < (g)->OW; ow_++, o++) {               \
                int64_t h0 = oh_ * (g)->sh - (g)->ph, w0 = ow_ * (g)->sw - (g)->pw; \
                int64_t h1 = h0 + (g)->kh, w1 = w0 + (g)->kw;                \
                if (h0 < 0) h0 = 0;                                          \
                if (w0 < 0) w0 = 0;                                          \
                if (h1 > (g)->H) h1 = (g)->H;                                \
                if (w1 > (g)->W) w1 = (g)->W;                                \
                const double count = (g)->exclude_pad ? (double)((h1 - h0) * (w1 - w0)) \
                                                      : (double)((g)->kh * (g)->kw); \
                (void)count;                                                 \
                __VA_ARGS__;                                                 \
            }

#define BY_DTYPE(n, M)                                                       \
    do {                                                                     \
        if ((n)->dtype == AG_F64) M(double);                                 \
        else M(float);                                                       \
    } while (0)

/* ------------------------------------------------ gather and scatter */

/* y (planes, OHW) (+)= x[idx] from x (planes, HW) */
#define GATHER_T(T)                                                          \
    do {                                                                     \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                 \
        const T *xp = x;                                                     \
        T *yp = y;                                                           \
        for (int64_t p = 0; p < g->planes; p++)                              \
            for (int64_t o = 0; o < OHW; o++) {                              \
                T v = xp[p * HW + g->idx[p * OHW + o]];                      \
                yp[p * OHW + o] = acc ? yp[p * OHW + o] + v : v;             \
            }                                                                \
    } while (0)

/* dx (planes, HW) (+)= scatter of g (planes, OHW) to idx */
#define SCATTER_T(T)                                                         \
    do {                                                                     \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                 \
        const T *gp = src;                                                   \
        T *dp = dst;                                                         \
        if (!acc) memset(dp, 0, (size_t)(g->planes * HW) * sizeof(T));       \
        for (int64_t p = 0; p < g->planes; p++)                              \
            for (int64_t o = 0; o < OHW; o++) dp[p * HW + g->idx[p * OHW + o]] += gp[p * OHW + o]; \
    } while (0)

static void gather(int dt, const pool_geom *g, const void *x, void *y, bool acc) {
    if (dt == AG_F64) GATHER_T(double);
    else GATHER_T(float);
}
static void scatter(int dt, const pool_geom *g, const void *src, void *dst, bool acc) {
    if (dt == AG_F64) SCATTER_T(double);
    else SCATTER_T(float);
}

static ag_tensor *record_pool_op(ag_tape *t, ag_op op, const pool_geom *g, ag_tensor *x);

/* Each window's first maximal element, then y = x[idx]. The strict `>`
 * keeps the first of equal values; the select compiles without branches
 * (the comparisons are unpredictable on real data). A window holding a NaN
 * (rare, flagged as it goes) takes its first NaN. The geometry is read into
 * locals once: the index stores could alias it. */
#define MAX_POOL_FWD_T(T)                                                    \
    do {                                                                     \
        const T *restrict xp = ag__val(n->in[0]);                            \
        T *restrict yp = ag__val(n);                                         \
        int64_t *restrict idx = g->idx;                                      \
        const int64_t H = g->H, W = g->W, kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw; \
        const int64_t ph = g->ph, pw = g->pw, OH = g->OH, OW = g->OW, HW = H * W; \
        for (int64_t p = 0, o = 0; p < g->planes; p++) {                     \
            const T *plane = xp + p * HW;                                    \
            for (int64_t oh = 0; oh < OH; oh++) {                            \
                const int64_t hs = oh * sh - ph, h0 = hs < 0 ? 0 : hs;       \
                const int64_t h1 = hs + kh > H ? H : hs + kh;                \
                for (int64_t ow = 0; ow < OW; ow++, o++) {                   \
                    const int64_t ws = ow * sw - pw, w0 = ws < 0 ? 0 : ws;   \
                    const int64_t w1 = ws + kw > W ? W : ws + kw;            \
                    int64_t at = h0 * W + w0;                                \
                    T best = plane[at];                                      \
                    int nan = 0;                                             \
                    for (int64_t h = h0; h < h1; h++)                        \
                        for (int64_t w = w0; w < w1; w++) {                  \
                            const T v = plane[h * W + w];                    \
                            const int gt = v > best;                         \
                            best = gt ? v : best;                            \
                            at = gt ? h * W + w : at;                        \
                            nan |= v != v;                                   \
                        }                                                    \
                    for (int64_t h = h0; nan && h < h1; h++)                 \
                        for (int64_t w = w0; nan && w < w1; w++)             \
                            if (plane[h * W + w] != plane[h * W + w]) {      \
                                at = h * W + w;                              \
                                best = plane[at];                            \
                                nan = 0;                                     \
                            }                                                \
                    idx[o] = at;                                             \
                    yp[o] = best;                                            \
                }                                                            \
            }                                                                \
        }                                                                    \
    } while (0)

static void fwd_max_pool(ag_tensor *n) {
    pool_geom *g = n->ext->aux;
    BY_DTYPE(n, MAX_POOL_FWD_T);
}

static void bwd_gathering(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dx = ag__sweep_dst(s, n->in[0], &fresh);
    if (dx) scatter(n->dtype, geom_of(n), ag__grad(n), dx, !fresh);
}

static bool vjp_gathering(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_POOL_SCATTER, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_MAX_POOL2D = {"max_pool2d", 1, fwd_max_pool, bwd_gathering,
                                      "dx = g at each window's argmax, 0 elsewhere", vjp_gathering};

static void fwd_pool_gather(ag_tensor *n) {
    gather(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n), false);
}

const ag_op_info ag__op_POOL_GATHER = {"pool_gather", 1, fwd_pool_gather, bwd_gathering,
                                       "dx = g scattered to the argmax", vjp_gathering};

static void fwd_pool_scatter(ag_tensor *n) {
    scatter(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n), false);
}

static void bwd_pool_scatter(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dg = ag__sweep_dst(s, n->in[0], &fresh);
    if (dg) gather(n->dtype, geom_of(n), ag__grad(n), dg, !fresh);
}

static bool vjp_pool_scatter(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_POOL_GATHER, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_POOL_SCATTER = {"pool_scatter", 1, fwd_pool_scatter, bwd_pool_scatter,
                                        "dx = g gathered at the argmax", vjp_pool_scatter};

/* ------------------------------------------------------------- average */

/* y (planes, OHW) (+)= window means of x (planes, HW) */
#define AVG_T(T)                                                             \
    do {                                                                     \
        const T *xp = x;                                                     \
        T *yp = y;                                                           \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                 \
        POOL_FOR_WINDOWS(g, p, o, h0, h1, w0, w1, count, {                   \
            double sum = 0;                                                  \
            for (int64_t h = h0; h < h1; h++)                                \
                for (int64_t w = w0; w < w1; w++) sum += xp[p * HW + h * g->W + w]; \
            T v = (T)(sum / count);                                          \
            yp[p * OHW + o] = acc ? yp[p * OHW + o] + v : v;                 \
        });                                                                  \
    } while (0)

/* dx (planes, HW) (+)= g[o] / count over each window o: the transpose */
#define AVG_T_T(T)                                                           \
    do {                                                                     \
        const T *gp = src;                                                   \
        T *dp = dst;                                                         \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                 \
        if (!acc) memset(dp, 0, (size_t)(g->planes * HW) * sizeof(T));       \
        POOL_FOR_WINDOWS(g, p, o, h0, h1, w0, w1, count, {                   \
            T share = (T)(gp[p * OHW + o] / count);                          \
            for (int64_t h = h0; h < h1; h++)                                \
                for (int64_t w = w0; w < w1; w++) dp[p * HW + h * g->W + w] += share; \
        });                                                                  \
    } while (0)

static void avg(int dt, const pool_geom *g, const void *x, void *y, bool acc) {
    if (dt == AG_F64) AVG_T(double);
    else AVG_T(float);
}
static void avg_t(int dt, const pool_geom *g, const void *src, void *dst, bool acc) {
    if (dt == AG_F64) AVG_T_T(double);
    else AVG_T_T(float);
}

static void fwd_avg_pool(ag_tensor *n) { avg(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n), false); }

static void bwd_avg_pool(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dx = ag__sweep_dst(s, n->in[0], &fresh);
    if (dx) avg_t(n->dtype, geom_of(n), ag__grad(n), dx, !fresh);
}

static bool vjp_avg_pool(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_AVG_POOL2D_T, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_AVG_POOL2D = {"avg_pool2d", 1, fwd_avg_pool, bwd_avg_pool,
                                      "dx = g[window] / count, spread over each window", vjp_avg_pool};

static void fwd_avg_pool_t(ag_tensor *n) {
    avg_t(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n), false);
}

static void bwd_avg_pool_t(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dg = ag__sweep_dst(s, n->in[0], &fresh);
    if (dg) avg(n->dtype, geom_of(n), ag__grad(n), dg, !fresh);
}

static bool vjp_avg_pool_t(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_AVG_POOL2D, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_AVG_POOL2D_T = {"avg_pool2d_t", 1, fwd_avg_pool_t, bwd_avg_pool_t,
                                        "dx = avg_pool2d(g)", vjp_avg_pool_t};

/* ---------------------------------------------------------- recording */

/* The ops that map x's shape to y's: the poolings and the gathering. */
static bool to_output(ag_op op) { return op == AG_OP_MAX_POOL2D || op == AG_OP_AVG_POOL2D || op == AG_OP_POOL_GATHER; }

static ag_tensor *record_pool_op(ag_tape *t, ag_op op, const pool_geom *g, ag_tensor *x) {
    if (!x) return NULL;
    bool out = to_output(op);
    ag_tensor *y = ag__record_node(t, op, (ag_dtype)x->dtype, out ? g->ynd : g->xnd,
                                   out ? g->yshape : g->xshape, x, NULL);
    if (!y) return NULL;
    y->ext->aux = (void *)g;
    ag__ops[op]->forward(y);
    return ag__record_done(t, y);
}

static ag_tensor *pool(ag_tape *t, const char *op, ag_op kind, ag_tensor *x, const ag_pool2d_opts *opts) {
    if (!ag__record_check_inputs(t, op, 1, &x)) return NULL;
    if (!opts) return ag__error_fail(t, AG_ERR_NULL, op, "opts is NULL (the kernel size is required)");
    char sx[96];
    ag__error_fmt_operand(sx, sizeof sx, x);
    if (x->ndim != 4 && x->ndim != 3)
        return ag__error_fail(t, AG_ERR_SHAPE, op, "x %s must be (N, C, H, W) or (C, H, W)", sx);
    const int64_t *xs = ag__shape(x);
    int64_t H = xs[x->ndim - 2], W = xs[x->ndim - 1], in[2] = {H, W}, out[2], st[2];
    for (int i = 0; i < 2; i++) {
        int64_t k = opts->kernel[i], s = opts->stride[i] ? opts->stride[i] : k, p = opts->padding[i];
        if (k < 1 || s < 1 || p < 0)
            return ag__error_fail(t, AG_ERR_ARG, op, "kernel (%lld, %lld) must be >= 1, stride >= 0 and "
                                  "padding >= 0", (long long)opts->kernel[0], (long long)opts->kernel[1]);
        if (2 * p > k)
            return ag__error_fail(t, AG_ERR_ARG, op, "padding %lld is more than half the kernel %lld",
                                  (long long)p, (long long)k);
        if (in[i] + 2 * p < k)
            return ag__error_fail(t, AG_ERR_SHAPE, op, "kernel (%lld, %lld) is larger than the padded input x %s",
                                  (long long)opts->kernel[0], (long long)opts->kernel[1], sx);
        out[i] = (in[i] + 2 * p - k) / s + 1;
        st[i] = s;
    }
    pool_geom *g = ag__tape_small(t, sizeof *g);
    if (!g) return ag__error_fail(t, AG_ERR_MEMORY, op, "tape memory cap %zu reached", t->mem_cap);
    *g = (pool_geom){.H = H, .W = W, .kh = opts->kernel[0], .kw = opts->kernel[1], .sh = st[0], .sw = st[1],
                     .ph = opts->padding[0], .pw = opts->padding[1], .OH = out[0], .OW = out[1],
                     .exclude_pad = opts->exclude_pad, .xnd = x->ndim, .ynd = x->ndim};
    g->planes = xs[0] * (x->ndim == 4 ? xs[1] : 1);
    memcpy(g->xshape, xs, (size_t)x->ndim * sizeof *xs);
    memcpy(g->yshape, xs, (size_t)x->ndim * sizeof *xs);
    g->yshape[x->ndim - 2] = out[0];
    g->yshape[x->ndim - 1] = out[1];
    if (kind == AG_OP_MAX_POOL2D) {
        g->idx = ag__tape_alloc(t, (size_t)(g->planes * out[0] * out[1]) * sizeof *g->idx, op);
        if (!g->idx) return NULL;
    }
    return record_pool_op(t, kind, g, x);
}

ag_tensor *ag_max_pool2d(ag_tape *t, ag_tensor *x, const ag_pool2d_opts *opts) {
    return pool(t, "max_pool2d", AG_OP_MAX_POOL2D, x, opts);
}

ag_tensor *ag_avg_pool2d(ag_tape *t, ag_tensor *x, const ag_pool2d_opts *opts) {
    return pool(t, "avg_pool2d", AG_OP_AVG_POOL2D, x, opts);
}

ag_tensor *ag__pool_record(ag_tape *t, ag_op op, ag_tensor *in, ag_tensor *x, const ag_pool2d_opts *opts) {
    const char *name = ag__ops[op]->name;
    if (!ag__record_check_inputs(t, name, 1, &in)) return NULL;
    AG_ASSERT(op == AG_OP_POOL_SCATTER || op == AG_OP_POOL_GATHER || op == AG_OP_AVG_POOL2D_T);
    ag_no_grad_begin(t); /* the pooling whose geometry (and argmax) the op takes */
    ag_tensor *y = op == AG_OP_AVG_POOL2D_T ? pool(t, name, AG_OP_AVG_POOL2D, x, opts)
                                            : pool(t, name, AG_OP_MAX_POOL2D, x, opts);
    ag_no_grad_end(t);
    if (!y) return NULL;
    const pool_geom *g = geom_of(y);
    bool on_x = op == AG_OP_POOL_GATHER; /* takes x's shape, the others y's */
    int nd = on_x ? g->xnd : g->ynd;
    const int64_t *shape = on_x ? g->xshape : g->yshape;
    bool same = in->ndim == nd;
    for (int d = 0; same && d < nd; d++) same = in->ext->shape[d] == shape[d];
    if (!same) {
        char s1[96], s2[96];
        return ag__error_fail(t, AG_ERR_SHAPE, name, "input %s must be %s",
                              ag__error_fmt_operand(s1, sizeof s1, in), ag_format_shape(s2, sizeof s2, nd, shape));
    }
    return record_pool_op(t, op, g, in);
}
