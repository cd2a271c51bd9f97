/* nn_ddp in a tapegrad built without MPI: the local world works
 * (ddp.c); nn_ddp_init says what is missing. */
#include "ddp_internal.h"

bool nn_ddp_available(void) { return false; }

nn_ddp *nn_ddp_init(int *argc, char ***argv, nn_params *ps, const nn_ddp_opts *opts) {
    (void)argc;
    (void)argv;
    (void)ps;
    (void)opts;
    nn__fail(NN_ERR_UNSUPPORTED, "ddp_init: this tapegrad was built without MPI (install libopenmpi-dev and "
                         "configure with meson setup -Dmpi=enabled)");
    return NULL;
}
