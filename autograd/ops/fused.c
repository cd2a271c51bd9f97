/* Fused scalar statements: several operations recorded as one statement
 * with all its partials, so the tape holds one record where a chain of
 * elementwise ops would hold many (core/stmt.h):
 *   wsum       y = sum_k w_k x_k   (constant weights; partials w_k)
 *   dot        y = sum_k a_k b_k   (partials b_k and a_k)
 *   statement  y and its partials given by the caller (first order only)
 * A statement holds at most AG_STMT_MAX_OPERANDS operands; longer sums
 * chain statements, each carrying the previous one's value as its last
 * operand (partial 1). Inputs the scalar tape cannot take (f32 scalars,
 * tensors, 0-d op nodes) make wsum and dot a composition of elementwise
 * ops and a statement a node whose partials live in ext->aux. */
#include "kernels.h"

/* --------------------------------------------------- the rows' rules */

/* The node form: its partials in ext->aux, one per input. Values are set
 * when recorded (or rebuilt for a trace), so forward has nothing to do. */
static void fwd_fused(ag_tensor *n) { (void)n; }
static void bwd_fused(ag_sweep *s, ag_tensor *n) {
    const double *p = n->ext->aux, g = n->d.s.grad;
    for (int k = 0, m = ag__op_ninputs(n); k < m; k++) {
        ag_tensor *in = ag__input(n, k);
        if (ag__sweep_wants(s, in)) ag__sweep_scalar_acc(s, in, AG_F64, g * p[k]);
    }
}

/* wsum: the share of x_k is G w_k, w_k being its partial. */
static bool svjp_wsum(ag_tape *t, int nin, ag_tensor *const *in, ag_tensor *y, double c,
                      const double *p, ag_tensor *G, ag_tensor **gin) {
    (void)y, (void)c;
    for (int k = 0; k < nin; k++)
        if (ag__handle_requires_grad(in[k]) && !(gin[k] = ag_mul_c(t, G, p[k]))) return false;
    return true;
}

/* dot: operands a_0, b_0, a_1, b_1, ... and, when their count is odd, the
 * carried value of the previous statement last. a_k's share is G b_k. */
static bool svjp_dot(ag_tape *t, int nin, ag_tensor *const *in, ag_tensor *y, double c,
                     const double *p, ag_tensor *G, ag_tensor **gin) {
    (void)y, (void)c, (void)p;
    int pairs = nin / 2;
    for (int k = 0; k < pairs; k++) {
        ag_tensor *a = in[2 * k], *b = in[2 * k + 1];
        if (ag__handle_requires_grad(a) && !(gin[2 * k] = ag_mul(t, G, b))) return false;
        if (ag__handle_requires_grad(b) && !(gin[2 * k + 1] = ag_mul(t, G, a))) return false;
    }
    if ((nin & 1) && ag__handle_requires_grad(in[nin - 1])) gin[nin - 1] = G;
    return true;
}

/* The node form's graph backward: the same rule on its inputs. */
#define FUSED_VJP(name)                                                      \
    static bool vjp_##name(ag_tape *t, ag_tensor *n, ag_tensor *G, ag_tensor **gin) { \
        int m = ag__op_ninputs(n);                                              \
        ag_tensor **in = ag__tape_alloc(t, (size_t)m * sizeof *in, #name);   \
        if (!in) return false;                                               \
        for (int k = 0; k < m; k++) in[k] = ag__input(n, k);                 \
        return svjp_##name(t, m, in, n, 0.0, n->ext->aux, G, gin);          \
    }
FUSED_VJP(wsum)
FUSED_VJP(dot)

const ag_op_info ag__op_WSUM = {"wsum", -1, fwd_fused, bwd_fused, "d(sum w_k x_k)/dx_k = w_k",
                                vjp_wsum, svjp_wsum};
const ag_op_info ag__op_DOT = {"dot", -1, fwd_fused, bwd_fused,
                               "d(sum a_k b_k)/da_k = b_k, d(sum a_k b_k)/db_k = a_k", vjp_dot, svjp_dot};
