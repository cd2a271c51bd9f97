/* moons: two interleaving half-moons (like scikit-learn's make_moons) with
 * seeded Gaussian noise, and an MLP 2-16-16-2 (tanh) trained on them with
 * cross-entropy from logits and Adam. Prints a line per epoch and writes two
 * SVG pictures a browser shows:
 *
 *   DIR/moons_boundary.svg   the model's prediction over the plane, with the points
 *   DIR/moons_loss.svg       the training loss per step and per epoch
 *
 *   moons [--out DIR] [--epochs N] [--samples N] [--seed S]
 *
 * Defaults: --out . --epochs 30 --samples 1000 (training; half as many
 * held out) --seed 42. Deterministic for a seed. Exit status 0 when the
 * held-out accuracy reaches 97 %, 1 when it does not, 2 on an error. */
#include "svg.h"

#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOISE 0.15  /* standard deviation of the noise added to each coordinate */
#define HIDDEN 16
#define BATCH 32
#define LR 0.01
#define TARGET 0.97 /* held-out accuracy the run must reach */

typedef struct options {
    const char *out;
    int epochs;
    int64_t samples;
    uint64_t seed;
} options;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n points, alternating between the upper moon (label 0: the half circle
 * (cos s, sin s), s in [0, π]) and the lower one (label 1: (1 - cos s,
 * 0.5 - sin s)), each coordinate plus N(0, NOISE²). */
static nn_dataset *make_moons(int64_t n, ag_rng *r) {
    double *x = malloc((size_t)n * 2 * sizeof *x); // (n, 2)
    int64_t *labels = malloc((size_t)n * sizeof *labels);
    nn_dataset *ds = NULL;
    if (x && labels) {
        for (int64_t i = 0; i < n; i++) {
            double s = M_PI * ag_rng_uniform(r);
            labels[i] = i % 2;
            x[2 * i] = labels[i] ? 1 - cos(s) : cos(s);
            x[2 * i + 1] = labels[i] ? 0.5 - sin(s) : sin(s);
            x[2 * i] += NOISE * ag_rng_normal(r);
            x[2 * i + 1] += NOISE * ag_rng_normal(r);
        }
        ds = nn_dataset_new_labels(n, 2, x, labels, 2);
    }
    free(x);
    free(labels);
    return ds;
}

/* The model's probability of class 1 at each of n points xy (n, 2), one
 * forward pass in no-grad mode. The tape is reset first. */
static bool predict(nn_module *mlp, ag_tape *t, int64_t n, const double *xy, double *p1) {
    ag_tape_reset(t);
    ag_no_grad_begin(t);
    ag_tensor *x = ag_from_doubles(t, AG_F64, 2, (const int64_t[]){n, 2}, xy); // (n, 2)
    ag_tensor *p = ag_softmax(t, nn_forward(mlp, t, x), -1);                    // (n, 2)
    ag_no_grad_end(t);
    if (!p) return false;
    for (int64_t i = 0; i < n; i++) p1[i] = ag_get(p, 2 * i + 1);
    return true;
}

static double accuracy(nn_module *mlp, ag_tape *t, const nn_dataset *ds, double *scratch) {
    int64_t n = nn_dataset_len(ds), right = 0;
    if (!predict(mlp, t, n, nn_dataset_x(ds), scratch)) return NAN;
    for (int64_t i = 0; i < n; i++) right += (scratch[i] > 0.5) == (nn_dataset_labels(ds)[i] == 1);
    return (double)right / (double)n;
}

static const svg_rgb PALE_BLUE = {198, 219, 239}, PALE_RED = {250, 205, 196},
                     WHITE = {255, 255, 255};
#define POINT_BLUE "#3168bd" /* class 0 */
#define POINT_RED "#d64541"  /* class 1 */

/* The plane coloured by the model's P(class 1) in 16 shades (runs of equal
 * shade merged into one rectangle), the points on top. */
