/* Convolution, 1-D and 2-D (NCHW), with stride, padding, dilation and
 * groups: three ops, each forward beside its derivatives.
 *
 * With T(x, w, g) = sum g[n,o,i,j] · w[o,c,p,q] · x[n,c, i·sh-ph+p·dh, j·sw-pw+q·dw],
 * a trilinear form, the three ops are its three partials:
 *   conv(x, w)             = ∂T/∂g   y,  the convolution
 *   conv_input_grad(g, w)  = ∂T/∂x   dx, the transposed convolution
 *   conv_weight_grad(x, g) = ∂T/∂w   dw
 * so the chain rule of each is made of the other two (and of itself), and
 * their graph-form backwards close: every order of derivative works.
 *
 * Each runs per group on column matrices (kernels/im2col.h):
 *   y_n,g  (Og, OHW) = W_g (Og, Kc) · col(x_n,g) (Kc, OHW),    Kc = Cg·kh·kw
 *   dx_n,g           = col2im(W_gᵀ · g_n,g)
 *   dW_g  (Og, Kc)   = Σ_n g_n,g · col(x_n,g)ᵀ
 * on the GEMM layer, with beta = 1 where a sweep adds into a gradient
 * already written. The scratch (column matrices of a chunk of images, see
 * the kernels; one set per lane, see "Threads") is in the tape's arena,
 * made with the node, under the memory cap, and shared with the nodes its
 * graph-form backward makes (the sweeps run one rule at a time); a 1x1
 * kernel at stride 1 without padding needs none: x is its own column
 * matrix. */
#include "conv.h"
#include "im2col.h"
#include "kernels.h"

/* The most parts a convolution's batch splits into (see "Threads"). */
#define CONV_MAX_PARTS 8

/* One lane's scratch: the column matrices of a chunk, (Kc, chunk·P) (NULL
 * when direct), its outputs or upstream gradients, (Og, chunk·P), and,
 * wide and padded, the padded image (Cg, Hp, Wp). */
typedef struct conv_scratch {
    void *col, *obuf, *xpad;
} conv_scratch;

/* The geometry of a convolution, shared by its three ops (ext->aux). */
typedef struct conv_geom {
    int nsp;                 /* spatial dimensions: 1 or 2 */
    bool batched;            /* x has its N dimension */
    int64_t N, C, O, G, Cg, Og;
    int64_t HW, OHW, Kc;
    ag_im2col_geom im;       /* one image and group: C = Cg */
    bool direct;             /* 1x1, stride 1, no padding: col(x) is x */
    bool wide;               /* stride 1: wide column matrix of the padded image */
    ag_im2col_geom wim;      /* the padded image (Cg, Hp, Wp), no padding */
    int64_t L;               /* wide columns: (OH - 1)·Wp + OW */
    bool padded;             /* wide with padding: xpad holds the padded image */
    int64_t P;               /* columns per image: L when wide, else OHW */
    int64_t chunk;           /* images whose columns sit side by side in one GEMM */
    int64_t units;           /* chunks (images on the direct path): the parts' units */
    int64_t parts;           /* runs of units, fixed by the batch: see "Threads" */
    int lanes;               /* scratch sets, one per part running at once */
    conv_scratch lane[CONV_MAX_PARTS];
    void *dw_parts;          /* parts 1.. of a weight gradient: (parts - 1, O, Kc) */
    int xnd, wnd, ynd;
    int64_t xshape[4], wshape[4], yshape[4];
} conv_geom;

static const conv_geom *geom_of(const ag_tensor *n) { return n->ext->aux; }

/* ----------------------------------------------------------- kernels */

/* Images go through the GEMMs in chunks: the column matrices of up to
 * `chunk` images side by side, (Kc, chunk·P), so small images make GEMMs
 * of several images while the scratch stays within a budget that keeps it
 * in the L2 cache (conv.h). The outputs of a chunk come out as (Og, chunk·P) in obuf
 * and are copied to y; upstream gradients go the other way.
 *
 * The wide path (stride 1, kernels/im2col.h): the image, padded into xpad
 * when it has padding, gives a wide column matrix of long rows, P = L =
 * (OH-1)·Wp + OW columns of which the outputs are OH runs of OW, so the
 * copies to and from obuf compact wide rows or expand them with zeros.
 * Other strides take im2col, P = OH·OW. A 1x1 kernel at stride 1 without
 * padding reads x in place, one GEMM per image. */
/* The im2col layer (kernels/im2col.h) on untyped buffers of dtype dt. */
static void im2col(int dt, const ag_im2col_geom *g, const void *x, void *col, int64_t ld, bool wide) {
    if (dt == AG_F64) (wide ? ag__im2col_wide_f64 : ag__im2col_f64)(g, x, col, ld);
    else (wide ? ag__im2col_wide_f32 : ag__im2col_f32)(g, x, col, ld);
}
static void col2im(int dt, const ag_im2col_geom *g, const void *col, int64_t ld, void *x, bool wide) {
    if (dt == AG_F64) (wide ? ag__col2im_wide_f64 : ag__col2im_f64)(g, col, ld, x);
    else (wide ? ag__col2im_wide_f32 : ag__col2im_f32)(g, col, ld, x);
}
static void copy2d(int dt, int64_t rows, int64_t cols, const void *src, int64_t sld, void *dst, int64_t dld,
                   bool add) {
    if (dt == AG_F64) ag__copy2d_f64(rows, cols, src, sld, dst, dld, add);
    else ag__copy2d_f32(rows, cols, src, sld, dst, dld, add);
}

