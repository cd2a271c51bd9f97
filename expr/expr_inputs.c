/* A parsed program's inputs and sizes, and matching input values to
 * names. */
#include "expr_internal.h"

#include <stdlib.h>

int ag_expr_num_inputs(const ag_expr *e) { return e ? e->ninputs : 0; }

const char *ag_expr_input_name(const ag_expr *e, int i) {
    return e && i >= 0 && i < e->ninputs ? e->inputs[i]->name : NULL;
}

int ag_expr_input_index(const ag_expr *e, const char *name) {
    if (!e || !name) return -1;
    ex_sym *s = NULL;
    HASH_FIND(hh, e->syms, name, strlen(name), s);
    return s ? s->input : -1;
}

int ag_expr_num_bindings(const ag_expr *e) { return e ? e->nbound : 0; }

const char *ag_expr_binding_name(const ag_expr *e, int i) {
    return e && i >= 0 && i < e->nbound ? e->bound[i]->name : NULL;
}

int ag_expr_binding_index(const ag_expr *e, const char *name) {
    if (!e || !name) return -1;
    ex_sym *s = NULL;
    HASH_FIND(hh, e->syms, name, strlen(name), s);
    return s ? s->binding : -1;
}

int ag_expr_num_notes(const ag_expr *e) { return e ? e->nnotes : 0; }

const char *ag_expr_note(const ag_expr *e, int i) {
    return e && i >= 0 && i < e->nnotes ? e->notes[i] : NULL;
}

size_t ag_expr_num_statements(const ag_expr *e) { return e ? e->nstatements : 0; }
size_t ag_expr_num_nodes(const ag_expr *e) { return e ? e->nnodes : 0; }

/* "x, y, z" (shortened when long) for messages. */
static void list_inputs(const ag_expr *e, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < e->ninputs && o + 1 < size; i++) {
        int w = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", e->inputs[i]->name);
        if (w < 0) break;
        o += (size_t)w;
    }
    if (o >= size && size > 4) memcpy(buf + size - 4, "...", 4);
}

int ag_expr_bind_values(const ag_expr *e, int n, const char *const *names,
                        const double *given, double *values, ag_expr_error *err) {
    if (!e || n < 0 || (n > 0 && (!names || !given)) || (e->ninputs > 0 && !values)) {
        ex_error(err, "ag_expr_bind_values: NULL argument");
        return -1;
    }
    bool *seen = calloc((size_t)e->ninputs + 1, sizeof *seen);
    if (!seen) {
        ex_error(err, "out of memory");
        return -1;
    }
    int rc = 0;
    char list[200];
    for (int k = 0; k < n && rc == 0; k++) {
        int i = ag_expr_input_index(e, names[k]);
        if (i < 0) {
            list_inputs(e, list, sizeof list);
            ex_error(err, "'%.64s' is not an input of the program (%s%s)", names[k],
                     e->ninputs ? "its inputs are: " : "it has no inputs", list);
            rc = -1;
        } else if (seen[i]) {
            ex_error(err, "input '%.64s' is given twice", names[k]);
            rc = -1;
        } else {
            seen[i] = true;
            values[i] = given[k];
        }
    }
    for (int i = 0; i < e->ninputs && rc == 0; i++) {
        if (!seen[i]) {
            ex_error(err, "input '%.64s' has no value: give it as %.64s=VALUE", e->inputs[i]->name,
                     e->inputs[i]->name);
            rc = -1;
        }
    }
    free(seen);
    return rc;
}
