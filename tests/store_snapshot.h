/* Copies of a parameter store's values, to show that a failed load changed
 * nothing; and seeded values with the awkward floats in them. Shared by the
 * nn suites and the fuzz targets (so no Check here: failures abort). */
#ifndef TAPEGRAD_STORE_SNAPSHOT_H
#define TAPEGRAD_STORE_SNAPSHOT_H

#include <tapegrad/nn.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_MAX 16

/* Every parameter's bytes and version, in registration order. */
typedef struct snapshot {
    size_t n;
    unsigned char *bytes[SNAPSHOT_MAX];
    size_t len[SNAPSHOT_MAX];
    uint32_t version[SNAPSHOT_MAX];
} snapshot;

static inline snapshot snap(nn_params *ps) {
    snapshot s = {.n = nn_params_count(ps)};
    if (s.n > SNAPSHOT_MAX) abort();
    for (size_t i = 0; i < s.n; i++) {
        ag_tensor *p = nn_params_at(ps, i);
        s.len[i] = (size_t)ag_numel(p) * (ag_dtype_of(p) == AG_F32 ? 4 : 8);
        s.bytes[i] = malloc(s.len[i] + 1);
        if (!s.bytes[i]) abort();
        memcpy(s.bytes[i], ag_data(p), s.len[i]);
        s.version[i] = ag_param_version(p);
    }
    return s;
}

/* The values are bit for bit the snapshot's. */
static inline bool same_as(nn_params *ps, const snapshot *s) {
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->bytes[i], ag_data(nn_params_at(ps, i)), s->len[i]) != 0) return false;
    return true;
}

/* Nothing was written: values and versions (ag_data_mut counts) as then. */
static inline bool untouched(nn_params *ps, const snapshot *s) {
    for (size_t i = 0; i < s->n; i++)
        if (ag_param_version(nn_params_at(ps, i)) != s->version[i]) return false;
    return same_as(ps, s);
}

static inline void snap_free(snapshot *s) {
    for (size_t i = 0; i < s->n; i++) free(s->bytes[i]);
}

/* Fills p with seeded values, including -0, infinities, a NaN and a
 * subnormal in the first slots, so bit-exactness means something. */
static inline void fill(ag_tensor *p, uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    int64_t n = ag_numel(p);
    bool f32 = ag_dtype_of(p) == AG_F32;
    void *d = ag_data_mut(p);
    for (int64_t i = 0; i < n; i++) {
        double v = ag_rng_normal(&r) * 100;
        if (i == 1) v = -0.0;
        if (i == 2) v = INFINITY;
        if (i == 3) v = NAN;
        if (i == 4) v = f32 ? 1e-40 : 5e-320;
        if (f32) ((float *)d)[i] = (float)v;
        else ((double *)d)[i] = v;
    }
}

#endif
