/* The parameter store: named parameters in a uthash map (and a second one
 * keyed by the parameter, so a parameter registered twice is found without
 * a scan), plus an array that keeps registration order. The store owns its
 * parameters. */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

/* uthash must report a failed malloc instead of calling exit(). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) (oom_flag = 1)
#include <uthash.h>

typedef struct entry {
    char *name;
    ag_tensor *p;
    size_t index; /* position in registration order */
    const nn_torch_layout *torch; /* PyTorch's layout, when it differs */
    bool buffer;                  /* saved and loaded, never trained */
    UT_hash_handle hh;    /* by name */
    UT_hash_handle by_p;  /* by parameter (the pointer) */
} entry;

struct nn_params {
    entry *map;      /* uthash head, by name */
    entry *of_param; /* uthash head, by parameter */
    entry **order;   /* registration order */
    size_t count, cap;
};

nn_params *nn_params_new(void) {
    nn_params *ps = calloc(1, sizeof *ps);
    if (!ps) nn__fail(NN_ERR_MEMORY, "params_new: out of memory");
    return ps;
}

void nn_params_free(nn_params *ps) {
    if (!ps) return;
    HASH_CLEAR(hh, ps->map);
    HASH_CLEAR(by_p, ps->of_param);
    for (size_t i = 0; i < ps->count; i++) {
        ag_param_free(ps->order[i]->p);
        free(ps->order[i]->name);
        free(ps->order[i]);
    }
    free(ps->order);
    free(ps);
}

static entry *find(const nn_params *ps, const char *name, size_t len) {
    entry *e = NULL;
    HASH_FIND(hh, ps->map, name, len, e);
    return e;
}

nn_status nn_params_add(nn_params *ps, const char *name, ag_tensor *p) {
    if (!ps || !name || !p)
        return nn__fail(NN_ERR_NULL, "params_add: %s is NULL", !ps ? "store" : !name ? "name" : "parameter");
    size_t len = strlen(name);
    if (len == 0 || len > NN_NAME_MAX)
        return nn__fail(NN_ERR_ARG, "params_add: a name must have 1 to %d bytes (got %zu)", NN_NAME_MAX, len);
    if (!ag_is_param(p))
        return nn__fail(NN_ERR_ARG, "params_add: '%s' is not a parameter (make it with ag_param_new)", name);
    if (find(ps, name, len)) return nn__fail(NN_ERR_EXISTS, "params_add: '%s' is already registered", name);
    entry *same = NULL;
    HASH_FIND(by_p, ps->of_param, &p, sizeof p, same);
    if (same)
        return nn__fail(NN_ERR_EXISTS, "params_add: the parameter is already registered as '%s'", same->name);
    if (ps->count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;
        entry **o = realloc(ps->order, cap * sizeof *o);
        if (!o) return nn__fail(NN_ERR_MEMORY, "params_add: out of memory");
        ps->order = o;
        ps->cap = cap;
    }
    entry *e = calloc(1, sizeof *e);
    char *copy = malloc(len + 1);
    if (!e || !copy) {
        free(e);
        free(copy);
        return nn__fail(NN_ERR_MEMORY, "params_add: out of memory");
    }
    memcpy(copy, name, len + 1);
    e->name = copy;
    e->p = p;
    e->index = ps->count;
    int oom_flag = 0;
    HASH_ADD_KEYPTR(hh, ps->map, e->name, len, e);
    if (!oom_flag) {
        HASH_ADD(by_p, ps->of_param, p, sizeof p, e);
        if (oom_flag) HASH_DELETE(hh, ps->map, e);
    }
    if (oom_flag) {
        free(copy);
        free(e);
        return nn__fail(NN_ERR_MEMORY, "params_add: out of memory");
    }
    ps->order[ps->count++] = e;
    /* The tensor carries its name too, for engine errors and traces. Only
     * malloc can fail here, and the name is cosmetic, so a failure is
     * ignored. */
    (void)ag_set_name(NULL, p, name);
    return NN_OK;
}

