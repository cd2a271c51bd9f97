/* .npy files: round trips, the header NumPy writes, files as NumPy's other
 * versions, byte orders, half floats and Fortran order make them, and every
 * kind of bad file. (tests/test_interop.py checks against NumPy itself.) */
#include "testutil.h"

#include <tapegrad/nn_io.h>
#include <nn_testing.h>

#include "nn_testfiles.h"

/* A .npy file: magic, version major.0, the dict padded to 64 bytes, data. */
static size_t npy_bytes(unsigned char *out, int major, const char *dict, const void *data, size_t dlen) {
    size_t lenb = major == 1 ? 2 : 4, pre = 8 + lenb, n = strlen(dict);
    size_t hlen = (pre + n + 1 + 63) / 64 * 64 - pre;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    for (size_t i = 0; i < lenb; i++) out[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(out + pre, dict, n);
    memset(out + pre + n, ' ', hlen - n - 1);
    out[pre + hlen - 1] = '\n';
    memcpy(out + pre + hlen, data, dlen);
    return pre + hlen + dlen;
}

/* nn_npy_read of those bytes, through a file. */
static nn_array *read_bytes(const char *dir, const unsigned char *b, size_t n) {
    const char *p = tf_path(dir, "x.npy", 3);
    tf_write(p, b, n);
    return nn_npy_read(p, 0);
}

static void expect_error(const char *dir, const unsigned char *b, size_t n, const char *needle) {
    nn_array *a = read_bytes(dir, b, n);
    ck_assert_ptr_null(a);
    ck_assert_msg(strstr(nn_last_error(), needle), "error '%s' lacks '%s'", nn_last_error(), needle);
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

START_TEST(round_trip_and_header) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "a.npy", 0);
    float f[6] = {1.5f, -0.0f, INFINITY, NAN, 1e-40f, -3.25f};
    ck_assert_int_eq(nn_npy_write(p, AG_F32, AG_SHAPE(2, 3), f), NN_OK);
    size_t n;
    unsigned char *b = tf_read(p, &n);
    /* The header NumPy 1.24 writes for np.zeros((2, 3), np.float32): the
     * dict, 20 spaces of room for the first axis, padding, '\n'. */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    ck_assert_uint_eq(n, 128 + 24);
    ck_assert_int_eq(memcmp(b, "\x93NUMPY\x01\x00\x76\x00", 10), 0);
    ck_assert_int_eq(memcmp(b + 10, dict, strlen(dict)), 0);
    for (size_t i = 10 + strlen(dict); i < 127; i++) ck_assert_int_eq(b[i], ' ');
    ck_assert_int_eq(b[127], '\n');
    free(b);
    nn_array *a = nn_npy_read(p, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->dtype, AG_F32);
    ck_assert_int_eq(a->ndim, 2);
    ck_assert_int_eq(a->shape[0], 2);
    ck_assert_int_eq(a->shape[1], 3);
    ck_assert_int_eq(a->numel, 6);
    ck_assert_int_eq(memcmp(a->data, f, sizeof f), 0);
    nn_array_free(a);

    /* f64, 0-d, 1-d, empty and 6-d. */
    double d[8] = {5e-320, -1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0};
    struct { int ndim; int64_t shape[6]; const char *sh; } cases[] = {
        {0, {0}, "()"}, {1, {8}, "(8,)"}, {2, {0, 3}, "(0, 3)"}, {6, {1, 2, 1, 2, 1, 2}, "(1, 2, 1, 2, 1, 2)"}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ck_assert_int_eq(nn_npy_write(p, AG_F64, cases[c].ndim, cases[c].shape, d), NN_OK);
        b = tf_read(p, &n);
        ck_assert_uint_eq((n - (size_t)numel_of(cases[c].ndim, cases[c].shape) * 8) % 64, 0);
        ck_assert_ptr_nonnull(strstr((char *)b + 10, cases[c].sh));
        free(b);
        a = nn_npy_read(p, 0);
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(a->dtype, AG_F64);
        ck_assert_int_eq(a->ndim, cases[c].ndim);
        int64_t numel = 1;
        for (int i = 0; i < cases[c].ndim; i++) {
            ck_assert_int_eq(a->shape[i], cases[c].shape[i]);
            numel *= cases[c].shape[i];
        }
        ck_assert_int_eq(a->numel, numel);
        if (numel) ck_assert_int_eq(memcmp(a->data, d, (size_t)numel * 8), 0);
        nn_array_free(a);
    }
    ck_assert_int_eq(tf_count_entries(dir), 1); /* no temporary file left */
    tf_rmdir(dir);
}
END_TEST

