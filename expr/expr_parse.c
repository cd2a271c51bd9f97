/* The expression language's parser: statements, then each expression by
 * operator precedence with two explicit stacks (operators and operands),
 * Dijkstra's shunting-yard. Nothing recurses, so the nesting depth of a
 * program only costs heap memory, never C stack. */
#include "expr_internal.h"

#include <math.h>
#include <stdlib.h>

/* pi and e: the value, or 0 with *found false. */
static double constant(const char *name, size_t len, bool *found) {
    *found = true;
    if (len == 2 && memcmp(name, "pi", 2) == 0) return 3.14159265358979323846;
    if (len == 1 && name[0] == 'e') return 2.71828182845904523536;
    *found = false;
    return 0;
}

/* ---------------------------------------------------------------- state */

/* An entry of the operator stack. */
typedef enum { OS_BINARY, OS_NEG, OS_PAREN, OS_CALL } os_kind;

typedef struct op_entry {
    uint8_t kind;  /* os_kind */
    uint8_t prec;  /* binding strength, OS_BINARY and OS_NEG */
    uint16_t fn;   /* the row of ex_fns; OS_CALL: the name's first row */
    int argc;      /* OS_CALL: arguments finished so far */
    uint32_t line, column;
} op_entry;

typedef struct parser {
    ag_expr *e;
    const char *src;
    size_t len;
    ex_lexer lx;
    ex_token tok; /* the current token */
    ag_expr_error *err;
    op_entry *ops;
    size_t nops, cap_ops;
    int32_t *out; /* operand stack: node indices */
    size_t nout, cap_out;
    int depth;    /* open parentheses and calls */
} parser;

enum { PREC_ADD = 1, PREC_MUL = 2, PREC_NEG = 3, PREC_POW = 4 };

static const char EXPECT_OPERAND[] =
    "a number, a name, '(', '-', a tensor literal [1, 2] or a function call such as exp(x)";
static const char EXPECT_OPERATOR[] =
    "an operator (+ - * / ^ @), x[i], x', ')', ',' or the end of the statement (';' or a new line)";

/* Grows *p (of *cap elements of `size` bytes) to hold at least need. */
static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size) return false;
        n *= 2;
    }
    void *q = realloc(*p, n * size);
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

static bool fail_tok(parser *p, const ex_token *tk, const char *expected, const char *msg) {
    ex_error_at(p->err, p->src, p->len, tk->pos, expected, "%s", msg);
    return false;
}

static bool oom(parser *p) {
    ex_error(p->err, "out of memory while parsing");
    return false;
}

static bool advance(parser *p) { return ex_lex_next(&p->lx, &p->tok, p->err); }

/* The kind of the token after the current one, without consuming it
 * (TK_END if it does not lex: the error comes back when it is read). */
static ex_tok_kind peek(parser *p) {
    ex_lexer save = p->lx;
    ex_token t;
    ag_expr_error scratch;
    ex_tok_kind k = ex_lex_next(&p->lx, &t, &scratch) ? t.kind : TK_END;
    p->lx = save;
    return k;
}

/* ---------------------------------------------------------------- nodes */

static int32_t new_node(parser *p, ex_kind kind, int fn, int32_t a, int32_t b, uint32_t line,
                        uint32_t column) {
    ag_expr *e = p->e;
    if (e->nnodes >= INT32_MAX) {
        ex_error(p->err, "the program is too large (more than %d nodes)", INT32_MAX);
        return -1;
    }
    if (!grow((void **)&e->nodes, &e->cap_nodes, e->nnodes + 1, sizeof *e->nodes)) {
        oom(p);
        return -1;
    }
    ex_node *n = &e->nodes[e->nnodes];
    n->kind = (uint8_t)kind;
    n->fn = (uint16_t)(fn < 0 ? 0 : fn);
    n->a = a;
    n->b = b;
    n->num = 0;
    n->nidx = 0;
    n->idx[0] = n->idx[1] = 0;
    n->name = NULL;
    n->line = line;
    n->column = column;
    n->dep = kind == EX_INPUT || (kind == EX_CALL && (e->nodes[a].dep || (b >= 0 && e->nodes[b].dep)));
    return (int32_t)e->nnodes++;
}

