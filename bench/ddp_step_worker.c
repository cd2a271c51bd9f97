/* The ranks of the ddp_step benchmark (bench/ddp_step.c starts them with
 * mpirun, one core each):
 *
 *   ddp_step_worker f32|f64 BATCH_PER_RANK STEPS [sleep]
 *
 * Every rank trains mlp_step's model (MLP 784-256-128-10, relu, sparse
 * cross-entropy, SGD lr 0.01) data-parallel on its own fixed batch, one
 * BLAS thread: zero-grad, forward, backward, nn_ddp_allreduce_grads, step,
 * tape reset ("sleep": with nn_ddp_opts.sleep_while_waiting). After 5 warm-up steps it times STEPS steps, then STEPS
 * all-reduces alone, each after a barrier, so the ranks start together
 * and the time is the transfer's, not the wait for a slower rank. Rank 0
 * prints one JSON line:
 *   step_ms         median step time (the slowest rank sets it: the
 *                   all-reduce waits for every rank)
 *   allreduce_ms    median time in nn_ddp_allreduce_grads per step, in
 *                   training (waiting for the slower rank included)
 *   synced_ms       median all-reduce time after a barrier
 *   pack_ms         mean packing and unpacking time per step (nn_ddp_stats)
 *   bytes, buckets  reduced per step
 *   cpu_wall        this rank's CPU time / wall time over the timed steps
 *   loss0, loss     the loss at the first and the last step (it must fall) */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>
#include <tapegrad/nn_mpi.h>

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const int64_t SIZES[] = {784, 256, 128, 10};

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "sleep") == 0)) {
        fprintf(stderr, "usage: ddp_step_worker f32|f64 BATCH_PER_RANK STEPS [sleep]\n");
        return 2;
    }
    ag_dtype dt = strcmp(argv[1], "f32") == 0 ? AG_F32 : AG_F64;
    int64_t B = atoll(argv[2]);
    int steps = atoi(argv[3]);
    if (B < 1 || steps < 1) return 2;
    ag_set_blas_threads(1);
    ag_rng r;
    ag_rng_seed(&r, 11);
    nn_params *ps = nn_params_new();
    nn_module *mlp = nn_mlp_new(ps, "mlp", 4, SIZES, NN_RELU, dt, &r);
    nn_ddp_opts dopts = {.sleep_while_waiting = argc == 5};
    nn_ddp *d = mlp ? nn_ddp_init(&argc, &argv, ps, &dopts) : NULL;
    if (!d) {
        fprintf(stderr, "ddp_step_worker: %s\n", nn_last_error());
        return 2;
    }
    int rank = nn_ddp_rank(d);
    nn_optim_opts oo = nn_sgd_opts(0.01);
    nn_optim *o = nn_optim_new(ps, &oo);
    ag_tape *t = ag_tape_new(0);
    /* This rank's batch: its own seeded pixels and labels. */
    ag_rng_seed(&r, 100 + (uint64_t)rank);
    void *x = malloc((size_t)(B * 784) * (dt == AG_F32 ? sizeof(float) : sizeof(double))); // (B, 784)
    int64_t *labels = malloc((size_t)B * sizeof *labels);
    double *t_step = malloc((size_t)steps * sizeof *t_step), *t_ar = malloc((size_t)steps * sizeof *t_ar);
    if (!o || !t || !x || !labels || !t_step || !t_ar) nn_ddp_abort(d, 2, "out of memory");
    for (int64_t i = 0; i < B * 784; i++) {
        double v = ag_rng_uniform(&r);
        if (dt == AG_F32) ((float *)x)[i] = (float)v;
        else ((double *)x)[i] = v;
    }
    for (int64_t i = 0; i < B; i++) labels[i] = (int64_t)(ag_rng_next(&r) % 10);

    double loss0 = 0, loss = 0, c0 = 0, w0 = 0;
    nn_ddp_stats s0 = {0};
    for (int s = -5; s < steps; s++) {
        if (s == 0) {
            s0 = nn_ddp_get_stats(d);
            c0 = cpu_seconds();
            w0 = MPI_Wtime();
        }
        double a = MPI_Wtime();
        nn_optim_zero_grad(o);
        ag_tensor *xt = ag_tensor_new(t, dt, AG_SHAPE(B, 784), x);                    // (B, 784)
        ag_tensor *l = nn_sparse_cross_entropy(t, nn_forward(mlp, t, xt), B, labels, NN_MEAN); // ()
        if (ag_backward(t, l) != AG_OK) nn_ddp_abort(d, 2, ag_tape_error(t));
        double b = MPI_Wtime();
        if (nn_ddp_allreduce_grads(d) != NN_OK) nn_ddp_abort(d, 2, nn_last_error());
        double c = MPI_Wtime();
        nn_optim_step(o);
        loss = ag_item(l);
        if (s == -5) loss0 = loss;
        ag_tape_reset(t);
        if (s >= 0) {
            t_step[s] = MPI_Wtime() - a;
            t_ar[s] = c - b;
        }
    }
    double cpu_wall = (cpu_seconds() - c0) / (MPI_Wtime() - w0);
    nn_ddp_stats s1 = nn_ddp_get_stats(d);
    double pack = (s1.pack_seconds - s0.pack_seconds) / steps;
    double step_ms = 1e3 * bench_median_of(t_step, steps), ar_ms = 1e3 * bench_median_of(t_ar, steps);
    /* The all-reduce alone, the ranks started together. */
    for (int s = 0; s < steps; s++) {
        MPI_Barrier(nn_ddp_comm(d));
        double a = MPI_Wtime();
        if (nn_ddp_allreduce_grads(d) != NN_OK) nn_ddp_abort(d, 2, nn_last_error());
        t_ar[s] = MPI_Wtime() - a;
    }
    double synced_ms = 1e3 * bench_median_of(t_ar, steps);
    if (rank == 0)
        printf("{\"ranks\": %d, \"batch\": %lld, \"step_ms\": %.6g, \"allreduce_ms\": %.6g, \"synced_ms\": %.6g, "
               "\"pack_ms\": %.6g, \"bytes\": %lld, \"buckets\": %d, \"cpu_wall\": %.4g, \"loss0\": %.6g, "
               "\"loss\": %.6g}\n",
               nn_ddp_size(d), (long long)B, step_ms, ar_ms, synced_ms, 1e3 * pack, (long long)s1.bytes_per_call,
               s1.buckets, cpu_wall, loss0, loss);
    free(x);
    free(labels);
    free(t_step);
    free(t_ar);
    ag_tape_free(t);
    nn_optim_free(o);
    nn_module_free(mlp);
    nn_params_free(ps);
    nn_ddp_free(d);
    return 0;
}
