/* The few JSON writers the --json output needs. */
#include "cli.h"

#include <math.h>

void json_number(FILE *out, double v) {
    /* JSON has no NaN or infinities: they are written as strings, the
     * spelling JavaScript and Python's float() read back. */
    if (isnan(v)) fputs("\"NaN\"", out);
    else if (isinf(v)) fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", out);
    else fprintf(out, "%.17g", v);
}

void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p < 0x20) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out); /* UTF-8 passes through */
        }
    }
    fputc('"', out);
}
