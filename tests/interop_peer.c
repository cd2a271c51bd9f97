/* tapegrad's side of tests/test_interop.py: reads and writes .npy and
 * safetensors files as the script asks, printing values as their bits so
 * the script compares exactly, and trains or evaluates the MLP whose loss
 * PyTorch must reproduce.
 *
 *   interop_peer features                       "safetensors yes|no"
 *   interop_peer dump-npy FILE                  dtype, shape, then one value's bits per line
 *   interop_peer write-npy FILE f32|f64 DIMS    values pattern(i) (DIMS like 2x3, or - for 0-d)
 *   interop_peer dump-st FILE LAYOUT SPEC...    load into params of SPEC, print them like dump-npy
 *   interop_peer write-st FILE LAYOUT SPEC...   params of SPEC filled with pattern(i), saved
 *   interop_peer mlp-train DIR                  train, save DIR/mlp.safetensors, x.npy, y.npy; print loss
 *   interop_peer mlp-eval DIR                   load DIR/torch.safetensors, print loss on x.npy, y.npy
 *
 * SPEC is NAME:f32|f64:DIMS, with :T appended for a parameter held
 * transposed in PyTorch (a Linear weight). LAYOUT is tapegrad or pytorch.
 * Errors go to stderr with exit status 1 (the script checks some). */
#include <tapegrad/nn_io.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, nn_last_error() ? nn_last_error() : "?");
    return 1;
}

/* The values the script expects: -0, inf, nan, the smallest subnormal, then
 * exact binary fractions (the same in f32 after rounding on both sides). */
static double pattern(int64_t i, ag_dtype dt) {
    switch (i) {
    case 0: return -0.0;
    case 1: return INFINITY;
    case 2: return NAN;
    case 3: return dt == AG_F32 ? ldexp(1, -149) : ldexp(1, -1074);
    default: return (double)(i * 37 % 101 - 50) / 8.0 + ldexp((double)i, -20);
    }
}

static int parse_dims(const char *s, int64_t *shape) {
    if (strcmp(s, "-") == 0 || !*s) return 0;
    int n = 0;
    for (const char *p = s; *p && n < AG_MAX_DIMS; n++) {
        char *end;
        shape[n] = strtoll(p, &end, 10);
        p = *end == 'x' ? end + 1 : end;
        if (!*end) {
            n++;
            break;
        }
    }
    return n;
}

static void print_values(const char *name, ag_dtype dt, int ndim, const int64_t *shape, int64_t numel,
                         const void *data) {
    printf("%s %s", name, ag_dtype_name(dt));
    for (int d = 0; d < ndim; d++) printf(" %lld", (long long)shape[d]);
    printf("\n");
    for (int64_t i = 0; i < numel; i++) {
        if (dt == AG_F32) {
            uint32_t u;
            memcpy(&u, (const float *)data + i, 4);
            printf("%08x\n", (unsigned)u);
        } else {
            uint64_t u;
            memcpy(&u, (const double *)data + i, 8);
            printf("%016llx\n", (unsigned long long)u);
        }
    }
}

/* Parameters from SPEC arguments, zero or filled with pattern(i). */
static nn_params *make_store(int n, char **specs, bool fill) {
    nn_params *ps = nn_params_new();
    for (int k = 0; k < n; k++) {
        char name[300], dt[8], dims[64] = "", t[4] = "";
        if (sscanf(specs[k], "%299[^:]:%7[^:]:%63[^:]:%3s", name, dt, dims, t) < 2) {
            fprintf(stderr, "error: bad spec '%s'\n", specs[k]);
            exit(2);
        }
        int64_t shape[AG_MAX_DIMS];
        int ndim = parse_dims(dims, shape);
        ag_dtype dtype = strcmp(dt, "f32") == 0 ? AG_F32 : AG_F64;
        ag_tensor *p = nn_params_create(ps, name, dtype, ndim, shape, NULL);
        if (!p) exit(fail("params_create"));
        if (strcmp(t, "T") == 0 && nn_params_set_torch_layout(ps, name, &nn_torch_transpose) != NN_OK)
            exit(fail("set_torch_layout"));
        if (!fill) continue;
        void *d = ag_data_mut(p);
        for (int64_t i = 0; i < ag_numel(p); i++) {
            if (dtype == AG_F32) ((float *)d)[i] = (float)pattern(i, dtype);
            else ((double *)d)[i] = pattern(i, dtype);
        }
    }
    return ps;
}

