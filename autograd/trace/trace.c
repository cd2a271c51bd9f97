/* ag_trace: the chain rule at work, step by step.
 *
 * The trace runs the real backward sweep itself (the same reverse walk as
 * backward.c, calling each op's own backward rule on the real nodes), so
 * the tape ends exactly as ag_backward leaves it. To show what each step
 * does it also runs the op's backward on a scratch copy of the node whose
 * inputs are scratch copies with zeroed gradients, one copy per operand:
 *   - with the node's real upstream gradient: the copies then hold exactly
 *     the contribution passed through each operand (even for b = a + a,
 *     where both operands are the same node);
 *   - for a scalar node, once more with upstream 1: the local partials.
 * So every number shown comes from the op table's own backward rule; no
 * derivative is written twice. The formulas come from the rows' local_grad
 * strings (trace_fmt.c renders them with the graph's names). */
#include "trace_internal.h"

#include <stdarg.h>
#include <stdlib.h>

/* snprintf that may cut: lines here are assembled from parts of unknown
 * length and a cut one is still a readable line. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int sfmt(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (r < 0) buf[0] = '\0';
    return r < 0 ? 0 : (r >= (int)size ? (int)size - 1 : r);
}

/* The writer: line width and formatting. */
typedef struct tw {
    FILE *out;
    int width;
    ag_trace_fmt f;
    ag_trace_graph *g;
    const char *ylabel; /* the output's label, as in ∂y/∂x */
    FILE *json;         /* the JSON trace's steps, or NULL (ag_trace_json) */
    int jsteps;         /* steps written to it */
} tw;

#define LINE 1024 /* longest line assembled (wrapped when printed) */

/* Prints prefix + text, wrapping text at spaces to the width; continuation
 * lines are indented under the text, two columns further. */
static void wline(tw *w, const char *prefix, const char *text) {
    if (!w->out) return; /* a JSON trace only */
    size_t pc = ag__trace_cols(prefix), room = (size_t)w->width > pc + 20 ? (size_t)w->width - pc : 20;
    fputs(prefix, w->out);
    const char *p = text;
    bool first = true;
    while (*p) {
        size_t cols = ag__trace_cols(p);
        size_t avail = first ? room : room - 2;
        if (!first) fprintf(w->out, "%*s", (int)pc + 2, "");
        if (cols <= avail) {
            fputs(p, w->out);
            break;
        }
        /* Last space within avail columns (or the first one after). */
        const char *cut = NULL, *q = p;
        size_t c = 0;
        for (; *q; q++) {
            if (*q == ' ' && q != p) {
                if (c <= avail || !cut) cut = q;
                if (c > avail) break;
            }
            c += ((unsigned char)*q & 0xC0) != 0x80;
        }
        if (!cut) {
            fputs(p, w->out);
            break;
        }
        const char *e = cut;
        while (e > p && e[-1] == ' ') e--;
        fwrite(p, 1, (size_t)(e - p), w->out);
        fputc('\n', w->out);
        p = cut;
        while (*p == ' ') p++;
        first = false;
    }
    fputc('\n', w->out);
}

/* "∂y/∂x" for node label x; "∂((o - y)^2)/∂(o - y)" for compound ones. */
static char *partial(char *buf, size_t size, tw *w, const char *of, const char *by) {
    return ag__trace_partial(buf, size, of, by, &w->f);
}

/* The node as the language writes it ("(o - y)^2"; with ids "n8^2"); an
 * overlong one (concat of many) is cut, marked by "...". */
static char *call_text(char *buf, size_t size, tw *w, const ag_tensor *n, bool ids) {
    ag__trace_op_text(buf, size, w->g, n, ids, &w->f);
    if (ids && ag__trace_cols(buf) > 28 && size > 32) {
        size_t cut = 24;
        while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80) cut--; /* UTF-8 */
        snprintf(buf + cut, size - cut, "...");
    }
    return buf;
}

/* --------------------------------------------------------- forward table */

