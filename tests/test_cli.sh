#!/usr/bin/env bash
# The tapegrad command: each option, each exit status, valid JSON.
# usage: tests/test_cli.sh PATH/TO/tapegrad
set -u
TG=${1:?usage: test_cli.sh PATH/TO/tapegrad}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0

# run EXPECTED_STATUS ARGS...: runs tapegrad, keeping stdout and stderr.
run() {
    local want=$1; shift
    "$TG" "$@" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: tapegrad $* exited $got, expected $want"
        sed 's/^/  out: /' "$TMP/out" | head -20
        sed 's/^/  err: /' "$TMP/err" | head -20
        fail=$((fail + 1))
        return 1
    fi
    pass=$((pass + 1))
}

# has FILE TEXT: the file contains the text (fixed string).
has() {
    if grep -qF -- "$2" "$TMP/$1"; then pass=$((pass + 1)); else
        echo "FAIL: $1 lacks '$2'"; sed 's/^/  | /' "$TMP/$1" | head -20; fail=$((fail + 1)); fi
}

# lacks FILE TEXT: the file does not contain the text.
lacks() {
    if grep -qF -- "$2" "$TMP/$1"; then
        echo "FAIL: $1 has '$2'"; sed 's/^/  | /' "$TMP/$1" | head -20; fail=$((fail + 1)); else pass=$((pass + 1)); fi
}

# json_ok: stdout is one valid JSON object; extra python checks as $1.
json_ok() {
    if command -v python3 >/dev/null; then
        if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); ${1:-pass}" "$TMP/out"; then
            pass=$((pass + 1))
        else
            echo "FAIL: invalid JSON or failed check: ${1:-}"; cat "$TMP/out"; fail=$((fail + 1))
        fi
    else
        has out '"value": '
    fi
}

# --- help, version, usage -------------------------------------------------
run 0 --help && has out "--expect NAME=FORMULA" && has out "EXIT STATUS" && has out "EXAMPLES" \
    && has out "max(a, b)    d max(a,b)/da" && has out "gelu(x)"
run 0 grad --help && has out "--order 2"
run 0 --version && has out "tapegrad 0."
run 2 && has err "usage:"
run 2 frobnicate && has err "unknown command 'frobnicate'"
run 2 grad && has err "missing PROGRAM"
run 2 grad 'x' x=1 --frob && has err "unknown option '--frob'"
run 2 grad -x^2 x=1 && has err "'--'"
run 2 grad 'x' x=1 --order 3 && has err "--order takes 1 or 2"
run 2 grad 'x' x=1 --order && has err "needs a value"
run 2 grad 'x' x=1 --points -1
run 2 grad 'x' x=1 --range 3:1 && has err "LO:HI"
run 2 grad 'x' x=1 --json=1 && has err "takes no value"

# --- default output -------------------------------------------------------
run 0 grad 'exp(x^2)' x=0.5 && has out "value: 1.2840254166877414" && has out "d/dx" \
    && has out "check: ok"
run 0 grad 'u = x*y; v = sin(x); u + v' x=1 y=2 && has out "d/dy" && has out "= 2"
run 0 grad -- '-x^2' x=3 && has out "value: -9"
run 0 grad 'x^2' 'x=pi/4' && has out "value: 0.6168502750680849"
# text prints the shortest form that reads back exactly; JSON keeps 17 digits
run 0 grad 'x' x=0.3 && has out "value: 0.3" && has out "d/dx      = 1  "
run 0 grad 'x*y' x=0.1 y=3 && has out "value: 0.30000000000000004" && has out "= 0.1 "
run 0 grad 'x' x=0.3 --json && has out '"value": 0.29999999999999999'
run 1 grad 'x' x=1 --expect 'x=0.3' --points 0 && has out "autodiff 1, expected 0.3"
run 0 grad '2^3^2' && has out "value: 512"
run 0 grad 'x = x + 1; x * x' x=2 && has out "value: 9"

# --- values and names ------------------------------------------------------
run 2 grad 'x * y' x=1 && has err "input 'y' has no value"
# an input the program does not use: gradient 0 and a note (allow_unused)
run 0 grad 'x' x=1 z=2 && has err "note: the program does not use 'z': its gradient is 0" \
    && has out "d/dz      = 0" && has out "not used by the program" && has out "check: ok"
