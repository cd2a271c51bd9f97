/* mnist: an MLP 784-128-10 (relu) trained on MNIST digits read from IDX
 * files, with cross-entropy from logits and Adam (lr 1e-3), batch 64,
 * printing each epoch's training loss, held-out accuracy and time.
 *
 *   mnist [--data DIR] [--epochs N] [--dtype f32|f64] [--min-accuracy P] [--seed S] [--ddp]
 *
 * With --ddp it trains data-parallel on the ranks mpirun starts
 * (nn_ddp.h): `mpirun -np 2 mnist --ddp` splits every batch of 64 into 32
 * per rank, averages the gradients after each backward, and reaches the
 * accuracy of one process (the same steps, to rounding); rank 0 prints.
 * Each rank reads the files; the held-out set is split for evaluation and
 * the counts summed.
 *
 * DIR (default data/mnist, which `./dev mnist` fills) holds
 * train-images.idx, train-labels.idx, test-images.idx and test-labels.idx,
 * images u8 (n, 28, 28) or any (n, ...) whose other dimensions multiply to
 * 784, labels (n) in 0..9. Defaults: 10 epochs, f32, seed 1, and exit
 * status 1 when the final held-out accuracy is below --min-accuracy (0.94;
 * pass 0 to only report). Exit status 2 on an error (a missing or malformed
 * file says which and why). */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>
#include <tapegrad/nn_ddp.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PIXELS 784
#define HIDDEN 128
#define CLASSES 10
#define BATCH 64
#define LR 1e-3
#define EVAL_CHUNK 1000 /* held-out images per no-grad forward */

typedef struct options {
    const char *data;
    int epochs;
    ag_dtype dtype;
    double min_accuracy;
    uint64_t seed;
    bool ddp;
} options;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* DIR/<part>-images.idx and DIR/<part>-labels.idx as a dataset of pixels
 * scaled to [0, 1]; NULL with a message on stderr. */
static nn_dataset *load(const char *dir, const char *part) {
    char ipath[4096], lpath[4096];
    snprintf(ipath, sizeof ipath, "%s/%s-images.idx", dir, part);
    snprintf(lpath, sizeof lpath, "%s/%s-labels.idx", dir, part);
    nn_idx *images = nn_idx_read(ipath, 0), *labels = images ? nn_idx_read(lpath, 0) : NULL;
    nn_dataset *ds = labels ? nn_dataset_from_idx(images, labels, 1 / 255.0, CLASSES) : NULL;
    if (ds && nn_dataset_features(ds) != PIXELS) {
        fprintf(stderr, "mnist: %s: images have %lld pixels, not %d\n", ipath,
                (long long)nn_dataset_features(ds), PIXELS);
        nn_dataset_free(ds);
        ds = NULL;
    } else if (!ds) {
        fprintf(stderr, "mnist: %s\n", nn_last_error());
        if (access(ipath, F_OK) != 0 || access(lpath, F_OK) != 0)
            fprintf(stderr, "mnist: run `./dev mnist` to fetch the digits, or pass --data DIR\n");
    }
    nn_idx_free(images);
    nn_idx_free(labels);
    return ds;
}

/* Fraction of ds classified right: no-grad forwards of EVAL_CHUNK images,
 * argmax of the logits, each rank counting its share of the images and the
 * counts summed over the ranks. `idx` is scratch for nn_dataset_len(ds)
 * indices. */
