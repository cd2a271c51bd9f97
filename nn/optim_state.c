/* The optimizer's state as a parameter store, so a checkpoint can hold it:
 * export, import, and nn_save / nn_load of it (names as in nn.h). */
#include "optim_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The state tensors of one parameter: their name prefixes, and the buffer
 * each one is (buf1 or buf2). */
typedef struct state_part {
    const char *prefix;
    int buf; /* 1 or 2 */
} state_part;

/* The parts the optimizer's kind keeps per parameter; returns their count. */
static int parts_of(const nn_optim *o, state_part parts[2]) {
    if (o->o.kind == NN_SGD) {
        if (o->o.momentum == 0) return 0;
        parts[0] = (state_part){"momentum_buffer", 1};
        return 1;
    }
    parts[0] = (state_part){"exp_avg", 1};
    parts[1] = (state_part){"exp_avg_sq", 2};
    return 2;
}

/* "<prefix>.<parameter name>", or "<prefix>.#<i>" for an unnamed one. */
static void state_name(char *buf, size_t size, const char *prefix, const ag_tensor *p, size_t i) {
    if (ag_name(p)) snprintf(buf, size, "%s.%s", prefix, ag_name(p));
    else snprintf(buf, size, "%s.#%zu", prefix, i);
}

#define STATE_NAME_BUF (NN_NAME_MAX + 64)

/* Registers a new f64 tensor `name` of p's shape holding `data` (or zeros). */
static nn_status add_state(nn_params *out, const char *name, const ag_tensor *p, const double *data) {
    ag_tensor *t = ag_param_new(AG_F64, ag_ndim(p), ag_shape(p), data);
    if (!t) return nn__fail(NN_ERR_MEMORY, "optim_state_export: %s", ag_last_error());
    nn_status st = nn_params_add(out, name, t);
    if (st != NN_OK) ag_param_free(t);
    return st;
}

nn_status nn_optim_state_export(const nn_optim *o, nn_params *out) {
    if (!o || !out) return nn__fail(NN_ERR_NULL, "optim_state_export: %s is NULL", !o ? "optimizer" : "store");
    if (nn_params_count(out) != 0)
        return nn__fail(NN_ERR_ARG, "optim_state_export: the store must be empty (it has %zu)",
                        nn_params_count(out));
    double step = (double)o->steps;
    ag_tensor *t = ag_param_new(AG_F64, 0, NULL, &step);
    nn_status st = t ? nn_params_add(out, "step", t) : NN_ERR_MEMORY;
    if (st != NN_OK) {
        ag_param_free(t);
        return st;
    }
    state_part parts[2];
    int np = parts_of(o, parts);
    char name[STATE_NAME_BUF];
    for (size_t i = 0; i < o->n && st == NN_OK; i++)
        for (int k = 0; k < np && st == NN_OK; k++) {
            double **bufs = parts[k].buf == 1 ? o->buf1 : o->buf2;
            state_name(name, sizeof name, parts[k].prefix, o->params[i], i);
            /* Before the first step there is no buffer yet: zeros. */
            st = add_state(out, name, o->params[i], bufs ? bufs[i] : NULL);
        }
    return st;
}

/* The f64 tensor `name` of `in` with p's shape, or NULL with an error. */
static const ag_tensor *state_tensor(const nn_params *in, const char *name, const ag_tensor *p) {
    const ag_tensor *s = nn_params_get(in, name);
    if (!s) {
        nn__fail(NN_ERR_MISMATCH, "optim_state_import: no tensor '%s' in the state", name);
        return NULL;
    }
    char want[64], got[64];
    if (ag_dtype_of(s) != AG_F64 || ag_ndim(s) != ag_ndim(p) ||
        (ag_ndim(p) && memcmp(ag_shape(s), ag_shape(p), (size_t)ag_ndim(p) * sizeof(int64_t)))) {
        nn__fail(NN_ERR_MISMATCH, "optim_state_import: '%s' is %s %s, the optimizer needs f64 %s", name,
                 ag_dtype_of(s) == AG_F64 ? "f64" : "f32", ag_shape_str(s, got, sizeof got),
                 ag_shape_str(p, want, sizeof want));
        return NULL;
    }
    return s;
}

nn_status nn_optim_state_import(nn_optim *o, const nn_params *in) {
    if (!o || !in) return nn__fail(NN_ERR_NULL, "optim_state_import: %s is NULL", !o ? "optimizer" : "store");
    state_part parts[2];
    int np = parts_of(o, parts);
    size_t want = 1 + (size_t)np * o->n;
    if (nn_params_count(in) != want)
        return nn__fail(NN_ERR_MISMATCH, "optim_state_import: the state has %zu tensors, this optimizer keeps %zu",
                        nn_params_count(in), want);
    const ag_tensor *step = nn_params_get(in, "step");
    double steps = step && ag_numel(step) == 1 ? ag_item(step) : NAN;
    if (!(steps >= 0 && steps <= 9007199254740992.0 && steps == floor(steps)))
        return nn__fail(NN_ERR_MISMATCH, "optim_state_import: 'step' is %s",
                        step ? "not a whole number >= 0" : "missing");
    /* Validate everything before writing anything. */
    char name[STATE_NAME_BUF];
    for (size_t i = 0; i < o->n; i++)
        for (int k = 0; k < np; k++) {
            state_name(name, sizeof name, parts[k].prefix, o->params[i], i);
            if (!state_tensor(in, name, o->params[i])) return NN_ERR_MISMATCH;
        }
    nn_status st = nn__optim_ensure_state(o);
    if (st != NN_OK) return st;
    for (size_t i = 0; i < o->n; i++)
        for (int k = 0; k < np; k++) {
            state_name(name, sizeof name, parts[k].prefix, o->params[i], i);
            double *dst = (parts[k].buf == 1 ? o->buf1 : o->buf2)[i];
            memcpy(dst, ag_data(nn_params_get(in, name)), (size_t)ag_numel(o->params[i]) * sizeof(double));
        }
    o->steps = (int64_t)steps;
    return NN_OK;
}

nn_status nn_optim_save(const nn_optim *o, const char *path) {
    nn_params *state = nn_params_new();
    if (!state) return NN_ERR_MEMORY;
    nn_status st = nn_optim_state_export(o, state);
    if (st == NN_OK) st = nn_save(state, path);
    nn_params_free(state);
    return st;
}

nn_status nn_optim_load(nn_optim *o, const char *path, size_t max_bytes) {
    /* The optimizer's own export is the template: nn_load checks the file
     * against its names and shapes, strictly, before anything is written. */
    nn_params *state = nn_params_new();
    if (!state) return NN_ERR_MEMORY;
    nn_status st = nn_optim_state_export(o, state);
    if (st == NN_OK) st = nn_load(state, path, &(nn_load_opts){.max_bytes = max_bytes});
    if (st == NN_OK) st = nn_optim_state_import(o, state);
    nn_params_free(state);
    return st;
}
