/* The expression language's operators and functions: one table, from which
 * the parser (names, argument counts), the graph builder (the engine
 * function each calls), the error messages (what was expected) and
 * `tapegrad --help` (ag_expr_function_at) are all derived. Adding a
 * function is adding its row.
 *
 * A name may have several rows with different argument counts (the first
 * row whose [min_args, max_args] holds the count is taken), and a row may
 * take optional trailing arguments (max_args > min_args) through a general
 * engine call: room for tensor functions such as sum(x[, axis]). */
#include "expr_internal.h"

#include <math.h>
#include <stdio.h>

/* a ^ b with b a constant. */
static ag_tensor *pow_const(ag_tape *t, ag_tensor *a, double b) { return ag_pow_c(t, a, b); }

void ex_shape_text(char *buf, size_t size, const ag_tensor *x) {
    size_t o = 0;
    int w = snprintf(buf, size, "(");
    for (int i = 0; w >= 0 && i < ag_ndim(x) && (size_t)w + o < size; i++) {
        o += (size_t)w;
        w = snprintf(buf + o, size - o, "%s%lld", i ? ", " : "", (long long)ag_dim(x, i));
    }
    if (w >= 0 && (size_t)w + o < size) snprintf(buf + o + (size_t)w, size - o - (size_t)w, ")");
}

/* Fails the tape for op with "MESSAGE: x has shape (…)"; returns NULL. */
static ag_tensor *shape_fail(ag_tape *t, const char *op, const char *what, const ag_tensor *x) {
    char shape[64], msg[160];
    ex_shape_text(shape, sizeof shape, x);
    snprintf(msg, sizeof msg, "%s, got shape %s", what, shape);
    ag_tape_fail(t, AG_ERR_SHAPE, op, msg);
    return NULL;
}

/* The integer a constant argument holds (an axis, a count), or false with
 * the tape failed for op. */
static bool const_int(ag_tape *t, const char *op, const char *what, ag_tensor *x, bool is_const, int *out) {
    char msg[160];
    double v = ag_item(x);
    if (!is_const || ag_ndim(x) != 0 || !(v == floor(v)) || fabs(v) > 1e9) {
        snprintf(msg, sizeof msg, "%s must be an integer constant (a number, not a value computed from "
                 "an input)", what);
        ag_tape_fail(t, AG_ERR_ARG, op, msg);
        return false;
    }
    *out = (int)v;
    return true;
}

/* The optional axis argument of a reduction, dflt when absent. */
static bool axis_arg(ag_tape *t, const char *op, ag_tensor *const *args, int nargs, const bool *cst,
                     int dflt, int *axis) {
    *axis = dflt;
    return nargs < 2 || const_int(t, op, "the axis", args[1], cst[1], axis);
}

