/* safetensors files for a store: round trips, the bytes as the format
 * defines them, half floats, every kind of bad file (each leaving the model
 * untouched), PyTorch's layout and names, layouts a layer declares, and the
 * atomic save. (tests/test_interop.py checks against Python and PyTorch.) */
#include "testutil.h"

#include <tapegrad/nn_io.h>
#include <nn_testing.h>

#include "nn_testfiles.h"
#include "store_snapshot.h"

/* 8-byte size, the header text, the data. */
static size_t st_bytes(unsigned char *out, const char *json, const void *data, size_t dlen) {
    size_t n = strlen(json);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(out + 8, json, n);
    if (dlen) memcpy(out + 8 + n, data, dlen);
    return 8 + n + dlen;
}

/* A model with a Linear (whose weight has PyTorch's transposed layout), an
 * f64 tensor, a scalar and an empty tensor. */
static nn_params *model(uint64_t seed, nn_module **lin) {
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, seed);
    nn_module *m = nn_linear_new(ps, "fc1", 3, 2, true, AG_F32, &r);
    ck_assert_ptr_nonnull(m);
    if (lin) *lin = m;
    else nn_module_free(m);
    ag_tensor *ts[] = {
        nn_params_get(ps, "fc1.weight"),
        nn_params_get(ps, "fc1.bias"),
        nn_params_create(ps, "emb", AG_F64, AG_SHAPE(2, 2, 2), NULL),
        nn_params_create(ps, "scale", AG_F64, 0, NULL, NULL),
        nn_params_create(ps, "empty", AG_F32, AG_SHAPE(0, 3), NULL),
    };
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        ck_assert_ptr_nonnull(ts[i]);
        fill(ts[i], seed * 10 + i);
    }
    return ps;
}

/* One f32 (2, 2) parameter "w", for hand-made files. */
static nn_params *one_w(void) {
    nn_params *ps = nn_params_new();
    float v[4] = {9, 9, 9, 9};
    ck_assert_ptr_nonnull(nn_params_create(ps, "w", AG_F32, AG_SHAPE(2, 2), v));
    return ps;
}

/* Loads bytes from a file; on failure the model must be untouched. */
static nn_status load_bytes(nn_params *ps, const char *dir, const unsigned char *b, size_t n,
                            const nn_safetensors_opts *o) {
    const char *p = tf_path(dir, "x.safetensors", 3);
    tf_write(p, b, n);
    snapshot s = snap(ps);
    nn_status st = nn_load_safetensors(ps, p, o);
    if (st != NN_OK) ck_assert_msg(untouched(ps, &s), "a failed load (%s) changed the model", nn_last_error());
    snap_free(&s);
    return st;
}

static void expect(nn_params *ps, const char *dir, const char *json, const void *data, size_t dlen,
                   nn_status want, const char *needle) {
    unsigned char b[1024];
    size_t n = st_bytes(b, json, data, dlen);
    nn_status s = load_bytes(ps, dir, b, n, NULL);
    ck_assert_msg(s == want, "%s: status %d (%s), want %d", json, s, nn_last_error(), want);
    if (needle) ck_assert_msg(strstr(nn_last_error(), needle), "error '%s' lacks '%s'", nn_last_error(), needle);
}

START_TEST(without_jansson) {
    if (nn_safetensors_available()) return;
    nn_params *ps = one_w();
    ck_assert_int_eq(nn_save_safetensors(ps, "/tmp/never.safetensors", NULL), NN_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "Jansson"));
    ck_assert_int_eq(nn_load_safetensors(ps, "/tmp/never.safetensors", NULL), NN_ERR_UNSUPPORTED);
    nn_params_free(ps);
}
END_TEST

