/* Text for traces and graph exports: numbers, tensor summaries, and the op
 * table's local_grad formulas rendered with the graph's own names.
 *
 * The local_grad strings follow a small convention, which this file reads:
 *   - parts separated by ", " or "; " (outside brackets), one per input,
 *     each differentiating by "d<var>", e.g. "d(a*b)/da = b, d(a*b)/db = a";
 *   - placeholders are one-letter identifiers: x for a unary op's input; a
 *     and b (or A and B) for a binary op's; m, a, b for a three-input op
 *     (where); y (or Y) for the output; c for a _c op's constant;
 *   - a placeholder may carry an index suffix (x_i), and "d" before a
 *     placeholder (dx, dA) or alone ("d exp(x)") marks a partial.
 * Everything else is copied as written. */
#include "trace_internal.h"

#include <ctype.h>

char *ag__trace_num(char *buf, size_t size, double v, const ag_trace_fmt *f) {
    if (v == 0) v = 0; /* -0 prints as 0 */
    snprintf(buf, size, "%.*g", f->digits, v);
    return buf;
}

/* Appends to buf at *off, never past size; keeps it terminated. */
static void put(char *buf, size_t size, size_t *off, const char *s) {
    size_t n = strlen(s);
    if (*off + 1 >= size) return;
    if (n > size - 1 - *off) n = size - 1 - *off;
    memcpy(buf + *off, s, n);
    *off += n;
    buf[*off] = '\0';
}

char *ag__trace_values(char *buf, size_t size, int dtype, int ndim, const int64_t *shape,
                    int64_t numel, const void *data, const ag_trace_fmt *f) {
    size_t off = 0;
    char num[48];
    buf[0] = '\0';
    if (!data) {
        put(buf, size, &off, "-");
        return buf;
    }
    if (ndim == 0) {
        put(buf, size, &off, ag__trace_num(num, sizeof num, ag__ld(data, dtype, 0), f));
        return buf;
    }
    put(buf, size, &off, ag_format_shape(num, sizeof num, ndim, shape));
    put(buf, size, &off, " {");
    int64_t shown = numel < f->max_elems ? numel : f->max_elems;
    for (int64_t i = 0; i < shown; i++) {
        if (i) put(buf, size, &off, ", ");
        put(buf, size, &off, ag__trace_num(num, sizeof num, ag__ld(data, dtype, i), f));
    }
    if (shown < numel) put(buf, size, &off, f->ascii ? ", ..." : ", \u2026");
    put(buf, size, &off, "}");
    return buf;
}

char *ag__trace_value_of(char *buf, size_t size, const ag_tensor *n, const ag_trace_fmt *f) {
    ag_tensor *m = (ag_tensor *)n;
    return ag__trace_values(buf, size, n->dtype, n->ndim, ag__shape(n), ag__numel(n), ag__val(m), f);
}

char *ag__trace_grad_of(char *buf, size_t size, const ag_tensor *n, const ag_trace_fmt *f) {
    ag_tensor *m = (ag_tensor *)n;
    const void *g = (n->flags & AG_F_REQUIRES_GRAD) ? ag__grad(m) : NULL;
    return ag__trace_values(buf, size, n->dtype, n->ndim, ag__shape(n), ag__numel(n), g, f);
}

/* Whether a label needs parentheses after ∂: an operator outside any
 * parentheses of its own ("o - y", "x^2"; not "exp(x^2)" or "w"). */
static bool compound(const char *label) { return ag__trace_prec(label) < 6; }

char *ag__trace_partial(char *buf, size_t size, const char *of, const char *by, const ag_trace_fmt *f) {
    const bool po = compound(of), pb = compound(by);
    /* ASCII "d exp(z)/dz": "dexp" would read as a word */
    const bool sp = f->ascii && !po && (isalpha((unsigned char)of[0]) || of[0] == '_') && strchr(of, '(');
    snprintf(buf, size, "%s%s%s%s%s/%s%s%s%s", ag__trace_d(f), sp ? " " : "", po ? "(" : "", of, po ? ")" : "",
             ag__trace_d(f), pb ? "(" : "", by, pb ? ")" : "");
    return buf;
}

size_t ag__trace_cols(const char *s) {
    size_t c = 0;
    for (; *s; s++) c += ((unsigned char)*s & 0xC0) != 0x80;
    return c;
}

