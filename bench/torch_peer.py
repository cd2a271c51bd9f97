#!/usr/bin/env python3
"""PyTorch's side of tapegrad's benchmarks: python3 torch_peer.py WORKLOAD

Runs PyTorch on the same work as the C workload of that name and prints one
JSON object of figures, e.g. {"peer": "torch 1.13.1", "threads": 2,
"us_per_op": 6.4, "cpu_per_wall": 1.9}. With TAPEGRAD_PEER_THREADS=N (set by
bench_run_peer_pinned with OPENBLAS_NUM_THREADS and OMP_NUM_THREADS) torch
runs on N threads. bench/harness.c reads it; any failure here (no torch, an
exception) only leaves the peer columns empty. Timing matches the C side:
one warm-up run, then at least 5 runs and 0.3 s, median of
time.perf_counter (a monotonic clock). torch uses as many threads as this
process may run on (2 on the project's machine kind), like OpenBLAS does
for the C side.
"""
import json
import os
import statistics
import sys
import time

# Workloads measured on one thread: the thread counts of OpenBLAS and OpenMP
# are fixed by the environment before torch loads them, so the process
# starts again with them set (torch.set_num_threads alone leaves OpenBLAS
# its own threads).
ONE_THREAD = {"conv_lenet"}
if len(sys.argv) == 2 and sys.argv[1] in ONE_THREAD and os.environ.get("TAPEGRAD_PEER_PINNED") != "1":
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TAPEGRAD_PEER_PINNED="1")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import torch

# Set by bench_run_peer_pinned (bench/harness.c), which also sets
# OPENBLAS_NUM_THREADS and OMP_NUM_THREADS to it for this process.
PINNED_THREADS = int(os.environ.get("TAPEGRAD_PEER_THREADS", "0") or 0)


def median_time(fn, min_reps=5, min_seconds=0.3):
    fn()  # warm-up
    times = []
    while len(times) < min_reps or sum(times) < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_times(base, fn, min_pairs=15, min_seconds=0.6):
    """As bench_paired in bench/harness.c: base and fn timed interleaved,
    the order alternating, after one warm-up of each. Returns the median
    times of each and the median of the per-pair ratios fn / base."""
    base()
    fn()
    tb, tf = [], []
    while len(tb) < min_pairs or sum(tb) + sum(tf) < min_seconds:
        for measured in ((False, True) if len(tb) % 2 == 0 else (True, False)):
            t0 = time.perf_counter()
            (fn if measured else base)()
            (tf if measured else tb).append(time.perf_counter() - t0)
    ratios = [f / b for b, f in zip(tb, tf)]
    return statistics.median(tb), statistics.median(tf), statistics.median(ratios)


def rosenbrock_like(x):
    """The same f as bench/tape_ratio.c, written the natural PyTorch way:
    1-D f64 tensor ops over all terms at once (vectorised, not scalars)."""
    xi, xn = x[:-1], x[1:]
    sq = xi * xi
    return (100 * (xn - sq) ** 2 + (1 - xi) ** 2 + torch.sin(xi) * torch.exp(-sq)).sum()


def tape_ratio():
    n = 100_000
    g = torch.Generator().manual_seed(42)
    x = (torch.rand(n, generator=g, dtype=torch.float64) * 3 - 1.5).requires_grad_()

    def fwd():
        with torch.no_grad():
            rosenbrock_like(x).item()

    def grad():
        x.grad = None
        rosenbrock_like(x).backward()

    t_fwd, t_grad = median_time(fwd), median_time(grad)
    # ratio: PyTorch's own gradient cost, fwd+bwd over its no-grad forward.
    return {"fwd_ms": t_fwd * 1e3, "grad_ms": t_grad * 1e3, "ratio": t_grad / t_fwd}


