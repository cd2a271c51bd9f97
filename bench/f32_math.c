/* f32_math: the f32 transcendental ops on 10^6 elements, one thread: exp,
 * tanh, sigmoid and gelu (the exact x·Phi(x)), forward alone (no-grad
 * mode) and forward + backward from a gradient of ones (ag_backward_seed,
 * so nothing but the op runs). The input is a parameter, x uniform in
 * [-4, 4]. PyTorch runs the same steps in bench/torch_peer.py, pinned to
 * one thread. On a machine shared with other work, wall time counts the
 * time others had the core, so both sides time each step by the CPU time of
 * the thread that runs it (median of at least 10 steps and 0.3 s); PyTorch
 * reports its process's CPU time over that thread's, 1.00 when no other
 * thread of it worked. Figures are ms per step, i.e. ns per element. */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 1000000

typedef struct ctx {
    ag_tape *tape;
    ag_tensor *x, *seed;
    ag_tensor *(*fn)(ag_tape *, ag_tensor *);
    ag_status status;
} ctx;

static void fwd(void *p) {
    ctx *c = p;
    ag_tape_reset(c->tape);
    ag_no_grad_begin(c->tape);
    bench_sink = ag_get(c->fn(c->tape, c->x), 0);
    ag_no_grad_end(c->tape);
}

static void fwd_bwd(void *p) {
    ctx *c = p;
    ag_tape_reset(c->tape);
    c->status = ag_backward_seed(c->tape, c->fn(c->tape, c->x), c->seed);
    bench_sink = ag_grad_get(c->x, 0);
}

void bench_f32_math(void) {
    static const struct {
        const char *name;
        ag_tensor *(*fn)(ag_tape *, ag_tensor *);
    } ops[] = {{"exp", ag_exp}, {"tanh", ag_tanh}, {"sigmoid", ag_sigmoid}, {"gelu", ag_gelu}};
    enum { NOPS = sizeof ops / sizeof ops[0] };
    const char *W = "f32_math";
    float *data = malloc(N * sizeof *data), *ones = malloc(N * sizeof *ones);
    if (!data || !ones) {
        free(data);
        free(ones);
        return;
    }
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        data[i] = (float)((double)(s >> 11) * 0x1p-53 * 8.0 - 4.0);
        ones[i] = 1.0f;
    }
    ctx c = {ag_tape_new(0), ag_param_new(AG_F32, 1, (int64_t[]){N}, data),
             ag_param_new(AG_F32, 1, (int64_t[]){N}, ones), NULL, AG_OK};
    free(data);
    free(ones);
    if (c.tape && c.x && c.seed) {
        double ours[NOPS][2];
        for (int k = 0; k < NOPS; k++) {
            c.fn = ops[k].fn;
            ours[k][0] = bench_cpu_median(fwd, &c, 10, 0.3);
            ours[k][1] = bench_cpu_median(fwd_bwd, &c, 10, 0.3);
            if (c.status != AG_OK) fprintf(stderr, "%s: backward failed: %s\n", W, ag_tape_error(c.tape));
        }
        bench_peer peer = bench_run_peer(W);
        double proc = NAN;
        bench_peer_get(&peer, "proc_per_thread_cpu", &proc);
        char note[80];
        if (isfinite(proc)) snprintf(note, sizeof note, "thread CPU, 1 thread; torch proc/thread CPU %.2f", proc);
        else snprintf(note, sizeof note, "thread CPU, 1 thread");
        int met = 0;
        for (int k = 0; k < NOPS; k++) {
            char mf[32], ms[32];
            snprintf(mf, sizeof mf, "%s_fwd", ops[k].name);
            snprintf(ms, sizeof ms, "%s_fwd_bwd", ops[k].name);
            bench_emit(&peer, &(bench_row){W, mf, ours[k][0] * 1e3, "ms", mf, NAN, note});
            bench_emit(&peer, &(bench_row){W, ms, ours[k][1] * 1e3, "ms", ms, NAN, note});
            double pv;
            if (bench_peer_get(&peer, ms, &pv) && ours[k][1] * 1e3 <= pv) met++;
        }
        char line[160];
        if (peer.ok)
            snprintf(line, sizeof line, "fwd + bwd at least PyTorch's throughput (ratio <= 1): %d of %d", met,
                     NOPS);
        else
            snprintf(line, sizeof line, "fwd + bwd at least PyTorch's throughput: no peer in this run");
        bench_target_line(W, line);
    }
    ag_param_free(c.seed);
    ag_param_free(c.x);
    ag_tape_free(c.tape);
}
