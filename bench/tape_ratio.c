/* tape_ratio: the cost of a gradient on the scalar tape, relative to the
 * plain function in doubles.
 *
 *   f(x) = sum_{i=0}^{n-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
 *                          + sin(x_i) exp(-x_i^2),       n = 100000
 *
 * Timed as a user would run it each step: reset the tape, make n scalar
 * leaves, record f with scalar ops, backward, read the n partials. The
 * leaves are tape leaves, fresh after each reset, so their gradients start
 * at zero every step (no ag_zero_grad needed). A hand-written adjoint of f
 * gives the best a program can do, and the reference gradient. */
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

/* f recorded on the tape (rosen_record: 13 nodes per term), backward, the
 * n partials read. */
static void run_tape(void *p) {
    ctx *c = p;
    ag_tape *t = c->tape;
    static ag_tensor *xs[N];
    ag_tape_reset(t);
    for (int i = 0; i < N; i++) xs[i] = ag_requires_grad(t, ag_scalar(t, c->x[i]));
    ag_tensor *sum = rosen_record(t, xs, N);
    c->status = ag_backward(t, sum);
    for (int i = 0; i < N; i++) c->g[i] = ag_grad_item(xs[i]);
    bench_sink = ag_item(sum);
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

    double t_plain = bench_median(run_plain, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    double t_hand = bench_median(run_hand, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    for (int i = 0; i < N; i++) g_hand[i] = c.g[i];
    double t_tape = bench_median(run_tape, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    ag_tape_stats st = ag_tape_get_stats(c.tape);

    /* The tape's gradient against the hand adjoint's, normwise:
     * max_i |g_tape - g_hand| / max_i |g_hand|. */
    double maxdiff = 0, maxg = 0;
    for (int i = 0; i < N; i++) {
        double dd = fabs(c.g[i] - g_hand[i]);
        if (!(dd <= maxdiff)) maxdiff = dd; /* NaN propagates as a mismatch */
        if (fabs(g_hand[i]) > maxg) maxg = fabs(g_hand[i]);
    }
    double rel = maxg > 0 ? maxdiff / maxg : maxdiff;
    bool ok = c.status == AG_OK && rel <= 1e-12;
    if (c.status != AG_OK) fprintf(stderr, "%s: backward failed: %s\n", W, ag_tape_error(c.tape));

    bench_peer peer = bench_run_peer(W);
    bench_emit(&peer, &(bench_row){W, "gradient_cost_ratio", t_tape / t_plain, "x", "ratio", 4,
                                   "tape vs plain C; peer: torch own ratio"});
    bench_emit(&peer, &(bench_row){W, "hand_adjoint_ratio", t_hand / t_plain, "x", NULL, NAN,
                                   "hand-written adjoint vs plain C"});
    bench_emit(&peer, &(bench_row){W, "gradient_time", t_tape * 1e3, "ms", "grad_ms", NAN,
                                   "peer: 1-D f64 tensors, fwd+bwd"});
    bench_emit(&peer, &(bench_row){W, "plain_f_time", t_plain * 1e3, "ms", "fwd_ms", NAN,
                                   "peer: torch no-grad forward"});
    bench_emit(&peer, &(bench_row){W, "gradient_rel_diff", rel, "", NULL, 1e-12,
                                   ok ? "ok: tape == hand adjoint" : "MISMATCH vs hand adjoint"});
    char buf[200];
    snprintf(buf, sizeof buf, "gradient_cost_ratio <= 4 (goal <= 3): %s; %zu nodes, %.1f MB tape",
             t_tape / t_plain <= 3 ? "goal met" : t_tape / t_plain <= 4 ? "met" : "NOT met",
             st.nodes, (double)st.bytes_in_use / 1e6);
    bench_target_line(W, buf);

    ag_tape_free(c.tape);
    free(c.x);
    free(c.g);
    free(g_hand);
}