START_TEST(tensor_save_and_load) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "w.npy", 0);
    ag_tape *t = ag_tape_new(0);
    ag_tensor *x = ag_arange(t, AG_F64, 0, 6, 1);
    ck_assert_int_eq(nn_npy_save(p, ag_reshape(t, x, AG_SHAPE(2, 3))), NN_OK);
    ag_tensor *w = ag_param_new(AG_F64, AG_SHAPE(2, 3), NULL);
    uint32_t v = ag_param_version(w);
    ck_assert_int_eq(nn_npy_load(w, p, 0), NN_OK);
    ck_assert_uint_gt(ag_param_version(w), v);
    for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_get(w, i), i);

    /* Mismatches leave the parameter alone. */
    ag_tensor *wrong_shape = ag_param_new(AG_F64, AG_SHAPE(3, 2), NULL);
    ag_tensor *wrong_dtype = ag_param_new(AG_F32, AG_SHAPE(2, 3), NULL);
    v = ag_param_version(wrong_shape);
    ck_assert_int_eq(nn_npy_load(wrong_shape, p, 0), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "shape [2, 3]"));
    ck_assert_uint_eq(ag_param_version(wrong_shape), v);
    ck_assert_int_eq(nn_npy_load(wrong_dtype, p, 0), NN_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "f64"));
    ck_assert_int_eq(nn_npy_load(x, p, 0), NN_ERR_ARG); /* a tape tensor is not a parameter */
    ck_assert_int_eq(nn_npy_load(NULL, p, 0), NN_ERR_NULL);
    ck_assert_int_eq(nn_npy_save(p, NULL), NN_ERR_NULL);
    ck_assert_int_eq(nn_npy_write(p, AG_F64, AG_SHAPE(-1), NULL), NN_ERR_ARG);
    ck_assert_int_eq(nn_npy_write(p, AG_F64, AG_SHAPE(1, 1, 1, 1, 1, 1, 1), NULL), NN_ERR_ARG);
    ck_assert_int_eq(nn_npy_write(p, (ag_dtype)9, 0, NULL, NULL), NN_ERR_ARG);

    /* A corrupt file also leaves it alone. */
    tf_write(p, "\x93NUMPY\x01\x00", 8);
    v = ag_param_version(w);
    ck_assert_int_eq(nn_npy_load(w, p, 0), NN_ERR_FORMAT);
    ck_assert_uint_eq(ag_param_version(w), v);
    ck_assert_double_eq(ag_get(w, 5), 5);
    ag_param_free(w);
    ag_param_free(wrong_shape);
    ag_param_free(wrong_dtype);
    ag_tape_free(t);
    tf_rmdir(dir);
}
END_TEST

