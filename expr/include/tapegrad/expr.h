/* tapegrad — a small expression language that builds graphs on a tape.
 *
 * A program is a list of statements separated by ';' or newlines (newlines
 * inside parentheses are ignored; '#' starts a comment to the end of the
 * line). Every statement but the last binds a name, `name = expr`; the last
 * one is an expression, the program's output (a scalar). Rebinding is
 * allowed: a use of a name sees the newest binding made by an EARLIER
 * statement, so `x = x + 1` reads the old x. A name used where no binding
 * is visible is an input (a free name); inputs are listed in order of first
 * appearance.
 *
 * Expressions, loosest binding first:
 *   a + b, a - b          left-associative
 *   a * b, a / b          left-associative
 *   -a, +a                prefix
 *   a ^ b                 right-associative, tighter than prefix minus:
 *                         -x^2 = -(x^2), 2^3^2 = 2^9, 2^-1 = 0.5
 *   A @ B                 matrix product (NumPy matmul for 1-D and 2-D), as
 *                         tight as * and /
 *   x[i], W[i, j], W[i][j], W'   indexing by integer constants (negative
 *                         counts from the end) and transpose, postfix,
 *                         tighter than anything
 *   tensor literals [1, 2, 3] and [[1, 2], [3, 4]] (numbers only; rows of
 *   different lengths are an error),
 *   numbers (12, 1.5, .5, 3e-4; 1e999 is inf), names, (expr), function
 *   calls such as exp(x) and pow(a, b) (the functions are the entries of
 *   ag_expr_function_at, below; `tapegrad --help` lists them), and the
 *   constants pi and e.
 * Function names cannot be rebound. A binding may shadow the constants pi
 * and e: from the statement after it on, the name is the binding (micrograd's
 * programs use `e` as a name); ag_expr_note reports it.
 *
 * Tensors: the elementwise operators and functions broadcast as NumPy does;
 * sum, mean, logsumexp, amax take an optional axis (all elements without
 * one), softmax and log_softmax too (the last axis without one); max(x) is
 * the largest element, max(a, b) stays elementwise. transpose(W) = W' takes
 * a matrix only (a vector has no transpose: write a column [[1], [2]]).
 * Shape errors name the op and the shapes.
 *
 * Ops used: a ^ b and pow(a, b) are ag_pow_c(a, b) when b does not depend on
 * an input (so (-2)^2 = 4 and its derivative in a is right for negative a),
 * else ag_pow; max/min are ag_maximum/ag_minimum (a tie splits the gradient).
 *
 * Nothing in the parser or the graph builder recurses: programs of any
 * nesting depth or length give a result or an error, bounded by memory
 * linear in the program's size. Installed as <tapegrad/expr.h>. */
#ifndef TAPEGRAD_EXPR_H
#define TAPEGRAD_EXPR_H

#include <tapegrad/autograd.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_expr ag_expr;

/* Why parsing (or binding values, or building) failed. line and column are
 * 1-based (columns count UTF-8 characters); both are 0 when the error has no
 * position in the program. */
typedef struct ag_expr_error {
    char message[256];  /* "unknown function 'foo'" */
    char expected[160]; /* what would have been accepted there, or "" */
    int line, column;
    char line_text[128]; /* the program's line (a window of it when long);
                            tabs and control characters shown as spaces */
    int caret;           /* 0-based column of the error within line_text */
} ag_expr_error;

/* Parses a NUL-terminated program. Returns NULL on error, filling *err
 * (which may be NULL) — never aborts on bad input. */
ag_expr *ag_expr_parse(const char *src, ag_expr_error *err);

/* Same for a program of `len` bytes, which need not be NUL-terminated (a NUL
 * byte inside it is an error). */
ag_expr *ag_expr_parse_n(const char *src, size_t len, ag_expr_error *err);

void ag_expr_free(ag_expr *e); /* NULL is a no-op */

/* The inputs (free names), in order of first appearance. */
int ag_expr_num_inputs(const ag_expr *e);
const char *ag_expr_input_name(const ag_expr *e, int i); /* NULL out of range */
int ag_expr_input_index(const ag_expr *e, const char *name); /* -1 if none */

/* The names some statement binds (intermediates such as `a` in
 * `a = x^2; exp(a)`), in order of first binding; a name rebound several
 * times is listed once and means its last binding. A name can be both an
 * input and bound (`x = x + 1`). Index -1 / NULL when there is none. */