static bool push_out(parser *p, int32_t node) {
    if (node < 0) return false;
    if (!grow((void **)&p->out, &p->cap_out, p->nout + 1, sizeof *p->out)) return oom(p);
    p->out[p->nout++] = node;
    return true;
}

static bool push_op(parser *p, os_kind kind, int fn, int prec, const ex_token *tk) {
    if (!grow((void **)&p->ops, &p->cap_ops, p->nops + 1, sizeof *p->ops)) return oom(p);
    p->ops[p->nops++] = (op_entry){(uint8_t)kind, (uint8_t)prec, (uint16_t)fn, 0, tk->line, tk->column};
    return true;
}

/* The row of the operator a token stands for, with nargs operands. */
static int operator_fn(ex_tok_kind kind, int nargs) {
    const char *name = kind == TK_PLUS ? "+" : kind == TK_MINUS ? "-" : kind == TK_STAR ? "*"
                     : kind == TK_SLASH ? "/" : kind == TK_AT ? "@" : "^";
    return ex_fn_find(name, 1, true, nargs);
}

/* Makes the node of ex_fns[fn] from the nargs operands on top of the
 * operand stack. */
static bool emit(parser *p, int fn, int nargs, uint32_t line, uint32_t column) {
    if (fn < 0 || nargs < 1 || nargs > 2 || p->nout < (size_t)nargs) { /* the state machine and the table make this impossible */
        ex_error(p->err, "internal parser error: '%s' with %d operands", fn < 0 ? "?" : ex_fns[fn].pub.name,
                 nargs);
        return false;
    }
    int32_t b = nargs == 2 ? p->out[--p->nout] : -1;
    int32_t a = p->out[--p->nout];
    return push_out(p, new_node(p, EX_CALL, fn, a, b, line, column));
}

/* Emits an operator of the operator stack (binary or prefix). */
static bool emit_operator(parser *p, const op_entry *o) {
    return emit(p, o->fn, o->kind == OS_NEG ? 1 : 2, o->line, o->column);
}

/* Pops and emits operators that bind at least as tightly as an incoming
 * binary operator of precedence prec (strictly tighter for right-assoc ^). */
static bool reduce_for(parser *p, int prec, bool right_assoc) {
    while (p->nops > 0) {
        op_entry *top = &p->ops[p->nops - 1];
        if (top->kind == OS_PAREN || top->kind == OS_CALL) break;
        if (top->prec < prec || (top->prec == prec && right_assoc)) break;
        op_entry o = *top;
        p->nops--;
        if (!emit_operator(p, &o)) return false;
    }
    return true;
}

/* ------------------------------------------------------------- operands */

static ex_sym *find_sym(const ag_expr *e, const char *name, size_t len) {
    ex_sym *s = NULL;
    HASH_FIND(hh, e->syms, name, len, s);
    return s;
}

static ex_sym *add_sym(parser *p, const char *name, size_t len) {
    ex_sym *s = malloc(sizeof *s + len + 1);
    if (!s) {
        oom(p);
        return NULL;
    }
    memcpy(s->name, name, len);
    s->name[len] = '\0';
    s->node = -1;
    s->input = -1;
    s->binding = -1;
    HASH_ADD_KEYPTR(hh, p->e->syms, s->name, len, s);
    return s;
}

