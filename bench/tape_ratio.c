/* tape_ratio: the cost of a gradient on the scalar tape, relative to the
 * plain function in doubles.
 *
 *   f(x) = sum_{i=0}^{n-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
 *                          + sin(x_i) exp(-x_i^2),       n = 100000
 *
 * Timed as a user would run it each step: reset the tape, make n scalar
 * leaves, record f, backward, read the n partials; paired with the plain f
 * (bench_paired), two ways of writing f: 13 elementwise ops per term, and
 * one statement per term (<tapegrad/scalar.h>). The leaves are tape leaves,
 * fresh after each reset, so their gradients start at zero every step. A
 * hand-written adjoint gives the best a program can do, and the reference
 * gradient. Peers in the same run: PyTorch (its own ratio, on tensors) and
 * ADOL-C (bench/adolc_peer.cpp: re-taping every call, and reusing its tape),
 * each checked against the hand adjoint. */
#include "bench.h"

#include <tapegrad/autograd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 100000

typedef struct ctx {
    double *x, *g;
    ag_tape *tape;
    ag_status status;
} ctx;

static void run_plain(void *p) {
    ctx *c = p;
    bench_sink = rosen_plain(c->x, N);
}

static void run_hand(void *p) {
    ctx *c = p;
    bench_sink = rosen_hand(c->x, c->g, N);
}

/* f recorded on the tape by `record`, backward, the n partials read. */
static void run_tape_with(ctx *c, ag_tensor *(*record)(ag_tape *, ag_tensor *const *, int)) {
    ag_tape *t = c->tape;
    static ag_tensor *xs[N];
    ag_tape_reset(t);
    for (int i = 0; i < N; i++) xs[i] = ag_requires_grad(t, ag_scalar(t, c->x[i]));
    ag_tensor *sum = record(t, xs, N);
    c->status = sum ? ag_backward(t, sum) : ag_tape_status(t);
    for (int i = 0; i < N; i++) c->g[i] = ag_grad_item(xs[i]);
    bench_sink = ag_item(sum);
}

/* 13 elementwise ops per term (rosen_record), as the function reads. */
static void run_tape(void *p) { run_tape_with(p, rosen_record); }
/* One statement per term (rosen_record_statements, <tapegrad/scalar.h>). */
static void run_statements(void *p) { run_tape_with(p, rosen_record_statements); }

/* Times one form paired with the plain f; fills its row values. */
typedef struct form {
    double ratio, cpu_ratio, ms, rel, bytes_per_scalar, scalars;
    bool ok;
} form;

static form measure(ctx *c, void (*run)(void *), const double *g_hand) {
    form f;
    double t_plain, t_tape;
    f.ratio = bench_paired(run_plain, run, c, 15, 1.0, &t_plain, &t_tape);
    f.cpu_ratio = bench_paired_cpu_ratio();
    ag_tape_stats st = ag_tape_get_stats(c->tape);
    f.ms = t_tape * 1e3;
    f.rel = bench_rel_diff(c->g, g_hand, N);
    f.ok = c->status == AG_OK && f.rel <= 1e-12;
    f.scalars = (double)st.scalars;
    f.bytes_per_scalar = st.scalars ? (double)st.bytes_in_use / (double)st.scalars : NAN;
    if (c->status != AG_OK) fprintf(stderr, "tape_ratio: backward failed: %s\n", ag_tape_error(c->tape));
    return f;
}

