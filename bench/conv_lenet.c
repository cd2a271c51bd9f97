/* conv_lenet: the convolution and pooling ops on LeNet's shapes, one thread,
 * f32: x (64, 1, 28, 28) -> conv2d 6 5x5 (+ bias) -> max_pool 2 -> conv2d
 * 16 5x5 (+ bias) -> max_pool 2 -> sum; forward and backward (gradients of
 * the weights and biases; x is data and gets none), tape reset included.
 * PyTorch runs the same ops (F.conv2d, F.max_pool2d) in bench/torch_peer.py,
 * pinned to one thread in its own process (OPENBLAS_NUM_THREADS,
 * OMP_NUM_THREADS, torch.set_num_threads), with its CPU time / wall time.
 *
 * Rows: step_time (the whole chain) and conv2_time (the second conv's
 * forward and backward alone, x requiring no gradient either). */
#include "bench.h"

#include <tapegrad/autograd.h>

#include <math.h>
#include <stdio.h>

typedef struct ctx {
    ag_tape *tape;
    ag_tensor *w1, *b1, *w2, *b2;   /* parameters */
    float x[64 * 28 * 28], h[64 * 6 * 12 * 12];
    bool conv2_only;
    ag_status status;
} ctx;

static void step(void *p) {
    ctx *c = p;
    ag_tape *t = c->tape;
    ag_tape_reset(t);
    ag_tensor *y;
    if (c->conv2_only) {
        ag_tensor *h = ag_tensor_new(t, AG_F32, AG_SHAPE(64, 6, 12, 12), c->h);
        y = ag_conv2d(t, h, c->w2, c->b2, NULL);                                 // (64, 16, 8, 8)
    } else {
        ag_tensor *x = ag_tensor_new(t, AG_F32, AG_SHAPE(64, 1, 28, 28), c->x);  // (64, 1, 28, 28)
        ag_pool2d_opts pool = {.kernel = {2, 2}};
        ag_tensor *h = ag_max_pool2d(t, ag_conv2d(t, x, c->w1, c->b1, NULL), &pool); // (64, 6, 12, 12)
        y = ag_max_pool2d(t, ag_conv2d(t, h, c->w2, c->b2, NULL), &pool);      // (64, 16, 4, 4)
    }
    c->status = ag_backward(t, ag_sum(t, y, AG_ALL, false));
    bench_sink = ag_grad_get(c->w2, 0);
}

void bench_conv_lenet(void) {
    const char *W = "conv_lenet";
    static ctx c;
    c.tape = ag_tape_new(0);
    ag_rng r;
    ag_rng_seed(&r, 5);
    for (int i = 0; i < 64 * 28 * 28; i++) c.x[i] = (float)ag_rng_uniform(&r);
    for (int i = 0; i < 64 * 6 * 12 * 12; i++) c.h[i] = (float)ag_rng_uniform(&r);
    ag_tensor **ps[4] = {&c.w1, &c.b1, &c.w2, &c.b2};
    const int64_t shapes[4][4] = {{6, 1, 5, 5}, {6}, {16, 6, 5, 5}, {16}};
    const int nds[4] = {4, 1, 4, 1};
    for (int k = 0; k < 4; k++) {
        *ps[k] = ag_param_new(AG_F32, nds[k], shapes[k], NULL);
        float *d = ag_data_mut(*ps[k]);
        for (int64_t i = 0; d && i < ag_numel(*ps[k]); i++) d[i] = (float)(ag_rng_uniform(&r) - 0.5) * 0.4f;
    }
    if (!c.tape || !c.w1 || !c.b1 || !c.w2 || !c.b2) return;
    const int before = ag_get_num_threads();
    ag_set_num_threads(1); /* tapegrad's pool and OpenBLAS's */
    c.conv2_only = false;
    double whole = bench_median(step, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    ag_status st = c.status;
    c.conv2_only = true;
    double conv2 = bench_median(step, &c, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    ag_set_num_threads(before);
    if (st != AG_OK || c.status != AG_OK) fprintf(stderr, "%s: failed: %s\n", W, ag_tape_error(c.tape));
    bench_peer peer = bench_run_peer(W);
    double cpu = 0;
    char note[96];
    snprintf(note, sizeof note, "1 thread; torch cpu/wall %.2f", bench_peer_get(&peer, "cpu_per_wall", &cpu) ? cpu : 0.0);
    bench_emit(&peer, &(bench_row){W, "step_time", whole * 1e3, "ms", "ms_step", NAN, note});
    bench_emit(&peer, &(bench_row){W, "conv2_time", conv2 * 1e3, "ms", "ms_conv2", NAN, note});
    for (int k = 0; k < 4; k++) ag_param_free(*ps[k]);
    ag_tape_free(c.tape);
}
