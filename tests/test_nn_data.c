/* Data for training loops: datasets from arrays, seeded shuffling, batches,
 * train/test split, the CSV reader and the IDX reader/writer. */
#include "testutil.h"

#include <tapegrad/nn.h>
#include "nn_testing.h"

#include "nn_testfiles.h"

/* A dataset of n samples: x[i] = (i, 10i, 100i), label i % 3, y[i] = -i. */
static nn_dataset *toy(int64_t n, bool labels) {
    double *x = malloc((size_t)n * 3 * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    int64_t *l = malloc((size_t)n * sizeof *l);
    for (int64_t i = 0; i < n; i++) {
        x[3 * i] = (double)i;
        x[3 * i + 1] = 10.0 * (double)i;
        x[3 * i + 2] = 100.0 * (double)i;
        y[i] = -(double)i;
        l[i] = i % 3;
    }
    nn_dataset *ds = labels ? nn_dataset_new_labels(n, 3, x, l, 3) : nn_dataset_new(n, 3, x, 1, y);
    ck_assert_ptr_nonnull(ds);
    free(x);
    free(y);
    free(l);
    return ds;
}

/* ---------------------------------------------------------------- dataset */

START_TEST(dataset_from_arrays) {
    nn_dataset *ds = toy(10, false);
    ck_assert_int_eq(nn_dataset_len(ds), 10);
    ck_assert_int_eq(nn_dataset_features(ds), 3);
    ck_assert_int_eq(nn_dataset_targets(ds), 1);
    ck_assert_int_eq(nn_dataset_classes(ds), 0);
    ck_assert_ptr_null(nn_dataset_labels(ds));
    ck_assert_double_eq(nn_dataset_x(ds)[3 * 7 + 1], 70.0);
    ck_assert_double_eq(nn_dataset_y(ds)[7], -7.0);
    nn_dataset_free(ds);

    ds = toy(10, true);
    ck_assert_int_eq(nn_dataset_classes(ds), 3);
    ck_assert_int_eq(nn_dataset_targets(ds), 0);
    ck_assert_int_eq(nn_dataset_labels(ds)[8], 2);
    nn_dataset_free(ds);

    double x[2] = {1, 2};
    int64_t bad[2] = {0, 3};
    ck_assert_ptr_null(nn_dataset_new_labels(2, 1, x, bad, 3));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "label 3 of sample 1"));
    ck_assert_ptr_null(nn_dataset_new(2, 1, NULL, 0, NULL));
    ck_assert_ptr_null(nn_dataset_new(-1, 1, x, 0, NULL));
    ck_assert_ptr_null(nn_dataset_new_labels(2, 1, x, bad, 0));
    nn_dataset *empty = nn_dataset_new(0, 4, NULL, 0, NULL);
    ck_assert_ptr_nonnull(empty);
    ck_assert_int_eq(nn_dataset_len(empty), 0);
    nn_dataset_free(empty);
    nn_dataset_free(NULL);
}
END_TEST

START_TEST(shuffle_is_seeded_permutation) {
    enum { N = 100 };
    int64_t a[N], b[N], c[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = c[i] = i;
    ag_rng r1, r2, r3;
    ag_rng_seed(&r1, 42);
    ag_rng_seed(&r2, 42);
    ag_rng_seed(&r3, 43);
    nn_shuffle(a, N, &r1);
    nn_shuffle(b, N, &r2);
    nn_shuffle(c, N, &r3);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
    bool seen[N] = {0};
    int moved = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(a[i] >= 0 && a[i] < N && !seen[a[i]]);
        seen[a[i]] = true;
        moved += a[i] != i;
    }
    ck_assert_int_gt(moved, N / 2);
    /* Pinned: the order is the same on every machine. */
    int64_t small[5] = {0, 1, 2, 3, 4};
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_shuffle(small, 5, &r);
    int64_t again[5] = {0, 1, 2, 3, 4};
    ag_rng_seed(&r, 1);
    nn_shuffle(again, 5, &r);
    ck_assert_int_eq(memcmp(small, again, sizeof small), 0);
    nn_shuffle(NULL, 5, &r); /* no-op */
}
END_TEST

