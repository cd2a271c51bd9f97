/* JSON pieces of the JSON trace (ag_trace_json): numbers with 17 digits,
 * escaped strings, values (a scalar's number, a tensor's shape and data),
 * and the node table written once the sweep is done. */
#include "trace_internal.h"

#include <math.h>

void ag__tj_num(FILE *out, double v) {
    /* JSON has no NaN or infinities: strings JavaScript's Number() reads */
    if (isnan(v)) fputs("\"NaN\"", out);
    else if (isinf(v)) fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", out);
    else fprintf(out, "%.17g", v == 0 ? 0.0 : v);
}

void ag__tj_str(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        /* "<" escaped: the JSON goes inside an HTML <script> element */
        else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

void ag__tj_values(FILE *out, int dtype, int ndim, const int64_t *shape, int64_t numel, const void *data) {
    if (!data) {
        fputs("null", out);
        return;
    }
    if (ndim == 0) {
        ag__tj_num(out, ag__ld(data, dtype, 0));
        return;
    }
    fputs("{\"shape\": [", out);
    for (int d = 0; d < ndim; d++) fprintf(out, "%s%lld", d ? ", " : "", (long long)shape[d]);
    /* A page shows small tables: the first AG_TJ_MAX_ELEMS elements. */
    int64_t shown = numel < AG_TJ_MAX_ELEMS ? numel : AG_TJ_MAX_ELEMS;
    fprintf(out, "], \"truncated\": %s, \"data\": [", shown < numel ? "true" : "false");
    for (int64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", out);
        ag__tj_num(out, ag__ld(data, dtype, i));
    }
    fputs("]}", out);
}

void ag__tj_nodes(FILE *out, ag_trace_graph *g, const ag_tensor *y, uint32_t epoch, const ag_trace_fmt *f) {
    fputs("\"nodes\": [", out);
    char buf[1024];
    for (size_t i = 0; i < g->count; i++) {
        const ag_trace_node *e = g->order[i];
        ag_tensor *n = e->n;
        const bool op = !(n->flags & AG_F_LEAF) && (n->flags & AG_F_ON_TAPE);
        fprintf(out, "%s\n  {\"id\": \"n%d\", \"label\": ", i ? "," : "", e->id);
        ag__tj_str(out, e->label);
        fputs(", \"kind\": ", out);
        ag__tj_str(out, op ? "op" : ag__trace_kind(n));
        fputs(", \"text\": ", out);
        ag__tj_str(out, op ? ag__trace_op_text(buf, sizeof buf, g, n, false, f) : e->label);
        fputs(", \"inputs\": [", out);
        for (int k = 0, m = op ? ag__op_ninputs(n) : 0; k < m; k++) {
            const ag_trace_node *in = ag__trace_find(g, ag__input(n, k));
            fprintf(out, "%s\"n%d\"", k ? ", " : "", in ? in->id : 0);
        }
        fputs("], \"value\": ", out);
        ag__tj_values(out, n->dtype, n->ndim, ag__shape(n), ag__numel(n), ag__val(n));
        fprintf(out, ", \"leaf\": %s, \"output\": %s, \"grad\": ", ag__trace_is_leaf(n) ? "true" : "false",
                n == y ? "true" : "false");
        const bool has = (n->flags & AG_F_REQUIRES_GRAD) && (ag__trace_is_leaf(n) || n->epoch == epoch);
        ag__tj_values(out, n->dtype, n->ndim, ag__shape(n), ag__numel(n), has ? ag__grad(n) : NULL);
        fputc('}', out);
    }
    fputs("]", out);
}
