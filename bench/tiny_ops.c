/* tiny_ops: per-op overhead on tiny tensors. An 8-element f64 leaf h;
 * 500 times h = tanh(h * 1.0001) (1000 ops); backward of sum(h). The figure
 * is the time of one whole step (tape reset, leaf, 1000 ops, sum, backward)
 * divided by 1000: microseconds per op, forward and backward together.
 * PyTorch runs the identical loop in bench/torch_peer.py. */
#include "bench.h"

#include <tapegrad/autograd.h>
#include <math.h>
#include <stdio.h>

#define STEPS 500
#define OPS (2 * STEPS)

typedef struct ctx {
    ag_tape *tape;
    ag_status status;
} ctx;

static void run(void *p) {
    ctx *c = p;
    ag_tape *t = c->tape;
    static const double h0[8] = {-0.9, -0.6, -0.3, 0.0, 0.2, 0.5, 0.8, 1.1};
    ag_tape_reset(t);
    ag_tensor *leaf = ag_requires_grad(t, ag_tensor_new(t, AG_F64, AG_SHAPE(8), h0));
    ag_tensor *h = leaf;
    for (int i = 0; i < STEPS; i++) h = ag_tanh(t, ag_mul_c(t, h, 1.0001));
    c->status = ag_backward(t, ag_sum(t, h, AG_ALL, false));
    bench_sink = ag_grad_get(leaf, 0);
}

void bench_tiny_ops(void) {
    const char *W = "tiny_ops";
    ctx c = {ag_tape_new(0), AG_OK};
    if (!c.tape) return;
    double sec = bench_median(run, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    if (c.status != AG_OK) fprintf(stderr, "%s: backward failed: %s\n", W, ag_tape_error(c.tape));
    bench_peer peer = bench_run_peer(W);
    double us = sec * 1e6 / OPS;
    bench_emit(&peer, &(bench_row){W, "time_per_op", us, "us/op", "us_per_op", 0.2,
                                   c.status == AG_OK ? "fwd + bwd, 1000 ops" : "FAILED"});
    char buf[160];
    snprintf(buf, sizeof buf, "time_per_op <= 0.2 us (goal <= 0.1): %s",
             us <= 0.1 ? "goal met" : us <= 0.2 ? "met" : "NOT met");
    bench_target_line(W, buf);
    ag_tape_free(c.tape);
}