static void forward_table(tw *w) {
    if (!w->out) return;
    ag_trace_graph *g = w->g;
    int idw = 4, namew = 0, callw = 2;
    char call[128], val[LINE];
    for (size_t i = 0; i < g->count; i++) {
        const ag_tensor *n = g->order[i]->n;
        int l = sfmt(call, sizeof call, "n%d", g->order[i]->id);
        if (l > idw) idw = l;
        const char *name = ag_name(n) ? g->order[i]->label : NULL;
        if (name && (int)ag__trace_cols(name) > namew) namew = (int)ag__trace_cols(name);
        int c = (int)ag__trace_cols(ag__trace_is_leaf(n) || (n->flags & AG_F_LEAF) || !(n->flags & AG_F_ON_TAPE)
                                     ? ag__trace_kind(n) : call_text(call, sizeof call, w, n, true));
        if (c > callw) callw = c;
    }
    if (namew > 16) namew = 16;
    sfmt(val, sizeof val, "Forward pass: the %zu node%s that %s depends on, in tape order", g->count,
         g->count == 1 ? "" : "s", w->ylabel);
    wline(w, "", val);
    fprintf(w->out, "  %-*s  ", idw, "node");
    if (namew) fprintf(w->out, "%-*s  ", namew < 4 ? 4 : namew, "name");
    fprintf(w->out, "%-*s  value\n", callw, "op");
    if (namew && namew < 4) namew = 4;
    for (size_t i = 0; i < g->count; i++) {
        const ag_tensor *n = g->order[i]->n;
        char id[24], prefix[256];
        sfmt(id, sizeof id, "n%d", g->order[i]->id);
        const char *op = (n->flags & AG_F_LEAF) || !(n->flags & AG_F_ON_TAPE)
                             ? ag__trace_kind(n) : call_text(call, sizeof call, w, n, true);
        const char *name = ag_name(n) ? g->order[i]->label : "";
        int off = sfmt(prefix, sizeof prefix, "  %-*s  ", idw, id);
        if (namew && off > 0 && (size_t)off < sizeof prefix) {
            /* pad by columns, not bytes: names may be UTF-8 */
            int pad = namew - (int)ag__trace_cols(name);
            off += sfmt(prefix + off, sizeof prefix - (size_t)off, "%s%*s  ", name,
                            pad > 0 ? pad : 0, "");
        }
        if (off > 0 && (size_t)off < sizeof prefix) {
            int pad = callw - (int)ag__trace_cols(op);
            sfmt(prefix + off, sizeof prefix - (size_t)off, "%s%*s  ", op, pad > 0 ? pad : 0, "");
        }
        ag__trace_value_of(val, sizeof val, n, &w->f);
        if (ag__trace_cols(prefix) + ag__trace_cols(val) > (size_t)w->width) {
            size_t end = strlen(prefix);
            while (end > 0 && prefix[end - 1] == ' ') prefix[--end] = '\0';
            fprintf(w->out, "%s\n", prefix);
            wline(w, "      ", val);
        } else {
            fprintf(w->out, "%s%s\n", prefix, val);
        }
    }
}

/* -------------------------------------------------------- gradient sums */

/* Whether term u's node passed e more than one term (then operands are
 * named). A node's step adds all its terms to e at once, so they are
 * neighbours in e's list: a look at both sides, not a scan (a scan per term
 * made a node with 10^5 terms take minutes). */
static bool repeated(const ag_trace_term *prev, const ag_trace_term *u) {
    return (prev && prev->from == u->from) || (u->next && u->next->from == u->from);
}

/* The line "∂y/∂x = term (from a) + term (from b) = total": the gradient x
 * received, summed over the paths to it. Long sums and tensors go one term
 * per line. */
