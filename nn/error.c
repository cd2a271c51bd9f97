/* nn's per-thread error message and status names. */
#include "nn_internal.h"

#include <stdarg.h>

static _Thread_local char last_error[512];

nn_status nn__fail(nn_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *nn_last_error(void) { return last_error[0] ? last_error : NULL; }

const char *nn_status_str(nn_status s) {
    switch (s) {
    case NN_OK: return "ok";
    case NN_ERR_NULL: return "NULL argument";
    case NN_ERR_ARG: return "invalid argument";
    case NN_ERR_MEMORY: return "out of memory";
    case NN_ERR_EXISTS: return "name already registered";
    case NN_ERR_IO: return "input/output error";
    case NN_ERR_FORMAT: return "file format error";
    case NN_ERR_VERSION: return "unsupported file version";
    case NN_ERR_MISMATCH: return "file does not match the store";
    case NN_ERR_PARSE: return "parse error";
    }
    return "unknown status";
}
