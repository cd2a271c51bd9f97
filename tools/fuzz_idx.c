/* libFuzzer target for the IDX reader (nn_idx_read's parse). The oracle: a
 * failed read says why; what it accepts is self-consistent and, written
 * back with nn_idx_write in its own type, reads back to the same values.
 * Replayed over tests/corpus/idx by fuzz_replay_idx. Input: the file. */
#include "fuzz_nn.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_clear_error();
    nn_idx *a = nn__idx_parse("fuzz", data, size, (size_t)1 << 26);
    if (!a) {
        fuzz_expect_message();
        return 0;
    }
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->dims[d];
    if (a->ndim < 1 || a->ndim > NN_IDX_MAX_DIMS || n != a->numel) abort();
    if (nn_idx_write(fuzz_scratch(), a->type, a->ndim, a->dims, a->data) != NN_OK) abort();
    nn_idx *b = nn_idx_read(fuzz_scratch(), (size_t)1 << 26);
    if (!b || b->type != a->type || b->numel != a->numel) abort();
    for (int64_t i = 0; i < a->numel; i++)
        if (!(a->data[i] == b->data[i] || (isnan(a->data[i]) && isnan(b->data[i])))) abort();
    nn_idx_free(b);
    nn_idx_free(a);
    return 0;
}