static void sum_lines(tw *w, const char *head, ag_trace_node *e, bool seed) {
    const ag_tensor *n = e->n;
    bool scalar = n->ndim == 0, leaf = ag__trace_is_leaf(n);
    char lhs[160], total[LINE], val[LINE], line[LINE], note[160];
    partial(lhs, sizeof lhs, w, w->ylabel, e->label);
    ag__trace_grad_of(total, sizeof total, n, &w->f);
    /* Collect (value, note) pairs: the kept gradient, the seed, the terms. */
    int cap = e->nterms + 2, nt = 0;
    char **vals = calloc((size_t)cap, sizeof *vals), **notes = calloc((size_t)cap, sizeof *notes);
    if (!vals || !notes) {
        free(vals), free(notes);
        sfmt(line, sizeof line, "%s = %s", lhs, total);
        wline(w, head, line);
        return;
    }
    if (leaf && (scalar ? e->before != 0 : e->before_text != NULL)) {
        ag__trace_num(val, sizeof val, e->before, &w->f);
        vals[nt] = strdup(scalar ? val : e->before_text);
        notes[nt++] = strdup("kept from earlier backward calls");
    }
    if (seed) {
        vals[nt] = strdup("1");
        notes[nt++] = strdup("the seed");
    }
    for (const ag_trace_term *u = e->terms, *prev = NULL; u && nt < cap; prev = u, u = u->next) {
        vals[nt] = strdup(scalar ? ag__trace_num(val, sizeof val, u->v, &w->f) : (u->text ? u->text : "?"));
        if (repeated(prev, u)) sfmt(note, sizeof note, "from %s, operand %d", u->from->label, u->slot + 1);
        else sfmt(note, sizeof note, "from %s", u->from->label);
        notes[nt++] = strdup(note);
    }
    if (nt == 0) {
        sfmt(line, sizeof line, "%s = %s", lhs, total);
        wline(w, head, line);
    } else if (nt == 1) {
        sfmt(line, sizeof line, "%s = %s (%s)", lhs, vals[0] ? vals[0] : "?", notes[0] ? notes[0] : "");
        wline(w, head, line);
    } else {
        size_t off = (size_t)sfmt(line, sizeof line, "%s = ", lhs);
        for (int i = 0; i < nt && off < sizeof line; i++) {
            const char *v = vals[i] ? vals[i] : "?";
            bool neg = i > 0 && v[0] == '-';
            int r = sfmt(line + off, sizeof line - off, "%s%s%s%s (%s)", i ? " + " : "",
                             neg ? "(" : "", v, neg ? ")" : "", notes[i] ? notes[i] : "");
            off += r > 0 ? (size_t)r : 0;
        }
        if (off < sizeof line) sfmt(line + off, sizeof line - off, " = %s", total);
        if (scalar && off < sizeof line - 1 && ag__trace_cols(head) + ag__trace_cols(line) <= (size_t)w->width) {
            wline(w, head, line);
        } else { /* one term per line, the = signs aligned */
            char pad[64];
            size_t hc = ag__trace_cols(head) + ag__trace_cols(lhs) + 1;
            sfmt(pad, sizeof pad, "%*s", hc < 60 ? (int)hc : 60, "");
            for (int i = 0; i < nt; i++) {
                char pre[256];
                if (i == 0) sfmt(pre, sizeof pre, "%s%s =   ", head, lhs);
                else sfmt(pre, sizeof pre, "%s+   ", pad);
                sfmt(line, sizeof line, "%s (%s)", vals[i] ? vals[i] : "?", notes[i] ? notes[i] : "");
                wline(w, pre, line);
            }
            char pre[256];
            sfmt(pre, sizeof pre, "%s=   ", pad);
            wline(w, pre, total);
        }
    }
    for (int i = 0; i < nt; i++) free(vals[i]), free(notes[i]);
    free(vals), free(notes);
}

/* ------------------------------------------------------- scratch copies */

/* A scratch copy of node n: its inputs are separate copies (one per
 * operand) whose gradients start at zero; n's backward rule run on it
 * writes each operand's share into its copy. */
typedef struct scratch {
    ag_tensor node;
    ag_ext ext;
    ag_tensor *ins;   /* ninputs copies */
    ag_tensor **xin;  /* pointers for inputs beyond the second */
    void **bufs;      /* tensor inputs' scratch gradient buffers */
    int ninputs;
} scratch;

static void scratch_free(scratch *sc) {
    for (int k = 0; sc->bufs && k < sc->ninputs; k++) free(sc->bufs[k]);
    free(sc->bufs);
    free(sc->ins);
    free(sc->xin);
}

static bool scratch_init(scratch *sc, ag_tensor *n) {
    *sc = (scratch){0};
    sc->ninputs = ag__op_ninputs(n);
    int m = sc->ninputs;
    sc->ins = calloc((size_t)(m ? m : 1), sizeof *sc->ins);
    sc->bufs = calloc((size_t)(m ? m : 1), sizeof *sc->bufs);
    if (!sc->ins || !sc->bufs) return false;
    sc->node = *n;
    if (m > 2) {
        sc->xin = calloc((size_t)(m - 2), sizeof *sc->xin);
        if (!sc->xin) return false;
        sc->ext = *n->ext;
        sc->ext.xin = sc->xin;
        sc->node.ext = &sc->ext;
    }
    for (int k = 0; k < m; k++) {
        ag_tensor *in = ag__input(n, k);
        sc->ins[k] = *in;
        if (in->ndim && (in->flags & AG_F_REQUIRES_GRAD)) {
            sc->bufs[k] = calloc((size_t)(ag__numel(in) ? ag__numel(in) : 1), ag__elsize(in->dtype));
            if (!sc->bufs[k]) return false;
            sc->ins[k].d.t.grad = sc->bufs[k];
        }
        if (k < 2) sc->node.in[k] = &sc->ins[k];
        else sc->xin[k - 2] = &sc->ins[k];
    }
    return true;
}

