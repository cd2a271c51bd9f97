/* f32_math: the f32 transcendental ops on 10^6 elements, one thread: exp,
 * tanh, sigmoid and gelu (the exact x·Phi(x)), forward alone (no-grad
 * mode) and forward + backward of sum(f(x)). The input is a parameter
 * (x uniform in [-4, 4]), so a step records the op, the sum and the sweep
 * and nothing else. PyTorch runs the same steps in bench/torch_peer.py on
 * one thread and reports its CPU time over wall time. Figures are ms per
 * step, so ns per element. */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 1000000

typedef struct ctx {
    ag_tape *tape;
    ag_tensor *x;
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
    ag_tensor *loss = ag_sum(c->tape, c->fn(c->tape, c->x), AG_ALL, false);
    c->status = ag_backward(c->tape, loss);
    bench_sink = ag_grad_get(c->x, 0);
}

void bench_f32_math(void) {
    static const struct {
        const char *name, *fwd_key, *step_key;
        ag_tensor *(*fn)(ag_tape *, ag_tensor *);
    } ops[] = {
        {"exp", "exp_fwd", "exp_fwd_bwd", ag_exp},
        {"tanh", "tanh_fwd", "tanh_fwd_bwd", ag_tanh},
        {"sigmoid", "sigmoid_fwd", "sigmoid_fwd_bwd", ag_sigmoid},
        {"gelu", "gelu_fwd", "gelu_fwd_bwd", ag_gelu},
    };
    const char *W = "f32_math";
    float *data = malloc(N * sizeof *data);
    if (!data) return;
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        data[i] = (float)((double)(s >> 11) * 0x1p-53 * 8.0 - 4.0);
    }
    ctx c = {ag_tape_new(0), ag_param_new(AG_F32, 1, (int64_t[]){N}, data), NULL, AG_OK};
    free(data);
    if (!c.tape || !c.x) return;
    double ours[4][2];
    for (int k = 0; k < 4; k++) {
        c.fn = ops[k].fn;
        ours[k][0] = bench_median(fwd, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
        ours[k][1] = bench_median(fwd_bwd, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
        if (c.status != AG_OK) fprintf(stderr, "%s: backward failed: %s\n", W, ag_tape_error(c.tape));
    }
    bench_peer peer = bench_run_peer(W);
    double cpu_wall = NAN;
    bench_peer_get(&peer, "cpu_per_wall", &cpu_wall);
    char note[64];
    snprintf(note, sizeof note, "1 thread; torch cpu/wall %.2f", cpu_wall);
    int met = 0;
    for (int k = 0; k < 4; k++) {
        char mf[32], ms[32];
        snprintf(mf, sizeof mf, "%s_fwd", ops[k].name);
        snprintf(ms, sizeof ms, "%s_fwd_bwd", ops[k].name);
        bench_emit(&peer, &(bench_row){W, mf, ours[k][0] * 1e3, "ms", ops[k].fwd_key, NAN, note});
        bench_emit(&peer, &(bench_row){W, ms, ours[k][1] * 1e3, "ms", ops[k].step_key, NAN, note});
        double pv;
        if (bench_peer_get(&peer, ops[k].step_key, &pv) && ours[k][1] * 1e3 <= pv) met++;
    }
    char line[160];
    if (peer.ok)
        snprintf(line, sizeof line, "fwd + bwd at least PyTorch's throughput (ratio <= 1): %d of 4 met", met);
    else
        snprintf(line, sizeof line, "fwd + bwd at least PyTorch's throughput: no peer in this run");
    bench_target_line(W, line);
    ag_param_free(c.x);
    ag_tape_free(c.tape);
}
