/* One rank fails in the middle of data-parallel training; the job must end
 * on every rank, with a message, and never hang (tests/test_ddp_fail.sh):
 *
 *   mpi_run.sh 2 SECONDS ddp_fail error|exit|exit0|kill
 *
 * Both ranks train an MLP (test_ddp's) step after step, without end. At
 * step 3 rank 1 fails, while rank 0 waits for it in nn_ddp_allreduce_grads:
 *   error  a real tapegrad error (a batch of the wrong width: the tape's
 *          shape error), handled as every example does: nn_ddp_abort
 *   exit   exit(4) without MPI_Finalize, as a program that gives up
 *   exit0  exit(0) without MPI_Finalize: a "successful" exit mid-job
 *   kill   SIGKILL, as the kernel's out-of-memory killer would */
#include "ddp_testutil.h"

#include <signal.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ddp_fail error|exit|exit0|kill\n");
        return 2;
    }
    const char *mode = argv[1];
    nn_params *ps = nn_params_new();
    nn_module *m = dt_model(ps, AG_F64, 1);
    nn_ddp *d = nn_ddp_init(&argc, &argv, ps, NULL);
    if (!d) {
        fprintf(stderr, "ddp_fail: %s\n", nn_last_error());
        return 2;
    }
    int rank = nn_ddp_rank(d);
    double zeros[64 * 2] = {0};
    nn_dataset *ds = dt_data(64), *wrong = nn_dataset_new(64, 2, zeros, 0, NULL); /* 2 features, not 5 */
    nn_batcher *b = nn_ddp_batcher_new(d, ds, 4, true, 1, false);
    nn_optim_opts oo = nn_sgd_opts(0.1);
    nn_optim *o = nn_optim_new(ps, &oo);
    ag_tape *t = ag_tape_new(0);
    const int64_t *idx;
    for (long step = 0;; step++) {
        int64_t n = nn_batcher_next(b, &idx);
        if (n == 0) continue;
        if (rank == 1 && step == 3) {
            fprintf(stderr, "ddp_fail: rank 1 fails at step 3 (%s)\n", mode);
            if (strcmp(mode, "exit") == 0) exit(4);
            if (strcmp(mode, "exit0") == 0) exit(0);
            if (strcmp(mode, "kill") == 0) raise(SIGKILL);
            ds = wrong; /* "error": the next forward fails */
        }
        nn_optim_zero_grad(o);
        ag_tape_reset(t);
        int64_t y[4] = {0};
        if (ds != wrong) nn_dataset_gather(ds, n, idx, NULL, NULL, y);
        ag_tensor *loss = nn_sparse_cross_entropy(t, nn_forward(m, t, nn_batch_x(t, ds, AG_F64, n, idx)), n, y,
                                                  NN_MEAN);
        if (ag_backward(t, loss) != AG_OK) nn_ddp_abort(d, 3, ag_tape_error(t));
        nn_status st = nn_ddp_allreduce_grads(d);
        if (st != NN_OK) nn_ddp_abort(d, 3, nn_last_error());
        nn_optim_step(o);
        if (rank == 0 && step % 1000 == 0) usleep(1000);
    }
}
