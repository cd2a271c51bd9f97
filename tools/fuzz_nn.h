/* Shared by the fuzz targets of nn/'s file readers: the oracle that a
 * failed read says why and changes nothing, and a scratch file for the
 * write-then-read-back check of what a read accepted. */
#ifndef TAPEGRAD_FUZZ_NN_H
#define TAPEGRAD_FUZZ_NN_H

#include "nn_internal.h"
#include "nn_testing.h"
#include "store_snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NO_ERROR "fuzz: no error yet"

/* Before each read: a message a failing read must replace. */
static inline void fuzz_clear_error(void) { nn__fail(NN_OK, FUZZ_NO_ERROR); }

/* After a failed read: it must have said why. */
static inline void fuzz_expect_message(void) {
    const char *e = nn_last_error();
    if (!e || !*e || strcmp(e, FUZZ_NO_ERROR) == 0) abort();
}

/* A failed load into ps: a message, and every value and version as before. */
static inline void fuzz_expect_untouched(nn_params *ps, const snapshot *s) {
    fuzz_expect_message();
    if (!untouched(ps, s)) abort();
}

/* This process's scratch file (one per fuzzing process, removed at exit),
 * in /dev/shm where there is one: the writers fsync, which a disk makes slow. */
static char fuzz_scratch_path[64];
static inline void fuzz_scratch_remove(void) { unlink(fuzz_scratch_path); }
static inline const char *fuzz_scratch(void) {
    if (!fuzz_scratch_path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_scratch_path, sizeof fuzz_scratch_path, "%s/tapegrad-fuzz-%ld", dir ? dir : "/tmp",
                 (long)getpid());
        atexit(fuzz_scratch_remove);
    }
    return fuzz_scratch_path;
}

/* Two stores with the same names have the same bytes. */
static inline void fuzz_expect_same_values(nn_params *a, nn_params *b) {
    snapshot s = snap(a);
    bool same = same_as(b, &s);
    snap_free(&s);
    if (!same) abort();
}

#endif
