/* f32_math: the f32 transcendental ops on 10^6 elements, one thread: exp,
 * tanh, sigmoid and gelu (the exact x·Phi(x)), forward alone (no-grad
 * mode) and forward + backward from a gradient of ones (ag_backward_seed,
 * so nothing but the op runs). The input is a parameter, x uniform in
 * [-4, 4]. PyTorch runs the same steps in bench/torch_peer.py, pinned to
 * one thread. On a machine shared with other work, wall time counts the
 * time others had the core, so both sides time each step by the CPU time of
 * the thread that runs it (median of at least 10 steps and 0.3 s); PyTorch
 * reports its process's CPU time over that thread's, 1.00 when no other
 * thread of it worked. Figures are ms per step, i.e. ns per element.
 * Then tanh and gelu forward + backward on 1 and 2 threads (tapegrad's
 * kernel pool, torch's intra-op threads), by wall time, in alternating
 * blocks (threads_rows). */
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

/* The median time of fwd_bwd at the given thread count, in a short block
 * of runs after ag_set_num_threads (so no change of count is timed). */
static double wall_block(ctx *c, int threads) {
    ag_set_num_threads(threads);
    return bench_median(fwd_bwd, c, 5, 0.05);
}

/* The rows of op `name` at 1 and 2 threads, wall time, PyTorch's beside
 * them: blocks at 1 and 2 threads alternate (8 of each), and each count's
 * fastest block median is kept, so load that comes and goes on a shared
 * machine hits both alike and counts least. */
static void threads_rows(ctx *c, const bench_peer *peer, ag_tensor *(*fn)(ag_tape *, ag_tensor *),
                         const char *name) {
    c->fn = fn;
    double t1 = INFINITY, t2 = INFINITY;
    for (int r = 0; r < 8; r++) {
        const double a = wall_block(c, 1), b = wall_block(c, 2);
        if (a < t1) t1 = a;
        if (b < t2) t2 = b;
    }
    ag_set_num_threads(1);
    char m1[48], m2[48], note[80];
    snprintf(m1, sizeof m1, "%s_fwd_bwd_wall_1t", name);
    snprintf(m2, sizeof m2, "%s_fwd_bwd_wall_2t", name);
    snprintf(note, sizeof note, "wall, 1 thread");
    bench_emit(peer, &(bench_row){"f32_math", m1, t1 * 1e3, "ms", m1, NAN, note});
    snprintf(note, sizeof note, "wall, 2 threads: %.2fx the 1-thread time", t2 / t1);
    bench_emit(peer, &(bench_row){"f32_math", m2, t2 * 1e3, "ms", m2, NAN, note});
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
    /* The rows above are one thread: the kernels' pool off (and BLAS's,
     * which ag_set_num_threads sets too), restored at the end. */
    const int threads_before = ag_get_num_threads(), blas_before = ag_set_blas_threads(0);
    ag_set_num_threads(1);
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
        threads_rows(&c, &peer, ops[1].fn, "tanh");
        threads_rows(&c, &peer, ops[3].fn, "gelu");
    }
    ag_set_num_threads(threads_before);
    if (blas_before > 0) ag_set_blas_threads(blas_before);
    ag_param_free(c.seed);
    ag_param_free(c.x);
    ag_tape_free(c.tape);
}