START_TEST(round_trip_bit_exact) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "m.safetensors", 0);
    for (int layout = 0; layout < 2; layout++) {
        nn_safetensors_opts o = {.layout = (nn_layout)layout};
        nn_params *a = model(1, NULL), *b = model(2, NULL);
        snapshot sa = snap(a);
        ck_assert(!same_as(b, &sa));
        ck_assert_int_eq(nn_save_safetensors(a, p, &o), NN_OK);
        ck_assert_int_eq(tf_count_entries(dir), 1);
        ck_assert_int_eq(nn_load_safetensors(b, p, &o), NN_OK);
        ck_assert(same_as(b, &sa));
        snap_free(&sa);
        nn_params_free(a);
        nn_params_free(b);
    }
    nn_params *e = nn_params_new();
    ck_assert_int_eq(nn_save_safetensors(e, p, NULL), NN_OK);
    ck_assert_int_eq(nn_load_safetensors(e, p, NULL), NN_OK);
    nn_params_free(e);
    tf_rmdir(dir);
}
END_TEST

START_TEST(bytes_as_the_format_says) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "w.safetensors", 0);
    nn_params *ps = nn_params_new();
    float w[2] = {1.0f, -2.0f};
    double s = 0.5;
    ck_assert_ptr_nonnull(nn_params_create(ps, "a.w", AG_F32, AG_SHAPE(2), w));
    ck_assert_ptr_nonnull(nn_params_create(ps, "s", AG_F64, 0, NULL, &s));
    ck_assert_int_eq(nn_save_safetensors(ps, p, NULL), NN_OK);
    size_t n;
    unsigned char *b = tf_read(p, &n);
    const char *json = "{\"__metadata__\":{\"format\":\"tapegrad\",\"layout\":\"tapegrad\",\"producer\":\"tapegrad "
                       AG_VERSION_STRING "\"},\"a.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[8,16]}}";
    size_t hlen = (strlen(json) + 7) / 8 * 8; /* spaces to a multiple of 8 */
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++) stored |= (uint64_t)b[i] << (8 * i);
    ck_assert_uint_eq(stored, hlen);
    ck_assert_uint_eq(n, 8 + hlen + 16);
    ck_assert_int_eq(memcmp(b + 8, json, strlen(json)), 0);
    for (size_t i = 8 + strlen(json); i < 8 + hlen; i++) ck_assert_int_eq(b[i], ' ');
    const unsigned char data[16] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f};
    ck_assert_int_eq(memcmp(b + 8 + hlen, data, 16), 0);
    free(b);
    nn_params_free(ps);
    tf_rmdir(dir);
}
END_TEST