/* Element i of buffer p (dtype dt). */
#define AT(p, i) ag__kernel_at((p), dt, (i))

/* The padded image of group xg (Cg, H, W) in xpad, (Cg, Hp, Wp). */
static void pad_image(int dt, const conv_geom *g, const void *xg, void *xpad) {
    const ag_im2col_geom *w = &g->wim;
    memset(xpad, 0, (size_t)(w->C * w->H * w->W) * ag__elsize(dt));
    for (int64_t c = 0; c < w->C; c++)
        copy2d(dt, g->im.H, g->im.W, AT(xg, c * g->HW), g->im.W,
               AT(xpad, (c * w->H + g->im.ph) * w->W + g->im.pw), w->W, false);
}

/* Image group xg (Cg, H, W)'s P columns at col, row stride ld (xpad: the
 * lane's padded image). */
static void cols(int dt, const conv_geom *g, const void *xg, void *col, int64_t ld, void *xpad) {
    if (!g->wide) {
        im2col(dt, &g->im, xg, col, ld, false);
        return;
    }
    if (g->padded) pad_image(dt, g, xg, xpad);
    im2col(dt, &g->wim, g->padded ? xpad : xg, col, ld, true);
}

/* dx image group dxg += col2im of its P columns at col, row stride ld. */
static void uncols(int dt, const conv_geom *g, const void *col, int64_t ld, void *dxg, void *xpad) {
    if (!g->wide || !g->padded) {
        col2im(dt, g->wide ? &g->wim : &g->im, col, ld, dxg, g->wide);
        return;
    }
    const ag_im2col_geom *w = &g->wim;
    memset(xpad, 0, (size_t)(w->C * w->H * w->W) * ag__elsize(dt));
    col2im(dt, w, col, ld, xpad, true);
    for (int64_t c = 0; c < w->C; c++) /* the padded image's inside, added to dx */
        copy2d(dt, g->im.H, g->im.W, AT(xpad, (c * w->H + g->im.ph) * w->W + g->im.pw), w->W,
               AT(dxg, c * g->HW), g->im.W, true);
}

/* An image's (Og, OH·OW) block yg from its (Og, P) columns at ob, row
 * stride ld (+= when acc); or, to_buf, the other way, with zeros in the
 * wide gaps. */
static void out_copy(int dt, const conv_geom *g, void *ob, int64_t ld, void *yg, bool to_buf, bool acc) {
    const int64_t rows = g->wide ? g->im.OH : 1, ncols = g->wide ? g->im.OW : g->OHW;
    const int64_t stride = g->wide ? g->wim.W : g->OHW;
    for (int64_t o = 0; o < g->Og; o++) {
        if (!to_buf) {
            copy2d(dt, rows, ncols, AT(ob, o * ld), stride, AT(yg, o * g->OHW), ncols, acc);
            continue;
        }
        if (g->wide) memset(AT(ob, o * ld), 0, (size_t)g->P * ag__elsize(dt));
        copy2d(dt, rows, ncols, AT(yg, o * g->OHW), ncols, AT(ob, o * ld), stride, false);
    }
}

/* The images in the chunk from image n0 of a part ending at n1: at most
 * g->chunk. */
static int64_t chunk_len(const conv_geom *g, int64_t n0, int64_t n1) {
    return n1 - n0 < g->chunk ? n1 - n0 : g->chunk;
}

/* Offsets (elements) of image n, group gr in x, y and w. */
static int64_t x_at(const conv_geom *g, int64_t n, int64_t gr) { return (n * g->C + gr * g->Cg) * g->HW; }
static int64_t y_at(const conv_geom *g, int64_t n, int64_t gr) { return (n * g->O + gr * g->Og) * g->OHW; }
static int64_t w_at(const conv_geom *g, int64_t gr) { return gr * g->Og * g->Kc; }

/* y[n, o, :] += b[o] for images [n0, n1) */
static AG_ALWAYS_INLINE void bias_add_k(int dt, const conv_geom *g, const void *b, void *y, int64_t n0,
                                        int64_t n1) {
    for (int64_t row = n0 * g->O; row < n1 * g->O; row++) {
        const double bo = ag__ld(b, dt, row % g->O);
        for (int64_t p = 0; p < g->OHW; p++) ag__kernel_acc(y, dt, row * g->OHW + p, bo);
    }
}

/* y (images [n0, n1) of (N, O, OHW)) = conv(x, w) (+ bias), or += when acc */
static void y_part(int dt, const conv_geom *g, const conv_scratch *s, const void *x, const void *w,
                   const void *bias, void *y, bool acc, int64_t n0, int64_t n1) {
    for (int64_t gr = 0; gr < g->G; gr++) {
        const void *wg = AT(w, w_at(g, gr));
        if (g->direct) {
            for (int64_t n = n0; n < n1; n++)
                ag__kernel_gemm(dt, false, false, g->Og, g->OHW, g->Kc, wg, g->Kc, AT(x, x_at(g, n, gr)),
                                g->OHW, acc ? 1 : 0, AT(y, y_at(g, n, gr)), g->OHW);
            continue;
        }
        for (int64_t c0 = n0; c0 < n1; c0 += g->chunk) {
            const int64_t m = chunk_len(g, c0, n1), ld = m * g->P; /* the chunk's columns side by side */
            for (int64_t n = 0; n < m; n++)
                cols(dt, g, AT(x, x_at(g, c0 + n, gr)), AT(s->col, n * g->P), ld, s->xpad);
            ag__kernel_gemm(dt, false, false, g->Og, ld, g->Kc, wg, g->Kc, s->col, ld, 0, s->obuf, ld);
            for (int64_t n = 0; n < m; n++)
                out_copy(dt, g, AT(s->obuf, n * g->P), ld, AT(y, y_at(g, c0 + n, gr)), false, acc);
        }
    }
    if (bias) AG_BY_DTYPE(dt, bias_add_k, g, bias, y, n0, n1);
}

