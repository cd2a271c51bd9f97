/* A numeric CSV reader: comma-separated finite numbers, an optional header
 * row, and errors that give the line and column of the defect. */
#include "nn_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *src;  /* "'path': " or "" for messages */
    const char *text; /* NUL-terminated copy */
    size_t len;
    nn_csv *out;
    int64_t cap;      /* values allocated */
} parser;

#define FAIL(P, line, col, ...) fail_at((P), (line), (col), __VA_ARGS__)

static void fail_at(parser *P, int64_t line, int64_t col, const char *fmt, ...) NN__PRINTF(4, 5);

static void fail_at(parser *P, int64_t line, int64_t col, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    nn__fail(NN_ERR_PARSE, "csv: %sline %lld, column %lld: %s", P->src, (long long)line, (long long)col, what);
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Shows a field (at most 40 bytes) for a message. */
static const char *show(char *buf, size_t size, const char *s, size_t n) {
    size_t k = n < size - 4 ? n : size - 4;
    memcpy(buf, s, k);
    strcpy(buf + k, n > k ? "..." : "");
    return buf;
}

/* Makes room for `need` values. */
static bool grow(parser *P, int64_t need) {
    if (need <= P->cap) return true;
    int64_t cap = P->cap ? P->cap : 64;
    while (cap < need) {
        if (cap > INT64_MAX / 2 / (int64_t)sizeof(double)) return false;
        cap *= 2;
    }
    double *v = realloc(P->out->values, (size_t)cap * sizeof(double));
    if (!v) return false;
    P->out->values = v;
    P->cap = cap;
    return true;
}

/* The header line [s, e): column names, trimmed. */
static bool parse_header(parser *P, const char *s, const char *e) {
    int64_t n = 1;
    for (const char *p = s; p < e; p++) n += *p == ',';
    P->out->header = calloc((size_t)n, sizeof(char *));
    if (!P->out->header) return false;
    P->out->cols = n;
    for (int64_t i = 0; i < n; i++) {
        const char *f = s;
        while (f < e && *f != ',') f++;
        const char *a = s, *b = f;
        while (a < b && is_blank(*a)) a++;
        while (b > a && is_blank(b[-1])) b--;
        char *name = malloc((size_t)(b - a) + 1);
        if (!name) return false;
        memcpy(name, a, (size_t)(b - a));
        name[b - a] = '\0';
        P->out->header[i] = name;
        s = f + 1;
    }
    return true;
}

/* A data line [s, e), line number `line`: parses its fields into a new row.
 * Returns NN_OK or the error's status (message set). */
static nn_status parse_row(parser *P, const char *s, const char *e, int64_t line) {
    nn_csv *c = P->out;
    int64_t col = 0;
    char buf[48];
    for (const char *f = s;; f++) {
        const char *end = f;
        while (end < e && *end != ',') end++;
        col++;
        if (c->cols && col > c->cols) {
            int64_t found = col;
            for (const char *p = end; p < e; p++) found += *p == ',';
            FAIL(P, line, col, "ragged row: expected %lld fields, found %lld", (long long)c->cols, (long long)found);
            return NN_ERR_PARSE;
        }
        const char *a = f, *b = end;
        while (a < b && is_blank(*a)) a++;
        while (b > a && is_blank(b[-1])) b--;
        if (a == b) {
            FAIL(P, line, col, "empty field");
            return NN_ERR_PARSE;
        }
        char *stop;
        errno = 0;
        double v = strtod(a, &stop);
        if (stop != b) {
            FAIL(P, line, col, "non-numeric field '%s'", show(buf, sizeof buf, a, (size_t)(b - a)));
            return NN_ERR_PARSE;
        }
        if (errno == ERANGE && fabs(v) == HUGE_VAL) {
            FAIL(P, line, col, "overflow: '%s' is out of the range of a double",
                 show(buf, sizeof buf, a, (size_t)(b - a)));
            return NN_ERR_PARSE;
        }
        if (!isfinite(v)) {
            FAIL(P, line, col, "non-numeric field '%s' (not a finite number)", show(buf, sizeof buf, a, (size_t)(b - a)));
            return NN_ERR_PARSE;
        }
        int64_t at = c->rows * (c->cols ? c->cols : 0) + col - 1;
        if (!grow(P, at + 1)) {
            nn__fail(NN_ERR_MEMORY, "csv: %sout of memory at line %lld", P->src, (long long)line);
            return NN_ERR_MEMORY;
        }
        c->values[at] = v;
        if (end >= e) break;
        f = end;
    }
    if (!c->cols) c->cols = col; /* the first row fixes the width */
    if (col < c->cols) {
        FAIL(P, line, col + 1, "ragged row: expected %lld fields, found %lld", (long long)c->cols, (long long)col);
        return NN_ERR_PARSE;
    }
    c->rows++;
    return NN_OK;
}

static nn_csv *parse(const char *src, const char *text, size_t len, bool has_header) {
    parser P = {.src = src, .text = text, .len = len};
    P.out = calloc(1, sizeof *P.out);
    if (!P.out) {
        nn__fail(NN_ERR_MEMORY, "csv: out of memory");
        return NULL;
    }
    int64_t line = 0, blank_line = 0;
    bool header_done = !has_header;
    nn_status s = NN_OK;
    for (const char *p = text, *end = text + len; p < end && s == NN_OK;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        const char *next = e ? e + 1 : end;
        if (!e) e = end;
        if (e > p && e[-1] == '\r') e--;
        line++;
        const char *q = p;
        while (q < e && is_blank(*q)) q++;
        p = next;
        if (q == e) { /* blank: fine at the end only */
            if (!blank_line) blank_line = line;
            continue;
        }
        if (blank_line) {
            FAIL(&P, blank_line, 1, "blank line between rows");
            s = NN_ERR_PARSE;
            break;
        }
        if (memchr(q, '\0', (size_t)(e - q))) {
            FAIL(&P, line, 1, "NUL byte in the line");
            s = NN_ERR_PARSE;
            break;
        }
        /* A lone \r would otherwise end up inside a column name. */
        const char *cr = memchr(q, '\r', (size_t)(e - q));
        if (cr) {
            FAIL(&P, line, 1, "a carriage return inside the line (lines end in \\n or \\r\\n)");
            s = NN_ERR_PARSE;
            break;
        }
        if (!header_done) {
            header_done = true;
            if (!parse_header(&P, q, e)) s = nn__fail(NN_ERR_MEMORY, "csv: out of memory");
            continue;
        }
        s = parse_row(&P, q, e, line);
    }
    if (s == NN_OK && P.out->rows == 0) {
        if (has_header && header_done && P.out->header)
            FAIL(&P, line + 1, 1, "empty file: no data rows after the header");
        else
            FAIL(&P, 1, 1, "empty file: no rows");
        s = NN_ERR_PARSE;
    }
    if (s != NN_OK) {
        nn_csv_free(P.out);
        return NULL;
    }
    return P.out;
}

nn_csv *nn_csv_parse(const char *text, size_t len, bool has_header) {
    if (!text && len) {
        nn__fail(NN_ERR_NULL, "csv: text is NULL");
        return NULL;
    }
    char *copy = malloc(len + 1); /* NUL-terminated, so strtod stops inside */
    if (!copy) {
        nn__fail(NN_ERR_MEMORY, "csv: out of memory");
        return NULL;
    }
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    nn_csv *c = parse("", copy, len, has_header);
    free(copy);
    return c;
}

nn_csv *nn_csv_read(const char *path, bool has_header, size_t max_bytes) {
    if (!path) {
        nn__fail(NN_ERR_NULL, "csv: path is NULL");
        return NULL;
    }
    unsigned char *buf;
    size_t len;
    if (nn__read_file("csv", path, max_bytes, &buf, &len) != NN_OK) return NULL;
    char *copy = realloc(buf, len + 1);
    if (!copy) {
        free(buf);
        nn__fail(NN_ERR_MEMORY, "csv: out of memory");
        return NULL;
    }
    copy[len] = '\0';
    size_t n = strlen(path) + 5;
    char *src = malloc(n);
    nn_csv *c = NULL;
    if (src) {
        snprintf(src, n, "'%s': ", path);
        c = parse(src, copy, len, has_header);
    } else {
        nn__fail(NN_ERR_MEMORY, "csv: out of memory");
    }
    free(src);
    free(copy);
    return c;
}

void nn_csv_free(nn_csv *c) {
    if (!c) return;
    if (c->header)
        for (int64_t i = 0; i < c->cols; i++) free(c->header[i]);
    free(c->header);
    free(c->values);
    free(c);
}
