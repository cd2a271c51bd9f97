/* nn_ddp on 2 ranks (mpi_run.sh 2 ...): training equals one process, and
 * the API's checks, sums, broadcasts and files.
 *
 * Equality: after k steps on 2 ranks the parameters equal those of one
 * process that trains on the concatenation of both ranks' batches (the
 * shards of the same seeded epochs, rank 0's first), to 1e-12 in f64, for
 * SGD, SGD with Nesterov momentum in 5-element buckets (parameters span
 * buckets), Adam (also with MPI_Iallreduce and sleeps), and drop_last; to
 * 1e-5 in f32 and with f64 gradients reduced in f32. The ranks start from different initialisations, so the
 * creation's broadcast is tested too. Any failed check ends the job. */
#include "ddp_testutil.h"

#include <unistd.h>

typedef struct config {
    const char *name;
    nn_optim_opts oo;
    nn_ddp_opts dopts;
    ag_dtype dt;
    double tol;
    int64_t batch; /* per rank */
    bool drop_last;
    int expect_buckets;
} config;

static void equality(const config *c, const nn_dataset *ds, int rank, int size) {
    enum { EPOCHS = 3, MAX_RANKS = 8 };
    DT_CHECK(size <= MAX_RANKS, "at most %d ranks", MAX_RANKS);
    ag_tape *t = ag_tape_new(0);
    /* One process: the concatenation of every rank's shard, from init seed 1. */
    nn_params *one = nn_params_new(), *init = nn_params_new();
    nn_module *one_m = dt_model(one, c->dt, 1), *init_m = dt_model(init, c->dt, 1);
    nn_optim *one_o = nn_optim_new(one, &c->oo);
    nn_batcher *shard[MAX_RANKS];
    for (int r = 0; r < size; r++) shard[r] = nn_batcher_new_shard(ds, c->batch, true, 5, c->drop_last, r, size);
    /* The ranks, each from its own initialisation until the broadcast. */
    nn_params *ps = nn_params_new();
    nn_module *m = dt_model(ps, c->dt, 1 + (uint64_t)rank);
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, ps, &c->dopts);
    DT_CHECK(d, "%s", nn_last_error());
    DT_CHECK(dt_max_diff(ps, init) == 0, "%s: rank 0's values were not broadcast", c->name);
    nn_optim *o = nn_optim_new(ps, &c->oo);
    nn_batcher *mine = nn_ddp_batcher_new(d, ds, c->batch, true, 5, c->drop_last);
    DT_CHECK(one_o && o && mine && one_m && init_m && m, "setup: %s", nn_last_error());

    int steps = 0;
    for (int e = 0; e < EPOCHS; e++) {
        const int64_t *idx, *part;
        int64_t n, cat[256];
        while ((n = nn_batcher_next(mine, &idx)) > 0) {
            int64_t total = 0;
            for (int r = 0; r < size; r++) {
                int64_t k = nn_batcher_next(shard[r], &part);
                DT_CHECK(k == n, "shard %d has %lld samples, this rank %lld", r, (long long)k, (long long)n);
                memcpy(cat + total, part, (size_t)k * sizeof *cat);
                total += k;
            }
            nn_optim_zero_grad(one_o);
            dt_backward(one_m, t, ds, c->dt, total, cat);
            DT_OK(nn_optim_step(one_o));
            nn_optim_zero_grad(o);
            dt_backward(m, t, ds, c->dt, n, idx);
            DT_OK(nn_ddp_allreduce_grads(d));
            DT_OK(nn_optim_step(o));
            steps++;
        }
        for (int r = 0; r < size; r++) DT_CHECK(nn_batcher_next(shard[r], &part) == 0, "epoch lengths differ");
    }
    double diff = dt_max_diff(ps, one), moved = dt_max_diff(ps, init);
    nn_ddp_stats st = nn_ddp_get_stats(d);
    if (rank == 0)
        printf("equality %-34s %d steps: max |2 ranks - 1 process| = %.2e (tolerance %.0e); "
               "parameters moved %.3f; %d bucket(s), %lld bytes per step\n",
               c->name, steps, diff, c->tol, moved, st.buckets, (long long)st.bytes_per_call);
    DT_CHECK(diff <= c->tol, "%s: differs from one process by %g", c->name, diff);
    DT_CHECK(moved > 0.05, "%s: training moved the parameters only %g", c->name, moved);
    DT_CHECK(dt_same_on_all_ranks(ps), "%s: the ranks' parameters differ", c->name);
    DT_CHECK(st.calls == steps && st.allreduces == (int64_t)steps * st.buckets, "stats %lld calls, %lld allreduces",
             (long long)st.calls, (long long)st.allreduces);
    if (c->expect_buckets) DT_CHECK(st.buckets == c->expect_buckets, "%d buckets", st.buckets);
    for (int r = 0; r < size; r++) nn_batcher_free(shard[r]);
    nn_batcher_free(mine);
    nn_optim_free(o);
    nn_optim_free(one_o);
    nn_ddp_free(d);
    nn_module_free(m);
    nn_module_free(one_m);
    nn_module_free(init_m);
    nn_params_free(ps);
    nn_params_free(one);
    nn_params_free(init);
    ag_tape_free(t);
}