/* dx (images [n0, n1) of (N, C, HW)) = conv_input_grad(gy, w), or += when acc */
static void dx_part(int dt, const conv_geom *g, const conv_scratch *s, const void *gy, const void *w,
                    void *dx, bool acc, int64_t n0, int64_t n1) {
    if (!acc && !g->direct)
        memset(AT(dx, x_at(g, n0, 0)), 0, (size_t)((n1 - n0) * g->C * g->HW) * ag__elsize(dt));
    for (int64_t gr = 0; gr < g->G; gr++) {
        const void *wg = AT(w, w_at(g, gr));
        if (g->direct) {
            for (int64_t n = n0; n < n1; n++)
                ag__kernel_gemm(dt, true, false, g->Kc, g->OHW, g->Og, wg, g->Kc, AT(gy, y_at(g, n, gr)),
                                g->OHW, acc ? 1 : 0, AT(dx, x_at(g, n, gr)), g->OHW);
            continue;
        }
        for (int64_t c0 = n0; c0 < n1; c0 += g->chunk) {
            const int64_t m = chunk_len(g, c0, n1), ld = m * g->P; /* the chunk's columns side by side */
            for (int64_t n = 0; n < m; n++)
                out_copy(dt, g, AT(s->obuf, n * g->P), ld, AT(gy, y_at(g, c0 + n, gr)), true, false);
            ag__kernel_gemm(dt, true, false, g->Kc, ld, g->Og, wg, g->Kc, s->obuf, ld, 0, s->col, ld);
            for (int64_t n = 0; n < m; n++)
                uncols(dt, g, AT(s->col, n * g->P), ld, AT(dx, x_at(g, c0 + n, gr)), s->xpad);
        }
    }
}

/* dw (O, Kc) = conv_weight_grad(x, gy) over images [n0, n1), or += when
 * acc */
static void dw_part(int dt, const conv_geom *g, const conv_scratch *s, const void *x, const void *gy,
                    void *dw, bool acc, int64_t n0, int64_t n1) {
    for (int64_t gr = 0; gr < g->G; gr++) {
        void *dwg = AT(dw, w_at(g, gr));
        if (g->direct) {
            for (int64_t n = n0; n < n1; n++)
                ag__kernel_gemm(dt, false, true, g->Og, g->Kc, g->OHW, AT(gy, y_at(g, n, gr)), g->OHW,
                                AT(x, x_at(g, n, gr)), g->OHW, (acc || n > n0) ? 1 : 0, dwg, g->Kc);
            continue;
        }
        for (int64_t c0 = n0; c0 < n1; c0 += g->chunk) {
            const int64_t m = chunk_len(g, c0, n1), ld = m * g->P; /* the chunk's columns side by side */
            for (int64_t n = 0; n < m; n++) {
                cols(dt, g, AT(x, x_at(g, c0 + n, gr)), AT(s->col, n * g->P), ld, s->xpad);
                out_copy(dt, g, AT(s->obuf, n * g->P), ld, AT(gy, y_at(g, c0 + n, gr)), true, false);
            }
            ag__kernel_gemm(dt, false, true, g->Og, g->Kc, ld, s->obuf, ld, s->col, ld,
                            (acc || c0 > n0) ? 1 : 0, dwg, g->Kc);
        }
    }
}

/* Threads. The batch splits into g->parts runs of whole units (chunks,
 * or images on the direct path), a count fixed by the batch and the
 * chunk when the node is made, never by the thread count. y and dx are
 * written image by image, so parts never meet; dw sums over the images,
 * so part 0 sums its own into dw and each other part into its own buffer
 * (dw_parts), added to dw in part order after: the same bits on any number
 * of threads. The lanes (each with its scratch; as many as the pool had
 * threads when the node was made, at most the parts) run parts l, l +
 * lanes, ... one after another, and the pool runs the lanes. A product
 * inside a lane runs on the lane's thread (the pool does not nest); with
 * one lane, a large product splits itself (kernels/gemm.c). */
enum { CONV_Y, CONV_DX, CONV_DW };

typedef struct conv_job {
    int dt, kind;
    const conv_geom *g;
    const void *a, *b, *bias; /* y: x, w; dx: gy, w; dw: x, gy */
    void *out;
    bool acc;
} conv_job;

