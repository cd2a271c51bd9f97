/* ddp_step: mlp_step's training step data-parallel over MPI, on 1 and 2
 * ranks of this machine, each rank bound to a core of its own (mpirun
 * --bind-to core) with one BLAS thread; ddp_step_worker.c is the ranks'
 * program. Three rounds, medians; each round launches, per dtype,
 *   1 rank,  batch 128
 *   2 ranks, batch 128 each (weak scaling: twice the samples per step)
 *   2 ranks, batch 64 each  (strong scaling: the same 128 per step)
 *   2 ranks, batch 128 each, with sleep_while_waiting
 * Figures:
 *   step_time_1rank, step_time_2ranks, step_time_2ranks_half
 *   scaling_efficiency   weak: step time on 1 rank / on 2 ranks (100 % =
 *                        twice the throughput); the strong one is in the note
 *   allreduce_in_step    time in nn_ddp_allreduce_grads per step on 2 ranks,
 *                        waiting for the slower rank included
 *   allreduce_synced     the same all-reduce after a barrier: the transfer
 *   bytes_per_step       gradient bytes each rank reduces per step
 * The peer is PyTorch's DistributedDataParallel on gloo, the same model,
 * batches and pinning (one thread, one core per process), and for the
 * all-reduce gloo's all_reduce of a flat tensor of the same size; it runs
 * once in every round, after ours, so load that comes and goes on a shared
 * machine meets both sides. */
#include "bench.h"

#include <tapegrad/config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if TAPEGRAD_HAVE_MPI && defined(TAPEGRAD_BENCH_MPIRUN)

enum { ROUNDS = 3, STEPS = 60, NFIG = 8 };
static const char *const FIGS[NFIG] = {"step_ms", "allreduce_ms", "synced_ms", "pack_ms",
                                       "bytes",   "buckets",      "cpu_wall",  "loss"};

/* The value of "key": in a JSON line, or NaN. */
static double json_get(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* The worker beside this program (build/bench/). */
static bool worker_path(char *buf, size_t size) {
    ssize_t n = readlink("/proc/self/exe", buf, size - 32);
    if (n <= 0) return false;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return false;
    strcpy(slash + 1, "ddp_step_worker");
    return access(buf, X_OK) == 0;
}

/* One launch: fills fig[NFIG]; false (with the output in err) on failure. */
static bool launch(const char *worker, int np, const char *dtype, int batch, bool sleep, double *fig, char *err,
                   size_t esize) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_pml=ob1 "
             "timeout 300 %s %s --bind-to core --map-by core -np %d '%s' %s %d %d %s 2>&1",
             TAPEGRAD_BENCH_MPIRUN, geteuid() == 0 ? "--allow-run-as-root" : "", np, worker, dtype, batch, STEPS,
             sleep ? "sleep" : "");
    char out[8192];
    int rc = bench_command(cmd, out, sizeof out);
    const char *line = strstr(out, "{\"ranks\"");
    if (rc != 0 || !line) {
        snprintf(err, esize, "%.*s", (int)strcspn(out, "\n"), out);
        return false;
    }
    for (int i = 0; i < NFIG; i++) fig[i] = json_get(line, FIGS[i]);
    return true;
}

typedef struct runs_of_dtype {
    const char *dt;
    double fig[4][NFIG][ROUNDS]; /* launch, figure, round */
    bool ok;
    char err[256];
} runs_of_dtype;

static const struct {
    int np, batch;
    bool sleep;
} RUNS[4] = {{1, 128, false}, {2, 128, false}, {2, 64, false}, {2, 128, true}};

/* One round of the three launches for a dtype. */
static void round_of(const char *worker, runs_of_dtype *R, int r) {
    for (int k = 0; k < 4 && R->ok; k++) {
        double f[NFIG];
        R->ok = launch(worker, RUNS[k].np, R->dt, RUNS[k].batch, RUNS[k].sleep, f, R->err, sizeof R->err);
        for (int i = 0; R->ok && i < NFIG; i++) R->fig[k][i][r] = f[i];
    }
}

