/* User-facing op text for traces, pictures and the JSON trace: a node
 * written as the expression language writes it ("(o - y)^2", "a*b",
 * "tanh(w*x + b)"), not as the op table names it ("pow_c", "mul"). Ops
 * without an infix form are written as calls, name(operands[, c]).
 * Operands are parenthesised only where their precedence needs it. */
#include "trace_internal.h"

/* An infix (or prefix) form: the template's placeholders are a, b (binary)
 * or x, c (the _c ops); each operand slot needs at least precedence pa/pb
 * (see ag__trace_prec). */
typedef struct op_form {
    const char *name;
    const char *tmpl;
    int pa, pb;
} op_form;

static const op_form forms[] = {
    {"add", "a + b", 1, 1},    {"sub", "a - b", 1, 2},     {"mul", "a*b", 2, 2},
    {"div", "a/b", 2, 3},      {"pow", "a^b", 5, 4},       {"add_c", "x + c", 1, 0},
    {"rsub_c", "c - x", 2, 0}, {"mul_c", "c*x", 2, 0},     {"rdiv_c", "c/x", 3, 0},
    {"pow_c", "x^c", 5, 0},    {"rpow_c", "c^x", 4, 0},    {"neg", "-x", 3, 0},
    {"square", "x^2", 5, 0},   {"maximum", "max(a, b)", 0, 0},
    {"minimum", "min(a, b)", 0, 0},
};

int ag__trace_prec(const char *s) {
    int depth = 0, low = 6;
    for (const char *q = s; *q; q++) {
        if (*q == '(' || *q == '[') depth++;
        else if ((*q == ')' || *q == ']') && depth > 0) depth--;
        else if (depth) continue;
        else if ((*q == '+' || *q == '-') && q != s && q[-1] == ' ') low = low < 1 ? low : 1;
        else if (*q == '-' && q == s) low = low < 3 ? low : 3; /* unary minus */
        else if (*q == '*' || *q == '/' || *q == '+' || *q == '-') low = low < 2 ? low : 2;
        else if (*q == '^') low = low < 4 ? low : 4;
        else if (*q == ' ') low = low < 1 ? low : 1; /* anything spaced: be safe */
    }
    return low;
}

/* Appends s to buf at *off (cut at size). */
static void put(char *buf, size_t size, size_t *off, const char *s) {
    size_t n = strlen(s);
    if (*off + 1 >= size) return;
    if (n > size - 1 - *off) n = size - 1 - *off;
    memcpy(buf + *off, s, n);
    *off += n;
    buf[*off] = '\0';
}

/* Operand text: its id ("n3") or label, parenthesised below precedence p. */
static void put_operand(char *buf, size_t size, size_t *off, ag_trace_graph *g, const ag_tensor *in,
                        bool ids, int p) {
    ag_trace_node *e = in ? ag__trace_find(g, in) : NULL;
    char id[24];
    const char *s = "?";
    if (e && ids) {
        snprintf(id, sizeof id, "n%d", e->id);
        s = id;
    } else if (e) {
        s = e->label;
    }
    bool paren = ag__trace_prec(s) < p;
    if (paren) put(buf, size, off, "(");
    put(buf, size, off, s);
    if (paren) put(buf, size, off, ")");
}

char *ag__trace_op_text(char *buf, size_t size, ag_trace_graph *g, const ag_tensor *n, bool ids,
                        const ag_trace_fmt *f) {
    size_t off = 0;
    buf[0] = '\0';
    const char *name = ag__op_of(n)->name;
    const int m = ag__op_ninputs(n);
    const op_form *form = NULL;
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (!strcmp(forms[i].name, name)) form = &forms[i];
    if (form && m == (strchr(form->tmpl, 'a') ? 2 : 1)) {
        char num[48];
        for (const char *p = form->tmpl; *p; p++) {
            if (*p == 'a' || *p == 'x') {
                put_operand(buf, size, &off, g, ag__input(n, 0), ids, form->pa);
            } else if (*p == 'b') {
                put_operand(buf, size, &off, g, ag__input(n, 1), ids, form->pb);
            } else if (*p == 'c') {
                double c = n->attr.c;
                /* x + (-1) reads as x - 1 */
                if (c < 0 && p > form->tmpl + 1 && p[-2] == '+') {
                    buf[off - 2] = '-';
                    c = -c;
                }
                ag__trace_num(num, sizeof num, c, f);
                bool paren = c < 0;
                if (paren) put(buf, size, &off, "(");
                put(buf, size, &off, num);
                if (paren) put(buf, size, &off, ")");
            } else {
                char ch[2] = {*p, '\0'};
                put(buf, size, &off, ch);
            }
        }
        return buf;
    }
    /* A call: name(a, b, ...[, c]); operands need no parentheses. */
    put(buf, size, &off, name);
    put(buf, size, &off, "(");
    for (int k = 0; k < m; k++) {
        if (k) put(buf, size, &off, ", ");
        put_operand(buf, size, &off, g, ag__input(n, k), ids, 0);
    }
    if (ag__trace_uses_c(n)) {
        char num[48];
        put(buf, size, &off, ", ");
        put(buf, size, &off, ag__trace_num(num, sizeof num, n->attr.c, f));
    }
    put(buf, size, &off, ")");
    return buf;
}