def hvp():
    n = 100_000
    g = torch.Generator().manual_seed(42)
    x = (torch.rand(n, generator=g, dtype=torch.float64) * 3 - 1.5).requires_grad_()
    v = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1

    def fwd():
        with torch.no_grad():
            rosenbrock_like(x).item()

    def hv():
        # Double backward: the gradient recorded as a graph, then the
        # gradient of g . v, i.e. H v (the Hessian is never formed).
        (gr,) = torch.autograd.grad(rosenbrock_like(x), x, create_graph=True)
        (out,) = torch.autograd.grad(gr, x, grad_outputs=v)
        return out

    # Check the peer computes the same thing: the tridiagonal Hessian of f
    # by hand, vectorised (as bench/hvp.c derives it).
    out = hv()
    with torch.no_grad():
        xi, xn = x[:-1], x[1:]
        d = xn - xi * xi
        s2 = torch.exp(-xi * xi) * ((4 * xi * xi - 3) * torch.sin(xi) - 4 * xi * torch.cos(xi))
        hii, hij = -400 * d + 800 * xi * xi + 2 + s2, -400 * xi
        ref = torch.zeros(n, dtype=torch.float64)
        ref[:-1] += hii * v[:-1] + hij * v[1:]
        ref[1:] += hij * v[:-1] + 200 * v[1:]
        rel = ((out - ref).abs().max() / ref.abs().max()).item()

    # ratio: PyTorch's own HVP cost over its no-grad forward, timed
    # interleaved as the C side times its ratio.
    t_fwd, t_hvp, ratio = paired_times(fwd, hv)
    return {"fwd_ms": t_fwd * 1e3, "hvp_ms": t_hvp * 1e3, "ratio": ratio, "check_rel": rel}


def tiny_ops():
    h0 = [-0.9, -0.6, -0.3, 0.0, 0.2, 0.5, 0.8, 1.1]  # as bench/tiny_ops.c

    def step():
        leaf = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
        h = leaf
        for _ in range(500):
            h = torch.tanh(h * 1.0001)
        h.sum().backward()

    return {"us_per_op": median_time(step) * 1e6 / 1000}


def matmul():
    out = {}
    for dtype, key in ((torch.float32, "ms_f32"), (torch.float64, "ms_f64")):
        g = torch.Generator().manual_seed(7)
        a = (torch.rand(512, 512, generator=g, dtype=dtype) - 0.5).requires_grad_()
        b = (torch.rand(512, 512, generator=g, dtype=dtype) - 0.5).requires_grad_()

        def step():
            a.grad = None
            b.grad = None
            (a @ b).sum().backward()

        out[key] = median_time(step) * 1e3
    return out