#define REDUCTION(fname, op, dflt)                                                       \
    static ag_tensor *fname(ag_tape *t, ag_tensor *const *args, int nargs, const bool *lc) {    \
        int axis;                                                                        \
        if (!axis_arg(t, #op, args, nargs, lc, dflt, &axis)) return NULL;                \
        return ag_##op(t, args[0], axis, false);                                         \
    }
REDUCTION(sum_fn, sum, AG_ALL)
REDUCTION(mean_fn, mean, AG_ALL)
REDUCTION(logsumexp_fn, logsumexp, AG_ALL)
REDUCTION(amax_fn, max, AG_ALL)
#undef REDUCTION

static ag_tensor *max_all(ag_tape *t, ag_tensor *x) { return ag_max(t, x, AG_ALL, false); }

static ag_tensor *softmax_fn(ag_tape *t, ag_tensor *const *args, int nargs, const bool *lc) {
    int axis;
    return axis_arg(t, "softmax", args, nargs, lc, -1, &axis) ? ag_softmax(t, args[0], axis) : NULL;
}

static ag_tensor *log_softmax_fn(ag_tape *t, ag_tensor *const *args, int nargs, const bool *lc) {
    int axis;
    return axis_arg(t, "log_softmax", args, nargs, lc, -1, &axis) ? ag_log_softmax(t, args[0], axis) : NULL;
}

/* W' and transpose(W): a matrix's transpose. A vector has none to give (NumPy
 * would return it unchanged, which hides a missing column vector). */
static ag_tensor *transpose_fn(ag_tape *t, ag_tensor *x) {
    if (ag_ndim(x) != 2)
        return shape_fail(t, "transpose", "transpose takes a matrix (write a column vector as [[1], [2]])", x);
    return ag_transpose(t, x);
}

/* dot(a, b) = sum(a*b) over two vectors of one length. */
static ag_tensor *dot_fn(ag_tape *t, ag_tensor *a, ag_tensor *b) {
    if (ag_ndim(a) != 1 || ag_ndim(b) != 1 || ag_dim(a, 0) != ag_dim(b, 0)) {
        char sa[64], sb[64], msg[200];
        ex_shape_text(sa, sizeof sa, a);
        ex_shape_text(sb, sizeof sb, b);
        snprintf(msg, sizeof msg, "dot takes two vectors of one length, got shapes %s and %s", sa, sb);
        ag_tape_fail(t, AG_ERR_SHAPE, "dot", msg);
        return NULL;
    }
    return ag_matmul(t, a, b);
}

/* norm(x) = sqrt(sum(x^2)), the 2-norm of all elements. */
static ag_tensor *norm_fn(ag_tape *t, ag_tensor *x) {
    return ag_sqrt(t, ag_sum(t, ag_mul(t, x, x), AG_ALL, false));
}

/* onehot(k, n): the vector of n with 1 at k. */
static ag_tensor *onehot_fn(ag_tape *t, ag_tensor *const *args, int nargs, const bool *lc) {
    int k, n;
    (void)nargs;
    if (!const_int(t, "onehot", "k", args[0], lc[0], &k) || !const_int(t, "onehot", "n", args[1], lc[1], &n))
        return NULL;
    if (n < 1 || k < 0 || k >= n) {
        char msg[128];
        snprintf(msg, sizeof msg, "onehot(k, n) needs n >= 1 and 0 <= k < n, got k = %d, n = %d", k, n);
        ag_tape_fail(t, AG_ERR_ARG, "onehot", msg);
        return NULL;
    }
    const int64_t index = k, shape = n;
    ag_tensor *h = ag_one_hot(t, AG_F64, 1, &index, n);
    return ag_reshape(t, h, 1, &shape);
}

#define UNARY(name, fn, derivative)                                          \
    {{name, name "(x)", derivative, false, false}, 1, 1, .unary = fn}
#define BINARY(name, fn, derivative)                                         \
    {{name, name "(a, b)", derivative, false, false}, 2, 2, .binary = fn}

const ex_fn ex_fns[] = {
    /* operators, loosest first (the parser gives them their precedence) */
    {{"+", "a + b", "d(a+b)/da = 1, d(a+b)/db = 1", true, false}, 2, 2, .binary = ag_add},
    {{"-", "a - b", "d(a-b)/da = 1, d(a-b)/db = -1", true, false}, 2, 2, .binary = ag_sub},
    {{"*", "a * b", "d(a*b)/da = b, d(a*b)/db = a", true, false}, 2, 2, .binary = ag_mul},
    {{"/", "a / b", "d(a/b)/da = 1/b, d(a/b)/db = -a/b^2", true, false}, 2, 2, .binary = ag_div},
    {{"@", "A @ B", "matrix product (NumPy matmul): d(A@B)/dA = G B', d(A@B)/dB = A' G", true, true}, 2, 2,
     .binary = ag_matmul},
    {{"-", "-x", "d(-x)/dx = -1", true, false}, 1, 1, .unary = ag_neg},
    {{"^", "a ^ b", "d(a^b)/da = b*a^(b-1), d(a^b)/db = a^b*log(a)", true, false}, 2, 2, .binary = ag_pow,
     .binary_const = pow_const},
    /* functions */
    UNARY("exp", ag_exp, "d exp(x)/dx = exp(x)"),
    UNARY("log", ag_log, "d log(x)/dx = 1/x"),
    UNARY("sqrt", ag_sqrt, "d sqrt(x)/dx = 1/(2 sqrt(x))"),
    UNARY("abs", ag_abs, "d|x|/dx = sign(x) (0 at 0)"),
    UNARY("sin", ag_sin, "d sin(x)/dx = cos(x)"),
    UNARY("cos", ag_cos, "d cos(x)/dx = -sin(x)"),
    UNARY("tan", ag_tan, "d tan(x)/dx = 1 + tan(x)^2"),
    UNARY("tanh", ag_tanh, "d tanh(x)/dx = 1 - tanh(x)^2"),
    UNARY("sigmoid", ag_sigmoid, "d sigmoid(x)/dx = sigmoid(x)(1 - sigmoid(x))"),
    UNARY("relu", ag_relu, "d relu(x)/dx = [x > 0]"),
    UNARY("softplus", ag_softplus, "d softplus(x)/dx = sigmoid(x)"),
    UNARY("gelu", ag_gelu, "d gelu(x)/dx = Phi(x) + x phi(x)"),
    UNARY("erf", ag_erf, "d erf(x)/dx = 2 exp(-x^2)/sqrt(pi)"),
    {{"atan2", "atan2(y, x)", "d atan2(y,x)/dy = x/(x^2+y^2), d/dx = -y/(x^2+y^2)", false, false}, 2, 2,
     .binary = ag_atan2},
    {{"pow", "pow(a, b)", "the same as a ^ b", false, false}, 2, 2, .binary = ag_pow, .binary_const = pow_const},
    {{"max", "max(x)", "the largest element; d/dx_i = [x_i is the max] (shared at a tie)", false, false}, 1, 1,
     .unary = max_all},
    BINARY("max", ag_maximum, "d max(a,b)/da = [a > b] (1/2 at a tie)"),
    BINARY("min", ag_minimum, "d min(a,b)/da = [a < b] (1/2 at a tie)"),
    /* tensors: the axis argument is optional (all elements when absent;
     * softmax and log_softmax: the last axis) */
    {{"sum", "sum(x[, axis])", "d sum(x)/dx_i = 1", false, true}, 1, 2, .call = sum_fn},
    {{"mean", "mean(x[, axis])", "d mean(x)/dx_i = 1/n", false, true}, 1, 2, .call = mean_fn},
    {{"amax", "amax(x[, axis])", "max along an axis; d/dx_i = [x_i is the max]", false, true}, 1, 2, .call = amax_fn},
    {{"logsumexp", "logsumexp(x[, axis])", "d logsumexp(x)/dx = softmax(x)", false, true}, 1, 2,
     .call = logsumexp_fn},
    {{"softmax", "softmax(x[, axis])", "d softmax(x)_i/dx_j = p_i([i = j] - p_j)", false, true}, 1, 2,
     .call = softmax_fn},
    {{"log_softmax", "log_softmax(x[, axis])", "d log_softmax(x)_i/dx_j = [i = j] - p_j", false, true}, 1, 2,
     .call = log_softmax_fn},
    {{"transpose", "transpose(W)", "W' is the same; d/dW passes the transpose back", false, true}, 1, 1,
     .unary = transpose_fn},
    {{"dot", "dot(a, b)", "d dot(a,b)/da = b", false, true}, 2, 2, .binary = dot_fn},
    {{"norm", "norm(x)", "d norm(x)/dx = x/norm(x)", false, false}, 1, 1, .unary = norm_fn},
    {{"onehot", "onehot(k, n)", "a constant: the vector of n with 1 at k (counting from 0)", false, true}, 2, 2,
     .call = onehot_fn},
};
const int ex_nfns = (int)(sizeof ex_fns / sizeof ex_fns[0]);

#undef UNARY
#undef BINARY

const ag_expr_function *ag_expr_function_at(int i) {
    return i >= 0 && i < ex_nfns ? &ex_fns[i].pub : NULL;
}

int ex_fn_find(const char *name, size_t len, bool is_operator, int nargs) {
    for (int i = 0; i < ex_nfns; i++) {
        const ex_fn *f = &ex_fns[i];
        if (f->pub.is_operator != is_operator || strlen(f->pub.name) != len ||
            memcmp(f->pub.name, name, len) != 0)
            continue;
        if (nargs < 0 || (nargs >= f->min_args && nargs <= f->max_args)) return i;
    }
    return -1;
}

void ex_fn_arg_range(const char *name, int *min_args, int *max_args) {
    *min_args = -1, *max_args = -1;
    for (int i = 0; i < ex_nfns; i++) {
        const ex_fn *f = &ex_fns[i];
        if (f->pub.is_operator || strcmp(f->pub.name, name) != 0) continue;
        if (*min_args < 0 || f->min_args < *min_args) *min_args = f->min_args;
        if (f->max_args > *max_args) *max_args = f->max_args;
    }
}

void ex_fn_list(char *buf, size_t size) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < ex_nfns && o + 1 < size; i++) {
        const ex_fn *f = &ex_fns[i];
        if (f->pub.is_operator) continue;
        const bool plain = f->min_args == 1 && f->max_args == 1; /* "exp", not "exp(x)" */
        int w = snprintf(buf + o, size - o, "%s%s", o ? " " : "", plain ? f->pub.name : f->pub.signature);
        if (w < 0) break;
        o += (size_t)w;
    }
}

ag_tensor *ex_fn_call(const ex_fn *f, ag_tape *t, ag_tensor *const *args, int nargs, const bool *cst) {
    if (f->binary_const && nargs == 2 && cst[1] && ag_ndim(args[1]) == 0)
        return f->binary_const(t, args[0], ag_item(args[1]));
    if (f->unary) return f->unary(t, args[0]);
    if (f->binary) return f->binary(t, args[0], args[1]);
    return f->call(t, args, nargs, cst);
}
