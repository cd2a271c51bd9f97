/* Constant padding, forward beside its derivative. pad(x) puts x inside a
 * larger tensor filled with a constant; its derivative is crop, the inner
 * region of the upstream gradient, whose own derivative is a zero pad:
 *   pad(x, value)  backward: dx = crop(g)      graph form: crop(G)
 *   crop(p)        backward: dp = pad(g, 0)    graph form: pad(G, 0)
 * Both keep the pads (before, after per axis) in ext->aux, on the tape. */
#include "kernels.h"
#include "pad.h"

/* Pads per axis: before[i], after[i]. */
typedef struct pad_geom {
    int nd;
    int64_t before[AG_MAX_DIMS], after[AG_MAX_DIMS];
} pad_geom;

static const pad_geom *geom_of(const ag_tensor *n) { return n->ext->aux; }

/* Moves the inner tensor x (shape `in`) to or from its place in the padded
 * tensor p, row by row along the last axis: into_padded copies x into p,
 * else p's inner region into x; add adds instead of copying. */
static AG_ALWAYS_INLINE void pad_move_k(int dt, const pad_geom *g, const int64_t *in, void *x, void *p,
                                        bool into_padded, bool add) {
    const int nd = g->nd;
    int64_t pst[AG_MAX_DIMS], s = 1; /* the padded tensor's strides */
    for (int d = nd - 1; d >= 0; d--) {
        pst[d] = s;
        s *= in[d] + g->before[d] + g->after[d];
    }
    const int64_t len = nd ? in[nd - 1] : 1;
    const int64_t rows = len ? ag__shape_numel(nd, in) / len : 0;
    int64_t idx[AG_MAX_DIMS] = {0};
    for (int64_t r = 0, io = 0; r < rows; r++, io += len) {
        int64_t po = 0; /* the row's start in p */
        for (int d = 0; d < nd; d++) po += ((d == nd - 1 ? 0 : idx[d]) + g->before[d]) * pst[d];
        void *pr = ag__kernel_at(p, dt, po), *xr = ag__kernel_at(x, dt, io);
        if (add) ag__kernel_add(dt, into_padded ? pr : xr, into_padded ? xr : pr, len);
        else memcpy(into_padded ? pr : xr, into_padded ? xr : pr, (size_t)len * ag__elsize(dt));
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < in[d]) break;
            idx[d] = 0;
        }
    }
}

static void pad_move(int dt, const pad_geom *g, const int64_t *in, void *x, void *p, bool into_padded,
                     bool add) {
    AG_BY_DTYPE(dt, pad_move_k, g, in, x, p, into_padded, add);
}

/* Fills a buffer of n elements with v. */
static void fill(int dt, void *p, int64_t n, double v) {
    for (int64_t i = 0; i < n; i++) ag__st(p, dt, i, v);
}

static ag_tensor *record(ag_tape *t, ag_op op, const pad_geom *g, ag_tensor *x, double value);

/* ----------------------------------------------------------------- pad */

static void fwd_pad(ag_tensor *n) {
    ag_tensor *x = n->in[0];
    fill(n->dtype, ag__val(n), ag__numel(n), n->attr.c);
    pad_move(n->dtype, geom_of(n), ag__shape(x), ag__val(x), ag__val(n), true, false);
}

/* dx += the inner region of g (the padding's constants have no input). */
static void bwd_pad(ag_sweep *s, ag_tensor *n) {
    ag_tensor *x = n->in[0];
    bool fresh;
    void *dx = ag__sweep_dst(s, x, &fresh);
    if (dx) pad_move(n->dtype, geom_of(n), ag__shape(x), dx, ag__grad(n), false, !fresh);
}

static bool vjp_pad(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record(t, AG_OP_CROP, geom_of(n), G, 0)) != NULL;
}

const ag_op_info ag__op_PAD = {"pad", 1, fwd_pad, bwd_pad, "dx = g without the padding", vjp_pad, NULL};

/* ---------------------------------------------------------------- crop */

static void fwd_crop(ag_tensor *n) {
    pad_move(n->dtype, geom_of(n), ag__shape(n), ag__val(n), ag__val(n->in[0]), false, false);
}

