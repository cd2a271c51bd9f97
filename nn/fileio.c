/* Whole-file reads and atomic file writes (temporary file, fsync, rename,
 * fsync of the folder), shared by save/load and the IDX writer. */
#include "nn_internal.h"
#include "nn_testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The test hook: bytes allowed before a simulated write failure (< 0: off). */
static _Thread_local int64_t fail_after = -1;

void nn__test_fail_writes_after(int64_t bytes) { fail_after = bytes; }

nn_status nn__open_regular(const char *what, const char *path, FILE **f, struct stat *st) {
    *f = NULL;
    /* O_NONBLOCK: opening a FIFO for reading waits for a writer, forever
     * if none comes; this way the open returns and fstat refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return nn__fail(NN_ERR_IO, "%s: cannot open '%s': %s", what, path, strerror(errno));
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return nn__fail(NN_ERR_IO, "%s: '%s' is not a regular file", what, path);
    }
    int flags = fcntl(fd, F_GETFL); /* blocking reads from here on */
    if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0) *f = fdopen(fd, "rb");
    if (!*f) {
        nn_status s = nn__fail(NN_ERR_IO, "%s: cannot read '%s': %s", what, path, strerror(errno));
        close(fd);
        return s;
    }
    return NN_OK;
}

nn_status nn__read_file(const char *what, const char *path, size_t max_bytes,
                        unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    struct stat st;
    FILE *f;
    nn_status s = nn__open_regular(what, path, &f, &st);
    if (s != NN_OK) return s;
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return nn__fail(NN_ERR_MEMORY, "%s: '%s' has %lld bytes, over the limit of %zu", what,
                        path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return nn__fail(NN_ERR_MEMORY, "%s: out of memory for '%s' (%zu bytes)", what, path, n);
    }
    size_t got = fread(b, 1, n, f);
    /* The file may have grown or shrunk since fstat: read what is there. */
    int more = (got == n) ? fgetc(f) : EOF;
    int err = ferror(f);
    fclose(f);
    if (err || got != n || more != EOF) {
        free(b);
        return nn__fail(NN_ERR_IO, "%s: reading '%s' failed (%s)", what, path,
                        err ? "read error" : "the file changed size while being read");
    }
    *buf = b;
    *len = n;
    return NN_OK;
}

nn_status nn__writer_open(nn__writer *w, const char *what, const char *path) {
    *w = (nn__writer){.path = path, .what = what};
    size_t n = strlen(path);
    w->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!w->tmp) return nn__fail(NN_ERR_MEMORY, "%s: out of memory", what);
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(w->tmp);
    if (fd < 0) {
        nn_status s = nn__fail(NN_ERR_IO, "%s: cannot create a temporary file beside '%s': %s",
                               what, path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        return s;
    }
    /* Keep the mode of the file being replaced; a new file gets 0644. */
    struct stat st;
    mode_t mode = (stat(path, &st) == 0) ? (st.st_mode & 07777) : 0644;
    (void)fchmod(fd, mode);
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        close(fd);
        nn_status s = nn__fail(NN_ERR_IO, "%s: fdopen failed: %s", what, strerror(errno));
        nn__writer_abort(w);
        return s;
    }
    return NN_OK;
}

nn_status nn__writer_write(nn__writer *w, const void *p, size_t n) {
    if (fail_after >= 0 && w->written + n > (uint64_t)fail_after) {
        size_t part = (size_t)((uint64_t)fail_after - w->written);
        if (part) fwrite(p, 1, part, w->f);
        w->written += part;
        return nn__fail(NN_ERR_IO, "%s: writing '%s' failed after %llu bytes: %s (simulated)",
                        w->what, w->tmp, (unsigned long long)w->written, strerror(ENOSPC));
    }
    if (n && fwrite(p, 1, n, w->f) != n)
        return nn__fail(NN_ERR_IO, "%s: writing '%s' failed: %s", w->what, w->tmp, strerror(errno));
    w->written += n;
    return NN_OK;
}

/* fsyncs the folder holding `path`, so the rename itself is durable. */
static int fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = strdup(".");
    } else {
        size_t n = (size_t)(slash - path);
        dir = malloc(n + 2);
        if (dir) {
            if (n == 0) n = 1; /* the root folder */
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir) return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

nn_status nn__writer_commit(nn__writer *w) {
    nn_status s = NN_OK;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        s = nn__fail(NN_ERR_IO, "%s: flushing '%s' failed: %s", w->what, w->tmp, strerror(errno));
    int rc = fclose(w->f);
    w->f = NULL;
    if (s == NN_OK && rc != 0)
        s = nn__fail(NN_ERR_IO, "%s: closing '%s' failed: %s", w->what, w->tmp, strerror(errno));
    if (s == NN_OK && rename(w->tmp, w->path) != 0)
        s = nn__fail(NN_ERR_IO, "%s: renaming '%s' to '%s' failed: %s", w->what, w->tmp, w->path,
                     strerror(errno));
    if (s != NN_OK) {
        nn__writer_abort(w);
        return s;
    }
    free(w->tmp);
    w->tmp = NULL;
    if (fsync_parent(w->path) != 0)
        return nn__fail(NN_ERR_IO, "%s: '%s' was written, but syncing its folder failed: %s",
                        w->what, w->path, strerror(errno));
    return NN_OK;
}

void nn__writer_abort(nn__writer *w) {
    if (w->f) fclose(w->f);
    w->f = NULL;
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
}
