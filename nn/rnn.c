/* LSTM and GRU cells and the sequence runner that unrolls one over T steps,
 * from ag_matmul, ag_slice, ag_sigmoid, ag_tanh and arithmetic.
 *
 * The runner keeps every step 3-D, (B, 1, ·): the step's input projection
 * is a slice of the (B, T, G·H) projection of the whole sequence, the state
 * is (B, 1, H), h @ W_hh is a (B, 1, H) @ (H, G·H) product, and the outputs
 * concatenate along the time axis — no reshape per step. */
#include "nn_layer.h"

#include <math.h>
#include <stdlib.h>

typedef struct cell {
    nn_module base;
    int gates;     /* 4: LSTM (i, f, g, o); 3: GRU (r, z, n) */
    bool sequence; /* made by nn_lstm_new / nn_gru_new: its forward runs a sequence */
    int64_t in, hidden;
    ag_tensor *w_ih, *w_hh; /* (in, G·H), (H, G·H) */
    ag_tensor *b_ih, *b_hh; /* (G·H) each, or NULL */
} cell;

static ag_tensor *cell_forward(nn_module *m, ag_tape *t, ag_tensor *x);

static cell *as_cell(const nn_module *m) { return (m && m->forward == cell_forward) ? (cell *)m : NULL; }

static const char *cell_op(const cell *c) { return c->gates == 4 ? "lstm" : "gru"; }

/* Gate block k (of size H) of z along its last axis. */
static ag_tensor *gate(ag_tape *t, ag_tensor *z, int k, int64_t H) {
    return z ? ag_slice(t, z, ag_ndim(z) - 1, k * H, (k + 1) * H) : NULL;
}

/* One LSTM step from the input projection xp (..., 4H) (biases included)
 * and the state h, c (..., H) (NULL: zeros). Sets *h and *c. */
static void lstm_step(ag_tape *t, const cell *l, ag_tensor *xp, ag_tensor **h, ag_tensor **c) {
    int64_t H = l->hidden;
    ag_tensor *z = *h ? ag_add(t, xp, ag_matmul(t, *h, l->w_hh)) : xp; // (..., 4H)
    ag_tensor *s = ag_sigmoid(t, z);                                   // i, f and o need it; g's part is unused
    ag_tensor *i = gate(t, s, 0, H), *o = gate(t, s, 3, H), *g = ag_tanh(t, gate(t, z, 2, H));
    ag_tensor *cn = ag_mul(t, i, g);
    if (*c) cn = ag_add(t, ag_mul(t, gate(t, s, 1, H), *c), cn);      // f·c + i·g
    *c = cn;
    *h = ag_mul(t, o, ag_tanh(t, cn));
}

/* One GRU step from a = x @ W_ih + b_ih (..., 3H) and the state h (NULL:
 * zeros). Sets *h. */
static void gru_step(ag_tape *t, const cell *l, ag_tensor *a, ag_tensor **h) {
    int64_t H = l->hidden;
    ag_tensor *b = *h ? ag_matmul(t, *h, l->w_hh) : NULL; // (..., 3H)
    if (l->b_hh) b = b ? ag_add(t, b, l->b_hh) : l->b_hh;
    ag_tensor *ab = ag_slice(t, a, ag_ndim(a) - 1, 0, 2 * H);   // r and z blocks
    if (b) ab = ag_add(t, ab, ag_slice(t, b, ag_ndim(b) - 1, 0, 2 * H));
    ag_tensor *rz = ag_sigmoid(t, ab);
    ag_tensor *r = gate(t, rz, 0, H), *zg = gate(t, rz, 1, H);
    ag_tensor *pre = gate(t, a, 2, H);
    if (b) pre = ag_add(t, pre, ag_mul(t, r, gate(t, b, 2, H)));
    ag_tensor *n = ag_tanh(t, pre);
    /* h' = (1 - z)·n + z·h = n + z·(h - n) */
    *h = ag_add(t, n, ag_mul(t, zg, *h ? ag_sub(t, *h, n) : ag_neg(t, n)));
}

/* The input projection x @ W_ih + b_ih (+ b_hh for an LSTM, where it adds
 * to the same sum). */
static ag_tensor *project(ag_tape *t, const cell *l, ag_tensor *x) {
    ag_tensor *xp = ag_matmul(t, x, l->w_ih);
    ag_tensor *bias = l->b_ih;
    if (l->gates == 4 && l->b_hh) bias = bias ? ag_add(t, bias, l->b_hh) : l->b_hh;
    return bias ? ag_add(t, xp, bias) : xp;
}

