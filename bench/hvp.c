/* hvp: the cost of a Hessian-vector product on the scalar tape, relative to
 * the plain function in doubles, for the tape_ratio function
 *
 *   f(x) = sum_{i=0}^{n-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
 *                          + sin(x_i) exp(-x_i^2),       n = 100000
 *
 * Timed as a user would run it: reset the tape, make n scalar leaves and the
 * n scalar constants of a fixed random direction v, record f with scalar ops
 * (as bench/tape_ratio.c does), ag_hvp (one recorded reverse pass, one
 * numeric reverse pass), read the n results. The same HVP with f on 1-D
 * f64 tensors (the form the PyTorch peer uses) is timed too, as extra rows.
 *
 * The check is a hand-derived H·v. f's Hessian is tridiagonal: with
 * x = x_i, d = x_{i+1} - x^2 and s(x) = sin(x) exp(-x^2), term i adds
 *   d2/dx_i^2         = -400 d + 800 x^2 + 2 + s''(x)
 *   d2/dx_i dx_{i+1}  = -400 x
 *   d2/dx_{i+1}^2     = 200
 * where s''(x) = exp(-x^2) ((4x^2 - 3) sin x - 4x cos x). The hand H·v is
 * itself checked against central differences of the hand gradient along v,
 * so a slip in the derivation cannot pass unseen. */
#include "bench.h"

#include <tapegrad/autograd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 100000

typedef struct ctx {
    double *x, *v, *hv;
    ag_tape *tape;
    ag_status status;
} ctx;

static void run_plain(void *p) {
    ctx *c = p;
    bench_sink = rosen_plain(c->x, N);
}

/* H·v by hand, from the tridiagonal Hessian above. */
static void hvp_hand(const double *x, const double *v, double *hv, int n) {
    for (int i = 0; i < n; i++) hv[i] = 0;
    for (int i = 0; i < n - 1; i++) {
        double xi = x[i], d = x[i + 1] - xi * xi;
        double si = sin(xi), ci = cos(xi), ex = exp(-xi * xi);
        double s2 = ex * ((4 * xi * xi - 3) * si - 4 * xi * ci);
        double hii = -400 * d + 800 * xi * xi + 2 + s2, hij = -400 * xi, hjj = 200;
        hv[i] += hii * v[i] + hij * v[i + 1];
        hv[i + 1] += hij * v[i] + hjj * v[i + 1];
    }
}

/* The HVP through the engine: f recorded with scalar ops exactly as
 * tape_ratio records it (13 nodes per term), then ag_hvp. */
static void run_tape(void *p) {
    ctx *c = p;
    ag_tape *t = c->tape;
    static ag_tensor *xs[N], *vs[N], *hv[N];
    ag_tape_reset(t);
    for (int i = 0; i < N; i++) {
        xs[i] = ag_requires_grad(t, ag_scalar(t, c->x[i]));
        vs[i] = ag_scalar(t, c->v[i]);
    }
    ag_tensor *sum = rosen_record(t, xs, N);
    c->status = ag_hvp(t, sum, N, xs, vs, hv);
    if (c->status != AG_OK) return;
    for (int i = 0; i < N; i++) c->hv[i] = ag_item(hv[i]);
    bench_sink = c->hv[N / 2];
}

/* The same HVP with f written on 1-D f64 tensors (slices x[:-1], x[1:],
 * elementwise ops, one sum), the form the PyTorch peer times: a like-for-like
 * comparison with it, where run_tape is the scalar tape's figure. */
static void run_tensor(void *p) {
    ctx *c = p;
    ag_tape *t = c->tape;
    ag_tape_reset(t);
    ag_tensor *x = ag_requires_grad(t, ag_tensor_new(t, AG_F64, AG_SHAPE(N), c->x));
    ag_tensor *v = ag_tensor_new(t, AG_F64, AG_SHAPE(N), c->v);
    ag_tensor *xi = ag_slice(t, x, 0, 0, N - 1), *xn = ag_slice(t, x, 0, 1, N);
    ag_tensor *sq = ag_square(t, xi);
    ag_tensor *a = ag_mul_c(t, ag_square(t, ag_sub(t, xn, sq)), 100);
    ag_tensor *b = ag_square(t, ag_rsub_c(t, 1, xi));
    ag_tensor *e = ag_mul(t, ag_sin(t, xi), ag_exp(t, ag_neg(t, sq)));
    ag_tensor *f = ag_sum(t, ag_add(t, ag_add(t, a, b), e), AG_ALL, false);
    ag_tensor *hv = NULL;
    c->status = f ? ag_hvp(t, f, 1, &x, &v, &hv) : ag_tape_status(t);
    if (c->status != AG_OK) return;
    const double *h = ag_data(hv);
    for (int i = 0; i < N; i++) c->hv[i] = h[i];
    bench_sink = c->hv[N / 2];
}

/* Central differences of the hand gradient along v: (g(x + hv) - g(x - hv))
 * / 2h, which is H·v up to O(h^2) and rounding. Returns its rel_diff from
 * `ref`; scratch needs 3n doubles. */