def mlp_step():
    """As bench/mlp_step.c: MLP 784-256-128-10 (relu), batch 128, cross-entropy
    from logits with class indices, SGD lr 0.01; one step = zero-grad,
    forward, loss, backward, update. The batch is fixed, as on the C side."""
    import resource

    out = {}
    threads = torch.get_num_threads()
    configs = ((torch.float32, "ms_f32", threads), (torch.float64, "ms_f64", threads),
               (torch.float32, "ms_f32_1t", 1), (torch.float64, "ms_f64_1t", 1))
    if PINNED_THREADS:  # one thread count, set for every pool before torch loaded
        configs = configs[:2]
    for dtype, key, n in configs:
        torch.set_num_threads(n)
        torch.manual_seed(11)
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 256), torch.nn.ReLU(),
            torch.nn.Linear(256, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 10)).to(dtype)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x = torch.rand(128, 784, dtype=dtype)
        y = torch.randint(0, 10, (128,))

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        out[key] = median_time(step, min_reps=20) * 1e3
    torch.set_num_threads(threads)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _ddp_rank(rank, world, init_path, result_path):
    """One process of ddp_step's peer: mlp_step's model under
    DistributedDataParallel on gloo, pinned like the C ranks (one core, one
    thread), its own fixed batch; rank 0 writes its figures to result_path."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[rank % len(cpus)]})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="file://" + init_path, rank=rank, world_size=world)
    out = {"rank_threads": torch.get_num_threads()}
    for dtype, name in ((torch.float32, "f32"), (torch.float64, "f64")):
        for batch, suffix in ((128, ""), (64, "_half")) if world == 2 else ((128, ""),):
            torch.manual_seed(11)
            model = DistributedDataParallel(torch.nn.Sequential(
                torch.nn.Linear(784, 256), torch.nn.ReLU(),
                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                torch.nn.Linear(128, 10)).to(dtype))
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            g = torch.Generator().manual_seed(100 + rank)
            x = torch.rand(batch, 784, dtype=dtype, generator=g)
            y = torch.randint(0, 10, (batch,), generator=g)
            times = []
            for s in range(-5, 60):  # the same step count on every rank: DDP is collective
                if s == 0:
                    c0, w0 = time.process_time(), time.perf_counter()
                t0 = time.perf_counter()
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
                if s >= 0:
                    times.append(time.perf_counter() - t0)
            cpu_wall = (time.process_time() - c0) / (time.perf_counter() - w0)
            out["ms_%s_%dr%s" % (name, world, suffix)] = statistics.median(times) * 1e3
            if world == 2 and batch == 128:
                out["cpu_wall_2r"] = cpu_wall
        if world == 2:  # gloo's all-reduce of the same bytes, the ranks started together
            flat = torch.zeros(235146, dtype=dtype)
            times = []
            for s in range(60):
                dist.barrier()
                t0 = time.perf_counter()
                dist.all_reduce(flat)
                times.append(time.perf_counter() - t0)
            out["allreduce_ms_" + name] = statistics.median(times) * 1e3
    if rank == 0:
        with open(result_path, "w") as f:
            json.dump(out, f)
    dist.destroy_process_group()


def ddp_step():
    """As bench/ddp_step.c: mlp_step on 1 and 2 processes under
    DistributedDataParallel (gloo), batch 128 per process, and 64 per
    process on 2; gloo's all_reduce of 235146 values; the weak scaling
    efficiency (1-process step / 2-process step)."""
    import tempfile
    import torch.multiprocessing as mp

    os.environ["OMP_NUM_THREADS"] = "1"  # the children's, before they import torch
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for world in (1, 2):
            init, result = os.path.join(tmp, "init%d" % world), os.path.join(tmp, "out%d" % world)
            mp.spawn(_ddp_rank, args=(world, init, result), nprocs=world)
            with open(result) as f:
                out.update(json.load(f))
    for name in ("f32", "f64"):
        out["eff_" + name] = 100 * out["ms_%s_1r" % name] / out["ms_%s_2r" % name]
def cpu_median(fn, min_reps=10, min_seconds=0.3):
    """As cpu_median in bench/f32_math.c: the median CPU time of this
    thread over runs of fn, after a warm-up; the machine's other load does
    not count. Returns it and the process's CPU time over the thread's for
    the runs (1.0 when no other thread of the process worked)."""
    fn()
    times, p0, t0 = [], time.process_time(), time.thread_time()
    while len(times) < min_reps or sum(times) < min_seconds:
        c0 = time.thread_time()
        fn()
        times.append(time.thread_time() - c0)
    ratio = (time.process_time() - p0) / max(time.thread_time() - t0, 1e-12)
    return statistics.median(times), ratio


def f32_math():
    """As bench/f32_math.c: f32 exp, tanh, sigmoid and gelu (exact, erf) on
    10^6 elements in [-4, 4], forward under no_grad and forward + backward
    from a gradient of ones, on one thread (intra-op; elementwise ops use
    no BLAS)."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(1_000_000, generator=g) * 8 - 4).requires_grad_()
    ones = torch.ones(1_000_000)
    fns = {"exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "gelu": torch.nn.functional.gelu}
    out, ratios = {}, []
    for name, f in fns.items():
        def fwd():
            with torch.no_grad():
                f(x)

        def step():
            x.grad = None
            f(x).backward(ones)

        for key, fn in ((name + "_fwd", fwd), (name + "_fwd_bwd", step)):
            t, r = cpu_median(fn)
            out[key] = t * 1e3
            ratios.append(r)
    out["proc_per_thread_cpu"] = max(ratios)
    # tanh and gelu forward + backward on 1 and 2 threads (torch's intra-op
    # pool), wall time, as threads_rows in bench/f32_math.c: alternating
    # blocks at each count, the fastest block median kept.
    for name in ("tanh", "gelu"):
        f = fns[name]

        def step():
            x.grad = None
            f(x).backward(ones)

        best = {1: float("inf"), 2: float("inf")}
        for _ in range(8):
            for n in (1, 2):
                torch.set_num_threads(n)
                best[n] = min(best[n], median_time(step, min_reps=5, min_seconds=0.05))
        out[name + "_fwd_bwd_wall_1t"] = best[1] * 1e3
        out[name + "_fwd_bwd_wall_2t"] = best[2] * 1e3
    torch.set_num_threads(1)
    return out


def conv_lenet():
    """As bench/conv_lenet.c: conv2d 6 5x5 + bias, max_pool 2, conv2d 16 5x5 +
    bias, max_pool 2 on x (64, 1, 28, 28) f32, sum, backward (weights and
    biases only); and the second conv alone on a (64, 6, 12, 12) input. One
    thread (see ONE_THREAD); cpu_per_wall is the process CPU time over wall
    time while timing the whole chain."""
    F = torch.nn.functional
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(64, 1, 28, 28, generator=g)
    h = torch.rand(64, 6, 12, 12, generator=g)
    w1 = ((torch.rand(6, 1, 5, 5, generator=g) - 0.5) * 0.4).requires_grad_()
    b1 = ((torch.rand(6, generator=g) - 0.5) * 0.4).requires_grad_()
    w2 = ((torch.rand(16, 6, 5, 5, generator=g) - 0.5) * 0.4).requires_grad_()
    b2 = ((torch.rand(16, generator=g) - 0.5) * 0.4).requires_grad_()

    def whole():
        for p in (w1, b1, w2, b2):
            p.grad = None
        y = F.max_pool2d(F.conv2d(F.max_pool2d(F.conv2d(x, w1, b1), 2), w2, b2), 2)
        y.sum().backward()

    def conv2():
        w2.grad = None
        b2.grad = None
        F.conv2d(h, w2, b2).sum().backward()

    c0, t0 = time.process_time(), time.perf_counter()
    ms_step = median_time(whole) * 1e3
    cpu = (time.process_time() - c0) / (time.perf_counter() - t0)
    return {"ms_step": ms_step, "ms_conv2": median_time(conv2) * 1e3, "cpu_per_wall": cpu,
            "mkldnn": int(torch.backends.mkldnn.is_available())}


def _train_step(model, loss_of, lr, clip=None):
    """The time (ms) of one training step of model: zero-grad, loss_of(),
    backward, optionally clip the gradients' norm, Adam."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step():
        opt.zero_grad()
        loss_of().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()

    return median_time(step) * 1e3


def cnn_step():
    """As bench/cnn_step.c: the cnn_mnist model (examples/cnn_model.h), f32,
    batch 64, training mode, cross-entropy from logits, Adam lr 2e-3. The
    threads are pinned by bench_run_peer_pinned."""
    nn = torch.nn
    torch.manual_seed(7)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 128), nn.ReLU(), nn.Dropout(0.4), nn.Linear(128, 10))
    x = torch.rand(64, 784)
    y = torch.randint(0, 10, (64,))
    ms = _train_step(model, lambda: nn.functional.cross_entropy(model(x), y), 2e-3)
    return {"ms_step": ms, "mkldnn": int(torch.backends.mkldnn.is_available())}


def lstm_step():
    """As bench/lstm_step.c: Embedding V-32, LSTM 128, Linear 128-V on 32
    windows of 32 characters of GPL-3 (window b: characters 33b .. 33b+32),
    cross-entropy of each next character, gradients clipped to norm 1, Adam
    lr 3e-3. ms_cells: the LSTM as torch.nn.LSTMCell unrolled over the 32
    steps (the model tapegrad records); ms_lstm: torch.nn.LSTM (fused)."""
    nn = torch.nn
    with open("/usr/share/common-licenses/GPL-3", "rb") as f:
        text = f.read()
    vocab = sorted(set(text))
    id_of = {b: i for i, b in enumerate(vocab)}
    B, T, V = 32, 32, len(vocab)
    ids = torch.tensor([id_of[b] for b in text[:B * (T + 1)]]).view(B, T + 1)
    x, nxt = ids[:, :T], ids[:, 1:].reshape(-1)

    class FromCells(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.cell, self.out = nn.Embedding(V, 32), nn.LSTMCell(32, 128), nn.Linear(128, V)

        def forward(self, x):
            e = self.emb(x)
            h = c = torch.zeros(x.shape[0], 128)
            hs = []
            for t in range(x.shape[1]):
                h, c = self.cell(e[:, t], (h, c))
                hs.append(h)
            return self.out(torch.stack(hs, 1))

    class Fused(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm = nn.Embedding(V, 32), nn.LSTM(32, 128, batch_first=True)
            self.out = nn.Linear(128, V)

        def forward(self, x):
            return self.out(self.lstm(self.emb(x))[0])

    out = {"vocab": V}
    for key, cls in (("ms_cells", FromCells), ("ms_lstm", Fused)):
        torch.manual_seed(3)
        m = cls()
        out[key] = _train_step(
            m, lambda: nn.functional.cross_entropy(m(x).reshape(-1, V), nxt), 3e-3, clip=1.0)
    return out


def attention_step():
    """As bench/attention_step.c: one pre-LN transformer block (causal
    self-attention, 4 heads, GELU feed-forward 256) on x (16, 64, 64) f32,
    mean squared error against a fixed target, Adam lr 3e-3. ms_ops: the
    block from torch's ops (Linear, LayerNorm, matmul, softmax, gelu), as
    nn_transformer_block_new composes it; ms_mha: torch.nn.
    TransformerEncoderLayer (norm_first, gelu, dropout 0), whose attention
    is torch.nn.MultiheadAttention."""
    nn, F = torch.nn, torch.nn.functional
    B, T, E, H = 16, 64, 64, 4
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)

    class FromOps(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(E), nn.LayerNorm(E)
            self.in_proj, self.out_proj = nn.Linear(E, 3 * E), nn.Linear(E, E)
            self.linear1, self.linear2 = nn.Linear(E, 256), nn.Linear(256, E)

        def forward(self, x):
            q, k, v = (z.view(B, T, H, E // H).transpose(1, 2)
                       for z in self.in_proj(self.norm1(x)).split(E, dim=-1))
            a = torch.softmax(q @ k.transpose(-2, -1) / (E // H) ** 0.5 + mask, dim=-1) @ v
            x = x + self.out_proj(a.transpose(1, 2).reshape(B, T, E))
            return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))

    g = torch.Generator().manual_seed(9)
    x = torch.rand(B, T, E, generator=g) * 2 - 1
    want = torch.rand(B, T, E, generator=g) * 2 - 1
    torch.manual_seed(9)
    ops = FromOps()
    out = {"ms_ops": _train_step(ops, lambda: F.mse_loss(ops(x), want), 3e-3)}
    torch.manual_seed(9)
    mha = nn.TransformerEncoderLayer(E, H, 256, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=True)
    out["ms_mha"] = _train_step(mha, lambda: F.mse_loss(mha(x, src_mask=mask), want), 3e-3)
    return out


WORKLOADS = {"tape_ratio": tape_ratio, "tiny_ops": tiny_ops, "matmul": matmul, "hvp": hvp,
             "mlp_step": mlp_step, "ddp_step": ddp_step,
             "f32_math": f32_math, "conv_lenet": conv_lenet, "cnn_step": cnn_step,
             "lstm_step": lstm_step, "attention_step": attention_step}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in WORKLOADS:
        print("usage: torch_peer.py {%s}" % "|".join(WORKLOADS), file=sys.stderr)
        return 2
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:
        threads = os.cpu_count() or 1
    if PINNED_THREADS:
        threads = PINNED_THREADS
    torch.set_num_threads(1 if sys.argv[1] in ONE_THREAD else threads)
    c0, w0 = time.process_time(), time.perf_counter()
    figures = WORKLOADS[sys.argv[1]]()
    # How many cores the peer really used while it measured: 1.0 on one
    # thread; more means a pool (OpenBLAS's, OpenMP's) ran beside torch's.
    figures.setdefault("cpu_per_wall", (time.process_time() - c0) / (time.perf_counter() - w0))
    print(json.dumps({"peer": "torch " + torch.__version__.split("+")[0],
                      "threads": torch.get_num_threads(), **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
