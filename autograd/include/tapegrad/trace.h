/* tapegrad — watching the chain rule: step-by-step traces and graph pictures.
 *
 * Both work on any graph recorded on a tape, scalars or tensors (tensors
 * are shown by shape and a short value summary), and use the names set with
 * ag_set_name. Include as <tapegrad/trace.h>; needs <tapegrad/autograd.h>. */
#ifndef TAPEGRAD_TRACE_H
#define TAPEGRAD_TRACE_H

#include <tapegrad/autograd.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_trace_opts {
    int width;     /* line width in columns (0 = 80; at least 40) */
    bool ascii;    /* ASCII only (d instead of ∂, * instead of ·) */
    int max_elems; /* elements shown of a tensor's values (0 = 4) */
    int digits;    /* significant digits of numbers (0 = 6, at most 17) */
} ag_trace_opts;

/* Prints the chain rule at work for the scalar y, then leaves the tape as
 * ag_backward(t, y) would (leaves' gradients accumulate):
 *   1. the forward table: each node y depends on, in tape order, with its
 *      op, inputs, value, and name where it has one;
 *   2. the backward steps in reverse tape order: for each node, its upstream
 *      gradient, each local partial with its formula and value (e.g.
 *      "∂(u·v)/∂u = v = 3"), and the contribution passed to each input;
 *      where a node receives gradient from several consumers, the sum over
 *      paths is written out term by term.
 * Every number comes from the ops' own backward rules: each step's shares
 * are computed by running the op's backward on a scratch copy of the node.
 * Nodes are called by their names, else n1, n2, ... as in the forward
 * table (an unnamed scalar constant by its value).
 * opts may be NULL. Returns AG_OK; the backward's error (a NULL or
 * non-scalar y, a parameter written since recorded, a sticky error), with
 * nothing printed and no gradient changed; AG_ERR_MEMORY if the graph could
 * not be collected; or AG_ERR_ARG if writing failed (the gradients are then
 * in place all the same). */
ag_status ag_trace(FILE *out, ag_tape *t, ag_tensor *y, const ag_trace_opts *opts);

/* ag_trace's sweep, written as one JSON object to json (and, when text is
 * not NULL, as ag_trace's text to text, from the same sweep): for a page or
 * a script to show the chain rule without recomputing it.
 *   {"output": "n5", "output_label": "a*b + b^3",
 *    "steps": [ in sweep order:
 *      {"node": "n5", "head": "a*b + b^3", "leaf": false, "seed": true,
 *       "grad": the gradient the node received (its upstream),
 *       "kept": a leaf's gradient from earlier backward calls, or null,
 *       "terms": [{"from": "n6", "operand": 1, "value": share}, ...]: the
 *          shares summed into "grad", one per path (value null for
 *          tensors: it is the sender's "passes" entry),
 *       "local": [{"to": "n3", "operand": 1, "formula": "∂(a*b)/∂a = b = 3",
 *          "value": 3 (scalars) or null}],
 *       "passes": [{"to": "n3", "operand": 1, "value": share}]}, ...],
 *    "nodes": [{"id": "n1", "label": "a", "kind": "input" | "param" |
 *       "const" | "op", "text": "a*b", "inputs": ["n1", "n2"], "value",
 *       "leaf", "output", "grad"}, ...]}
 * Ids are the trace's and ag_write_dot's. A value is a number, or for a
 * tensor {"shape": [...], "truncated": bool, "data": [first 256 elements]};
 * numbers have 17 digits, NaN and infinities are strings. Strings escape
 * <, > and &, so the object can be embedded in an HTML script element.
 * Returns as ag_trace (json NULL: AG_ERR_NULL). */
ag_status ag_trace_json(FILE *json, FILE *text, ag_tape *t, ag_tensor *y, const ag_trace_opts *opts);

/* Writes the graph that y depends on in Graphviz DOT: one box per node with
 * its name, op, value (a tensor's starting with its shape) and gradient
 * (leaves always; other nodes when the tape's last backward reached them),
 * and an edge per input, numbered for ops with several. Names are escaped,
 * so any name gives valid DOT. y need not be a scalar. Changes no gradient.
 * Returns AG_OK, AG_ERR_NULL (a NULL argument; set on the tape when t is
 * not NULL), AG_ERR_MEMORY, or AG_ERR_ARG if writing failed. */
ag_status ag_write_dot(FILE *out, ag_tape *t, ag_tensor *y);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_TRACE_H */