/* ------------------------------------------------------------------- MLP */

enum { BATCH = 32, IN = 4, H1 = 16, H2 = 8, OUT = 3 };

/* The MLP 4 -> 16 -> 8 -> 3 with tanh, as torch.nn.Sequential(Linear, Tanh,
 * Linear, Tanh, Linear): tapegrad's "mlp.0", "mlp.1", "mlp.2" are its "0",
 * "2" and "4". */
static const nn_rename TORCH_NAMES[] = {{"mlp.0.", "0."}, {"mlp.1.", "2."}, {"mlp.2.", "4."}};

static nn_module *mlp(nn_params *ps, uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    return nn_mlp_new(ps, "mlp", 4, (int64_t[]){IN, H1, H2, OUT}, NN_TANH, AG_F32, &r);
}

static float loss_on(ag_tape *t, nn_module *m, const nn_array *x, const int64_t *labels) {
    ag_tensor *xt = ag_tensor_new(t, AG_F32, 2, x->shape, x->data);
    ag_tensor *loss = nn_sparse_cross_entropy(t, nn_forward(m, t, xt), BATCH, labels, NN_MEAN);
    return loss ? (float)ag_item(loss) : NAN;
}

static int mlp_train(const char *dir) {
    char path[1024];
    ag_rng r;
    ag_rng_seed(&r, 42);
    float x[BATCH * IN];
    double y[BATCH];
    int64_t labels[BATCH];
    for (int i = 0; i < BATCH; i++) {
        for (int j = 0; j < IN; j++) x[i * IN + j] = (float)(ag_rng_normal(&r));
        labels[i] = (x[i * IN] + x[i * IN + 1] > 0) + (x[i * IN + 2] > 0.5f);
        y[i] = (double)labels[i];
    }
    nn_params *ps = nn_params_new();
    nn_module *m = mlp(ps, 7);
    nn_optim_opts oo = nn_adam_opts(0.01);
    nn_optim *o = nn_optim_new(ps, &oo);
    ag_tape *t = ag_tape_new(0);
    nn_array xa = {.dtype = AG_F32, .ndim = 2, .shape = {BATCH, IN}, .numel = BATCH * IN, .data = x};
    for (int step = 0; step < 100; step++) {
        nn_optim_zero_grad(o);
        ag_tensor *xt = ag_tensor_new(t, AG_F32, 2, xa.shape, x);
        ag_tensor *loss = nn_sparse_cross_entropy(t, nn_forward(m, t, xt), BATCH, labels, NN_MEAN);
        if (!loss || ag_backward(t, loss) != AG_OK) return fail("train step");
        nn_optim_step(o);
        ag_tape_reset(t);
    }
    float loss = loss_on(t, m, &xa, labels);
    snprintf(path, sizeof path, "%s/mlp.safetensors", dir);
    nn_safetensors_opts so = {.layout = NN_LAYOUT_PYTORCH, .renames = TORCH_NAMES, .n_renames = 3};
    if (nn_save_safetensors(ps, path, &so) != NN_OK) return fail("save_safetensors");
    snprintf(path, sizeof path, "%s/x.npy", dir);
    if (nn_npy_write(path, AG_F32, 2, xa.shape, x) != NN_OK) return fail("npy_write x");
    snprintf(path, sizeof path, "%s/y.npy", dir);
    if (nn_npy_write(path, AG_F64, 1, (int64_t[]){BATCH}, y) != NN_OK) return fail("npy_write y");
    printf("%.9g\n", loss);
    ag_tape_free(t);
    nn_optim_free(o);
    nn_module_free(m);
    nn_params_free(ps);
    return 0;
}

