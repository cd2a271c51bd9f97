/* Errors, two tiers (error.c). Bad input sets the tape's sticky error and
 * makes the op return NULL (ag__error_fail); a broken internal invariant
 * goes through AG_ASSERT to the replaceable assert handler. Not installed. */
#ifndef TAPEGRAD_CORE_ERROR_H
#define TAPEGRAD_CORE_ERROR_H

#include <tapegrad/autograd.h>

#include <stddef.h>

/* Calls the assert handler (ag_set_assert_handler) when cond is false. */
void ag__error_assert_fail(const char *file, int line, const char *expr);
#define AG_ASSERT(cond)                                                      \
    do {                                                                     \
        if (!(cond)) ag__error_assert_fail(__FILE__, __LINE__, #cond);       \
    } while (0)

/* Sets the sticky error (if none is set yet): "op: message". Returns NULL so
 * ops can `return ag__error_fail(...)`. */
ag_tensor *ag__error_fail(ag_tape *t, ag_status code, const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Sets the thread's last error (tape-less functions: ag_last_error). */
void ag__error_set_last(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Formats an operand for an error message: its shape and, when it has one,
 * its name: "[3, 4] 'w1'". */
char *ag__error_fmt_operand(char *buf, size_t size, const ag_tensor *x);

#endif /* TAPEGRAD_CORE_ERROR_H */