/* Visits one epoch; returns the batch count and checks each index once. */
static int one_epoch(nn_batcher *b, int64_t n, int64_t *sizes, int64_t *order) {
    bool *seen = calloc((size_t)n, 1);
    const int64_t *idx;
    int64_t m, k = 0;
    int batches = 0;
    while ((m = nn_batcher_next(b, &idx)) > 0) {
        sizes[batches++] = m;
        for (int64_t i = 0; i < m; i++) {
            ck_assert(idx[i] >= 0 && idx[i] < n && !seen[idx[i]]);
            seen[idx[i]] = true;
            order[k++] = idx[i];
        }
    }
    free(seen);
    return batches;
}

/* Three shards of 11 samples, per-shard batch 2 (global 6): shard r's
 * batch k is the r-th third of global batch k of the unsharded batcher's
 * order (batch 6, same seed), whose last 11 mod 3 = 2 samples sit out. */
START_TEST(shards_split_each_global_batch) {
    enum { N = 11, W = 3, B = 2 };
    nn_dataset *ds = toy(N, true);
    nn_batcher *whole = nn_batcher_new(ds, B * W, true, 9, false);
    nn_batcher *shard[W];
    for (int r = 0; r < W; r++) {
        shard[r] = nn_batcher_new_shard(ds, B, true, 9, false, r, W);
        ck_assert_int_eq(nn_batcher_batches(shard[r]), 2);
    }
    for (int epoch = 0; epoch < 3; epoch++) {
        int64_t sizes[4], order[N];
        ck_assert_int_eq(one_epoch(whole, N, sizes, order), 2);
        const int64_t *part;
        bool used[N] = {false};
        int64_t start = 0, seen = 0;
        for (int k = 0; k < 2; k++) {
            int64_t share = k == 0 ? B : (N - N % W - B * W) / W; /* 2, then 1 */
            for (int r = 0; r < W; r++) {
                ck_assert_int_eq(nn_batcher_next(shard[r], &part), share);
                for (int64_t i = 0; i < share; i++) {
                    ck_assert_int_eq(part[i], order[start + r * share + i]);
                    ck_assert(!used[part[i]]); /* disjoint */
                    used[part[i]] = true;
                    seen++;
                }
            }
            start += share * W;
        }
        ck_assert_int_eq(seen, N - N % W);
        for (int r = 0; r < W; r++) {
            ck_assert_int_eq(nn_batcher_next(shard[r], &part), 0); /* the same step count */
            ck_assert_int_eq(nn_batcher_epoch(shard[r]), epoch + 1);
        }
    }
    /* drop_last drops the incomplete global batch (9 = 6 + 3). */
    nn_batcher *dl = nn_batcher_new_shard(ds, B, false, 0, true, 1, W);
    const int64_t *idx;
    ck_assert_int_eq(nn_batcher_batches(dl), 1);
    ck_assert_int_eq(nn_batcher_next(dl, &idx), B);
    ck_assert_int_eq(idx[0], 2); /* unshuffled: rank 1 gets samples 2, 3 */
    ck_assert_int_eq(nn_batcher_next(dl, &idx), 0);
    nn_batcher_free(dl);
    ck_assert_ptr_null(nn_batcher_new_shard(ds, B, true, 0, false, 3, W));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "shard 3 of 3"));
    ck_assert_ptr_null(nn_batcher_new_shard(ds, B, true, 0, false, 0, 0));
    ck_assert_ptr_null(nn_batcher_new_shard(ds, INT64_MAX / 2, true, 0, false, 0, W));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "overflows"));
    for (int r = 0; r < W; r++) nn_batcher_free(shard[r]);
    nn_batcher_free(whole);
    nn_dataset_free(ds);
}
END_TEST

/* set_epoch(e) gives exactly epoch e's batches, from any position. */
START_TEST(set_epoch_resumes_the_order) {
    nn_dataset *ds = toy(10, true);
    nn_batcher *b = nn_batcher_new(ds, 4, true, 3, false);
    int64_t sizes[4], orders[4][10], again[10];
    for (int e = 0; e < 4; e++) {
        ck_assert_int_eq(nn_batcher_epoch(b), e);
        one_epoch(b, 10, sizes, orders[e]);
    }
    const int64_t *idx;
    nn_batcher_next(b, &idx); /* mid-epoch 4 */
    for (int e = 3; e >= 0; e--) {
        nn_batcher_set_epoch(b, e);
        ck_assert_int_eq(nn_batcher_epoch(b), e);
        one_epoch(b, 10, sizes, again);
        ck_assert_int_eq(memcmp(again, orders[e], sizeof again), 0);
    }
    ck_assert_int_ne(memcmp(orders[0], orders[1], sizeof again), 0);
    nn_batcher_set_epoch(NULL, 1); /* no-op */
    ck_assert_int_eq(nn_batcher_epoch(NULL), 0);
    nn_batcher_free(b);
    nn_dataset_free(ds);
}
END_TEST

