/* Timing, output (table or JSON lines) and the PyTorch peer. */
#include "bench.h"

#include <math.h>
#include <sched.h>
#include <strings.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile double bench_sink;

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define BENCH_MAX_REPS 100000

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median_by(double (*clock)(void), void (*fn)(void *ctx), void *ctx, int min_reps,
                        double min_seconds) {
    static double times[BENCH_MAX_REPS];
    fn(ctx); /* warm-up: caches, page faults, the tape's first allocations */
    int n = 0;
    double total = 0;
    while (n < BENCH_MAX_REPS && (n < min_reps || total < min_seconds)) {
        double t0 = clock();
        fn(ctx);
        times[n] = clock() - t0;
        total += times[n++];
    }
    return bench_median_of(times, n);
}

double bench_median(void (*fn)(void *ctx), void *ctx, int min_reps, double min_seconds) {
    return median_by(bench_now, fn, ctx, min_reps, min_seconds);
}

double bench_cpu_median(void (*fn)(void *ctx), void *ctx, int min_reps, double min_seconds) {
    return median_by(thread_cpu, fn, ctx, min_reps, min_seconds);
}

#define BENCH_MAX_PAIRS 1000

static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double last_cpu_ratio = NAN;

double bench_paired(void (*base)(void *ctx), void (*fn)(void *ctx), void *ctx, int min_pairs,
                    double min_seconds, double *t_base, double *t_fn) {
    static double tb[BENCH_MAX_PAIRS], tf[BENCH_MAX_PAIRS], tr[BENCH_MAX_PAIRS];
    static double cb[BENCH_MAX_PAIRS], cf[BENCH_MAX_PAIRS], cr[BENCH_MAX_PAIRS];
    base(ctx);
    fn(ctx);
    int n = 0;
    double total = 0;
    while (n < BENCH_MAX_PAIRS && (n < min_pairs || total < min_seconds)) {
        for (int k = 0; k < 2; k++) {
            bool measured = (k + n) % 2;
            double c0 = thread_cpu_now(), t0 = bench_now();
            (measured ? fn : base)(ctx);
            double dt = bench_now() - t0, dc = thread_cpu_now() - c0;
            if (measured) tf[n] = dt, cf[n] = dc;
            else tb[n] = dt, cb[n] = dc;
            total += dt;
        }
        tr[n] = tf[n] / tb[n];
        cr[n] = cb[n] > 0 ? cf[n] / cb[n] : NAN;
        n++;
    }
    *t_base = bench_median_of(tb, n);
    *t_fn = bench_median_of(tf, n);
    last_cpu_ratio = bench_median_of(cr, n);
    return bench_median_of(tr, n);
}

double bench_paired_cpu_ratio(void) { return last_cpu_ratio; }

/* ---------------------------------------------------------------- output */

static bool json_mode(void) {
    const char *j = getenv("TAPEGRAD_JSON");
    return j && strcmp(j, "1") == 0;
}

static void json_number(double v) {
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
}

void bench_emit(const bench_peer *peer, const bench_row *r) {
    double pv = NAN;
    bool has_peer = peer && peer->ok && r->peer_key && bench_peer_get(peer, r->peer_key, &pv);
    double ratio = has_peer && pv != 0 ? r->value / pv : NAN;
    if (json_mode()) {
        printf("{\"workload\": \"%s\", \"metric\": \"%s\", \"value\": ", r->workload, r->metric);
        json_number(r->value);
        printf(", \"unit\": \"%s\", \"peer\": ", r->unit);
        if (has_peer) printf("\"%s\"", peer->label);
        else printf("null");
        printf(", \"peer_value\": ");
        json_number(has_peer ? pv : NAN);
        printf(", \"ratio\": ");
        json_number(ratio);
        printf(", \"target\": ");
        json_number(r->target);
        printf("}\n");
    } else {
        char pbuf[32] = "-", rbuf[32] = "-";
        if (has_peer) snprintf(pbuf, sizeof pbuf, "%.4g", pv);
        if (isfinite(ratio)) snprintf(rbuf, sizeof rbuf, "%.3g", ratio);
        /* No peer figure: the table shows the figure against its target
         * instead, marked "t" (JSON keeps ratio for the peer only). */
        else if (isfinite(r->value) && isfinite(r->target) && r->target != 0)
            snprintf(rbuf, sizeof rbuf, "%.3g t", r->value / r->target);
        printf("%-18s %-30s %12.4g %-9s %-22s %12s %8s  %s\n", r->workload, r->metric, r->value,
               r->unit, has_peer ? peer->label : "-", pbuf, rbuf, r->note ? r->note : "");
    }
    fflush(stdout);
}

