/* Datasets from C arrays, seeded shuffling, train/test split, mini-batch
 * iteration and gathering batches into buffers or tape tensors. */
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nn_dataset {
    int64_t n, d, k, classes;
    double *x;        /* (n, d) */
    double *y;        /* (n, k) or NULL */
    int64_t *labels;  /* (n) or NULL */
};

struct nn_batcher {
    const nn_dataset *ds;
    int64_t batch, pos, end;  /* batch: all shards' together; end: samples visited per epoch */
    int rank, world;          /* this shard and the number of shards (0 and 1 unsharded) */
    bool shuffle, started;
    uint64_t seed;
    int64_t epoch;            /* the current epoch, or the next one between epochs */
    ag_rng rng;
    int64_t *order;           /* (n) */
};

/* n·m elements of `size` bytes without overflow, or SIZE_MAX. */
static size_t bytes_of(int64_t n, int64_t m, size_t size) {
    if (n < 0 || m < 0) return SIZE_MAX;
    if (m && (uint64_t)n > SIZE_MAX / size / (uint64_t)m) return SIZE_MAX;
    return (size_t)n * (size_t)m * size;
}

/* An empty dataset with its arrays allocated. */
static nn_dataset *alloc_dataset(const char *what, int64_t n, int64_t d, int64_t k, bool labels) {
    if (n < 0 || d < 0 || k < 0) {
        nn__fail(NN_ERR_ARG, "%s: negative size (n %lld, d %lld, k %lld)", what, (long long)n,
                 (long long)d, (long long)k);
        return NULL;
    }
    size_t bx = bytes_of(n, d, sizeof(double)), by = bytes_of(n, k, sizeof(double)),
           bl = bytes_of(n, 1, sizeof(int64_t));
    if (bx == SIZE_MAX || by == SIZE_MAX || bl == SIZE_MAX) {
        nn__fail(NN_ERR_MEMORY, "%s: %lld samples are too many", what, (long long)n);
        return NULL;
    }
    nn_dataset *ds = calloc(1, sizeof *ds);
    if (ds) {
        ds->x = malloc(bx ? bx : 1);
        ds->y = k ? malloc(by ? by : 1) : NULL;
        ds->labels = labels ? malloc(bl ? bl : 1) : NULL;
    }
    if (!ds || !ds->x || (k && !ds->y) || (labels && !ds->labels)) {
        nn_dataset_free(ds);
        nn__fail(NN_ERR_MEMORY, "%s: out of memory for %lld samples", what, (long long)n);
        return NULL;
    }
    ds->n = n;
    ds->d = d;
    ds->k = k;
    return ds;
}

nn_dataset *nn_dataset_new(int64_t n, int64_t d, const double *x, int64_t k, const double *y) {
    if ((!x && n > 0 && d > 0) || (!y && k > 0 && n > 0)) {
        nn__fail(NN_ERR_NULL, "dataset_new: %s is NULL", !x ? "x" : "y");
        return NULL;
    }
    nn_dataset *ds = alloc_dataset("dataset_new", n, d, k, false);
    if (!ds) return NULL;
    if (n > 0 && d > 0) memcpy(ds->x, x, (size_t)n * (size_t)d * sizeof(double));
    if (n > 0 && k > 0) memcpy(ds->y, y, (size_t)n * (size_t)k * sizeof(double));
    return ds;
}

nn_dataset *nn_dataset_new_labels(int64_t n, int64_t d, const double *x, const int64_t *labels,
                                  int64_t classes) {
    if ((!x && n > 0 && d > 0) || (!labels && n > 0)) {
        nn__fail(NN_ERR_NULL, "dataset_new_labels: %s is NULL", !x ? "x" : "labels");
        return NULL;
    }
    if (classes < 1) {
        nn__fail(NN_ERR_ARG, "dataset_new_labels: classes must be at least 1 (got %lld)", (long long)classes);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes) {
            nn__fail(NN_ERR_ARG, "dataset_new_labels: label %lld of sample %lld is outside [0, %lld)",
                     (long long)labels[i], (long long)i, (long long)classes);
            return NULL;
        }
    nn_dataset *ds = alloc_dataset("dataset_new_labels", n, d, 0, true);
    if (!ds) return NULL;
    ds->classes = classes;
    if (n > 0 && d > 0) memcpy(ds->x, x, (size_t)n * (size_t)d * sizeof(double));
    if (n > 0) memcpy(ds->labels, labels, (size_t)n * sizeof(int64_t));
    return ds;
}

void nn_dataset_free(nn_dataset *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    free(ds->labels);
    free(ds);
}

int64_t nn_dataset_len(const nn_dataset *ds) { return ds ? ds->n : 0; }
int64_t nn_dataset_features(const nn_dataset *ds) { return ds ? ds->d : 0; }
int64_t nn_dataset_targets(const nn_dataset *ds) { return ds ? ds->k : 0; }
int64_t nn_dataset_classes(const nn_dataset *ds) { return ds ? ds->classes : 0; }
const double *nn_dataset_x(const nn_dataset *ds) { return ds ? ds->x : NULL; }
const double *nn_dataset_y(const nn_dataset *ds) { return ds ? ds->y : NULL; }
const int64_t *nn_dataset_labels(const nn_dataset *ds) { return ds ? ds->labels : NULL; }

