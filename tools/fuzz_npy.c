/* libFuzzer target for the .npy reader: nn_npy_read's parse, and
 * nn_npy_load into (2, 3) parameters of both dtypes. The oracle: a failed
 * read or load says why, and a failed load changes no value or version;
 * what a read accepts is self-consistent, writes back and reads back to the
 * same bits, and a successful load holds the values read. Replayed over
 * tests/corpus/npy by fuzz_replay_npy. Input: the file. */
#include "fuzz_nn.h"

static void check_array(const nn_array *a) {
    if (a->ndim < 0 || a->ndim > AG_MAX_DIMS || (a->dtype != AG_F32 && a->dtype != AG_F64)) abort();
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    if (n != a->numel) abort();
    size_t bytes = (size_t)a->numel * (a->dtype == AG_F32 ? 4 : 8);
    if (nn_npy_write(fuzz_scratch(), a->dtype, a->ndim, a->shape, a->data) != NN_OK) abort();
    nn_array *b = nn_npy_read(fuzz_scratch(), 0);
    if (!b || b->dtype != a->dtype || b->ndim != a->ndim || b->numel != a->numel ||
        memcmp(b->shape, a->shape, sizeof a->shape) != 0 || (bytes && memcmp(a->data, b->data, bytes) != 0))
        abort();
    nn_array_free(b);
}

static void load_into(ag_dtype dtype, const uint8_t *data, size_t size, const nn_array *a) {
    nn_params *ps = nn_params_new();
    ag_tensor *p = ps ? nn_params_create(ps, "p", dtype, AG_SHAPE(2, 3), NULL) : NULL;
    if (!p) abort();
    fill(p, 11);
    snapshot s = snap(ps);
    fuzz_clear_error();
    if (nn__npy_load_buffer(p, "fuzz", data, size) != NN_OK) fuzz_expect_untouched(ps, &s);
    else if (!a || a->dtype != dtype || memcmp(ag_data(p), a->data, (size_t)a->numel * (dtype == AG_F32 ? 4 : 8)))
        abort();
    snap_free(&s);
    nn_params_free(ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_clear_error();
    nn_array *a = nn__npy_parse("fuzz", data, size, (size_t)1 << 26);
    if (a) check_array(a);
    else fuzz_expect_message();
    load_into(AG_F32, data, size, a);
    load_into(AG_F64, data, size, a);
    nn_array_free(a);
    return 0;
}
