/* tapegrad nn_mpi — data parallelism on a communicator of your own.
 *
 * Only in a tapegrad built with MPI (TAPEGRAD_HAVE_MPI in
 * <tapegrad/config.h>); it includes <mpi.h>. Everything else is in
 * <tapegrad/nn_ddp.h>, which this includes. */
#ifndef TAPEGRAD_NN_MPI_H
#define TAPEGRAD_NN_MPI_H

#include <mpi.h>
#include <tapegrad/nn_ddp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Data parallelism over the ranks of `comm` (MPI_COMM_WORLD, or a
 * sub-communicator from MPI_Comm_split, e.g. one job of several), with
 * `ps` the store whose gradients nn_ddp_allreduce_grads averages (kept, not
 * owned; opts may be NULL). Collective over comm. MPI must be initialized
 * (MPI_Init or MPI_Init_thread; the ddp never finalizes it). The ddp
 * works on its own duplicate of comm (MPI_Comm_dup), so its messages never
 * meet the caller's, with MPI_ERRORS_RETURN set on it. Checks that every
 * rank has the same parameter names, dtypes and shapes and the same
 * options, then (unless opts->keep_params) broadcasts rank 0's values.
 * NULL on error, with nn_last_error(): NULL store, bad options, MPI not
 * initialized or finalized, comm MPI_COMM_NULL or an intercommunicator
 * (NN_ERR_ARG), stores or options that differ (NN_ERR_MISMATCH, on every
 * rank), an MPI error (NN_ERR_COMM). */
nn_ddp *nn_ddp_new(MPI_Comm comm, nn_params *ps, const nn_ddp_opts *opts);

/* The ddp's own communicator (its duplicate of comm), or MPI_COMM_NULL for
 * a local ddp or NULL. */
MPI_Comm nn_ddp_comm(const nn_ddp *d);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_NN_MPI_H */
