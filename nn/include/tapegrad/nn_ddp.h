/* tapegrad nn_ddp — data-parallel training on several processes (MPI).
 *
 * The same training loop runs in p processes ("ranks", 0 .. p-1, started by
 * mpirun), on one machine or several. Each rank holds the whole model and
 * trains on its own slice of every batch; after each backward the ranks
 * average their gradients, so every rank takes the same optimizer step and
 * the parameters stay identical everywhere, as PyTorch's
 * DistributedDataParallel does. A step on p ranks with b samples each is
 * the step one process would take on the p·b samples together (to rounding).
 *
 *   nn_ddp *ddp = nn_ddp_init(&argc, &argv, ps, NULL);  // MPI_Init; rank 0's values everywhere
 *   nn_batcher *b = nn_ddp_batcher_new(ddp, train, 32, true, seed, false); // 32 per rank
 *   while ((m = nn_batcher_next(b, &idx)) > 0) {
 *       nn_optim_zero_grad(opt);  forward;  ag_backward(t, loss);
 *       nn_ddp_allreduce_grads(ddp);       // every gradient averaged over the ranks
 *       nn_optim_step(opt);  ag_tape_reset(t);
 *   }
 *   nn_ddp_save(ddp, ps, "model.tgp");     // rank 0 writes
 *   nn_ddp_free(ddp);                      // and MPI_Finalize
 *
 * This header needs no MPI: nn_ddp_local() is a world of one process that
 * runs the same loop unchanged, so a program can take a --ddp flag and use
 * these calls either way. nn_ddp_init and the communicator form,
 * nn_ddp_new in <tapegrad/nn_mpi.h>, need a tapegrad built with MPI
 * (meson -Dmpi=enabled or auto with OpenMPI installed; TAPEGRAD_HAVE_MPI in
 * <tapegrad/config.h>, nn_ddp_available() at run time).
 *
 * Identical on every rank (checked where marked, else the user's duty):
 * the program and its arguments; the parameter store's names, dtypes and
 * shapes, and the options here (checked by nn_ddp_new: NN_ERR_MISMATCH on
 * every rank); the dataset, batch size, seed and shuffle flags (checked by
 * nn_ddp_batcher_new: sizes, flags, seed, labels and 64 sampled rows); the
 * optimizer and its options, the learning-rate schedule, and the order of
 * every call below (checked by nothing: a rank that skips a call, or makes
 * a different one, leaves the others waiting).
 *
 * Every function below that talks to the other ranks is collective: every
 * rank must call it, in the same order. Errors: a status, with the message
 * in nn_last_error(); MPI runs with MPI_ERRORS_RETURN on the ddp's own
 * communicator, so an MPI error is NN_ERR_COMM naming the call and MPI's
 * message, not an abort. An error only one rank sees (its own bad argument,
 * a failed malloc, a tape error) leaves the others waiting in their next
 * collective: end the job with nn_ddp_abort, which every example does on
 * any error. A rank that dies or exits ends the job too (mpirun stops the
 * others and says which rank). */
#ifndef TAPEGRAD_NN_DDP_H
#define TAPEGRAD_NN_DDP_H

#include <tapegrad/nn.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ranks and how they share work; opaque. */
typedef struct nn_ddp nn_ddp;

/* Default largest gradient bucket: 25 MiB, as PyTorch DDP's bucket_cap_mb. */
#define NN_DDP_BUCKET_BYTES ((size_t)25 << 20)

typedef struct nn_ddp_opts {
    /* Gradients are packed into contiguous buckets of at most this many
     * bytes, one MPI_Allreduce each (0 = NN_DDP_BUCKET_BYTES; a parameter
     * larger than a bucket spans several). The pack buffer is one bucket. */
    size_t bucket_bytes;
    /* The dtype gradients travel and are summed in: 0 = each its own
     * (f32 gradients in f32, f64 in f64, one bucket run per dtype); AG_F32
     * halves the bytes of f64 gradients (rounding them); AG_F64 sums f32
     * gradients in double. */
    ag_dtype reduce_dtype;
    /* false (the default): creation broadcasts rank 0's parameter values to
     * every rank, so the ranks start equal whatever their initialisation.
     * true: they are left as they are (already equal). */
    bool keep_params;
    /* false (the default): all-reduces wait the way MPI waits, polling
     * (fastest on cores of their own, as on a cluster node). true: each
     * all-reduce is an MPI_Iallreduce tested every 20 µs with a sleep
     * between tests, so a rank waiting for a slower one gives its core
     * away. On a machine shared with other work a polling rank starves
     * the rank it waits for (mlp_step's model on 2 ranks of this project's
     * 2-core machine at load 15: 13-22 ms per step against 36-48 ms
     * polling); on cores of their own the sleeps only slow the transfer
     * (0.94 MB: 2.5-8 ms against 0.2-0.8 ms polling, at that load). */
    bool sleep_while_waiting;
} nn_ddp_opts;

/* True when this tapegrad was built with MPI (so nn_ddp_init can work). */
bool nn_ddp_available(void);

/* Data parallelism over MPI_COMM_WORLD: initialises MPI (MPI_Init_thread,
 * MPI_THREAD_FUNNELED: only the main thread calls MPI) unless it already
 * is, then nn_ddp_new(MPI_COMM_WORLD, ps, opts). `argc`/`argv` may be NULL.
 * Run alone (without mpirun) it is a world of one rank. NULL on error, with
 * nn_last_error(): built without MPI (NN_ERR_UNSUPPORTED), MPI failed to start, or nn_ddp_new's
 * errors (MPI is finalized again then if this call started it). */
nn_ddp *nn_ddp_init(int *argc, char ***argv, nn_params *ps, const nn_ddp_opts *opts);

