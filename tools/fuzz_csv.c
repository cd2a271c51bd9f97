/* libFuzzer target for the CSV reader. The oracle: a failed parse says why
 * (line and column); a table it accepts has finite values and, printed back
 * as CSV with %.17g, parses to the same header and values. Replayed over
 * tests/corpus/csv by fuzz_replay_csv.
 *
 * Input: a flags byte (1: the first line is a header), then the text. */
#include "fuzz_nn.h"

#include <math.h>

/* The table as CSV text (malloc'd). */
static char *print_csv(const nn_csv *c, size_t *len) {
    size_t cap = 64, n = 0;
    for (int64_t j = 0; c->header && j < c->cols; j++) cap += strlen(c->header[j]) + 1;
    cap += (size_t)(c->rows * c->cols) * 26;
    char *s = malloc(cap);
    if (!s) abort();
    for (int64_t j = 0; c->header && j < c->cols; j++)
        n += (size_t)snprintf(s + n, cap - n, "%s%s", c->header[j], j + 1 < c->cols ? "," : "\n");
    for (int64_t i = 0; i < c->rows; i++)
        for (int64_t j = 0; j < c->cols; j++)
            n += (size_t)snprintf(s + n, cap - n, "%.17g%s", c->values[i * c->cols + j], j + 1 < c->cols ? "," : "\n");
    *len = n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool header = data[0] & 1;
    fuzz_clear_error();
    nn_csv *c = nn_csv_parse((const char *)data + 1, size - 1, header);
    if (!c) {
        fuzz_expect_message();
        if (!strstr(nn_last_error(), "line ") && !strstr(nn_last_error(), "memory")) abort();
        return 0;
    }
    if (c->rows < 1 || c->cols < 1 || (header != (c->header != NULL))) abort();
    for (int64_t i = 0; i < c->rows * c->cols; i++)
        if (!isfinite(c->values[i])) abort();
    size_t n;
    char *text = print_csv(c, &n);
    nn_csv *d = nn_csv_parse(text, n, header);
    if (!d || d->rows != c->rows || d->cols != c->cols ||
        memcmp(d->values, c->values, (size_t)(c->rows * c->cols) * sizeof(double)) != 0)
        abort();
    for (int64_t j = 0; header && j < c->cols; j++)
        if (strcmp(c->header[j], d->header[j]) != 0) abort();
    nn_csv_free(d);
    free(text);
    nn_csv_free(c);
    return 0;
}
