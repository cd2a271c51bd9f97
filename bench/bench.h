/* The benchmark harness shared by every workload: timing, results, output.
 *
 * A workload measures, then reports one or more rows (a metric each) with
 * bench_emit(). Rows carry an optional PyTorch figure, filled in from
 * bench/torch_peer.py when it runs; the harness prints them as a table or
 * as JSON lines. Benchmarks never fail: a workload that cannot run reports
 * what it could and the program still exits 0. */
#ifndef TAPEGRAD_BENCH_H
#define TAPEGRAD_BENCH_H

#include <tapegrad/autograd.h>

#include <stdbool.h>
#include <stddef.h>

/* Seconds on the monotonic clock. */
double bench_now(void);

/* Runs fn(ctx) once as a warm-up, then repeatedly until it has run at least
 * `min_reps` times and for at least `min_seconds` in total (at most 100000
 * times), and returns the median time of one run in seconds. */
double bench_median(void (*fn)(void *ctx), void *ctx, int min_reps, double min_seconds);

/* As bench_median, but each run is timed by the CPU time of the calling
 * thread, so the time other work had the core does not count: for one-thread
 * workloads on a shared machine (the peer then does the same). */
double bench_cpu_median(void (*fn)(void *ctx), void *ctx, int min_reps, double min_seconds);

/* Times a baseline `base` and a measured `fn` interleaved, in pairs (the
 * order alternating from pair to pair), after one warm-up of each, until at
 * least `min_pairs` pairs and `min_seconds` in total (at most 1000 pairs).
 * On a shared machine, load that comes and goes then hits both alike, where
 * two medians taken one after the other can see different loads. Sets each
 * one's median time (seconds) and returns the median of the per-pair ratios
 * fn / base. */
double bench_paired(void (*base)(void *ctx), void (*fn)(void *ctx), void *ctx, int min_pairs,
                    double min_seconds, double *t_base, double *t_fn);

/* The same ratio for the last bench_paired call in thread CPU time: on a
 * loaded machine the time the thread waited for a core does not count, so
 * it moves less between runs than the wall-clock ratio. */
double bench_paired_cpu_ratio(void);

/* The median of v[0..n-1] (n >= 1; sorts v). */
double bench_median_of(double *v, int n);

/* Runs the shell command `cmd`, its standard output into out (at most
 * size - 1 bytes, NUL-terminated); returns pclose's status (0: exit 0). */
int bench_command(const char *cmd, char *out, size_t size);

/* Default repetition bounds: at least 5 runs and 0.3 s. */
#define BENCH_MIN_REPS 5
#define BENCH_MIN_SECONDS 0.3

/* The PyTorch peer's figures for one workload: key -> number, parsed from
 * the one JSON object bench/torch_peer.py prints. */
typedef struct bench_peer {
    bool ok;            /* the peer ran and printed a parsable object */
    char label[64];     /* e.g. "torch 1.13.1" */
    int n;
    char keys[16][48];
    double vals[16];
} bench_peer;

/* Runs the peer for `workload` if TAPEGRAD_PEER is set and torch imports;
 * on any failure returns a peer with ok = false (never aborts). */
bench_peer bench_run_peer(const char *workload);

/* The CPUs this process may run on (sched_getaffinity): the default
 * thread count of OpenBLAS, of tapegrad and of the pinned peer. */
int bench_cores(void);

/* Runs the peer like bench_run_peer, with every thread pool it has pinned
 * to `threads` (0: bench_cores()) in its own process: OPENBLAS_NUM_THREADS,
 * OMP_NUM_THREADS and torch.set_num_threads (the last alone leaves OpenBLAS
 * its own threads), and with OPENBLAS_CORETYPE=coretype when not NULL. The
 * label says the configuration ("torch 1.13.0 1t SkylakeX"); the peer adds
 * "cpu_per_wall", its CPU time over wall time while it measured. */
bench_peer bench_run_peer_pinned(const char *workload, int threads, const char *coretype);

/* The core type to force on OpenBLAS for its best kernels on this CPU
 * ("SkylakeX" with AVX-512, "Haswell" with AVX2), or NULL when the
 * installed library already picks them (or cannot be asked). `detected`
 * (may be NULL) receives the core it picks as installed. */
const char *bench_openblas_best_coretype(char *detected, size_t size);

/* ADOL-C's figures for tape_ratio at the point x[0..n-1] (bench/
 * adolc_peer.cpp: re-taping every call and reusing its tape), when the
 * peer was built (ADOL-C and a C++ compiler found); ok = false otherwise. */
bench_peer bench_run_adolc(const double *x, int n);

/* max_i |a_i - b_i| / max_i |b_i| (NaN anywhere makes it NaN): how far a
 * result is from a reference, normwise. */
double bench_rel_diff(const double *a, const double *b, int n);

/* The peer's figure for `key`, or false when it has none. */
bool bench_peer_get(const bench_peer *p, const char *key, double *out);

/* One output row. `peer_key` names the peer's figure to compare with (NULL
 * for none); the ratio printed is value / peer_value. `target` (NaN for
 * none) is the figure the project aims for (lower is better for every
 * metric here); it goes into the JSON line. */
typedef struct bench_row {
    const char *workload;
    const char *metric;
    double value;
    const char *unit;
    const char *peer_key;
    double target;
    const char *note; /* short extra text in the table, e.g. "ok", or NULL */
} bench_row;

void bench_emit(const bench_peer *peer, const bench_row *row);

/* Prints the table's header line (table mode only). */
void bench_table_header(void);

/* Prints the workload's target line (table mode only). */
void bench_target_line(const char *workload, const char *text);

/* Keeps a value alive so the compiler cannot drop the work that made it. */
extern volatile double bench_sink;

/* The workloads. Each runs its measurements and emits its rows. */
/* The tape_ratio / hvp function (rosen_f.c): plain, value and hand
 * gradient into g, and recorded on t from n scalar leaves. */
double rosen_plain(const double *x, int n);
double rosen_hand(const double *x, double *g, int n);
ag_tensor *rosen_record(ag_tape *t, ag_tensor *const *xs, int n);
/* The same f with each term (and the running sum) as one statement
 * (<tapegrad/scalar.h>): one record per term. */
ag_tensor *rosen_record_statements(ag_tape *t, ag_tensor *const *xs, int n);

void bench_tape_ratio(void);
void bench_tiny_ops(void);
void bench_gemm(void);
void bench_matmul(void);
void bench_hvp(void);
void bench_scalar_node_bytes(void);
void bench_scalar_moons(void);
void bench_mlp_step(void);
void bench_ddp_step(void);
void bench_f32_math(void);
void bench_conv_lenet(void);
void bench_cnn_step(void);
void bench_lstm_step(void);
void bench_attention_step(void);

#endif /* TAPEGRAD_BENCH_H */
