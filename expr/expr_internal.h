/* Internals of the expression language (expr.h): tokens, the flat syntax
 * tree and the symbol table. Not installed.
 *
 * The syntax tree is one array of nodes in postfix order: a node's operands
 * always come before it, so building the graph is a single forward loop (no
 * recursion), just like the tape itself. A use of a bound name is not a node:
 * the parser resolves it to the index of the bound node, so a value used
 * several times is one node with several consumers (fan-out). */
#ifndef TAPEGRAD_EXPR_INTERNAL_H
#define TAPEGRAD_EXPR_INTERNAL_H

#include <tapegrad/expr.h>

#include <stdint.h>
#include <string.h>
#include <uthash.h>

/* ---------------------------------------------------------------- tokens */

typedef enum ex_tok_kind {
    TK_END,    /* end of the program */
    TK_SEP,    /* ';' */
    TK_NEWLINE,
    TK_NUM,
    TK_NAME,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_CARET,
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_ASSIGN,
    TK_LBRACKET, /* '[': a tensor literal, or indexing after an operand */
    TK_RBRACKET,
    TK_AT,       /* '@': matrix product */
    TK_QUOTE,    /* postfix ': transpose */
} ex_tok_kind;

typedef struct ex_token {
    ex_tok_kind kind;
    size_t pos, len;       /* bytes in the source */
    uint32_t line, column; /* 1-based; tokens are ASCII, so bytes = columns */
    double num;            /* TK_NUM */
} ex_token;

typedef struct ex_lexer {
    const char *src;
    size_t len, pos;
    uint32_t line;     /* line of pos, 1-based */
    size_t line_start; /* byte offset where that line starts */
} ex_lexer;

/* Reads the next token. Returns false with *err filled (at the offending
 * byte) on a character that starts no token or a malformed number. */
bool ex_lex_next(ex_lexer *lx, ex_token *tok, ag_expr_error *err);

/* Fills err with a message (printf-style) at byte offset pos of src, with
 * line, column and the line's text; `expected` may be NULL. */
void ex_error_at(ag_expr_error *err, const char *src, size_t len, size_t pos,
                 const char *expected, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Fills err with a message that has no position. */
void ex_error(ag_expr_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------- operators, functions */

/* One operator or function of the language (expr_functions.c): its public
 * description and how it is called. Exactly one engine call is set; a
 * general call takes a variable number of arguments. */
typedef struct ex_fn {
    ag_expr_function pub;
    int min_args, max_args;
    ag_tensor *(*unary)(ag_tape *t, ag_tensor *x);
    ag_tensor *(*binary)(ag_tape *t, ag_tensor *a, ag_tensor *b);
    /* cst[i]: args[i] depends on no input (an axis must be such a constant) */
    ag_tensor *(*call)(ag_tape *t, ag_tensor *const *args, int nargs, const bool *cst);
    /* used instead of binary when the second argument does not depend on
     * an input (a ^ 2: ag_pow_c, right for negative bases) */
    ag_tensor *(*binary_const)(ag_tape *t, ag_tensor *a, double b);
} ex_fn;

extern const ex_fn ex_fns[];
extern const int ex_nfns;

/* The row of the operator (is_operator) or function `name` (len bytes)
 * taking nargs arguments (any count when nargs < 0), or -1. */
int ex_fn_find(const char *name, size_t len, bool is_operator, int nargs);

/* The fewest and most arguments any row of function `name` takes (-1, -1
 * for none). */
void ex_fn_arg_range(const char *name, int *min_args, int *max_args);

/* The functions, "exp log ... pow(a, b) ...", for error messages. */
void ex_fn_list(char *buf, size_t size);

/* Records f on args; cst[i]: argument i depends on no input. */
ag_tensor *ex_fn_call(const ex_fn *f, ag_tape *t, ag_tensor *const *args, int nargs, const bool *cst);

/* "(2, 3)", "()" for a 0-d tensor: a shape for messages. */
void ex_shape_text(char *buf, size_t size, const ag_tensor *x);

/* -------------------------------------------------------- syntax tree */

/* What a node is: a number, an input, a call of ex_fns[fn], a tensor
 * literal (a = its row of ag_expr.lits), or constant indexing of node a
 * (nidx indices in idx). */
typedef enum ex_kind { EX_NUM, EX_INPUT, EX_CALL, EX_LIT, EX_INDEX } ex_kind;

/* A tensor literal's shape and where its values sit in ag_expr.litdata. */
typedef struct ex_lit {
    size_t off;
    int ndim;
    int64_t dims[2];
} ex_lit;

typedef struct ex_node {
    uint8_t kind;     /* ex_kind */
    bool dep;         /* depends on an input */
    uint16_t fn;      /* EX_CALL: the row of ex_fns */
    int32_t a, b;     /* operand node indices (-1 when unused); EX_INPUT: a = input */
    double num;       /* EX_NUM */
    int32_t idx[2];   /* EX_INDEX: the constant indices */
    uint8_t nidx;
    const char *name; /* the binding name when a statement made this node */
    uint32_t line, column;
} ex_node;

/* A name the program binds or reads as an input. */
typedef struct ex_sym {
    UT_hash_handle hh;
    int32_t node;  /* node the name refers to now (while parsing), -1 none */
    int32_t input; /* input index when the name is (also) an input, else -1 */
    int32_t binding; /* index among the bound names (ag_expr_binding_name), else -1 */
    char name[];   /* NUL-terminated key */
} ex_sym;

struct ag_expr {
    ex_node *nodes;
    size_t nnodes, cap_nodes;
    size_t nstatements;
    int32_t output; /* node index of the program's output */
    ex_sym *syms;   /* uthash table by name */
    ex_sym **inputs; /* in order of first appearance */
    int ninputs;
    size_t cap_inputs;
    ex_sym **bound;  /* names some statement binds, in order of first binding */
    int nbound;
    size_t cap_bound;
    ex_lit *lits;       /* tensor literals */
    size_t nlits, cap_lits;
    double *litdata;
    size_t nlitdata, cap_litdata;
    char (*notes)[160]; /* ag_expr_note: remarks on a valid program */
    int nnotes;
    size_t cap_notes;
};

/* The longest source text a node is named by (expr_text.c), NUL included. */
#define EX_TEXT_MAX 48

/* Each node's source text rebuilt from the node array, "" where it would be
 * longer than EX_TEXT_MAX - 1; malloc'd (free it), NULL when out of memory. */
char (*ex_node_texts(const ag_expr *e))[EX_TEXT_MAX];

#endif
