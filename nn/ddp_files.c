/* nn_ddp's files: saved by rank 0, loaded by rank 0 and shared. */
#include "ddp_internal.h"

nn_status nn_ddp_save(nn_ddp *d, const nn_params *ps, const char *path) {
    if (!d) return nn__fail(NN_ERR_NULL, "ddp_save: the ddp is NULL");
    nn_status st = d->rank == 0 ? nn_save(ps, path) : NN_OK;
    return nn__ddp_share_status(d, st);
}

nn_status nn_ddp_load(nn_ddp *d, nn_params *ps, const char *path, const nn_load_opts *opts) {
    if (!d) return nn__fail(NN_ERR_NULL, "ddp_load: the ddp is NULL");
    nn_status st = d->rank == 0 ? nn_load(ps, path, opts) : NN_OK;
    st = nn__ddp_share_status(d, st);
    return st == NN_OK ? nn_ddp_broadcast(d, ps) : st;
}

nn_status nn_ddp_save_optim(nn_ddp *d, const nn_optim *o, const char *path) {
    if (!d) return nn__fail(NN_ERR_NULL, "ddp_save_optim: the ddp is NULL");
    nn_status st = d->rank == 0 ? nn_optim_save(o, path) : NN_OK;
    return nn__ddp_share_status(d, st);
}

nn_status nn_ddp_load_optim(nn_ddp *d, nn_optim *o, const char *path, size_t max_bytes) {
    if (!d) return nn__fail(NN_ERR_NULL, "ddp_load_optim: the ddp is NULL");
    if (!o) return nn__fail(NN_ERR_NULL, "ddp_load_optim: the optimizer is NULL"); /* the same on every rank */
    /* Every rank's own export is the shape of the state; rank 0 fills its
     * from the file, the broadcast fills the others, each imports. */
    nn_params *state = nn_params_new();
    nn_status st = state ? nn_optim_state_export(o, state) : NN_ERR_MEMORY;
    if (st == NN_OK && d->rank == 0) st = nn_load(state, path, &(nn_load_opts){.max_bytes = max_bytes});
    st = nn__ddp_share_status(d, st);
    if (st == NN_OK) st = nn_ddp_broadcast(d, state);
    if (st == NN_OK) st = nn_optim_state_import(o, state);
    nn_params_free(state);
    return st;
}
