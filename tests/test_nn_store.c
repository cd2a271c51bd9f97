/* The parameter store and its save/load: registration, lookup, order,
 * round trips, and every kind of corrupt or mismatched file. */
#include "testutil.h"

#include <tapegrad/nn.h>
#include "nn_testing.h"

#include "nn_testfiles.h"
#include "store_snapshot.h"

/* The store used by most tests: f32 and f64, 0-d to 4-d, an empty tensor. */
static nn_params *model(uint64_t seed) {
    nn_params *ps = nn_params_new();
    ck_assert_ptr_nonnull(ps);
    ag_tensor *ts[] = {
        nn_params_create(ps, "fc1.weight", AG_F64, AG_SHAPE(3, 4), NULL),
        nn_params_create(ps, "fc1.bias", AG_F32, AG_SHAPE(4), NULL),
        nn_params_create(ps, "scale", AG_F64, 0, NULL, NULL),
        nn_params_create(ps, "temp", AG_F32, 0, NULL, NULL),
        nn_params_create(ps, "conv.k", AG_F32, AG_SHAPE(2, 1, 3, 2), NULL),
        nn_params_create(ps, "empty", AG_F64, AG_SHAPE(2, 0), NULL),
    };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        ck_assert_ptr_nonnull(ts[i]);
        fill(ts[i], seed + i);
    }
    return ps;
}

START_TEST(store_basics) {
    nn_params *ps = nn_params_new();
    ag_tensor *w = ag_param_new(AG_F64, AG_SHAPE(2, 3), NULL);
    ck_assert_int_eq(nn_params_add(ps, "w", w), NN_OK);
    ck_assert_str_eq(ag_name(w), "w");
    ag_tensor *b = nn_params_create(ps, "b", AG_F32, AG_SHAPE(3), NULL);
    ck_assert_ptr_nonnull(b);
    ag_tensor *s = nn_params_create(ps, "s", AG_F64, 0, NULL, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(nn_params_count(ps), 3);
    ck_assert_int_eq(nn_params_numel(ps), 6 + 3 + 1);
    ck_assert_ptr_eq(nn_params_get(ps, "w"), w);
    ck_assert_ptr_eq(nn_params_get(ps, "b"), b);
    ck_assert_ptr_null(nn_params_get(ps, "nope"));
    const char *names[] = {"w", "b", "s"};
    for (size_t i = 0; i < 3; i++) ck_assert_str_eq(nn_params_name_at(ps, i), names[i]);
    ck_assert_ptr_eq(nn_params_at(ps, 1), b);
    ck_assert_ptr_null(nn_params_at(ps, 3));
    ck_assert_ptr_null(nn_params_name_at(ps, 3));

    /* Duplicates: the caller keeps a rejected parameter. */
    ag_tensor *dup = ag_param_new(AG_F64, AG_SHAPE(1), NULL);
    ck_assert_int_eq(nn_params_add(ps, "w", dup), NN_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'w'"));
    ck_assert_int_eq(nn_params_add(ps, "w2", w), NN_ERR_EXISTS); /* same tensor twice */
    ck_assert_ptr_null(nn_params_create(ps, "b", AG_F64, AG_SHAPE(1), NULL));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "already registered"));
    ck_assert_ptr_eq(ag_last_error(), nn_last_error()); /* one message per thread */
    ck_assert_int_eq(nn_params_add(ps, "", dup), NN_ERR_ARG);
    char longname[NN_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[NN_NAME_MAX + 1] = '\0';
    ck_assert_int_eq(nn_params_add(ps, longname, dup), NN_ERR_ARG);
    longname[NN_NAME_MAX] = '\0';
    ck_assert_int_eq(nn_params_add(ps, longname, dup), NN_OK); /* exactly the limit */
    ck_assert_int_eq(nn_params_add(ps, NULL, dup), NN_ERR_NULL);

    /* Not a parameter. */
    ag_tape *t = ag_tape_new(0);
    ag_tensor *c = ag_ones(t, AG_F64, AG_SHAPE(2));
    ck_assert_int_eq(nn_params_add(ps, "c", c), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "not a parameter"));
    ck_assert_ptr_null(nn_params_create(ps, "bad", (ag_dtype)7, AG_SHAPE(1), NULL));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'bad'"));

    /* Zero-grad of all. */
    ag_tensor *y = ag_add(t, ag_sum(t, ag_mul(t, w, w), AG_ALL, false), ag_sum(t, s, AG_ALL, false));
    ck_assert_int_eq(ag_backward(t, y), AG_OK);
    ck_assert_double_eq(ag_grad_item(s), 1.0);
    nn_params_zero_grad(ps);
    ck_assert_double_eq(ag_grad_item(s), 0.0);
    for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_grad_get(w, i), 0.0);

    ag_tape_free(t);
    nn_params_free(ps);
    nn_params_free(NULL);
    ck_assert_uint_eq(nn_params_count(NULL), 0);
}
END_TEST