/* f32 and f64 parameters in one store, gradients set to rank + 1 + i: the
 * average is 1.5 + i on 2 ranks, in every bucket layout and reduce dtype. */
static void mixed_dtypes(int rank) {
    nn_params *ps = nn_params_new();
    ag_tensor *a = nn_params_create(ps, "a", AG_F32, 1, (const int64_t[]){7}, NULL);
    ag_tensor *b = nn_params_create(ps, "b", AG_F64, 2, (const int64_t[]){2, 3}, NULL);
    ag_tensor *c = nn_params_create(ps, "c", AG_F32, 0, NULL, NULL);
    ag_tensor *all[3] = {a, b, c};
    const nn_ddp_opts variants[4] = {{0}, {.bucket_bytes = 12}, {.reduce_dtype = AG_F64, .bucket_bytes = 16},
                                     {.reduce_dtype = AG_F32}};
    /* f32: 8 elements, f64: 6. 12-byte buckets: 3 f32 or 1 f64 each; 16: 2 f64. */
    const int buckets[4] = {2, 3 + 6, 7, 1};
    for (int v = 0; v < 4; v++) {
        nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, ps, &variants[v]);
        DT_CHECK(d, "%s", nn_last_error());
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < ag_numel(all[k]); i++) {
                void *g = ag_grad_data(all[k]);
                if (ag_dtype_of(all[k]) == AG_F32) ((float *)g)[i] = (float)(rank + 1 + i);
                else ((double *)g)[i] = rank + 1 + (double)i;
            }
        DT_OK(nn_ddp_allreduce_grads(d));
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < ag_numel(all[k]); i++)
                DT_CHECK(ag_grad_get(all[k], i) == 1.5 + (double)i, "variant %d, %s[%lld] = %g", v,
                         ag_name(all[k]), (long long)i, ag_grad_get(all[k], i));
        DT_CHECK(nn_ddp_get_stats(d).buckets == buckets[v], "variant %d: %d buckets", v,
                 nn_ddp_get_stats(d).buckets);
        nn_ddp_free(d);
    }
    nn_params_free(ps);
}

/* Stores, options and batchers that differ between the ranks are refused
 * on every rank; other bad arguments are refused too. */