/* A name in operand position: a call, a constant, a bound name or an input. */
static bool operand_name(parser *p, bool *want_operand) {
    const ex_token tk = p->tok;
    const char *name = p->src + tk.pos;
    const int nlen = tk.len > 64 ? 64 : (int)tk.len; /* for messages */
    char msg[160];
    int fn = ex_fn_find(name, tk.len, false, -1);
    ex_tok_kind next = peek(p);
    if (fn >= 0) {
        if (next != TK_LPAREN) {
            snprintf(msg, sizeof msg, "'%.*s' is a function: expected '(' after it", nlen, name);
            return fail_tok(p, &tk, "'(' and the argument", msg);
        }
        if (!advance(p)) return false; /* now at '(' */
        if (!push_op(p, OS_CALL, fn, 0, &tk)) return false;
        p->depth++;
        return true; /* still wants an operand: the first argument */
    }
    bool is_const;
    double c = constant(name, tk.len, &is_const);
    ex_sym *s = find_sym(p->e, name, tk.len);
    if (is_const && s && s->node >= 0) is_const = false; /* a binding shadows pi or e */
    if (is_const) s = NULL;
    if (next == TK_LPAREN && !is_const && !(s && s->node >= 0)) {
        char functions[160];
        ex_fn_list(functions, sizeof functions);
        snprintf(msg, sizeof msg, "unknown function '%.*s'", nlen, name);
        return fail_tok(p, &tk, functions, msg);
    }
    *want_operand = false;
    if (is_const) {
        int32_t n = new_node(p, EX_NUM, -1, -1, -1, tk.line, tk.column);
        if (n >= 0) p->e->nodes[n].num = c;
        return push_out(p, n);
    }
    if (!s && !(s = add_sym(p, name, tk.len))) return false;
    if (s->node < 0) { /* free here: an input, made on first use */
        ag_expr *e = p->e;
        if (s->input < 0) {
            if (e->ninputs >= INT32_MAX - 1 ||
                !grow((void **)&e->inputs, &e->cap_inputs, (size_t)e->ninputs + 1, sizeof *e->inputs))
                return oom(p);
            s->input = e->ninputs;
            e->inputs[e->ninputs++] = s;
        }
        int32_t n = new_node(p, EX_INPUT, -1, s->input, -1, tk.line, tk.column);
        if (n < 0) return false;
        s->node = n;
    }
    return push_out(p, s->node);
}

/* -------------------------------------------------------- punctuation */

/* The note that a binding shadows the constant pi or e (once, at the first
 * binding of the name). */
static bool add_note(parser *p, const ex_token *at, int nlen, const char *name) {
    ag_expr *e = p->e;
    if (!grow((void **)&e->notes, &e->cap_notes, (size_t)e->nnotes + 1, sizeof *e->notes)) return oom(p);
    snprintf(e->notes[e->nnotes++], sizeof *e->notes,
             "'%.*s' is bound at line %u, column %u: from there on it names that binding, not the "
             "constant %.*s", nlen, name, (unsigned)at->line, (unsigned)at->column, nlen, name);
    return true;
}

/* Pops operators down to the innermost '(' or call; false if there is none. */
static bool reduce_to_marker(parser *p, bool *found) {
    *found = false;
    while (p->nops > 0) {
        op_entry *top = &p->ops[p->nops - 1];
        if (top->kind == OS_PAREN || top->kind == OS_CALL) {
            *found = true;
            return true;
        }
        op_entry o = *top;
        p->nops--;
        if (!emit_operator(p, &o)) return false;
    }
    return true;
}

/* "takes 2 arguments", "takes 1 or 2 arguments" for function `name`. */
static void takes(char *buf, size_t size, const char *name) {
    int lo, hi;
    ex_fn_arg_range(name, &lo, &hi);
    if (lo == hi) snprintf(buf, size, "'%s' takes %d argument%s", name, lo, lo == 1 ? "" : "s");
    else snprintf(buf, size, "'%s' takes %d %s %d arguments", name, lo, hi == lo + 1 ? "or" : "to", hi);
}