static void run_part(const conv_job *j, const conv_scratch *s, int64_t p) {
    const conv_geom *g = j->g;
    const int dt = j->dt;
    const int64_t per = g->direct ? 1 : g->chunk;
    const int64_t u0 = p * g->units / g->parts, u1 = (p + 1) * g->units / g->parts;
    const int64_t n0 = u0 * per, n1 = u1 * per < g->N ? u1 * per : g->N;
    if (j->kind == CONV_Y) y_part(dt, g, s, j->a, j->b, j->bias, j->out, j->acc, n0, n1);
    else if (j->kind == CONV_DX) dx_part(dt, g, s, j->a, j->b, j->out, j->acc, n0, n1);
    else if (p == 0) dw_part(dt, g, s, j->a, j->b, j->out, j->acc, n0, n1);
    else dw_part(dt, g, s, j->a, j->b, AT(g->dw_parts, (p - 1) * g->O * g->Kc), false, n0, n1);
}

static void run_lanes(void *ctx, int64_t l0, int64_t l1) {
    const conv_job *j = ctx;
    for (int64_t l = l0; l < l1; l++)
        for (int64_t p = l; p < j->g->parts; p += j->g->lanes) run_part(j, &j->g->lane[l], p);
}

static void run_job(const conv_job *j) {
    ag__parallel_for(j->g->lanes, 1, run_lanes, (void *)j);
}

/* y (N, O, OHW) = conv(x, w) (+ bias), or += when acc */
static void conv_y(int dt, const conv_geom *g, const void *x, const void *w, const void *bias, void *y,
                   bool acc) {
    run_job(&(conv_job){dt, CONV_Y, g, x, w, bias, y, acc});
}

/* dx (N, C, HW) = conv_input_grad(gy, w), or += when acc */
static void conv_dx(int dt, const conv_geom *g, const void *gy, const void *w, void *dx, bool acc) {
    run_job(&(conv_job){dt, CONV_DX, g, gy, w, NULL, dx, acc});
}

/* dw (O, Kc) = conv_weight_grad(x, gy), or += when acc */
static void conv_dw(int dt, const conv_geom *g, const void *x, const void *gy, void *dw, bool acc) {
    if (!acc && g->N == 0) memset(dw, 0, (size_t)(g->O * g->Kc) * ag__elsize(dt));
    run_job(&(conv_job){dt, CONV_DW, g, x, gy, NULL, dw, acc});
    const int64_t n = g->O * g->Kc;
    for (int64_t p = 1; p < g->parts; p++) /* in part order */
        for (int64_t i = 0; i < n; i++) ag__kernel_acc(dw, dt, i, ag__ld(g->dw_parts, dt, (p - 1) * n + i));
}

/* db[o] += sum over n and positions of gy[n, o, :], channels [o0, o1) */
static AG_ALWAYS_INLINE void bias_grad_k(int dt, const conv_geom *g, const void *gy, void *db, int64_t o0,
                                         int64_t o1) {
    /* in doubles, in eight interleaved partial sums per channel (one chain
     * of dependent additions waited 4 cycles an element), added once */
    for (int64_t o = o0; o < o1; o++) {
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t n = 0; n < g->N; n++) {
            const int64_t at = (n * g->O + o) * g->OHW;
            int64_t p = 0;
            for (; p + 8 <= g->OHW; p += 8)
                for (int u = 0; u < 8; u++) acc[u] += ag__ld(gy, dt, at + p + u);
            for (; p < g->OHW; p++) acc[0] += ag__ld(gy, dt, at + p);
        }
        ag__kernel_acc(db, dt, o, ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    }
}

/* The bias gradient split by channel: each channel's sum runs over the
 * images in order on one thread, as it would on one, so the bits do not
 * depend on the thread count. */
typedef struct bias_grad_job {
    int dt;
    const conv_geom *g;
    const void *gy;
    void *db;
} bias_grad_job;

static void bias_grad_range(void *ctx, int64_t o0, int64_t o1) {
    const bias_grad_job *j = ctx;
    AG_BY_DTYPE(j->dt, bias_grad_k, j->g, j->gy, j->db, o0, o1);
}
#undef AT

/* --------------------------------------------------------- recording */

/* Records op on inputs xs with geometry g and runs its forward. */
static ag_tensor *record_conv_op(ag_tape *t, ag_op op, const conv_geom *g, int n, ag_tensor *const *xs) {
    int nd = op == AG_OP_CONV ? g->ynd : op == AG_OP_CONV_INPUT_GRAD ? g->xnd : g->wnd;
    const int64_t *shape = op == AG_OP_CONV ? g->yshape : op == AG_OP_CONV_INPUT_GRAD ? g->xshape : g->wshape;
    ag_tensor *y = ag__record_node_n(t, op, (ag_dtype)xs[0]->dtype, nd, shape, n, xs);
    if (!y) return NULL;
    y->ext->aux = (void *)g;
    ag__ops[op]->forward(y);
    return ag__record_done(t, y);
}

static ag_tensor *rec_conv(ag_tape *t, const conv_geom *g, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    ag_tensor *xs[3] = {x, w, b};
    return (x && w) ? record_conv_op(t, AG_OP_CONV, g, b ? 3 : 2, xs) : NULL;
}
static ag_tensor *rec_input_grad(ag_tape *t, const conv_geom *g, ag_tensor *gy, ag_tensor *w) {
    ag_tensor *xs[2] = {gy, w};
    return (gy && w) ? record_conv_op(t, AG_OP_CONV_INPUT_GRAD, g, 2, xs) : NULL;
}
static ag_tensor *rec_weight_grad(ag_tape *t, const conv_geom *g, ag_tensor *x, ag_tensor *gy) {
    ag_tensor *xs[2] = {x, gy};
    return (x && gy) ? record_conv_op(t, AG_OP_CONV_WEIGHT_GRAD, g, 2, xs) : NULL;
}

