/* The custom family's row (autograd/ops/custom.def): one op written with
 * <tapegrad/custom_op.h>, y = a·b + a² fused, with its numeric and its
 * graph-form backward, so that it passes through the same gradient,
 * second-order and NULL-input tests as the engine's ops (test_custom.c has
 * the custom ops' own tests). */
#include "op_rows.h"

#include <tapegrad/custom_op.h>

static const tu_point points[] = {
    {.in = {{0, {0}}, {0, {0}}}},
    {.in = {{2, {2, 3}}, {2, {2, 3}}}},
    {.in = {{3, {2, 1, 4}}, {3, {2, 1, 4}}}},
};

/* Element i of a buffer of the call's dtype. */
static double at(const ag_custom_call *c, const void *p, int64_t i) {
    return c->dtype == AG_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
}
static void put(const ag_custom_call *c, void *p, int64_t i, double v) {
    if (c->dtype == AG_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

static ag_status fused_forward(const ag_custom_call *c, void *out) {
    const void *a = ag_data(c->in[0]), *b = ag_data(c->in[1]);
    for (int64_t i = 0; i < ag_numel(c->out); i++)
        put(c, out, i, at(c, a, i) * at(c, b, i) + at(c, a, i) * at(c, a, i));
    return AG_OK;
}

/* da += g·(b + 2a), db += g·a */
static ag_status fused_backward(const ag_custom_call *c, const void *g, void *const *gin) {
    const void *a = ag_data(c->in[0]), *b = ag_data(c->in[1]);
    for (int64_t i = 0; i < ag_numel(c->out); i++) {
        double gi = at(c, g, i), ai = at(c, a, i), bi = at(c, b, i);
        if (gin[0]) put(c, gin[0], i, at(c, gin[0], i) + gi * (bi + 2 * ai));
        if (gin[1]) put(c, gin[1], i, at(c, gin[1], i) + gi * ai);
    }
    return AG_OK;
}

static ag_status fused_backward_graph(ag_tape *t, const ag_custom_call *c, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *a = c->in[0], *b = c->in[1];
    gin[0] = ag_mul(t, g, ag_add(t, b, ag_mul_c(t, a, 2)));
    gin[1] = ag_mul(t, g, a);
    return ag_tape_status(t);
}

static const ag_custom_op fused = {
    .name = "fused_ab", .ninputs = 2, .forward = fused_forward, .backward = fused_backward,
    .backward_graph = fused_backward_graph, .local_grad = "da = g*(b + 2*a), db = g*a",
};

static ag_tensor *apply(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    return ag_custom(t, &fused, NULL, 2, (ag_tensor *[]){a, b});
}

static const tu_op_row rows[] = {
    {AG_OP_CUSTOM, "fused_ab", .call.binary = apply, .lo = -1, .hi = 1, .points = TU_POINTS(points)},
};

const tu_op_table tu_rows_custom = {"custom", rows, (int)(sizeof rows / sizeof rows[0])};
