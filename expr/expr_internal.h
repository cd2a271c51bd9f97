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

/* ------------------------------------------------------------------ ops */

typedef enum ex_op {
    EX_NUM, EX_INPUT,
    EX_NEG, EX_ADD, EX_SUB, EX_MUL, EX_DIV, EX_POW,
    EX_EXP, EX_LOG, EX_SQRT, EX_ABS, EX_SIN, EX_COS, EX_TAN, EX_TANH,
    EX_SIGMOID, EX_RELU, EX_SOFTPLUS, EX_GELU,
    EX_MAX, EX_MIN,
    EX_OP_COUNT
} ex_op;

typedef struct ex_op_info {
    const char *name; /* as the user writes it: "+", "log", "max" */
    int arity;
} ex_op_info;

extern const ex_op_info ex_ops[EX_OP_COUNT];

/* The op a function name calls (pow → EX_POW), or -1. */
int ex_function(const char *name, size_t len);

/* -------------------------------------------------------- syntax tree */

typedef struct ex_node {
    uint8_t op;       /* ex_op */
    bool dep;         /* depends on an input */
    int32_t a, b;     /* operand node indices (-1 when unused); EX_INPUT: a = input */
    double num;       /* EX_NUM */
    const char *name; /* the binding name when a statement made this node */
    uint32_t line, column;
} ex_node;

/* A name the program binds or reads as an input. */
typedef struct ex_sym {
    UT_hash_handle hh;
    int32_t node;  /* node the name refers to now (while parsing), -1 none */
    int32_t input; /* input index when the name is (also) an input, else -1 */
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
};

#endif
