/* The elementwise binary ops' rules, each written once: y = F(a, b) with
 * its local partials, the trace formula and the partials as graph ops. The
 * includer defines AG_BINARY_OP(NAME, name, F, DA, DB, FORMULA, VA, VB) and
 * AG_UNARY_OP(NAME, name, F, D, FORMULA, V, VEC) (the scalar-constant forms,
 * none with vector kernels):
 * ops/elementwise.c as AG_DEFINE_BINARY/AG_DEFINE_UNARY (every kernel),
 * backward.c as the sweep's inline scalar kernels and their switch cases.
 * Not include-guarded on purpose. */
/*               op       name      y = F(a, b)    dy/da                         dy/db */
AG_BINARY_OP(    ADD,     add,      a + b,         1.0,                          1.0,
                 "d(a+b)/da = 1, d(a+b)/db = 1",
                 G, G)
AG_BINARY_OP(    SUB,     sub,      a - b,         1.0,                          -1.0,
                 "d(a-b)/da = 1, d(a-b)/db = -1",
                 G, ag_neg(t, G))
AG_BINARY_OP(    MUL,     mul,      a * b,         b,                            a,
                 "d(a*b)/da = b, d(a*b)/db = a",
                 ag_mul(t, G, B), ag_mul(t, G, A))
AG_BINARY_OP(    DIV,     div,      a / b,         1.0 / b,                      -a / (b * b),
                 "d(a/b)/da = 1/b, d(a/b)/db = -a/b^2",
                 ag_div(t, G, B), ag_neg(t, ag_div(t, ag_mul(t, G, Y), B)))
/* pow: d/db is a^b·log a for a > 0, 0 at a = 0 (as PyTorch), NaN for a < 0. */
AG_BINARY_OP(    POW,     pow,      pow(a, b),     b == 0 ? 0.0 : b * pow(a, b - 1),
                 a > 0 ? y * log(a) : (a == 0 ? 0.0 : NAN),
                 "d(a^b)/da = b*a^(b-1), d(a^b)/db = a^b*log(a)",
                 ag_mul(t, G, ag_mul(t, B, ag_pow(t, A, ag_add_c(t, B, -1.0)))),
                 ag_mul(t, ag_mul(t, G, Y),
                        ag_mul(t, safe_log(t, A), ag__vjp_const_map(t, A, pos_or_nan, 0))))
/* maximum/minimum: at a tie the gradient is split, half to each side. */
AG_BINARY_OP(    MAXIMUM, maximum,  a >= b ? a : b, a > b ? 1.0 : (a == b ? 0.5 : 0.0),
                 b > a ? 1.0 : (a == b ? 0.5 : 0.0),
                 "d max(a,b)/da = [a>b], d max(a,b)/db = [b>a] (1/2 at a tie)",
                 ag_mul(t, G, tie_mask(t, Y, A, B, 0)), ag_mul(t, G, tie_mask(t, Y, A, B, 1)))
AG_BINARY_OP(    MINIMUM, minimum,  a <= b ? a : b, a < b ? 1.0 : (a == b ? 0.5 : 0.0),
                 b < a ? 1.0 : (a == b ? 0.5 : 0.0),
                 "d min(a,b)/da = [a<b], d min(a,b)/db = [b<a] (1/2 at a tie)",
                 ag_mul(t, G, tie_mask(t, Y, A, B, 0)), ag_mul(t, G, tie_mask(t, Y, A, B, 1)))
/* atan2(a, b), the angle of the point (b, a): d/da = b/(a^2+b^2), d/db =
 * -a/(a^2+b^2); both NaN at the origin (0/0), as PyTorch. */
AG_BINARY_OP(    ATAN2,   atan2,    atan2(a, b),   b / (a * a + b * b),          -a / (a * a + b * b),
                 "d atan2(a,b)/da = b/(a^2+b^2), d atan2(a,b)/db = -a/(a^2+b^2)",
                 ag_div(t, ag_mul(t, G, B), norm2(t, A, B)), ag_neg(t, ag_div(t, ag_mul(t, G, A), norm2(t, A, B))))

/*              op      name     y = F(x; c)   dy/dx */
AG_UNARY_OP(    ADD_C,  add_c,   x + c,        1.0,                       "d(x+c)/dx = 1",
                G, AG_NO_VEC)
AG_UNARY_OP(    RSUB_C, rsub_c,  c - x,        -1.0,                      "d(c-x)/dx = -1",
                ag_neg(t, G), AG_NO_VEC)
AG_UNARY_OP(    MUL_C,  mul_c,   x * c,        c,                         "d(x*c)/dx = c",
                ag_mul_c(t, G, C), AG_NO_VEC)
AG_UNARY_OP(    RDIV_C, rdiv_c,  c / x,        -c / (x * x),              "d(c/x)/dx = -c/x^2",
                ag_neg(t, ag_div(t, ag_mul(t, G, Y), X)), AG_NO_VEC)
AG_UNARY_OP(    POW_C,  pow_c,   pow(x, c),    c == 0 ? 0.0 : c * pow(x, c - 1),
                "d(x^c)/dx = c*x^(c-1)",
                C == 0 ? ag_mul_c(t, G, 0.0) : ag_mul_c(t, ag_mul(t, G, ag_pow_c(t, X, C - 1)), C), AG_NO_VEC)
AG_UNARY_OP(    RPOW_C, rpow_c,  pow(c, x),    y * log(c),                "d(c^x)/dx = c^x*log(c)",
                ag_mul_c(t, ag_mul(t, G, Y), log(C)), AG_NO_VEC)
