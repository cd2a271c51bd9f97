/* The three tests every op row runs (op_rows.h): gradients, second order,
 * NULL inputs. */
#include "op_rows.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *tu_row_name(const tu_op_row *row) { return row->label ? row->label : ag__ops[row->op]->name; }

int tu_row_nin(const tu_op_row *row, const tu_point *p) {
    if (row->nin) return row->nin;
    if (row->call.unary) return 1;
    if (row->call.binary) return 2;
    return p->n;
}

ag_tensor *tu_call_run(const tu_call *call, ag_tape *t, ag_tensor *const *x, const tu_point *p) {
    if (call->unary) return call->unary(t, x[0]);
    if (call->binary) return call->binary(t, x[0], x[1]);
    return call->fn(t, x, p);
}

static bool call_set(const tu_call *c) { return c->unary || c->binary || c->fn; }

/* Input i's domain: the row's, input 2's and after when set, and the
 * second-order one when asked and set. */
static void domain(const tu_op_row *row, int i, bool second, double *lo, double *hi) {
    *lo = row->lo, *hi = row->hi;
    if (i > 0 && row->lo1 < row->hi1) *lo = row->lo1, *hi = row->hi1;
    if (second && row->lo2 < row->hi2) *lo = row->lo2, *hi = row->hi2;
}

static void inputs(const tu_op_row *row, const tu_point *p, bool second, ag_tape *t, ag_rng *r,
                   ag_tensor **x) {
    for (int i = 0; i < tu_row_nin(row, p); i++) {
        double lo, hi;
        domain(row, i, second, &lo, &hi);
        x[i] = tu_rand(t, r, p->in[i].nd, p->in[i].d, lo, hi);
    }
}

void tu_row_inputs(const tu_op_row *row, const tu_point *p, ag_tape *t, ag_rng *r, ag_tensor **x) {
    inputs(row, p, false, t, r, x);
}

const tu_op_row *tu_row_of(const tu_op_table *table, ag_op op, const char *label) {
    for (int i = 0; i < table->n; i++) {
        const tu_op_row *row = &table->rows[i];
        if (row->op == op && (!label || (row->label && strcmp(row->label, label) == 0))) return row;
    }
    ck_abort_msg("tests/rows/%s.c has no row for %s%s%s", table->family, ag__ops[op]->name,
                 label ? " labelled " : "", label ? label : "");
    return NULL;
}

/* The tables of this suite, and row i of them all. */
static const tu_op_table *const *tables;
static int ntables;

static const tu_op_row *row_at(int i) {
    for (int k = 0; k < ntables; k++) {
        if (i < tables[k]->n) return &tables[k]->rows[i];
        i -= tables[k]->n;
    }
    return NULL;
}

typedef struct apply_ctx {
    const tu_op_row *row;
    const tu_point *p;
} apply_ctx;

static ag_tensor *apply_first(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const apply_ctx *c = ctx;
    return tu_call_run(&c->row->call, t, x, c->p);
}

static ag_tensor *apply_second(ag_tape *t, ag_tensor *const *x, void *ctx) {
    const apply_ctx *c = ctx;
    const tu_call *call = call_set(&c->row->call2) ? &c->row->call2 : &c->row->call;
    if (!c->row->curved) return tu_call_run(call, t, x, c->p);
    ag_tensor *sq[TU_MAX_IN];
    for (int i = 0; i < tu_row_nin(c->row, c->p); i++) sq[i] = ag_square(t, x[i]);
    ag_tensor *y = tu_call_run(call, t, sq, c->p);
    return ag_mul(t, y, ag_tanh(t, y));
}

START_TEST(op_gradients) {
    const tu_op_row *row = row_at(_i);
    for (int k = 0; k < row->points.n; k++) {
        const tu_point *p = &row->points.p[k];
        ag_rng r;
        ag_rng_seed(&r, 1000 * (uint64_t)_i + (uint64_t)k);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x[TU_MAX_IN];
        inputs(row, p, false, t, &r, x);
        apply_ctx c = {row, p};
        ag_tensor *y = apply_first(t, x, &c);
        ck_assert_msg(y != NULL, "%s, point %d: %s", tu_row_name(row), k, ag_tape_error(t));
        if (p->want) {
            ck_assert_msg(ag_ndim(y) == p->want->nd, "%s, point %d: %d dimensions, want %d",
                          tu_row_name(row), k, ag_ndim(y), p->want->nd);
            for (int d = 0; d < p->want->nd; d++)
                ck_assert_msg(ag_dim(y, d) == p->want->d[d], "%s, point %d: dimension %d is %lld, want %lld",
                              tu_row_name(row), k, d, (long long)ag_dim(y, d), (long long)p->want->d[d]);
        }
        char label[64];
        snprintf(label, sizeof label, "%s, point %d", tu_row_name(row), k);
        tu_assert_check(ag_gradcheck, label, apply_first, &c, tu_row_nin(row, p), x);
        ag_tape_free(t);
    }
}
END_TEST