/* A world of one process, without MPI: rank 0 of 1; averaging, sums and
 * broadcasts leave values as they are, the batcher is the whole data, saving
 * and loading are nn_save / nn_load. Works in every build. `ps` is the store
 * nn_ddp_allreduce_grads averages (kept, not owned). NULL on a NULL store or
 * bad options. */
nn_ddp *nn_ddp_local(nn_params *ps, const nn_ddp_opts *opts);

/* Frees the ddp (collective: MPI_Comm_free of its communicator). A ddp from
 * nn_ddp_init that started MPI also finalizes it: the clean end of a run.
 * NULL is a no-op. */
void nn_ddp_free(nn_ddp *d);

/* This process's rank in 0 .. size-1, and the number of ranks (0 and 1 for
 * NULL). */
int nn_ddp_rank(const nn_ddp *d);
int nn_ddp_size(const nn_ddp *d);

/* Averages the gradient of every parameter of the ddp's store over the
 * ranks, in place: g = (g_0 + ... + g_{p-1}) / p. Call it after backward and
 * before the optimizer step. With every rank's loss a mean over its own b
 * samples (equal b on every rank, as nn_ddp_batcher_new gives), the result
 * is the gradient of the mean over all p·b samples. Allocates nothing.
 *
 * It does not overlap with the backward pass: it starts when ag_backward has
 * returned, packing the gradients into buckets (opts.bucket_bytes) that go
 * one blocking MPI_Allreduce after another (ring or tree, MPI's choice).
 * Overlap needs the sweep to say when a parameter's gradient is final, and
 * ag_backward has no such hook; docs/distributed.md says when overlapping
 * would matter. NN_ERR_ARG if the store gained parameters since creation. */
nn_status nn_ddp_allreduce_grads(nn_ddp *d);

/* Copies rank 0's values of every parameter of `ps` to the other ranks
 * (through ag_data_mut, so their older tapes go stale). The stores must
 * have the same names, dtypes and shapes on every rank (checked first:
 * NN_ERR_MISMATCH on every rank, nothing changed). Any store: the ddp's own,
 * or e.g. an optimizer's exported state. */
nn_status nn_ddp_broadcast(nn_ddp *d, nn_params *ps);

/* Sums v[0..n-1] over the ranks, in place, on every rank (in doubles): for
 * printing a loss or an accuracy over all the ranks' samples, e.g.
 * {sum of loss·m, samples, right answers} summed, then divided. The mean is
 * the sum divided by the number of ranks. */
nn_status nn_ddp_sum(nn_ddp *d, double *v, int n);
nn_status nn_ddp_mean(nn_ddp *d, double *v, int n);

/* This rank's shard of ds: nn_batcher_new_shard(ds, batch_per_rank,
 * shuffle, seed, drop_last, rank, size), so each rank gets a disjoint,
 * equal slice of every global batch of batch_per_rank · size samples of
 * the same shuffled epoch, and every rank the same number of batches.
 * Collective: checks that the ranks agree on the sizes, the flags, the seed
 * and the data (labels or targets, and 64 rows sampled evenly), else NULL
 * with NN_ERR_MISMATCH on every rank. Free it with nn_batcher_free. */
nn_batcher *nn_ddp_batcher_new(nn_ddp *d, const nn_dataset *ds, int64_t batch_per_rank,
                               bool shuffle, uint64_t seed, bool drop_last);

/* Saves on rank 0 only: rank 0 writes `ps` to `path` with nn_save (the
 * other ranks' paths are not used), and every rank returns rank 0's status
 * and message. The ranks' stores are equal during training, so rank 0's
 * file is the model. */
nn_status nn_ddp_save(nn_ddp *d, const nn_params *ps, const char *path);

/* Loads on rank 0 and shares: rank 0 runs nn_load(ps, path, opts) (so only
 * rank 0 needs the file; opts' on_skip is called there), every rank returns
 * its status, and on success rank 0's values go to every rank
 * (nn_ddp_broadcast). On an error no rank's store changes. */
nn_status nn_ddp_load(nn_ddp *d, nn_params *ps, const char *path, const nn_load_opts *opts);

/* The optimizer's state the same ways: rank 0 writes nn_optim_save's file;
 * rank 0 reads one (nn_optim_load, max_bytes as there) and every rank
 * imports it. With nn_ddp_save/nn_ddp_load and nn_batcher_set_epoch this is
 * a checkpoint that resumes exactly. */
nn_status nn_ddp_save_optim(nn_ddp *d, const nn_optim *o, const char *path);
nn_status nn_ddp_load_optim(nn_ddp *d, nn_optim *o, const char *path, size_t max_bytes);

/* Ends the whole job from one rank: prints "tapegrad ddp: rank R of P:
 * <message>" on stderr and calls MPI_Abort on the ddp's communicator with
 * `code`, which stops every rank (mpirun reports it); a local ddp (or NULL)
 * exits the process with `code`. Does not return. For errors only this rank
 * sees, where the others would otherwise wait for it forever. */
void nn_ddp_abort(const nn_ddp *d, int code, const char *message);

/* What nn_ddp_allreduce_grads has done so far on this rank. */
typedef struct nn_ddp_stats {
    int64_t calls;           /* nn_ddp_allreduce_grads calls */
    int64_t allreduces;      /* MPI_Allreduce calls they made (buckets) */
    int64_t bytes;           /* bytes this rank sent into them (one copy of the payload) */
    double allreduce_seconds; /* wall time inside MPI_Allreduce */
    double pack_seconds;     /* wall time packing, averaging and unpacking */
    int buckets;             /* buckets per call */
    int64_t bytes_per_call;  /* gradient bytes per call, in the reduce dtype */
} nn_ddp_stats;

nn_ddp_stats nn_ddp_get_stats(const nn_ddp *d);

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_NN_DDP_H */