/* ---------------------------------------------------------------- conv */

static void fwd_conv(ag_tensor *n) {
    const conv_geom *g = geom_of(n);
    const void *bias = ag__op_ninputs(n) == 3 ? ag__val(ag__input(n, 2)) : NULL;
    conv_y(n->dtype, g, ag__val(n->in[0]), ag__val(n->in[1]), bias, ag__val(n), false);
}

/* dx = conv_input_grad(dy, w), dw = conv_weight_grad(x, dy), db = Σ dy. */
static void bwd_conv(ag_sweep *s, ag_tensor *n) {
    const conv_geom *g = geom_of(n);
    ag_tensor *x = n->in[0], *w = n->in[1];
    const void *gy = ag__grad(n);
    bool fresh;
    void *dx = ag__sweep_dst(s, x, &fresh);
    if (dx) conv_dx(n->dtype, g, gy, ag__val(w), dx, !fresh);
    void *dw = ag__sweep_dst(s, w, &fresh);
    if (dw) conv_dw(n->dtype, g, ag__val(x), gy, dw, !fresh);
    void *db = ag__op_ninputs(n) == 3 ? ag__sweep_acc(s, ag__input(n, 2)) : NULL;
    const int64_t per_channel = g->N * g->OHW > 0 ? g->N * g->OHW : 1;
    if (db) ag__parallel_for(g->O, AG__PARALLEL_GRAIN / per_channel + 1, bias_grad_range,
                             &(bias_grad_job){n->dtype, g, gy, db});
}

/* G summed over every axis but the channel's: the bias's share. */
static ag_tensor *sum_but_channel(ag_tape *t, ag_tensor *G, const conv_geom *g) {
    for (int ax = G->ndim - 1; ax >= (g->batched ? 2 : 1) && G; ax--) G = ag_sum(t, G, ax, false);
    return g->batched ? ag_sum(t, G, 0, false) : G;
}

static bool vjp_conv(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    const conv_geom *g = geom_of(n);
    ag_tensor *x = n->in[0], *w = n->in[1];
    if (ag__requires_grad(x) && !(gin[0] = rec_input_grad(t, g, G, w))) return false;
    if (ag__requires_grad(w) && !(gin[1] = rec_weight_grad(t, g, x, G))) return false;
    if (ag__op_ninputs(n) == 3 && ag__requires_grad(ag__input(n, 2)) && !(gin[2] = sum_but_channel(t, G, g)))
        return false;
    return true;
}

const ag_op_info ag__op_CONV = {"conv", -1, fwd_conv, bwd_conv,
                                "dx = conv_input_grad(g, w), dw = conv_weight_grad(x, g), db = sum(g)",
                                vjp_conv, NULL};

/* ---------------------------------------------------- conv_input_grad */

static void fwd_input_grad(ag_tensor *n) {
    conv_dx(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n->in[1]), ag__val(n), false);
}

/* Upstream G has x's shape: d gy = conv(G, w), d w = conv_weight_grad(G, gy). */
static void bwd_input_grad(ag_sweep *s, ag_tensor *n) {
    const conv_geom *g = geom_of(n);
    ag_tensor *gy = n->in[0], *w = n->in[1];
    bool fresh;
    void *dgy = ag__sweep_dst(s, gy, &fresh);
    if (dgy) conv_y(n->dtype, g, ag__grad(n), ag__val(w), NULL, dgy, !fresh);
    void *dw = ag__sweep_dst(s, w, &fresh);
    if (dw) conv_dw(n->dtype, g, ag__grad(n), ag__val(gy), dw, !fresh);
}

static bool vjp_input_grad(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    const conv_geom *g = geom_of(n);
    ag_tensor *gy = n->in[0], *w = n->in[1];
    if (ag__requires_grad(gy) && !(gin[0] = rec_conv(t, g, G, w, NULL))) return false;
    if (ag__requires_grad(w) && !(gin[1] = rec_weight_grad(t, g, G, gy))) return false;
    return true;
}

const ag_op_info ag__op_CONV_INPUT_GRAD = {"conv_input_grad", 2, fwd_input_grad, bwd_input_grad,
                                           "da = conv(g, b), db = conv_weight_grad(g, a)",
                                           vjp_input_grad, NULL};

/* --------------------------------------------------- conv_weight_grad */

static void fwd_weight_grad(ag_tensor *n) {
    conv_dw(n->dtype, geom_of(n), ag__val(n->in[0]), ag__val(n->in[1]), ag__val(n), false);
}

/* Upstream G has w's shape: d x = conv_input_grad(gy, G), d gy = conv(x, G). */
static void bwd_weight_grad(ag_sweep *s, ag_tensor *n) {
    const conv_geom *g = geom_of(n);
    ag_tensor *x = n->in[0], *gy = n->in[1];
    bool fresh;
    void *dx = ag__sweep_dst(s, x, &fresh);
    if (dx) conv_dx(n->dtype, g, ag__val(gy), ag__grad(n), dx, !fresh);
    void *dgy = ag__sweep_dst(s, gy, &fresh);
    if (dgy) conv_y(n->dtype, g, ag__val(x), ag__grad(n), NULL, dgy, !fresh);
}

