/* Internal helpers of nn/: error messages, byte order, whole-file reads and
 * atomic file writes. Not installed. */
#ifndef TAPEGRAD_NN_INTERNAL_H
#define TAPEGRAD_NN_INTERNAL_H

#include <tapegrad/nn.h>

#include <stdio.h>

#if defined(__GNUC__)
#define NN__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NN__PRINTF(a, b)
#endif

/* Sets this thread's nn_last_error() message and returns `s`. */
nn_status nn__fail(nn_status s, const char *fmt, ...) NN__PRINTF(2, 3);

/* The parameter named by the len bytes at `name` (not NUL-terminated) and
 * its registration index, or NULL. */
ag_tensor *nn__params_find(const nn_params *ps, const char *name, size_t len, size_t *index);

/* Little- and big-endian fixed-width loads and stores. */
static inline uint32_t nn__ld_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t nn__ld_le64(const unsigned char *p) {
    return (uint64_t)nn__ld_le32(p) | (uint64_t)nn__ld_le32(p + 4) << 32;
}
static inline void nn__st_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void nn__st_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint64_t nn__ld_be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}
static inline void nn__st_be(unsigned char *p, int n, uint64_t v) {
    for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

/* Reads the whole of `path` into a malloc'd buffer (*buf, *len; free with
 * free). Files over max_bytes (0 = no limit) are refused with NN_ERR_MEMORY.
 * `what` names the caller in messages, e.g. "load". */
nn_status nn__read_file(const char *what, const char *path, size_t max_bytes,
                        unsigned char **buf, size_t *len);

/* An atomic file write: bytes go to a mkstemp file beside the target, and
 * commit flushes, fsyncs, renames it over the target and fsyncs the folder.
 * Any failure (including the test hook's simulated one) removes the
 * temporary file. */
typedef struct nn__writer {
    FILE *f;
    char *tmp;          /* temporary file's path */
    const char *path;   /* target */
    const char *what;   /* caller's name for messages */
    uint64_t written;
} nn__writer;

nn_status nn__writer_open(nn__writer *w, const char *what, const char *path);
nn_status nn__writer_write(nn__writer *w, const void *p, size_t n);
nn_status nn__writer_commit(nn__writer *w);
void nn__writer_abort(nn__writer *w);

#endif
