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
 * the kernels) is in the tape's arena, made with the node, under the memory
 * cap, and shared with the nodes its graph-form backward makes (the sweeps
 * run one rule at a time); a 1x1 kernel at stride 1 without padding needs
 * none: x is its own column matrix. */
#include "conv.h"
#include "im2col.h"
#include "kernels.h"

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
    void *col;               /* (Kc, chunk·P); NULL when direct */
    void *obuf;              /* (Og, chunk·P): outputs or upstream gradients of a chunk */
    void *xpad;              /* wide and padded: (Cg, Hp, Wp) */
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
static void pad_image(int dt, const conv_geom *g, const void *xg) {
    const ag_im2col_geom *w = &g->wim;
    memset(g->xpad, 0, (size_t)(w->C * w->H * w->W) * ag__elsize(dt));
    for (int64_t c = 0; c < w->C; c++)
        copy2d(dt, g->im.H, g->im.W, AT(xg, c * g->HW), g->im.W,
               AT(g->xpad, (c * w->H + g->im.ph) * w->W + g->im.pw), w->W, false);
}

/* Image group xg (Cg, H, W)'s P columns at col, row stride ld. */
static void cols(int dt, const conv_geom *g, const void *xg, void *col, int64_t ld) {
    if (!g->wide) {
        im2col(dt, &g->im, xg, col, ld, false);
        return;
    }
    if (g->padded) pad_image(dt, g, xg);
    im2col(dt, &g->wim, g->padded ? g->xpad : xg, col, ld, true);
}

