/* Runs the mnist example on small IDX files written here, so the test
 * suite exercises its IDX path without downloading anything:
 *
 *   example_mnist_idx PATH/TO/mnist [LAUNCHER ...]
 *
 * Writes 256 training and 64 held-out synthetic 28x28 "digits" (digit k is
 * a bright band across rows 2k+4 and 2k+5, on seeded noise) with
 * nn_idx_write into a fresh folder under /tmp, then checks that
 *   1. `mnist --data DIR --epochs 1 --min-accuracy 0.5` succeeds (the bands
 *      are easy: one epoch of 4 steps learns them), and
 *   2. with the held-out labels file cut short, mnist exits with status 2
 *      (a clear error, not a crash), and
 *   3. given a LAUNCHER (e.g. `mpi_run.sh 2 120`, which starts 2 ranks), that
 *      `LAUNCHER mnist --ddp ...` trains in f64 to the same training loss
 *      (4 digits) and held-out accuracy as one process, epoch by epoch (the
 *      same steps, to rounding).
 * Exit status 0 when both hold. */
#include <tapegrad/autograd.h>
#include <tapegrad/nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIDE 28

static bool write_part(const char *dir, const char *part, int64_t n, ag_rng *r) {
    double *img = malloc((size_t)n * SIDE * SIDE * sizeof *img), *lab = malloc((size_t)n * sizeof *lab);
    bool ok = img && lab;
    for (int64_t i = 0; ok && i < n; i++) {
        int k = (int)(i % 10);
        lab[i] = k;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++)
                img[(i * SIDE + y) * SIDE + x] = (y == 2 * k + 4 || y == 2 * k + 5)
                                                     ? 200 + (double)(ag_rng_next(r) % 56)
                                                     : (double)(ag_rng_next(r) % 40);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-images.idx", dir, part);
    ok = ok && nn_idx_write(path, NN_IDX_U8, 3, (const int64_t[]){n, SIDE, SIDE}, img) == NN_OK;
    snprintf(path, sizeof path, "%s/%s-labels.idx", dir, part);
    ok = ok && nn_idx_write(path, NN_IDX_U8, 1, &n, lab) == NN_OK;
    if (!ok) fprintf(stderr, "example_mnist_idx: writing %s failed: %s\n", part, nn_last_error());
    free(img);
    free(lab);
    return ok;
}

/* Runs argv and returns its exit status (-1 if it did not exit normally);
 * with `out`, its standard output goes to that file. */
static int run_to(char *const *argv, const char *out) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (out && !freopen(out, "w", stdout)) _exit(127);
        execv(argv[0], argv);
        perror("execv");
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(char *const *argv) { return run_to(argv, NULL); }

/* The training loss and held-out accuracy of each epoch in a run's output
 * file, as text. */
static void epoch_figures(const char *path, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    char line[1024];
    out[0] = 0;
    int e;
    double loss, acc;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "epoch %d loss %lf held-out accuracy %lf", &e, &loss, &acc) == 3)
            snprintf(out + strlen(out), size - strlen(out), "%.4f/%.2f%% ", loss, acc);
    if (f) fclose(f);
}

/* Trains once alone and once under the launcher with --ddp; 0 when both
 * succeed with the same accuracies. */
static int same_under_ddp(const char *mnist, char **launcher, int nl, const char *dir) {
    char one[4096], ddp[4096], a1[256], a2[256];
    snprintf(one, sizeof one, "%s/one.out", dir);
    snprintf(ddp, sizeof ddp, "%s/ddp.out", dir);
    char *common[] = {"--data", (char *)dir, "--epochs", "3", "--dtype", "f64", "--min-accuracy", "0.5"};
    enum { NC = sizeof common / sizeof *common };
    char *args[64] = {(char *)mnist};
    memcpy(args + 1, common, sizeof common);
    int st1 = run_to(args, one);
    int k = 0;
    for (; k < nl && k < 40; k++) args[k] = launcher[k];
    args[k++] = (char *)mnist;
    args[k++] = "--ddp";
    memcpy(args + k, common, sizeof common);
    args[k + NC] = NULL;
    int st2 = run_to(args, ddp);
    epoch_figures(one, a1, sizeof a1);
    epoch_figures(ddp, a2, sizeof a2);
    printf("-- mnist alone: exit status %d, loss/accuracy by epoch %s\n", st1, a1);
    printf("-- mnist --ddp under %s: exit status %d, loss/accuracy by epoch %s(want the same)\n", launcher[0], st2, a2);
    remove(one);
    remove(ddp);
    return st1 != 0 || st2 != 0 || !a1[0] || strcmp(a1, a2) != 0;
}

static void remove_files(const char *dir) {
    const char *names[] = {"train-images.idx", "train-labels.idx", "test-images.idx", "test-labels.idx"};
    char path[4096];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    rmdir(dir);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: example_mnist_idx PATH/TO/mnist [LAUNCHER ...]\n");
        return 2;
    }
    char dir[] = "/tmp/tapegrad-mnist-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    ag_rng r;
    ag_rng_seed(&r, 5);
    int failures = 0;
    if (!write_part(dir, "train", 256, &r) || !write_part(dir, "test", 64, &r)) {
        remove_files(dir);
        return 2;
    }
    char *train_args[] = {argv[1], "--data", dir, "--epochs", "1", "--min-accuracy", "0.5", NULL};
    int st = run(train_args);
    printf("-- mnist on the synthetic IDX files: exit status %d (want 0)\n", st);
    failures += st != 0;
    if (argc > 2) failures += same_under_ddp(argv[1], argv + 2, argc - 2, dir);

    char path[4096];
    snprintf(path, sizeof path, "%s/test-labels.idx", dir);
    if (truncate(path, 20) != 0) {
        perror("truncate");
        failures++;
    } else {
        st = run(train_args);
        printf("-- mnist with test-labels.idx cut to 20 bytes: exit status %d (want 2)\n", st);
        failures += st != 2;
    }
    remove_files(dir);
    printf("%s\n", failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
