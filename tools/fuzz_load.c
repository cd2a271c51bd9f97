/* libFuzzer target for nn_load (nn/FORMAT.md) into a fixed store. The
 * oracle: a failed load says why and changes no value or version; a
 * successful one saves back and reloads to the same bytes. Replayed over
 * tests/corpus/load by the fuzz_replay_load test.
 *
 * Input: a flags byte, then the file. Flag 1 rewrites every record's CRC-32
 * and the file's before loading (so mutations get past the checksums to
 * the checks behind them); flag 2 loads non-strictly. */
#include "fuzz_nn.h"

static nn_params *store(void) {
    nn_params *ps = nn_params_new();
    if (!ps) abort();
    ag_tensor *ts[] = {
        nn_params_create(ps, "w", AG_F32, AG_SHAPE(2, 2), NULL),
        nn_params_create(ps, "b", AG_F64, AG_SHAPE(2), NULL),
        nn_params_create(ps, "s", AG_F32, 0, NULL, NULL),
        nn_params_create(ps, "e", AG_F64, AG_SHAPE(0, 3), NULL),
    };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        if (!ts[i]) abort();
        fill(ts[i], 7 + i);
    }
    return ps;
}

/* Rewrites the CRCs of the records it can walk, then the file's. */
static void fix_crcs(unsigned char *b, size_t n) {
    if (n < 20) return;
    size_t end = n - 4, p = 16;
    uint32_t count = nn__ld_le32(b + 12);
    for (uint32_t i = 0; i < count && p + 2 <= end; i++) {
        size_t start = p, nlen = (size_t)b[p] | (size_t)b[p + 1] << 8;
        p += 2 + nlen;
        if (p + 2 > end) break;
        size_t es = b[p] == AG_F32 ? 4 : 8, ndim = b[p + 1];
        p += 2;
        if (ndim > AG_MAX_DIMS || p + 8 * ndim > end) break;
        uint64_t numel = 1;
        for (size_t d = 0; d < ndim && numel <= end; d++) numel *= nn__ld_le64(b + p + 8 * d);
        p += 8 * ndim;
        if (numel > end || numel * es > end - p || end - p - numel * es < 4) break;
        p += (size_t)(numel * es);
        nn__st_le32(b + p, nn_crc32(0, b + start, p - start));
        p += 4;
    }
    nn__st_le32(b + end, nn_crc32(0, b, end));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned char *b = malloc(size);
    if (!b) return 0;
    memcpy(b, data + 1, size - 1);
    size_t n = size - 1;
    if (data[0] & 1) fix_crcs(b, n);
    nn_load_opts o = {.non_strict = (data[0] & 2) != 0};
    nn_params *ps = store();
    snapshot s = snap(ps);
    fuzz_clear_error();
    if (nn__load_buffer(ps, "fuzz", b, n, &o) != NN_OK) {
        fuzz_expect_untouched(ps, &s);
    } else {
        nn_params *again = store();
        if (nn_save(ps, fuzz_scratch()) != NN_OK || nn_load(again, fuzz_scratch(), NULL) != NN_OK) abort();
        fuzz_expect_same_values(ps, again);
        nn_params_free(again);
    }
    snap_free(&s);
    nn_params_free(ps);
    free(b);
    return 0;
}
