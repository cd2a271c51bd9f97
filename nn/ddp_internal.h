/* Inside nn_ddp: the struct, the bucket layout (ddp_buckets.c) and the
 * transport, the only part that speaks MPI (ddp_mpi.c). ddp.c and
 * ddp_files.c are written against the transport and compile without MPI.
 * Not installed. */
#ifndef TAPEGRAD_NN_DDP_INTERNAL_H
#define TAPEGRAD_NN_DDP_INTERNAL_H

#include "nn_internal.h"

#include <tapegrad/nn_ddp.h>

typedef enum nn__reduce_op { NN__SUM, NN__MAX } nn__reduce_op;

/* How the ranks talk: set by the MPI side; a local ddp has none. Every
 * call is collective; `what` names the caller in error messages. Counts
 * fit an int (the callers cut their buffers so). */
typedef struct nn__ddp_transport {
    /* buf[0..count-1] of dtype (AG_F32 or AG_F64) reduced over the ranks, in place. */
    nn_status (*allreduce)(nn_ddp *d, void *buf, int count, ag_dtype dtype, nn__reduce_op op,
                           const char *what);
    /* Rank 0's `bytes` bytes at buf to every rank's buf. */
    nn_status (*bcast)(nn_ddp *d, void *buf, int bytes, const char *what);
    /* MPI_Abort: ends every rank. */
    void (*abort)(const nn_ddp *d, int code);
    /* Frees the transport's state (d->comm) and finalizes MPI if d owns it. */
    void (*free)(nn_ddp *d);
} nn__ddp_transport;

/* The parameters of one dtype on the wire, seen as one flat array in
 * registration order: offsets[i] is where members[i] starts. */
typedef struct nn__ddp_group {
    ag_dtype wire;
    size_t n;
    ag_tensor **members;
    int64_t *offsets;
    int64_t elems;     /* the flat length */
    int64_t cap;       /* elements per bucket */
} nn__ddp_group;

/* A store's buckets: at most two groups (f32 and f64 on the wire). */
typedef struct nn__ddp_layout {
    int ngroups;
    nn__ddp_group group[2];
    int buckets;       /* over both groups */
    int64_t bytes;     /* the flat payload, in the wire dtypes */
    size_t max_bucket_bytes;
} nn__ddp_layout;

/* What to move: gradients or values. */
typedef enum nn__ddp_part { NN__GRADS, NN__VALUES } nn__ddp_part;

struct nn_ddp {
    int rank, size;
    nn_params *ps;       /* whose gradients allreduce_grads averages; not owned */
    size_t nparams;      /* its parameter count at creation */
    nn_ddp_opts opts;    /* with the defaults filled in */
    nn__ddp_layout grads;
    void *scratch;       /* one bucket */
    size_t scratch_bytes;
    nn_ddp_stats stats;
    const nn__ddp_transport *tr; /* NULL for a local ddp */
    void *comm;          /* the transport's state */
};

/* A ddp of `size` ranks for ps: options checked and defaulted, the
 * gradient layout and scratch made; no transport yet (NULL with
 * nn_last_error() on a bad argument or malloc failure). `what` names the
 * caller. */
nn_ddp *nn__ddp_make(const char *what, nn_params *ps, const nn_ddp_opts *opts, int rank, int size);

/* Frees what nn__ddp_make made (not the transport). */
void nn__ddp_release(nn_ddp *d);

/* Collective check that every rank passes the same `value`; NN_ERR_MISMATCH
 * on every rank if not ("<what> differ between the ranks"). */
nn_status nn__ddp_same(nn_ddp *d, uint32_t value, const char *what);

/* CRC-32 of a store's names, dtypes and shapes, continuing from crc. */
uint32_t nn__ddp_store_crc(uint32_t crc, const nn_params *ps);

/* Fills L with ps's parameters grouped by wire dtype (reduce: 0 = each its
 * own dtype) in buckets of at most bucket_bytes. NN_ERR_MEMORY on failure
 * (L is freed then). */
nn_status nn__ddp_layout_make(nn__ddp_layout *L, const nn_params *ps, ag_dtype reduce,
                              size_t bucket_bytes);
void nn__ddp_layout_free(nn__ddp_layout *L);

/* Flat elements [start, start + len) of group g's gradients or values,
 * converted to the wire dtype, into buf; and back, multiplied by scale
 * (values are written through ag_data_mut). */
void nn__ddp_pack(const nn__ddp_group *g, nn__ddp_part part, int64_t start, int64_t len, void *buf);
void nn__ddp_unpack(const nn__ddp_group *g, nn__ddp_part part, int64_t start, int64_t len,
                    const void *buf, double scale);

/* Runs every bucket of L: gradients summed over the ranks and multiplied
 * by 1/size (reduce), or rank 0's values broadcast (!reduce). Uses d's
 * scratch, which must hold L's largest bucket. */
nn_status nn__ddp_run(nn_ddp *d, const nn__ddp_layout *L, bool reduce, const char *what);

/* Sends rank 0's status `st` and nn_last_error() to every rank, which
 * returns it with the message set, unless its own `st` failed. */
nn_status nn__ddp_share_status(nn_ddp *d, nn_status st);

#endif