START_TEST(many_names) {
    nn_params *ps = nn_params_new();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "layer%d.w", i);
        ck_assert_ptr_nonnull(nn_params_create(ps, name, AG_F32, AG_SHAPE(2), NULL));
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "layer%d.w", i);
        ck_assert_ptr_eq(nn_params_get(ps, name), nn_params_at(ps, (size_t)i));
        ck_assert_str_eq(nn_params_name_at(ps, (size_t)i), name);
    }
    ck_assert_int_eq(nn_params_numel(ps), 2000);
    nn_params_free(ps);
}
END_TEST

/* A parameter registered twice is found by its own hash table, not by a
 * scan of every entry: 25,000 parameters took 0.8 s and 100,000 took 22 s
 * (quadratic). 300,000 here take about a second even under ASan; the
 * quadratic scan needs minutes, past the 120 s meson gives this case
 * (tests/meson.build: nn_store_scale). Not a speed measurement: a guard
 * against the quadratic. */
START_TEST(three_hundred_thousand_parameters) {
    enum { COUNT = 300000 };
    nn_params *ps = nn_params_new();
    char name[32];
    ag_tensor *first = NULL, *last = NULL;
    for (int i = 0; i < COUNT; i++) {
        snprintf(name, sizeof name, "p%d", i);
        ag_tensor *p = ag_param_scalar(AG_F32, (double)i);
        ck_assert_int_eq(nn_params_add(ps, name, p), NN_OK);
        if (!first) first = p;
        last = p;
    }
    ck_assert_uint_eq(nn_params_count(ps), COUNT);
    ck_assert_int_eq(nn_params_add(ps, "again", first), NN_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "already registered as 'p0'"));
    ck_assert_int_eq(nn_params_add(ps, "again", last), NN_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "already registered as 'p299999'"));
    ck_assert_ptr_eq(nn_params_get(ps, "p123456"), nn_params_at(ps, 123456));
    nn_params_free(ps);
}
END_TEST