/* The recorded backward's gradient (create_graph) has the values of the
 * numeric sweep's, under the same random seed: gradgradcheck sees only its
 * derivative, so a recorded rule off by a constant would pass it. */
static void assert_recorded_grad_values(const tu_op_row *row, const tu_point *p, ag_tape *t, ag_rng *r,
                                        ag_tensor **x, const char *label) {
    const int n = tu_row_nin(row, p);
    for (int i = 0; i < n; i++) ag_requires_grad(t, x[i]);
    apply_ctx c = {row, p};
    ag_tensor *y = apply_second(t, x, &c);
    ck_assert_msg(y != NULL, "%s: %s", label, ag_tape_error(t));
    ag_tensor *seed = tu_rand(t, r, ag_ndim(y), ag_shape(y), 0.5, 1.5), *g[TU_MAX_IN], *gr[TU_MAX_IN];
    ck_assert_int_eq(ag_grad(t, y, seed, n, x, g), AG_OK);
    ck_assert_int_eq(ag_grad_ex(t, y, n, x, gr, &(ag_backward_opts){.seed = seed, .create_graph = true}), AG_OK);
    for (int i = 0; i < n; i++)
        for (int64_t e = 0; e < ag_numel(x[i]); e++) {
            const double a = ag_get(gr[i], e), b = ag_get(g[i], e);
            ck_assert_msg(fabs(a - b) <= 1e-12 * fmax(1, fabs(b)),
                          "%s: the recorded gradient of input %d element %lld is %.17g, the numeric one %.17g",
                          label, i + 1, (long long)e, a, b);
        }
}

START_TEST(op_second_order) {
    const tu_op_row *row = row_at(_i);
    const tu_points pts = row->points2.n ? row->points2 : row->points;
    for (int k = 0; k < pts.n; k++) {
        const tu_point *p = &pts.p[k];
        ag_rng r;
        ag_rng_seed(&r, 5000 + 1000 * (uint64_t)_i + (uint64_t)k);
        ag_tape *t = ag_tape_new(0);
        ag_tensor *x[TU_MAX_IN];
        inputs(row, p, true, t, &r, x);
        apply_ctx c = {row, p};
        char label[64];
        snprintf(label, sizeof label, "%s, point %d", tu_row_name(row), k);
        if (row->first_order) { /* create_graph refuses it, naming the op */
            for (int i = 0; i < tu_row_nin(row, p); i++) ag_requires_grad(t, x[i]);
            ag_tensor *y = apply_second(t, x, &c), *g[TU_MAX_IN];
            ck_assert_int_eq(ag_grad_ex(t, y, tu_row_nin(row, p), x, g, &(ag_backward_opts){.create_graph = true}),
                             AG_ERR_STATE);
            ck_assert_msg(strstr(ag_tape_error(t), ag__ops[row->op]->name), "%s: %s", label, ag_tape_error(t));
            ag_tape_free(t);
            continue;
        }
        tu_assert_check(ag_gradgradcheck, label, apply_second, &c, tu_row_nin(row, p), x);
        assert_recorded_grad_values(row, p, t, &r, x, label);
        ag_tape_free(t);
    }
}
END_TEST

/* Each operand NULL in turn (the others valid), then no tape. The error
 * names the function the row calls: its op's name, or its label's. */
START_TEST(op_null_inputs) {
    const tu_op_row *row = row_at(_i);
    const tu_point *p = &row->points.p[0];
    char name[32]; /* what errors name: the row's name up to a '(' */
    snprintf(name, sizeof name, "%.*s", (int)strcspn(tu_row_name(row), "("), tu_row_name(row));
    ag_rng r;
    ag_rng_seed(&r, 9);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[TU_MAX_IN];
    inputs(row, p, false, t, &r, x);
    for (int i = 0; i < tu_row_nin(row, p); i++) {
        ag_tensor *keep = x[i];
        x[i] = NULL;
        ck_assert_msg(tu_call_run(&row->call, t, x, p) == NULL, "%s with operand %d NULL: a result",
                      tu_row_name(row), i + 1);
        ck_assert_int_eq(ag_tape_status(t), AG_ERR_NULL);
        ck_assert_msg(strstr(ag_tape_error(t), name) != NULL, "%s with operand %d NULL: '%s' lacks '%s'",
                      tu_row_name(row), i + 1, ag_tape_error(t), name);
        ag_tape_clear_error(t);
        x[i] = keep;
    }
    ck_assert_ptr_null(tu_call_run(&row->call, NULL, x, p));
    ck_assert_int_eq(ag_tape_status(t), AG_OK);
    ag_tape_free(t);
}
END_TEST

void tu_add_op_rows(TCase *tc, int n, const tu_op_table *const *tabs) {
    tables = tabs;
    ntables = n;
    int rows = 0;
    for (int k = 0; k < n; k++) rows += tabs[k]->n;
    tcase_add_loop_test(tc, op_gradients, 0, rows);
    tcase_add_loop_test(tc, op_second_order, 0, rows);
    tcase_add_loop_test(tc, op_null_inputs, 0, rows);
}
