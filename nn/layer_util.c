/* Helpers of the layer constructors (nn_layer.h). */
#include "nn_layer.h"

#include <stdio.h>
#include <stdlib.h>

bool nn__param_name(char *buf, const char *what, const char *prefix, const char *leaf) {
    int n = snprintf(buf, NN_NAME_MAX + 2, "%s.%s", prefix, leaf);
    if (n < 0 || n > NN_NAME_MAX) {
        nn__fail(NN_ERR_ARG, "%s: the name '%s.%s' is too long (at most %d bytes)", what, prefix, leaf,
                 NN_NAME_MAX);
        return false;
    }
    return true;
}

bool nn__names_free(const nn_params *ps, const char *what, const char *prefix, int n,
                    const char *const *leaves) {
    if (!ps || !prefix) {
        nn__fail(NN_ERR_NULL, "%s: %s is NULL", what, !ps ? "the store" : "the prefix");
        return false;
    }
    char name[NN_NAME_MAX + 2];
    for (int i = 0; i < n; i++) {
        if (!nn__param_name(name, what, prefix, leaves[i])) return false;
        if (nn_params_get(ps, name)) {
            nn__fail(NN_ERR_EXISTS, "%s: '%s' is already registered", what, name);
            return false;
        }
    }
    return true;
}

ag_tensor *nn__param(nn_params *ps, const char *what, const char *prefix, const char *leaf,
                     ag_dtype dtype, int ndim, const int64_t *shape, bool buffer) {
    char name[NN_NAME_MAX + 2];
    if (!nn__param_name(name, what, prefix, leaf)) return NULL;
    return buffer ? nn_params_create_buffer(ps, name, dtype, ndim, shape, NULL)
                  : nn_params_create(ps, name, dtype, ndim, shape, NULL);
}

void *nn__module_new(size_t size, const char *what, const char *kind,
                     ag_tensor *(*forward)(nn_module *, ag_tape *, ag_tensor *)) {
    nn_module *m = calloc(1, size);
    if (!m) {
        nn__fail(NN_ERR_MEMORY, "%s: out of memory", what);
        return NULL;
    }
    *m = (nn_module){.kind = kind, .forward = forward, .destroy = nn__module_free_self, .training = true};
    return m;
}

void nn__module_free_self(nn_module *m) { free(m); }