START_TEST(half_floats_read_as_f32) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    nn_params *ps = one_w();
    /* F16: 1, -2, the smallest subnormal 2^-24, -inf. BF16: 1, -0, a NaN, 2^-133 (subnormal). */
    const unsigned char h[8] = {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0xfc};
    expect(ps, dir, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", h, 8, NN_OK, NULL);
    const float *v = ag_data(nn_params_get(ps, "w"));
    ck_assert_float_eq(v[0], 1.0f);
    ck_assert_float_eq(v[1], -2.0f);
    ck_assert_float_eq(v[2], ldexpf(1.0f, -24));
    ck_assert(isinf(v[3]) && v[3] < 0);
    const unsigned char bf[8] = {0x80, 0x3f, 0x00, 0x80, 0xc1, 0x7f, 0x01, 0x00};
    expect(ps, dir, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", bf, 8, NN_OK, NULL);
    ck_assert_float_eq(v[0], 1.0f);
    ck_assert(v[1] == 0 && signbit(v[1]));
    uint32_t nan_bits;
    memcpy(&nan_bits, &v[2], 4);
    ck_assert_uint_eq(nan_bits, 0x7fc10000u);
    ck_assert_float_eq(v[3], ldexpf(1.0f, -133));
    /* Half floats go into f32 parameters only. */
    nn_params *d = nn_params_new();
    ck_assert_ptr_nonnull(nn_params_create(d, "w", AG_F64, AG_SHAPE(2, 2), NULL));
    expect(d, dir, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", h, 8, NN_ERR_MISMATCH,
           "f16 (read as f32) in the file but f64 in the store");
    nn_params_free(d);
    nn_params_free(ps);
    tf_rmdir(dir);
}
END_TEST

START_TEST(bad_files_leave_the_model) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    nn_params *ps = one_w();
    float z[5] = {0};
    struct { const char *json; size_t dlen; nn_status want; const char *needle; } cases[] = {
        {"[1, 2]", 16, NN_ERR_FORMAT, "must start with '{'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}", 16, NN_ERR_FORMAT,
         "not valid JSON"},
        {"{\"w\": 1}", 16, NN_ERR_FORMAT, "its entry is an integer, not an object"},
        {"{\"w\": {\"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT, "no \"dtype\""},
        {"{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT, "no \"shape\""},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2]}}", 16, NN_ERR_FORMAT, "no \"data_offsets\""},
        {"{\"w\": {\"dtype\": 4, \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT,
         "\"dtype\" is an integer, not a string"},
        {"{\"w\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT,
         "dtype \"I64\" is not supported"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT,
         "\"shape\" is an integer, not an array"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT,
         "non-negative integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2.0], \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT,
         "not a real number"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,4], \"data_offsets\": [0, 16]}}", 16,
         NN_ERR_FORMAT, "7 dimensions (at most 6)"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0]}}", 16, NN_ERR_FORMAT,
         "two non-negative integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [16, 0]}}", 16, NN_ERR_FORMAT,
         "end before they begin"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 20]}}", 16, NN_ERR_FORMAT,
         "reach past the 16 data bytes"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", 12, NN_ERR_FORMAT,
         "span 12 bytes, but its shape [2, 2] of F32 needs 16"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 16]}}", 16,
         NN_ERR_FORMAT, "needs more bytes than the file has"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 20, NN_ERR_FORMAT,
         "the last 4 of the 20 data bytes belong to no tensor"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [4, 20]}}", 20, NN_ERR_FORMAT,
         "data bytes [0, 4) belong to no tensor"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, \"v\": {\"dtype\": \"F32\", "
         "\"shape\": [1], \"data_offsets\": [12, 16]}}", 16, NN_ERR_FORMAT, "overlap"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, \"w\": {\"dtype\": \"F32\", "
         "\"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16, NN_ERR_FORMAT, "a name appears twice"},
        {"{\"__metadata__\": [1], \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16,
         NN_ERR_FORMAT, "\"__metadata__\" is an array"},
        {"{\"__metadata__\": {\"n\": 1}, \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}",
         16, NN_ERR_FORMAT, "value \"n\" is an integer, not a string"},
        {"{\"__metadata__\": {\"layout\": \"pytorch\"}, \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], "
         "\"data_offsets\": [0, 16]}}", 16, NN_ERR_MISMATCH, "in PyTorch's layout"},
        {"{\"__metadata__\": {\"format\": \"pt\"}, \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], "
         "\"data_offsets\": [0, 16]}}", 16, NN_ERR_MISMATCH, "\"format\": \"pt\""},
        {"{\"__metadata__\": {\"layout\": \"jax\"}, \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], "
         "\"data_offsets\": [0, 16]}}", 16, NN_ERR_MISMATCH, "unknown layout \"jax\""},
        {"{\"w\": {\"dtype\": \"F64\", \"shape\": [2, 1], \"data_offsets\": [0, 16]}}", 16, NN_ERR_MISMATCH,
         "'w' is f64 in the file but f32 in the store"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16, NN_ERR_MISMATCH,
         "'w' has shape [4] in the file but [2, 2] in the store"},
        {"{\"v\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16, NN_ERR_MISMATCH,
         "missing from the file: 'w'; 1 name(s) in the file not in the store: 'v'"},
        {"{}", 0, NN_ERR_MISMATCH, "missing from the file: 'w'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}} \x01", 16, NN_ERR_FORMAT,
         "not valid JSON"},
        {"{\"w\xff\": 1}", 0, NN_ERR_FORMAT, "not valid JSON"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        expect(ps, dir, cases[c].json, z, cases[c].dlen, cases[c].want, cases[c].needle);

    /* The size prefix: short, larger than the file, over the limit. */
    unsigned char b[256];
    size_t n = st_bytes(b, "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", z, 16);
    for (size_t k = 0; k < n; k++) {
        ck_assert_int_ne(load_bytes(ps, dir, b, k, NULL), NN_OK);
        const char *e = nn_last_error();
        ck_assert_msg(strstr(e, "truncated") || strstr(e, "larger than") || strstr(e, "reach past") ||
                      strstr(e, "belong to no tensor") || strstr(e, "not valid JSON"), "cut at %zu: %s", k, e);
    }
    ck_assert_int_eq(load_bytes(ps, dir, b, n, NULL), NN_OK); /* the uncut file is good */
    b[0] = 0xff;
    ck_assert_int_eq(load_bytes(ps, dir, b, n, NULL), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "larger than the"));
    /* Every byte changed, one at a time: an error, or a load of what the file now says. */
    b[0] = (unsigned char)(n - 8 - 16);
    for (size_t k = 0; k < n; k++) {
        unsigned char keep = b[k];
        b[k] ^= 0x20;
        nn_status s = load_bytes(ps, dir, b, n, NULL);
        ck_assert(s == NN_OK || nn_last_error());
        b[k] = keep;
    }
    const char *p = tf_path(dir, "x.safetensors", 3);
    ck_assert_int_eq(nn_load_safetensors(ps, p, &(nn_safetensors_opts){.load.max_bytes = 10}), NN_ERR_MEMORY);
    ck_assert_int_eq(nn_load_safetensors(ps, tf_path(dir, "none", 0), NULL), NN_ERR_IO);
    ck_assert_int_eq(nn_load_safetensors(NULL, p, NULL), NN_ERR_NULL);
    nn_params_free(ps);
    tf_rmdir(dir);
}
END_TEST

