/* The nodes an output depends on, for traces and graph exports. One reverse
 * walk over the tape finds them (a node is needed when a needed node uses
 * it, and inputs are always older than their users), one forward walk puts
 * them in display order. No recursion, so deep graphs are fine. */
#include "trace_internal.h"

#include <stdlib.h>

ag_trace_node *ag__trace_find(ag_trace_graph *g, const ag_tensor *n) {
    ag_trace_node *e = NULL;
    HASH_FIND_PTR(g->map, &n, e);
    return e;
}

static ag_trace_node *add(ag_trace_graph *g, ag_tensor *n) {
    ag_trace_node *e = ag__trace_find(g, n);
    if (e) return e;
    e = calloc(1, sizeof *e);
    if (!e) {
        g->oom = true;
        return NULL;
    }
    e->n = n;
    HASH_ADD_PTR(g->map, n, e);
    if (g->oom) { /* uthash could not grow its buckets: the entry is not in */
        free(e);
        return NULL;
    }
    g->count++;
    return e;
}

const char *ag__trace_kind(const ag_tensor *n) {
    if (n->flags & AG_F_PARAM) return "param";
    if (!(n->flags & AG_F_ON_TAPE)) return "const"; /* computed in no-grad mode */
    if (n->flags & AG_F_LEAF) return (n->flags & AG_F_REQUIRES_GRAD) ? "input" : "const";
    return ag__op_of(n)->name;
}

/* Inputs are followed only for recorded op nodes: a leaf has none, and a
 * value computed in no-grad mode was cut from the graph. */
static int inputs_of(const ag_tensor *n) {
    if ((n->flags & AG_F_LEAF) || !(n->flags & AG_F_ON_TAPE)) return 0;
    return ag__op_ninputs(n);
}

static void place(ag_trace_graph *g, ag_trace_node *e) {
    e->ordered = true;
    g->order[g->count++] = e;
    e->id = (int)g->count;
}

/* An unnamed scalar constant reads best as its value, e.g. ∂(x·2)/∂x. */
static void make_label(ag_trace_node *e) {
    const ag_tensor *n = e->n;
    const char *name = ag_name(n);
    if (name && *name) {
        /* Control characters (a newline in a name) would break the layout. */
        bool clean = true;
        for (const char *p = name; *p; p++) clean &= (unsigned char)*p >= 0x20 && *p != 0x7f;
        if (clean) {
            e->label = name;
            return;
        }
        size_t i = 0;
        for (; name[i] && i < sizeof e->buf - 1; i++)
            e->buf[i] = ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) ? ' ' : name[i];
        e->buf[i] = '\0';
        e->label = e->buf;
        return;
    }
    if (n->ndim == 0 && !(n->flags & AG_F_REQUIRES_GRAD) && (n->flags & AG_F_LEAF)) {
        ag_trace_fmt f = {.digits = 6};
        double v = ag__ld(ag__val((ag_tensor *)n), n->dtype, 0);
        char num[32];
        ag__trace_num(num, sizeof num, v, &f);
        snprintf(e->buf, sizeof e->buf, v < 0 ? "(%s)" : "%s", num);
    } else {
        snprintf(e->buf, sizeof e->buf, "n%d", e->id);
    }
    e->label = e->buf;
}

ag_status ag__trace_collect(ag_tape *t, ag_tensor *y, ag_trace_graph *g) {
    *g = (ag_trace_graph){0};
    if (!add(g, y)) return AG_ERR_MEMORY;
    /* Reverse walk: mark the inputs of every needed node. */
    size_t iy = 0;
    bool y_on_tape = false;
    for (size_t i = t->nnodes; i-- > 0;) {
        ag_tensor *n = ag__tape_node(t, i);
        ag_trace_node *e = ag__trace_find(g, n);
        if (!e) continue;
        if (!y_on_tape) {
            iy = i;
            y_on_tape = true;
        }
        e->on_tape = true;
        for (int k = 0, m = inputs_of(n); k < m; k++)
            if (!add(g, ag__input(n, k))) return AG_ERR_MEMORY;
    }
    /* Forward walk: display order and ids. */
    size_t total = g->count;
    g->order = malloc(total * sizeof *g->order);
    if (!g->order) return AG_ERR_MEMORY;
    g->count = 0;
    for (size_t i = 0; y_on_tape && i <= iy; i++) {
        ag_tensor *n = ag__tape_node(t, i);
        ag_trace_node *e = ag__trace_find(g, n);
        if (!e || !e->on_tape) continue;
        for (int k = 0, m = inputs_of(n); k < m; k++) {
            ag_trace_node *in = ag__trace_find(g, ag__input(n, k));
            if (in && !in->on_tape && !in->ordered) place(g, in);
        }
        place(g, e);
    }
    ag_trace_node *ey = ag__trace_find(g, y);
    if (!ey->ordered) place(g, ey); /* y itself off the tape: a parameter */
    AG_ASSERT(g->count == total);
    for (size_t i = 0; i < g->count; i++) make_label(g->order[i]);
    return AG_OK;
}

void ag__trace_free(ag_trace_graph *g) {
    ag_trace_node *e, *tmp;
    HASH_ITER(hh, g->map, e, tmp) {
        HASH_DEL(g->map, e);
        for (ag_trace_term *u = e->terms, *next; u; u = next) {
            next = u->next;
            free(u->text);
            free(u);
        }
        free(e->before_text);
        free(e);
    }
    free(g->order);
    *g = (ag_trace_graph){0};
}