/* Runs n's backward on the copy: upstream 1 (unit, scalars) or n's own. */
static void scratch_run(scratch *sc, ag_tape *t, ag_tensor *n, bool unit) {
    for (int k = 0; k < sc->ninputs; k++) {
        ag_tensor *c = &sc->ins[k];
        c->epoch = 0;
        if (c->ndim == 0) c->d.s.grad = 0;
        else if (sc->bufs[k]) memset(sc->bufs[k], 0, (size_t)ag__numel(c) * ag__elsize(c->dtype));
    }
    sc->node.d = n->d;
    if (unit) ag__st(ag__grad(&sc->node), n->dtype, 0, 1.0);
    /* Epoch 1 against the copies' 0: each copy's first write is fresh. A
     * scalar node has no inputs to copy: its backward writes the scalar
     * tape itself, so only the real step runs it. */
    if (n->op == AG_OP_SCALAR) return;
    ag_sweep s = {.tape = t, .epoch = 1, .functional = false};
    ag__ops[n->op]->backward(&s, &sc->node);
}

/* ------------------------------------------------------------ one step */

static void add_term(ag_trace_graph *g, ag_trace_node *to, ag_trace_node *from, int slot, double v,
                     const char *text) {
    ag_trace_term *u = calloc(1, sizeof *u);
    if (!u || (text && !(u->text = strdup(text)))) {
        free(u);
        g->oom = true;
        return;
    }
    u->from = from;
    u->slot = slot;
    u->v = v;
    if (to->last) to->last->next = u;
    else to->terms = u;
    to->last = u;
    to->nterms++;
}

static bool input_repeats(const ag_tensor *n, int k) {
    for (int j = 0, m = ag__op_ninputs(n); j < m; j++)
        if (j != k && ag__input(n, j) == ag__input(n, k)) return true;
    return false;
}

/* The JSON trace's step object up to its terms: the node, its head line,
 * the gradient it holds (the sum of its terms), and each term received
 * (by whom, through which operand; the value for scalars, else null: the
 * page finds a tensor term among the sender's "passes"). Leaves open. */
static void json_step_begin(tw *w, ag_trace_node *e, const char *head, bool seed) {
    FILE *j = w->json;
    ag_tensor *n = e->n;
    const bool leaf = ag__trace_is_leaf(n);
    fprintf(j, "%s\n  {\"node\": \"n%d\", \"head\": ", w->jsteps++ ? "," : "", e->id);
    ag__tj_str(j, head);
    fprintf(j, ", \"leaf\": %s, \"seed\": %s, \"grad\": ", leaf ? "true" : "false", seed ? "true" : "false");
    ag__tj_values(j, n->dtype, n->ndim, ag__shape(n), ag__numel(n), ag__grad(n));
    fputs(", \"kept\": ", j);
    if (leaf && n->ndim == 0 && e->before != 0) ag__tj_num(j, e->before);
    else if (leaf && e->before_text) ag__tj_str(j, e->before_text);
    else fputs("null", j);
    fputs(", \"terms\": [", j);
    int k = 0;
    for (const ag_trace_term *u = e->terms; u; u = u->next, k++) {
        fprintf(j, "%s{\"from\": \"n%d\", \"operand\": %d, \"value\": ", k ? ", " : "", u->from->id, u->slot + 1);
        if (n->ndim == 0) ag__tj_num(j, u->v);
        else fputs("null", j);
        fputc('}', j);
    }
    fputc(']', j);
}