static int mlp_eval(const char *dir) {
    char path[1024];
    nn_params *ps = nn_params_new();
    nn_module *m = mlp(ps, 1);
    snprintf(path, sizeof path, "%s/torch.safetensors", dir);
    nn_safetensors_opts so = {.layout = NN_LAYOUT_PYTORCH, .renames = TORCH_NAMES, .n_renames = 3};
    if (nn_load_safetensors(ps, path, &so) != NN_OK) return fail("load_safetensors");
    snprintf(path, sizeof path, "%s/x.npy", dir);
    nn_array *x = nn_npy_read(path, 0);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    nn_array *y = nn_npy_read(path, 0);
    if (!x || !y || x->dtype != AG_F32 || y->dtype != AG_F64 || x->ndim != 2 || x->shape[0] != BATCH ||
        x->shape[1] != IN || y->numel != BATCH)
        return fail("x.npy or y.npy");
    int64_t labels[BATCH];
    for (int i = 0; i < BATCH; i++) labels[i] = (int64_t)((double *)y->data)[i];
    ag_tape *t = ag_tape_new(0);
    printf("%.9g\n", loss_on(t, m, x, labels));
    ag_tape_free(t);
    nn_array_free(x);
    nn_array_free(y);
    nn_module_free(m);
    nn_params_free(ps);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *cmd = argv[1];
    if (strcmp(cmd, "features") == 0) {
        printf("safetensors %s\n", nn_safetensors_available() ? "yes" : "no");
        return 0;
    }
    if (argc < 3) return 2;
    const char *file = argv[2];
    if (strcmp(cmd, "dump-npy") == 0) {
        nn_array *a = nn_npy_read(file, 0);
        if (!a) return fail("npy_read");
        print_values("array", a->dtype, a->ndim, a->shape, a->numel, a->data);
        nn_array_free(a);
        return 0;
    }
    if (strcmp(cmd, "write-npy") == 0 && argc == 5) {
        ag_dtype dt = strcmp(argv[3], "f32") == 0 ? AG_F32 : AG_F64;
        int64_t shape[AG_MAX_DIMS], n = 1;
        int ndim = parse_dims(argv[4], shape);
        for (int d = 0; d < ndim; d++) n *= shape[d];
        double *v = malloc((size_t)(n + 1) * 8);
        for (int64_t i = 0; i < n; i++) {
            if (dt == AG_F32) ((float *)v)[i] = (float)pattern(i, dt);
            else v[i] = pattern(i, dt);
        }
        nn_status s = nn_npy_write(file, dt, ndim, shape, v);
        free(v);
        return s == NN_OK ? 0 : fail("npy_write");
    }
    if ((strcmp(cmd, "dump-st") == 0 || strcmp(cmd, "write-st") == 0) && argc >= 4) {
        bool write = cmd[0] == 'w';
        nn_safetensors_opts o = {.layout = strcmp(argv[3], "pytorch") == 0 ? NN_LAYOUT_PYTORCH : NN_LAYOUT_TAPEGRAD};
        nn_params *ps = make_store(argc - 4, argv + 4, write);
        int rc = 0;
        if (write) {
            if (nn_save_safetensors(ps, file, &o) != NN_OK) rc = fail("save_safetensors");
        } else if (nn_load_safetensors(ps, file, &o) != NN_OK) {
            rc = fail("load_safetensors");
        } else {
            for (size_t i = 0; i < nn_params_count(ps); i++) {
                ag_tensor *p = nn_params_at(ps, i);
                print_values(nn_params_name_at(ps, i), ag_dtype_of(p), ag_ndim(p), ag_shape(p), ag_numel(p),
                             ag_data(p));
            }
        }
        nn_params_free(ps); /* also on errors: the sanitizer build checks for leaks */
        return rc;
    }
    if (strcmp(cmd, "mlp-train") == 0) return mlp_train(file);
    if (strcmp(cmd, "mlp-eval") == 0) return mlp_eval(file);
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
}
