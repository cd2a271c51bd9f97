/* Tensors in the command's output: nested lists in text ([[1, 2], [3, 4]])
 * and JSON (nested arrays), element indices ("[1, 0]"), and a gradient as a
 * small table beside its finite differences. */
#include "cli.h"

#include <string.h>

void index_text(char *buf, size_t size, const ag_expr_shape *s, int64_t flat) {
    if (s->ndim == 2)
        snprintf(buf, size, "[%lld, %lld]", (long long)(flat / s->dims[1]), (long long)(flat % s->dims[1]));
    else snprintf(buf, size, "[%lld]", (long long)flat);
}

/* One tensor printed by `number` (text or JSON) as nested lists. */
static void nested(FILE *out, const ag_expr_shape *s, const double *v, bool json) {
    char b[SHORTEST_LEN];
    if (s->ndim == 0) {
        if (json) json_number(out, v[0]);
        else fputs(shortest(v[0], b), out);
        return;
    }
    const int64_t rows = s->ndim == 2 ? s->dims[0] : 1, cols = s->ndim == 2 ? s->dims[1] : s->dims[0];
    if (s->ndim == 2) fputc('[', out);
    for (int64_t r = 0; r < rows; r++) {
        fputs(r ? ", [" : "[", out);
        for (int64_t c = 0; c < cols; c++) {
            fputs(c ? ", " : "", out);
            if (json) json_number(out, v[r * cols + c]);
            else fputs(shortest(v[r * cols + c], b), out);
        }
        fputc(']', out);
    }
    if (s->ndim == 2) fputc(']', out);
}

void print_tensor(FILE *out, const ag_expr_shape *s, const double *v) { nested(out, s, v, false); }
void json_tensor(FILE *out, const ag_expr_shape *s, const double *v) { nested(out, s, v, true); }

void print_grad_table(FILE *out, const char *name, const ag_expr_shape *s, const double *ad,
                      const double *fd, const bool *ok) {
    char shape[64], b[SHORTEST_LEN];
    shape_text(shape, sizeof shape, s);
    const int64_t rows = s->ndim == 2 ? s->dims[0] : 1, cols = s->ndim == 2 ? s->dims[1] : s->dims[0];
    /* columns as wide as the widest number, so the table lines up */
    int w = 1;
    for (int64_t i = 0; i < rows * cols; i++) {
        int l1 = (int)strlen(shortest(ad[i], b)), l2 = (int)strlen(shortest(fd[i], b));
        w = l1 > w ? l1 : w;
        w = l2 > w ? l2 : w;
    }
    fprintf(out, "  d/d%s, shape %s: autodiff | central finite difference\n", name, shape);
    for (int64_t r = 0; r < rows; r++) {
        bool row_ok = true;
        fputs("    [", out);
        for (int64_t c = 0; c < cols; c++) fprintf(out, " %*s", w, shortest(ad[r * cols + c], b));
        fputs(" ] | [", out);
        for (int64_t c = 0; c < cols; c++) {
            fprintf(out, " %*s", w, shortest(fd[r * cols + c], b));
            row_ok = row_ok && ok[r * cols + c];
        }
        fprintf(out, " ]  %s\n", row_ok ? "ok" : "MISMATCH");
    }
}