/* Prints the step of an op node and passes its gradient on for real. */
static void op_step(tw *w, ag_sweep *s, ag_trace_node *e, bool seed, int step) {
    ag_tensor *n = e->n;
    char line[LINE], call[LINE], v[LINE];
    /* "step 5  o = tanh(w*x + b)"; a node named by its own text, once:
     * "step 2  b^3" */
    call_text(call, sizeof call, w, n, false);
    if (strcmp(call, e->label)) sfmt(line, sizeof line, "step %d  %s = %s", step, e->label, call);
    else sfmt(line, sizeof line, "step %d  %s", step, e->label);
    if (w->json) json_step_begin(w, e, strchr(line + 5, ' ') + 2, seed);
    if (n->ndim) {
        char shp[64];
        size_t off = strlen(line);
        sfmt(line + off, sizeof line - off, "   %s", ag_format_shape(shp, sizeof shp, n->ndim, ag__shape(n)));
    }
    wline(w, "", line);
    sum_lines(w, "  upstream   ", e, seed);

    scratch sc;
    bool ok = scratch_init(&sc, n);
    const int m = sc.ninputs;
    double *local = ok ? calloc((size_t)(m ? m : 1), sizeof *local) : NULL;
    if (!ok || !local) {
        wline(w, "  ", "(details unavailable: out of memory)");
        w->g->oom = true;
    } else {
        if (n->ndim == 0) {
            scratch_run(&sc, s->tape, n, true);
            for (int k = 0; k < m; k++)
                if (sc.ins[k].ndim == 0) local[k] = ag__ld(ag__grad(&sc.ins[k]), n->dtype, 0);
        }
        scratch_run(&sc, s->tape, n, false);
        char upstream[64];
        ag__trace_num(upstream, sizeof upstream, ag__ld(ag__grad(n), n->dtype, 0), &w->f);
        bool first_local = true, first_pass = true;
        /* Local partials, then what each operand is passed. */
        for (int pass = 0; pass < 2; pass++) {
            int jn = 0; /* entries in the JSON array */
            if (w->json) fputs(pass == 0 ? ", \"local\": [" : ", \"passes\": [", w->json);
            for (int k = 0; k < m; k++) {
                ag_tensor *in = ag__input(n, k);
                ag_trace_node *ei = ag__trace_find(w->g, in);
                if (!(in->flags & AG_F_REQUIRES_GRAD) || !ei) continue;
                char note[32] = "";
                if (input_repeats(n, k)) sfmt(note, sizeof note, "   (operand %d)", k + 1);
                if (pass == 0) {
                    char f[LINE];
                    ag__trace_formula(f, sizeof f, w->g, n, k, &w->f);
                    if (!*f) partial(f, sizeof f, w, e->label, ei->label);
                    size_t off = strlen(f);
                    if (n->ndim == 0 && in->ndim == 0) {
                        char num[64], tail[80];
                        ag__trace_num(num, sizeof num, local[k], &w->f);
                        sfmt(tail, sizeof tail, " = %s", num);
                        size_t tl = strlen(tail);
                        if (!(off >= tl && strcmp(f + off - tl, tail) == 0))
                            sfmt(f + off, sizeof f - off, "%s", tail);
                    }
                    sfmt(line, sizeof line, "%s%s", f, note);
                    wline(w, first_local ? "  local      " : "             ", line);
                    if (w->json) {
                        fprintf(w->json, "%s{\"to\": \"n%d\", \"operand\": %d, \"formula\": ", jn++ ? ", " : "",
                                ei->id, k + 1);
                        ag__tj_str(w->json, f);
                        fputs(", \"value\": ", w->json);
                        if (n->ndim == 0 && in->ndim == 0) ag__tj_num(w->json, local[k]);
                        else fputs("null", w->json);
                        fputc('}', w->json);
                    }
                    first_local = false;
                } else {
                    const ag_tensor *c = &sc.ins[k];
                    double cv = 0;
                    if (in->ndim == 0) {
                        cv = ag__ld(ag__grad((ag_tensor *)c), in->dtype, 0);
                        char lv[64], cs[64];
                        ag__trace_num(lv, sizeof lv, local[k], &w->f);
                        ag__trace_num(cs, sizeof cs, cv, &w->f);
                        if (n->ndim == 0) /* upstream · local = share */
                            sfmt(line, sizeof line, "to %s: %s %s %s%s%s = %s%s", ei->label, upstream,
                                     w->f.ascii ? "*" : "\u00b7", local[k] < 0 ? "(" : "", lv,
                                     local[k] < 0 ? ")" : "", cs, note);
                        else
                            sfmt(line, sizeof line, "to %s: %s%s", ei->label, cs, note);
                        add_term(w->g, ei, e, k, cv, NULL);
                    } else {
                        ag__trace_values(v, sizeof v, in->dtype, in->ndim, ag__shape(in), ag__numel(in),
                                      sc.bufs[k], &w->f);
                        sfmt(line, sizeof line, "to %s: %s%s", ei->label, v, note);
                        add_term(w->g, ei, e, k, 0, v);
                    }
                    wline(w, first_pass ? "  passes on  " : "             ", line);
                    first_pass = false;
                    if (w->json) {
                        fprintf(w->json, "%s{\"to\": \"n%d\", \"operand\": %d, \"value\": ", jn++ ? ", " : "",
                                ei->id, k + 1);
                        if (in->ndim == 0) ag__tj_num(w->json, cv);
                        else ag__tj_values(w->json, in->dtype, in->ndim, ag__shape(in), ag__numel(in), sc.bufs[k]);
                        fputc('}', w->json);
                    }
                }
            }
            if (w->json) fputc(']', w->json);
        }
    }
    if (w->json) fputc('}', w->json);
    free(local);
    scratch_free(&sc);
    /* The real step, exactly as ag_backward runs it. */
    ag__ops[n->op]->backward(s, n);
}