static int skips[3];
static void on_skip(const char *name, nn_skip_reason why, void *ctx) {
    (void)ctx;
    skips[why]++;
    ck_assert(strcmp(name, why == NN_SKIP_EXTRA ? "v" : "u") == 0);
}

START_TEST(non_strict_skips) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    nn_params *ps = one_w();
    ck_assert_ptr_nonnull(nn_params_create(ps, "u", AG_F32, AG_SHAPE(1), NULL));
    float v[5] = {1, 2, 3, 4, 5};
    unsigned char b[512];
    size_t n = st_bytes(b, "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, \"v\": "
                        "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [16, 20]}}", v, 20);
    nn_safetensors_opts o = {.load = {.non_strict = true, .on_skip = on_skip}};
    ck_assert_int_eq(load_bytes(ps, dir, b, n, &o), NN_OK);
    ck_assert_int_eq(skips[NN_SKIP_EXTRA], 1);
    ck_assert_int_eq(skips[NN_SKIP_MISSING], 1);
    ck_assert_double_eq(ag_get(nn_params_get(ps, "w"), 3), 4);
    nn_params_free(ps);
    tf_rmdir(dir);
}
END_TEST

START_TEST(pytorch_layout_and_names) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "torch.safetensors", 0);
    /* An MLP 3 -> 4 -> 2: tapegrad's "mlp.0", "mlp.1" are torch.nn.Sequential's "0" and "2". */
    nn_params *ps = nn_params_new();
    ag_rng r;
    ag_rng_seed(&r, 5);
    nn_module *mlp = nn_mlp_new(ps, "mlp", 3, (int64_t[]){3, 4, 2}, NN_TANH, AG_F32, &r);
    ck_assert_ptr_nonnull(mlp);
    ck_assert_ptr_eq(nn_params_torch_layout(ps, "mlp.0.weight"), &nn_torch_transpose);
    ck_assert_ptr_null(nn_params_torch_layout(ps, "mlp.0.bias"));
    const nn_rename names[] = {{"mlp.0.", "0."}, {"mlp.1.", "2."}};
    nn_safetensors_opts o = {.layout = NN_LAYOUT_PYTORCH, .renames = names, .n_renames = 2};
    ck_assert_int_eq(nn_save_safetensors(ps, p, &o), NN_OK);
    size_t n;
    unsigned char *b = tf_read(p, &n);
    const char *h = (const char *)b + 8;
    ck_assert_ptr_nonnull(strstr(h, "\"format\":\"pt\",\"layout\":\"pytorch\""));
    ck_assert_ptr_nonnull(strstr(h, "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}"));
    ck_assert_ptr_nonnull(strstr(h, "\"2.weight\":{\"dtype\":\"F32\",\"shape\":[2,4]"));
    ck_assert_ptr_nonnull(strstr(h, "\"2.bias\":{\"dtype\":\"F32\",\"shape\":[2]"));
    /* The data of "0.weight" is W transposed: element (o, i) of torch's is (i, o) here. */
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)b[i] << (8 * i);
    const float *file = (const float *)(b + 8 + hlen);
    ag_tensor *w0 = nn_params_get(ps, "mlp.0.weight");
    for (int o2 = 0; o2 < 4; o2++)
        for (int i = 0; i < 3; i++) ck_assert_float_eq(file[o2 * 3 + i], (float)ag_get(w0, i * 4 + o2));
    free(b);

    /* Back into another MLP: the same values; in tapegrad's layout: refused. */
    nn_params *qs = nn_params_new();
    nn_module *mlp2 = nn_mlp_new(qs, "mlp", 3, (int64_t[]){3, 4, 2}, NN_TANH, AG_F32, &r);
    snapshot sp = snap(ps), sq = snap(qs);
    nn_safetensors_opts plain = {.renames = names, .n_renames = 2};
    ck_assert_int_eq(nn_load_safetensors(qs, p, &plain), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "NN_LAYOUT_PYTORCH"));
    ck_assert(untouched(qs, &sq));
    ck_assert_int_eq(nn_load_safetensors(qs, p, &(nn_safetensors_opts){.layout = NN_LAYOUT_PYTORCH}),
                     NN_ERR_MISMATCH); /* without the renames the names differ */
    ck_assert(untouched(qs, &sq));
    ck_assert_int_eq(nn_load_safetensors(qs, p, &o), NN_OK);
    ck_assert(same_as(qs, &sp));
    snap_free(&sp);
    snap_free(&sq);

    /* A file whose weight is (in, out), claiming PyTorch's layout: the shape error says which. */
    nn_safetensors_opts o_t = {.layout = NN_LAYOUT_TAPEGRAD, .renames = names, .n_renames = 2};
    ck_assert_int_eq(nn_save_safetensors(ps, p, &o_t), NN_OK);
    b = tf_read(p, &n);
    char *meta = strstr((char *)b + 8, "\"format\":\"tapegrad\",\"layout\":\"tapegrad\"");
    ck_assert_ptr_nonnull(meta);
    memcpy(meta, "\"format\":\"tapegrad\",\"layout\":\"pytorch\" ", 39);
    tf_write(p, b, n);
    free(b);
    ck_assert_int_eq(nn_load_safetensors(qs, p, &o), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'mlp.0.weight' (the file's '0.weight') has shape [3, 4] in the "
                                 "file, but the store's [3, 4] is [4, 3] in PyTorch's layout"));

    /* Bad rename lists and names. */
    const nn_rename clash[] = {{"mlp.", "a."}, {"mlp.0.", "b."}};
    ck_assert_int_eq(nn_save_safetensors(ps, p, &(nn_safetensors_opts){.renames = clash, .n_renames = 2}),
                     NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "'mlp.' is a prefix of 'mlp.0.'"));
    const nn_rename clash2[] = {{"mlp.0.", "x."}, {"mlp.1.", "x.y."}};
    ck_assert_int_eq(nn_load_safetensors(qs, p, &(nn_safetensors_opts){.renames = clash2, .n_renames = 2}),
                     NN_ERR_ARG);
    const nn_rename merge[] = {{"mlp.0.", "mlp.1."}};
    ck_assert_int_eq(nn_save_safetensors(ps, p, &(nn_safetensors_opts){.renames = merge, .n_renames = 1}),
                     NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "two parameters would both be written as 'mlp.1.weight'"));
    ck_assert_int_eq(nn_save_safetensors(ps, p, &(nn_safetensors_opts){.renames = NULL, .n_renames = 1}),
                     NN_ERR_NULL);
    nn_params *odd = nn_params_new();
    ck_assert_ptr_nonnull(nn_params_create(odd, "__metadata__", AG_F32, 0, NULL, NULL));
    ck_assert_int_eq(nn_save_safetensors(odd, p, NULL), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "reserved"));
    nn_params_free(odd);
    odd = nn_params_new();
    ck_assert_ptr_nonnull(nn_params_create(odd, "caf\xe9", AG_F32, 0, NULL, NULL));
    ck_assert_int_eq(nn_save_safetensors(odd, p, NULL), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "not valid UTF-8"));
    nn_params_free(odd);

    /* A file name that renames onto a name another tensor has. */
    const nn_rename one[] = {{"mlp.0.", "0."}};
    unsigned char fb[512];
    float z[8] = {0};
    n = st_bytes(fb, "{\"0.b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"mlp.0.b\": "
                 "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", z, 8);
    ck_assert_int_eq(load_bytes(qs, dir, fb, n, &(nn_safetensors_opts){.renames = one, .n_renames = 1}),
                     NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "two tensors load into the same name: 'mlp.0.b' (the file's "
                                 "'0.b') and 'mlp.0.b'"));
    nn_module_free(mlp);
    nn_module_free(mlp2);
    nn_params_free(ps);
    nn_params_free(qs);
    tf_rmdir(dir);
}
END_TEST

