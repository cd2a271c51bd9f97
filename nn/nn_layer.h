/* Internal helpers of the layer constructors: parameter names built from a
 * prefix, checked all at once before any is registered (the store has no
 * removal), and module allocation. Not installed. */
#ifndef TAPEGRAD_NN_LAYER_H
#define TAPEGRAD_NN_LAYER_H

#include "nn_tape.h"

#include <tapegrad/nn_layers.h>

/* "<prefix>.<leaf>" into buf (NN_NAME_MAX + 2 bytes). False, with
 * nn_last_error() "what: the name ... is too long", when it does not fit. */
bool nn__param_name(char *buf, const char *what, const char *prefix, const char *leaf);

/* True when ps and prefix are not NULL and every "<prefix>.<leaves[i]>"
 * (i < n) fits and is not registered yet; else false with nn_last_error(). */
bool nn__names_free(const nn_params *ps, const char *what, const char *prefix, int n,
                    const char *const *leaves);

/* Registers "<prefix>.<leaf>" of the given shape, zeros, as a parameter or
 * (buffer) a buffer. NULL with nn_last_error(). */
ag_tensor *nn__param(nn_params *ps, const char *what, const char *prefix, const char *leaf,
                     ag_dtype dtype, int ndim, const int64_t *shape, bool buffer);

/* calloc(size) with its nn_module head filled in (training mode), or NULL
 * with nn_last_error() "what: out of memory". */
void *nn__module_new(size_t size, const char *what, const char *kind,
                     ag_tensor *(*forward)(nn_module *, ag_tape *, ag_tensor *));

/* The destroy function of a module that owns nothing but itself. */
void nn__module_free_self(nn_module *m);

/* The shape of x in buf, for messages. */
#define NN__SHAPE(x, buf) ag_shape_str((x), (buf), sizeof(buf))

#endif