static bool close_paren(parser *p) {
    bool found;
    if (!reduce_to_marker(p, &found)) return false;
    if (!found) return fail_tok(p, &p->tok, EXPECT_OPERATOR, "unmatched ')'");
    op_entry m = p->ops[--p->nops];
    p->depth--;
    if (m.kind == OS_PAREN) return true;
    const char *name = ex_fns[m.fn].pub.name;
    const int got = m.argc + 1, fn = ex_fn_find(name, strlen(name), false, got);
    if (fn < 0) {
        char msg[128], t[80];
        takes(t, sizeof t, name);
        snprintf(msg, sizeof msg, "%s, got %d", t, got);
        return fail_tok(p, &p->tok, "',' and another argument", msg);
    }
    return emit(p, fn, got, m.line, m.column);
}

static bool comma(parser *p) {
    bool found;
    if (!reduce_to_marker(p, &found)) return false;
    if (!found || p->ops[p->nops - 1].kind != OS_CALL)
        return fail_tok(p, &p->tok, EXPECT_OPERATOR, "',' outside a function's arguments");
    op_entry *m = &p->ops[p->nops - 1];
    int lo, hi;
    ex_fn_arg_range(ex_fns[m->fn].pub.name, &lo, &hi);
    if (m->argc + 1 >= hi) {
        char msg[96];
        takes(msg, sizeof msg, ex_fns[m->fn].pub.name);
        return fail_tok(p, &p->tok, "')'", msg);
    }
    m->argc++;
    return true;
}

/* ------------------------------------------------- literals and indexing */

/* Skips new lines (a literal may span lines). */
static bool skip_newlines(parser *p) {
    while (p->tok.kind == TK_NEWLINE)
        if (!advance(p)) return false;
    return true;
}

/* A signed number at the current token (left on it). */
static bool literal_number(parser *p, double *v, const char *what) {
    double sign = 1;
    if (p->tok.kind == TK_MINUS || p->tok.kind == TK_PLUS) {
        sign = p->tok.kind == TK_MINUS ? -1 : 1;
        if (!advance(p)) return false;
    }
    if (p->tok.kind != TK_NUM) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s holds numbers only", what);
        return fail_tok(p, &p->tok, "a number such as 1, -0.5 or 3e-4", msg);
    }
    *v = sign * p->tok.num;
    return true;
}

static bool push_litdata(parser *p, double v) {
    ag_expr *e = p->e;
    if (!grow((void **)&e->litdata, &e->cap_litdata, e->nlitdata + 1, sizeof *e->litdata)) return oom(p);
    e->litdata[e->nlitdata++] = v;
    return true;
}

/* One row "[1, 2, 3]" from its '[' (the current token) to its ']' (left
 * current); *count receives the number of elements. */
static bool literal_row(parser *p, int64_t *count) {
    *count = 0;
    for (;;) {
        if (!advance(p) || !skip_newlines(p)) return false;
        if (p->tok.kind == TK_LBRACKET)
            return fail_tok(p, &p->tok, "a number", "a tensor literal has at most 2 dimensions");
        if (p->tok.kind == TK_RBRACKET && *count == 0)
            return fail_tok(p, &p->tok, "a number", "an empty tensor literal '[]'");
        double v;
        if (!literal_number(p, &v, "a tensor literal") || !push_litdata(p, v)) return false;
        ++*count;
        if (!advance(p) || !skip_newlines(p)) return false;
        if (p->tok.kind == TK_RBRACKET) return true;
        if (p->tok.kind != TK_COMMA) return fail_tok(p, &p->tok, "',' or ']'", "expected ',' or ']' in the tensor literal");
    }
}

/* A tensor literal, [1, 2] or [[1, 2], [3, 4]], at its '['; leaves the
 * last ']' current. Rows of different lengths are an error at the row. */