START_TEST(batches_cover_each_epoch) {
    nn_dataset *ds = toy(10, true);
    nn_batcher *b = nn_batcher_new(ds, 3, true, 7, false);
    ck_assert_int_eq(nn_batcher_batches(b), 4);
    int64_t sizes[8], o1[10], o2[10];
    ck_assert_int_eq(one_epoch(b, 10, sizes, o1), 4);
    ck_assert_int_eq(sizes[0], 3);
    ck_assert_int_eq(sizes[3], 1);
    ck_assert_int_eq(one_epoch(b, 10, sizes, o2), 4);
    ck_assert_int_ne(memcmp(o1, o2, sizeof o1), 0); /* reshuffled */
    nn_batcher_free(b);
    /* Same seed, same epochs. */
    nn_batcher *b2 = nn_batcher_new(ds, 3, true, 7, false);
    int64_t p1[10], p2[10];
    one_epoch(b2, 10, sizes, p1);
    one_epoch(b2, 10, sizes, p2);
    ck_assert_int_eq(memcmp(o1, p1, sizeof o1), 0);
    ck_assert_int_eq(memcmp(o2, p2, sizeof o2), 0);
    nn_batcher_free(b2);
    /* drop_last and no shuffle. */
    nn_batcher *b3 = nn_batcher_new(ds, 3, false, 0, true);
    ck_assert_int_eq(nn_batcher_batches(b3), 3);
    const int64_t *idx;
    ck_assert_int_eq(nn_batcher_next(b3, &idx), 3);
    ck_assert_int_eq(idx[0], 0);
    ck_assert_int_eq(idx[2], 2);
    ck_assert_int_eq(nn_batcher_next(b3, &idx), 3);
    ck_assert_int_eq(nn_batcher_next(b3, &idx), 3);
    ck_assert_int_eq(idx[2], 8);
    ck_assert_int_eq(nn_batcher_next(b3, &idx), 0);
    ck_assert_int_eq(nn_batcher_next(b3, &idx), 3); /* next epoch */
    nn_batcher_free(b3);
    ck_assert_ptr_null(nn_batcher_new(ds, 0, true, 0, false));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "batch_size"));
    nn_dataset_free(ds);
}
END_TEST

START_TEST(gather_and_batch_tensors) {
    nn_dataset *ds = toy(10, false);
    int64_t idx[3] = {4, 0, 9};
    double x[9], y[3];
    ck_assert_int_eq(nn_dataset_gather(ds, 3, idx, x, y, NULL), NN_OK);
    ck_assert_double_eq(x[0], 4);
    ck_assert_double_eq(x[5], 0);
    ck_assert_double_eq(x[8], 900);
    ck_assert_double_eq(y[2], -9);
    int64_t lab[3];
    ck_assert_int_eq(nn_dataset_gather(ds, 3, idx, NULL, NULL, lab), NN_ERR_ARG); /* no labels */
    int64_t bad[2] = {1, 10};
    ck_assert_int_eq(nn_dataset_gather(ds, 2, bad, x, NULL, NULL), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "index 10 (position 1)"));

    ag_tape *t = ag_tape_new(0);
    for (int k = 0; k < 2; k++) {
        ag_dtype dt = k ? AG_F32 : AG_F64;
        ag_tensor *bx = nn_batch_x(t, ds, dt, 3, idx), *by = nn_batch_y(t, ds, dt, 3, idx);
        ck_assert_ptr_nonnull(bx);
        ck_assert_ptr_nonnull(by);
        ck_assert_int_eq(ag_dtype_of(bx), dt);
        ck_assert_int_eq(ag_dim(bx, 0), 3);
        ck_assert_int_eq(ag_dim(bx, 1), 3);
        ck_assert_int_eq(ag_dim(by, 1), 1);
        for (int i = 0; i < 9; i++) ck_assert_double_eq(ag_get(bx, i), x[i]);
        ck_assert_double_eq(ag_get(by, 0), -4);
    }
    ck_assert_ptr_null(nn_batch_x(t, ds, AG_F64, 2, bad));
    ck_assert_ptr_null(nn_batch_x(NULL, ds, AG_F64, 3, idx));
    /* A loop with tape resets allocates nothing after its first step (in
     * release mode: debug mode allocates afresh). */
    ag_tape_set_debug(t, false);
    ag_tape_reset(t);
    nn_batch_x(t, ds, AG_F32, 3, idx);
    size_t allocs = ag_tape_get_stats(t).allocations;
    for (int i = 0; i < 50; i++) {
        ag_tape_reset(t);
        ck_assert_ptr_nonnull(nn_batch_x(t, ds, AG_F32, 3, idx));
    }
    ck_assert_uint_eq(ag_tape_get_stats(t).allocations, allocs);
    ag_tape_free(t);
    nn_dataset *cls = toy(10, true);
    t = ag_tape_new(0);
    ck_assert_ptr_null(nn_batch_y(t, cls, AG_F64, 3, idx));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "labels"));
    ck_assert_int_eq(nn_dataset_gather(cls, 3, idx, NULL, NULL, lab), NN_OK);
    ck_assert_int_eq(lab[0], 1);
    ck_assert_int_eq(lab[2], 0);
    ag_tape_free(t);
    nn_dataset_free(cls);
    nn_dataset_free(ds);
}
END_TEST

