/* The recorded backward of the scalar tape (create_graph): the reverse walk
 * of stmt_sweep.c, but each statement's chain rule runs as graph ops on
 * handles (its op row's svjp), so the gradients are statements themselves
 * and can be differentiated again. The stored partials are numbers and are
 * not used here, except by ops whose partials are constants. */
#include "error.h"
#include "stmt.h"
#include "tape.h"
#include "vjp.h"

/* Adds share c into grads[i]. */
static bool add_into(ag_tape *t, ag_tensor **grads, size_t i, ag_tensor *c) {
    grads[i] = grads[i] ? ag_add(t, grads[i], c) : c;
    return grads[i] != NULL;
}

/* Operand j: its partial, input index and input handle. */
static inline void fetch(const ag_stape *s, size_t j, double *p, uint32_t *idx, ag_tensor **in) {
    *p = s->p[j];
    *idx = s->in[j];
    *in = ag__stmt_handle(s, *idx);
}

bool ag__stmt_graph_sweep(ag_tape *t, ag_tensor **grads, size_t top) {
    ag_stape *s = &t->s;
    size_t n = ag__stmt_count(s);
    AG_ASSERT(top <= n);
    /* Operand and constant positions at top: skip the statements above. */
    size_t o = s->nops, ci = s->nc;
    for (size_t i = n; i-- > top;) {
        uint16_t kind = ag__stmt_kind_at(s, i);
        o -= ag__sk_nops(kind);
        ci -= (kind & AG_SK_CONST) != 0;
    }
    ag_tensor *in[AG_STMT_MAX_OPERANDS], *gin[AG_STMT_MAX_OPERANDS];
    double p[AG_STMT_MAX_OPERANDS];
    uint32_t idx[AG_STMT_MAX_OPERANDS];
    /* Block by block: the kinds of a block and its value slots stay put
     * while the rules record (only the arrays of operands may move). */
    for (size_t b = top ? (top - 1) / AG_SBLOCK_N + 1 : 0; b-- > 0;) {
        char *blk = s->blocks[b];
        const uint16_t *kinds = (const uint16_t *)(blk + AG_SBLOCK_KINDS);
        ag_tensor **gb = grads + b * (size_t)AG_SBLOCK_N;
        size_t end = top - b * (size_t)AG_SBLOCK_N;
        if (end > AG_SBLOCK_N) end = AG_SBLOCK_N;
        for (size_t j = end; j-- > 0;) {
            const uint16_t kind = kinds[j];
            const unsigned k = ag__sk_nops(kind), op = ag__sk_op(kind);
            o -= k;
            ci -= (kind & AG_SK_CONST) != 0;
            ag_tensor *g = gb[j];
            if (!g || !(kind & AG_SK_REQ) || op == AG_OP_LEAF) continue;
            const ag_op_info *row = ag__ops[op];
            if (!row->svjp) {
                ag__error_fail(t, AG_ERR_STATE, row->name,
                               "this op cannot record its backward (create_graph): it has no graph-form "
                               "backward, so its gradient cannot be differentiated again");
                return false;
            }
            /* Copies: the rule records statements, which may move the
             * arrays. One and two operands without a loop (a loop of
             * unknown count is vectorised, whose set-up costs more than
             * the copy). */
            if (k <= 2) {
                for (unsigned m = 0; m < 2; m++) {
                    if (m == k) break;
                    fetch(s, o + m, &p[m], &idx[m], &in[m]);
                    gin[m] = NULL;
                }
            } else {
                for (unsigned m = 0; m < k; m++) {
                    fetch(s, o + m, &p[m], &idx[m], &in[m]);
                    gin[m] = NULL;
                }
            }
            const double c = ag__stmt_const(s, kind, ci, k ? p[0] : 0.0);
            ag_tensor *y = ag__stmt_handle_at(blk, (uint32_t)j);
            t->anomaly_rule = y; /* names the rule in anomaly mode's messages */
            bool ok = row->svjp(t, (int)k, in, y, c, p, g, gin);
            for (unsigned m = 0; ok && m < k; m++)
                ok = !gin[m] || add_into(t, grads, idx[m], gin[m]);
            t->anomaly_rule = NULL;
            if (!ok) return false;
            if (t->err != AG_OK) return false;
        }
    }
    return true;
}