static bool literal(parser *p) {
    ag_expr *e = p->e;
    const ex_token open = p->tok;
    ex_lit lit = {.off = e->nlitdata};
    ex_lexer save = p->lx;
    ex_token save_tok = p->tok;
    if (!advance(p) || !skip_newlines(p)) return false;
    if (p->tok.kind != TK_LBRACKET) { /* a vector: read it again as one row */
        p->lx = save;
        p->tok = save_tok;
        lit.ndim = 1;
        if (!literal_row(p, &lit.dims[0])) return false;
    } else {
        lit.ndim = 2;
        for (;;) {
            const ex_token row = p->tok;
            int64_t cols;
            if (!literal_row(p, &cols)) return false;
            if (lit.dims[0] > 0 && cols != lit.dims[1]) {
                char msg[160];
                snprintf(msg, sizeof msg, "ragged tensor literal: row %lld has %lld element%s, row 1 has %lld",
                         (long long)lit.dims[0] + 1, (long long)cols, cols == 1 ? "" : "s", (long long)lit.dims[1]);
                return fail_tok(p, &row, "rows of one length", msg);
            }
            lit.dims[1] = cols;
            lit.dims[0]++;
            if (!advance(p) || !skip_newlines(p)) return false;
            if (p->tok.kind == TK_RBRACKET) break;
            if (p->tok.kind != TK_COMMA)
                return fail_tok(p, &p->tok, "',' or ']'", "expected ',' or ']' between the rows of the tensor literal");
            if (!advance(p) || !skip_newlines(p)) return false;
            if (p->tok.kind != TK_LBRACKET) {
                const char *msg = p->tok.kind == TK_NUM || p->tok.kind == TK_MINUS
                    ? "ragged tensor literal: a number among rows" : "expected a row '[' in the tensor literal";
                return fail_tok(p, &p->tok, "a row such as [1, 2]", msg);
            }
        }
    }
    if (!grow((void **)&e->lits, &e->cap_lits, e->nlits + 1, sizeof *e->lits) || e->nlits >= INT32_MAX)
        return oom(p);
    e->lits[e->nlits] = lit;
    int32_t n = new_node(p, EX_LIT, -1, (int32_t)e->nlits++, -1, open.line, open.column);
    return push_out(p, n);
}

/* Indexing of the operand on top by constants, x[0] or W[1, 0], at its
 * '['; leaves the ']' current. */
static bool index_op(parser *p) {
    const ex_token open = p->tok;
    int32_t idx[2] = {0, 0};
    int nidx = 0;
    for (;;) {
        if (!advance(p) || !skip_newlines(p)) return false;
        double v;
        if (!literal_number(p, &v, "an index")) return false;
        /* Range first: casting an out-of-range double to int is undefined. */
        if (!(v >= -1e9 && v <= 1e9) || v != floor(v))
            return fail_tok(p, &p->tok, "an integer", "an index must be an integer");
        if (nidx == 2) return fail_tok(p, &p->tok, "']'", "at most 2 indices, W[i, j]");
        idx[nidx++] = (int32_t)v;
        if (!advance(p) || !skip_newlines(p)) return false;
        if (p->tok.kind == TK_RBRACKET) break;
        if (p->tok.kind != TK_COMMA) return fail_tok(p, &p->tok, "',' or ']'", "expected ',' or ']' after the index");
    }
    int32_t a = p->out[--p->nout];
    int32_t n = new_node(p, EX_INDEX, -1, a, -1, open.line, open.column);
    if (n < 0) return false;
    ex_node *nd = &p->e->nodes[n];
    nd->dep = p->e->nodes[a].dep;
    nd->nidx = (uint8_t)nidx;
    nd->idx[0] = idx[0];
    nd->idx[1] = idx[1];
    return push_out(p, n);
}

/* ---------------------------------------------------------- expressions */

/* Parses one expression starting at the current token; stops at ';', a new
 * line outside parentheses, or the end (left as the current token). */