/* ------------------------------------------------------------- formulas */

enum { VAR_NONE = -1, VAR_OUT = -2, VAR_CONST = -3 };

/* Which input (or the output, or the constant) a one-letter placeholder
 * stands for in n's formula. */
static int var_index(const ag_tensor *n, char v) {
    int arity = ag__op_of(n)->arity;
    if (v == 'y' || v == 'Y') return VAR_OUT;
    if (arity == 1) {
        if (v == 'x') return 0;
        if (v == 'c') return VAR_CONST;
    } else if (arity == 2) {
        if (v == 'a' || v == 'A') return 0;
        if (v == 'b' || v == 'B') return 1;
    } else if (arity == 3) {
        if (v == 'm') return 0;
        if (v == 'a') return 1;
        if (v == 'b') return 2;
    }
    return VAR_NONE;
}

static bool ident_start(char ch) { return isalpha((unsigned char)ch) || ch == '_'; }
static bool ident_char(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

/* The placeholder an identifier names, with its suffix ("_i") and whether
 * it is a partial ("dx"); VAR_NONE when it is an ordinary word. */
static int parse_ident(const ag_tensor *n, const char *s, size_t len, bool *partial,
                       size_t *core_end) {
    size_t core = 0;
    while (core < len && s[core] != '_') core++;
    *partial = false;
    *core_end = core;
    if (core == 1) return var_index(n, s[0]);
    if (core == 2 && s[0] == 'd') {
        int v = var_index(n, s[1]);
        if (v != VAR_NONE && v != VAR_CONST) {
            *partial = true;
            return v;
        }
    }
    return VAR_NONE;
}

bool ag__trace_uses_c(const ag_tensor *n) {
    const char *s = ag__op_of(n)->local_grad;
    if (!s || ag__op_of(n)->arity != 1) return false;
    for (const char *p = s; *p;) {
        if (!ident_start(*p)) {
            p++;
            continue;
        }
        const char *q = p;
        while (ident_char(*q)) q++;
        if (q - p == 1 && *p == 'c') return true;
        p = q;
    }
    return false;
}

/* Splits s into parts at ", d" and "; d" outside brackets (", 0 elsewhere"
 * stays in its part). */
static int split_parts(const char *s, const char **start, size_t *len, int max) {
    int np = 0, depth = 0;
    const char *p = s, *b = s;
    for (; *p; p++) {
        if (*p == '(' || *p == '[') depth++;
        else if ((*p == ')' || *p == ']') && depth > 0) depth--;
        else if ((*p == ',' || *p == ';') && p[1] == ' ' && p[2] == 'd' && depth == 0 &&
                 np < max - 1) {
            start[np] = b;
            len[np++] = (size_t)(p - b);
            b = p + 2;
        }
    }
    start[np] = b;
    len[np++] = (size_t)(p - b);
    return np;
}

/* The input a part differentiates by: its first "d<var>" after a "/" or at
 * the start ("dx = ..."); VAR_NONE when it names none. */
static int part_var(const ag_tensor *n, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (!ident_start(s[i]) || (i > 0 && ident_char(s[i - 1]))) continue;
        size_t j = i;
        while (j < len && ident_char(s[j])) j++;
        bool partial;
        size_t core_end;
        int v = parse_ident(n, s + i, j - i, &partial, &core_end);
        /* "d(a*b)/da": the denominator; "dx = ...": the left side */
        if (partial && v >= 0 && (i == 0 || s[i - 1] == '/')) return v;
        i = j - 1;
    }
    return VAR_NONE;
}

/* A label as it goes into a formula: parenthesised unless it is a plain
 * word or number, or bare (already alone inside a call's parentheses). */
static void put_label(char *buf, size_t size, size_t *off, const char *label, bool bare) {
    size_t n = strlen(label);
    bool plain = n > 0 && (bare || ag__trace_prec(label) == 6);
    if (!plain) put(buf, size, off, "(");
    put(buf, size, off, label);
    if (!plain) put(buf, size, off, ")");
}

static const char *label_of(ag_trace_graph *g, const ag_tensor *n) {
    ag_trace_node *e = n ? ag__trace_find(g, n) : NULL;
    return e ? e->label : "?";
}