/* A statement's partials are numbers: no rule to record (create_graph). */
const ag_op_info ag__op_STMT = {"statement", -1, fwd_fused, bwd_fused,
                                "the partials given when it was recorded", NULL, NULL};

/* ------------------------------------------------------------ recording */

/* Checks t, n and the inputs; false with the tape error set. */
static bool check_inputs(ag_tape *t, const char *op, int n, ag_tensor *const *xs) {
    if (!t || t->err != AG_OK) return false;
    if (n < 1 || !xs) {
        ag__error_fail(t, n < 1 ? AG_ERR_ARG : AG_ERR_NULL, op, n < 1 ? "needs n >= 1 inputs, not %d"
                       : "inputs array is NULL", n);
        return false;
    }
    return ag__record_check_inputs(t, op, n, xs);
}

/* Whether every input can be an operand of a statement on t. */
static bool all_operands(ag_tape *t, int n, ag_tensor *const *xs) {
    for (int i = 0; i < n; i++)
        if (!ag__stmt_can_operand(t, xs[i])) return false;
    return t->no_grad == 0;
}

/* sum_k a_k w_k (b NULL; w NULL: 1) or sum_k a_k b_k: statements of `op`
 * with up to AG_STMT_MAX_OPERANDS operands, each but the first carrying
 * the previous one's value as its last operand (partial 1), summed left to
 * right as the chain of adds would; inputs the scalar tape cannot take
 * make it that chain of elementwise ops. */
static ag_tensor *fused_sum(ag_tape *t, ag_op op, int n, ag_tensor *const *a, ag_tensor *const *b,
                            const double *w) {
    if (!all_operands(t, n, a) || (b && !all_operands(t, n, b))) {
        ag_tensor *y = NULL;
        for (int k = 0; k < n; k++) {
            ag_tensor *term = b ? ag_mul(t, a[k], b[k]) : ag_mul_c(t, a[k], w ? w[k] : 1.0);
            y = y ? ag_add(t, y, term) : term;
        }
        return y;
    }
    const unsigned per = b ? 2 : 1; /* operands per term */
    ag_tensor *in[AG_STMT_MAX_OPERANDS];
    double p[AG_STMT_MAX_OPERANDS];
    ag_tensor *carry = NULL;
    for (int k = 0; k < n;) {
        unsigned m = 0;
        double v = carry ? ag__stmt_val(carry) : 0.0;
        for (; k < n && m + per < AG_STMT_MAX_OPERANDS; k++, m += per) { /* room for a carry */
            if (!(in[m] = ag__stmt_operand(t, a[k]))) return NULL;
            if (b) {
                if (!(in[m + 1] = ag__stmt_operand(t, b[k]))) return NULL;
                const double x = ag__stmt_val(in[m]), y = ag__stmt_val(in[m + 1]);
                p[m] = y;
                p[m + 1] = x;
                v += x * y;
            } else {
                p[m] = w ? w[k] : 1.0;
                v += p[m] * ag__stmt_val(in[m]);
            }
        }
        if (carry) {
            in[m] = carry;
            p[m++] = 1.0;
        }
        if (!(carry = ag__stmt_record(t, op, v, m, in, p, 0.0))) return NULL;
    }
    return carry;
}

ag_tensor *ag_wsum(ag_tape *t, int n, ag_tensor *const *xs, const double *w) {
    if (!check_inputs(t, "wsum", n, xs)) return NULL;
    return fused_sum(t, AG_OP_WSUM, n, xs, NULL, w);
}

ag_tensor *ag_dot(ag_tape *t, int n, ag_tensor *const *a, ag_tensor *const *b) {
    if (!check_inputs(t, "dot", n, a) || !check_inputs(t, "dot", n, b)) return NULL;
    return fused_sum(t, AG_OP_DOT, n, a, b, NULL);
}

/* The fast path: every input a statement of t, and room (there is none
 * after an error or in no-grad mode). One pass checks each input and
 * writes its operand; the statement is committed only when all pass. NULL
 * when one does not: the caller takes the general path. */