void bench_target_line(const char *workload, const char *text) {
    if (json_mode()) return;
    printf("%-18s target: %s\n", workload, text);
    fflush(stdout);
}

void bench_table_header(void) {
    if (json_mode()) return;
    printf("ratio: value / peer value; \"t\" marks value / target where there is no peer figure\n");
    printf("%-18s %-30s %12s %-9s %-22s %12s %8s  %s\n", "workload", "metric", "value", "unit",
           "peer", "peer value", "ratio", "note");
}

/* ------------------------------------------------------------------ peer */

bool bench_peer_get(const bench_peer *p, const char *key, double *out) {
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i], key) == 0) {
            *out = p->vals[i];
            return isfinite(p->vals[i]);
        }
    }
    return false;
}

/* Parses the flat object the peer prints: "key": number or "key": "text".
 * The text of key "peer" becomes the label; other strings are skipped. */
static void parse_peer(bench_peer *p, const char *s) {
    const char *q = strchr(s, '{');
    if (!q) return;
    q++;
    for (;;) {
        while (*q == ' ' || *q == ',' || *q == '\n' || *q == '\t') q++;
        if (*q != '"') break;
        const char *k = ++q;
        while (*q && *q != '"') q++;
        if (!*q) return;
        size_t klen = (size_t)(q - k);
        q++;
        while (*q == ' ' || *q == ':') q++;
        if (*q == '"') { /* a string value */
            const char *v = ++q;
            while (*q && *q != '"') q++;
            if (!*q) return;
            if (klen == 4 && strncmp(k, "peer", 4) == 0) {
                size_t vlen = (size_t)(q - v);
                if (vlen >= sizeof p->label) vlen = sizeof p->label - 1;
                memcpy(p->label, v, vlen);
                p->label[vlen] = '\0';
            }
            q++;
            continue;
        }
        char *end;
        double v = strtod(q, &end);
        if (end == q) { /* null, true, false: skip the word */
            while (*q && *q != ',' && *q != '}') q++;
            continue;
        }
        q = end;
        if (p->n < 16 && klen < sizeof p->keys[0]) {
            memcpy(p->keys[p->n], k, klen);
            p->keys[p->n][klen] = '\0';
            p->vals[p->n++] = v;
        }
    }
    p->ok = p->n > 0 && p->label[0];
}

/* Whether torch imports, asked once per run. */
static int torch_state = -1;

/* Runs a peer's command and parses the JSON object it prints. */
static bench_peer run_json(const char *cmd) {
    bench_peer p;
    memset(&p, 0, sizeof p);
    char buf[4096];
    if (bench_command(cmd, buf, sizeof buf) != 0) return p;
    parse_peer(&p, buf);
    return p;
}

/* The peer script (TAPEGRAD_PEER) when it is set and torch imports, else
 * NULL. */
static const char *peer_script(void) {
    const char *script = getenv("TAPEGRAD_PEER");
    if (!script || !*script) return NULL;
    if (torch_state < 0)
        torch_state = system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
    return torch_state ? script : NULL;
}

bench_peer bench_run_peer(const char *workload) {
    bench_peer p;
    memset(&p, 0, sizeof p);
    const char *script = peer_script();
    if (!script) return p;
    char cmd[1024];
    /* Workload names are from our own fixed list, so quoting is safe; a
     * peer that hangs is stopped after 10 minutes and counts as failed. */
    if (snprintf(cmd, sizeof cmd, "timeout 600 /usr/bin/python3 '%s' '%s' 2>/dev/null", script,
                 workload) >=
        (int)sizeof cmd)
        return p;
    return run_json(cmd);
}

int bench_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Whether /proc/cpuinfo's first "flags" line lists `flag`. */
static bool cpu_has_flag(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[8192];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0) continue;
        size_t n = strlen(flag);
        for (char *q = strstr(line, flag); q; q = strstr(q + 1, flag))
            if (q[-1] == ' ' && (q[n] == ' ' || q[n] == '\n')) found = true;
        break;
    }
    fclose(f);
    return found;
}

