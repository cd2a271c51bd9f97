/* PyTorch's layout and names: the transpose of Linear's weight, and the
 * prefix renames between a store's names and a file's. */
#include "nn_internal.h"

#include <string.h>

static bool transpose_shape(int ndim, const int64_t *shape, int *torch_ndim, int64_t *torch_shape) {
    if (ndim != 2) return false;
    *torch_ndim = 2;
    torch_shape[0] = shape[1];
    torch_shape[1] = shape[0];
    return true;
}

/* Element i of PyTorch's (b, a) is (r, c) = (i / a, i % a), which is
 * (c, r) here, in (a, b). */
static int64_t transpose_index(int ndim, const int64_t *shape, int64_t i) {
    (void)ndim;
    int64_t a = shape[0], b = shape[1];
    return (i % a) * b + i / a;
}

const nn_torch_layout nn_torch_transpose = {
    .name = "transposed: (a, b) here, (b, a) in PyTorch",
    .torch_shape = transpose_shape,
    .index_here = transpose_index,
};

static bool starts_with(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return k <= n && memcmp(s, prefix, k) == 0;
}

nn_status nn__renames_check(const char *what, const nn_rename *r, size_t n) {
    if (n && !r) return nn__fail(NN_ERR_NULL, "%s: renames is NULL with n_renames %zu", what, n);
    for (size_t i = 0; i < n; i++) {
        if (!r[i].ours || !r[i].theirs)
            return nn__fail(NN_ERR_NULL, "%s: rename %zu has a NULL prefix", what, i);
        for (size_t j = 0; j < n; j++) {
            if (i == j) continue;
            if (starts_with(r[j].ours, strlen(r[j].ours), r[i].ours))
                return nn__fail(NN_ERR_ARG, "%s: renames %zu and %zu: '%s' is a prefix of '%s', so reading would "
                                "not invert writing", what, i, j, r[i].ours, r[j].ours);
            if (starts_with(r[j].theirs, strlen(r[j].theirs), r[i].theirs))
                return nn__fail(NN_ERR_ARG, "%s: renames %zu and %zu: '%s' is a prefix of '%s', so reading would "
                                "not invert writing", what, i, j, r[i].theirs, r[j].theirs);
        }
    }
    return NN_OK;
}

size_t nn__rename(const nn_rename *r, size_t n, bool to_file, const char *name, size_t len, char *out,
                  size_t size) {
    for (size_t i = 0; i < n; i++) {
        const char *from = to_file ? r[i].ours : r[i].theirs, *to = to_file ? r[i].theirs : r[i].ours;
        if (!starts_with(name, len, from)) continue;
        size_t a = strlen(to), rest = len - strlen(from);
        if (a + rest + 1 > size) return SIZE_MAX;
        memcpy(out, to, a);
        memcpy(out + a, name + strlen(from), rest);
        out[a + rest] = '\0';
        return a + rest;
    }
    if (len + 1 > size) return SIZE_MAX;
    memcpy(out, name, len);
    out[len] = '\0';
    return len;
}
