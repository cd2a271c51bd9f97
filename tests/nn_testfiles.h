/* File helpers shared by the nn suites: a private temporary folder and
 * whole-file reads and writes. */
#ifndef TAPEGRAD_NN_TESTFILES_H
#define TAPEGRAD_NN_TESTFILES_H

#include <check.h>
#include <nn_testing.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A new folder under /tmp; fails the test if it cannot be made. */
static inline char *tf_mkdtemp(void) {
    char *d = strdup("/tmp/tapegrad-nn-XXXXXX");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

/* dir/name in a static buffer (one at a time per slot). */
static inline const char *tf_path(const char *dir, const char *name, int slot) {
    static char buf[4][512];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

/* Number of entries in dir other than . and .. */
static inline int tf_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Removes the files in dir (no subfolders are made), then dir; frees it. */
static inline void tf_rmdir(char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    ck_assert_int_eq(rmdir(dir), 0);
    free(dir);
}

/* The whole file, malloc'd and NUL-terminated; *len gets its size. */
static inline unsigned char *tf_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* Calls write(ctx), an atomic writer of `path` (in dir, its only file),
 * with the disk failing after 0, step, 2·step, ... bytes, up to the file's
 * size now: each call must fail with NN_ERR_IO and leave the file byte for
 * byte as it was, and no temporary file behind. */
static inline void tf_assert_failed_writes_keep(const char *dir, const char *path, int64_t step,
                                                nn_status (*write)(void *ctx), void *ctx) {
    size_t n0;
    unsigned char *before = tf_read(path, &n0);
    for (int64_t cut = 0; cut < (int64_t)n0; cut += step) {
        nn__test_fail_writes_after(cut);
        nn_status s = write(ctx);
        nn__test_fail_writes_after(-1);
        ck_assert_int_eq(s, NN_ERR_IO);
        size_t n;
        unsigned char *after = tf_read(path, &n);
        ck_assert(n == n0 && memcmp(before, after, n) == 0);
        free(after);
        ck_assert_int_eq(tf_count_entries(dir), 1);
    }
    free(before);
}

static inline void tf_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

#endif