/* Checks a state tensor: NULL, or (B, H) of x's dtype. */
static bool state_ok(ag_tape *t, const cell *l, const char *what, const ag_tensor *s, int64_t B, ag_dtype dt) {
    if (!s) return true;
    if (ag_ndim(s) == 2 && ag_dim(s, 0) == B && ag_dim(s, 1) == l->hidden && ag_dtype_of(s) == dt) return true;
    char ss[96];
    nn__tape_fail(t, AG_ERR_SHAPE, cell_op(l), "the state %s is %s %s; need %s (%lld, %lld)", what,
                  ag_dtype_name(ag_dtype_of(s)), NN__SHAPE(s, ss), ag_dtype_name(dt), (long long)B,
                  (long long)l->hidden);
    return false;
}

/* The checks every entry point shares: a cell, a tape, x of rank `rank`
 * with `in` features, the cell's dtype, and the initial state. */
static cell *entry(nn_module *m, ag_tape *t, ag_tensor *x, int rank, const nn_rnn_state *s) {
    cell *l = as_cell(m);
    const char *op = l ? cell_op(l) : "rnn";
    if (!nn__inputs_ok(t, op, 1, &x)) return NULL;
    if (!l) {
        nn__tape_fail(t, m ? AG_ERR_ARG : AG_ERR_NULL, op, "the module is %s, not an LSTM or GRU", m ? m->kind : "NULL");
        return NULL;
    }
    char sx[96];
    if (ag_ndim(x) != rank || ag_dim(x, -1) != l->in || (rank == 3 && ag_dim(x, 1) < 1)) {
        nn__tape_fail(t, AG_ERR_SHAPE, op, "x %s: need %s with in = %lld", NN__SHAPE(x, sx),
                      rank == 3 ? "(B, T, in), T >= 1," : "(B, in)", (long long)l->in);
        return NULL;
    }
    if (ag_dtype_of(x) != ag_dtype_of(l->w_ih)) {
        nn__tape_fail(t, AG_ERR_DTYPE, op, "x is %s, the cell %s", ag_dtype_name(ag_dtype_of(x)),
                      ag_dtype_name(ag_dtype_of(l->w_ih)));
        return NULL;
    }
    if (s && l->gates == 3 && s->c) {
        nn__tape_fail(t, AG_ERR_ARG, op, "a GRU has no cell state c (pass c = NULL)");
        return NULL;
    }
    int64_t B = ag_dim(x, 0);
    if (s && (!state_ok(t, l, "h", s->h, B, ag_dtype_of(x)) || !state_ok(t, l, "c", s->c, B, ag_dtype_of(x))))
        return NULL;
    return l;
}

ag_tensor *nn_cell_step(nn_module *m, ag_tape *t, ag_tensor *x, const nn_rnn_state *s, nn_rnn_state *out) {
    cell *l = entry(m, t, x, 2, s);
    if (!l) return NULL;
    ag_tensor *h = s ? s->h : NULL, *c = s ? s->c : NULL;
    if (l->gates == 4) lstm_step(t, l, project(t, l, x), &h, &c);
    else gru_step(t, l, project(t, l, x), &h);
    if (out) *out = (nn_rnn_state){h, l->gates == 4 ? c : NULL};
    return h;
}

ag_tensor *nn_rnn_run(nn_module *m, ag_tape *t, ag_tensor *x, const nn_rnn_state *init, nn_rnn_state *final) {
    cell *l = entry(m, t, x, 3, init);
    if (!l) return NULL;
    int64_t B = ag_dim(x, 0), T = ag_dim(x, 1), H = l->hidden;
    const int64_t state_shape[] = {B, 1, H};
    ag_tensor **outs = malloc((size_t)T * sizeof *outs);
    if (!outs) return nn__tape_fail(t, AG_ERR_MEMORY, cell_op(l), "out of memory for %lld steps", (long long)T);
    ag_tensor *h = init && init->h ? ag_reshape(t, init->h, 3, state_shape) : NULL; // (B, 1, H)
    ag_tensor *c = init && init->c ? ag_reshape(t, init->c, 3, state_shape) : NULL;
    ag_tensor *xp = project(t, l, x); // (B, T, G·H)
    for (int64_t s = 0; s < T; s++) {
        ag_tensor *xs = ag_slice(t, xp, 1, s, s + 1); // (B, 1, G·H)
        if (l->gates == 4) lstm_step(t, l, xs, &h, &c);
        else gru_step(t, l, xs, &h);
        outs[s] = h;
        if (!h) break;
    }
    ag_tensor *y = h ? ag_concat(t, (int)T, outs, 1) : NULL; // (B, T, H)
    free(outs);
    if (final) {
        const int64_t shape[] = {B, H};
        *final = (nn_rnn_state){y ? ag_reshape(t, h, 2, shape) : NULL,
                                y && l->gates == 4 ? ag_reshape(t, c, 2, shape) : NULL};
    }
    return y;
}