void bench_tape_ratio(void) {
    const char *W = "tape_ratio";
    ctx c = {malloc(N * sizeof(double)), malloc(N * sizeof(double)), ag_tape_new(0), AG_OK};
    double *g_hand = malloc(N * sizeof(double));
    if (!c.x || !c.g || !c.tape || !g_hand) {
        fprintf(stderr, "%s: out of memory\n", W);
        return;
    }
    ag_rng r;
    ag_rng_seed(&r, 42);
    for (int i = 0; i < N; i++) c.x[i] = -1.5 + 3 * ag_rng_uniform(&r);

    double t_plain, t_hand;
    double hand_ratio = bench_paired(run_plain, run_hand, &c, 15, 0.5, &t_plain, &t_hand);
    double hand_cpu = bench_paired_cpu_ratio();
    for (int i = 0; i < N; i++) g_hand[i] = c.g[i];
    form ew = measure(&c, run_tape, g_hand);
    form sm = measure(&c, run_statements, g_hand);

    bench_peer torch = bench_run_peer(W);
    bench_peer adolc = bench_run_adolc(c.x, N);
    double adolc_rel = NAN, spilled = 0;
    bench_peer_get(&adolc, "check_rel", &adolc_rel);
    bench_peer_get(&adolc, "spilled", &spilled);
    char anote[160];
    snprintf(anote, sizeof anote, "peer: re-taping every call (its gradient %s%s)",
             adolc_rel <= 1e-12 ? "ok" : "MISMATCH", spilled != 0 ? "; tape spilled to files" : "");

    bench_emit(&torch, &(bench_row){W, "gradient_cost_ratio", ew.ratio, "x", "ratio", 4.3,
                                    "13 elementwise ops/term vs plain C; peer: torch own ratio"});
    bench_emit(&adolc, &(bench_row){W, "gradient_cost_ratio", ew.ratio, "x", "retape_ratio", 4.3,
                                    anote});
    bench_emit(&adolc, &(bench_row){W, "statement_cost_ratio", sm.ratio, "x", "retape_ratio", 4.3,
                                    "1 statement/term (tapegrad/scalar.h); peer: re-taping"});
    bench_emit(&adolc, &(bench_row){W, "statement_cost_ratio", sm.ratio, "x", "reuse_ratio", 4.3,
                                    "peer: reusing its tape (forward + reverse)"});
    bench_emit(NULL, &(bench_row){W, "hand_adjoint_ratio", hand_ratio, "x", NULL, NAN,
                                  "hand-written adjoint vs plain C"});
    bench_emit(&adolc, &(bench_row){W, "gradient_cpu_ratio", ew.cpu_ratio, "x", "retape_cpu_ratio", 4.3,
                                    "the same in thread CPU time (13 ops/term); peer: re-taping"});
    bench_emit(&adolc, &(bench_row){W, "statement_cpu_ratio", sm.cpu_ratio, "x", "reuse_cpu_ratio", 4.3,
                                    "thread CPU time (1 statement/term); peer: reusing its tape"});
    bench_emit(NULL, &(bench_row){W, "hand_adjoint_cpu_ratio", hand_cpu, "x", NULL, NAN,
                                  "thread CPU time"});
    bench_emit(&torch, &(bench_row){W, "gradient_time", ew.ms, "ms", "grad_ms", NAN,
                                    "13 ops/term; peer: 1-D f64 tensors, fwd+bwd"});
    bench_emit(&adolc, &(bench_row){W, "statement_time", sm.ms, "ms", "retape_ms", NAN,
                                    "1 statement/term; peer: re-taping"});
    bench_emit(&torch, &(bench_row){W, "plain_f_time", t_plain * 1e3, "ms", "fwd_ms", NAN,
                                    "peer: torch no-grad forward"});
    bench_emit(NULL, &(bench_row){W, "bytes_per_scalar", ew.bytes_per_scalar, "B", NULL, 24,
                                  "13 ops/term: tape bytes (adjoints too) / scalars"});
    bench_emit(NULL, &(bench_row){W, "statement_bytes_per_term", sm.bytes_per_scalar, "B", NULL,
                                  NAN, "1 statement/term: tape bytes / scalars"});
    bench_emit(NULL, &(bench_row){W, "gradient_rel_diff", ew.rel, "", NULL, 1e-12,
                                  ew.ok ? "ok: 13 ops/term == hand adjoint" : "MISMATCH vs hand adjoint"});
    bench_emit(NULL, &(bench_row){W, "statement_rel_diff", sm.rel, "", NULL, 1e-12,
                                  sm.ok ? "ok: statements == hand adjoint" : "MISMATCH vs hand adjoint"});
    char buf[240];
    const char *verdict = ew.ratio <= 3 ? "goal met" : ew.ratio <= 4.3 ? "met" : "NOT met";
    const char *sverdict = sm.ratio <= 3 ? "goal met" : sm.ratio <= 4.3 ? "met" : "NOT met";
    snprintf(buf, sizeof buf, "cost ratio <= 4.3 (goal <= 3): 13 ops/term %.2f %s, statements %.2f %s "
             "(CPU time: %.2f, %.2f); %.0f scalars, %.1f B each", ew.ratio, verdict, sm.ratio, sverdict,
             ew.cpu_ratio, sm.cpu_ratio, ew.scalars, ew.bytes_per_scalar);
    bench_target_line(W, buf);

    ag_tape_free(c.tape);
    free(c.x);
    free(c.g);
    free(g_hand);
}