int ag_expr_num_bindings(const ag_expr *e);
const char *ag_expr_binding_name(const ag_expr *e, int i);
int ag_expr_binding_index(const ag_expr *e, const char *name);

/* Remarks on a valid program, for the user to see (a binding that shadows
 * a constant): how many, and note i ("'e' is bound at line 2, ..."), NULL
 * out of range. */
int ag_expr_num_notes(const ag_expr *e);
const char *ag_expr_note(const ag_expr *e, int i);

/* Statements and syntax-tree nodes the program holds (sizes, for callers
 * that want to budget work, e.g. skip second order on huge programs). */
size_t ag_expr_num_statements(const ag_expr *e);
size_t ag_expr_num_nodes(const ag_expr *e);

/* Fills values[0 .. num_inputs-1] from n (name, value) pairs. Fails (-1,
 * *err filled, line/column 0) when a name is not an input of the program, or
 * an input has no value, or a name is given twice. Returns 0 on success. */
int ag_expr_bind_values(const ag_expr *e, int n, const char *const *names,
                        const double *given, double *values, ag_expr_error *err);

/* Where the first value that is NaN or infinite was made, in evaluation
 * (tape) order: the engine's anomaly mode (ag_tape_set_anomaly) finds it
 * while the graph is built, and a constant is checked as it is made. */
typedef struct ag_expr_nonfinite {
    bool found;
    const char *op;   /* in the language's words: "log", "/", "^", "number", ... */
    const char *name; /* the name the statement binds, or NULL (output or inner node) */
    int line, column; /* of the operator or function name in the program */
    double value;
} ag_expr_nonfinite;

/* The shape of a tensor input: ndim 0 (a scalar), 1 (dims[0]) or 2. */
typedef struct ag_expr_shape {
    int ndim;
    int64_t dims[2];
} ag_expr_shape;

typedef struct ag_expr_build_opts {
    /* Inputs become constants (no gradient): for evaluating only. When
     * false, each input is a leaf with ag_requires_grad, returned in
     * `inputs`. */
    bool constant_inputs;
    /* Do not name bound nodes. By default the node a statement makes gets
     * the statement's name (ag_set_name), so traces and graph pictures show
     * it; a name costs tape memory, which matters for huge programs. */
    bool no_names;
    /* When not NULL, receives (ag_expr_num_bindings entries) the node each
     * bound name refers to at the end of the program, so a caller can read
     * intermediates or differentiate with respect to them. */
    ag_tensor **bindings;
    /* When not NULL, input i has shape shapes[i] and `values` holds every
     * input's elements, row-major, one input after the other. When NULL
     * every input is a scalar, values[i]. */
    const ag_expr_shape *shapes;
} ag_expr_build_opts;

/* Records the program on tape t with input values values[0 .. num_inputs-1]
 * and returns the output (f64; a scalar unless tensors are used). Unless opts->constant_inputs, inputs
 * (an array of num_inputs entries, may be NULL only when there are none or
 * inputs are constant) receives the input leaves. opts, nonfinite and err may
 * be NULL. On failure (a tape error, e.g. the memory cap) returns NULL and
 * *err holds the tape's message. */
ag_tensor *ag_expr_build(ag_tape *t, const ag_expr *e, const double *values,
                         const ag_expr_build_opts *opts, ag_tensor **inputs,
                         ag_expr_nonfinite *nonfinite, ag_expr_error *err);

/* The language's operators and functions, as `tapegrad --help` lists them;
 * the parser and the graph builder read the same table. */
typedef struct ag_expr_function {
    const char *name;       /* "exp", "pow", "+" */
    const char *signature;  /* "exp(x)", "pow(a, b)", "a + b" */
    const char *derivative; /* "d exp(x)/dx = exp(x)" */
    bool is_operator;
    bool tensor; /* about tensors: the signature is no scalar program */
} ag_expr_function;

/* Entry i, counting from 0, or NULL past the last. */
const ag_expr_function *ag_expr_function_at(int i);

/* Prints the error: "PREFIX: MESSAGE (line L, column C)", the program line
 * with a caret under the column, and what was expected. */
void ag_expr_error_print(FILE *out, const char *prefix, const ag_expr_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_EXPR_H */
