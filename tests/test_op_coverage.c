/* Op coverage: walks the op list (core/op.h) family by family and fails
 * for an op without a row in its family's table (tests/rows/FAMILY.c), so
 * that no op goes without a gradient test, a second-order test and a
 * NULL-input test (op_rows.h: every row runs all three). Each failure line
 * says what to add where. It also keeps the rows honest: a row sits in its
 * op's family's table, has points and a domain, and its calls record a node
 * of the op it names. */
#include "op_rows.h"

#include "tape.h" /* ag__tape_node: the test looks for the row's op on the tape */

#include <stdio.h>
#include <string.h>

/* Each op's enum name ("ERF"). */
#define TU_ENUM_NAME(NAME) [AG_OP_##NAME] = #NAME,
static const char *const enum_names[AG_OP_COUNT] = {AG_OP_LIST(TU_ENUM_NAME)};
#undef TU_ENUM_NAME

/* The families, with their ops and rows. */
#define TU_OP_ITEM(NAME) AG_OP_##NAME,
#define TU_FAMILY_OPS(FAMILY, family, _) static const ag_op ops_##family[] = {AG_OPS_##FAMILY(TU_OP_ITEM)};
AG_OP_FAMILIES(TU_FAMILY_OPS, _)
#undef TU_FAMILY_OPS
#undef TU_OP_ITEM

typedef struct family {
    const char *name;
    const ag_op *ops;
    int nops;
    const tu_op_table *table;
} family;

#define TU_FAMILY(FAMILY, family, _)                                         \
    {#family, ops_##family, (int)(sizeof ops_##family / sizeof ops_##family[0]), &tu_rows_##family},
static const family families[] = {AG_OP_FAMILIES(TU_FAMILY, _)};
#undef TU_FAMILY
enum { NFAMILIES = sizeof families / sizeof families[0] };

/* The family op belongs to. */
static const family *family_of(ag_op op) {
    for (int f = 0; f < NFAMILIES; f++)
        for (int i = 0; i < families[f].nops; i++)
            if (families[f].ops[i] == op) return &families[f];
    return NULL;
}

/* Prints what an op without a row needs. */
static void report_missing(const family *f, ag_op op) {
    const ag_op_info *info = ag__ops[op];
    char call[128];
    if (info->arity == 1)
        snprintf(call, sizeof call, ".call.unary = ag_%s (or .call.fn for more arguments)", info->name);
    else if (info->arity == 2)
        snprintf(call, sizeof call, ".call.binary = ag_%s (or .call.fn for more arguments)", info->name);
    else snprintf(call, sizeof call, ".call.fn = %s, .nin = %d", info->name, info->arity);
    fprintf(stderr,
            "op coverage: %s (AG_OP_%s, listed in autograd/ops/%s.def) has no row, so no gradient, "
            "second-order or NULL-input test: add {AG_OP_%s, %s, .lo = ..., .hi = ..., "
            ".points = TU_POINTS(...)} to rows[] in tests/rows/%s.c (tests/op_rows.h; README, "
            "\"Adding an op\")\n",
            info->name, enum_names[op], f->name, enum_names[op], call, f->name);
}

/* Whether running call at point p on fresh random inputs records a node of
 * op (through the row's curvature wrapper when curved). */
static bool records(const tu_op_row *row, const tu_call *call, bool curved, const tu_point *p) {
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x[TU_MAX_IN];
    tu_row_inputs(row, p, t, &r, x);
    if (curved)
        for (int i = 0; i < tu_row_nin(row, p); i++) x[i] = ag_square(t, x[i]);
    size_t before = t->nnodes, before_stmts = ag__stmt_count(&t->s);
    bool found = false;
    if (tu_call_run(call, t, x, p)) { /* a node, or an f64 scalar's statement (core/stmt.h) */
        for (size_t i = before; i < t->nnodes && !found; i++) found = ag__tape_node(t, i)->op == row->op;
        for (size_t i = before_stmts; i < ag__stmt_count(&t->s) && !found; i++)
            found = ag__sk_op(ag__stmt_kind_at(&t->s, i)) == row->op;
    }
    ag_tape_free(t);
    return found;
}

START_TEST(every_op_has_a_row) {
    const family *f = &families[_i];
    int missing = 0;
    for (int i = 0; i < f->nops; i++) {
        int rows = 0;
        for (int k = 0; k < f->table->n; k++) rows += f->table->rows[k].op == f->ops[i];
        if (!rows) {
            report_missing(f, f->ops[i]);
            missing++;
        }
    }
    ck_assert_msg(missing == 0, "%d op%s of family %s without a row in tests/rows/%s.c (see above)", missing,
                  missing == 1 ? "" : "s", f->name, f->name);
}
END_TEST

START_TEST(rows_are_honest) {
    const family *f = &families[_i];
    ck_assert_str_eq(f->table->family, f->name);
    for (int k = 0; k < f->table->n; k++) {
        const tu_op_row *row = &f->table->rows[k];
        const char *name = tu_row_name(row);
        const family *home = family_of(row->op);
        ck_assert_msg(home == f, "row %s in tests/rows/%s.c is for an op of family %s: move it to tests/rows/%s.c",
                      name, f->name, home ? home->name : "(none)", home ? home->name : "(none)");
        ck_assert_msg(row->call.unary || row->call.binary || row->call.fn, "row %s has no call", name);
        ck_assert_msg(row->points.n > 0, "row %s has no points", name);
        ck_assert_msg(row->lo < row->hi, "row %s has no domain (lo < hi)", name);
        ck_assert_msg(records(row, &row->call, false, &row->points.p[0]), "row %s's call records no %s node",
                      name, ag__ops[row->op]->name);
        const tu_call *call2 = row->call2.unary || row->call2.binary || row->call2.fn ? &row->call2 : &row->call;
        const tu_point *p2 = row->points2.n ? &row->points2.p[0] : &row->points.p[0];
        ck_assert_msg(records(row, call2, row->curved, p2), "row %s's second-order call records no %s node",
                      name, ag__ops[row->op]->name);
    }
}
END_TEST

/* Every op but the core's LEAF and SCALAR (a node for a scalar
 * statement, core/stmt.h) is in exactly one family. */
START_TEST(families_cover_the_op_list) {
    int total = 0;
    for (int f = 0; f < NFAMILIES; f++) total += families[f].nops;
    ck_assert_int_eq(total, AG_OP_COUNT - 2);
    for (int op = AG_OP_SCALAR + 1; op < AG_OP_COUNT; op++)
        ck_assert_msg(family_of((ag_op)op) != NULL, "op %s is in no family", enum_names[op]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("op_coverage");
    TCase *tc = tcase_create("op_coverage");
    tcase_add_test(tc, families_cover_the_op_list);
    tcase_add_loop_test(tc, every_op_has_a_row, 0, NFAMILIES);
    tcase_add_loop_test(tc, rows_are_honest, 0, NFAMILIES);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