static void mismatches(int rank, const nn_dataset *ds) {
    nn_params *ps = nn_params_new();
    nn_module *pm = dt_model(ps, AG_F64, 1);
    nn_params *odd = nn_params_new();
    nn_module *om = dt_model(odd, AG_F64, 1);
    if (rank == 1) nn_params_create(odd, "extra", AG_F64, 0, NULL, NULL);
    DT_CHECK(!nn_ddp_new(MPI_COMM_WORLD, odd, NULL), "a different store was accepted");
    DT_CHECK(strstr(nn_last_error(), "differ between the ranks"), "message: %s", nn_last_error());
    nn_ddp_opts by_rank = {.bucket_bytes = 1000 + (size_t)rank};
    DT_CHECK(!nn_ddp_new(MPI_COMM_WORLD, ps, &by_rank), "different options were accepted");
    by_rank = (nn_ddp_opts){.sleep_while_waiting = rank == 1};
    DT_CHECK(!nn_ddp_new(MPI_COMM_WORLD, ps, &by_rank), "different ways of waiting were accepted");
    DT_CHECK(!nn_ddp_new(MPI_COMM_NULL, ps, NULL), "MPI_COMM_NULL was accepted");
    DT_CHECK(strstr(nn_last_error(), "MPI_COMM_NULL"), "message: %s", nn_last_error());
    DT_CHECK(!nn_ddp_new(MPI_COMM_WORLD, ps, &(nn_ddp_opts){.reduce_dtype = 7}), "a bad dtype was accepted");
    /* An intercommunicator between the two halves of the world. */
    MPI_Comm half, inter;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
    MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, 1 - rank % 2, 7, &inter);
    DT_CHECK(!nn_ddp_new(inter, ps, NULL), "an intercommunicator was accepted");
    DT_CHECK(strstr(nn_last_error(), "intercommunicator"), "message: %s", nn_last_error());
    MPI_Comm_free(&inter);
    /* A sub-communicator of one rank works, alone. */
    nn_ddp *alone = nn_ddp_new(half, ps, NULL);
    DT_CHECK(alone && nn_ddp_size(alone) == 1 && nn_ddp_rank(alone) == 0, "%s", nn_last_error());
    DT_OK(nn_ddp_allreduce_grads(alone));
    nn_ddp_free(alone);
    MPI_Comm_free(&half);

    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, ps, NULL);
    DT_CHECK(d, "%s", nn_last_error());
    DT_CHECK(!nn_ddp_batcher_new(d, ds, 4, true, 5 + (uint64_t)rank, false), "different seeds were accepted");
    DT_CHECK(strstr(nn_last_error(), "differ between the ranks"), "message: %s", nn_last_error());
    nn_dataset *other = dt_data(nn_dataset_len(ds) + rank);
    DT_CHECK(!nn_ddp_batcher_new(d, other, 4, true, 5, false), "different datasets were accepted");
    nn_dataset_free(other);
    DT_CHECK(nn_ddp_broadcast(d, odd) == NN_ERR_MISMATCH, "broadcast of different stores");
    double v[2] = {rank, 1};
    DT_OK(nn_ddp_sum(d, v, 2));
    DT_CHECK(v[0] == 1 && v[1] == 2, "sum %g %g", v[0], v[1]);
    DT_OK(nn_ddp_mean(d, v, 2));
    DT_CHECK(v[0] == 1 && v[1] == 2, "mean of the sums %g %g", v[0], v[1]);
    DT_CHECK(nn_ddp_sum(d, NULL, 1) == NN_ERR_NULL && nn_ddp_sum(d, v, -1) == NN_ERR_ARG, "sum arguments");
    nn_params_create(ps, "late", AG_F64, 0, NULL, NULL);
    DT_CHECK(nn_ddp_allreduce_grads(d) == NN_ERR_ARG, "a store that grew was accepted");
    DT_CHECK(strstr(nn_last_error(), "make a new ddp"), "message: %s", nn_last_error());
    nn_ddp_free(d);
    /* keep_params: each rank keeps its own initialisation. */
    nn_params *own = nn_params_new();
    nn_module *own_m = dt_model(own, AG_F64, 1 + (uint64_t)rank);
    d = nn_ddp_new(MPI_COMM_WORLD, own, &(nn_ddp_opts){.keep_params = true});
    DT_CHECK(d && !dt_same_on_all_ranks(own), "keep_params broadcast anyway");
    nn_ddp_free(d);
    nn_module_free(own_m);
    nn_module_free(om);
    nn_module_free(pm);
    nn_params_free(own);
    nn_params_free(odd);
    nn_params_free(ps);
}

