/* Shared declarations of the tapegrad command's parts: arguments, the
 * numeric checks, --expect, rendering and output. */
#ifndef TAPEGRAD_CLI_H
#define TAPEGRAD_CLI_H

#include <tapegrad/autograd.h>
#include <tapegrad/expr.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_CHECK_FAILED = 1, EXIT_ERROR = 2 };

/* ------------------------------------------------------------ arguments */

/* The largest --file program (a bound on memory, not on the language). */
#define PROGRAM_FILE_MAX (64 << 20)

typedef struct grad_args {
    const char *program;  /* the PROGRAM argument, or program_text */
    const char *file;     /* --file F ("-": standard input), or NULL */
    char *program_text;   /* --file's contents (owned) */
    int nvalues;          /* NAME=VALUE pairs */
    const char **names;
    double *values;       /* a scalar's value */
    ag_expr_shape *shapes; /* each value's shape (ndim 0: a scalar) */
    double **data;        /* a tensor's elements, row-major (owned), or NULL */
    bool json;
    int order;            /* 1 or 2 */
    int nexpect;          /* --expect NAME=FORMULA */
    const char **expect;
    long points;          /* --points (default 100) */
    bool have_range;
    double lo, hi;        /* --range LO:HI */
    uint64_t seed;        /* --seed (default 1) */
    double rtol, atol;    /* --expect tolerances */
    bool trace, ascii;
    const char *dot, *svg, *png;
    const char *html;     /* --html FILE: the chain-rule explorer */
} grad_args;

/* Parses `tapegrad grad` arguments (argv[0] is "grad"). Returns 0 when fine,
 * EXIT_ERROR after printing a usage error, or -1 after printing the help
 * (--help). Arrays are malloc'd; free with grad_args_free. */
int grad_args_parse(int argc, char **argv, grad_args *a);
void grad_args_free(grad_args *a);

void print_help(FILE *out);
void print_usage_hint(FILE *out);

/* The subcommand ("grad" or "jacobian") that messages name after "tapegrad":
 * the argument and input checks are shared (tapegrad.c sets it). */
extern const char *cli_command;

/* Evaluates a constant formula (a NAME=VALUE value such as pi/4). Returns
 * false after printing an error naming `what`. */
bool eval_constant(const char *formula, const char *what, double *out);

/* Same for a formula whose value may be a tensor ([[1, 2], [3, 4]]):
 * *shape receives its shape and *data its elements (malloc'd, free it). */
bool eval_constant_tensor(const char *formula, const char *what, ag_expr_shape *shape, double **data);

/* Elements of a shape (1 for a scalar). */
int64_t shape_numel(const ag_expr_shape *s);

/* "(2, 3)" for messages; "()" for a scalar. */
void shape_text(char *buf, size_t size, const ag_expr_shape *s);

/* Matches the given values to the program's inputs. Returns EXIT_OK with
 * *shapes (NULL when every input is a scalar), *off (where input i starts)
 * and the flat point *x (*nel elements; all three malloc'd), or EXIT_ERROR
 * (printed). Names the program does not use go to unused[*nunused++] (a
 * note is printed). */
int bind_inputs(const grad_args *a, const ag_expr *e, const char **unused, int *nunused,
                ag_expr_shape **shapes, int64_t **off, double **x, int64_t *nel);

/* -------------------------------------------------------------- numerics */

/* A program ready to be evaluated repeatedly on a scratch tape. */
typedef struct evaluator {
    const ag_expr *e;
    ag_tape *scratch; /* reset after each evaluation */
    int n;            /* input elements (the inputs when all are scalars) */
    /* NULL when every input is a scalar; else each input's shape, x then
     * holding all their elements one input after the other */
    const ag_expr_shape *shapes;
    /* each binding's shape and where its elements start in the gb and bv
     * arrays of eval_gradient (boff[nb] of them in all); NULL: scalars */
    const ag_expr_shape *bshapes;
    const int64_t *boff;
} evaluator;

/* The program's value at x (inputs in program order), or NaN with *ok
 * false (a tape error, printed) when the build fails. */
double eval_value(evaluator *ev, const double *x, bool *ok);

/* The program's value at x, a tensor: its shape into *shape and, when it
 * has at most max elements, the elements into out (NULL: only the shape). False (printed) when the build
 * fails or the value has more than 2 dimensions. */
bool eval_values(evaluator *ev, const double *x, ag_expr_shape *shape, double *out, int64_t max);

/* Fills ev->bshapes and ev->boff (malloc'd into *bshapes and *boff, free
 * both) from one build at x. False (printed) on failure. */
bool eval_binding_shapes(evaluator *ev, const double *x, ag_expr_shape **bshapes, int64_t **boff);

/* The gradient at x into g[0..n-1]; false (printed) on failure. gb and bv
 * (either may be NULL) receive, for each bound name (ag_expr_binding_name),
 * the gradient with respect to it (an intermediate: d output / d a) and its
 * value. */
