/* tapegrad: the command-line derivation checker and chain-rule teacher.
 * This file holds the entry point, --help and --version; `grad` lives in
 * grad_cmd.c. */
#include "cli.h"

#include <signal.h>
#include <string.h>

int grad_main(int argc, char **argv);
int jacobian_main(int argc, char **argv);

const char *cli_command = "grad";

void print_usage_hint(FILE *out) {
    fprintf(out, "usage: tapegrad grad [OPTIONS] [--] PROGRAM [NAME=VALUE ...]\n"
                 "       tapegrad jacobian [--json] [--] PROGRAM [NAME=VALUE ...]\n"
                 "       (OPTIONS include --trace, --svg FILE, --html FILE; see --help)\n"
                 "       tapegrad --help | --version\n");
}

void print_help(FILE *out) {
    fputs(
        "tapegrad " AG_VERSION_STRING " - check derivatives and watch the chain rule work\n"
        "\n"
        "usage: tapegrad grad [OPTIONS] [--] PROGRAM [NAME=VALUE ...]\n"
        "       tapegrad grad [OPTIONS] --file F [NAME=VALUE ...]\n"
        "       tapegrad jacobian [--json] [--file F] [--] PROGRAM [NAME=VALUE ...]\n"
        "       tapegrad --help | --version\n"
        "\n"
        "`grad` evaluates PROGRAM at the given point, differentiates it in reverse mode\n"
        "(autodiff on a tape), and checks every partial derivative against central\n"
        "finite differences. Its output must be a scalar (sum(...) one that is not).\n"
        "`jacobian` takes a program with a vector or matrix output and gives\n"
        "d out[i] / d input for every output element i (one reverse sweep each),\n"
        "checked against central finite differences (exit status as for grad).\n"
        "\n"
        "PROGRAM\n"
        "  Statements separated by ';' or new lines; every one but the last binds a\n"
        "  name (name = expr, rebinding allowed: a use sees the newest earlier binding);\n"
        "  the last is the output expression. Names used before any binding are the\n"
        "  inputs, each given as NAME=VALUE (VALUE may be a constant formula: x=pi/4).\n"
        "  A name the program does not use gets the gradient 0 (with a note); a\n"
        "  program without inputs is evaluated and says nothing was differentiated.\n"
        "  Operators, loosest first: + -, * /, unary -, ^ (right-associative, so\n"
        "  -x^2 = -(x^2) and 2^3^2 = 512). Numbers like 3, 0.5, 1e-3; parentheses;\n"
        "  the FUNCTIONS below; constants pi and e (a binding may shadow them from\n"
        "  its statement on, with a note); '#' starts a comment.\n"
        "  Tensors: literals [1, 2] and [[1, 2], [3, 4]], inputs given the same way\n"
        "  (W='[[0.1, 0.2], [0.3, 0.4]]'); A @ B (NumPy matmul, as tight as *);\n"
        "  W' or transpose(W) (a matrix; a column vector is [[1], [2]]); x[0],\n"
        "  W[1, 0], W[1][0] by integer constants; the elementwise operators and\n"
        "  functions broadcast as NumPy does. A shape error names the op and the\n"
        "  shapes (status 2). Tensor gradients print as tables (nested arrays in\n"
        "  JSON) and --expect compares them element by element, naming the worst.\n"
        "\n"
        "OPTIONS (anywhere on the line; '--' ends them, for a program starting with '-')\n"
        "  --file F           read PROGRAM from file F ('-': standard input); every\n"
        "                     positional argument is then a NAME=VALUE.\n"
        "  --json             one JSON object: value, grad, check (ok, max_abs_err,\n"
        "                     max_rel_err), plus hessian and hessian_check with\n"
        "                     --order 2, expect with --expect, first_nonfinite when the\n"
        "                     value is NaN or infinite. Numbers have 17 significant\n"
        "                     digits (text output prints each number in its shortest\n"
        "                     form that reads back exactly: 0.3); NaN and infinities\n"
        "                     are the strings \"NaN\",\n"
        "                     \"Infinity\" and \"-Infinity\".\n"
        "  --order 2          also the Hessian, through the recorded (second-order)\n"
        "                     backward, checked against differences of the gradient.\n"
        "  --expect NAME=FORMULA\n"
        "                     your hand-derived d(output)/d(NAME), compared with autodiff\n"
        "                     at the given point and at --points random points; the\n"
        "                     first disagreement is shown with both values. Repeatable.\n"
        "                     NAME may be an input or a bound name (an intermediate:\n"
        "                     d output / d a); FORMULA may use the program's inputs\n"
        "                     and bound names.\n"
        "  --points N         random points for --expect (default 100).\n"
        "  --range LO:HI      where the random points lie (default: each input's value\n"
        "                     plus or minus 2).\n"
        "  --seed N           seed of the random points (default 1).\n"
        "  --rtol R, --atol A tolerances of --expect: it agrees when\n"
        "                     |autodiff - expected| <= A + R * (the larger magnitude)\n"
        "                     (defaults 1e-7 and 1e-9; two NaNs agree).\n"
        "  --trace            the chain rule step by step: forward table, then backward\n"
        "                     steps in reverse tape order (to stderr with --json).\n"
        "  --ascii            the trace in ASCII only.\n"
        "  --dot FILE         the graph in Graphviz DOT (op, name, value, gradient).\n"
        "  --svg FILE, --png FILE\n"
        "                     the graph drawn by Graphviz's dot (must be installed).\n"
        "  --html FILE        the chain-rule explorer: one self-contained web page (no\n"
        "                     network) with the graph (laid out by Graphviz where\n"
        "                     installed), every node's value, and a step control (Next\n"
        "                     and Prev, or the arrow keys) walking the backward pass:\n"
        "                     upstream x local = passed on, the sums over paths marked,\n"
        "                     and each input's gradient. With --trace, the trace text\n"
        "                     comes from the same sweep.\n"
        "  -h, --help         this help.\n"
        "\n"
        "The finite-difference check passes when |autodiff - fd| <= 1e-5 + 1e-4*|fd| for\n"
        "every entry (step cbrt(machine epsilon) * max(1, |x|)). Near a kink (abs, relu,\n"
        "max, min at a tie) the two may rightly differ.\n"
        "\n",
        out);
    /* The language's own table (expr.h), with each derivative as the trace
     * shows it. */
    fputs("FUNCTIONS AND OPERATORS (with their derivatives)\n", out);
    for (int i = 0; ag_expr_function_at(i); i++) {
        const ag_expr_function *f = ag_expr_function_at(i);
        fprintf(out, "  %-12s %s\n", f->signature, f->derivative);
    }
    fputs(
        "\n"
        "EXIT STATUS\n"
        "  0  all checks and expectations passed\n"
        "  1  a check or an expectation failed (including a value that is NaN or\n"
        "     infinite: the output names the op that produced it first)\n"
        "  2  usage, parse or evaluation error (parse errors show the line, a caret\n"
        "     under the position, and what was expected)\n"
        "\n"
        "EXAMPLES\n"
        "  tapegrad grad 'exp(x^2)' x=0.5 --expect 'x=2*x*exp(x^2)' --trace\n"
        "  tapegrad grad 'u = x*y; v = sin(x); u + v' x=1 y=2 --order 2 --json\n"
        "  tapegrad grad 'a = x^2; a + a' x=3 --dot graph.dot --svg graph.svg\n"
        "  tapegrad grad 'a*b + b^3' a=2 b=3 --html explorer.html\n"
        "  tapegrad grad -- '-x^2' x=3\n"
        "  tapegrad grad 'log(x)' x=-1          # NaN, and which op made it\n",
        out);
}

int main(int argc, char **argv) {
    /* A renderer that exits early must not kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        print_usage_hint(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    /* --html belongs to grad (the explorer steps a scalar backward pass):
     * elsewhere it is an error, not an ignored option. */
    if (strcmp(cmd, "grad") != 0) {
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--")) break;
            if (!strcmp(argv[i], "--html") || !strncmp(argv[i], "--html=", 7)) {
                fprintf(stderr, "tapegrad: --html is an option of 'tapegrad grad' (the chain-rule "
                                "explorer), not of '%s'\n", cmd);
                print_usage_hint(stderr);
                return EXIT_ERROR;
            }
        }
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("tapegrad %s\n", AG_VERSION_STRING);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "grad")) return grad_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "jacobian")) {
        cli_command = "jacobian";
        return jacobian_main(argc - 1, argv + 1);
    }
    fprintf(stderr, "tapegrad: unknown command '%s'\n", cmd);
    print_usage_hint(stderr);
    return EXIT_ERROR;
}