static bool parse_expr(parser *p, int32_t *root) {
    bool want_operand = true;
    p->nops = p->nout = 0;
    p->depth = 0;
    for (;;) {
        const ex_token *tk = &p->tok;
        if (tk->kind == TK_NEWLINE && p->depth > 0) { /* lines continue inside (...) */
            if (!advance(p)) return false;
            continue;
        }
        if (want_operand) {
            switch (tk->kind) {
            case TK_NUM: {
                int32_t n = new_node(p, EX_NUM, -1, -1, -1, tk->line, tk->column);
                if (n >= 0) p->e->nodes[n].num = tk->num;
                if (!push_out(p, n)) return false;
                want_operand = false;
                break;
            }
            case TK_NAME:
                if (!operand_name(p, &want_operand)) return false;
                break;
            case TK_LPAREN:
                if (!push_op(p, OS_PAREN, 0, 0, tk)) return false;
                p->depth++;
                break;
            case TK_MINUS:
                if (!push_op(p, OS_NEG, operator_fn(TK_MINUS, 1), PREC_NEG, tk)) return false;
                break;
            case TK_PLUS: /* unary plus changes nothing */
                break;
            case TK_LBRACKET:
                if (!literal(p)) return false;
                want_operand = false;
                break;
            case TK_END:
            case TK_SEP:
            case TK_NEWLINE:
                return fail_tok(p, tk, EXPECT_OPERAND, p->nops || p->nout
                                    ? "the expression is incomplete" : "expected an expression");
            default:
                return fail_tok(p, tk, EXPECT_OPERAND, "expected an operand");
            }
        } else {
            int prec = 0;
            switch (tk->kind) {
            case TK_PLUS:
            case TK_MINUS: prec = PREC_ADD; break;
            case TK_STAR:
            case TK_SLASH:
            case TK_AT: prec = PREC_MUL; break;
            case TK_LBRACKET: /* x[0]: binds tighter than anything */
                if (!index_op(p)) return false;
                break;
            case TK_QUOTE: /* W': transpose, as tight as indexing */
                if (!emit(p, ex_fn_find("transpose", 9, false, 1), 1, tk->line, tk->column)) return false;
                break;
            case TK_CARET: prec = PREC_POW; break;
            case TK_RPAREN:
                if (!close_paren(p)) return false;
                break;
            case TK_COMMA:
                if (!comma(p)) return false;
                want_operand = true;
                break;
            case TK_END:
            case TK_SEP:
            case TK_NEWLINE: {
                if (p->depth > 0) {
                    const op_entry *m = &p->ops[p->nops - 1];
                    for (size_t i = p->nops; i-- > 0;)
                        if (p->ops[i].kind == OS_PAREN || p->ops[i].kind == OS_CALL) {
                            m = &p->ops[i];
                            break;
                        }
                    char msg[128];
                    snprintf(msg, sizeof msg, "missing ')': the '(' at line %u, column %u is never closed",
                             m->line, m->column + (m->kind == OS_CALL ? (unsigned)strlen(ex_fns[m->fn].pub.name) : 0));
                    return fail_tok(p, tk, "')'", msg);
                }
                bool found;
                if (!reduce_to_marker(p, &found)) return false;
                if (p->nout != 1) {
                    ex_error(p->err, "internal parser error: %zu operands left", p->nout);
                    return false;
                }
                *root = p->out[0];
                return true;
            }
            case TK_ASSIGN:
                return fail_tok(p, tk, EXPECT_OPERATOR,
                                "'=' can only follow a name at the start of a statement");
            default:
                return fail_tok(p, tk, EXPECT_OPERATOR, "expected an operator");
            }
            if (prec) {
                if (!reduce_for(p, prec, tk->kind == TK_CARET)) return false;
                if (!push_op(p, OS_BINARY, operator_fn(tk->kind, 2), prec, tk)) return false;
                want_operand = true;
            }
        }
        if (!advance(p)) return false;
    }
}

/* ------------------------------------------------------------ statements */