START_TEST(split_is_seeded_and_disjoint) {
    nn_dataset *ds = toy(20, true), *tr, *te, *tr2, *te2;
    ck_assert_int_eq(nn_dataset_split(ds, 0.25, 5, &tr, &te), NN_OK);
    ck_assert_int_eq(nn_dataset_len(tr), 15);
    ck_assert_int_eq(nn_dataset_len(te), 5);
    ck_assert_int_eq(nn_dataset_classes(te), 3);
    bool seen[20] = {0};
    for (int part = 0; part < 2; part++) {
        nn_dataset *p = part ? te : tr;
        for (int64_t i = 0; i < nn_dataset_len(p); i++) {
            int64_t orig = (int64_t)nn_dataset_x(p)[3 * i];
            ck_assert(!seen[orig]);
            seen[orig] = true;
            ck_assert_double_eq(nn_dataset_x(p)[3 * i + 2], 100.0 * (double)orig); /* rows intact */
            ck_assert_int_eq(nn_dataset_labels(p)[i], orig % 3);                  /* labels follow */
        }
    }
    for (int i = 0; i < 20; i++) ck_assert(seen[i]);
    ck_assert_int_eq(nn_dataset_split(ds, 0.25, 5, &tr2, &te2), NN_OK);
    ck_assert_int_eq(memcmp(nn_dataset_x(te), nn_dataset_x(te2), 15 * sizeof(double)), 0);
    nn_dataset_free(tr2);
    nn_dataset_free(te2);
    ck_assert_int_eq(nn_dataset_split(ds, 0.25, 6, &tr2, &te2), NN_OK);
    ck_assert_int_ne(memcmp(nn_dataset_x(te), nn_dataset_x(te2), 15 * sizeof(double)), 0);
    nn_dataset_free(tr2);
    nn_dataset_free(te2);
    ck_assert_int_eq(nn_dataset_split(ds, 1.5, 5, &tr2, &te2), NN_ERR_ARG);
    ck_assert_ptr_null(tr2);
    ck_assert_int_eq(nn_dataset_split(ds, NAN, 5, &tr2, &te2), NN_ERR_ARG);
    ck_assert_int_eq(nn_dataset_split(ds, 0.0, 5, &tr2, &te2), NN_OK);
    ck_assert_int_eq(nn_dataset_len(te2), 0);
    nn_dataset_free(tr2);
    nn_dataset_free(te2);
    nn_dataset_free(tr);
    nn_dataset_free(te);
    nn_dataset_free(ds);
}
END_TEST

/* -------------------------------------------------------------------- CSV */

static nn_csv *csv(const char *text, bool header) { return nn_csv_parse(text, strlen(text), header); }

/* Asserts that text fails with a message containing `want`. */
#define CSV_FAILS(text, header, want)                                                      \
    do {                                                                                   \
        ck_assert_ptr_null(csv((text), (header)));                                        \
        ck_assert_msg(strstr(nn_last_error(), (want)), "got: %s", nn_last_error());       \
    } while (0)