static bool write_boundary(const char *path, nn_module *mlp, ag_tape *t, const nn_dataset *train,
                           double test_accuracy) {
    enum { GX = 150, GY = 100, SHADES = 16 };
    svg_plot p = {60, 40, 600, 400, -1.6, 2.6, -1.1, 1.7};
    double *grid = malloc(GX * GY * 2 * sizeof *grid), *prob = malloc(GX * GY * sizeof *prob);
    bool ok = grid && prob;
    for (int j = 0; ok && j < GY; j++)
        for (int i = 0; i < GX; i++) { /* cell centres, row j from the top */
            grid[2 * (j * GX + i)] = p.xmin + (i + 0.5) * (p.xmax - p.xmin) / GX;
            grid[2 * (j * GX + i) + 1] = p.ymax - (j + 0.5) * (p.ymax - p.ymin) / GY;
        }
    ok = ok && predict(mlp, t, GX * GY, grid, prob);
    svg s;
    ok = ok && svg_open(&s, path, 700, 500);
    if (!ok) {
        free(grid);
        free(prob);
        return false;
    }
    char col[8], title[96];
    double cw = p.width / GX, ch = p.height / GY;
    for (int j = 0; j < GY; j++) {
        for (int i = 0; i < GX;) {
            int shade = (int)fmin(SHADES - 1, floor(prob[j * GX + i] * SHADES)), i0 = i;
            while (i < GX && (int)fmin(SHADES - 1, floor(prob[j * GX + i] * SHADES)) == shade) i++;
            double u = (shade + 0.5) / SHADES; /* 0: surely class 0, 1: surely class 1 */
            svg_mix(col, WHITE, u < 0.5 ? PALE_BLUE : PALE_RED, fabs(u - 0.5) * 2);
            svg_rect(&s, p.left + i0 * cw, p.top + j * ch, (i - i0) * cw + 0.3, ch + 0.3, col);
        }
    }
    const double *x = nn_dataset_x(train);
    const int64_t *lab = nn_dataset_labels(train);
    for (int64_t k = 0; k < nn_dataset_len(train); k++)
        svg_circle(&s, svg_px(&p, x[2 * k]), svg_py(&p, x[2 * k + 1]), 2.5,
                   lab[k] ? POINT_RED : POINT_BLUE, "none");
    snprintf(title, sizeof title, "moons: decision boundary (held-out accuracy %.1f %%)",
             100 * test_accuracy);
    svg_axes(&s, &p, "x1", "x2", title);
    free(grid);
    free(prob);
    return svg_close(&s);
}

/* The loss of every step (thin, grey) and each epoch's mean (blue). */
static bool write_loss(const char *path, int steps, const double *step_loss, int epochs,
                       const double *epoch_loss) {
    double top = 0;
    for (int i = 0; i < steps; i++) top = fmax(top, step_loss[i]);
    svg_plot p = {70, 40, 580, 380, 0, epochs, 0, top * 1.05};
    double *xs = malloc((size_t)(steps > epochs ? steps : epochs) * sizeof *xs);
    svg s;
    if (!xs || !svg_open(&s, path, 700, 480)) {
        free(xs);
        return false;
    }
    for (int i = 0; i < steps; i++) xs[i] = (i + 1.0) * epochs / steps;
    svg_curve(&s, &p, steps, xs, step_loss, "#bbbbbb", 1);
    for (int e = 0; e < epochs; e++) xs[e] = e + 1;
    svg_curve(&s, &p, epochs, xs, epoch_loss, "#3168bd", 2.5);
    svg_axes(&s, &p, "epoch", "cross-entropy", "moons: training loss (grey: each step; blue: epoch mean)");
    free(xs);
    return svg_close(&s);
}

/* Options come in pairs, --name value. */
static bool parse(int argc, char **argv, options *o) {
    if (argc % 2 == 0) return false; /* a name without its value */
    for (int a = 1; a + 1 < argc; a += 2) {
        const char *v = argv[a + 1];
        if (strcmp(argv[a], "--out") == 0) o->out = v;
        else if (strcmp(argv[a], "--epochs") == 0) o->epochs = atoi(v);
        else if (strcmp(argv[a], "--samples") == 0) o->samples = atoll(v);
        else if (strcmp(argv[a], "--seed") == 0) o->seed = strtoull(v, NULL, 10);
        else return false;
    }
    return o->epochs >= 1 && o->samples >= 10;
}

