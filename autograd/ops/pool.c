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
#include "kernels.h"
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

/* Output (oh, ow)'s window [h0, h1) x [w0, w1), clipped to x, and the
 * count its mean divides by: kh·kw unless exclude_pad. */
typedef struct pool_window {
    int64_t h0, h1, w0, w1;
    double count;
} pool_window;

static AG_ALWAYS_INLINE pool_window window_of(const pool_geom *g, int64_t oh, int64_t ow) {
    const int64_t hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
    pool_window w = {hs < 0 ? 0 : hs, hs + g->kh > g->H ? g->H : hs + g->kh,
                     ws < 0 ? 0 : ws, ws + g->kw > g->W ? g->W : ws + g->kw, 0};
    w.count = g->exclude_pad ? (double)((w.h1 - w.h0) * (w.w1 - w.w0)) : (double)(g->kh * g->kw);
    return w;
}

/* ------------------------------------------------ gather and scatter */

/* y (planes, OHW) = x[idx] (+= when acc) from x (planes, HW), planes
 * [p0, p1) */
static AG_ALWAYS_INLINE void gather_k(int dt, const pool_geom *g, const void *x, void *y, bool acc, int64_t p0,
                                      int64_t p1) {
    const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t o = 0; o < OHW; o++) {
            const double v = ag__ld(x, dt, p * HW + g->idx[p * OHW + o]);
            if (acc) ag__kernel_acc(y, dt, p * OHW + o, v);
            else ag__st(y, dt, p * OHW + o, v);
        }
}

/* dst (planes, HW) = (or +=, when acc) src (planes, OHW) scattered to idx,
 * planes [p0, p1) */
static AG_ALWAYS_INLINE void scatter_k(int dt, const pool_geom *g, const void *src, void *dst, bool acc,
                                       int64_t p0, int64_t p1) {
    const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;
    if (!acc) memset(ag__kernel_at(dst, dt, p0 * HW), 0, (size_t)((p1 - p0) * HW) * ag__elsize(dt));
    for (int64_t p = p0; p < p1; p++)
        for (int64_t o = 0; o < OHW; o++)
            ag__kernel_acc(dst, dt, p * HW + g->idx[p * OHW + o], ag__ld(src, dt, p * OHW + o));
}

/* Gather or scatter split by plane: a plane's windows touch only its own
 * elements, so the planes are independent. */
typedef struct move_job {
    const pool_geom *g;
    const void *src;
    void *dst;
    int dt;
    bool acc, scatter;
} move_job;

static void move_range(void *ctx, int64_t p0, int64_t p1) {
    const move_job *j = ctx;
    if (j->scatter) AG_BY_DTYPE(j->dt, scatter_k, j->g, j->src, j->dst, j->acc, p0, p1);
    else AG_BY_DTYPE(j->dt, gather_k, j->g, j->src, j->dst, j->acc, p0, p1);
}

static void move_planes(int dt, const pool_geom *g, const void *src, void *dst, bool acc, bool scatter) {
    const int64_t per_plane = g->H * g->W > 0 ? g->H * g->W : 1;
    ag__parallel_for(g->planes, AG__PARALLEL_GRAIN / per_plane + 1, move_range,
                     &(move_job){g, src, dst, dt, acc, scatter});
}

/* Each window's first maximal element, then y = x[idx]. The strict `>`
 * keeps the first of equal values; the select compiles without branches
 * (the comparisons are unpredictable on real data). A window holding a NaN
 * (rare, flagged as it goes) takes its first NaN. For output rows
 * [oh0, oh1) of plane p. */
static AG_ALWAYS_INLINE void max_pool_planes_rows(int dt, const pool_geom *g, const void *x, void *y,
                                                  int64_t *restrict idx, int64_t p, int64_t oh0, int64_t oh1) {
    const int64_t KH = g->kh, KW = g->kw;
    const int64_t HW = g->H * g->W, W = g->W;
    for (int64_t oh = oh0, o = (p * g->OH + oh0) * g->OW; oh < oh1; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++, o++) {
            const int64_t hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
            const int64_t h0 = hs < 0 ? 0 : hs, h1 = hs + KH > g->H ? g->H : hs + KH;
            const int64_t w0 = ws < 0 ? 0 : ws, w1 = ws + KW > g->W ? g->W : ws + KW;
            const int64_t base = p * HW;
            int64_t at = h0 * W + w0;
            double best = ag__ld(x, dt, base + at);
            int nan = 0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t c = w0; c < w1; c++) {
                    const double v = ag__ld(x, dt, base + h * W + c);
                    const int gt = v > best;
                    best = gt ? v : best;
                    at = gt ? h * W + c : at;
                    nan |= v != v;
                }
            for (int64_t h = h0; nan && h < h1; h++)
                for (int64_t c = w0; nan && c < w1; c++)
                    if (isnan(ag__ld(x, dt, base + h * W + c))) {
                        at = h * W + c;
                        best = NAN;
                        nan = 0;
                    }
            idx[o] = at;
            ag__st(y, dt, o, best);
        }
}