static double accuracy(nn_module *mlp, ag_tape *t, const nn_dataset *ds, ag_dtype dt, int64_t *idx, nn_ddp *ddp) {
    int64_t n = nn_dataset_len(ds), right = 0;
    int64_t lo = n * nn_ddp_rank(ddp) / nn_ddp_size(ddp), hi = n * (nn_ddp_rank(ddp) + 1) / nn_ddp_size(ddp);
    const int64_t *labels = nn_dataset_labels(ds);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t s = lo; s < hi; s += EVAL_CHUNK) {
        int64_t m = hi - s < EVAL_CHUNK ? hi - s : EVAL_CHUNK;
        ag_tape_reset(t);
        ag_no_grad_begin(t);
        ag_tensor *z = nn_forward(mlp, t, nn_batch_x(t, ds, dt, m, idx + s)); // (m, 10)
        ag_no_grad_end(t);
        if (!z) return NAN;
        for (int64_t i = 0; i < m; i++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (ag_get(z, i * CLASSES + c) > ag_get(z, i * CLASSES + best)) best = c;
            right += best == labels[s + i];
        }
    }
    double counts[2] = {(double)right, (double)(hi - lo)};
    if (nn_ddp_sum(ddp, counts, 2) != NN_OK) return NAN;
    return counts[0] / counts[1];
}

static bool parse(int argc, char **argv, options *o) {
    for (int a = 1; a < argc; a += 2) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (strcmp(k, "--ddp") == 0) {
            o->ddp = true;
            a--; /* a flag: no value */
            continue;
        }
        if (!v) return false;
        if (strcmp(k, "--data") == 0) o->data = v;
        else if (strcmp(k, "--epochs") == 0) o->epochs = atoi(v);
        else if (strcmp(k, "--min-accuracy") == 0) o->min_accuracy = atof(v);
        else if (strcmp(k, "--seed") == 0) o->seed = strtoull(v, NULL, 10);
        else if (strcmp(k, "--dtype") == 0 && strcmp(v, "f32") == 0) o->dtype = AG_F32;
        else if (strcmp(k, "--dtype") == 0 && strcmp(v, "f64") == 0) o->dtype = AG_F64;
        else return false;
    }
    return o->epochs >= 1;
}