const char *bench_openblas_best_coretype(char *detected, size_t size) {
    static int state = -1; /* asked once per run */
    static char core[64];
    if (state < 0) {
        /* The core OpenBLAS picks for this CPU, asked of the library that
         * torch loads (Debian's libopenblas), in a child process. */
        char out[64];
        state = bench_command("/usr/bin/python3 -c \"import ctypes; f = ctypes.CDLL('libopenblas.so.0')"
                              ".openblas_get_corename; f.restype = ctypes.c_char_p; "
                              "print(f().decode())\" 2>/dev/null", out, sizeof out) == 0;
        out[strcspn(out, "\n")] = '\0';
        snprintf(core, sizeof core, "%s", state ? out : "unknown");
    }
    if (detected) snprintf(detected, size, "%s", core);
    if (!state) return NULL;
    /* The kernels the CPU can run, the newest first; the installed core is
     * right when it is that one (or a sibling with the same kernels). */
    const char *want = cpu_has_flag("avx512f") ? "SkylakeX" : cpu_has_flag("avx2") ? "Haswell" : NULL;
    if (!want) return NULL;
    static const char *const right[] = {"SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen"};
    size_t from = strcmp(want, "SkylakeX") == 0 ? 0 : 3;
    for (size_t i = from; i < sizeof right / sizeof *right; i++)
        if (strcasecmp(core, right[i]) == 0) return NULL;
    return want;
}

bench_peer bench_run_peer_pinned(const char *workload, int threads, const char *coretype) {
    bench_peer p;
    memset(&p, 0, sizeof p);
    const char *script = peer_script();
    if (!script) return p;
    if (threads <= 0) threads = bench_cores();
    char core[64] = "";
    if (coretype) snprintf(core, sizeof core, "OPENBLAS_CORETYPE=%s ", coretype);
    char cmd[1024];
    /* Every thread pool the peer has is set before torch loads: OpenBLAS's
     * and OpenMP's by the environment, torch's own by TAPEGRAD_PEER_THREADS
     * (torch.set_num_threads in torch_peer.py). */
    if (snprintf(cmd, sizeof cmd,
                 "env OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d MKL_NUM_THREADS=%d "
                 "TAPEGRAD_PEER_THREADS=%d TAPEGRAD_PEER_PINNED=1 %s"
                 "timeout 600 /usr/bin/python3 '%s' '%s' 2>/dev/null",
                 threads, threads, threads, threads, core, script, workload) >= (int)sizeof cmd)
        return p;
    p = run_json(cmd);
    if (p.ok) {
        size_t len = strlen(p.label);
        snprintf(p.label + len, sizeof p.label - len, " %dt%s%s", threads, coretype ? " " : "",
                 coretype ? coretype : "");
    }
    return p;
}

bench_peer bench_run_adolc(const double *x, int n) {
    bench_peer p;
    memset(&p, 0, sizeof p);
#ifdef TAPEGRAD_ADOLC_PEER
    /* The point goes to the peer in a file of n doubles, so both sides
     * differentiate at the same x. */
    char path[] = "/tmp/tapegrad-x-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return p;
    FILE *f = fdopen(fd, "wb");
    bool ok = f && fwrite(x, sizeof *x, (size_t)n, f) == (size_t)n;
    if (f) ok &= fclose(f) == 0;
    char cmd[1024];
    /* a peer that hangs is stopped after 10 minutes and counts as failed */
    if (ok && snprintf(cmd, sizeof cmd, "timeout 600 '%s' '%s' %d 2>/dev/null", TAPEGRAD_ADOLC_PEER,
                       path, n) < (int)sizeof cmd)
        p = run_json(cmd);
    remove(path);
#else
    (void)x, (void)n;
#endif
    return p;
}

double bench_rel_diff(const double *a, const double *b, int n) {
    double maxd = 0, maxb = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= maxd)) maxd = d;
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    return maxb > 0 ? maxd / maxb : maxd;
}

int bench_command(const char *cmd, char *out, size_t size) {
    fflush(stdout);
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t len = fread(out, 1, size - 1, f);
    out[len] = '\0';
    return pclose(f);
}
