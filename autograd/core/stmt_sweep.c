/* The first-order sweep of the scalar tape (stmt.h): one reverse loop of
 *   a = adj[i];  adj[in_k] += partial_k * a   for each operand k of i,
 * over the statements, with no dispatch on the op (the partials were
 * computed at record time) and no gradient epochs: the adjoint array is
 * cleared once before each sweep, keeping the leaves' accumulated
 * gradients, and after the sweep every statement holds its gradient until
 * the next sweep or reset (ag_grad_item of an intermediate reads it). */
#include "backward.h"
#include "error.h"
#include "stmt.h"
#include "tape.h"

#include <stdlib.h>
#include <string.h>

/* Grows the adjoint array to the statement count; entries beyond
 * adj_valid are garbage until cleared. */
static bool adj_room(ag_tape *t, size_t n) {
    ag_stape *s = &t->s;
    if (n <= s->cap_adj) return true;
    if (ag__tape_grow(t, (void **)&s->adj, &s->cap_adj, n, sizeof *s->adj, 1024)) return true;
    ag__error_fail(t, AG_ERR_MEMORY, "backward", "cannot allocate %zu scalar adjoints: tape memory cap "
                   "%zu reached", n, t->mem_cap);
    return false;
}

double *ag__stmt_grad_ptr(ag_tape *t, size_t i) {
    ag_stape *s = &t->s;
    size_t n = ag__stmt_count(s);
    if (s->adj_valid < n) {
        if (!adj_room(t, n)) return NULL;
        memset(s->adj + s->adj_valid, 0, (n - s->adj_valid) * sizeof *s->adj);
        s->adj_valid = n;
    }
    return &s->adj[i];
}

bool ag__stmt_prepare(ag_tape *t, bool functional) {
    ag_stape *s = &t->s;
    size_t n = ag__stmt_count(s);
    if (!adj_room(t, n)) return false;
    /* The leaves' gradients so far, kept in their own array while the rest
     * is cleared (a functional sweep gives every leaf 0 and puts the saved
     * ones back afterwards: ag__stmt_restore_leaves). */
    if (s->nleaves > s->cap_save &&
        !ag__tape_grow(t, (void **)&s->save, &s->cap_save, s->nleaves, sizeof *s->save, 256)) {
        ag__error_fail(t, AG_ERR_MEMORY, "backward", "out of memory saving scalar gradients");
        return false;
    }
    for (size_t k = 0; k < s->nleaves; k++) s->save[k] = ag__stmt_grad_of(s, s->leaves[k]);
    memset(s->adj, 0, n * sizeof *s->adj);
    s->adj_valid = n;
    if (!functional) ag__stmt_restore_leaves(t);
    return true;
}

void ag__stmt_restore_leaves(ag_tape *t) {
    ag_stape *s = &t->s;
    for (size_t k = 0; k < s->nleaves; k++)
        if (s->leaves[k] < s->adj_valid) s->adj[s->leaves[k]] = s->save[k];
}

void ag__stmt_sweep(ag_tape *t, size_t top) {
    ag_stape *s = &t->s;
    size_t n = ag__stmt_count(s);
    AG_ASSERT(top <= n && n <= s->adj_valid);
    /* The operands of the statements above top are not swept: skip them. */
    size_t o = s->nops;
    for (size_t i = n; i-- > top;) o -= ag__sk_nops(ag__stmt_kind_at(s, i));
    double *restrict adj = s->adj;
    const double *p = s->p;
    const uint32_t *in = s->in;
    for (size_t b = top ? (top - 1) / AG_SBLOCK_N + 1 : 0; b-- > 0;) {
        const char *blk = s->blocks[b];
        const uint16_t *kind = (const uint16_t *)(blk + AG_SBLOCK_KINDS);
        const double *ab = adj + b * (size_t)AG_SBLOCK_N;
        size_t end = top - b * (size_t)AG_SBLOCK_N;
        if (end > AG_SBLOCK_N) end = AG_SBLOCK_N;
        for (size_t j = end; j-- > 0;) {
            unsigned k = ag__sk_nops(kind[j]);
            const double a = ab[j];
            o -= k; /* one running offset for both arrays */
            /* the common counts spelled out, operands in order: a loop of
             * unknown count is vectorised, and its set-up costs more than
             * a short body */
            if (k == 1) {
                adj[in[o + 0]] += p[o + 0] * a;
            } else if (k == 2) {
                adj[in[o + 0]] += p[o + 0] * a;
                adj[in[o + 1]] += p[o + 1] * a;
            } else if (k == 3) {
                adj[in[o + 0]] += p[o + 0] * a;
                adj[in[o + 1]] += p[o + 1] * a;
                adj[in[o + 2]] += p[o + 2] * a;
            } else {
                for (unsigned m = 0; m < k; m++) adj[in[o + m]] += p[o + m] * a;
            }
        }
    }
}

void ag__stmt_seed(ag_tape *t, ag_tensor *y, double v) {
    t->s.adj[ag__stmt_index(y)] += v;
}

void ag__stmt_settle(ag_tape *t, const ag_sweep *sw) {
    ag_stape *s = &t->s;
    for (size_t k = 0; k < s->nimports; k++) {
        ag_tensor *x = s->imports[k].node;
        if (s->imports[k].index >= s->adj_valid) continue; /* imported after the sweep began */
        double g = s->adj[s->imports[k].index];
        if (!ag__sweep_wants(sw, x)) continue;
        /* A leaf: its gradient accumulates; the stamp tells ag_grad that it
         * received one in this sweep. */
        x->d.s.grad += g;
        x->epoch = sw->epoch;
    }
}

const bool *ag__stmt_reachable(ag_tape *t, const ag_tensor *y) {
    const ag_stape *s = &t->s;
    size_t n = ag__stmt_count(s), top = 0;
    bool *mark = ag__tape_alloc(t, n ? n : 1, "grad");
    if (!mark) return NULL;
    memset(mark, 0, n);
    if (ag__is_stmt(y)) {
        top = ag__stmt_index(y) + 1;
        mark[top - 1] = true;
    } else { /* the statements the last sweep's scalar nodes fed */
        for (size_t i = 0; i < t->nnodes; i++) {
            const ag_tensor *x = ag__tape_node(t, i);
            if (x->op != AG_OP_SCALAR || x->epoch != t->epoch) continue;
            mark[x->attr.i] = true;
            if ((size_t)x->attr.i + 1 > top) top = (size_t)x->attr.i + 1;
        }
    }
    size_t o = s->nops;
    for (size_t i = n; i-- > top;) o -= ag__sk_nops(ag__stmt_kind_at(s, i));
    for (size_t i = top; i-- > 0;) {
        unsigned k = ag__sk_nops(ag__stmt_kind_at(s, i));
        o -= k;
        if (mark[i])
            for (unsigned m = 0; m < k; m++) mark[s->in[o + m]] = true;
    }
    return mark;
}
