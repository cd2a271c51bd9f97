/* ag_write_dot: the graph an output depends on, in Graphviz DOT. Inputs
 * point at their users (the forward direction); each box shows the node's
 * name, op, shape, value and, after a backward that reached it, gradient. */
#include "trace_internal.h"

/* Writes s inside a DOT double-quoted string: quotes and backslashes are
 * escaped, a newline becomes DOT's \n line break, other control characters
 * a space. */
static void dot_escaped(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", out);
        else if (ch < 0x20 || ch == 0x7f) fputc(' ', out);
        else fputc(ch, out);
    }
}

/* Whether n's gradient buffer holds a gradient: leaves always (they start
 * at zero), other nodes when the tape's last sweep reached them. */
static bool has_grad(const ag_tape *t, const ag_tensor *n) {
    if (!(n->flags & AG_F_REQUIRES_GRAD)) return false;
    if (ag__trace_is_leaf(n)) return true;
    return t->epoch != 0 && n->epoch == t->epoch;
}

ag_status ag_write_dot(FILE *out, ag_tape *t, ag_tensor *y) {
    if (!t) return AG_ERR_NULL;
    if (!out || !y) {
        if (t->err == AG_OK) ag__error_fail(t, AG_ERR_NULL, "write_dot", "%s is NULL", out ? "output" : "stream");
        return AG_ERR_NULL;
    }
    ag_trace_mat mat;
    ag_trace_graph g = {0};
    if (ag__trace_mat_begin(t, &y, &mat) != AG_OK || ag__trace_collect(t, y, &g) != AG_OK) {
        ag__trace_free(&g);
        ag__trace_mat_end(t, &mat, false);
        if (t->err == AG_OK) ag__error_fail(t, AG_ERR_MEMORY, "write_dot", "out of memory collecting the graph");
        return AG_ERR_MEMORY;
    }
    const ag_trace_fmt f = {.ascii = false, .digits = 6, .max_elems = 4};
    fprintf(out, "digraph tapegrad {\n");
    fprintf(out, "  rankdir=LR;\n");
    fprintf(out, "  node [shape=box, fontname=\"monospace\"];\n");
    char buf[512];
    for (size_t i = 0; i < g.count; i++) {
        const ag_trace_node *e = g.order[i];
        const ag_tensor *n = e->n;
        fprintf(out, "  n%d [id=\"n%d\", label=\"", e->id, e->id); /* the SVG carries the trace's ids */
        /* "o = tanh(w*x + b)", as the language writes it; a node named by
         * its own text once ("x^2"); leaves "x = input". */
        const char *name = ag_name(n);
        const bool op = !(n->flags & AG_F_LEAF) && (n->flags & AG_F_ON_TAPE);
        if (op) ag__trace_op_text(buf, sizeof buf, &g, n, false, &f);
        const bool same = op && name && !strcmp(name, buf);
        if (name && *name) {
            dot_escaped(out, name);
            if (!same) fputs(" = ", out);
        }
        if (!same) dot_escaped(out, op ? buf : ag__trace_kind(n));
        if (n->dtype == AG_F32) fputs(" (f32)", out);
        /* A tensor's value summary starts with its shape. */
        fputs("\\nvalue ", out);
        dot_escaped(out, ag__trace_value_of(buf, sizeof buf, n, &f));
        if (has_grad(t, n)) {
            fputs("\\ngrad ", out);
            dot_escaped(out, ag__trace_grad_of(buf, sizeof buf, n, &f));
        }
        fprintf(out, "\"%s];\n", n == y ? ", penwidth=2" : "");
    }
    for (size_t i = 0; i < g.count; i++) {
        const ag_trace_node *e = g.order[i];
        const ag_tensor *n = e->n;
        if ((n->flags & AG_F_LEAF) || !(n->flags & AG_F_ON_TAPE)) continue;
        int m = ag__op_ninputs(n);
        for (int k = 0; k < m; k++) {
            const ag_trace_node *in = ag__trace_find(&g, ag__input(n, k));
            if (!in) continue;
            /* Operand numbers matter for non-commutative ops (sub, div). */
            if (m > 1) fprintf(out, "  n%d -> n%d [label=\"%d\"];\n", in->id, e->id, k + 1);
            else fprintf(out, "  n%d -> n%d;\n", in->id, e->id);
        }
    }
    fprintf(out, "}\n");
    ag__trace_free(&g);
    ag__trace_mat_end(t, &mat, false);
    fflush(out);
    return ferror(out) ? AG_ERR_ARG : AG_OK;
}