static bool parse_program(parser *p) {
    ag_expr *e = p->e;
    bool have_output = false;      /* the last statement so far is an expression */
    ex_token last_expr_start = {0}, last_bind = {0};
    if (!advance(p)) return false;
    for (;;) {
        while (p->tok.kind == TK_SEP || p->tok.kind == TK_NEWLINE)
            if (!advance(p)) return false;
        if (p->tok.kind == TK_END) break;
        if (have_output)
            return fail_tok(p, &last_expr_start, "a binding, name = expression",
                            "only the last statement can be a bare expression (the output)");
        const ex_token start = p->tok;
        ex_sym *bind = NULL;
        if (start.kind == TK_NAME && peek(p) == TK_ASSIGN) {
            const char *name = p->src + start.pos;
            const int nlen = start.len > 64 ? 64 : (int)start.len;
            bool is_const;
            constant(name, start.len, &is_const);
            if (ex_fn_find(name, start.len, false, -1) >= 0) {
                char msg[128];
                snprintf(msg, sizeof msg, "cannot bind '%.*s': it is a function", nlen, name);
                return fail_tok(p, &start, "another name", msg);
            }
            bind = find_sym(e, name, start.len);
            if (is_const && !(bind && bind->node >= 0) && !add_note(p, &start, nlen, name)) return false;
            if (!bind && !(bind = add_sym(p, name, start.len))) return false;
            if (!advance(p) || !advance(p)) return false; /* the name, '=' */
        }
        size_t first_node = e->nnodes;
        int32_t root;
        if (!parse_expr(p, &root)) return false;
        e->nstatements++;
        if (bind) {
            /* Name the node only if this statement made it: `y = x` must
             * not rename x. Visible from the next statement on. */
            if ((size_t)root >= first_node) e->nodes[root].name = bind->name;
            bind->node = root;
            if (bind->binding < 0) { /* first binding of the name: list it */
                if (!grow((void **)&e->bound, &e->cap_bound, (size_t)e->nbound + 1, sizeof *e->bound))
                    return oom(p);
                bind->binding = e->nbound;
                e->bound[e->nbound++] = bind;
            }
            have_output = false;
            last_bind = start;
        } else {
            e->output = root;
            have_output = true;
            last_expr_start = start;
        }
    }
    if (e->nstatements == 0)
        return fail_tok(p, &p->tok, EXPECT_OPERAND, "the program is empty");
    if (!have_output) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the program ends with a binding of '%.*s'; its last statement must be the output",
                 last_bind.len > 64 ? 64 : (int)last_bind.len, p->src + last_bind.pos);
        return fail_tok(p, &p->tok, "an expression after the last binding, e.g. its name", msg);
    }
    return true;
}

ag_expr *ag_expr_parse_n(const char *src, size_t len, ag_expr_error *err) {
    if (!src) {
        ex_error(err, "the program is NULL");
        return NULL;
    }
    ag_expr *e = calloc(1, sizeof *e);
    if (!e) {
        ex_error(err, "out of memory while parsing");
        return NULL;
    }
    e->output = -1;
    parser p = {.e = e, .src = src, .len = len, .err = err};
    p.lx = (ex_lexer){.src = src, .len = len, .pos = 0, .line = 1, .line_start = 0};
    bool ok = parse_program(&p);
    free(p.ops);
    free(p.out);
    if (!ok) {
        ag_expr_free(e);
        return NULL;
    }
    if (err) ex_error(err, "no error");
    return e;
}

ag_expr *ag_expr_parse(const char *src, ag_expr_error *err) {
    return ag_expr_parse_n(src, src ? strlen(src) : 0, err);
}

void ag_expr_free(ag_expr *e) {
    if (!e) return;
    ex_sym *s, *tmp;
    HASH_ITER(hh, e->syms, s, tmp) {
        HASH_DEL(e->syms, s);
        free(s);
    }
    free(e->notes);
    free(e->lits);
    free(e->litdata);
    free(e->bound);
    free(e->inputs);
    free(e->nodes);
    free(e);
}
