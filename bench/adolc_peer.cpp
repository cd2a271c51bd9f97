// ADOL-C's side of the tape_ratio workload: adolc_peer X_FILE 100000
//
// The tape_ratio function (bench/rosen_f.c), n = 100000, taped with ADOL-C
// (Debian's libadolc-dev) and differentiated in reverse mode, two ways:
//   retape: record the tape and run the reverse sweep on every call, as a
//           program whose control flow may change between calls must
//           (trace_on with keep = 1, then fos_reverse on the kept values);
//   reuse:  record once, then gradient() (forward + reverse over the same
//           tape) on every call.
// x is the bench's point (X_FILE: 100000 doubles). Each ratio is the
// median of per-pair ratios against the plain function
// compiled here with the same flags, the two timed interleaved, as
// bench_paired does on the C side. The gradient is checked against the
// hand-written adjoint. Prints one JSON object, e.g.
//   {"peer": "ADOL-C 2.7.2", "retape_ratio": 30.1, "reuse_ratio": 13.2, ...}
// ADOL-C keeps tapes in memory buffers sized by .adolcrc; a larger tape
// spills to files, so the peer runs in a scratch folder whose .adolcrc
// makes the buffers hold the whole tape ("spilled" says if it did not).
#include <adolc/adolc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <time.h>
#include <unistd.h>
#include <vector>

#ifndef ADOLC_PEER_VERSION
#define ADOLC_PEER_VERSION "?" /* meson passes pkg-config's version */
#endif

static const int N = 100000;
static volatile double sink;

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static double cpu_now() { // this thread's CPU time
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The same f and hand adjoint as bench/rosen_f.c.
static double plain(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n - 1; i++) {
        double xi = x[i], d = x[i + 1] - xi * xi, e = 1 - xi;
        s += 100 * d * d + e * e + std::sin(xi) * std::exp(-xi * xi);
    }
    return s;
}

static void hand(const double *x, double *g, int n) {
    for (int i = 0; i < n; i++) g[i] = 0;
    for (int i = 0; i < n - 1; i++) {
        double xi = x[i], d = x[i + 1] - xi * xi, e = 1 - xi;
        double si = std::sin(xi), ci = std::cos(xi), ex = std::exp(-xi * xi);
        g[i] += -400 * d * xi - 2 * e + ci * ex - 2 * xi * si * ex;
        g[i + 1] += 200 * d;
    }
}

// f on adoubles, written as one would (x_i^2 once, used twice).
static void tape_f(short tag, const double *x, int n, int keep, double *y) {
    trace_on(tag, keep);
    std::vector<adouble> ax(n);
    for (int i = 0; i < n; i++) ax[i] <<= x[i];
    adouble s = 0;
    for (int i = 0; i < n - 1; i++) {
        adouble sq = ax[i] * ax[i];
        adouble d = ax[i + 1] - sq, e = 1 - ax[i];
        s += 100 * d * d + e * e + sin(ax[i]) * exp(-sq);
    }
    s >>= *y;
    trace_off();
}

// Median of per-pair ratios fn / base, interleaved, alternating the order;
// *cpu_ratio is the same in thread CPU time.
template <class B, class F>
static double paired(B base, F fn, int pairs, double *t_fn, double *cpu_ratio) {
    std::vector<double> tf, tr, cr;
    base();
    fn();
    for (int k = 0; k < pairs; k++) {
        double b = 0, f = 0, cb = 0, cf = 0;
        for (int j = 0; j < 2; j++) {
            bool measured = (j + k) % 2;
            double c0 = cpu_now(), t0 = now();
            if (measured) fn();
            else base();
            (measured ? f : b) = now() - t0;
            (measured ? cf : cb) = cpu_now() - c0;
        }
        tf.push_back(f);
        tr.push_back(f / b);
        cr.push_back(cf / cb);
    }
    std::sort(tf.begin(), tf.end());
    std::sort(tr.begin(), tr.end());
    std::sort(cr.begin(), cr.end());
    *t_fn = tf[tf.size() / 2];
    *cpu_ratio = cr[cr.size() / 2];
    return tr[tr.size() / 2];
}