static bool vjp_weight_grad(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    const conv_geom *g = geom_of(n);
    ag_tensor *x = n->in[0], *gy = n->in[1];
    if (ag__requires_grad(x) && !(gin[0] = rec_input_grad(t, g, gy, G))) return false;
    if (ag__requires_grad(gy) && !(gin[1] = rec_conv(t, g, x, G, NULL))) return false;
    return true;
}

const ag_op_info ag__op_CONV_WEIGHT_GRAD = {"conv_weight_grad", 2, fwd_weight_grad, bwd_weight_grad,
                                            "da = conv_input_grad(b, g), db = conv(a, g)",
                                            vjp_weight_grad, NULL};

/* ------------------------------------------------------ the public ops */

/* The options of either rank, per spatial dimension (H first; 1-D uses
 * only the W entries, with H a dimension of size 1). */
typedef struct conv_args {
    int64_t stride[2], pad[2], dil[2], groups;
    bool same;
} conv_args;

/* Validates the operands and options and builds the geometry on the tape;
 * NULL with the error set. nsp is 1 or 2; `op` names the caller. */
size_t ag__conv_scratch_bytes = (size_t)256 << 10;

/* a·b·c into *out when it stays below 2^62 (sizes in bytes then fit). */
static bool mul_fits(int64_t a, int64_t b, int64_t c, int64_t *out) {
    const int64_t lim = INT64_MAX / 2;
    if (a < 0 || b < 0 || c < 0) return false;
    if (a && b > lim / a) return false;
    const int64_t ab = a * b;
    if (ab != 0 && c > lim / ab) return false;
    *out = ab * c;
    return true;
}

/* ag__error_fail for a function returning a geometry. */
#define geom_fail(...) ((void)ag__error_fail(__VA_ARGS__), (conv_geom *)NULL)

/* The parts, lanes and their memory (see "Threads"), on the tape: each
 * lane's scratch of lane_elems elements (none when direct) and the weight
 * gradient's buffers of parts 1... A batch splits into parts only while
 * those buffers stay within CONV_DW_PARTS_BYTES (a large weight's product
 * is large enough to split itself), and takes more than one lane only
 * while a lane's scratch stays within CONV_LANE_BYTES (an image whose
 * columns outgrow it makes products that split themselves). */
#define CONV_DW_PARTS_BYTES ((int64_t)4 << 20)
#define CONV_LANE_BYTES ((int64_t)4 * (int64_t)ag__conv_scratch_bytes)

static bool conv_threads(ag_tape *t, const char *op, conv_geom *g, int64_t lane_elems, size_t es) {
    const int64_t dw_bytes = g->O * g->Kc * (int64_t)es; /* below 2^62: the weight exists */
    int64_t parts = g->units < CONV_MAX_PARTS ? g->units : CONV_MAX_PARTS;
    if (parts > 1 && dw_bytes > 0 && (parts - 1) > CONV_DW_PARTS_BYTES / dw_bytes)
        parts = 1 + CONV_DW_PARTS_BYTES / dw_bytes;
    g->parts = parts > 1 ? parts : 1;
    const int threads = g->parts > 1 ? ag__parallel_threads() : 1;
    int64_t lanes = threads < g->parts ? threads : g->parts;
    if (lane_elems * (int64_t)es > CONV_LANE_BYTES) lanes = 1;
    g->lanes = (int)lanes;
    const int64_t bytes = (lanes * lane_elems + (g->parts - 1) * g->O * g->Kc) * (int64_t)es;
    if (bytes == 0) return true;
    unsigned char *mem = ag__tape_alloc(t, (size_t)bytes, op);
    if (!mem) return false;
    for (int l = 0; l < g->lanes && lane_elems; l++) {
        unsigned char *s = mem + (size_t)(l * lane_elems) * es;
        g->lane[l].col = s;
        g->lane[l].obuf = s + (size_t)(g->Kc * g->P * g->chunk) * es;
        g->lane[l].xpad = g->padded ? s + (size_t)((g->Kc + g->Og) * g->P * g->chunk) * es : NULL;
    }
    g->dw_parts = g->parts > 1 ? mem + (size_t)(lanes * lane_elems) * es : NULL;
    return true;
}

