/* Error reports of the expression language: where (line, column, the
 * program's line with a caret) and what was expected. */
#include "expr_internal.h"

#include <stdarg.h>
#include <stdio.h>

/* A UTF-8 continuation byte: not the start of a character. */
static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

static void clear(ag_expr_error *err) {
    err->message[0] = err->expected[0] = err->line_text[0] = '\0';
    err->line = err->column = err->caret = 0;
}

void ex_error(ag_expr_error *err, const char *fmt, ...) {
    if (!err) return;
    clear(err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void ex_error_at(ag_expr_error *err, const char *src, size_t len, size_t pos,
                 const char *expected, const char *fmt, ...) {
    if (!err) return;
    clear(err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (expected) snprintf(err->expected, sizeof err->expected, "%s", expected);
    if (pos > len) pos = len;

    /* Line and the start of the line: counted on demand, errors are rare. */
    size_t line_start = 0;
    int line = 1;
    for (size_t i = 0; i < pos; i++) {
        if (src[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    size_t line_end = pos;
    while (line_end < len && src[line_end] != '\n') line_end++;
    int column = 1;
    for (size_t i = line_start; i < pos; i++) column += !is_cont((unsigned char)src[i]);
    err->line = line;
    err->column = column;

    /* A window of the line that fits line_text, keeping the caret about a
     * third of the way in when the line is long. */
    const size_t room = sizeof err->line_text - 8; /* leaves space for a last UTF-8 char */
    size_t w0 = line_start;
    if (pos - line_start > room / 3 && line_end - line_start > room)
        w0 = pos - room / 3;
    while (w0 > line_start && w0 < len && is_cont((unsigned char)src[w0])) w0--;
    size_t o = 0, i = w0;
    int caret = 0;
    while (i < line_end && o < room) {
        unsigned char c = (unsigned char)src[i];
        if (i < pos && !is_cont(c)) caret += 1;
        err->line_text[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        i++;
    }
    /* Do not end in the middle of a character. */
    if (i < line_end && is_cont((unsigned char)src[i])) {
        while (o > 0 && is_cont((unsigned char)err->line_text[o - 1])) o--;
        if (o > 0) o--;
    }
    err->line_text[o] = '\0';
    err->caret = caret;
}

void ag_expr_error_print(FILE *out, const char *prefix, const ag_expr_error *err) {
    if (!out || !err) return;
    if (prefix && *prefix) fprintf(out, "%s: ", prefix);
    if (err->line > 0)
        fprintf(out, "%s (line %d, column %d)\n", err->message, err->line, err->column);
    else
        fprintf(out, "%s\n", err->message);
    if (err->line > 0) {
        fprintf(out, "  %s\n  %*s^\n", err->line_text, err->caret, "");
    }
    if (err->expected[0]) fprintf(out, "  expected: %s\n", err->expected);
}