static double fd_check(const double *x, const double *v, const double *ref, double *scratch,
                       int n) {
    double *xp = scratch, *gp = scratch + n, *gm = scratch + 2 * n;
    const double h = 1e-5;
    for (int i = 0; i < n; i++) xp[i] = x[i] + h * v[i];
    rosen_hand(xp, gp, n);
    for (int i = 0; i < n; i++) xp[i] = x[i] - h * v[i];
    rosen_hand(xp, gm, n);
    for (int i = 0; i < n; i++) gp[i] = (gp[i] - gm[i]) / (2 * h);
    return bench_rel_diff(gp, ref, n);
}

void bench_hvp(void) {
    const char *W = "hvp";
    ctx c = {malloc(N * sizeof(double)), malloc(N * sizeof(double)), malloc(N * sizeof(double)),
             ag_tape_new(0), AG_OK};
    double *ref = malloc(N * sizeof(double)), *scratch = malloc(3 * N * sizeof(double));
    if (!c.x || !c.v || !c.hv || !c.tape || !ref || !scratch) {
        fprintf(stderr, "%s: out of memory\n", W);
        return;
    }
    /* x as in tape_ratio (same seed, same range); v uniform in [-1, 1). */
    ag_rng r;
    ag_rng_seed(&r, 42);
    for (int i = 0; i < N; i++) c.x[i] = -1.5 + 3 * ag_rng_uniform(&r);
    ag_rng_seed(&r, 43);
    for (int i = 0; i < N; i++) c.v[i] = 2 * ag_rng_uniform(&r) - 1;

    hvp_hand(c.x, c.v, ref, N);
    double fd = fd_check(c.x, c.v, ref, scratch, N);

    /* Each ratio is the median of per-pair ratios, plain f and the HVP
     * timed interleaved (bench_paired), so a load that comes and goes on a
     * shared machine hits both alike. */
    double t_plain, t_tape, t_plain2, t_tensor;
    double ratio = bench_paired(run_plain, run_tape, &c, 15, 1.0, &t_plain, &t_tape);
    ag_tape_stats st = ag_tape_get_stats(c.tape);

    double rel = bench_rel_diff(c.hv, ref, N);
    bool ok = c.status == AG_OK && rel <= 1e-10;
    bool fd_ok = fd <= 1e-6;
    if (c.status != AG_OK) {
        fprintf(stderr, "%s: hvp failed: %s\n", W, ag_tape_error(c.tape));
        t_tape = ratio = rel = NAN;
    }

    double ratio_t = bench_paired(run_plain, run_tensor, &c, 15, 0.6, &t_plain2, &t_tensor);
    double rel_t = bench_rel_diff(c.hv, ref, N);
    bool ok_t = c.status == AG_OK && rel_t <= 1e-10;
    if (c.status != AG_OK) {
        fprintf(stderr, "%s: tensor hvp failed: %s\n", W, ag_tape_error(c.tape));
        t_tensor = ratio_t = rel_t = NAN;
    }

    bench_peer peer = bench_run_peer(W);
    bench_emit(&peer, &(bench_row){W, "hvp_cost_ratio", ratio, "x", "ratio", NAN,
                                   "tape HVP vs plain C; peer: torch own ratio"});
    /* The peer checks its own H.v against the same hand formula. */
    double peer_rel = NAN;
    char pnote[160] = "peer: 1-D f64 tensors, double backward";
    if (bench_peer_get(&peer, "check_rel", &peer_rel))
        snprintf(pnote, sizeof pnote,
                 "peer: 1-D f64 tensors, double backward (its H.v %s, rel %.1e)",
                 peer_rel <= 1e-10 ? "ok" : "MISMATCH", peer_rel);
    bench_emit(&peer, &(bench_row){W, "hvp_time", t_tape * 1e3, "ms", "hvp_ms", NAN, pnote});
    bench_emit(&peer, &(bench_row){W, "plain_f_time", t_plain * 1e3, "ms", "fwd_ms", NAN,
                                   "peer: torch no-grad forward"});
    bench_emit(&peer, &(bench_row){W, "hvp_rel_diff", rel, "", NULL, 1e-10,
                                   ok ? "ok: tape == hand-derived H.v"
                                      : "MISMATCH vs hand-derived H.v"});
    bench_emit(&peer, &(bench_row){W, "tensor_hvp_cost_ratio", ratio_t, "x", "ratio",
                                   NAN, "1-D f64 tensor ops vs plain C; peer: torch own ratio"});
    bench_emit(&peer, &(bench_row){W, "tensor_hvp_time", t_tensor * 1e3, "ms", "hvp_ms", NAN,
                                   "engine on 1-D tensors; peer: same form"});
    bench_emit(&peer, &(bench_row){W, "tensor_hvp_rel_diff", rel_t, "", NULL, 1e-10,
                                   ok_t ? "ok: tensor form == hand-derived H.v"
                                        : "MISMATCH vs hand-derived H.v"});
    bench_emit(&peer, &(bench_row){W, "hand_vs_fd_rel_diff", fd, "", NULL, 1e-6,
                                   fd_ok ? "ok: hand H.v == central diff of hand gradient"
                                         : "MISMATCH: hand H.v vs central differences"});
    char buf[200];
    snprintf(buf, sizeof buf,
             "none set (report the figure); scalar form: %zu nodes, %.1f MB tape per HVP",
             st.nodes, (double)st.bytes_in_use / 1e6);
    bench_target_line(W, buf);

    ag_tape_free(c.tape);
    free(c.x);
    free(c.v);
    free(c.hv);
    free(ref);
    free(scratch);
}