static conv_geom *make_geom(ag_tape *t, const char *op, int nsp, ag_tensor *x, ag_tensor *w,
                            ag_tensor *b, const conv_args *a) {
    char sx[96], sw[96], sb[96];
    ag__error_fmt_operand(sx, sizeof sx, x);
    ag__error_fmt_operand(sw, sizeof sw, w);
    if (x->ndim != nsp + 2 && x->ndim != nsp + 1)
        return geom_fail(t, AG_ERR_SHAPE, op, "x %s must be %s (batched) or %s", sx,
                              nsp == 2 ? "(N, C, H, W)" : "(N, C, L)", nsp == 2 ? "(C, H, W)" : "(C, L)");
    if (w->ndim != nsp + 2)
        return geom_fail(t, AG_ERR_SHAPE, op, "weight %s must be %s", sw,
                              nsp == 2 ? "(O, C / groups, kh, kw)" : "(O, C / groups, k)");
    for (int i = 0; i < 2; i++) {
        if (a->stride[i] < 0 || a->pad[i] < 0 || a->dil[i] < 0)
            return geom_fail(t, AG_ERR_ARG, op, "stride, padding and dilation must be >= 0 (0 = default)");
        if (a->stride[i] > INT32_MAX || a->pad[i] > INT32_MAX || a->dil[i] > INT32_MAX)
            return geom_fail(t, AG_ERR_ARG, op, "stride, padding and dilation must be below 2^31");
    }
    if (a->same && (a->pad[0] || a->pad[1]))
        return geom_fail(t, AG_ERR_ARG, op, "give padding numbers or \"same\", not both");
    if (a->groups < 0) return geom_fail(t, AG_ERR_ARG, op, "groups %lld must be >= 1 (0 = 1)",
                                             (long long)a->groups);
    conv_geom *g = ag__tape_small(t, sizeof *g);
    if (!g) return geom_fail(t, AG_ERR_MEMORY, op, "tape memory cap %zu reached", t->mem_cap);
    memset(g, 0, sizeof *g);
    const int64_t *xs = ag__shape(x), *ws = ag__shape(w);
    g->nsp = nsp;
    g->batched = x->ndim == nsp + 2;
    int c0 = g->batched ? 1 : 0;
    g->N = g->batched ? xs[0] : 1;
    g->C = xs[c0];
    g->O = ws[0];
    g->G = a->groups ? a->groups : 1;
    int64_t H = nsp == 2 ? xs[c0 + 1] : 1, W = xs[c0 + nsp];
    int64_t kh = nsp == 2 ? ws[2] : 1, kw = ws[1 + nsp];
    if (g->C % g->G || g->O % g->G || ws[1] * g->G != g->C)
        return geom_fail(t, AG_ERR_SHAPE, op,
                              "x %s has %lld channels and weight %s is (O, C / groups, ...) with %lld "
                              "groups: C and O must be multiples of groups and w.shape[1] = C / groups",
                              sx, (long long)g->C, sw, (long long)g->G);
    if (b && (b->ndim != 1 || b->ext->shape[0] != g->O))
        return geom_fail(t, AG_ERR_SHAPE, op, "bias %s must be (%lld), one per output channel",
                              ag__error_fmt_operand(sb, sizeof sb, b), (long long)g->O);
    g->Cg = g->C / g->G;
    g->Og = g->O / g->G;
    int64_t k[2] = {kh, kw}, in[2] = {H, W}, out[2], lo[2];
    for (int i = 0; i < 2; i++) {
        int64_t s = a->stride[i] ? a->stride[i] : 1, d = a->dil[i] ? a->dil[i] : 1;
        if (k[i] > 1 && d > (INT64_MAX / 4 - in[i]) / (k[i] - 1))
            return geom_fail(t, AG_ERR_SHAPE, op, "kernel %s dilated by %lld overflows", sw, (long long)d);
        int64_t lo_i = a->pad[i], hi_i = a->pad[i];
        if (a->same) {
            if (s != 1) return geom_fail(t, AG_ERR_ARG, op, "padding \"same\" needs stride 1");
            int64_t total = d * (k[i] - 1);
            lo_i = total / 2;
            hi_i = total - lo_i;
        }
        int64_t span = in[i] + lo_i + hi_i - d * (k[i] - 1) - 1;
        if (k[i] < 1 || span < 0)
            return geom_fail(t, AG_ERR_SHAPE, op,
                                  "kernel %s (dilated to %lld) is larger than the padded input x %s", sw,
                                  (long long)(d * (k[i] - 1) + 1), sx);
        out[i] = span / s + 1;
        lo[i] = lo_i;
        if (i == 0) g->im.sh = s, g->im.dh = d;
        else g->im.sw = s, g->im.dw = d;
    }
    g->im = (ag_im2col_geom){g->Cg, H, W, kh, kw, g->im.sh, g->im.sw, g->im.dh, g->im.dw, lo[0], lo[1],
                             out[0], out[1]};
    g->HW = H * W;
    g->OHW = out[0] * out[1];
    g->Kc = g->Cg * kh * kw;
    g->direct = kh == 1 && kw == 1 && g->im.sh == 1 && g->im.sw == 1 && lo[0] == 0 && lo[1] == 0 &&
                out[0] == H && out[1] == W;
    g->xnd = x->ndim;
    g->wnd = w->ndim;
    memcpy(g->xshape, xs, (size_t)x->ndim * sizeof *xs);
    memcpy(g->wshape, ws, (size_t)w->ndim * sizeof *ws);
    g->ynd = x->ndim;
    memcpy(g->yshape, xs, (size_t)x->ndim * sizeof *xs);
    g->yshape[c0] = g->O;
    if (nsp == 2) g->yshape[c0 + 1] = out[0];
    g->yshape[c0 + nsp] = out[1];
    int64_t lane_elems = 0; /* one lane's scratch, elements */
    if (!g->direct) {
        /* Stride 1 takes the wide path, on the padded image (Cg, Hp, Wp):
         * at stride 1 the outputs reach exactly H + both paddings rows. */
        g->wide = g->im.sh == 1 && g->im.sw == 1;
        const int64_t Hp = out[0] + g->im.dh * (kh - 1), Wp = out[1] + g->im.dw * (kw - 1);
        g->padded = g->wide && (Hp != H || Wp != W);
        g->wim = (ag_im2col_geom){g->Cg, Hp, Wp, kh, kw, 1, 1, g->im.dh, g->im.dw, 0, 0, out[0], out[1]};
        g->L = (out[0] - 1) * Wp + out[1];
        g->P = g->wide ? g->L : g->OHW;
        size_t es = ag__elsize(x->dtype);
        int64_t xpad = 0, per_image = 0;
        if (!mul_fits(g->Cg, Hp, Wp, g->padded ? &xpad : &(int64_t){0}) ||
            !mul_fits(g->Kc + g->Og, g->P, 1, &per_image) || (g->wide && !mul_fits(out[0], Wp, 1, &(int64_t){0})))
            return geom_fail(t, AG_ERR_SHAPE, op, "the column matrix of x %s and weight %s overflows",
                             sx, sw);
        if (!g->padded) xpad = 0;
        g->chunk = per_image ? (int64_t)(ag__conv_scratch_bytes / es) / per_image : g->N;
        if (g->chunk < 1) g->chunk = 1;
        if (g->chunk > g->N) g->chunk = g->N ? g->N : 1;
        if (per_image > (INT64_MAX / 8 - xpad) / g->chunk)
            return geom_fail(t, AG_ERR_SHAPE, op, "the column matrix of x %s and weight %s overflows",
                             sx, sw);
        lane_elems = per_image * g->chunk + xpad;
        g->units = (g->N + g->chunk - 1) / g->chunk;
    } else {
        g->chunk = 1;
        g->units = g->N;
    }
    if (!conv_threads(t, op, g, lane_elems, ag__elsize(x->dtype))) return NULL;
    return g;
}