/* Planes [p0, p1). */
static AG_ALWAYS_INLINE void max_pool_planes(int dt, const pool_geom *g, const void *x, void *y,
                                             int64_t *restrict idx, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) max_pool_planes_rows(dt, g, x, y, idx, p, 0, g->OH);
}

/* One output row of the common 2 x 2 window at stride 2 without padding:
 * the four elements read straight from two rows r0 and r1 = r0 + W, the
 * first maximum in row-major order chosen by compares turned into masks
 * and selects (branches were mispredicted on real data: 11 % of cnn_step),
 * in the element type, so the compiler keeps it free of branches. Returns
 * whether the row held a NaN: the caller then redoes it window by window. */
#define MAX_POOL_2X2_ROW(T, SUF)                                             \
    static AG_ALWAYS_INLINE bool max_pool_2x2_row_##SUF(const T *restrict r0, int64_t W, int64_t OW, \
                                                       int64_t at0, T *restrict y, \
                                                       int64_t *restrict idx) { \
        const T *restrict r1 = r0 + W;                                       \
        int nan = 0;                                                         \
        for (int64_t ow = 0; ow < OW; ow++) {                                \
            const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1]; \
            const int64_t gab = b > a, gcd = d > c;                          \
            const T mab = gab ? b : a, mcd = gcd ? d : c;                    \
            const int64_t up = mcd > mab;                                    \
            y[ow] = up ? mcd : mab;                                          \
            idx[ow] = at0 + 2 * ow + gab + ((W + gcd - gab) & -up); /* masks: no branch */ \
            nan |= (a != a) | (b != b) | (c != c) | (d != d);                \
        }                                                                    \
        return nan;                                                          \
    }
MAX_POOL_2X2_ROW(float, f32)
MAX_POOL_2X2_ROW(double, f64)

/* max_pool_planes for that window, every window inside x, with the same
 * choice (the first maximum in row-major order, the first NaN of a window
 * that has one). */
static AG_ALWAYS_INLINE void max_pool_2x2(int dt, const pool_geom *g, const void *x, void *y,
                                          int64_t *restrict idx, int64_t p0, int64_t p1) {
    const int64_t W = g->W, HW = g->H * W, OW = g->OW;
    for (int64_t p = p0, o = p0 * g->OH * OW; p < p1; p++)
        for (int64_t oh = 0; oh < g->OH; oh++, o += OW) {
            const int64_t r0 = p * HW + 2 * oh * W, at0 = 2 * oh * W;
            const bool nan = dt == AG_F64
                                 ? max_pool_2x2_row_f64((const double *)x + r0, W, OW, at0, (double *)y + o, idx + o)
                                 : max_pool_2x2_row_f32((const float *)x + r0, W, OW, at0, (float *)y + o, idx + o);
            if (nan) max_pool_planes_rows(dt, g, x, y, idx, p, oh, oh + 1);
        }
}

static AG_ALWAYS_INLINE void max_pool_k(int dt, const pool_geom *g, const void *x, void *y,
                                        int64_t *restrict idx, int64_t p0, int64_t p1) {
    if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
        2 * g->OH <= g->H && 2 * g->OW <= g->W)
        max_pool_2x2(dt, g, x, y, idx, p0, p1);
    else
        max_pool_planes(dt, g, x, y, idx, p0, p1);
}

/* The planes are independent (each writes its own outputs and argmax), so
 * the pool splits them. */
typedef struct max_pool_job {
    const pool_geom *g;
    const void *x;
    void *y;
    int dt;
} max_pool_job;

static void max_pool_range(void *ctx, int64_t p0, int64_t p1) {
    const max_pool_job *j = ctx;
    AG_BY_DTYPE(j->dt, max_pool_k, j->g, j->x, j->y, j->g->idx, p0, p1);
}

static ag_tensor *record_pool_op(ag_tape *t, ag_op op, const pool_geom *g, ag_tensor *x);

static void fwd_max_pool(ag_tensor *n) {
    pool_geom *g = n->ext->aux; /* the forward writes the argmax */
    max_pool_job j = {g, ag__val(n->in[0]), ag__val(n), n->dtype};
    const int64_t per_plane = g->H * g->W > 0 ? g->H * g->W : 1;
    ag__parallel_for(g->planes, AG__PARALLEL_GRAIN / per_plane + 1, max_pool_range, &j);
}

