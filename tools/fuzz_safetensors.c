/* libFuzzer target for nn_load_safetensors into a fixed store with a
 * Linear-like weight (PyTorch's transposed layout declared). The oracle: a
 * failed load says why and changes no value or version; a successful one
 * saves back with the same options and reloads to the same bytes.
 * Replayed over tests/corpus/safetensors by fuzz_replay_safetensors.
 *
 * Input: a flags byte, then the file. Flag 1: NN_LAYOUT_PYTORCH; flag 2:
 * non-strict; flag 4: the renames "lin." <-> "0.". */
#include "fuzz_nn.h"

static nn_params *store(void) {
    nn_params *ps = nn_params_new();
    if (!ps) abort();
    ag_tensor *ts[] = {
        nn_params_create(ps, "lin.weight", AG_F32, AG_SHAPE(3, 2), NULL),
        nn_params_create(ps, "lin.bias", AG_F32, AG_SHAPE(2), NULL),
        nn_params_create(ps, "d", AG_F64, AG_SHAPE(2, 2), NULL),
        nn_params_create(ps, "s", AG_F64, 0, NULL, NULL),
        nn_params_create(ps, "e", AG_F32, AG_SHAPE(0, 2), NULL),
    };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        if (!ts[i]) abort();
        fill(ts[i], 3 + i);
    }
    if (nn_params_set_torch_layout(ps, "lin.weight", &nn_torch_transpose) != NN_OK) abort();
    return ps;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const nn_rename renames[] = {{"lin.", "0."}};
    nn_safetensors_opts o = {
        .layout = (data[0] & 1) ? NN_LAYOUT_PYTORCH : NN_LAYOUT_TAPEGRAD,
        .renames = (data[0] & 4) ? renames : NULL,
        .n_renames = (data[0] & 4) ? 1 : 0,
        .load = {.non_strict = (data[0] & 2) != 0},
    };
    nn_params *ps = store();
    snapshot s = snap(ps);
    fuzz_clear_error();
    nn_status st = nn__load_safetensors_buffer(ps, "fuzz", data + 1, size - 1, &o);
    if (st != NN_OK) {
        fuzz_expect_untouched(ps, &s);
    } else {
        nn_params *again = store();
        o.load.non_strict = false;
        if (nn_save_safetensors(ps, fuzz_scratch(), &o) != NN_OK ||
            nn_load_safetensors(again, fuzz_scratch(), &o) != NN_OK)
            abort();
        fuzz_expect_same_values(ps, again);
        nn_params_free(again);
    }
    snap_free(&s);
    nn_params_free(ps);
    return 0;
}
