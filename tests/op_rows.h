/* The op rows: one table per op family (tests/rows/FAMILY.c), each row one
 * way to call one op, from which three tests run for every row:
 *
 *   gradients     gradcheck in f64 at random points, at every point of the
 *                 row (shapes with broadcasting, axes, ...), and the
 *                 gradient is not all zeros;
 *   second order  gradgradcheck of the row's second-order call (the op, or
 *                 the op inside a composition with curvature) at its points,
 *                 and the recorded backward's first gradient has the
 *                 numeric sweep's values;
 *   NULL inputs   the op given a NULL operand, one operand at a time,
 *                 returns NULL with an AG_ERR_NULL error naming the op, and
 *                 given no tape returns NULL.
 *
 * tests/test_op_coverage.c walks the op list (core/op.h) and fails for an
 * op without a row, naming the row to add and where. Adding an op is
 * adding its row (README, "Adding an op"):
 *
 *   {AG_OP_ERF, .call.unary = ag_erf, .lo = -2, .hi = 2,
 *    .points = TU_POINTS(unary_points), .ref = erf, .x3 = 0.4},
 *
 * The family suites (test_ops.c, test_reduce.c, test_shape.c,
 * test_linalg.c) register their tables with tu_add_op_rows and run
 * family-specific checks (f32 against f64, known values) over the same
 * rows. White-box: the rows name ops by their enum (core/op.h). */
#ifndef TAPEGRAD_TESTS_OP_ROWS_H
#define TAPEGRAD_TESTS_OP_ROWS_H

#include "testutil.h"

#include "op.h"

#define TU_MAX_IN 3 /* inputs of a row's call (concat and stack use up to 3) */

/* A shape as (nd, dims). */
typedef struct tu_shape {
    int nd;
    int64_t d[AG_MAX_DIMS];
} tu_shape;

/* One point of a row: its inputs' shapes and the op's other arguments
 * (each row's call reads the ones its op takes). */
typedef struct tu_point {
    int n;                  /* inputs; 0: the row's nin */
    tu_shape in[TU_MAX_IN]; /* their shapes */
    int axis;               /* an axis (reductions, softmax, slice, concat, stack, gather, ...) */
    bool keep;              /* keepdims */
    int64_t k, start, stop; /* a count (gather's k, index_select's n), slice bounds */
    tu_shape to;            /* a target shape (reshape, broadcast_to, scatter_add, where's mask) */
    const int *perm;        /* permute's permutation */
    const int64_t *index;   /* gather's and index_select's indices */
    const tu_shape *want;   /* the output's shape, checked when set */
} tu_point;

typedef ag_tensor *(*tu_op_fn)(ag_tape *t, ag_tensor *const *x, const tu_point *p);
typedef ag_tensor *(*tu_unary_fn)(ag_tape *t, ag_tensor *x);
typedef ag_tensor *(*tu_binary_fn)(ag_tape *t, ag_tensor *a, ag_tensor *b);

/* How a row calls its op: set one of the three. */
typedef struct tu_call {
    tu_unary_fn unary;   /* y = unary(t, x[0]) */
    tu_binary_fn binary; /* y = binary(t, x[0], x[1]) */
    tu_op_fn fn;         /* y = fn(t, x, point) */
} tu_call;

typedef struct tu_points {
    const tu_point *p;
    int n;
} tu_points;
#define TU_POINTS(array) {(array), (int)(sizeof(array) / sizeof((array)[0]))}

typedef struct tu_op_row {
    ag_op op;          /* the op this row covers */
    const char *label; /* the row's name when one op has several rows (NULL: the op's); up to a '(',
                        * the function's name that errors give ("transpose", "var(1)") */
    tu_call call;      /* the op alone: the gradient and NULL-input tests */
    int nin;           /* inputs of call (0: 1 for unary, 2 for binary; fn: each point's n) */
    double lo, hi;     /* the inputs' sampling domain, away from kinks and poles */
    double lo1, hi1;   /* input 2's and after, when it differs (lo1 < hi1) */
    tu_points points;  /* gradient and NULL-input tests; points[0] also for the NULL test */
    /* second order: */
    tu_call call2;     /* the op in a composition with curvature (unset: call) */
    bool curved;       /* second order of x -> call(x^2) * tanh(call(x^2)) instead, for linear ops */
    tu_points points2; /* unset: points */
    double lo2, hi2;   /* the domain of every input, when it differs (lo2 < hi2) */
    bool first_order;  /* records first derivatives only (a statement with given partials):
                        * the second-order test checks that create_graph through it fails */
    /* for the unary ops' own checks (test_ops.c): */
    double (*ref)(double); /* the op's value from libm, checked at random points */
    double x3;             /* where its third derivative is checked (0: not checked) */
} tu_op_row;

typedef struct tu_op_table {
    const char *family; /* "unary": its ops in autograd/ops/unary.def, its rows in tests/rows/unary.c */
    const tu_op_row *rows;
    int n;
} tu_op_table;

/* Every family's table, tu_rows_FAMILY, from the family list of core/op.h:
 * a family without a tests/rows file does not link. */
#define TU_DECLARE_ROWS(FAMILY, family, _) extern const tu_op_table tu_rows_##family;
AG_OP_FAMILIES(TU_DECLARE_ROWS, _)
#undef TU_DECLARE_ROWS

/* The row's name: its label or its op's name. */
const char *tu_row_name(const tu_op_row *row);

/* The number of inputs row's call takes at point p. */
int tu_row_nin(const tu_op_row *row, const tu_point *p);

/* Runs call on inputs x at point p. */
ag_tensor *tu_call_run(const tu_call *call, ag_tape *t, ag_tensor *const *x, const tu_point *p);

/* Random f64 inputs for row at point p on t (the row's first-order domain). */
void tu_row_inputs(const tu_op_row *row, const tu_point *p, ag_tape *t, ag_rng *r, ag_tensor **x);

/* The row of `table` for op (and label, when not NULL); fails the test when
 * there is none. */
const tu_op_row *tu_row_of(const tu_op_table *table, ag_op op, const char *label);

/* Adds the three tests over every row of the n tables to tc. */
void tu_add_op_rows(TCase *tc, int n, const tu_op_table *const *tables);

#endif /* TAPEGRAD_TESTS_OP_ROWS_H */