/* --------------------------------------------------------------- driver */

/* Leaves' gradients before the sweep: shown as a term of their sum, since
 * leaves accumulate across backward calls. */
static bool note_before(tw *w) {
    for (size_t i = 0; i < w->g->count; i++) {
        ag_trace_node *e = w->g->order[i];
        const ag_tensor *n = e->n;
        if (!ag__trace_is_leaf(n)) continue;
        const void *gp = ag__grad((ag_tensor *)n);
        if (n->ndim == 0) {
            e->before = ag__ld(gp, n->dtype, 0);
            continue;
        }
        bool any = false;
        for (int64_t j = 0, k = ag__numel(n); j < k && !any; j++) any = ag__ld(gp, n->dtype, j) != 0;
        if (!any) continue;
        char v[LINE];
        ag__trace_grad_of(v, sizeof v, n, &w->f);
        if (!(e->before_text = strdup(v))) return false;
    }
    return true;
}

static ag_status traced_sweep(FILE *out, FILE *json, ag_tape *t, ag_tensor *y, const ag_trace_opts *opts);

/* ag_trace and ag_trace_json: the checks, then the sweep. */
static ag_status trace_to(const char *what, FILE *out, FILE *json, ag_tape *t, ag_tensor *y,
                          const ag_trace_opts *opts) {
    if (!t) return AG_ERR_NULL;
    if (!out && !json) {
        if (t->err == AG_OK) ag__error_fail(t, AG_ERR_NULL, what, "output stream is NULL");
        return t->err;
    }
    ag_status st = ag__sweep_check_output(t, what, y, NULL, true);
    if (st == AG_OK) st = ag__tape_lock_params(t, what);
    if (st != AG_OK) return st;
    st = traced_sweep(out, json, t, y, opts);
    ag__tape_unlock_params(t);
    return st;
}

ag_status ag_trace(FILE *out, ag_tape *t, ag_tensor *y, const ag_trace_opts *opts) {
    if (!out) return trace_to("trace", NULL, NULL, t, y, opts);
    return trace_to("trace", out, NULL, t, y, opts);
}

ag_status ag_trace_json(FILE *json, FILE *text, ag_tape *t, ag_tensor *y, const ag_trace_opts *opts) {
    if (!json) return trace_to("trace_json", NULL, NULL, t, y, opts);
    return trace_to("trace_json", text, json, t, y, opts);
}

/* ag_trace once its checks passed and the parameters are taken; out
 * (the text) or json may be NULL, not both. */
