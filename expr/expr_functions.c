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

#include <stdio.h>

/* a ^ b with b a constant. */
static ag_tensor *pow_const(ag_tape *t, ag_tensor *a, double b) { return ag_pow_c(t, a, b); }

#define UNARY(name, fn, derivative)                                          \
    {{name, name "(x)", derivative, false}, 1, 1, .unary = fn}
#define BINARY(name, fn, derivative)                                         \
    {{name, name "(a, b)", derivative, false}, 2, 2, .binary = fn}

const ex_fn ex_fns[] = {
    /* operators, loosest first (the parser gives them their precedence) */
    {{"+", "a + b", "d(a+b)/da = 1, d(a+b)/db = 1", true}, 2, 2, .binary = ag_add},
    {{"-", "a - b", "d(a-b)/da = 1, d(a-b)/db = -1", true}, 2, 2, .binary = ag_sub},
    {{"*", "a * b", "d(a*b)/da = b, d(a*b)/db = a", true}, 2, 2, .binary = ag_mul},
    {{"/", "a / b", "d(a/b)/da = 1/b, d(a/b)/db = -a/b^2", true}, 2, 2, .binary = ag_div},
    {{"-", "-x", "d(-x)/dx = -1", true}, 1, 1, .unary = ag_neg},
    {{"^", "a ^ b", "d(a^b)/da = b*a^(b-1), d(a^b)/db = a^b*log(a)", true}, 2, 2, .binary = ag_pow,
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
    {{"atan2", "atan2(y, x)", "d atan2(y,x)/dy = x/(x^2+y^2), d/dx = -y/(x^2+y^2)", false}, 2, 2,
     .binary = ag_atan2},
    {{"pow", "pow(a, b)", "the same as a ^ b", false}, 2, 2, .binary = ag_pow, .binary_const = pow_const},
    BINARY("max", ag_maximum, "d max(a,b)/da = [a > b] (1/2 at a tie)"),
    BINARY("min", ag_minimum, "d min(a,b)/da = [a < b] (1/2 at a tie)"),
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

ag_tensor *ex_fn_call(const ex_fn *f, ag_tape *t, ag_tensor *const *args, int nargs, bool last_const) {
    if (f->binary_const && nargs == 2 && last_const) return f->binary_const(t, args[0], ag_item(args[1]));
    if (f->unary) return f->unary(t, args[0]);
    if (f->binary) return f->binary(t, args[0], args[1]);
    return f->call(t, args, nargs);
}