/* A layout as a convolution or recurrent layer would declare one: a 3-d
 * (a, b, c) here is (c, a, b) in PyTorch. */
static bool rot_shape(int ndim, const int64_t *s, int *tn, int64_t *ts) {
    if (ndim != 3) return false;
    *tn = 3;
    ts[0] = s[2], ts[1] = s[0], ts[2] = s[1];
    return true;
}
static int64_t rot_index(int ndim, const int64_t *s, int64_t i) {
    (void)ndim;
    int64_t k = i / (s[0] * s[1]), a = i / s[1] % s[0], b = i % s[1]; /* PyTorch's (k, a, b) */
    return (a * s[1] + b) * s[2] + k;
}
static const nn_torch_layout rotate = {"rotated: (a, b, c) here, (c, a, b) in PyTorch", rot_shape, rot_index};

static int64_t bad_index(int ndim, const int64_t *s, int64_t i) {
    (void)ndim, (void)s;
    return i + 1;
}
static const nn_torch_layout broken = {"broken", rot_shape, bad_index};

/* That a layout's index_here is a permutation over a shape. */
static void assert_permutation(const nn_torch_layout *L, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    bool *hit = calloc((size_t)n + 1, 1);
    for (int64_t i = 0; i < n; i++) {
        int64_t j = L->index_here(ndim, shape, i);
        ck_assert(j >= 0 && j < n && !hit[j]);
        hit[j] = true;
    }
    free(hit);
}