/* dp += g inside, 0 in the padding: the buffer is zeroed on a fresh write. */
static void bwd_crop(ag_sweep *s, ag_tensor *n) {
    ag_tensor *p = n->in[0];
    bool fresh;
    void *dp = ag__sweep_dst(s, p, &fresh);
    if (!dp) return;
    if (fresh) memset(dp, 0, (size_t)ag__numel(p) * ag__elsize(p->dtype));
    pad_move(n->dtype, geom_of(n), ag__shape(n), ag__grad(n), dp, true, true);
}

static bool vjp_crop(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) {
    return (gin[0] = record(t, AG_OP_PAD, geom_of(n), G, 0)) != NULL;
}

const ag_op_info ag__op_CROP = {"crop", 1, fwd_crop, bwd_crop, "dx = g padded with zeros", vjp_crop, NULL};

/* ----------------------------------------------------------- recording */

/* pad grows x by the pads; crop shrinks it back. */
static ag_tensor *record(ag_tape *t, ag_op op, const pad_geom *g, ag_tensor *x, double value) {
    if (!x) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < g->nd; i++)
        shape[i] = x->ext->shape[i] + (op == AG_OP_PAD ? 1 : -1) * (g->before[i] + g->after[i]);
    ag_tensor *y = ag__record_node(t, op, (ag_dtype)x->dtype, g->nd, shape, x, NULL);
    if (!y) return NULL;
    y->attr.c = value;
    if (!y->ext && !ag__record_ext(t, y)) return NULL;
    y->ext->aux = (void *)g;
    ag__ops[op]->forward(y);
    return ag__record_done(t, y);
}

/* The pads of x checked and kept on the tape; `grow` says whether they are
 * added (pad) or taken off (crop, which needs x larger than them). */
static const pad_geom *make_geom(ag_tape *t, const char *op, ag_tensor *x, const int64_t *pads, bool grow) {
    if (!pads && x->ndim) {
        ag__error_fail(t, AG_ERR_NULL, op, "pads is NULL");
        return NULL;
    }
    pad_geom *g = ag__tape_small(t, sizeof *g);
    if (!g) {
        ag__error_fail(t, AG_ERR_MEMORY, op, "tape memory cap %zu reached", t->mem_cap);
        return NULL;
    }
    g->nd = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        g->before[i] = pads[2 * i];
        g->after[i] = pads[2 * i + 1];
        char sx[96];
        if (g->before[i] < 0 || g->after[i] < 0) {
            ag__error_fail(t, AG_ERR_ARG, op, "pads (%lld, %lld) of axis %d of x %s must be >= 0%s",
                           (long long)g->before[i], (long long)g->after[i], i,
                           ag__error_fmt_operand(sx, sizeof sx, x), grow ? " (crop with ag_slice)" : "");
            return NULL;
        }
        if (g->before[i] > INT64_MAX / 4 || g->after[i] > INT64_MAX / 4 ||
            (!grow && g->before[i] + g->after[i] > x->ext->shape[i])) {
            ag__error_fail(t, AG_ERR_SHAPE, op, "pads (%lld, %lld) do not fit axis %d of x %s",
                           (long long)g->before[i], (long long)g->after[i], i,
                           ag__error_fmt_operand(sx, sizeof sx, x));
            return NULL;
        }
    }
    return g;
}

ag_tensor *ag_pad(ag_tape *t, ag_tensor *x, const int64_t *pads, double value) {
    x = ag__stmt_promote(t, x); /* a scalar statement as a node */
    if (!ag__record_check_inputs(t, "pad", 1, &x)) return NULL;
    const pad_geom *g = make_geom(t, "pad", x, pads, true);
    return g ? record(t, AG_OP_PAD, g, x, value) : NULL;
}

ag_tensor *ag__pad_crop(ag_tape *t, ag_tensor *p, const int64_t *pads) {
    if (!ag__record_check_inputs(t, "crop", 1, &p)) return NULL;
    const pad_geom *g = make_geom(t, "crop", p, pads, false);
    return g ? record(t, AG_OP_CROP, g, p, 0) : NULL;
}