static ag_tensor *conv(ag_tape *t, const char *op, int nsp, ag_tensor *x, ag_tensor *w, ag_tensor *b,
                       const conv_args *a) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    w = ag__stmt_promote(t, w);
    b = ag__stmt_promote(t, b);
    ag_tensor *xs[3] = {x, w, b};
    if (!ag__record_check_inputs(t, op, b ? 3 : 2, xs)) return NULL;
    const conv_geom *g = make_geom(t, op, nsp, x, w, b, a);
    return g ? rec_conv(t, g, x, w, b) : NULL;
}

ag_tensor *ag_conv2d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias, const ag_conv2d_opts *opts) {
    const ag_conv2d_opts o = opts ? *opts : (ag_conv2d_opts){0};
    conv_args a = {{o.stride[0], o.stride[1]}, {o.padding[0], o.padding[1]},
                   {o.dilation[0], o.dilation[1]}, o.groups, o.same};
    return conv(t, "conv2d", 2, x, w, bias, &a);
}

ag_tensor *ag_conv1d(ag_tape *t, ag_tensor *x, ag_tensor *w, ag_tensor *bias, const ag_conv1d_opts *opts) {
    const ag_conv1d_opts o = opts ? *opts : (ag_conv1d_opts){0};
    conv_args a = {{1, o.stride}, {0, o.padding}, {1, o.dilation}, o.groups, o.same};
    return conv(t, "conv1d", 1, x, w, bias, &a);
}

/* The internal ops on their own, for the tests (conv.h). */
ag_tensor *ag__conv2d_grad_record(ag_tape *t, ag_op op, ag_tensor *a, ag_tensor *b, int xnd,
                                  const int64_t *xshape, const int64_t *wshape,
                                  const ag_conv2d_opts *opts) {
    const char *name = ag__ops[op]->name;
    ag_tensor *xs[2] = {a, b};
    if (!ag__record_check_inputs(t, name, 2, xs)) return NULL;
    AG_ASSERT(op == AG_OP_CONV_INPUT_GRAD || op == AG_OP_CONV_WEIGHT_GRAD);
    /* the geometry of conv2d on an x and a w of these shapes (constants) */
    ag_no_grad_begin(t);
    ag_tensor *x = ag_zeros(t, (ag_dtype)a->dtype, xnd, xshape);
    ag_tensor *w = ag_zeros(t, (ag_dtype)a->dtype, 4, wshape);
    ag_no_grad_end(t);
    const ag_conv2d_opts o = opts ? *opts : (ag_conv2d_opts){0};
    conv_args args = {{o.stride[0], o.stride[1]}, {o.padding[0], o.padding[1]},
                      {o.dilation[0], o.dilation[1]}, o.groups, o.same};
    const conv_geom *g = x && w ? make_geom(t, name, 2, x, w, NULL, &args) : NULL;
    if (!g) return NULL;
    bool input_grad = op == AG_OP_CONV_INPUT_GRAD;
    const ag_tensor *want[2] = {input_grad ? NULL : x, input_grad ? w : NULL}; /* NULL: y's shape */
    for (int i = 0; i < 2; i++) {
        int nd = want[i] ? want[i]->ndim : g->ynd;
        const int64_t *shape = want[i] ? ag__shape(want[i]) : g->yshape;
        bool same = xs[i]->ndim == nd;
        for (int d = 0; same && d < nd; d++) same = xs[i]->ext->shape[d] == shape[d];
        if (!same) {
            char s1[96], s2[96];
            return ag__error_fail(t, AG_ERR_SHAPE, name, "operand %d %s must be %s", i + 1,
                                  ag__error_fmt_operand(s1, sizeof s1, xs[i]),
                                  ag_format_shape(s2, sizeof s2, nd, shape));
        }
    }
    return input_grad ? rec_input_grad(t, g, a, b) : rec_weight_grad(t, g, a, b);
}
