/* Errors: the tape's sticky error, the thread's last error for tape-less
 * functions, status names, the assert handler, and the shape and operand
 * formatting every error message uses. */
#include "error.h"
#include "tape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

ag_tensor *ag__error_fail(ag_tape *t, ag_status code, const char *op, const char *fmt, ...) {
    if (!t || t->err != AG_OK) return NULL; /* keep the first error */
    t->err = code;
    t->s.lim = 0; /* the scalar recorders' fast path stops (stmt.h) */
    int n = snprintf(t->msg, sizeof t->msg, "%s: ", op ? op : "tapegrad");
    if (n < 0 || (size_t)n >= sizeof t->msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg + n, sizeof t->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return NULL;
}

ag_status ag_tape_fail(ag_tape *t, ag_status code, const char *op, const char *message) {
    if (!t) return AG_ERR_NULL;
    if (code == AG_OK) code = AG_ERR_ARG;
    ag__error_fail(t, code, op, "%s", message ? message : "");
    return t->err;
}

static _Thread_local char last_error[512];

void ag__error_set_last(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

void ag_set_last_error(const char *message) { snprintf(last_error, sizeof last_error, "%s", message ? message : ""); }

const char *ag_last_error(void) { return last_error[0] ? last_error : NULL; }

const char *ag_status_str(ag_status s) {
    switch (s) {
    case AG_OK: return "ok";
    case AG_ERR_NULL: return "NULL argument";
    case AG_ERR_SHAPE: return "shape mismatch";
    case AG_ERR_AXIS: return "axis or index out of range";
    case AG_ERR_DTYPE: return "dtype mismatch";
    case AG_ERR_MEMORY: return "out of memory";
    case AG_ERR_ARG: return "invalid argument";
    case AG_ERR_STATE: return "invalid state";
    case AG_ERR_NONFINITE: return "non-finite value (anomaly mode)";
    }
    return "unknown status";
}

/* The default handler of AG_ASSERT, the one place the library may stop a
 * program: it is reached only when an internal invariant is broken (a bug
 * in tapegrad), never on bad input, which always returns an error. A
 * program that must not stop installs its own (ag_set_assert_handler). */
static void default_assert_handler(const char *file, int line, const char *expr) {
    fprintf(stderr, "tapegrad: internal invariant broken at %s:%d: %s\n", file, line, expr);
    /* Continuing past a broken invariant would corrupt memory. */
    abort();
}

static ag_assert_handler assert_handler = default_assert_handler;

ag_assert_handler ag_set_assert_handler(ag_assert_handler h) {
    ag_assert_handler old = assert_handler;
    assert_handler = h ? h : default_assert_handler;
    return old;
}

void ag__error_assert_fail(const char *file, int line, const char *expr) {
    assert_handler(file, line, expr);
}

char *ag__error_fmt_operand(char *buf, size_t size, const ag_tensor *x) {
    ag_format_shape(buf, size, ag_ndim(x), ag_shape(x));
    const char *name = ag_name(x);
    size_t len = strlen(buf);
    if (name && len < size) snprintf(buf + len, size - len, " '%s'", name);
    return buf;
}

const char *ag_dtype_name(ag_dtype dtype) {
    return dtype == AG_F32 ? "f32" : dtype == AG_F64 ? "f64" : "unknown";
}

char *ag_format_shape(char *buf, size_t size, int ndim, const int64_t *shape) {
    if (!buf || !size) return buf;
    size_t off = 0;
    int w = snprintf(buf, size, "[");
    off = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < ndim && off < size; i++) {
        w = snprintf(buf + off, size - off, i ? ", %lld" : "%lld", (long long)shape[i]);
        if (w < 0) break;
        off += (size_t)w;
    }
    if (off < size) snprintf(buf + off, size - off, "]");
    return buf;
}

