/* Shared by the trace (trace.c) and the DOT export (graph_dot.c): the set of
 * nodes an output depends on, with display ids and labels, and the text
 * formatting of values and of the op table's local_grad formulas. Not
 * installed. */
#ifndef TAPEGRAD_TRACE_INTERNAL_H
#define TAPEGRAD_TRACE_INTERNAL_H

#include "backward.h"
#include "error.h"
#include "op.h"
#include "record.h"
#include "tape.h"
#include <tapegrad/trace.h>

/* uthash must report a failed malloc instead of calling exit(). The flag is
 * per graph, reached through the `g` in scope at each HASH_ADD. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) (g->oom = true)
#include <uthash.h>

/* One gradient term a node received during a traced sweep: `from`'s
 * backward passed it through operand `slot` (0-based). Scalars keep the
 * value, tensors a short summary. */
typedef struct ag_trace_term {
    struct ag_trace_node *from;
    int slot;
    double v;
    char *text; /* tensors: malloc'd summary (NULL if none) */
    struct ag_trace_term *next;
} ag_trace_term;

/* A node the output depends on. */
typedef struct ag_trace_node {
    ag_tensor *n;
    int id;                 /* display number n1, n2, ... in display order */
    bool on_tape;           /* recorded on the tape's node list */
    bool ordered;           /* placed in the display order already */
    const char *label;      /* name, constant's value or "n<id>" */
    char buf[40];           /* storage for a made-up label */
    ag_trace_term *terms, *last; /* gradient terms received, in sweep order */
    int nterms;
    double before;          /* leaves: scalar gradient before the sweep */
    char *before_text;      /* leaves: tensor gradient before (NULL: all 0) */
    UT_hash_handle hh;
} ag_trace_node;

typedef struct ag_trace_graph {
    ag_trace_node *map;      /* by node pointer */
    ag_trace_node **order;   /* display order: tape order, each off-tape input
                             (parameter, no-grad constant) just before its
                             first use */
    size_t count;
    bool oom;
} ag_trace_graph;

/* Collects the nodes y depends on (one reverse walk over the tape), numbers
 * them and gives each a label. Returns AG_OK or AG_ERR_MEMORY; the caller
 * frees g with ag__trace_free either way. */
ag_status ag__trace_collect(ag_tape *t, ag_tensor *y, ag_trace_graph *g);
ag_trace_node *ag__trace_find(ag_trace_graph *g, const ag_tensor *n);
void ag__trace_free(ag_trace_graph *g);

/* What kind of node: "param", "input" (a tape leaf with a gradient),
 * "const" (a leaf without one, or a value computed in no-grad mode), or
 * the op's name. */
const char *ag__trace_kind(const ag_tensor *n);

/* True when the node is a leaf whose gradient accumulates. */
static inline bool ag__trace_is_leaf(const ag_tensor *n) {
    return (n->flags & (AG_F_LEAF | AG_F_PARAM)) && (n->flags & AG_F_REQUIRES_GRAD);
}

/* Whether op's formula uses the constant c (the _c ops): then c is the
 * node's attr.c, substituted into formulas and shown in the forward table. */
bool ag__trace_uses_c(const ag_tensor *n);

/* ------------------------------------------------- scalar statements */

/* Scalar statements as temporary nodes (trace_stmt.c). */
typedef struct ag_trace_mat {
    bool active;
    ag_tensor **map; /* statement index -> its node (or imported node) */
    bool *made;      /* the nodes made here */
    size_t count;
    ag_tape_mark mark;
} ag_trace_mat;

/* When *y is a scalar statement, rebuilds the statements it depends on as
 * nodes pushed on t (inputs first) and points *y at its node; otherwise
 * does nothing. The caller calls ag__trace_mat_end either way. */
ag_status ag__trace_mat_begin(ag_tape *t, ag_tensor **y, ag_trace_mat *m);

/* Drops the nodes again; with write_back, first gives each statement the
 * gradient its node holds (after a traced sweep). */
void ag__trace_mat_end(ag_tape *t, ag_trace_mat *m, bool write_back);

/* ------------------------------------------------------------ formatting */

typedef struct ag_trace_fmt {
    bool ascii;
    int digits;    /* significant digits */
    int max_elems; /* tensor elements shown */
} ag_trace_fmt;

/* A number with f->digits significant digits ("-0" printed as "0"). */
char *ag__trace_num(char *buf, size_t size, double v, const ag_trace_fmt *f);

/* A value: a scalar's number, or a tensor's "[2, 3] {1, 2, 3, 4, ...}"
 * from data of the given dtype. */
char *ag__trace_values(char *buf, size_t size, int dtype, int ndim, const int64_t *shape,
                    int64_t numel, const void *data, const ag_trace_fmt *f);

/* The node's value, or its gradient buffer (NULL data prints "-"). */
char *ag__trace_value_of(char *buf, size_t size, const ag_tensor *n, const ag_trace_fmt *f);
char *ag__trace_grad_of(char *buf, size_t size, const ag_tensor *n, const ag_trace_fmt *f);

/* The op's local partial with respect to input k, rendered from the op
 * row's local_grad string: the part that differentiates by input k, with
 * the placeholders replaced by the labels of n's inputs and output (see
 * trace_fmt.c for the conventions), "d" as "∂" and "*" as "·" unless ascii.
 * Writes "" when the string has no part for input k. */
char *ag__trace_formula(char *buf, size_t size, ag_trace_graph *g, const ag_tensor *n, int k,
                     const ag_trace_fmt *f);

/* The lowest precedence of an operator outside parentheses in an
 * expression's text: 1 for binary + and -, 2 for * and /, 3 for a leading
 * unary minus, 4 for ^, 6 for none (a name, number or call). */
int ag__trace_prec(const char *s);

/* The node as the expression language writes it, its operands by label
 * ("(o - y)^2", "tanh(w*x + b)") or with ids by id ("n8^2"): the infix form
 * of arithmetic ops, else a call name(operands[, c]) (trace_ops.c). */
char *ag__trace_op_text(char *buf, size_t size, ag_trace_graph *g, const ag_tensor *n, bool ids,
                        const ag_trace_fmt *f);

/* "∂of/∂by", each side parenthesised when it is compound ("∂((o - y)^2)/∂o"). */
char *ag__trace_partial(char *buf, size_t size, const char *of, const char *by, const ag_trace_fmt *f);

/* Columns a UTF-8 string takes (code points). */
size_t ag__trace_cols(const char *s);

/* ------------------------------------------------------ JSON (trace_json.c) */

/* Tensor elements a JSON value carries (the page shows small tables). */
#define AG_TJ_MAX_ELEMS 256

/* A number (%.17g; NaN and infinities as strings), a string (with <, >
 * and & escaped, so the JSON can sit inside an HTML script element), a
 * value (a scalar's number; a tensor's {"shape", "truncated", "data"}; null
 * for NULL data). */
void ag__tj_num(FILE *out, double v);
void ag__tj_str(FILE *out, const char *s);
void ag__tj_values(FILE *out, int dtype, int ndim, const int64_t *shape, int64_t numel, const void *data);

/* "nodes": [...]: each node's id, label, kind, text, inputs, value, and its
 * gradient (leaves always; others when the sweep of `epoch` reached them). */
void ag__tj_nodes(FILE *out, ag_trace_graph *g, const ag_tensor *y, uint32_t epoch, const ag_trace_fmt *f);

/* The partial symbol: "∂" or "d". */
static inline const char *ag__trace_d(const ag_trace_fmt *f) { return f->ascii ? "d" : "\u2202"; }

#endif