run 0 grad 'z' x=0.3 y=1 z=2 && has out "d/dx      = 0" && has out "d/dy      = 0" && has out "d/dz      = 1"
run 0 grad 'z' x=0.3 z=2 --json \
    && json_ok 'assert d["grad"] == {"z": 1, "x": 0} and d["unused"] == ["x"] and d["check"]["ok"]'
run 0 grad '2' x=5 && has out "d/dx      = 0" && has out "check: ok"
run 2 grad 'x' x=1 z=2 z=3 && has err "input 'z' is given twice"
# no inputs at all: evaluated, nothing differentiated, no check claimed
run 0 grad '2 + pi' && has out "value: 5.141592653589793" && has out "nothing was differentiated" \
    && lacks out "check: ok"
run 0 grad '2 + pi' --json && json_ok 'assert d["check"] is None and d["grad"] == {}'
# a binding shadows a constant from its statement on, with a note
run 0 grad 'c = a + b; e = c - a; e * 2' a=1 b=2 && has out "value: 4" && has out "d/db      = 2" \
    && has err "note: 'e' is bound at line 1, column 12"
run 0 grad 'e = e + x; e' x=1 && has out "value: 3.718281828459045"
run 2 grad 'exp = 3; exp' && has err "cannot bind 'exp': it is a function"
# --file F, '-' for standard input; positionals are then all NAME=VALUE
printf 'a = x^2  # a comment\nexp(a)\n' > "$TMP/prog.tg"
run 0 grad --file "$TMP/prog.tg" x=0.5 && has out "value: 1.2840254166877414"
run 0 grad x=2 --file="$TMP/prog.tg" && has out "d/dx"
if printf 'x*y' | "$TG" grad --file - x=2 y=3 >"$TMP/out" 2>"$TMP/err"; then pass=$((pass + 1)); else
    echo "FAIL: --file - (stdin)"; fail=$((fail + 1)); fi
has out "value: 6"
run 2 grad --file "$TMP/none.tg" x=1 && has err "cannot read --file" && has err "No such file"
run 2 grad --file "$TMP" x=1 && has err "cannot read --file"
run 2 grad --file "$TMP/prog.tg" --file "$TMP/prog.tg" && has err "--file is given twice"
run 2 grad --file && has err "needs a value"
printf 'x\0+1' > "$TMP/nul.tg"
run 2 grad --file "$TMP/nul.tg" x=1 && has err "NUL byte"
printf 'x +' > "$TMP/bad.tg"
run 2 grad --file "$TMP/bad.tg" x=1 && has err "parse error"
run 2 grad 'x' x=1 x=2 && has err "given twice"
run 2 grad 'x' x=abc && has err "value of x"
run 2 grad 'x' x=1+ && has err "value of x"
run 2 grad 'x' x && has err "NAME=VALUE"

# --- parse errors ------------------------------------------------------------
run 2 grad 'x +* 2' x=1 && has err "line 1, column 4" && has err "  x +* 2" \
    && has err "     ^" && has err "expected:"
