/* nn_ddp: gradient averaging in buckets, broadcasts, sums, the sharded
 * batcher, and the local (one-process) world. Written against the
 * transport of ddp_internal.h; MPI itself is in ddp_mpi.c. */
#include "ddp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool distributed(const nn_ddp *d) { return d->tr && d->size > 1; }

nn_ddp *nn__ddp_make(const char *what, nn_params *ps, const nn_ddp_opts *opts, int rank, int size) {
    if (!ps) {
        nn__fail(NN_ERR_NULL, "%s: the parameter store is NULL", what);
        return NULL;
    }
    nn_ddp_opts o = opts ? *opts : (nn_ddp_opts){0};
    if (o.reduce_dtype != 0 && o.reduce_dtype != AG_F32 && o.reduce_dtype != AG_F64) {
        nn__fail(NN_ERR_ARG, "%s: reduce_dtype %d is not 0, AG_F32 or AG_F64", what, (int)o.reduce_dtype);
        return NULL;
    }
    if (o.bucket_bytes == 0) o.bucket_bytes = NN_DDP_BUCKET_BYTES;
    nn_ddp *d = calloc(1, sizeof *d);
    if (!d) {
        nn__fail(NN_ERR_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    d->rank = rank;
    d->size = size;
    d->ps = ps;
    d->nparams = nn_params_count(ps);
    d->opts = o;
    if (nn__ddp_layout_make(&d->grads, ps, o.reduce_dtype, o.bucket_bytes) != NN_OK) {
        free(d);
        return NULL;
    }
    d->scratch_bytes = d->grads.max_bucket_bytes;
    d->scratch = malloc(d->scratch_bytes ? d->scratch_bytes : 1);
    if (!d->scratch) {
        nn__ddp_release(d);
        nn__fail(NN_ERR_MEMORY, "%s: out of memory for a %zu-byte bucket", what, d->scratch_bytes);
        return NULL;
    }
    d->stats.buckets = d->grads.buckets;
    d->stats.bytes_per_call = d->grads.bytes;
    return d;
}

void nn__ddp_release(nn_ddp *d) {
    nn__ddp_layout_free(&d->grads);
    free(d->scratch);
    free(d);
}

nn_ddp *nn_ddp_local(nn_params *ps, const nn_ddp_opts *opts) {
    return nn__ddp_make("ddp_local", ps, opts, 0, 1);
}

void nn_ddp_free(nn_ddp *d) {
    if (!d) return;
    if (d->tr) d->tr->free(d);
    nn__ddp_release(d);
}

int nn_ddp_rank(const nn_ddp *d) { return d ? d->rank : 0; }
int nn_ddp_size(const nn_ddp *d) { return d ? d->size : 1; }

nn_ddp_stats nn_ddp_get_stats(const nn_ddp *d) { return d ? d->stats : (nn_ddp_stats){0}; }

void nn_ddp_abort(const nn_ddp *d, int code, const char *message) {
    fprintf(stderr, "tapegrad ddp: rank %d of %d: %s\n", nn_ddp_rank(d), nn_ddp_size(d),
            message ? message : "(no message)");
    fflush(stderr);
    if (d && d->tr) d->tr->abort(d, code);
    exit(code); /* a local world, or an MPI_Abort that returned */
}

nn_status nn__ddp_same(nn_ddp *d, uint32_t value, const char *what) {
    if (!distributed(d)) return NN_OK;
    /* max(v) and max(-v) together give the largest and the smallest. */
    double v[2] = {(double)value, -(double)value};
    nn_status st = d->tr->allreduce(d, v, 2, AG_F64, NN__MAX, what);
    if (st != NN_OK) return st;
    if (v[0] != -v[1]) return nn__fail(NN_ERR_MISMATCH, "%s differ between the ranks (rank %d of %d)", what, d->rank, d->size);
    return NN_OK;
}

nn_status nn__ddp_run(nn_ddp *d, const nn__ddp_layout *L, bool reduce, const char *what) {
    double scale = 1.0 / d->size, t_move = 0, t0 = now();
    for (int g = 0; g < L->ngroups; g++) {
        const nn__ddp_group *G = &L->group[g];
        size_t es = G->wire == AG_F32 ? sizeof(float) : sizeof(double);
        for (int64_t start = 0; start < G->elems; start += G->cap) {
            int64_t len = G->elems - start < G->cap ? G->elems - start : G->cap;
            if (reduce || d->rank == 0) nn__ddp_pack(G, reduce ? NN__GRADS : NN__VALUES, start, len, d->scratch);
            double t1 = now();
            nn_status st = reduce ? d->tr->allreduce(d, d->scratch, (int)len, G->wire, NN__SUM, what)
                                  : d->tr->bcast(d, d->scratch, (int)((size_t)len * es), what);
            t_move += now() - t1;
            if (st != NN_OK) return st;
            if (reduce) nn__ddp_unpack(G, NN__GRADS, start, len, d->scratch, scale);
            else if (d->rank != 0) nn__ddp_unpack(G, NN__VALUES, start, len, d->scratch, 1);
            if (reduce) d->stats.allreduces++;
        }
    }
    if (reduce) {
        d->stats.allreduce_seconds += t_move;
        d->stats.pack_seconds += now() - t0 - t_move;
        d->stats.bytes += L->bytes;
    }
    return NN_OK;
}

nn_status nn_ddp_allreduce_grads(nn_ddp *d) {
    if (!d) return nn__fail(NN_ERR_NULL, "ddp_allreduce_grads: the ddp is NULL");
    if (nn_params_count(d->ps) != d->nparams)
        return nn__fail(NN_ERR_ARG, "ddp_allreduce_grads: the store has %zu parameters, the ddp was made "
                        "for %zu: make a new ddp after adding parameters", nn_params_count(d->ps), d->nparams);
    d->stats.calls++;
    /* One rank averages over itself: nothing to do. */
    return distributed(d) ? nn__ddp_run(d, &d->grads, true, "ddp_allreduce_grads") : NN_OK;
}

nn_status nn_ddp_broadcast(nn_ddp *d, nn_params *ps) {
    if (!d || !ps) return nn__fail(NN_ERR_NULL, "ddp_broadcast: %s is NULL", !d ? "the ddp" : "the store");
    if (!distributed(d)) return NN_OK;
    nn_status st = nn__ddp_same(d, nn__ddp_store_crc(0, ps), "ddp_broadcast: the stores' names, dtypes or shapes");
    if (st != NN_OK) return st;
    nn__ddp_layout L;
    if ((st = nn__ddp_layout_make(&L, ps, 0, d->opts.bucket_bytes)) != NN_OK) return st;
    if (L.max_bucket_bytes > d->scratch_bytes) { /* a store with a larger bucket than the gradients' */
        void *s = realloc(d->scratch, L.max_bucket_bytes);
        if (!s) {
            nn__ddp_layout_free(&L);
            return nn__fail(NN_ERR_MEMORY, "ddp_broadcast: out of memory for a %zu-byte bucket", L.max_bucket_bytes);
        }
        d->scratch = s;
        d->scratch_bytes = L.max_bucket_bytes;
    }
    st = nn__ddp_run(d, &L, false, "ddp_broadcast");
    nn__ddp_layout_free(&L);
    return st;
}

nn_status nn_ddp_sum(nn_ddp *d, double *v, int n) {
    if (!d || (!v && n > 0)) return nn__fail(NN_ERR_NULL, "ddp_sum: %s is NULL", !d ? "the ddp" : "v");
    if (n < 0) return nn__fail(NN_ERR_ARG, "ddp_sum: n = %d is negative", n);
    return distributed(d) && n > 0 ? d->tr->allreduce(d, v, n, AG_F64, NN__SUM, "ddp_sum") : NN_OK;
}

nn_status nn_ddp_mean(nn_ddp *d, double *v, int n) {
    nn_status st = nn_ddp_sum(d, v, n);
    for (int i = 0; st == NN_OK && i < n; i++) v[i] /= d->size;
    return st;
}

/* CRC-32 of what the ranks' batchers must agree on: sizes, flags, seed,
 * labels or targets, and up to 64 rows of features sampled evenly. */
static uint32_t batcher_crc(const nn_dataset *ds, int64_t batch, bool shuffle, uint64_t seed, bool drop_last) {
    int64_t n = nn_dataset_len(ds), f = nn_dataset_features(ds), k = nn_dataset_targets(ds);
    unsigned char head[8 * 6];
    const uint64_t fields[6] = {(uint64_t)n, (uint64_t)f, (uint64_t)k, (uint64_t)nn_dataset_classes(ds),
                                (uint64_t)batch, seed};
    for (int i = 0; i < 6; i++) nn__st_le64(head + 8 * i, fields[i]);
    uint32_t crc = nn_crc32(0, head, sizeof head);
    unsigned char flags[2] = {shuffle, drop_last};
    crc = nn_crc32(crc, flags, 2);
    if (nn_dataset_labels(ds)) crc = nn_crc32(crc, nn_dataset_labels(ds), (size_t)n * sizeof(int64_t));
    if (nn_dataset_y(ds)) crc = nn_crc32(crc, nn_dataset_y(ds), (size_t)(n * k) * sizeof(double));
    int64_t rows = n < 64 ? n : 64;
    for (int64_t r = 0; r < rows; r++)
        crc = nn_crc32(crc, nn_dataset_x(ds) + (r * n / rows) * f, (size_t)f * sizeof(double));
    return crc;
}

nn_batcher *nn_ddp_batcher_new(nn_ddp *d, const nn_dataset *ds, int64_t batch_per_rank, bool shuffle,
                               uint64_t seed, bool drop_last) {
    if (!d || !ds) {
        nn__fail(NN_ERR_NULL, "ddp_batcher_new: %s is NULL", !d ? "the ddp" : "the dataset");
        return NULL;
    }
    if (nn__ddp_same(d, batcher_crc(ds, batch_per_rank, shuffle, seed, drop_last),
                     "ddp_batcher_new: the datasets, batch sizes, seeds or flags") != NN_OK)
        return NULL;
    return nn_batcher_new_shard(ds, batch_per_rank, shuffle, seed, drop_last, d->rank, d->size);
}

/* Rank 0's status and message, as sent. */
typedef struct shared_status {
    int32_t status;
    char message[500];
} shared_status;

nn_status nn__ddp_share_status(nn_ddp *d, nn_status st) {
    if (!distributed(d)) return st;
    shared_status s = {(int32_t)st, ""};
    if (d->rank == 0 && st != NN_OK && nn_last_error())
        snprintf(s.message, sizeof s.message, "%s", nn_last_error());
    nn_status sent = d->tr->bcast(d, &s, (int)sizeof s, "ddp: sharing rank 0's status");
    if (sent != NN_OK) return sent;
    if (d->rank != 0 && st != NN_OK) return st; /* this rank's own failure (see nn_ddp.h on those) */
    if (d->rank != 0 && s.status != NN_OK) return nn__fail((nn_status)s.status, "rank 0: %s", s.message);
    return (nn_status)s.status;
}
