/* scalar_moons: one training step of examples/micrograd_moons (forward over
 * 100 points through MLP(2, [16, 16, 1]) built from scalar nodes, backward,
 * SGD update of the 337 scalar parameters, tape reset), the same model code
 * compiled from examples/moons_scalar.c. micrograd (Python 3.11) takes
 * 1,326 ms per step for its 65,818-node graph on this machine kind
 * (docs/design.md, "Figures the benchmarks compare against"); there is no
 * live micrograd peer, so the speedup is printed against that figure. Target: >= 1000x, i.e. <= 1.326 ms. */
#include "bench.h"

#include "moons_scalar.h"

#include <math.h>
#include <stdio.h>

#define NPOINTS 100
#define MICROGRAD_MS 1326.0
#define MICROGRAD_NODES 65818.0

typedef struct ctx {
    ag_tape *tape;
    moons_mlp *m;
    double x[2 * NPOINTS], y[NPOINTS];
    int k;
    moons_result r;
} ctx;

static void run(void *p) {
    ctx *c = p;
    /* micrograd's rate schedule, cycling so a long run stays stable */
    double lr = 1.0 - 0.9 * (c->k++ % 100) / 100.0;
    c->r = moons_step(c->tape, c->m, NPOINTS, c->x, c->y, lr);
    bench_sink = c->r.loss;
}

void bench_scalar_moons(void) {
    const char *W = "scalar_moons";
    static ctx c;
    c.tape = ag_tape_new(0);
    c.m = moons_mlp_new(1337);
    c.k = 0;
    if (!c.tape || !c.m) {
        fprintf(stderr, "%s: out of memory\n", W);
        ag_tape_free(c.tape);
        moons_mlp_free(c.m);
        return;
    }
    moons_data(NPOINTS, 0.1, 7, c.x, c.y);
    double sec = bench_median(run, &c, 20, 1.0);
    bool ok = c.r.status == AG_OK;
    double ms = sec * 1e3, speedup = MICROGRAD_MS / ms;
    char note[96];
    snprintf(note, sizeof note, ok ? "fwd+bwd+update+reset" : "FAILED: %s", ag_status_str(c.r.status));
    bench_emit(NULL, &(bench_row){W, "time_per_step", ms, "ms", NULL, MICROGRAD_MS / 1000.0, note});
    bench_emit(NULL, &(bench_row){W, "nodes_per_step", (double)c.r.nodes, "nodes", NULL, NAN,
                                   "micrograd: 65818"});
    bench_emit(NULL, &(bench_row){W, "ns_per_node", sec * 1e9 / (double)c.r.nodes, "ns", NULL, NAN,
                                   "per recorded node, whole step"});
    char buf[200];
    snprintf(buf, sizeof buf,
             "time_per_step <= 1.326 ms (1000x micrograd's 1326 ms/step, %.0f nodes): "
             "%.0fx faster, %s", MICROGRAD_NODES, speedup, speedup >= 1000 ? "met" : "NOT met");
    bench_target_line(W, buf);
    ag_tape_free(c.tape);
    moons_mlp_free(c.m);
}