static void report(runs_of_dtype *R, const bench_peer *peer) {
    const char *W = "ddp_step", *dt = R->dt;
    char key[48], metric[64], note[300];
    if (!R->ok) {
        snprintf(note, sizeof note, "FAILED: %s", R->err);
        snprintf(metric, sizeof metric, "step_time_1rank_%s", dt);
        bench_emit(peer, &(bench_row){W, metric, NAN, "ms", NULL, NAN, note});
        return;
    }
    double med[4][NFIG];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < NFIG; i++) med[k][i] = bench_median_of(R->fig[k][i], ROUNDS);
    double t1 = med[0][0], t2 = med[1][0], th = med[2][0];
    const char *label[4] = {"1rank", "2ranks", "2ranks_half", "2ranks_sleep"};
    const char *what[4] = {"1 rank, batch 128", "2 ranks, batch 128 each (256 per step)",
                           "2 ranks, batch 64 each (128 per step)",
                           "2 ranks, batch 128 each, sleep_while_waiting"};
    const char *pkey[4] = {"1r", "2r", "2r_half", "2r"};
    for (int k = 0; k < 4; k++) {
        snprintf(metric, sizeof metric, "step_time_%s_%s", label[k], dt);
        snprintf(key, sizeof key, "ms_%s_%s", dt, pkey[k]);
        snprintf(note, sizeof note, "%s; rank 0 CPU/wall %.2f; loss -> %.3f", what[k], med[k][6], med[k][7]);
        bench_emit(peer, &(bench_row){W, metric, med[k][0], "ms", key, NAN, note});
    }
    snprintf(metric, sizeof metric, "scaling_efficiency_%s", dt);
    snprintf(key, sizeof key, "eff_%s", dt);
    snprintf(note, sizeof note, "weak: 1-rank / 2-rank step (higher is better); strong: 1-rank / (2 x half) = %.0f %%; "
             "weak, sleeping while waiting: %.0f %%", 100 * t1 / (2 * th), 100 * t1 / med[3][0]);
    bench_emit(peer, &(bench_row){W, metric, 100 * t1 / t2, "%", key, NAN, note});
    snprintf(metric, sizeof metric, "allreduce_in_step_%s", dt);
    snprintf(note, sizeof note, "2 ranks, in nn_ddp_allreduce_grads, waits included; %.1f %% of the step; "
             "packing %.3f ms", 100 * med[1][1] / t2, med[1][3]);
    bench_emit(peer, &(bench_row){W, metric, med[1][1], "ms", NULL, NAN, note});
    snprintf(metric, sizeof metric, "allreduce_synced_%s", dt);
    snprintf(key, sizeof key, "allreduce_ms_%s", dt);
    snprintf(note, sizeof note, "after a barrier: %.0f bytes, %.2f GB/s of payload", med[1][4],
             med[1][4] / (med[1][2] * 1e-3) / 1e9);
    bench_emit(peer, &(bench_row){W, metric, med[1][2], "ms", key, NAN, note});
    snprintf(metric, sizeof metric, "bytes_per_step_%s", dt);
    snprintf(note, sizeof note, "235146 gradients in %.0f bucket(s) of <= 25 MiB, one MPI_Allreduce each", med[1][5]);
    bench_emit(peer, &(bench_row){W, metric, med[1][4], "bytes", NULL, NAN, note});
}

/* The peer's figures, key by key the median over the rounds it ran in. */
static bench_peer median_peer(const bench_peer *p, int n) {
    bench_peer m = {0};
    for (int r = 0; r < n && !m.ok; r++)
        if (p[r].ok) m = p[r];
    for (int i = 0; m.ok && i < m.n; i++) {
        double v[ROUNDS];
        int k = 0;
        for (int r = 0; r < n; r++)
            if (p[r].ok && bench_peer_get(&p[r], m.keys[i], &v[k])) k++;
        m.vals[i] = k ? bench_median_of(v, k) : NAN;
    }
    return m;
}

void bench_ddp_step(void) {
    char worker[4096];
    if (!worker_path(worker, sizeof worker)) {
        bench_emit(NULL, &(bench_row){"ddp_step", "step_time_1rank", NAN, "ms", NULL, NAN,
                                      "ddp_step_worker not found beside bench"});
        return;
    }
    runs_of_dtype R[2] = {{.dt = "f32", .ok = true}, {.dt = "f64", .ok = true}};
    bench_peer peers[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        round_of(worker, &R[0], r);
        round_of(worker, &R[1], r);
        peers[r] = bench_run_peer("ddp_step");
    }
    bench_peer peer = median_peer(peers, ROUNDS);
    report(&R[0], &peer);
    report(&R[1], &peer);
    double cw = NAN;
    if (peer.ok) bench_peer_get(&peer, "cpu_wall_2r", &cw);
    char line[300];
    snprintf(line, sizeof line, "weak scaling efficiency >= 90 %% on 2 ranks; all-reduce <= gloo's "
             "(peer: DDP on gloo, CPU/wall per process %.2f)", cw);
    bench_target_line("ddp_step", line);
}

#else

void bench_ddp_step(void) {
    bench_emit(NULL, &(bench_row){"ddp_step", "step_time_1rank", NAN, "ms", NULL, NAN,
                                  "this build has no MPI (meson -Dmpi=enabled, or mpirun missing)"});
}

#endif