START_TEST(other_writers_files) {
    char *dir = tf_mkdtemp();
    unsigned char b[512];
    /* Version 2.0 and 3.0 headers, keys in another order, spaces, Python 2 longs. */
    double d[6] = {0, 1, 2, 3, 4, 5};
    size_t n = npy_bytes(b, 2, "{'shape': (2L, 3L), 'fortran_order': False, 'descr': '<f8'}", d, sizeof d);
    nn_array *a = read_bytes(dir, b, n);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->shape[1], 3);
    ck_assert_int_eq(memcmp(a->data, d, sizeof d), 0);
    nn_array_free(a);
    n = npy_bytes(b, 3, "{ \"descr\" : \"<f8\" , \"fortran_order\" : False , \"shape\" : ( 6 , ) , }", d, sizeof d);
    a = read_bytes(dir, b, n);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->ndim, 1);
    nn_array_free(a);

    /* Fortran order: the file holds columns; the array comes out row-major. */
    n = npy_bytes(b, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", d, sizeof d);
    a = read_bytes(dir, b, n);
    ck_assert_ptr_nonnull(a);
    const double *v = a->data;
    double want[6] = {0, 2, 4, 1, 3, 5}; /* column-major [[0 2 4] [1 3 5]] */
    for (int i = 0; i < 6; i++) ck_assert_double_eq(v[i], want[i]);
    nn_array_free(a);

    /* Big-endian doubles and floats. */
    unsigned char be[16] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0, 0x04, 0, 0, 0, 0, 0, 0}; /* 1.5, -2.5 */
    n = npy_bytes(b, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be, 16);
    a = read_bytes(dir, b, n);
    ck_assert_ptr_nonnull(a);
    ck_assert_double_eq(((double *)a->data)[0], 1.5);
    ck_assert_double_eq(((double *)a->data)[1], -2.5);
    nn_array_free(a);
    unsigned char bef[4] = {0x40, 0x49, 0x0f, 0xdb}; /* pi as a float */
    n = npy_bytes(b, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (), }", bef, 4);
    a = read_bytes(dir, b, n);
    ck_assert_ptr_nonnull(a);
    ck_assert_float_eq(((float *)a->data)[0], 3.14159274f);
    nn_array_free(a);
    tf_rmdir(dir);
}
END_TEST

/* binary16 by its definition: (-1)^s · 2^(e-15) · (1 + m/1024), or
 * 2^-14 · m/1024 for e = 0. */
static float half_by_formula(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (float)(s ? -v : v);
}

START_TEST(every_half_float) {
    /* All 65536 binary16 values, little- and big-endian, through a file. */
    char *dir = tf_mkdtemp();
    size_t n = 0;
    unsigned char *le = malloc(65536 * 2 + 128), *bes = malloc(65536 * 2 + 128), *data = malloc(65536 * 2);
    for (int big = 0; big < 2; big++) {
        for (uint32_t h = 0; h < 65536; h++) {
            data[2 * h + (big ? 1 : 0)] = (unsigned char)h;
            data[2 * h + (big ? 0 : 1)] = (unsigned char)(h >> 8);
        }
        n = npy_bytes(big ? bes : le, 1, big ? "{'descr': '>f2', 'fortran_order': False, 'shape': (65536,), }"
                                             : "{'descr': '<f2', 'fortran_order': False, 'shape': (65536,), }",
                      data, 65536 * 2);
        nn_array *a = read_bytes(dir, big ? bes : le, n);
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(a->dtype, AG_F32);
        const float *f = a->data;
        int subnormals = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float want = half_by_formula((uint16_t)h);
            uint32_t got_bits;
            memcpy(&got_bits, &f[h], 4);
            if (isnan(want)) {
                ck_assert(isnan(f[h]));
                ck_assert_uint_eq(got_bits & 0x1fffu, 0);                  /* the payload shifted up */
                ck_assert_uint_eq((got_bits >> 13) & 0x3ffu, h & 0x3ffu);
                ck_assert_uint_eq(got_bits >> 31, h >> 15);
            } else {
                ck_assert_msg(memcmp(&want, &f[h], 4) == 0, "half 0x%04x: %a, want %a", h, f[h], want);
                subnormals += ((h >> 10) & 31) == 0 && (h & 1023) != 0;
            }
        }
        ck_assert_int_eq(subnormals, 2 * 1023);
#ifdef __FLT16_MAX__
        for (uint32_t h = 0; h < 65536; h++) {
            _Float16 x;
            uint16_t u = (uint16_t)h;
            memcpy(&x, &u, 2);
            if (!isnan((float)x)) ck_assert_float_eq(f[h], (float)x);
        }
#endif
        nn_array_free(a);
    }
    free(le);
    free(bes);
    free(data);
    tf_rmdir(dir);
}
END_TEST

