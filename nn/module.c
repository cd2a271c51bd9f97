/* The module interface (forward, training mode, free) and the Sequential
 * container. */
#include "nn_tape.h"

#include <stdlib.h>

ag_tensor *nn_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    if (!m || !m->forward) {
        if (t && ag_tape_status(t) == AG_OK) nn__tape_fail(t, AG_ERR_NULL, "forward", m ? "the module has no forward function" : "the module is NULL");
        else if (!t) nn__fail(NN_ERR_NULL, "forward: the tape is NULL");
        return NULL;
    }
    return m->forward(m, t, x);
}

void nn_module_set_training(nn_module *m, bool training) {
    if (!m) return;
    if (m->set_training) m->set_training(m, training);
    else m->training = training;
}

void nn_module_free(nn_module *m) {
    if (m && m->destroy) m->destroy(m);
}

/* ------------------------------------------------------------ sequential */

typedef struct sequential {
    nn_module base;
    nn_module **mods; /* owned, in order */
    size_t n, cap;
} sequential;

static ag_tensor *sequential_forward(nn_module *m, ag_tape *t, ag_tensor *x) {
    sequential *s = (sequential *)m;
    if (!nn__inputs_ok(t, "sequential", 1, &x)) return NULL;
    for (size_t i = 0; i < s->n && x; i++) x = nn_forward(s->mods[i], t, x);
    return x;
}

static void sequential_set_training(nn_module *m, bool training) {
    sequential *s = (sequential *)m;
    m->training = training;
    for (size_t i = 0; i < s->n; i++) nn_module_set_training(s->mods[i], training);
}

static void sequential_destroy(nn_module *m) {
    sequential *s = (sequential *)m;
    for (size_t i = 0; i < s->n; i++) nn_module_free(s->mods[i]);
    free(s->mods);
    free(s);
}

nn_module *nn_sequential_new(void) {
    sequential *s = calloc(1, sizeof *s);
    if (!s) {
        nn__fail(NN_ERR_MEMORY, "sequential_new: out of memory");
        return NULL;
    }
    s->base = (nn_module){.kind = "sequential", .forward = sequential_forward,
                          .set_training = sequential_set_training, .destroy = sequential_destroy,
                          .training = true};
    return &s->base;
}

static sequential *as_sequential(const nn_module *m) {
    return (m && m->forward == sequential_forward) ? (sequential *)m : NULL;
}

nn_status nn_sequential_add(nn_module *seq, nn_module *m) {
    if (!seq || !m) return nn__fail(NN_ERR_NULL, "sequential_add: %s is NULL", !seq ? "the Sequential" : "the module");
    sequential *s = as_sequential(seq);
    if (!s) return nn__fail(NN_ERR_ARG, "sequential_add: the container is a '%s', not a Sequential", seq->kind);
    if (m == seq) return nn__fail(NN_ERR_ARG, "sequential_add: a Sequential cannot contain itself");
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        nn_module **mods = realloc(s->mods, cap * sizeof *mods);
        if (!mods) return nn__fail(NN_ERR_MEMORY, "sequential_add: out of memory");
        s->mods = mods;
        s->cap = cap;
    }
    s->mods[s->n++] = m;
    return NN_OK;
}

size_t nn_sequential_len(const nn_module *seq) {
    sequential *s = as_sequential(seq);
    return s ? s->n : 0;
}

nn_module *nn_sequential_at(const nn_module *seq, size_t i) {
    sequential *s = as_sequential(seq);
    return (s && i < s->n) ? s->mods[i] : NULL;
}