START_TEST(csv_reads_numbers) {
    nn_csv *c = csv("x, y ,label\r\n1,2.5,0\r\n-3e2,\t0x10 , 1\r\n\r\n\n", true);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->rows, 2);
    ck_assert_int_eq(c->cols, 3);
    ck_assert_str_eq(c->header[0], "x");
    ck_assert_str_eq(c->header[1], "y");
    ck_assert_str_eq(c->header[2], "label");
    const double want[] = {1, 2.5, 0, -300, 16, 1};
    for (int i = 0; i < 6; i++) ck_assert_double_eq(c->values[i], want[i]);
    nn_csv_free(c);
    c = csv("1\n2\n3", false); /* no trailing newline */
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->rows, 3);
    ck_assert_int_eq(c->cols, 1);
    ck_assert_ptr_null(c->header);
    nn_csv_free(c);
    c = csv("1e-320,5\n", false); /* underflow to a subnormal is fine */
    ck_assert_ptr_nonnull(c);
    nn_csv_free(c);
    /* Many rows grow the storage. */
    char *big = malloc(200000), *p = big;
    for (int i = 0; i < 10000; i++) p += sprintf(p, "%d,%d.5\n", i, -i);
    c = csv(big, false);
    free(big);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->rows, 10000);
    ck_assert_double_eq(c->values[2 * 9999 + 1], -9999.5);
    nn_csv_free(c);
    nn_csv_free(NULL);
}
END_TEST

START_TEST(csv_defects_give_line_and_column) {
    CSV_FAILS("1,2\n3,abc\n", false, "line 2, column 2: non-numeric field 'abc'");
    CSV_FAILS("a,b\n1,2\n3,4x\n", true, "line 3, column 2: non-numeric field '4x'");
    CSV_FAILS("1,2\n3,4,5\n", false, "line 2, column 3: ragged row: expected 2 fields, found 3");
    CSV_FAILS("1,2,3\n4,5\n", false, "line 2, column 3: ragged row: expected 3 fields, found 2");
    CSV_FAILS("a,b\n1\n", true, "line 2, column 2: ragged row: expected 2 fields, found 1");
    CSV_FAILS("", false, "line 1, column 1: empty file");
    CSV_FAILS("\n \n", false, "line 1, column 1: empty file");
    CSV_FAILS("a,b\n", true, "line 2, column 1: empty file: no data rows after the header");
    CSV_FAILS("1,2\n1e999,3\n", false, "line 2, column 1: overflow");
    CSV_FAILS("1,-1e400\n", false, "line 1, column 2: overflow");
    CSV_FAILS("1,,3\n", false, "line 1, column 2: empty field");
    CSV_FAILS("1,2,\n", false, "line 1, column 3: empty field");
    CSV_FAILS("1,2\n\n3,4\n", false, "line 2, column 1: blank line between rows");
    CSV_FAILS("1,nan\n", false, "line 1, column 2: non-numeric field 'nan' (not a finite number)");
    CSV_FAILS("1,\"2\"\n", false, "line 1, column 2: non-numeric field '\"2\"'");
    CSV_FAILS("1 2,3\n", false, "line 1, column 1: non-numeric field '1 2'");
    /* Found by fuzz_csv: a lone \r stayed inside a column name ("c\r"). */
    CSV_FAILS("a,c\r \n1,2\n", true, "line 1, column 1: a carriage return inside the line");
    CSV_FAILS("1,2\r3,4\r", false, "line 1, column 1: a carriage return inside the line");
}
END_TEST

START_TEST(csv_from_file) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "data.csv", 0);
    const char *text = "a,b\n1,2\n3,4\n";
    tf_write(path, text, strlen(text));
    nn_csv *c = nn_csv_read(path, true, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->rows, 2);
    ck_assert_double_eq(c->values[3], 4);
    nn_csv_free(c);
    text = "1,2\n3,x\n";
    tf_write(path, text, strlen(text));
    ck_assert_ptr_null(nn_csv_read(path, false, 0));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "data.csv': line 2, column 2"));
    ck_assert_ptr_null(nn_csv_read(path, false, 4)); /* over the size cap */
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "limit"));
    ck_assert_ptr_null(nn_csv_read(tf_path(dir, "absent.csv", 1), false, 0));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "absent.csv"));
    tf_rmdir(dir);
}
END_TEST

/* -------------------------------------------------------------------- IDX */

