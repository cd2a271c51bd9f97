/* Gradient buckets: a store's parameters as one flat array per wire dtype,
 * cut into buckets, packed into and out of a contiguous buffer. */
#include "ddp_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static size_t elsize(ag_dtype dt) { return dt == AG_F32 ? sizeof(float) : sizeof(double); }

uint32_t nn__ddp_store_crc(uint32_t crc, const nn_params *ps) {
    for (size_t i = 0, n = nn_params_count(ps); i < n; i++) {
        const ag_tensor *p = nn_params_at(ps, i);
        const char *name = nn_params_name_at(ps, i);
        crc = nn_crc32(crc, name, strlen(name) + 1);
        unsigned char head[2] = {(unsigned char)ag_dtype_of(p), (unsigned char)ag_ndim(p)}, dim[8];
        crc = nn_crc32(crc, head, 2);
        for (int k = 0; k < ag_ndim(p); k++) {
            nn__st_le64(dim, (uint64_t)ag_shape(p)[k]);
            crc = nn_crc32(crc, dim, 8);
        }
    }
    return crc;
}

void nn__ddp_layout_free(nn__ddp_layout *L) {
    for (int g = 0; g < 2; g++) {
        free(L->group[g].members);
        free(L->group[g].offsets);
    }
    memset(L, 0, sizeof *L);
}

nn_status nn__ddp_layout_make(nn__ddp_layout *L, const nn_params *ps, ag_dtype reduce,
                              size_t bucket_bytes) {
    memset(L, 0, sizeof *L);
    size_t n = nn_params_count(ps);
    /* Group 0 takes f32 on the wire, group 1 f64; with one reduce dtype
     * every parameter goes to its group. */
    for (int g = 0; g < 2; g++) {
        nn__ddp_group *G = &L->group[g];
        G->wire = g == 0 ? AG_F32 : AG_F64;
        G->members = malloc((n ? n : 1) * sizeof *G->members);
        G->offsets = malloc((n ? n : 1) * sizeof *G->offsets);
        if (!G->members || !G->offsets) {
            nn__ddp_layout_free(L);
            return nn__fail(NN_ERR_MEMORY, "ddp: out of memory for the bucket layout");
        }
    }
    for (size_t i = 0; i < n; i++) {
        ag_tensor *p = nn_params_at(ps, i);
        ag_dtype wire = reduce ? reduce : ag_dtype_of(p);
        nn__ddp_group *G = &L->group[wire == AG_F32 ? 0 : 1];
        G->offsets[G->n] = G->elems;
        G->members[G->n++] = p;
        G->elems += ag_numel(p);
    }
    /* Keep the non-empty groups, f32 first. */
    int k = 0;
    for (int g = 0; g < 2; g++) {
        nn__ddp_group G = L->group[g];
        if (G.elems == 0) {
            free(G.members);
            free(G.offsets);
            continue;
        }
        /* A bucket's byte count must fit MPI's int count too. */
        size_t es = elsize(G.wire);
        int64_t cap = (int64_t)(bucket_bytes / es);
        if (cap < 1) cap = 1;
        if (cap > INT_MAX / (int64_t)sizeof(double)) cap = INT_MAX / (int64_t)sizeof(double);
        G.cap = cap;
        L->buckets += (int)((G.elems + cap - 1) / cap);
        L->bytes += G.elems * (int64_t)es;
        size_t largest = (size_t)(G.elems < cap ? G.elems : cap) * es;
        if (largest > L->max_bucket_bytes) L->max_bucket_bytes = largest;
        L->group[k++] = G;
    }
    for (int g = k; g < 2; g++) memset(&L->group[g], 0, sizeof L->group[g]);
    L->ngroups = k;
    return NN_OK;
}

/* The member holding flat element `at`: the last one starting at or before it. */
static size_t member_at(const nn__ddp_group *g, int64_t at) {
    size_t i = 0;
    while (i + 1 < g->n && g->offsets[i + 1] <= at) i++;
    return i;
}

/* Calls copy(p, offset in p, count, offset in the bucket) for each piece of
 * the flat range [start, start + len). Empty parameters are passed over. */
#define FOR_EACH_PIECE(g, start, len, BODY)                                          \
    do {                                                                             \
        int64_t at_ = (start), end_ = (start) + (len);                               \
        for (size_t i_ = member_at((g), at_); i_ < (g)->n && at_ < end_; i_++) {     \
            ag_tensor *p = (g)->members[i_];                                         \
            int64_t from = at_ - (g)->offsets[i_];                                   \
            int64_t count = ag_numel(p) - from;                                      \
            if (count > end_ - at_) count = end_ - at_;                              \
            if (count <= 0) continue;                                                \
            int64_t pos = at_ - (start);                                             \
            BODY;                                                                    \
            at_ += count;                                                            \
        }                                                                            \
    } while (0)

/* n elements from src (dtype s) to dst (dtype t), times scale unless 1. */
static void convert(void *dst, ag_dtype t, const void *src, ag_dtype s, int64_t n, double scale) {
    if (s == t && scale == 1) {
        memcpy(dst, src, (size_t)n * elsize(t));
    } else if (t == AG_F32 && s == AG_F32) {
        float *d = dst;
        const float *x = src;
        const float f = (float)scale;
        for (int64_t i = 0; i < n; i++) d[i] = x[i] * f;
    } else if (t == AG_F64 && s == AG_F64) {
        double *d = dst;
        const double *x = src;
        for (int64_t i = 0; i < n; i++) d[i] = x[i] * scale;
    } else if (t == AG_F32) { /* from f64 */
        float *d = dst;
        const double *x = src;
        for (int64_t i = 0; i < n; i++) d[i] = (float)(x[i] * scale);
    } else { /* f64 from f32 */
        double *d = dst;
        const float *x = src;
        for (int64_t i = 0; i < n; i++) d[i] = (double)x[i] * scale;
    }
}

void nn__ddp_pack(const nn__ddp_group *g, nn__ddp_part part, int64_t start, int64_t len, void *buf) {
    size_t ws = elsize(g->wire);
    FOR_EACH_PIECE(g, start, len, {
        ag_dtype dt = ag_dtype_of(p);
        const char *src = part == NN__GRADS ? ag_grad_data(p) : ag_data(p);
        convert((char *)buf + (size_t)pos * ws, g->wire, src + (size_t)from * elsize(dt), dt, count, 1);
    });
}

void nn__ddp_unpack(const nn__ddp_group *g, nn__ddp_part part, int64_t start, int64_t len,
                    const void *buf, double scale) {
    size_t ws = elsize(g->wire);
    FOR_EACH_PIECE(g, start, len, {
        ag_dtype dt = ag_dtype_of(p);
        char *dst = part == NN__GRADS ? ag_grad_data(p) : ag_data_mut(p);
        convert(dst + (size_t)from * elsize(dt), dt, (const char *)buf + (size_t)pos * ws, g->wire, count,
                scale);
    });
}