static AG_ALWAYS_INLINE ag_tensor *statement_fast(ag_tape *t, double value, unsigned n,
                                                  ag_tensor *const *in, const double *partials) {
    ag_stape *s = &t->s;
    double *p = s->p + s->nops;
    uint32_t *idx = s->in + s->nops;
    uint16_t req = 0;
    for (unsigned k = 0; k < n; k++) {
        ag_tensor *x = in[k];
        if (!ag__is_stmt(x) || ag__stmt_tape(x) != t) return NULL;
        uint16_t kk = ag__stmt_kind(x) & AG_SK_REQ;
        req |= kk;
        p[k] = kk ? partials[k] : 0.0;
        idx[k] = ag__stmt_index(x);
    }
    size_t o;
    double *slot = ag__stmt_push(s, (uint16_t)(AG_OP_STMT | req), n, &o);
    *slot = value;
    return ag__stmt_of_slot(slot);
}

/* Everything but the fast path, out of line: its stack and saved
 * registers stay off the fast one. */
static AG_NOINLINE ag_tensor *statement_slow(ag_tape *t, double value, int n,
                                             ag_tensor *const *inputs, const double *partials);

ag_tensor *ag_statement(ag_tape *t, double value, int n, ag_tensor *const *inputs,
                        const double *partials) {
    if (t && inputs && partials && n > 0 && n <= AG_STMT_MAX_OPERANDS &&
        ag__stmt_room(&t->s) >= ag__stmt_cost((unsigned)n)) {
        ag_tensor *y = statement_fast(t, value, (unsigned)n, inputs, partials);
        if (y) return y;
    }
    return statement_slow(t, value, n, inputs, partials);
}

static ag_tensor *statement_slow(ag_tape *t, double value, int n, ag_tensor *const *inputs,
                                 const double *partials) {
    if (n == 0 && t && t->err == AG_OK) return ag_scalar(t, value);
    if (!check_inputs(t, "statement", n, inputs)) return NULL;
    if (!partials) return ag__error_fail(t, AG_ERR_NULL, "statement", "partials array is NULL");
    if (n > AG_STMT_MAX_OPERANDS)
        return ag__error_fail(t, AG_ERR_ARG, "statement", "%d inputs (at most %d)", n,
                              AG_STMT_MAX_OPERANDS);
    if (all_operands(t, n, inputs)) {
        ag_tensor *in[AG_STMT_MAX_OPERANDS];
        for (int k = 0; k < n; k++)
            if (!(in[k] = ag__stmt_operand(t, inputs[k]))) return NULL;
        return ag__stmt_record(t, AG_OP_STMT, value, (unsigned)n, in, partials, 0.0);
    }
    /* The node form: every input a 0-d f64 tensor. */
    for (int k = 0; k < n; k++) {
        if (ag_ndim(inputs[k]) != 0 || ag_dtype_of(inputs[k]) != AG_F64) {
            char s[96];
            return ag__error_fail(t, AG_ERR_SHAPE, "statement", "input %d is %s%s: a statement's "
                                  "inputs are f64 scalars", k + 1,
                                  ag_dtype_name(ag_dtype_of(inputs[k])),
                                  ag__error_fmt_operand(s, sizeof s, inputs[k]));
        }
    }
    ag_tensor **nodes = ag__tape_alloc(t, (size_t)n * sizeof *nodes, "statement");
    if (!nodes || !ag__stmt_promote_n(t, n, inputs, nodes)) return NULL;
    ag_tensor *y = ag__record_node_n(t, AG_OP_STMT, AG_F64, 0, NULL, n, nodes);
    ag_ext *ext = y ? ag__record_ext(t, y) : NULL;
    double *p = ext ? ag__tape_alloc(t, (size_t)n * sizeof *p, "statement") : NULL;
    if (!p) return NULL;
    memcpy(p, partials, (size_t)n * sizeof *p);
    ext->aux = p;
    y->d.s.val = value;
    return ag__record_done(t, y);
}
