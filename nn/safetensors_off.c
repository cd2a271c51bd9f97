/* safetensors in a build without Jansson (-Dsafetensors=disabled, or
 * libjansson-dev missing): the functions exist and say so. */
#include "nn_internal.h"
#include "nn_testing.h"

#define WHY "this build of tapegrad has no safetensors support (it was built without Jansson: install " \
            "libjansson-dev and reconfigure)"

bool nn_safetensors_available(void) { return false; }

nn_status nn_save_safetensors(const nn_params *ps, const char *path, const nn_safetensors_opts *opts) {
    (void)ps, (void)path, (void)opts;
    return nn__fail(NN_ERR_UNSUPPORTED, "save_safetensors: " WHY);
}

nn_status nn_load_safetensors(nn_params *ps, const char *path, const nn_safetensors_opts *opts) {
    (void)ps, (void)path, (void)opts;
    return nn__fail(NN_ERR_UNSUPPORTED, "load_safetensors: " WHY);
}

nn_status nn__load_safetensors_buffer(nn_params *ps, const char *path, const unsigned char *buf, size_t len,
                                      const nn_safetensors_opts *opts) {
    (void)ps, (void)path, (void)buf, (void)len, (void)opts;
    return nn__fail(NN_ERR_UNSUPPORTED, "load_safetensors: " WHY);
}