static double rel_diff(const std::vector<double> &a, const std::vector<double> &b) {
    double maxd = 0, maxb = 0;
    for (size_t i = 0; i < a.size(); i++) {
        double d = std::fabs(a[i] - b[i]);
        if (!(d <= maxd)) maxd = d;
        maxb = std::max(maxb, std::fabs(b[i]));
    }
    return maxb > 0 ? maxd / maxb : maxd;
}

int main(int argc, char **argv) {
    // ADOL-C reads .adolcrc from the working folder when the program starts:
    // make the folder and the file, then start again inside it.
    const char *dir = std::getenv("TAPEGRAD_ADOLC_DIR");
    if (!dir) {
        char tmpl[] = "/tmp/tapegrad-adolc-XXXXXX";
        if (!mkdtemp(tmpl) || chdir(tmpl) != 0) return 1;
        FILE *rc = std::fopen(".adolcrc", "w");
        if (!rc) return 1;
        std::fprintf(rc, "\"OBUFSIZE\" = \"8388608\"\n\"LBUFSIZE\" = \"8388608\"\n"
                         "\"VBUFSIZE\" = \"8388608\"\n\"TBUFSIZE\" = \"8388608\"\n");
        std::fclose(rc);
        setenv("TAPEGRAD_ADOLC_DIR", tmpl, 1);
        execv("/proc/self/exe", argv);
        return 1;
    }
    // The point: N doubles in the file the bench wrote (argv[1]).
    std::vector<double> x(N), g(N), ref(N);
    FILE *in = argc == 3 && std::atoi(argv[2]) == N ? std::fopen(argv[1], "rb") : nullptr;
    if (!in || std::fread(x.data(), sizeof(double), N, in) != (size_t)N) {
        std::fprintf(stderr, "usage: adolc_peer X_FILE %d (the point, %d doubles)\n", N, N);
        return 2;
    }
    std::fclose(in);
    hand(x.data(), ref.data(), N);

    double y = 0, u = 1.0;
    auto run_plain = [&] { sink = plain(x.data(), N); };
    auto retape = [&] {
        tape_f(1, x.data(), N, 1, &y);
        fos_reverse(1, 1, N, &u, g.data());
    };
    double t_retape, t_reuse, retape_cpu, reuse_cpu;
    double retape_ratio = paired(run_plain, retape, 15, &t_retape, &retape_cpu);
    double rel_retape = rel_diff(g, ref);

    tape_f(2, x.data(), N, 0, &y);
    auto reuse = [&] { gradient(2, N, x.data(), g.data()); };
    double reuse_ratio = paired(run_plain, reuse, 15, &t_reuse, &reuse_cpu);
    double rel_reuse = rel_diff(g, ref);

    size_t counts[STAT_SIZE];
    tapestats(2, counts);
    double ops_per_term = (double)counts[NUM_OPERATIONS] / (N - 1);

    unlink(".adolcrc");
    bool spilled = false;
    for (const char *f : {"ADOLC-Locations_1.tap", "ADOLC-Operations_1.tap", "ADOLC-Values_1.tap",
                          "ADOLC-Taylors_1.tap", "ADOLC-Locations_2.tap", "ADOLC-Operations_2.tap",
                          "ADOLC-Values_2.tap", "ADOLC-Taylors_2.tap"})
        spilled |= unlink(f) == 0;
    if (spilled) std::fprintf(stderr, "adolc_peer: tapes spilled to files (raise the buffers)\n");
    if (chdir("/") == 0) rmdir(dir);
    std::printf("{\"peer\": \"ADOL-C %s\", \"retape_ratio\": %.4g, \"retape_cpu_ratio\": %.4g, "
                "\"retape_ms\": %.4g, \"reuse_ratio\": %.4g, \"reuse_cpu_ratio\": %.4g, "
                "\"reuse_ms\": %.4g, \"check_rel\": %.3g, \"ops_per_term\": %.3g, \"spilled\": %d}\n",
                ADOLC_PEER_VERSION, retape_ratio, retape_cpu, t_retape * 1e3, reuse_ratio, reuse_cpu,
                t_reuse * 1e3, std::max(rel_retape, rel_reuse), ops_per_term, (int)spilled);
    return 0;
}