static ag_tensor *cell_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    return ((cell *)m)->sequence ? nn_rnn_run(m, t, x, NULL, NULL) : nn_cell_step(m, t, x, NULL, NULL);
}

int64_t nn_rnn_hidden(const nn_module *m) {
    cell *l = as_cell(m);
    return l ? l->hidden : 0;
}

/* Builds a cell with `gates` blocks, its parameters named with `suffix`
 * ("" for a cell, "_l0" for a one-layer LSTM/GRU). */
static nn_module *cell_new(const char *W, int gates, const char *suffix, nn_params *ps, const char *prefix,
                           int64_t in, int64_t hidden, bool bias, ag_dtype dtype, ag_rng *rng) {
    char leaves[4][32];
    const char *names[4], *base[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int i = 0; i < 4; i++) {
        snprintf(leaves[i], sizeof leaves[i], "%s%s", base[i], suffix);
        names[i] = leaves[i];
    }
    if (!nn__names_free(ps, W, prefix, bias ? 4 : 2, names)) return NULL;
    if (!rng || in < 1 || hidden < 1 || hidden > INT64_MAX / gates) {
        nn__fail(!rng ? NN_ERR_NULL : NN_ERR_ARG, "%s: '%s': %s", W, prefix,
                 !rng ? "the generator is NULL" : "in and hidden must be >= 1");
        return NULL;
    }
    cell *l = nn__module_new(sizeof *l, W, gates == 4 ? (*suffix ? "lstm" : "lstm_cell") : (*suffix ? "gru" : "gru_cell"),
                             cell_forward);
    if (!l) return NULL;
    l->gates = gates;
    l->sequence = *suffix != '\0';
    l->in = in;
    l->hidden = hidden;
    int64_t G = gates * hidden;
    ag_tensor **slot[4] = {&l->w_ih, &l->w_hh, &l->b_ih, &l->b_hh};
    const int64_t shapes[4][2] = {{in, G}, {hidden, G}, {G, 0}, {G, 0}};
    double bound = 1 / sqrt((double)hidden); /* PyTorch: every tensor U(-1/sqrt(H), 1/sqrt(H)) */
    for (int i = 0; i < (bias ? 4 : 2); i++) {
        *slot[i] = nn__param(ps, W, prefix, names[i], dtype, i < 2 ? 2 : 1, shapes[i], false);
        if (!*slot[i]) {
            nn_module_free(&l->base);
            return NULL;
        }
        nn_init_uniform(*slot[i], -bound, bound, rng);
        if (i < 2) { /* PyTorch holds (G·H, in) and (G·H, H) */
            char name[NN_NAME_MAX + 2];
            nn__param_name(name, W, prefix, names[i]);
            nn_params_set_torch_layout(ps, name, &nn_torch_transpose);
        }
    }
    return &l->base;
}

nn_module *nn_lstm_cell_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias,
                            ag_dtype dtype, ag_rng *rng) {
    return cell_new("lstm_cell_new", 4, "", ps, prefix, in, hidden, bias, dtype, rng);
}

nn_module *nn_gru_cell_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias,
                           ag_dtype dtype, ag_rng *rng) {
    return cell_new("gru_cell_new", 3, "", ps, prefix, in, hidden, bias, dtype, rng);
}

nn_module *nn_lstm_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias, ag_dtype dtype,
                       ag_rng *rng) {
    return cell_new("lstm_new", 4, "_l0", ps, prefix, in, hidden, bias, dtype, rng);
}

nn_module *nn_gru_new(nn_params *ps, const char *prefix, int64_t in, int64_t hidden, bool bias, ag_dtype dtype,
                      ag_rng *rng) {
    return cell_new("gru_new", 3, "_l0", ps, prefix, in, hidden, bias, dtype, rng);
}