static ag_status traced_sweep(FILE *out, FILE *json, ag_tape *t, ag_tensor *y, const ag_trace_opts *opts) {
    ag_status st;
    /* A scalar statement's graph is traced as nodes (trace_stmt.c). */
    ag_trace_mat mat;
    if (ag__trace_mat_begin(t, &y, &mat) != AG_OK) {
        ag__trace_mat_end(t, &mat, false);
        ag__error_fail(t, AG_ERR_MEMORY, "trace", "out of memory collecting the graph");
        return AG_ERR_MEMORY;
    }
    ag_sweep s;
    if ((st = ag__sweep_begin(t, &s, false)) != AG_OK ||
        (!mat.active && ag__stmt_count(&t->s) && !ag__stmt_prepare(t, false))) {
        ag__trace_mat_end(t, &mat, false);
        return st != AG_OK ? st : t->err;
    }
    t->s.reach = 0;

    ag_trace_graph g;
    tw w = {.out = out, .g = &g, .json = json};
    w.width = opts && opts->width > 0 ? opts->width : 80;
    if (w.width < 40) w.width = 40;
    w.f.ascii = opts && opts->ascii;
    w.f.digits = opts && opts->digits > 0 ? (opts->digits > 17 ? 17 : opts->digits) : 6;
    w.f.max_elems = opts && opts->max_elems > 0 ? opts->max_elems : 4;
    if (ag__trace_collect(t, y, &g) != AG_OK || !note_before(&w)) {
        ag__trace_free(&g);
        ag__trace_mat_end(t, &mat, false);
        ag__error_fail(t, AG_ERR_MEMORY, "trace", "out of memory collecting the graph");
        return AG_ERR_MEMORY;
    }
    ag_trace_node *ey = ag__trace_find(&g, y);
    w.ylabel = ey->label;

    forward_table(&w);

    /* The sweep of backward.c (begun above, after the checks), with each
     * step printed. */
    bool gy = ag__sweep_seed(&s, y, NULL);

    char d[160];
    char line[LINE];
    sfmt(line, sizeof line, "Backward pass: reverse tape order, from the seed %s = 1",
         partial(d, sizeof d, &w, w.ylabel, w.ylabel));
    if (out) fputc('\n', out);
    wline(&w, "", line);
    if (!gy && out)
        fprintf(out, "  %s depends on nothing that needs a gradient: no steps.\n", w.ylabel);
    if (json) {
        fprintf(json, "{\"output\": \"n%d\", \"output_label\": ", ey->id);
        ag__tj_str(json, w.ylabel);
        fputs(", \"steps\": [", json);
    }
    int step = 0;
    for (size_t i = g.count; i-- > 0;) {
        ag_trace_node *e = g.order[i];
        ag_tensor *n = e->n;
        if (n->epoch != s.epoch) continue; /* received no gradient */
        if (n->flags & AG_F_LEAF) {
            char line[256];
            sfmt(line, sizeof line, "step %d  %s   (%s%s)", ++step, e->label, ag__trace_kind(n),
                     n->flags & AG_F_PARAM ? "eter" : ", a leaf");
            wline(&w, "", line);
            if (json) {
                json_step_begin(&w, e, strchr(line + 5, ' ') + 2, e == ey);
                fputc('}', json);
            }
            sum_lines(&w, "  gradient   ", e, e == ey);
        } else {
            op_step(&w, &s, e, e == ey, ++step);
        }
    }

    /* Statements fed through scalar nodes of a node graph: their sweep, as
     * in ag_backward (untraced). */
    if (!mat.active && t->s.reach) ag__stmt_sweep(t, t->s.reach);
    if (!mat.active) ag__stmt_settle(t, &s);

    if (json) {
        fputs("\n], ", json);
        ag__tj_nodes(json, &g, y, s.epoch, &w.f);
        fputs("}\n", json);
    }
    /* What is left on the tape: the leaves' gradients. */
    bool header = false;
    for (size_t i = 0; out && i < g.count; i++) {
        ag_trace_node *e = g.order[i];
        if (!ag__trace_is_leaf(e->n)) continue;
        if (!header) {
            fputc('\n', out);
            wline(&w, "", "Gradients now stored on the leaves (as ag_backward leaves them):");
        }
        header = true;
        char lhs[160], v[LINE], line[LINE];
        sfmt(line, sizeof line, "%s = %s", partial(lhs, sizeof lhs, &w, w.ylabel, e->label),
                 ag__trace_grad_of(v, sizeof v, e->n, &w.f));
        wline(&w, "  ", line);
    }
    if (g.oom && out) fprintf(out, "(some details were left out: out of memory)\n");
    ag__trace_free(&g);
    ag__trace_mat_end(t, &mat, true);
    bool bad = false;
    if (out) bad |= fflush(out) != 0 || ferror(out);
    if (json) bad |= fflush(json) != 0 || ferror(json);
    return bad ? AG_ERR_ARG : AG_OK;
}