int main(int argc, char **argv) {
    options o = {"data/mnist", 10, AG_F32, 0.94, 1, false};
    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: mnist [--data DIR] [--epochs N] [--dtype f32|f64] "
                        "[--min-accuracy P] [--seed S] [--ddp]\n");
        return 2;
    }
    /* Batches of 64 through 784-128-10 are small products: OpenBLAS's thread
     * start-up costs more than a second core gives (1.16 s against 4.0 s
     * for this run on a loaded 2-core machine). */
    ag_set_blas_threads(1);
    double t_load = now();
    nn_dataset *train = load(o.data, "train"), *test = train ? load(o.data, "test") : NULL;
    if (!test) {
        nn_dataset_free(train);
        return 2;
    }
    t_load = now() - t_load;

    ag_rng rng;
    ag_rng_seed(&rng, o.seed);
    nn_params *ps = nn_params_new();
    nn_module *mlp = nn_mlp_new(ps, "mlp", 3, (const int64_t[]){PIXELS, HIDDEN, CLASSES}, NN_RELU,
                                o.dtype, &rng);
    nn_optim_opts oo = nn_adam_opts(LR);
    nn_optim *opt = mlp ? nn_optim_new(ps, &oo) : NULL;
    /* One process, or the ranks of mpirun: the same loop either way. The
     * ddp starts every rank from rank 0's initial values. */
    nn_ddp *ddp = !mlp ? NULL : o.ddp ? nn_ddp_init(&argc, &argv, ps, NULL) : nn_ddp_local(ps, NULL);
    int ranks = nn_ddp_size(ddp);
    bool root = nn_ddp_rank(ddp) == 0;
    if (ddp && BATCH % ranks != 0) nn_ddp_abort(ddp, 2, "the batch of 64 does not split evenly over the ranks");
    nn_batcher *batches = ddp ? nn_ddp_batcher_new(ddp, train, BATCH / ranks, true, o.seed, false) : NULL;
    ag_tape *t = ag_tape_new(0);
    int64_t *idx = malloc((size_t)nn_dataset_len(test) * sizeof *idx);
    if (!opt || !ddp || !batches || !t || !idx) {
        fprintf(stderr, "mnist: setup failed: %s\n", nn_last_error() ? nn_last_error() : "out of memory");
        if (ddp) nn_ddp_abort(ddp, 2, "setup failed");
        return 2;
    }
    if (root)
        printf("mnist: %lld training and %lld held-out images from %s (read in %.2f s); "
               "MLP %d-%d-%d (relu), %lld parameters, %s; Adam lr %g, batch %d (%d rank%s x %d), %d epochs\n",
               (long long)nn_dataset_len(train), (long long)nn_dataset_len(test), o.data, t_load, PIXELS,
               HIDDEN, CLASSES, (long long)nn_params_numel(ps), ag_dtype_name(o.dtype), LR, BATCH,
               ranks, ranks == 1 ? "" : "s", BATCH / ranks, o.epochs);

    double acc = 0, t_train = 0, t_eval = 0;
    for (int e = 1; e <= o.epochs; e++) {
        double t0 = now(), sum = 0;
        int64_t m, seen = 0, y[BATCH];
        const int64_t *bidx;
        while ((m = nn_batcher_next(batches, &bidx)) > 0) {
            ag_tape_reset(t);
            nn_optim_zero_grad(opt);
            ag_tensor *x = nn_batch_x(t, train, o.dtype, m, bidx); // (m, 784)
            nn_dataset_gather(train, m, bidx, NULL, NULL, y);       // (m)
            ag_tensor *loss = nn_sparse_cross_entropy(t, nn_forward(mlp, t, x), m, y, NN_MEAN);
            if (ag_backward(t, loss) != AG_OK) nn_ddp_abort(ddp, 2, ag_tape_error(t)); /* ends every rank */
            if (nn_ddp_allreduce_grads(ddp) != NN_OK) nn_ddp_abort(ddp, 2, nn_last_error());
            nn_optim_step(opt);
            sum += ag_item(loss) * (double)m;
            seen += m;
        }
        double t1 = now(), loss_sum[2] = {sum, (double)seen};
        if (nn_ddp_sum(ddp, loss_sum, 2) != NN_OK) nn_ddp_abort(ddp, 2, nn_last_error());
        acc = accuracy(mlp, t, test, o.dtype, idx, ddp);
        double t2 = now();
        t_train += t1 - t0;
        t_eval += t2 - t1;
        if (root)
            printf("epoch %2d  loss %.4f  held-out accuracy %5.2f %%  %.3f s (train %.3f, eval %.3f)\n", e,
                   loss_sum[0] / loss_sum[1], 100 * acc, t2 - t0, t1 - t0, t2 - t1);
    }
    ag_tape_stats st = ag_tape_get_stats(t);
    nn_ddp_stats ds = nn_ddp_get_stats(ddp);
    bool ok = acc >= o.min_accuracy;
    if (root && ranks > 1)
        printf("all-reduce: %lld bytes per step in %d bucket(s), %.3f ms per step (%.1f %% of training)\n",
               (long long)ds.bytes_per_call, ds.buckets, 1e3 * ds.allreduce_seconds / (double)ds.calls,
               100 * ds.allreduce_seconds / t_train);
    if (root) printf("%s: held-out accuracy %.2f %% after %d epochs in %.2f s (training %.2f s, evaluation "
           "%.2f s; tape: %zu allocations, %.1f MB reserved)",
           ok ? "OK" : "FAIL", 100 * acc, o.epochs, t_train + t_eval, t_train, t_eval, st.allocations,
           (double)st.bytes_reserved / 1e6);
    if (root && o.min_accuracy > 0) printf("; target >= %.1f %%", 100 * o.min_accuracy);
    if (root) printf("\n");
    free(idx);
    ag_tape_free(t);
    nn_batcher_free(batches);
    nn_optim_free(opt);
    nn_module_free(mlp);
    nn_params_free(ps);
    nn_dataset_free(train);
    nn_dataset_free(test);
    nn_ddp_free(ddp); /* with --ddp: MPI_Finalize */
    return ok ? 0 : 1;
}