int main(int argc, char **argv) {
    options o = {".", 30, 1000, 42};
    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: moons [--out DIR] [--epochs N] [--samples N] [--seed S]\n");
        return 2;
    }
    ag_rng rng;
    ag_rng_seed(&rng, o.seed);
    nn_dataset *train = make_moons(o.samples, &rng), *test = make_moons(o.samples / 2, &rng);
    nn_params *ps = nn_params_new();
    nn_module *mlp = nn_mlp_new(ps, "mlp", 4, (const int64_t[]){2, HIDDEN, HIDDEN, 2}, NN_TANH,
                                AG_F64, &rng);
    nn_optim_opts oo = nn_adam_opts(LR);
    nn_optim *opt = mlp ? nn_optim_new(ps, &oo) : NULL;
    nn_batcher *batches = train ? nn_batcher_new(train, BATCH, true, o.seed, false) : NULL;
    ag_tape *t = ag_tape_new(0);
    int steps_per_epoch = (int)nn_batcher_batches(batches);
    double *step_loss = malloc((size_t)o.epochs * (size_t)steps_per_epoch * sizeof *step_loss);
    double *epoch_loss = malloc((size_t)o.epochs * sizeof *epoch_loss);
    double *scratch = malloc((size_t)o.samples * sizeof *scratch);
    if (!test || !opt || !batches || !t || !step_loss || !epoch_loss || !scratch) {
        fprintf(stderr, "moons: setup failed: %s\n", nn_last_error() ? nn_last_error() : "out of memory");
        return 2;
    }
    printf("moons: %lld training and %lld held-out points (noise %.2f); MLP 2-%d-%d-2 (tanh), "
           "%lld parameters; Adam lr %g, batch %d, %d epochs\n",
           (long long)o.samples, (long long)(o.samples / 2), NOISE, HIDDEN, HIDDEN,
           (long long)nn_params_numel(ps), LR, BATCH, o.epochs);

    int steps = 0;
    double acc = 0, t_start = now();
    for (int e = 0; e < o.epochs; e++) {
        double t0 = now(), sum = 0;
        int64_t m, seen = 0;
        const int64_t *idx;
        while ((m = nn_batcher_next(batches, &idx)) > 0) {
            ag_tape_reset(t);
            nn_optim_zero_grad(opt);
            ag_tensor *x = nn_batch_x(t, train, AG_F64, m, idx); // (m, 2)
            int64_t y[BATCH];                                     // (m)
            nn_dataset_gather(train, m, idx, NULL, NULL, y);
            ag_tensor *loss = nn_sparse_cross_entropy(t, nn_forward(mlp, t, x), m, y, NN_MEAN);
            if (ag_backward(t, loss) != AG_OK) {
                fprintf(stderr, "moons: %s\n", ag_tape_error(t));
                return 2;
            }
            nn_optim_step(opt);
            step_loss[steps++] = ag_item(loss);
            sum += ag_item(loss) * (double)m;
            seen += m;
        }
        double dt = now() - t0;
        epoch_loss[e] = sum / (double)seen;
        acc = accuracy(mlp, t, test, scratch);
        printf("epoch %3d  loss %.4f  held-out accuracy %5.1f %%  %9.0f samples/s\n", e + 1,
               epoch_loss[e], 100 * acc, (double)seen / dt);
    }
    double train_acc = accuracy(mlp, t, train, scratch), elapsed = now() - t_start;

    char boundary[4096], losspath[4096];
    snprintf(boundary, sizeof boundary, "%s/moons_boundary.svg", o.out);
    snprintf(losspath, sizeof losspath, "%s/moons_loss.svg", o.out);
    bool wrote = write_boundary(boundary, mlp, t, train, acc) &&
                 write_loss(losspath, steps, step_loss, o.epochs, epoch_loss);
    if (wrote) printf("pictures written: %s\n                  %s\n", boundary, losspath);

    bool ok = acc >= TARGET;
    printf("%s: held-out accuracy %.1f %% (training %.1f %%) in %.2f s; target >= %.0f %%\n",
           ok ? "OK" : "FAIL", 100 * acc, 100 * train_acc, elapsed, 100 * TARGET);
    free(step_loss);
    free(epoch_loss);
    free(scratch);
    ag_tape_free(t);
    nn_batcher_free(batches);
    nn_optim_free(opt);
    nn_module_free(mlp);
    nn_params_free(ps);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return !wrote ? 2 : ok ? 0 : 1;
}
