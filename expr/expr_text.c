/* Each node's source text, rebuilt from the node array ("x^2",
 * "exp(x^2)", "w*x + b"), to name the nodes no statement names: traces and
 * graph pictures then say what a node is instead of "n3". One forward loop
 * (operands come first), so nothing recurses. */
#include "expr_internal.h"

#include <stdlib.h>

/* Binding strength of what a node's text shows, as the parser reads it. */
enum { P_SUM = 1, P_PRODUCT, P_NEG, P_POWER, P_ATOM };

static int precedence(const ex_node *n) {
    if (n->kind != EX_CALL || !ex_fns[n->fn].pub.is_operator) return P_ATOM;
    const char *op = ex_fns[n->fn].pub.name;
    if (n->b < 0) return P_NEG;
    return op[0] == '+' || op[0] == '-' ? P_SUM : op[0] == '^' ? P_POWER : P_PRODUCT;
}

/* The number in its shortest form that reads back exactly. */
static void number_text(char *buf, size_t size, double v) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* Appends s to buf (of EX_TEXT_MAX bytes) at *len; false when it does not fit. */
static bool put(char *buf, size_t *len, const char *s) {
    size_t n = strlen(s);
    if (*len + n >= EX_TEXT_MAX) return false;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return true;
}

/* Operand text, in parentheses when `wrap`. */
static bool put_operand(char *buf, size_t *len, const char *s, bool wrap) {
    return (!wrap || put(buf, len, "(")) && put(buf, len, s) && (!wrap || put(buf, len, ")"));
}

char (*ex_node_texts(const ag_expr *e))[EX_TEXT_MAX] {
    char (*text)[EX_TEXT_MAX] = malloc((e->nnodes ? e->nnodes : 1) * sizeof *text);
    int8_t *prec = malloc(e->nnodes ? e->nnodes : 1);
    if (!text || !prec) {
        free(text);
        free(prec);
        return NULL;
    }
    for (size_t i = 0; i < e->nnodes; i++) {
        const ex_node *n = &e->nodes[i];
        char *buf = text[i];
        size_t len = 0;
        buf[0] = '\0';
        prec[i] = (int8_t)precedence(n);
        if (n->kind == EX_NUM) {
            number_text(buf, EX_TEXT_MAX, n->num);
            if (n->num < 0) prec[i] = P_NEG;
            continue;
        }
        if (n->kind == EX_INPUT) {
            put(buf, &len, e->inputs[n->a]->name);
            continue;
        }
        if (n->kind == EX_LIT) { /* [1, 2] or [[1, 2], [3, 4]], "" when long */
            const ex_lit *l = &e->lits[n->a];
            const int64_t rows = l->ndim == 2 ? l->dims[0] : 1, cols = l->ndim == 2 ? l->dims[1] : l->dims[0];
            bool ok = l->ndim != 2 || put(buf, &len, "[");
            for (int64_t r = 0; ok && r < rows; r++) {
                ok = put(buf, &len, r ? ", [" : "[");
                for (int64_t c = 0; ok && c < cols; c++) {
                    char num[32];
                    number_text(num, sizeof num, e->litdata[l->off + (size_t)(r * cols + c)]);
                    ok = (!c || put(buf, &len, ", ")) && put(buf, &len, num);
                }
                ok = ok && put(buf, &len, "]");
            }
            if (!(ok && (l->ndim != 2 || put(buf, &len, "]")))) buf[0] = '\0';
            continue;
        }
        if (n->kind == EX_INDEX) { /* x[1, 0] */
            const ex_node *c = &e->nodes[n->a];
            const char *arg = c->name ? c->name : c->kind == EX_INPUT ? e->inputs[c->a]->name : text[n->a];
            char idx[48];
            if (n->nidx == 2) snprintf(idx, sizeof idx, "[%d, %d]", (int)n->idx[0], (int)n->idx[1]);
            else snprintf(idx, sizeof idx, "[%d]", (int)n->idx[0]);
            bool wrap = !(c->name || c->kind == EX_INPUT) && prec[n->a] < P_ATOM;
            if (!(arg[0] && put_operand(buf, &len, arg, wrap) && put(buf, &len, idx))) buf[0] = '\0';
            continue;
        }
        const ex_fn *f = &ex_fns[n->fn];
        /* An operand shows as its binding name when a statement named it,
         * else as its own text; "" means too long to show. */
        const int32_t args[2] = {n->a, n->b};
        const char *arg[2] = {"", ""};
        int aprec[2] = {P_ATOM, P_ATOM};
        bool ok = true;
        for (int k = 0; k < 2 && args[k] >= 0; k++) {
            const ex_node *c = &e->nodes[args[k]];
            arg[k] = c->name ? c->name : c->kind == EX_INPUT ? e->inputs[c->a]->name : text[args[k]];
            aprec[k] = c->name || c->kind == EX_INPUT ? P_ATOM : prec[args[k]];
            ok = ok && arg[k][0];
        }
        if (ok && !f->pub.is_operator) {
            ok = put(buf, &len, f->pub.name) && put(buf, &len, "(") && put(buf, &len, arg[0]) &&
                 (n->b < 0 || (put(buf, &len, ", ") && put(buf, &len, arg[1]))) && put(buf, &len, ")");
        } else if (ok && n->b < 0) { /* unary minus */
            ok = put(buf, &len, "-") && put_operand(buf, &len, arg[0], aprec[0] <= P_NEG);
        } else if (ok) {
            const int p = prec[i];
            const char op = f->pub.name[0];
            /* ^ groups to the right, - and / to the left: the parentheses
             * that keep the tree's grouping */
            bool wrap_left = aprec[0] < p || (p == P_POWER && aprec[0] <= P_POWER);
            bool wrap_right = aprec[1] < p || (aprec[1] == p && (op == '-' || op == '/')) ||
                              (p == P_POWER && aprec[1] < P_ATOM && aprec[1] != P_POWER);
            const char *sep = p == P_SUM ? (op == '+' ? " + " : " - ") : op == '*' ? "*" : op == '/' ? "/"
                            : op == '@' ? " @ " : "^";
            ok = put_operand(buf, &len, arg[0], wrap_left) && put(buf, &len, sep) &&
                 put_operand(buf, &len, arg[1], wrap_right);
        }
        if (!ok) buf[0] = '\0';
    }
    free(prec);
    return text;
}