START_TEST(layouts_a_layer_declares) {
    assert_permutation(&nn_torch_transpose, AG_SHAPE(3, 5));
    assert_permutation(&nn_torch_transpose, AG_SHAPE(1, 7));
    assert_permutation(&rotate, AG_SHAPE(2, 3, 4));
    nn_params *ps = nn_params_new();
    ag_tensor *k = nn_params_create(ps, "conv.k", AG_F64, AG_SHAPE(2, 3, 4), NULL);
    ck_assert_ptr_nonnull(nn_params_create(ps, "v", AG_F64, AG_SHAPE(3), NULL));
    fill(k, 3);
    ck_assert_int_eq(nn_params_set_torch_layout(ps, "conv.k", &nn_torch_transpose), NN_ERR_ARG); /* not 2-d */
    ck_assert_int_eq(nn_params_set_torch_layout(ps, "nope", &rotate), NN_ERR_ARG);
    ck_assert_int_eq(nn_params_set_torch_layout(ps, "conv.k", &rotate), NN_OK);
    ck_assert_ptr_eq(nn_params_torch_layout(ps, "conv.k"), &rotate);
    if (nn_safetensors_available()) {
        char *dir = tf_mkdtemp();
        const char *p = tf_path(dir, "k.safetensors", 0);
        nn_safetensors_opts o = {.layout = NN_LAYOUT_PYTORCH};
        ck_assert_int_eq(nn_save_safetensors(ps, p, &o), NN_OK);
        size_t n;
        unsigned char *b = tf_read(p, &n);
        ck_assert_ptr_nonnull(strstr((char *)b + 8, "\"conv.k\":{\"dtype\":\"F64\",\"shape\":[4,2,3]"));
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)b[i] << (8 * i);
        double file[24];
        memcpy(file, b + 8 + hlen, sizeof file);
        for (int c = 0; c < 4; c++)          /* torch[c][a][b] == here[a][b][c] */
            for (int a = 0; a < 2; a++)
                for (int bb = 0; bb < 3; bb++) {
                    double want = ((const double *)ag_data(k))[(a * 3 + bb) * 4 + c];
                    ck_assert(memcmp(&file[(c * 2 + a) * 3 + bb], &want, 8) == 0);
                }
        free(b);
        snapshot s = snap(ps);
        fill(k, 4);
        ck_assert_int_eq(nn_load_safetensors(ps, p, &o), NN_OK);
        ck_assert(same_as(ps, &s));
        snap_free(&s);
        /* A broken layout is caught before anything is read or written. */
        ck_assert_int_eq(nn_params_set_torch_layout(ps, "conv.k", &broken), NN_OK);
        ck_assert_int_eq(nn_save_safetensors(ps, tf_path(dir, "b.safetensors", 1), &o), NN_ERR_ARG);
        ck_assert_ptr_nonnull(strstr(nn_last_error(), "maps element 23 to 24"));
        s = snap(ps);
        ck_assert_int_eq(nn_load_safetensors(ps, p, &o), NN_ERR_ARG);
        ck_assert(untouched(ps, &s));
        snap_free(&s);
        ck_assert_int_eq(tf_count_entries(dir), 1);
        tf_rmdir(dir);
    }
    ck_assert_int_eq(nn_params_set_torch_layout(ps, "conv.k", NULL), NN_OK);
    ck_assert_ptr_null(nn_params_torch_layout(ps, "conv.k"));
    nn_params_free(ps);
}
END_TEST

