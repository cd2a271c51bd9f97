/* Scalar statements (core/stmt.h) for traces and graph pictures: the
 * statements an output depends on, rebuilt as temporary nodes on the tape,
 * so the trace and the DOT export read one kind of graph and the trace runs
 * each op's own node backward, as for any node. Parameters and leaf nodes a
 * statement imported are used as themselves. The temporary nodes are
 * dropped again afterwards (the tape is rewound to its mark). */
#include "trace_internal.h"

#include <stdlib.h>

/* A node for statement h of kind `kind`, value v, constant c, inputs
 * in[0..k-1] and their partials, with its gradient from the last sweep. */
static ag_tensor *node_of(ag_tape *t, uint16_t kind, double v, double c, unsigned k,
                          ag_tensor *const *in, const double *partials, ag_tensor *h) {
    ag_tensor *n = ag__tape_push(t);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    const unsigned op = ag__sk_op(kind);
    n->op = (uint8_t)op;
    n->dtype = AG_F64;
    n->flags = (uint8_t)(AG_F_ON_TAPE | (kind & AG_SK_REQ ? AG_F_REQUIRES_GRAD : 0) |
                         (op == AG_OP_LEAF ? AG_F_LEAF : 0));
    n->in[0] = k > 0 ? in[0] : NULL;
    n->in[1] = k > 1 ? in[1] : NULL;
    n->attr.c = c;
    n->d.s.val = v;
    const size_t i = ag__stmt_index(h);
    n->d.s.grad = ag__stmt_grad_of(&t->s, i);
    if (i < t->s.adj_valid && t->epoch) n->epoch = t->epoch; /* the last sweep reached it */
    const char *name = ag__stmt_name(h);
    const bool fused = ag__ops[op]->arity < 0; /* its backward reads the partials in aux */
    if (name || k > 2 || fused) {
        ag_ext *ext = ag__record_ext(t, n);
        if (!ext) return NULL;
        ext->name = name;
        if (fused) {
            double *p = ag__tape_small(t, (k ? k : 1) * sizeof *p);
            if (!p) return NULL;
            for (unsigned m = 0; m < k; m++) p[m] = partials[m];
            ext->aux = p;
        }
        if (k > 2) {
            ext->xin = ag__tape_small(t, (k - 2) * sizeof *ext->xin);
            if (!ext->xin) return NULL;
            for (unsigned m = 2; m < k; m++) ext->xin[m - 2] = in[m];
            ext->nxin = (int)k - 2;
        }
    }
    return n;
}

ag_status ag__trace_mat_begin(ag_tape *t, ag_tensor **y, ag_trace_mat *m) {
    *m = (ag_trace_mat){0};
    if (!ag__is_stmt(*y)) return AG_OK;
    ag_stape *s = &t->s;
    const size_t top = ag__stmt_index(*y) + 1;
    m->count = top;
    m->map = calloc(top, sizeof *m->map);
    m->made = calloc(top, sizeof *m->made);
    if (!m->map || !m->made) return AG_ERR_MEMORY;
    ag__tape_mark(t, &m->mark);
    m->active = true;
    for (size_t k = 0; k < s->nimports; k++)
        if (s->imports[k].index < top) m->map[s->imports[k].index] = s->imports[k].node;
    /* Reverse walk: the statements y needs (made[] marks them for now). */
    size_t o = s->nops;
    for (size_t i = ag__stmt_count(s); i-- > top;) o -= ag__sk_nops(ag__stmt_kind_at(s, i));
    m->made[top - 1] = true;
    for (size_t i = top; i-- > 0;) {
        unsigned k = ag__sk_nops(ag__stmt_kind_at(s, i));
        o -= k;
        if (m->made[i])
            for (unsigned j = 0; j < k; j++) m->made[s->in[o + j]] = true;
    }
    /* Forward walk: their nodes, inputs first; made[] now marks the nodes
     * made here (not the imported parameters and leaf nodes). */
    ag_tensor *in[AG_STMT_MAX_OPERANDS];
    size_t ci = 0;
    for (size_t i = 0; i < top; i++) {
        uint16_t kind = ag__stmt_kind_at(s, i);
        unsigned k = ag__sk_nops(kind);
        double c = ag__stmt_const(s, kind, ci, k ? s->p[o] : 0.0);
        ci += (kind & AG_SK_CONST) != 0;
        if (m->made[i] && m->map[i]) m->made[i] = false; /* imported */
        if (m->made[i]) {
            for (unsigned j = 0; j < k; j++) in[j] = m->map[s->in[o + j]];
            ag_tensor *h = ag__stmt_handle(s, i);
            if (!(m->map[i] = node_of(t, kind, ag__stmt_val(h), c, k, in, s->p + o, h))) return AG_ERR_MEMORY;
        }
        o += k;
    }
    *y = m->map[top - 1];
    return AG_OK;
}

void ag__trace_mat_end(ag_tape *t, ag_trace_mat *m, bool write_back) {
    if (m->active) {
        /* The gradients as ag_backward leaves them: each statement's from
         * this sweep (0 where it did not reach), the leaves' accumulated. */
        if (write_back && ag__stmt_prepare(t, false)) {
            for (size_t i = 0; i < m->count; i++) {
                const ag_tensor *n = m->map[i];
                if (!m->made[i] || !(n->flags & AG_F_REQUIRES_GRAD)) continue;
                if ((n->flags & AG_F_LEAF) || n->epoch == t->epoch) t->s.adj[i] = n->d.s.grad;
            }
        }
        ag__tape_rewind(t, &m->mark);
    }
    free(m->map);
    free(m->made);
    *m = (ag_trace_mat){0};
}