ag_tensor *nn_params_create(nn_params *ps, const char *name, ag_dtype dtype, int ndim,
                            const int64_t *shape, const void *data) {
    if (!ps || !name) {
        nn__fail(NN_ERR_NULL, "params_create: %s is NULL", !ps ? "store" : "name");
        return NULL;
    }
    size_t len = strlen(name);
    if (len && len <= NN_NAME_MAX && find(ps, name, len)) { /* before allocating */
        nn__fail(NN_ERR_EXISTS, "params_create: '%s' is already registered", name);
        return NULL;
    }
    ag_tensor *p = ag_param_new(dtype, ndim, shape, data);
    if (!p) {
        const char *why = ag_last_error();
        nn__fail(NN_ERR_ARG, "params_create: '%s': %s", name, why ? why : "ag_param_new failed");
        return NULL;
    }
    if (nn_params_add(ps, name, p) != NN_OK) {
        ag_param_free(p);
        return NULL;
    }
    return p;
}

ag_tensor *nn_params_get(const nn_params *ps, const char *name) {
    if (!ps || !name) return NULL;
    entry *e = find(ps, name, strlen(name));
    return e ? e->p : NULL;
}

size_t nn_params_count(const nn_params *ps) { return ps ? ps->count : 0; }

ag_tensor *nn_params_at(const nn_params *ps, size_t i) {
    return (ps && i < ps->count) ? ps->order[i]->p : NULL;
}

const char *nn_params_name_at(const nn_params *ps, size_t i) {
    return (ps && i < ps->count) ? ps->order[i]->name : NULL;
}

int64_t nn_params_numel(const nn_params *ps) {
    int64_t n = 0;
    for (size_t i = 0; ps && i < ps->count; i++)
        if (!ps->order[i]->buffer) n += ag_numel(ps->order[i]->p);
    return n;
}

ag_tensor *nn_params_create_buffer(nn_params *ps, const char *name, ag_dtype dtype, int ndim,
                                   const int64_t *shape, const void *data) {
    ag_tensor *b = nn_params_create(ps, name, dtype, ndim, shape, data);
    if (b) ps->order[ps->count - 1]->buffer = true;
    return b;
}

bool nn_params_is_buffer_at(const nn_params *ps, size_t i) {
    return ps && i < ps->count && ps->order[i]->buffer;
}

size_t nn_params_trainable(const nn_params *ps, ag_tensor **out) {
    size_t n = 0;
    for (size_t i = 0; ps && i < ps->count; i++)
        if (!ps->order[i]->buffer) {
            if (out) out[n] = ps->order[i]->p;
            n++;
        }
    return n;
}

void nn_params_zero_grad(nn_params *ps) {
    for (size_t i = 0; ps && i < ps->count; i++) ag_zero_grad(ps->order[i]->p);
}

ag_tensor *nn__params_find(const nn_params *ps, const char *name, size_t len, size_t *index) {
    entry *e = find(ps, name, len);
    if (e && index) *index = e->index;
    return e ? e->p : NULL;
}

nn_status nn_params_set_torch_layout(nn_params *ps, const char *name, const nn_torch_layout *layout) {
    if (!ps || !name) return nn__fail(NN_ERR_NULL, "params_set_torch_layout: %s is NULL", !ps ? "store" : "name");
    entry *e = find(ps, name, strlen(name));
    if (!e) return nn__fail(NN_ERR_ARG, "params_set_torch_layout: no parameter is registered as '%s'", name);
    if (layout) {
        int n;
        int64_t shape[AG_MAX_DIMS];
        char buf[128];
        if (!layout->torch_shape || !layout->index_here)
            return nn__fail(NN_ERR_ARG, "params_set_torch_layout: '%s': the layout lacks a function", name);
        if (!layout->torch_shape(ag_ndim(e->p), ag_shape(e->p), &n, shape))
            return nn__fail(NN_ERR_ARG, "params_set_torch_layout: '%s': the layout %s does not apply to shape %s",
                            name, layout->name ? layout->name : "?", ag_shape_str(e->p, buf, sizeof buf));
    }
    e->torch = layout;
    return NN_OK;
}

const nn_torch_layout *nn_params_torch_layout(const nn_params *ps, const char *name) {
    entry *e = (ps && name) ? find(ps, name, strlen(name)) : NULL;
    return e ? e->torch : NULL;
}

const nn_torch_layout *nn__params_layout_at(const nn_params *ps, size_t i) {
    return i < ps->count ? ps->order[i]->torch : NULL;
}
