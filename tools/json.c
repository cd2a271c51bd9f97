/* The few JSON writers the --json output needs. */
#include "cli.h"

#include <string.h>

#include <math.h>
#include <stdlib.h>

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

const char *shortest(double v, char buf[SHORTEST_LEN]) {
    if (isnan(v)) return strcpy(buf, "nan");
    if (isinf(v)) return strcpy(buf, v > 0 ? "inf" : "-inf");
    /* The fewest significant digits whose decimal reads back as v. */
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, SHORTEST_LEN, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return buf;
    }
    return buf; /* %.17g always round-trips */
}