/* Rank 0 saves (rank 1's path is never used), rank 0 loads and shares;
 * rank 0's failures reach every rank. */
static void files(int rank) {
    char dir[] = "/tmp/tapegrad-ddp-XXXXXX", path[64] = "";
    if (rank == 0) DT_CHECK(mkdtemp(dir), "mkdtemp");
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/model.tgp", dir);
    nn_params *ps = nn_params_new();
    nn_module *m = dt_model(ps, AG_F64, 3);
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, ps, NULL);
    DT_CHECK(d, "%s", nn_last_error());
    DT_OK(nn_ddp_save(d, ps, rank == 0 ? path : "/nonexistent/dir/model.tgp"));
    nn_status st = nn_ddp_save(d, ps, rank == 0 ? "/nonexistent/dir/model.tgp" : path);
    DT_CHECK(st == NN_ERR_IO, "a failed save on rank 0 gave %d", (int)st);
    if (rank == 1) DT_CHECK(strncmp(nn_last_error(), "rank 0: ", 8) == 0, "message: %s", nn_last_error());
    /* Rank 1 changes its values; loading puts the file's back everywhere. */
    nn_params *other = nn_params_new();
    nn_module *om = dt_model(other, AG_F64, 4 + (uint64_t)rank);
    DT_CHECK(nn_ddp_load(d, other, "/nonexistent/model.tgp", NULL) == NN_ERR_IO, "missing file");
    DT_CHECK(!dt_same_on_all_ranks(other), "a failed load changed values");
    DT_OK(nn_ddp_load(d, other, rank == 0 ? path : "/nonexistent/model.tgp", NULL));
    DT_CHECK(dt_max_diff(other, ps) == 0, "loaded values differ from the saved ones");
    nn_ddp_free(d);
    nn_module_free(om);
    nn_module_free(m);
    nn_params_free(other);
    nn_params_free(ps);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        DT_CHECK(unlink(path) == 0, "rank 0 wrote no file");
        rmdir(dir);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    DT_CHECK(size == 2, "run on 2 ranks (mpi_run.sh 2 ...), not %d", size);
    DT_CHECK(nn_ddp_available(), "built with MPI");
    nn_dataset *ds = dt_data(50); /* 50 = 6 global batches of 8 and one of 2 */
    nn_optim_opts nesterov = nn_sgd_opts(0.2);
    nesterov.momentum = 0.9;
    nesterov.nesterov = true;
    const config configs[] = {
        {"SGD f64", nn_sgd_opts(0.5), {0}, AG_F64, 1e-12, 4, false, 1},
        {"SGD f64 drop_last", nn_sgd_opts(0.5), {0}, AG_F64, 1e-12, 4, true, 1},
        {"Nesterov f64, 5-element buckets", nesterov, {.bucket_bytes = 40}, AG_F64, 1e-12, 4, false, 14},
        {"Adam f64", nn_adam_opts(0.05), {0}, AG_F64, 1e-12, 4, false, 1},
        {"Adam f32", nn_adam_opts(0.05), {0}, AG_F32, 1e-5, 4, false, 1},
        {"SGD f64 reduced in f32", nn_sgd_opts(0.5), {.reduce_dtype = AG_F32}, AG_F64, 1e-5, 4, false, 1},
        {"Adam f64, sleeping while waiting", nn_adam_opts(0.05), {.sleep_while_waiting = true}, AG_F64, 1e-12, 4,
         false, 1},
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) equality(&configs[i], ds, rank, size);
    mixed_dtypes(rank);
    mismatches(rank, ds);
    files(rank);
    nn_dataset_free(ds);
    if (rank == 0) printf("test_ddp: OK, %d checks passed on rank 0 of %d\n", dt_checks, size);
    MPI_Finalize();
    return 0;
}