static void bwd_gathering(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dx = ag__sweep_dst(s, n->in[0], &fresh);
    if (dx) move_planes(n->dtype, geom_of(n), ag__grad(n), dx, !fresh, true);
}

static bool vjp_gathering(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_POOL_SCATTER, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_MAX_POOL2D = {"max_pool2d", 1, fwd_max_pool, bwd_gathering,
                                      "dx = g at each window's argmax, 0 elsewhere", vjp_gathering, NULL};

static void fwd_pool_gather(ag_tensor *n) {
    move_planes(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n), false, false);
}

const ag_op_info ag__op_POOL_GATHER = {"pool_gather", 1, fwd_pool_gather, bwd_gathering,
                                       "dx = g scattered to the argmax", vjp_gathering, NULL};

static void fwd_pool_scatter(ag_tensor *n) {
    move_planes(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n), false, true);
}

static void bwd_pool_scatter(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dg = ag__sweep_dst(s, n->in[0], &fresh);
    if (dg) move_planes(n->dtype, geom_of(n), ag__grad(n), dg, !fresh, false);
}

static bool vjp_pool_scatter(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_POOL_GATHER, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_POOL_SCATTER = {"pool_scatter", 1, fwd_pool_scatter, bwd_pool_scatter,
                                        "dx = g gathered at the argmax", vjp_pool_scatter, NULL};

/* ------------------------------------------------------------- average */

/* y (planes, OHW) = (or +=, when acc) the window means of x (planes, HW) */
static AG_ALWAYS_INLINE void avg_k(int dt, const pool_geom *g, const void *x, void *y, bool acc) {
    const int64_t HW = g->H * g->W, W = g->W;
    for (int64_t p = 0, o = 0; p < g->planes; p++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++, o++) {
                const pool_window w = window_of(g, oh, ow);
                double sum = 0;
                for (int64_t h = w.h0; h < w.h1; h++)
                    for (int64_t c = w.w0; c < w.w1; c++) sum += ag__ld(x, dt, p * HW + h * W + c);
                if (acc) ag__kernel_acc(y, dt, o, sum / w.count);
                else ag__st(y, dt, o, sum / w.count);
            }
}

/* dst (planes, HW) = (or +=) src[o] / count spread over each window o: the transpose */
static AG_ALWAYS_INLINE void avg_t_k(int dt, const pool_geom *g, const void *src, void *dst, bool acc) {
    const int64_t HW = g->H * g->W, W = g->W;
    if (!acc) memset(dst, 0, (size_t)(g->planes * HW) * ag__elsize(dt));
    for (int64_t p = 0, o = 0; p < g->planes; p++)
        for (int64_t oh = 0; oh < g->OH; oh++)
            for (int64_t ow = 0; ow < g->OW; ow++, o++) {
                const pool_window w = window_of(g, oh, ow);
                const double share = ag__ld(src, dt, o) / w.count;
                for (int64_t h = w.h0; h < w.h1; h++)
                    for (int64_t c = w.w0; c < w.w1; c++) ag__kernel_acc(dst, dt, p * HW + h * W + c, share);
            }
}

static void fwd_avg_pool(ag_tensor *n) { AG_BY_DTYPE(n->dtype, avg_k, geom_of(n), ag__val(n->in[0]), ag__val(n), false); }

static void bwd_avg_pool(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dx = ag__sweep_dst(s, n->in[0], &fresh);
    if (dx) AG_BY_DTYPE(n->dtype, avg_t_k, geom_of(n), ag__grad(n), dx, !fresh);
}

static bool vjp_avg_pool(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_AVG_POOL2D_T, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_AVG_POOL2D = {"avg_pool2d", 1, fwd_avg_pool, bwd_avg_pool,
                                      "dx = g[window] / count, spread over each window", vjp_avg_pool, NULL};

static void fwd_avg_pool_t(ag_tensor *n) {
    AG_BY_DTYPE(n->dtype, avg_t_k, geom_of(n), ag__val(n->in[0]), ag__val(n), false);
}

static void bwd_avg_pool_t(ag_sweep *s, ag_tensor *n) {
    bool fresh;
    void *dg = ag__sweep_dst(s, n->in[0], &fresh);
    if (dg) AG_BY_DTYPE(n->dtype, avg_k, geom_of(n), ag__grad(n), dg, !fresh);
}

static bool vjp_avg_pool_t(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record_pool_op(t, AG_OP_AVG_POOL2D, geom_of(n), G)) != NULL;
}

const ag_op_info ag__op_AVG_POOL2D_T = {"avg_pool2d_t", 1, fwd_avg_pool_t, bwd_avg_pool_t,
                                        "dx = avg_pool2d(g)", vjp_avg_pool_t, NULL};

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
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
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
