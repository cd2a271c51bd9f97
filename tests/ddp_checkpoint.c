/* A checkpoint saved by rank 0 of a 2-rank run and loaded by a new 2-rank
 * run resumes identically (tests/test_ddp_checkpoint.sh runs both):
 *
 *   mpi_run.sh 2 SECONDS ddp_checkpoint save DIR     K1 Adam steps, checkpoint, K2 - K1 more, final
 *   mpi_run.sh 2 SECONDS ddp_checkpoint resume DIR   load the checkpoint, K2 - K1 steps, compare
 *
 * The checkpoint is the parameters, the optimizer's state and the step
 * count (so the batcher's epoch and position); K1 stops mid-epoch. Rank 1
 * always passes a path that does not exist: only rank 0 writes and reads.
 * The resumed run must end on the final parameters bit for bit, the same
 * on both ranks. */
#include "ddp_testutil.h"

enum { N = 50, BATCH = 4, K1 = 10, K2 = 20 };

/* Takes `steps` steps of data-parallel Adam from the batcher's position. */
static void train(nn_ddp *d, nn_module *m, nn_optim *o, nn_batcher *b, const nn_dataset *ds, int steps) {
    ag_tape *t = ag_tape_new(0);
    const int64_t *idx;
    for (int s = 0; s < steps;) {
        int64_t n = nn_batcher_next(b, &idx);
        if (n == 0) continue; /* the next epoch */
        nn_optim_zero_grad(o);
        dt_backward(m, t, ds, AG_F64, n, idx);
        DT_OK(nn_ddp_allreduce_grads(d));
        DT_OK(nn_optim_step(o));
        s++;
    }
    ag_tape_free(t);
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "save") && strcmp(argv[1], "resume"))) {
        fprintf(stderr, "usage: ddp_checkpoint save|resume DIR\n");
        return 2;
    }
    bool save = strcmp(argv[1], "save") == 0;
    nn_params *ps = nn_params_new();
    int world_rank = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    /* Each rank and each run starts elsewhere: only the files carry state. */
    nn_module *m = dt_model(ps, AG_F64, (save ? 1 : 100) + (uint64_t)world_rank);
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, ps, NULL);
    DT_CHECK(d && nn_ddp_size(d) == 2, "%s", nn_last_error());
    int rank = nn_ddp_rank(d);
    char ckpt[4096], state[4096], final[4096];
    const char *nowhere = "/nonexistent/tapegrad";
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.tgp", rank == 0 ? argv[2] : nowhere);
    snprintf(state, sizeof state, "%s/ckpt.optim", rank == 0 ? argv[2] : nowhere);
    snprintf(final, sizeof final, "%s/final.tgp", rank == 0 ? argv[2] : nowhere);
    nn_dataset *ds = dt_data(N);
    nn_batcher *b = nn_ddp_batcher_new(d, ds, BATCH, true, 5, false);
    nn_optim_opts oo = nn_adam_opts(0.05);
    nn_optim *o = nn_optim_new(ps, &oo);
    DT_CHECK(b && o, "%s", nn_last_error());
    if (save) {
        train(d, m, o, b, ds, K1);
        DT_OK(nn_ddp_save(d, ps, ckpt));
        DT_OK(nn_ddp_save_optim(d, o, state));
        train(d, m, o, b, ds, K2 - K1);
        DT_OK(nn_ddp_save(d, ps, final));
        if (rank == 0) printf("saved the checkpoint after %d steps and the parameters after %d\n", K1, K2);
    } else {
        DT_OK(nn_ddp_load(d, ps, ckpt, NULL));
        DT_OK(nn_ddp_load_optim(d, o, state, 0));
        int64_t steps = nn_optim_steps(o), per_epoch = nn_batcher_batches(b);
        DT_CHECK(steps == K1, "the state says %lld steps", (long long)steps);
        /* The batcher where the saved run was: its epoch, then its batch. */
        nn_batcher_set_epoch(b, steps / per_epoch);
        const int64_t *idx;
        for (int64_t i = 0; i < steps % per_epoch; i++) nn_batcher_next(b, &idx);
        train(d, m, o, b, ds, K2 - K1);
        nn_params *want = nn_params_new();
        nn_module *wm = dt_model(want, AG_F64, 7);
        DT_OK(nn_ddp_load(d, want, final, NULL));
        for (size_t i = 0; i < nn_params_count(ps); i++) {
            const ag_tensor *p = nn_params_at(ps, i), *q = nn_params_at(want, i);
            DT_CHECK(memcmp(ag_data(p), ag_data(q), (size_t)ag_numel(p) * sizeof(double)) == 0,
                     "%s differs from the uninterrupted run by up to %g", nn_params_name_at(ps, i),
                     dt_max_diff(ps, want));
        }
        DT_CHECK(dt_same_on_all_ranks(ps), "the ranks differ");
        DT_CHECK(nn_optim_steps(o) == K2, "steps %lld", (long long)nn_optim_steps(o));
        if (rank == 0)
            printf("resumed at step %d (epoch %lld, batch %lld) on 2 ranks: after step %d the parameters "
                   "equal the uninterrupted run's bit for bit; %d checks\n",
                   K1, (long long)(K1 / per_epoch), (long long)(K1 % per_epoch), K2, dt_checks);
        nn_module_free(wm);
        nn_params_free(want);
    }
    nn_optim_free(o);
    nn_batcher_free(b);
    nn_dataset_free(ds);
    nn_ddp_free(d);
    nn_module_free(m);
    nn_params_free(ps);
    MPI_Finalize();
    return 0;
}