START_TEST(crc32_known_values) {
    ck_assert_uint_eq(nn_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(nn_crc32(0, "", 0), 0);
    /* Continuing equals one pass. */
    ck_assert_uint_eq(nn_crc32(nn_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    ck_assert_uint_eq(nn_crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
}
END_TEST

START_TEST(round_trip_bit_exact) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "model.tgp", 0);
    nn_params *a = model(1), *b = model(99);
    snapshot sa = snap(a), sb = snap(b);
    ck_assert(!same_as(b, &sa));
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    ck_assert_int_eq(tf_count_entries(dir), 1); /* no temporary file left */
    uint32_t v0 = ag_param_version(nn_params_at(b, 0));
    ck_assert_int_eq(nn_load(b, path, NULL), NN_OK);
    ck_assert(same_as(b, &sa));
    ck_assert_uint_gt(ag_param_version(nn_params_at(b, 0)), v0); /* written through ag_data_mut */
    /* Save again over the file and load once more: still exact. */
    ck_assert_int_eq(nn_save(b, path), NN_OK);
    nn_params *c = model(7);
    ck_assert_int_eq(nn_load(c, path, NULL), NN_OK);
    ck_assert(same_as(c, &sa));
    /* An empty store round-trips too. */
    nn_params *e = nn_params_new();
    ck_assert_int_eq(nn_save(e, tf_path(dir, "empty.tgp", 1)), NN_OK);
    ck_assert_int_eq(nn_load(e, tf_path(dir, "empty.tgp", 1), NULL), NN_OK);
    snap_free(&sa);
    snap_free(&sb);
    nn_params_free(a);
    nn_params_free(b);
    nn_params_free(c);
    nn_params_free(e);
    tf_rmdir(dir);
}
END_TEST

START_TEST(header_layout) {
    /* The documented layout, byte by byte, for one f32 scalar. */
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "one.tgp", 0);
    nn_params *ps = nn_params_new();
    float one = 1.0f;
    ck_assert_ptr_nonnull(nn_params_create(ps, "ab", AG_F32, 0, NULL, &one));
    ck_assert_int_eq(nn_save(ps, path), NN_OK);
    size_t n;
    unsigned char *b = tf_read(path, &n);
    const unsigned char want[] = {'T', 'G', 'P', 'A', 'R', 'A', 'M', 'S', 1, 0, 0, 0, 1, 0, 0, 0,
                                  2, 0, 'a', 'b', AG_F32, 0, 0x00, 0x00, 0x80, 0x3f};
    ck_assert_uint_eq(n, sizeof want + 4 + 4);
    ck_assert_int_eq(memcmp(b, want, sizeof want), 0);
    uint32_t rec = nn_crc32(0, b + 16, sizeof want - 16);
    ck_assert_uint_eq(b[26] | b[27] << 8 | b[28] << 16 | (uint32_t)b[29] << 24, rec);
    uint32_t file = nn_crc32(0, b, 30);
    ck_assert_uint_eq(b[30] | b[31] << 8 | b[32] << 16 | (uint32_t)b[33] << 24, file);
    free(b);
    nn_params_free(ps);
    tf_rmdir(dir);
}
END_TEST

START_TEST(every_truncation_detected) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "model.tgp", 0), *cut = tf_path(dir, "cut.tgp", 1);
    nn_params *a = model(1), *b = model(2);
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    size_t n;
    unsigned char *bytes = tf_read(path, &n);
    snapshot sb = snap(b);
    for (size_t len = 0; len < n; len++) {
        tf_write(cut, bytes, len);
        nn_status s = nn_load(b, cut, NULL);
        ck_assert_msg(s == NN_ERR_FORMAT, "length %zu of %zu: status %d (%s)", len, n, s, nn_last_error());
        ck_assert_msg(strstr(nn_last_error(), "truncated") || strstr(nn_last_error(), "tensors, more than"),
                      "length %zu: %s", len, nn_last_error());
        ck_assert_msg(same_as(b, &sb), "length %zu changed the model", len);
    }
    ck_assert_int_eq(nn_load(b, path, NULL), NN_OK); /* and the whole file loads */
    snap_free(&sb);
    free(bytes);
    nn_params_free(a);
    nn_params_free(b);
    tf_rmdir(dir);
}
END_TEST