START_TEST(bad_files) {
    char *dir = tf_mkdtemp();
    unsigned char b[512];
    double d[6] = {0};
    const char *good = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    size_t n = npy_bytes(b, 1, good, d, sizeof d);
    /* Every cut of a good file fails. */
    for (size_t k = 0; k < n; k++) {
        nn_array *a = read_bytes(dir, b, k);
        ck_assert_msg(!a, "a file cut at %zu bytes loaded", k);
        ck_assert(strstr(nn_last_error(), k < 6 ? "magic" : "truncated"));
    }
    b[n] = 0;
    expect_error(dir, b, n + 1, "1 extra bytes");
    b[0] = 'X';
    expect_error(dir, b, n, "bad magic");
    npy_bytes(b, 1, good, d, sizeof d);
    b[6] = 4;
    expect_error(dir, b, n, "version 4.0");
    ck_assert_ptr_null(read_bytes(dir, b, n));
    struct { const char *dict, *needle; } cases[] = {
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", "dtype '<i8' is not supported"},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }", "dtype '|b1'"},
        {"{'descr': '<c16', 'fortran_order': False, 'shape': (2, 3), }", "dtype '<c16'"},
        {"{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (2, 3), }", "structured dtypes"},
        {"{'descr': '<f8', 'shape': (2, 3), }", "'fortran_order' is missing"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unknown key 'extra'"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", "'descr' appears twice"},
        {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3), }", "True or False"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3], }", "must be a tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6), }", "written (n,)"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-6,), }", "non-negative integers"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2 3), }", "expected ',' or ')'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,6), }", "more than 6 dimensions"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", "too large"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } x", "unexpected text"},
        {"{'descr': 'f8\\x', 'fortran_order': False, 'shape': (2, 3), }", "escapes"},
        {"{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3), }", "expected ':'"},
        {"('descr', '<f8')", "expected '{'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 4), }", "truncated data"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3), }", "24 extra bytes"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "truncated data"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        n = npy_bytes(b, 1, cases[c].dict, d, sizeof d);
        expect_error(dir, b, n, cases[c].needle);
    }
    /* The header length pointing past the end. */
    n = npy_bytes(b, 1, good, d, sizeof d);
    b[8] = 0xff;
    b[9] = 0xff;
    expect_error(dir, b, n, "the header promises 65535 bytes");
    /* The size cap. */
    n = npy_bytes(b, 1, good, d, sizeof d);
    const char *p = tf_path(dir, "x.npy", 3);
    tf_write(p, b, n);
    ck_assert_ptr_null(nn_npy_read(p, 100));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "over the limit"));
    ck_assert_ptr_null(nn_npy_read(tf_path(dir, "missing.npy", 0), 0));
    ck_assert_ptr_nonnull(strstr(nn_last_error(), "cannot open"));
    ck_assert_ptr_null(nn_npy_read(NULL, 0));
    tf_rmdir(dir);
}
END_TEST

static nn_status write_other(void *path) {
    double e[4] = {5, 6, 7, 8};
    return nn_npy_write(path, AG_F64, AG_SHAPE(4), e);
}

START_TEST(failed_write_keeps_old_file) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "a.npy", 0);
    double d[4] = {1, 2, 3, 4};
    ck_assert_int_eq(nn_npy_write(p, AG_F64, AG_SHAPE(4), d), NN_OK);
    tf_assert_failed_writes_keep(dir, p, 13, write_other, (void *)p);
    tf_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_npy");
    TCase *c = tcase_create("npy");
    tcase_add_test(c, round_trip_and_header);
    tcase_add_test(c, tensor_save_and_load);
    tcase_add_test(c, other_writers_files);
    tcase_add_test(c, every_half_float);
    tcase_add_test(c, bad_files);
    tcase_add_test(c, failed_write_keeps_old_file);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tu_run(suite()); }