/* A uniform integer in [0, bound) without modulo bias: draws below the
 * largest multiple of bound are kept. */
static uint64_t below(ag_rng *r, uint64_t bound) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        uint64_t v = ag_rng_next(r);
        if (v < limit) return v % bound;
    }
}

void nn_shuffle(int64_t *idx, int64_t n, ag_rng *r) {
    if (!idx || !r) return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(r, (uint64_t)i + 1);
        int64_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

/* Checks m indices against ds; names the first bad one. */
static nn_status check_indices(const char *what, const nn_dataset *ds, int64_t m, const int64_t *idx) {
    if (!ds || (!idx && m > 0)) return nn__fail(NN_ERR_NULL, "%s: %s is NULL", what, !ds ? "dataset" : "idx");
    if (m < 0) return nn__fail(NN_ERR_ARG, "%s: negative batch size %lld", what, (long long)m);
    for (int64_t i = 0; i < m; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return nn__fail(NN_ERR_ARG, "%s: index %lld (position %lld) is outside [0, %lld)", what,
                            (long long)idx[i], (long long)i, (long long)ds->n);
    return NN_OK;
}

nn_status nn_dataset_gather(const nn_dataset *ds, int64_t m, const int64_t *idx, double *x_out,
                            double *y_out, int64_t *labels_out) {
    nn_status s = check_indices("dataset_gather", ds, m, idx);
    if (s != NN_OK) return s;
    if ((y_out && !ds->y && ds->k) || (labels_out && !ds->labels))
        return nn__fail(NN_ERR_ARG, "dataset_gather: the dataset has no %s", labels_out ? "labels" : "targets");
    for (int64_t i = 0; i < m; i++) {
        if (x_out && ds->d)
            memcpy(x_out + i * ds->d, ds->x + idx[i] * ds->d, (size_t)ds->d * sizeof(double));
        if (y_out && ds->k)
            memcpy(y_out + i * ds->k, ds->y + idx[i] * ds->k, (size_t)ds->k * sizeof(double));
        if (labels_out) labels_out[i] = ds->labels[idx[i]];
    }
    return NN_OK;
}

nn_status nn_dataset_split(const nn_dataset *ds, double test_fraction, uint64_t seed, nn_dataset **train,
                           nn_dataset **test) {
    if (!ds || !train || !test) return nn__fail(NN_ERR_NULL, "dataset_split: an argument is NULL");
    *train = *test = NULL;
    if (!(test_fraction >= 0.0 && test_fraction <= 1.0))
        return nn__fail(NN_ERR_ARG, "dataset_split: test_fraction %g is outside [0, 1]", test_fraction);
    int64_t n_test = (int64_t)llround((double)ds->n * test_fraction), n_train = ds->n - n_test;
    int64_t *order = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *order); /* n fit at creation */
    if (!order) return nn__fail(NN_ERR_MEMORY, "dataset_split: out of memory");
    for (int64_t i = 0; i < ds->n; i++) order[i] = i;
    ag_rng r;
    ag_rng_seed(&r, seed);
    nn_shuffle(order, ds->n, &r);
    bool lab = ds->labels != NULL;
    nn_dataset *a = alloc_dataset("dataset_split", n_train, ds->d, ds->k, lab);
    nn_dataset *b = a ? alloc_dataset("dataset_split", n_test, ds->d, ds->k, lab) : NULL;
    if (!a || !b) {
        nn_dataset_free(a);
        free(order);
        return NN_ERR_MEMORY;
    }
    a->classes = b->classes = ds->classes;
    nn_dataset_gather(ds, n_train, order, a->x, a->y, a->labels);
    nn_dataset_gather(ds, n_test, order + n_train, b->x, b->y, b->labels);
    free(order);
    *train = a;
    *test = b;
    return NN_OK;
}

/* A constant (m, w) tensor on the tape filled from rows idx of src (n, w). */
static ag_tensor *batch_tensor(const char *what, ag_tape *t, const nn_dataset *ds, const double *src,
                               int64_t w, ag_dtype dtype, int64_t m, const int64_t *idx) {
    if (!t) {
        nn__fail(NN_ERR_NULL, "%s: tape is NULL", what);
        return NULL;
    }
    if (check_indices(what, ds, m, idx) != NN_OK) return NULL;
    if (dtype != AG_F32 && dtype != AG_F64) {
        nn__fail(NN_ERR_ARG, "%s: unknown dtype %d", what, (int)dtype);
        return NULL;
    }
    ag_tensor *x = ag_tensor_new(t, dtype, AG_SHAPE(m, w), NULL);
    if (!x) {
        nn__fail(NN_ERR_MEMORY, "%s: %s", what, ag_tape_error(t) ? ag_tape_error(t) : "tape error");
        return NULL;
    }
    void *dst = ag_data_mut(x); /* a tape constant: no version to bump */
    for (int64_t i = 0; i < m; i++) {
        const double *row = src + idx[i] * w;
        if (dtype == AG_F64) {
            memcpy((double *)dst + i * w, row, (size_t)w * sizeof(double));
        } else {
            float *out = (float *)dst + i * w;
            for (int64_t j = 0; j < w; j++) out[j] = (float)row[j];
        }
    }
    return x;
}

ag_tensor *nn_batch_x(ag_tape *t, const nn_dataset *ds, ag_dtype dtype, int64_t m, const int64_t *idx) {
    return batch_tensor("batch_x", t, ds, ds ? ds->x : NULL, ds ? ds->d : 0, dtype, m, idx);
}

ag_tensor *nn_batch_y(ag_tape *t, const nn_dataset *ds, ag_dtype dtype, int64_t m, const int64_t *idx) {
    if (ds && !ds->y) {
        nn__fail(NN_ERR_ARG, "batch_y: the dataset has no real targets (it has %s)",
                 ds->labels ? "labels: use nn_dataset_gather" : "features only");
        return NULL;
    }
    return batch_tensor("batch_y", t, ds, ds ? ds->y : NULL, ds ? ds->k : 0, dtype, m, idx);
}

/* --------------------------------------------------------------- batcher */

nn_batcher *nn_batcher_new_shard(const nn_dataset *ds, int64_t batch_size, bool shuffle, uint64_t seed,
                                 bool drop_last, int rank, int world) {
    if (!ds) {
        nn__fail(NN_ERR_NULL, "batcher_new: dataset is NULL");
        return NULL;
    }
    if (batch_size < 1) {
        nn__fail(NN_ERR_ARG, "batcher_new: batch_size must be at least 1 (got %lld)", (long long)batch_size);
        return NULL;
    }
    if (world < 1 || rank < 0 || rank >= world) {
        nn__fail(NN_ERR_ARG, "batcher_new: shard %d of %d: need 0 <= rank < world", rank, world);
        return NULL;
    }
    if (batch_size > INT64_MAX / world) {
        nn__fail(NN_ERR_ARG, "batcher_new: batch_size %lld x %d shards overflows", (long long)batch_size,
                 world);
        return NULL;
    }
    nn_batcher *b = calloc(1, sizeof *b);
    if (b) b->order = malloc((size_t)(ds->n ? ds->n : 1) * sizeof(int64_t));
    if (!b || !b->order) {
        if (b) free(b);
        nn__fail(NN_ERR_MEMORY, "batcher_new: out of memory");
        return NULL;
    }
    b->ds = ds;
    b->batch = batch_size * world;
    b->rank = rank;
    b->world = world;
    b->shuffle = shuffle;
    b->seed = seed;
    /* Every batch, the last one too, is a multiple of `world` samples, so
     * the shards are equal: the samples past the last multiple sit out. */
    b->end = drop_last ? ds->n - ds->n % b->batch : ds->n - ds->n % world;
    nn_batcher_set_epoch(b, 0);
    return b;
}

nn_batcher *nn_batcher_new(const nn_dataset *ds, int64_t batch_size, bool shuffle, uint64_t seed,
                           bool drop_last) {
    return nn_batcher_new_shard(ds, batch_size, shuffle, seed, drop_last, 0, 1);
}

void nn_batcher_set_epoch(nn_batcher *b, int64_t epoch) {
    if (!b) return;
    if (epoch < 0) epoch = 0;
    /* Epoch e's order is the (e+1)-th shuffle of 0..n-1 by the seeded
     * generator: replay the first e of them. */
    ag_rng_seed(&b->rng, b->seed);
    for (int64_t i = 0; i < b->ds->n; i++) b->order[i] = i;
    for (int64_t e = 0; b->shuffle && e < epoch; e++) nn_shuffle(b->order, b->ds->n, &b->rng);
    b->epoch = epoch;
    b->pos = 0;
    b->started = false;
}

int64_t nn_batcher_epoch(const nn_batcher *b) { return b ? b->epoch : 0; }

void nn_batcher_free(nn_batcher *b) {
    if (!b) return;
    free(b->order);
    free(b);
}

int64_t nn_batcher_next(nn_batcher *b, const int64_t **idx) {
    if (!b || !idx) return 0;
    if (!b->started) { /* a new epoch: reshuffle the previous order */
        if (b->shuffle) nn_shuffle(b->order, b->ds->n, &b->rng);
        b->pos = 0;
        b->started = true;
    }
    if (b->pos >= b->end) {
        b->started = false;
        b->epoch++;
        *idx = NULL;
        return 0;
    }
    int64_t m = b->end - b->pos < b->batch ? b->end - b->pos : b->batch; /* a multiple of world */
    int64_t share = m / b->world;
    *idx = b->order + b->pos + (int64_t)b->rank * share;
    b->pos += m;
    return share;
}

int64_t nn_batcher_batches(const nn_batcher *b) {
    return b ? (b->end + b->batch - 1) / b->batch : 0;
}