bool eval_gradient(evaluator *ev, const double *x, double *g, double *gb, double *bv);

/* How far autodiff is from finite differences. */
typedef struct check_stats {
    bool ok;
    double max_abs_err, max_rel_err;
} check_stats;

/* Tolerances of the finite-difference checks: |ad - fd| <= ATOL + RTOL·|fd|. */
#define FD_ATOL 1e-5
#define FD_RTOL 1e-4

/* Central differences of the value (fd[i] = df/dx_i) at x. */
bool fd_gradient(evaluator *ev, const double *x, double *fd);

/* Central differences of a value of m elements: fd[i*n + j] = dy_i/dx_j
 * (n = ev->n). */
bool fd_jacobian(evaluator *ev, const double *x, int64_t m, double *fd);

/* Central differences of the gradient: fd[i*n + j] = d(df/dx_i)/dx_j. */
bool fd_hessian(evaluator *ev, const double *x, double *fd);

/* The Hessian of y over its n scalar inputs through the recorded backward:
 * g = dy/dx as nodes (create_graph), then one numeric reverse pass per row,
 * h[i*n + j] = d(dy/dx_i)/dx_j (h may be NULL: only run it), read off the
 * inputs' stored gradients (zero on entry and on return). Rows record
 * nothing on t. An input y does not use gives zeros. False on a tape error
 * or out of memory. */
bool autodiff_hessian(ag_tape *t, ag_tensor *y, int n, ag_tensor **in, double *h);

/* Compares analytic a with numeric b (count entries), updating s; ok[i]
 * (may be NULL) says whether entry i is within tolerance. */
void compare(const double *a, const double *b, int count, check_stats *s, bool *ok);

/* ---------------------------------------------------------------- expect */

typedef struct expect_result {
    const char *spec;     /* "x=2*x*exp(x^2)" as given */
    const char *name;     /* the input (points into a copy of spec) */
    const char *formula;
    int input;            /* index of name among the program's inputs, or -1 */
    int binding;          /* else its index among the program's bindings */
    bool ok;
    long points;          /* points compared, the given one included */
    double *at;           /* first disagreeing point (n values), or NULL */
    double autodiff, expected;
    ag_expr_shape shape;  /* the derivative's shape */
    int64_t worst;        /* flat index of the worst disagreeing element */
    int64_t nbad;         /* elements that disagree at that point */
} expect_result;

/* Checks every --expect. Returns EXIT_OK, or EXIT_ERROR after printing an
 * error (bad spec, parse error, unknown name). */
int run_expects(const grad_args *a, evaluator *ev, const double *x, expect_result *out);
void expect_results_free(expect_result *r, int n);

/* ---------------------------------------------------------------- render */

/* --trace / --dot / --svg / --png on the recorded graph of y. Returns
 * EXIT_OK or EXIT_ERROR (printed). `trace_out` is where the trace goes. */
int render(const grad_args *a, ag_tape *t, ag_tensor *y, FILE *trace_out);

/* Writes the chain-rule explorer page to a->html (explorer.c) from the JSON
 * trace of y (ag_trace_json, already run), with Graphviz's picture of the
 * graph where dot is installed. Returns EXIT_OK or EXIT_ERROR (printed). */
int write_explorer(const grad_args *a, ag_tape *t, ag_tensor *y, const char *trace_json);

/* ---------------------------------------------------------------- output */

/* A JSON number: %.17g, or the strings "NaN", "Infinity", "-Infinity". */
void json_number(FILE *out, double v);
void json_string(FILE *out, const char *s);

/* v in its shortest round-trip form, as text output prints numbers: the
 * fewest significant digits (1 to 17) that strtod reads back as exactly v,
 * so 0.3 prints as 0.3, not 0.29999999999999999; "nan", "inf", "-inf".
 * Returns buf. */
#define SHORTEST_LEN 32
const char *shortest(double v, char buf[SHORTEST_LEN]);

/* ---------------------------------------------------------------- tables */

/* "[1, 0]" (a matrix) or "[2]" (a vector): element `flat` of shape s. */
void index_text(char *buf, size_t size, const ag_expr_shape *s, int64_t flat);

/* A tensor as nested lists, [[1, 2], [3, 4]], numbers in text's shortest
 * form or as JSON numbers; a scalar as a plain number. */
void print_tensor(FILE *out, const ag_expr_shape *s, const double *v);
void json_tensor(FILE *out, const ag_expr_shape *s, const double *v);

/* The gradient by `name` of shape s as a table: each row's autodiff values,
 * then its finite differences, then ok or MISMATCH (ok[i] per element). */
void print_grad_table(FILE *out, const char *name, const ag_expr_shape *s, const double *ad,
                      const double *fd, const bool *ok);

#endif