START_TEST(every_flipped_byte_detected) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "model.tgp", 0), *bad = tf_path(dir, "bad.tgp", 1);
    nn_params *a = model(1), *b = model(2);
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    size_t n;
    unsigned char *bytes = tf_read(path, &n);
    snapshot sb = snap(b);
    for (size_t i = 0; i < n; i++) {
        /* xor 0xFF, then each single bit. */
        for (int k = -1; k < 8; k++) {
            unsigned char mask = k < 0 ? 0xFF : (unsigned char)(1u << k);
            bytes[i] ^= mask;
            tf_write(bad, bytes, n);
            bytes[i] ^= mask;
            nn_status s = nn_load(b, bad, NULL);
            ck_assert_msg(s != NN_OK, "byte %zu mask 0x%02x was not detected", i, mask);
            ck_assert_msg(s == NN_ERR_FORMAT || s == NN_ERR_VERSION, "byte %zu: status %d (%s)", i, s,
                          nn_last_error());
            ck_assert_msg(same_as(b, &sb), "byte %zu mask 0x%02x changed the model", i, mask);
        }
    }
    snap_free(&sb);
    free(bytes);
    nn_params_free(a);
    nn_params_free(b);
    tf_rmdir(dir);
}
END_TEST

/* Rewrites the file CRC of a file image after an edit. */
static void fix_file_crc(unsigned char *b, size_t n) {
    uint32_t c = nn_crc32(0, b, n - 4);
    for (int i = 0; i < 4; i++) b[n - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

START_TEST(unknown_version_and_bad_magic) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "model.tgp", 0);
    nn_params *a = model(1);
    snapshot sa = snap(a);
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    size_t n;
    unsigned char *bytes = tf_read(path, &n);
    bytes[8] = 2; /* version 2, checksums made consistent */
    fix_file_crc(bytes, n);
    tf_write(path, bytes, n);
    fill(nn_params_at(a, 0), 5);
    snapshot s5 = snap(a);
    ck_assert_int_eq(nn_load(a, path, NULL), NN_ERR_VERSION);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "version 2"));
    ck_assert(same_as(a, &s5));
    bytes[8] = 1;
    bytes[0] = 'X';
    fix_file_crc(bytes, n);
    tf_write(path, bytes, n);
    ck_assert_int_eq(nn_load(a, path, NULL), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "magic"));
    /* Missing file. */
    ck_assert_int_eq(nn_load(a, tf_path(dir, "absent", 1), NULL), NN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "absent"));
    /* Size cap. */
    bytes[0] = 'T';
    fix_file_crc(bytes, n);
    tf_write(path, bytes, n);
    nn_load_opts o = {.max_bytes = 16};
    ck_assert_int_eq(nn_load(a, path, &o), NN_ERR_MEMORY);
    ck_assert_int_eq(nn_load(a, path, NULL), NN_OK);
    ck_assert(same_as(a, &sa));
    ck_assert_int_eq(nn_load(NULL, path, NULL), NN_ERR_NULL);
    ck_assert_int_eq(nn_save(NULL, path), NN_ERR_NULL);
    free(bytes);
    snap_free(&sa);
    snap_free(&s5);
    nn_params_free(a);
    tf_rmdir(dir);
}
END_TEST

/* A store with the given names, all f64 of shape (2, 3). */
static nn_params *named(int n, const char *const *names) {
    nn_params *ps = nn_params_new();
    for (int i = 0; i < n; i++) {
        ag_tensor *p = nn_params_create(ps, names[i], AG_F64, AG_SHAPE(2, 3), NULL);
        ck_assert_ptr_nonnull(p);
        fill(p, (uint64_t)i + 10);
    }
    return ps;
}

START_TEST(missing_and_extra_names) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ab.tgp", 0);
    nn_params *ab = named(2, (const char *[]){"a", "b"});
    ck_assert_int_eq(nn_save(ab, path), NN_OK);

    nn_params *abc = named(3, (const char *[]){"c", "a", "b"});
    snapshot s = snap(abc);
    ck_assert_int_eq(nn_load(abc, path, NULL), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "missing from the file: 'c'"));
    ck_assert(same_as(abc, &s));
    snap_free(&s);

    nn_params *a = named(1, (const char *[]){"a"});
    s = snap(a);
    ck_assert_int_eq(nn_load(a, path, NULL), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "not in the store: 'b'"));
    ck_assert(same_as(a, &s));
    snap_free(&s);

    nn_params *ax = named(2, (const char *[]){"a", "x"});
    s = snap(ax);
    ck_assert_int_eq(nn_load(ax, path, NULL), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'x'"));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'b'"));
    ck_assert(same_as(ax, &s));
    snap_free(&s);

    nn_params_free(ab);
    nn_params_free(abc);
    nn_params_free(a);
    nn_params_free(ax);
    tf_rmdir(dir);
}
END_TEST

