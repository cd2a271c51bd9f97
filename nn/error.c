/* nn's errors and status names. The message of a failed call is the
 * thread's last error, the one ag_last_error() returns too. */
#include "nn_internal.h"

#include <stdarg.h>
#include <stdio.h>

nn_status nn__fail(nn_status s, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ag_set_last_error(msg);
    return s;
}

const char *nn_last_error(void) { return ag_last_error(); }

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
    case NN_ERR_UNSUPPORTED: return "not supported by this build";
    case NN_ERR_COMM: return "communication error";
    }
    return "unknown status";
}