START_TEST(idx_round_trip) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "images.idx", 0);
    /* (2, 3, 4) unsigned bytes, like MNIST images. */
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = i * 10;
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_U8, 3, (const int64_t[]){2, 3, 4}, v), NN_OK);
    size_t n;
    unsigned char *b = tf_read(path, &n);
    ck_assert_uint_eq(n, 4 + 12 + 24);
    const unsigned char head[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    ck_assert_int_eq(memcmp(b, head, sizeof head), 0); /* magic 0x00000803, big-endian dims */
    free(b);
    nn_idx *a = nn_idx_read(path, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->type, NN_IDX_U8);
    ck_assert_int_eq(a->ndim, 3);
    ck_assert_int_eq(a->dims[2], 4);
    ck_assert_int_eq(a->numel, 24);
    for (int i = 0; i < 24; i++) ck_assert_double_eq(a->data[i], v[i]);
    nn_idx_free(a);
    /* Every type, big-endian, exact for values that fit. */
    const nn_idx_type types[] = {NN_IDX_I8, NN_IDX_I16, NN_IDX_I32, NN_IDX_F32, NN_IDX_F64};
    double w[4] = {-7, 100, 0, 1.5};
    for (size_t k = 0; k < 5; k++) {
        if (types[k] != NN_IDX_F32 && types[k] != NN_IDX_F64) w[3] = 1;
        else w[3] = 1.5;
        ck_assert_int_eq(nn_idx_write(path, types[k], 1, (const int64_t[]){4}, w), NN_OK);
        a = nn_idx_read(path, 0);
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(a->type, types[k]);
        for (int i = 0; i < 4; i++) ck_assert_double_eq(a->data[i], w[i]);
        nn_idx_free(a);
    }
    double pi = 3.141592653589793;
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_F64, 1, (const int64_t[]){1}, &pi), NN_OK);
    a = nn_idx_read(path, 0);
    ck_assert_double_eq(a->data[0], pi);
    nn_idx_free(a);
    ck_assert_int_eq(tf_count_entries(dir), 1);
    tf_rmdir(dir);
}
END_TEST

/* Writes raw bytes and expects nn_idx_read to fail with `want`. */
static void idx_fails(const char *dir, const unsigned char *bytes, size_t n, const char *want) {
    const char *path = tf_path(dir, "bad.idx", 2);
    tf_write(path, bytes, n);
    nn_idx *a = nn_idx_read(path, 0);
    ck_assert_msg(a == NULL, "accepted a file that should fail with '%s'", want);
    ck_assert_msg(strstr(nn_last_error(), want), "wanted '%s', got: %s", want, nn_last_error());
}

START_TEST(idx_rejects_malformed) {
    char *dir = tf_mkdtemp();
    unsigned char good[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    const char *path = tf_path(dir, "good.idx", 0);
    tf_write(path, good, sizeof good);
    nn_idx *a = nn_idx_read(path, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_double_eq(a->data[5], 6);
    nn_idx_free(a);

    unsigned char b[sizeof good + 1];
    memcpy(b, good, sizeof good);
    b[0] = 1;
    idx_fails(dir, b, sizeof good, "bad magic number 0x01000802 (the first two bytes must be 0)");
    memcpy(b, good, sizeof good);
    b[2] = 0x07;
    idx_fails(dir, b, sizeof good, "bad magic number 0x00000702 (unknown type byte)");
    idx_fails(dir, good, sizeof good - 1, "truncated data: the header promises 6 data bytes, the file has 5");
    memcpy(b, good, sizeof good);
    b[sizeof good] = 9;
    idx_fails(dir, b, sizeof good + 1, "1 extra bytes after the 6 data bytes");
    idx_fails(dir, good, 10, "truncated: the header needs 12 bytes");
    idx_fails(dir, good, 3, "truncated: 3 bytes");
    const unsigned char nodims[] = {0, 0, 8, 0};
    idx_fails(dir, nodims, sizeof nodims, "0 dimensions");
    memcpy(b, good, sizeof good);
    b[11] = 0; /* second dimension 0 */
    idx_fails(dir, b, 12, "dimension 1 is 0");
    /* Every truncation of a good file fails. */
    for (size_t len = 0; len < sizeof good; len++) {
        tf_write(path, good, len);
        ck_assert_ptr_null(nn_idx_read(path, 0));
    }
    /* The memory cap: 6 values need 48 bytes. */
    tf_write(path, good, sizeof good);
    ck_assert_ptr_null(nn_idx_read(path, 40));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "limit"));
    ck_assert_ptr_nonnull(a = nn_idx_read(path, 48));
    nn_idx_free(a);
    ck_assert_ptr_null(nn_idx_read(tf_path(dir, "absent.idx", 1), 0));
    tf_rmdir(dir);
}
END_TEST