typedef struct save_args {
    nn_params *ps;
    const char *path;
} save_args;

static nn_status save_other(void *ctx) {
    save_args *a = ctx;
    return nn_save_safetensors(a->ps, a->path, NULL);
}

START_TEST(failed_save_keeps_old_file) {
    if (!nn_safetensors_available()) return;
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "m.safetensors", 0);
    nn_params *a = model(1, NULL), *b = model(2, NULL);
    ck_assert_int_eq(nn_save_safetensors(a, p, NULL), NN_OK);
    tf_assert_failed_writes_keep(dir, p, 7, save_other, &(save_args){b, p});
    nn_params_free(a);
    nn_params_free(b);
    tf_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_safetensors");
    TCase *c = tcase_create("safetensors");
    tcase_set_timeout(c, 240);
    tcase_add_test(c, without_jansson);
    tcase_add_test(c, round_trip_bit_exact);
    tcase_add_test(c, bytes_as_the_format_says);
    tcase_add_test(c, half_floats_read_as_f32);
    tcase_add_test(c, bad_files_leave_the_model);
    tcase_add_test(c, non_strict_skips);
    tcase_add_test(c, pytorch_layout_and_names);
    tcase_add_test(c, layouts_a_layer_declares);
    tcase_add_test(c, failed_save_keeps_old_file);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