run 2 grad 'foo(x)' x=1 && has err "unknown function 'foo'"
run 2 grad 'y = 2*x
z = (y' x=1 && has err "line 2" && has err "never closed"
run 2 grad 'y = x' x=1 && has err "ends with a binding of 'y'"

# --- domain problems --------------------------------------------------------
run 1 grad 'log(x)' x=-1 && has out "value: nan" && has out "'log' at line 1, column 1"
run 1 grad 'a = x - 1; b = sqrt(a); b' x=0 && has out "'sqrt' (bound to b) at line 1, column 16"
run 1 grad '1/x' x=0 && has out "'/'"
run 1 grad 'relu(x)' x=0 && has out "MISMATCH" && has out "kink"

# --- --json -------------------------------------------------------------------
run 0 grad 'exp(x^2)' x=0.5 --json
json_ok "assert d['value'] == 1.2840254166877414 and d['check']['ok'] is True and set(d['grad']) == {'x'} and 'max_abs_err' in d['check'] and 'max_rel_err' in d['check']"
has out '"value": 1.2840254166877414'
run 0 grad 'x*y' x=0.1 y=3 --json
json_ok "assert d['grad']['y'] == 0.1 and d['grad']['x'] == 3"
has out '"y": 0.10000000000000001' # 17 significant digits round-trip
run 1 grad 'log(x)' x=-1 --json
json_ok "assert d['value'] == 'NaN' and d['check']['ok'] is False and d['first_nonfinite']['op'] == 'log'"
run 1 grad '1/x' x=0 --json
json_ok "assert d['value'] == 'Infinity'"
run 0 grad 'u = x*y; v = sin(x); u + v' x=1 y=2 --order 2 --json
json_ok "import math; h=d['hessian']; assert abs(h['x']['x'] + math.sin(1)) < 1e-12 and h['x']['y'] == 1 and h['y']['x'] == 1 and h['y']['y'] == 0 and d['hessian_check']['ok']"
run 0 grad 'exp(x^2)' x=0.5 --expect 'x=2*x*exp(x^2)' --json
json_ok "e=d['expect'][0]; assert e['name']=='x' and e['ok'] and e['points']==101 and e['disagreement'] is None"
run 1 grad 'x^3' x=1 --expect 'x=3*x' --json
json_ok "e=d['expect'][0]; m=e['disagreement']; assert not e['ok'] and m['at']['x'] != 1 and abs(m['autodiff'] - 3*m['at']['x']**2) < 1e-12 and abs(m['expected'] - 3*m['at']['x']) < 1e-12"

# --- --order 2 ----------------------------------------------------------------
run 0 grad 'x^2*y' x=3 y=2 --order 2 && has out "hessian" && has out "hessian check: ok"
run 0 grad 'x + y' x=1 y=2 --order 2 && has out "hessian check: ok"

# --- --expect -----------------------------------------------------------------
run 0 grad 'exp(x^2)' x=0.5 --expect 'x=2*x*exp(x^2)' \
    && has out "agrees at the given point and 100 random points"
run 0 grad 'x*y + sin(y)' x=1 y=2 --expect 'x=y' --expect 'y=x+cos(y)' --points 20 \
    && has out "20 random points"
run 1 grad 'x^3' x=1 --expect 'x=3*x' && has out "DISAGREES at x = " && has out "autodiff" \
    && has out "expected"
run 1 grad 'x^2' x=1 --expect 'x=x' --points 0 && has out "DISAGREES at x = 1" \
    && has out "autodiff 2, expected 1"
run 0 grad 'x^2' x=1 --expect 'x=2*x' --range -5:5 --points 7 --seed 9
run 0 grad 'log(x)' x=1 --expect 'x=1/x' --range -3:3  # NaN where both are NaN agrees
run 2 grad 'x^2' x=1 --expect 'x=2*z' && has err "unknown name 'z'"
run 2 grad 'x^2' x=1 --expect 'y=2' && has err "'y' is neither an input nor a binding"
run 2 grad 'a = x^2; a' x=1 --expect 'x=2*q' && has err "unknown name 'q'" && has err "bound: a"
# formulas may use the program's bound names, and NAME may be an intermediate
run 0 grad 'z = w*x + b; a = sigmoid(z); (a - y)^2' w=0.5 x=2 b=0.1 y=1 \
    --expect 'w=2*(a-y)*a*(1-a)*x' --expect 'a=2*(a-y)' --expect 'z=2*(a-y)*a*(1-a)' \
    && has out "expect d/da = 2*(a-y): agrees" && has out "expect d/dz = 2*(a-y)*a*(1-a): agrees"
run 1 grad 'a = x^2; exp(a)' x=0.5 --expect 'a=a*exp(a)' --points 0 && has out "expect d/da = a*exp(a): DISAGREES"
run 0 grad 'a = x^2; a = a + 1; exp(a)' x=0.5 --expect 'a=exp(a)' --points 5  # the last binding
run 0 grad 'x = x + 1; x * x' x=2 --expect 'x=2*(x+1)'  # an input that is rebound means the input
run 0 grad 'a = x^2; exp(a)' x=0.5 --expect 'a=exp(a)' --json \
    && json_ok "e=d['expect'][0]; assert e['name']=='a' and e['ok'] and e['points']==101"

# scalar inputs, a tensor binding: d/dv by element, and a formula using v
run 0 grad 'v = x*[1, 2]; sum(v^2)' x=0.5 --expect 'v=2*v' --expect 'x=10*x' && lacks out "DISAGREES"
run 1 grad 'v = x*[1, 2]; sum(v^2)' x=0.5 --expect 'v=v' && has out "2 of 2 elements disagree"

run 0 grad 'sum(x)' 'x=[1, 2]' 'z=[[3, 4]]' --json && has err "does not use 'z'"
json_ok "assert d['grad']['z']==[[0, 0]] and d['grad']['x']==[1, 1]"

# --- the seeds of backprop, checked from the command line ----------------------
# the sigmoid's derivative s(1 - s)
run 0 grad 's = sigmoid(x); s' x=0.7 --expect 'x=s*(1-s)'
# binary cross-entropy of a sigmoid against y: s - y
run 0 grad 's = sigmoid(z); -(y*log(s) + (1-y)*log(1-s))' z=0.4 y=1 --expect 'z=s-y' --range 0.1:0.9
# softmax + cross-entropy (label 2 of 3): p - onehot
run 0 grad 'm = exp(z1) + exp(z2) + exp(z3); p1 = exp(z1)/m; p2 = exp(z2)/m; p3 = exp(z3)/m; -log(p2)' \
    z1=0.1 z2=-0.5 z3=1.2 --expect 'z1=p1' --expect 'z2=p2-1' --expect 'z3=p3'
# the output-layer delta 2(a - y)·g'(z)·a_prev
run 0 grad 'z = w*a0 + b; a = tanh(z); (a - y)^2' w=0.3 a0=0.8 b=-0.1 y=0.5 \
    --expect 'w=2*(a-y)*(1-a^2)*a0' --expect 'b=2*(a-y)*(1-a^2)' --expect 'z=2*(a-y)*(1-a^2)'
# the hidden-layer delta sums over the output nodes
run 0 grad 'h = sigmoid(v*x); o1 = w1*h; o2 = w2*h; (o1 - y1)^2 + (o2 - y2)^2' \
    v=0.4 x=1.5 w1=0.7 w2=-1.1 y1=0.2 y2=0.9 \
    --expect 'h=2*(o1-y1)*w1 + 2*(o2-y2)*w2' --expect 'v=(2*(o1-y1)*w1 + 2*(o2-y2)*w2)*h*(1-h)*x'
run 1 grad 'h = sigmoid(v*x); o1 = w1*h; o2 = w2*h; (o1 - y1)^2 + (o2 - y2)^2' \
    v=0.4 x=1.5 w1=0.7 w2=-1.1 y1=0.2 y2=0.9 --expect 'h=2*(o1-y1)*w1' --points 0 \
    && has out "DISAGREES"  # one path alone is not the derivative
run 2 grad 'x^2' x=1 --expect '2*x' && has err "NAME=FORMULA"
run 2 grad 'x^2' x=1 --expect 'x=2*' && has err "formula for x" && has err "^"
run 1 grad 'x^2' x=1 --expect 'x=2*x+1e-6' --rtol 0 --atol 0
run 0 grad 'x^2' x=1 --expect 'x=2*x+1e-6' --atol 1e-5

# --- --trace, --dot, --svg, --png --------------------------------------------
run 0 grad 'exp(x^2)' x=0.5 --trace && has out "value: "
# unnamed nodes are named by their source text, never by a bare id
run 0 grad 'exp(x^2)' x=0.5 --trace && has out "n2    x^2" && has out "∂exp(x^2)/∂x = 1.28403" \
    && lacks out "∂n3" && lacks out "∂n2"
run 0 grad 'o = tanh(w*x + b); (o-y)^2' w=0.5 x=1 b=0.1 y=1 --trace \
    && has out "from the seed ∂((o - y)^2)/∂((o - y)^2) = 1" && has out "to w*x + b:" \
    && has out "∂((o - y)^2)/∂(w*x) = -0.65885"
# user-facing op names: (o - y)^2 and its local derivative 2·(o - y), not
# pow_c(o - y, 2) and 2·(o - y)^(2-1); no doubled parentheses
run 0 grad 'o = tanh(w*x + b); (o-y)^2 + o^3' w=0.5 x=2 b=0.1 y=1 --trace \
    && has out "n9    (o - y)^2        n8^2      0.0398006" && has out "step 3  (o - y)^2" \
    && has out "∂((o - y)^2)/∂(o - y) = 2·(o - y) = -0.399002" && has out "∂(o^3)/∂o = 3·o^2 = 1.9224" \
    && has out "step 5  o = tanh(w*x + b)" \
    && has out "∂tanh(w*x + b)/∂(w*x + b) = 1 - tanh(w*x + b)^2 = 0.359201" \
    && has out "∂(w*x)/∂w = x = 2" && lacks out "pow_c" && lacks out "mul(" && lacks out "(2-1)" \
    && lacks out "tanh(("
run 0 grad 'b = a + a; c = b * b; c' a=3 --trace --ascii
run 0 grad 'exp(x^2)' x=0.5 --trace --json
json_ok
run 0 grad 'z = x^2; exp(z)' x=0.5 --dot "$TMP/g.dot" && has out "value: "
if grep -q "digraph" "$TMP/g.dot"; then pass=$((pass + 1)); else echo "FAIL: no DOT"; fail=$((fail + 1)); fi
run 2 grad 'x' x=1 --dot "$TMP/no/such/dir/g.dot" && has err "cannot write"
if command -v dot >/dev/null; then
    run 0 grad 'exp(x^2)' x=0.5 --svg "$TMP/g.svg" && has g.svg "<svg"
    # the picture's boxes carry the trace's ids (n1 is x, n2 is x^2)
    has g.svg '<g id="n2" class="node">' && has g.svg '>x^2<' && lacks g.svg 'pow_c'
    run 0 grad 'o = tanh(w*x + b); (o-y)^2' w=0.5 x=1 b=0.1 y=1 --svg "$TMP/g.svg" \
        && has g.svg '>o = tanh(w*x + b)<' && has g.svg '>w = input<' && lacks g.svg '>mul' 
    run 0 grad 'exp(x^2)' x=0.5 --png "$TMP/g.png"
    [ -s "$TMP/g.png" ] && pass=$((pass + 1)) || { echo "FAIL: empty PNG"; fail=$((fail + 1)); }
fi
mkdir -p "$TMP/nodot"
# --html: the chain-rule explorer page (tests/test_explorer.py drives it in
# a browser); self-contained, the JSON trace embedded, the trace's ids
run 0 grad 'a*b + b^3' a=2 b=3 --html "$TMP/e.html" && has out "value: 33" \
    && has e.html '<script type="application/json" id="trace-data">' && has e.html '"grad": 29' \
    && has e.html '"id": "n2"' && lacks e.html '<script src' && lacks e.html '<link' && lacks e.html 'https://'
if command -v dot >/dev/null; then has e.html 'data-layout="graphviz"' && has e.html '<g id="n4" class="node">'; fi
PATH="$TMP/nodot" "$TG" grad 'a*b' a=2 b=3 --html "$TMP/e2.html" >/dev/null 2>&1
has e2.html 'data-layout="layered"'
# with --trace the text comes from the same sweep; with --json the JSON still goes to stdout
run 0 grad 'a*b + b^3' a=2 b=3 --html "$TMP/e.html" --trace && has out "step 4  b   (input, a leaf)" \
    && has out "= 29"
run 0 grad 'a*b + b^3' a=2 b=3 --html="$TMP/e.html" --json
json_ok "assert d['grad'] == {'a': 3, 'b': 29}"
run 2 grad 'x' x=1 --html "$TMP/no/such/dir/e.html" && has err "--html: cannot write" && has err "no/such/dir"
run 2 grad 'x' x=1 --html && has err "'--html' needs a value"
run 2 --html "$TMP/e.html" && has err "--html is an option of 'tapegrad grad'"
run 2 --version --html="$TMP/e.html" && has err "not of '--version'"
run 0 --help && has out "--html FILE"

# Without Graphviz on the PATH, --svg and --png are a clear error (status 2).
PATH="$TMP/nodot" run 2 grad 'exp(x^2)' x=0.5 --svg "$TMP/g2.svg" && has err "graphviz"
PATH="$TMP/nodot" run 2 grad 'exp(x^2)' x=0.5 --png "$TMP/g2.png" && has err "graphviz"

# --- tensors: literals, shapes, tables ----------------------------------------
run 0 grad 'sum(W @ x)' 'W=[[0.1, 0.2], [0.3, 0.4]]' 'x=[1,2]' && has out "d/dW, shape (2, 2)" \
    && has out "d/dx, shape (2)" && has out "check: ok"
run 0 grad 'sum(W @ x)' 'W=[[0.1, 0.2], [0.3, 0.4]]' 'x=[1,2]' --json
json_ok "g=d['grad']; assert g['W']==[[1,2],[1,2]] and abs(g['x'][0]-0.4)<1e-15 and abs(g['x'][1]-0.6)<1e-15"
run 2 grad 'W @ x' 'W=[[1, 2], [3, 4]]' 'x=[1, 2]' \
    && has err "the output has shape (2); grad needs a scalar: use sum(...) or the jacobian subcommand"
run 2 grad 'sum(W @ x)' 'W=[[1, 2], [3, 4]]' 'x=[1, 2, 3]' && has err "matmul" && has err "[2, 2]" && has err "[3]"
run 2 grad 'sum(x)' 'x=[[1, 2], [3]]' && has err "ragged tensor literal" && has err "column 10"
run 2 grad 'sum(x)' 'x=[1, 2]' --order 2 && has err "scalar inputs only"
run 2 grad 'sum(x)' 'x=[1, 2]' --expect 'x=[1, 1, 1]' && has err "the formula has shape (3), but d/dx has shape (2)"

# --- the seeds of backprop: each identity checked, and a wrong one refused ----------
# the sigmoid derivative s(1 - s), scalar and elementwise
run 0 grad 's = sigmoid(z); s' z=0.3 --expect 'z=s*(1-s)' && has out "agrees"
run 1 grad 's = sigmoid(z); s' z=0.3 --expect 'z=s*(1+s)' && has out "DISAGREES"
run 0 grad 's = sigmoid(z); sum(s)' 'z=[0.3, -1, 2]' --expect 'z=s*(1-s)' && has out "agrees"
run 1 grad 's = sigmoid(z); sum(s)' 'z=[0.3, -1, 2]' --expect 'z=s*(1-s)*[1, 1, 1.01]' \
    && has out "1 of 3 elements disagree; the worst, [2]"
# binary cross-entropy of a sigmoid against y: dL/dz = s - y
run 0 grad 's = sigmoid(z); -(y*log(s) + (1-y)*log(1-s))' z=0.4 y=1 --expect 'z=s - y' && has out "agrees"
run 1 grad 's = sigmoid(z); -(y*log(s) + (1-y)*log(1-s))' z=0.4 y=1 --expect 'z=y - s' && has out "DISAGREES"
# softmax + cross-entropy: dCE/dz = p - onehot(y)
run 0 grad 'p = softmax(z); -sum(onehot(1, 3) * log(p))' 'z=[0.5, -1, 2]' --expect 'z=p - onehot(1, 3)' \
    && has out "agrees"
run 1 grad 'p = softmax(z); -sum(onehot(1, 3) * log(p))' 'z=[0.5, -1, 2]' --expect 'z=p - onehot(2, 3)' \
    && has out "2 of 3 elements disagree"
run 0 grad --expect 'z=softmax(z) - onehot(1, 3)' -- '-sum(onehot(1, 3) * log_softmax(z))' 'z=[0.5, -1, 2]'
# d||Wx - y||^2/dW = 2(Wx - y)x', x and y column vectors; the intermediate r too
LS=(grad 'r = W @ x - y; sum(r^2)' 'W=[[0.1, 0.2], [0.3, 0.4]]' 'x=[[1], [2]]' 'y=[[0.5], [-1]]')
run 0 "${LS[@]}" --expect "W=2*r @ x'" --expect 'r=2*r' && has out "expect d/dW = 2*r @ x': agrees"
run 1 "${LS[@]}" --expect "W=r @ x'" && has out "DISAGREES"
run 0 "${LS[@]}" --expect "W=2*r @ x'" --json
json_ok "e=d['expect'][0]; assert e['ok'] and e['points']==101 and len(d['grad']['W'])==2"
run 1 "${LS[@]}" --expect "W=r @ x'" --json
json_ok "m=d['expect'][0]['disagreement']; assert len(m['index'])==2 and m['elements_disagreeing']>=1 and len(m['at']['W'])==2"
# the output-layer delta 2(a - y)·g'(z)·a_prev, one neuron and a layer
run 0 grad 'z = w*h + b; a = sigmoid(z); (a - y)^2' w=0.5 h=0.8 b=0.1 y=1 \
    --expect 'w=2*(a-y)*a*(1-a)*h' --expect 'z=2*(a-y)*a*(1-a)' && has out "expect d/dz"
run 1 grad 'z = w*h + b; a = sigmoid(z); (a - y)^2' w=0.5 h=0.8 b=0.1 y=1 --expect 'w=2*(a-y)*a*(1-a)'
OUT=(grad 'z = W @ h + b; a = sigmoid(z); sum((a - y)^2)' 'W=[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]'
     'h=[[1], [0.5], [-1]]' 'b=[[0.1], [-0.1]]' 'y=[[1], [0]]')
run 0 "${OUT[@]}" --expect "W=(2*(a-y)*a*(1-a)) @ h'" --expect 'b=2*(a-y)*a*(1-a)'
run 1 "${OUT[@]}" --expect "W=((a-y)*a*(1-a)) @ h'" && has out "elements disagree"
# the hidden-layer delta sums over the output nodes
run 0 grad 'h = sigmoid(w1*x); a1 = sigmoid(v1*h); a2 = sigmoid(v2*h); (a1 - y1)^2 + (a2 - y2)^2' \
    x=0.5 w1=0.3 v1=0.7 v2=-0.4 y1=1 y2=0 \
    --expect 'h=2*(a1-y1)*a1*(1-a1)*v1 + 2*(a2-y2)*a2*(1-a2)*v2'
run 1 grad 'h = sigmoid(w1*x); a1 = sigmoid(v1*h); a2 = sigmoid(v2*h); (a1 - y1)^2 + (a2 - y2)^2' \
    x=0.5 w1=0.3 v1=0.7 v2=-0.4 y1=1 y2=0 --expect 'h=2*(a1-y1)*a1*(1-a1)*v1'
# a two-layer network's full gradient in matrix form
NET=(grad 'z1 = W1 @ x + b1; h = sigmoid(z1); z2 = W2 @ h + b2; a = sigmoid(z2); sum((a - y)^2)'
     'W1=[[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]]' 'b1=[[0.1], [0], [-0.1]]' 'x=[[1], [-0.5]]'
     'W2=[[0.3, -0.2, 0.1], [0.4, 0.5, -0.6]]' 'b2=[[0], [0.2]]' 'y=[[1], [0]]')
D2="(2*(a-y)*a*(1-a))"
D1="(W2' @ $D2 * h*(1-h))"
run 0 "${NET[@]}" --expect "W2=$D2 @ h'" --expect "b2=$D2" --expect "z1=$D1" \
    --expect "W1=$D1 @ x'" --expect "b1=$D1" && has out "expect d/dW1" && lacks out "DISAGREES"
run 1 "${NET[@]}" --expect "z1=(W2' @ $D2)" && has out "DISAGREES"

# --- jacobian: one reverse sweep per output element ---------------------------
run 0 jacobian 'softmax(z)' 'z=[0.5, -1, 2]' && has out "output shape (3)" && has out "out[2]" && has out "check: ok"
run 0 jacobian 'softmax(z)' 'z=[0.5, -1, 2]' --json
json_ok "import math; z=[0.5,-1,2]; s=sum(map(math.exp,z)); p=[math.exp(v)/s for v in z]; J=d['jacobian']['z']; assert d['check']['ok'] and all(abs(J[i][j]-(p[i]*((i==j)-p[j])))<1e-15 for i in range(3) for j in range(3))"
run 0 jacobian 'W @ x' 'W=[[1, 2], [3, 4]]' 'x=[1, 2]' --json
json_ok "J=d['jacobian']; assert d['shape']==[2] and J['W']==[[[1,2],[0,0]],[[0,0],[1,2]]] and J['x']==[[1,2],[3,4]]"
run 0 jacobian 'W * 2' 'W=[[1, 2], [3, 4]]' && has out "out[1, 1]"
run 0 jacobian 'x^2' x=3 && has out "[ 6 ] | [ 6 ]  ok"
run 1 jacobian 'relu(x)' 'x=[0, 1]' && has out "MISMATCH"  # the kink: autodiff 0, fd 1/2
run 2 jacobian 'W @ x' 'W=[[1, 2], [3, 4]]' 'x=[1, 2, 3]' && has err "matmul"
run 2 jacobian 'x' x=1 --expect 'x=1' && has err "takes --json and --file only"
# the shared input checks name the subcommand that ran them
run 2 jacobian 'z*2' && has err "tapegrad jacobian: input 'z' has no value" && lacks err "tapegrad grad"
run 2 jacobian 'x*2' x=1 x=2 && has err "tapegrad jacobian: input 'x' is given twice"
# an unused tensor input: zeros in its shape, in the text as in the JSON
run 0 grad 'sum(x)' 'x=[1, 2]' 'W=[[1, 2], [3, 4]]' && has out "d/dW      = zeros, shape (2, 2)" \
    && has out "not used by the program"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