START_TEST(idx_writer_validates) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "w.idx", 0);
    double v[3] = {1, 256, 3};
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_U8, 1, (const int64_t[]){3}, v), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "value 256 at index 1"));
    v[1] = 2.5;
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_I32, 1, (const int64_t[]){3}, v), NN_ERR_ARG);
    v[1] = 1e300;
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_F32, 1, (const int64_t[]){3}, v), NN_ERR_ARG);
    ck_assert_int_eq(nn_idx_write(path, (nn_idx_type)7, 1, (const int64_t[]){3}, v), NN_ERR_ARG);
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_F64, 0, (const int64_t[]){3}, v), NN_ERR_ARG);
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_F64, 1, (const int64_t[]){0}, v), NN_ERR_ARG);
    ck_assert_int_eq(tf_count_entries(dir), 0); /* nothing written */
    /* A failure mid-write leaves no file and no temporary file. */
    v[1] = 2;
    nn__test_fail_writes_after(6);
    ck_assert_int_eq(nn_idx_write(path, NN_IDX_U8, 1, (const int64_t[]){3}, v), NN_ERR_IO);
    nn__test_fail_writes_after(-1);
    ck_assert_int_eq(tf_count_entries(dir), 0);
    tf_rmdir(dir);
}
END_TEST

START_TEST(idx_to_dataset) {
    char *dir = tf_mkdtemp();
    const char *ip = tf_path(dir, "images.idx", 0), *lp = tf_path(dir, "labels.idx", 1);
    double px[3 * 2 * 2], lab[3] = {2, 0, 1};
    for (int i = 0; i < 12; i++) px[i] = 255 - i;
    ck_assert_int_eq(nn_idx_write(ip, NN_IDX_U8, 3, (const int64_t[]){3, 2, 2}, px), NN_OK);
    ck_assert_int_eq(nn_idx_write(lp, NN_IDX_U8, 1, (const int64_t[]){3}, lab), NN_OK);
    nn_idx *im = nn_idx_read(ip, 0), *lb = nn_idx_read(lp, 0);
    nn_dataset *ds = nn_dataset_from_idx(im, lb, 1 / 255.0, 3);
    ck_assert_ptr_nonnull(ds);
    ck_assert_int_eq(nn_dataset_len(ds), 3);
    ck_assert_int_eq(nn_dataset_features(ds), 4);
    ck_assert_double_eq(nn_dataset_x(ds)[0], 1.0);
    ck_assert_double_eq_tol(nn_dataset_x(ds)[11], 244 / 255.0, 1e-15);
    ck_assert_int_eq(nn_dataset_labels(ds)[0], 2);
    nn_dataset_free(ds);
    ck_assert_ptr_null(nn_dataset_from_idx(im, lb, 1.0, 2)); /* label 2 out of range */
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "label 2 of sample 0"));
    ck_assert_ptr_null(nn_dataset_from_idx(lb, im, 1.0, 300)); /* sizes disagree */
    nn_idx_free(im);
    nn_idx_free(lb);
    tf_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_data");
    TCase *c = tcase_create("dataset");
    tcase_add_test(c, dataset_from_arrays);
    tcase_add_test(c, shuffle_is_seeded_permutation);
    tcase_add_test(c, batches_cover_each_epoch);
    tcase_add_test(c, shards_split_each_global_batch);
    tcase_add_test(c, set_epoch_resumes_the_order);
    tcase_add_test(c, gather_and_batch_tensors);
    tcase_add_test(c, split_is_seeded_and_disjoint);
    suite_add_tcase(s, c);
    c = tcase_create("csv");
    tcase_add_test(c, csv_reads_numbers);
    tcase_add_test(c, csv_defects_give_line_and_column);
    tcase_add_test(c, csv_from_file);
    suite_add_tcase(s, c);
    c = tcase_create("idx");
    tcase_add_test(c, idx_round_trip);
    tcase_add_test(c, idx_rejects_malformed);
    tcase_add_test(c, idx_writer_validates);
    tcase_add_test(c, idx_to_dataset);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