typedef struct skips {
    int n;
    char names[8][32];
    nn_skip_reason why[8];
} skips;

static void on_skip(const char *name, nn_skip_reason why, void *ctx) {
    skips *s = ctx;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->names[s->n], sizeof s->names[0], "%s", name);
    s->why[s->n++] = why;
}

START_TEST(non_strict_reports_skips) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ab.tgp", 0);
    nn_params *ab = named(2, (const char *[]){"a", "b"});
    ck_assert_int_eq(nn_save(ab, path), NN_OK);
    nn_params *ax = nn_params_new();
    ag_tensor *pa = nn_params_create(ax, "a", AG_F64, AG_SHAPE(2, 3), NULL);
    ag_tensor *px = nn_params_create(ax, "x", AG_F64, AG_SHAPE(2, 3), NULL);
    fill(px, 77);
    double x_before[6];
    memcpy(x_before, ag_data(px), sizeof x_before);
    skips sk = {0};
    nn_load_opts o = {.non_strict = true, .on_skip = on_skip, .ctx = &sk};
    ck_assert_int_eq(nn_load(ax, path, &o), NN_OK);
    ck_assert_int_eq(sk.n, 2);
    ck_assert_str_eq(sk.names[0], "x");
    ck_assert_int_eq(sk.why[0], NN_SKIP_MISSING);
    ck_assert_str_eq(sk.names[1], "b");
    ck_assert_int_eq(sk.why[1], NN_SKIP_EXTRA);
    ck_assert_int_eq(memcmp(ag_data(pa), ag_data(nn_params_get(ab, "a")), 6 * sizeof(double)), 0);
    ck_assert_int_eq(memcmp(ag_data(px), x_before, sizeof x_before), 0);
    /* Non-strict still refuses a shape mismatch. */
    nn_params *bad = nn_params_new();
    nn_params_create(bad, "a", AG_F64, AG_SHAPE(3, 2), NULL);
    ck_assert_int_eq(nn_load(bad, path, &o), NN_ERR_MISMATCH);
    nn_params_free(ab);
    nn_params_free(ax);
    nn_params_free(bad);
    tf_rmdir(dir);
}
END_TEST

START_TEST(shape_and_dtype_mismatch) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ab.tgp", 0);
    nn_params *ab = named(2, (const char *[]){"a", "b"});
    ck_assert_int_eq(nn_save(ab, path), NN_OK);

    nn_params *ps = named(1, (const char *[]){"a"});
    ag_tensor *b = nn_params_create(ps, "b", AG_F64, AG_SHAPE(3, 2), NULL);
    fill(b, 3);
    snapshot s = snap(ps);
    ck_assert_int_eq(nn_load(ps, path, NULL), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'b' has shape [2, 3] in the file but [3, 2] in the store"));
    ck_assert(same_as(ps, &s)); /* 'a' matched, but was not written either */
    snap_free(&s);
    nn_params_free(ps);

    ps = named(1, (const char *[]){"a"});
    nn_params_create(ps, "b", AG_F64, AG_SHAPE(2, 3, 1), NULL);
    ck_assert_int_eq(nn_load(ps, path, NULL), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "[2, 3, 1]"));
    nn_params_free(ps);

    ps = named(1, (const char *[]){"a"});
    nn_params_create(ps, "b", AG_F32, AG_SHAPE(2, 3), NULL);
    s = snap(ps);
    ck_assert_int_eq(nn_load(ps, path, NULL), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'b' is f64 in the file but f32 in the store"));
    ck_assert(same_as(ps, &s));
    snap_free(&s);
    nn_params_free(ps);

    nn_params_free(ab);
    tf_rmdir(dir);
}
END_TEST