char *ag__trace_formula(char *buf, size_t size, ag_trace_graph *g, const ag_tensor *n, int k,
                     const ag_trace_fmt *f) {
    size_t off = 0;
    buf[0] = '\0';
    const char *s = ag__op_of(n)->local_grad;
    if (!s || !*s) return buf;
    const char *start[8];
    size_t len[8];
    int np = split_parts(s, start, len, 8);
    int pick = -1;
    for (int i = 0; i < np && pick < 0; i++)
        if (part_var(n, start[i], len[i]) == k) pick = i;
    /* A lone part that names no input (concat: "dx_i = g[...]") serves all. */
    if (pick < 0 && np == 1 && part_var(n, start[0], len[0]) == VAR_NONE) pick = 0;
    if (pick < 0) return buf;
    const char *p = start[pick], *end = p + len[pick];
    const int ninputs = ag__op_ninputs(n);
    /* "d(a*b)/da = b": the left side as the language writes the node,
     * ∂(w*x)/∂w, ∂tanh(w*x + b)/∂(w*x + b) (the op's own spelling with
     * labels put in would read ∂((w*x)+b)/...). */
    const char *eq = strstr(p, " = ");
    if (*p == 'd' && eq && eq < end && k < ninputs && part_var(n, p, len[pick]) == k) {
        char of[512];
        ag__trace_op_text(of, sizeof of, g, n, false, f);
        ag__trace_partial(buf, size, of, label_of(g, ag__input(n, k)), f);
        off = strlen(buf);
        put(buf, size, &off, " = ");
        p = eq + 3;
    }
    while (p < end) {
        /* c*x^(c-1) with c known: the exponent worked out (x^2, or nothing
         * for ^1) */
        if (!strncmp(p, "^(c-1)", 6) && ag__op_of(n)->arity == 1) {
            char num[48];
            double e = n->attr.c - 1;
            if (e != 1) {
                put(buf, size, &off, "^");
                if (e < 0) put(buf, size, &off, "(");
                put(buf, size, &off, ag__trace_num(num, sizeof num, e, f));
                if (e < 0) put(buf, size, &off, ")");
            }
            p += 6;
            continue;
        }
        if (!ident_start(*p)) {
            char ch[2] = {*p, '\0'};
            put(buf, size, &off, (*p == '*' && !f->ascii) ? "\u00b7" : ch);
            p++;
            continue;
        }
        const char *q = p;
        while (q < end && ident_char(*q)) q++;
        bool partial;
        size_t core_end;
        int v = parse_ident(n, p, (size_t)(q - p), &partial, &core_end);
        if (v == VAR_NONE && q - p == 1 && *p == 'd') {
            /* "d exp(x)/dx": the operator; "∂exp(z)" reads better unspaced */
            put(buf, size, &off, ag__trace_d(f));
            if (!f->ascii && *q == ' ' && q + 1 < end && ident_start(q[1])) q++;
        } else if (v == VAR_NONE || (v >= 0 && v >= ninputs)) {
            char word[64];
            size_t w = (size_t)(q - p) < sizeof word - 1 ? (size_t)(q - p) : sizeof word - 1;
            memcpy(word, p, w);
            word[w] = '\0';
            put(buf, size, &off, word);
        } else {
            char num[48];
            const char *label = v == VAR_CONST ? ag__trace_num(num, sizeof num, n->attr.c, f)
                                               : label_of(g, v == VAR_OUT ? n : ag__input(n, v));
            if (partial) put(buf, size, &off, ag__trace_d(f));
            else if (off > 0 && isdigit((unsigned char)buf[off - 1]) &&
                     !(isalpha((unsigned char)label[0]) && !label[1]))
                put(buf, size, &off, f->ascii ? "*" : "\u00b7"); /* 2x -> 2·n3, 2x stays */
            /* alone in a call's parentheses: exp(x), max(a,b) */
            bool bare = p > start[pick] && (p[-1] == '(' || p[-1] == ',') && (q >= end || *q == ')' || *q == ',');
            put_label(buf, size, &off, label, bare);
            const char *sfx = p + core_end; /* "_i" */
            char word[32];
            size_t w = (size_t)(q - sfx) < sizeof word - 1 ? (size_t)(q - sfx) : sizeof word - 1;
            memcpy(word, sfx, w);
            word[w] = '\0';
            put(buf, size, &off, word);
        }
        p = q;
    }
    return buf;
}
