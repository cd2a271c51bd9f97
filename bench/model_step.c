/* The model-step driver shared by cnn_step, lstm_step and attention_step
 * (model_step.h). */
#include "model_step.h"

#include <math.h>
#include <stdio.h>

/* PyTorch at one thread count, at its best and as installed. */
typedef struct peers {
    bench_peer best, installed;
} peers;

/* Times m's step with the BLAS on `threads` threads (0: its default) and
 * emits the rows of that thread count; returns the step time in ms (NaN
 * when the step failed). */
static double measure(const model_step *m, const peers *pp, int threads, const char *suffix) {
    int before = ag_set_blas_threads(threads);
    double t = bench_median(m->step, m->ctx, BENCH_MIN_REPS, BENCH_MIN_SECONDS);
    if (before > 0) ag_set_blas_threads(before);
    char note[200], metric[64];
    if (!m->check(m->ctx, note, sizeof note)) t = NAN;
    double ms = t * 1e3;
    snprintf(metric, sizeof metric, "step_time%s", suffix);
    bench_emit(&pp->best, &(bench_row){m->workload, metric, ms, "ms", m->peer_key, m->target, note});
    double cpw = NAN;
    snprintf(metric, sizeof metric, "step_vs_installed%s", suffix);
    snprintf(note, sizeof note, "PyTorch as installed (its cpu/wall %.2f)",
             bench_peer_get(&pp->installed, "cpu_per_wall", &cpw) ? cpw : NAN);
    bench_emit(&pp->installed, &(bench_row){m->workload, metric, ms, "ms", m->peer_key, NAN, note});
    if (m->ref_key) {
        snprintf(metric, sizeof metric, "vs_%s%s", m->ref_key, suffix);
        snprintf(note, sizeof note, "reference: PyTorch's %s at its best", m->ref_what);
        bench_emit(&pp->best, &(bench_row){m->workload, metric, ms, "ms", m->ref_key, NAN, note});
    }
    if (bench_peer_get(&pp->best, "cpu_per_wall", &cpw)) {
        snprintf(metric, sizeof metric, "peer_cpu_per_wall%s", suffix);
        bench_emit(NULL, &(bench_row){m->workload, metric, cpw, "cores", NULL, NAN,
                                      "PyTorch at its best: CPU time / wall time while it measured"});
    }
    return ms;
}

void model_step_run(const model_step *m) {
    char core[64];
    const char *best = bench_openblas_best_coretype(core, sizeof core);
    peers at_n = {bench_run_peer_pinned(m->workload, 0, best), bench_run_peer_pinned(m->workload, 0, NULL)};
    peers at_1 = {bench_run_peer_pinned(m->workload, 1, best), bench_run_peer_pinned(m->workload, 1, NULL)};
    double ms_n = measure(m, &at_n, 0, "");
    double ms_1 = measure(m, &at_1, 1, "_1thread");
    char line[300];
    double pn, p1;
    if (bench_peer_get(&at_n.best, m->peer_key, &pn) && bench_peer_get(&at_1.best, m->peer_key, &p1))
        snprintf(line, sizeof line, "step_time <= %.1fx PyTorch at its best (OpenBLAS core '%s' here%s%s): "
                 "%.2fx at %d threads, %.2fx at 1 thread: met in %d of 2", m->target, core,
                 best ? ", forced to " : "", best ? best : "", ms_n / pn, bench_cores(), ms_1 / p1,
                 (ms_n <= m->target * pn) + (ms_1 <= m->target * p1));
    else
        snprintf(line, sizeof line, "step_time <= %.1fx PyTorch at its best (no peer figure in this run)",
                 m->target);
    bench_target_line(m->workload, line);
}

void model_step_record(model_step_losses *l, ag_status st, ag_tensor *loss) {
    if (st == AG_OK) {
        l->last = ag_item(loss);
        if (isnan(l->first)) l->first = l->last;
    }
    if (l->status == AG_OK) l->status = st;
}

bool model_step_verdict(const model_step_losses *l, ag_tape *t, const char *what, char *note,
                        size_t size) {
    const bool ok = l->status == AG_OK && isfinite(l->last) && l->last < l->first;
    if (ok) snprintf(note, size, "%s; loss %.3f -> %.3f (same batch)", what, l->first, l->last);
    else snprintf(note, size, "FAILED: %s (loss %g -> %g)", ag_tape_error(t), l->first, l->last);
    return ok;
}