START_TEST(failed_save_keeps_old_file) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "model.tgp", 0);
    nn_params *a = model(1);
    snapshot old = snap(a);
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    size_t n;
    unsigned char *bytes = tf_read(path, &n);
    free(bytes);
    for (size_t i = 0; i < nn_params_count(a); i++) fill(nn_params_at(a, i), 1000 + i);
    snapshot next = snap(a);
    int64_t points[] = {0, 1, 15, 16, 40, (int64_t)n / 2, (int64_t)n - 5, (int64_t)n - 1};
    for (size_t k = 0; k < sizeof points / sizeof *points; k++) {
        nn__test_fail_writes_after(points[k]);
        nn_status s = nn_save(a, path);
        nn__test_fail_writes_after(-1);
        ck_assert_int_eq(s, NN_ERR_IO);
        ck_assert_ptr_nonnull(strstr(nn_last_error(), "simulated"));
        ck_assert_int_eq(tf_count_entries(dir), 1); /* the temporary file is gone */
        ck_assert_int_eq(nn_load(a, path, NULL), NN_OK);
        ck_assert(same_as(a, &old)); /* the old file is intact */
        for (size_t i = 0; i < nn_params_count(a); i++) fill(nn_params_at(a, i), 1000 + i);
    }
    /* Hook off: the save goes through. */
    ck_assert_int_eq(nn_save(a, path), NN_OK);
    nn_params *b = model(3);
    ck_assert_int_eq(nn_load(b, path, NULL), NN_OK);
    ck_assert(same_as(b, &next));
    /* A folder that does not exist: no file, a clear error. */
    ck_assert_int_eq(nn_save(a, tf_path(dir, "no/such/dir.tgp", 1)), NN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "temporary"));
    snap_free(&old);
    snap_free(&next);
    nn_params_free(a);
    nn_params_free(b);
    tf_rmdir(dir);
}
END_TEST

START_TEST(load_makes_old_tapes_stale) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "m.tgp", 0);
    nn_params *ps = nn_params_new();
    ag_tensor *w = nn_params_create(ps, "w", AG_F64, AG_SHAPE(3), NULL);
    ck_assert_int_eq(nn_save(ps, path), NN_OK);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *y = ag_sum(t, ag_square(t, w), AG_ALL, false);
    ck_assert_int_eq(nn_load(ps, path, NULL), NN_OK);
    ck_assert_int_eq(ag_backward(t, y), AG_ERR_STATE); /* recorded before the load */
    ag_tape_free(t);
    nn_params_free(ps);
    tf_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_store");
    TCase *c = tcase_create("store");
    tcase_add_test(c, store_basics);
    tcase_add_test(c, many_names);
    suite_add_tcase(s, c);
    c = tcase_create("scale"); /* run alone by meson, under a tight timeout */
    tcase_add_test(c, three_hundred_thousand_parameters);
    suite_add_tcase(s, c);
    c = tcase_create("save_load");
    tcase_set_timeout(c, 240);
    tcase_add_test(c, crc32_known_values);
    tcase_add_test(c, round_trip_bit_exact);
    tcase_add_test(c, header_layout);
    tcase_add_test(c, every_truncation_detected);
    tcase_add_test(c, every_flipped_byte_detected);
    tcase_add_test(c, unknown_version_and_bad_magic);
    tcase_add_test(c, missing_and_extra_names);
    tcase_add_test(c, non_strict_reports_skips);
    tcase_add_test(c, shape_and_dtype_mismatch);
    tcase_add_test(c, failed_save_keeps_old_file);
    tcase_add_test(c, load_makes_old_tapes_stale);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