/* dx image group dxg += col2im of its P columns at col, row stride ld. */
static void uncols(int dt, const conv_geom *g, const void *col, int64_t ld, void *dxg) {
    if (!g->wide || !g->padded) {
        col2im(dt, g->wide ? &g->wim : &g->im, col, ld, dxg, g->wide);
        return;
    }
    const ag_im2col_geom *w = &g->wim;
    memset(g->xpad, 0, (size_t)(w->C * w->H * w->W) * ag__elsize(dt));
    col2im(dt, w, col, ld, g->xpad, true);
    for (int64_t c = 0; c < w->C; c++) /* the padded image's inside, added to dx */
        copy2d(dt, g->im.H, g->im.W, AT(g->xpad, (c * w->H + g->im.ph) * w->W + g->im.pw), w->W,
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

/* The images in the chunk from image n0: at most g->chunk. */
static int64_t chunk_len(const conv_geom *g, int64_t n0) { return g->N - n0 < g->chunk ? g->N - n0 : g->chunk; }

/* Offsets (elements) of image n, group gr in x, y and w. */
static int64_t x_at(const conv_geom *g, int64_t n, int64_t gr) { return (n * g->C + gr * g->Cg) * g->HW; }
static int64_t y_at(const conv_geom *g, int64_t n, int64_t gr) { return (n * g->O + gr * g->Og) * g->OHW; }
static int64_t w_at(const conv_geom *g, int64_t gr) { return gr * g->Og * g->Kc; }

/* y (N, O, OHW) = conv(x, w), or += when acc */
static void conv_y(int dt, const conv_geom *g, const void *x, const void *w, void *y, bool acc) {
    for (int64_t gr = 0; gr < g->G; gr++) {
        const void *wg = AT(w, w_at(g, gr));
        if (g->direct) {
            for (int64_t n = 0; n < g->N; n++)
                ag__kernel_gemm(dt, false, false, g->Og, g->OHW, g->Kc, wg, g->Kc, AT(x, x_at(g, n, gr)),
                                g->OHW, acc ? 1 : 0, AT(y, y_at(g, n, gr)), g->OHW);
            continue;
        }
        for (int64_t n0 = 0; n0 < g->N; n0 += g->chunk) {
            const int64_t m = chunk_len(g, n0), ld = m * g->P; /* the chunk's columns side by side */
            for (int64_t n = 0; n < m; n++) cols(dt, g, AT(x, x_at(g, n0 + n, gr)), AT(g->col, n * g->P), ld);
            ag__kernel_gemm(dt, false, false, g->Og, ld, g->Kc, wg, g->Kc, g->col, ld, 0, g->obuf, ld);
            for (int64_t n = 0; n < m; n++)
                out_copy(dt, g, AT(g->obuf, n * g->P), ld, AT(y, y_at(g, n0 + n, gr)), false, acc);
        }
    }
}

/* dx (N, C, HW) = conv_input_grad(gy, w), or += when acc */
static void conv_dx(int dt, const conv_geom *g, const void *gy, const void *w, void *dx, bool acc) {
    if (!acc && !g->direct) memset(dx, 0, (size_t)(g->N * g->C * g->HW) * ag__elsize(dt));
    for (int64_t gr = 0; gr < g->G; gr++) {
        const void *wg = AT(w, w_at(g, gr));
        if (g->direct) {
            for (int64_t n = 0; n < g->N; n++)
                ag__kernel_gemm(dt, true, false, g->Kc, g->OHW, g->Og, wg, g->Kc, AT(gy, y_at(g, n, gr)),
                                g->OHW, acc ? 1 : 0, AT(dx, x_at(g, n, gr)), g->OHW);
            continue;
        }
        for (int64_t n0 = 0; n0 < g->N; n0 += g->chunk) {
            const int64_t m = chunk_len(g, n0), ld = m * g->P; /* the chunk's columns side by side */
            for (int64_t n = 0; n < m; n++)
                out_copy(dt, g, AT(g->obuf, n * g->P), ld, AT(gy, y_at(g, n0 + n, gr)), true, false);
            ag__kernel_gemm(dt, true, false, g->Kc, ld, g->Og, wg, g->Kc, g->obuf, ld, 0, g->col, ld);
            for (int64_t n = 0; n < m; n++) uncols(dt, g, AT(g->col, n * g->P), ld, AT(dx, x_at(g, n0 + n, gr)));
        }
    }
}

/* dw (O, Kc) = conv_weight_grad(x, gy), or += when acc */
static void conv_dw(int dt, const conv_geom *g, const void *x, const void *gy, void *dw, bool acc) {
    if (!acc && g->N == 0) memset(dw, 0, (size_t)(g->O * g->Kc) * ag__elsize(dt));
    for (int64_t gr = 0; gr < g->G; gr++) {
        void *dwg = AT(dw, w_at(g, gr));
        if (g->direct) {
            for (int64_t n = 0; n < g->N; n++)
                ag__kernel_gemm(dt, false, true, g->Og, g->Kc, g->OHW, AT(gy, y_at(g, n, gr)), g->OHW,
                                AT(x, x_at(g, n, gr)), g->OHW, (acc || n > 0) ? 1 : 0, dwg, g->Kc);
            continue;
        }
        for (int64_t n0 = 0; n0 < g->N; n0 += g->chunk) {
            const int64_t m = chunk_len(g, n0), ld = m * g->P; /* the chunk's columns side by side */
            for (int64_t n = 0; n < m; n++) {
                cols(dt, g, AT(x, x_at(g, n0 + n, gr)), AT(g->col, n * g->P), ld);
                out_copy(dt, g, AT(g->obuf, n * g->P), ld, AT(gy, y_at(g, n0 + n, gr)), true, false);
            }
            ag__kernel_gemm(dt, false, true, g->Og, g->Kc, ld, g->obuf, ld, g->col, ld, (acc || n0 > 0) ? 1 : 0,
                            dwg, g->Kc);
        }
    }
}

/* y[n, o, :] += b[o] */
static AG_ALWAYS_INLINE void bias_add_k(int dt, const conv_geom *g, const void *b, void *y) {
    for (int64_t row = 0; row < g->N * g->O; row++) {
        const double bo = ag__ld(b, dt, row % g->O);
        for (int64_t p = 0; p < g->OHW; p++) ag__kernel_acc(y, dt, row * g->OHW + p, bo);
    }
}

/* db[o] += sum over n and positions of gy[n, o, :] */
static AG_ALWAYS_INLINE void bias_grad_k(int dt, const conv_geom *g, const void *gy, void *db) {
    for (int64_t row = 0; row < g->N * g->O; row++) {
        double sum = 0;
        for (int64_t p = 0; p < g->OHW; p++) sum += ag__ld(gy, dt, row * g->OHW + p);
        ag__kernel_acc(db, dt, row % g->O, sum);
    }
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
    conv_y(n->dtype, g, ag__val(n->in[0]), ag__val(n->in[1]), ag__val(n), false);
    if (ag__op_ninputs(n) == 3) AG_BY_DTYPE(n->dtype, bias_add_k, g, ag__val(ag__input(n, 2)), ag__val(n));
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
    if (db) AG_BY_DTYPE(n->dtype, bias_grad_k, g, gy, db);
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
    if (dgy) conv_y(n->dtype, g, ag__grad(n), ag__val(w), dgy, !fresh);
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
    if (dgy) conv_y(n->dtype, g, ag__val(x), ag__grad(n), dgy, !fresh);
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
        unsigned char *scratch = ag__tape_alloc(t, (size_t)(per_image * g->chunk + xpad) * es, op);
        if (!scratch) return NULL;
        g->col = scratch;
        g->obuf = scratch + (size_t)(g->Kc * g->P * g->chunk) * es;
        g->xpad = xpad ? scratch + (size_t)(per_image * g->chunk) * es : NULL;
    } else {
        g->chunk = g->N ? g->N : 1;
    }
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
