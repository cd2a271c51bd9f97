#!/usr/bin/env python3
"""tapegrad's .npy and safetensors files against the real peers: NumPy writes
.npy files and this script writes safetensors files by the published format
(https://github.com/huggingface/safetensors, "Format"; plain struct and json,
the safetensors package not being needed), tapegrad reads them; NumPy and
this script read what tapegrad writes; an MLP trained by tapegrad gives the
same loss in PyTorch (where /usr/bin/python3 imports torch, else in NumPy)
and a PyTorch model the same loss in tapegrad, to 1e-6 in f32.

Usage: test_interop.py PATH/TO/interop_peer   (exit 77: skipped, no NumPy)"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("NumPy does not import: skipped (./dev test installs python3-numpy)")
    sys.exit(77)
try:
    import torch
    torch.set_num_threads(1)
except ImportError:
    torch = None

PEER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="tapegrad-interop-")
failures = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def peer(*args, ok=True):
    r = subprocess.run([PEER, *map(str, args)], capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise SystemExit(f"interop_peer {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def path(name):
    return os.path.join(TMP, name)


def parse_dump(text):
    """interop_peer's dumps: 'name dtype dims...' then one value's bits per line."""
    out, lines, i = {}, text.split("\n"), 0
    while i < len(lines) and lines[i]:
        head = lines[i].split()
        name, dt, shape = head[0], head[1], tuple(int(d) for d in head[2:])
        n = int(np.prod(shape)) if shape else 1
        bits = np.array([int(x, 16) for x in lines[i + 1:i + 1 + n]], dtype=np.uint32 if dt == "f32" else np.uint64)
        out[name] = (dt, shape, bits)
        i += 1 + n
    return out


def bits(a):
    a = np.array(a, order="C")
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64).ravel()


def pattern(n, dtype):
    """The values interop_peer writes: -0, inf, nan, the least subnormal, then binary fractions."""
    v = [(i * 37 % 101 - 50) / 8.0 + i * 2.0 ** -20 for i in range(n)]
    special = [-0.0, float("inf"), float("nan"), 2.0 ** -149 if dtype == np.float32 else 2.0 ** -1074]
    v[:4] = special[:min(4, n)]
    return np.array(v, dtype=np.float64).astype(dtype)


# ------------------------------------------------------------------ .npy

def numpy_to_tapegrad():
    rng = np.random.default_rng(1)
    cases = {
        "f32_2x3": np.array([[1.5, -0.0, np.inf], [np.nan, 1e-45, -3.25]], dtype=np.float32),
        "f64_3d": rng.standard_normal((2, 3, 4)),
        "f64_0d": np.float64(np.pi),
        "f32_1d": rng.standard_normal(7).astype(np.float32),
        "f64_empty": np.zeros((0, 3)),
        "f64_6d": rng.standard_normal((1, 2, 1, 3, 1, 2)),
        "f64_bigendian": rng.standard_normal((3, 2)).astype(">f8"),
        "f32_bigendian": rng.standard_normal(5).astype(">f4"),
        "f64_fortran": np.asfortranarray(rng.standard_normal((2, 3, 4))),
        "f32_fortran_2d": np.asfortranarray(rng.standard_normal((3, 5)).astype(np.float32)),
        "f16_every_value": np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16),
        "f16_bigendian": np.array([1, -2, 6e-8, np.inf], dtype=">f2"),
    }
    for name, a in cases.items():
        np.save(path(name + ".npy"), a)
        got = parse_dump(peer("dump-npy", path(name + ".npy")).stdout)["array"]
        want = np.array(a, order="C").astype(np.float32 if a.dtype.itemsize <= 4 else np.float64)
        same = got[1] == want.shape and got[0] == ("f32" if want.dtype == np.float32 else "f64")
        if a.dtype.kind == "f" and a.dtype.itemsize == 2:
            # binary16 -> float exactly; NaNs compared as NaNs (their payload is kept by both, but
            # this checks the values, not NumPy's choice of payload).
            w, g = bits(want), got[2]
            nan = np.isnan(want.ravel())
            same = same and np.array_equal(w[~nan], g[~nan]) and np.all(np.isnan(g[nan].view(np.float32)))
            if name == "f16_every_value":
                check(int(nan.sum()) == 2046 and int((np.abs(want) < 6.1e-5).sum()) >= 2046,
                      "every binary16 value includes its NaNs and subnormals")
        else:
            same = same and np.array_equal(bits(want), got[2])
        check(same, f"NumPy's {name}.npy read by tapegrad bit for bit")
    refused = {
        "i64": (np.arange(3), "dtype '<i8' is not supported"),
        "bool": (np.array([True]), "dtype '|b1'"),
        "complex": (np.zeros(2, np.complex128), "dtype '<c16'"),
        "structured": (np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4")]), "structured dtypes"),
        "seven_dims": (np.zeros((1,) * 7), "more than 6 dimensions"),
    }
    for name, (a, msg) in refused.items():
        np.save(path(name + ".npy"), a)
        r = peer("dump-npy", path(name + ".npy"), ok=False)
        check(r.returncode == 1 and msg in r.stderr, f"{name}.npy refused with '{msg}' (got: {r.stderr.strip()})")


def tapegrad_to_numpy():
    for dt, dims in [("f32", "2x3"), ("f64", "4"), ("f64", "-"), ("f32", "0x3"), ("f64", "1x2x1x2x1x2"),
                     ("f64", "12345")]:
        f = path(f"tg_{dt}_{dims}.npy")
        peer("write-npy", f, dt, dims)
        a = np.load(f)
        shape = () if dims == "-" else tuple(int(d) for d in dims.split("x"))
        want = pattern(int(np.prod(shape)) if shape else 1, np.float32 if dt == "f32" else np.float64)
        check(a.shape == shape and a.dtype == want.dtype and np.array_equal(bits(a), bits(want)),
              f"tapegrad's {dt} {dims} .npy read by NumPy bit for bit")
        # Byte for byte what np.save writes for the same array, header included.
        resaved = path("resaved.npy")
        np.save(resaved, a)
        check(open(f, "rb").read() == open(resaved, "rb").read(), f"tapegrad's {dt} {dims} .npy == np.save's bytes")


# ------------------------------------------------------------ safetensors

ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def write_st(f, tensors, metadata=None):
    """A safetensors file by the format: u64 header size, JSON header, data."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(f, "wb") as out:
        out.write(struct.pack("<Q", len(h)) + h + data)


def read_st(f):
    """Reads and checks a safetensors file against the format's rules."""
    b = open(f, "rb").read()
    (n,) = struct.unpack("<Q", b[:8])
    check(8 + n <= len(b) and b[8:9] == b"{", f"{f}: header size and start")
    text = b[8:8 + n].decode("utf-8")
    check((8 + n) % 8 == 0 and text == text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" "))),
          f"{f}: header padded with spaces to 8 bytes")
    header = json.loads(text)
    meta = header.pop("__metadata__", None)
    check(meta is None or all(isinstance(v, str) for v in meta.values()), f"{f}: metadata strings only")
    data, tensors, spans = b[8 + n:], {}, []
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dt = {"F32": "<f4", "F64": "<f8"}[e["dtype"]]
        a = np.frombuffer(data[begin:end], dtype=dt).reshape(e["shape"])
        check(a.nbytes == end - begin, f"{f}: {name}'s byte range fits its shape")
        tensors[name] = a
        spans.append((begin, end))
    spans.sort()
    pos = 0
    for begin, end in spans:
        check(begin == pos, f"{f}: tensors tile the data without holes or overlaps")
        pos = end
    check(pos == len(data), f"{f}: every data byte belongs to a tensor")
    return meta, tensors


def python_to_tapegrad():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 4)).astype(np.float32)  # PyTorch's (out, in) for a Linear(4, 3)
    b = rng.standard_normal(3).astype(np.float32)
    d = rng.standard_normal((2, 2, 2))
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    bf16 = halves.copy()
    write_st(path("py.safetensors"), [
        ("fc.weight", "F32", w.shape, w.tobytes()), ("fc.bias", "F32", b.shape, b.tobytes()),
        ("d", "F64", d.shape, d.tobytes()), ("s", "F64", (), np.float64(-0.0).tobytes()),
        ("h", "F16", (65536,), halves.tobytes()), ("bf", "BF16", (65536,), bf16.tobytes()),
    ], {"format": "pt"})
    got = parse_dump(peer("dump-st", path("py.safetensors"), "pytorch", "fc.weight:f32:4x3:T", "fc.bias:f32:3",
                          "d:f64:2x2x2", "s:f64:-", "h:f32:65536", "bf:f32:65536").stdout)
    check(np.array_equal(got["fc.weight"][2], bits(w.T)), "a PyTorch (out, in) weight is (in, out) in tapegrad")
    check(np.array_equal(got["fc.bias"][2], bits(b)), "F32 bias bit for bit")
    check(np.array_equal(got["d"][2], bits(d)), "F64 bit for bit")
    check(got["s"][2][0] == 0x8000000000000000, "a 0-d -0.0")
    want16 = halves.view(np.float16).astype(np.float32)
    nan = np.isnan(want16)
    g = got["h"][2]
    check(np.array_equal(bits(want16)[~nan], g[~nan]) and np.all(np.isnan(g[nan].view(np.float32))),
          "every F16 value read as f32 as NumPy converts it")
    check(np.array_equal(got["bf"][2], bf16.astype(np.uint32) << 16), "every BF16 value read as f32 exactly")
    if torch is not None:
        tb = torch.from_numpy(bf16.view(np.int16).copy()).view(torch.bfloat16).float().numpy()
        nan = np.isnan(tb)
        check(np.array_equal(bits(tb)[~nan], got["bf"][2][~nan]), "BF16 as torch's bfloat16.float()")
    # The same file loaded in tapegrad's layout: refused, the metadata says PyTorch.
    r = peer("dump-st", path("py.safetensors"), "tapegrad", "fc.weight:f32:4x3:T", ok=False)
    check(r.returncode == 1 and "NN_LAYOUT_PYTORCH" in r.stderr, "a \"format\": \"pt\" file needs PyTorch's layout")


def tapegrad_to_python():
    specs = ["lin.weight:f32:5x3:T", "lin.bias:f32:3", "emb:f64:2x3x4", "t:f64:-", "none:f32:0x2"]
    for layout in ["tapegrad", "pytorch"]:
        f = path(f"tg_{layout}.safetensors")
        peer("write-st", f, layout, *specs)
        meta, t = read_st(f)
        check(meta == {"format": "pt" if layout == "pytorch" else "tapegrad", "layout": layout,
                       "producer": meta.get("producer", "")} and meta["producer"].startswith("tapegrad "),
              f"{layout}: metadata records format and layout")
        w = pattern(15, np.float32).reshape(5, 3)
        check(np.array_equal(bits(t["lin.weight"]), bits(w.T if layout == "pytorch" else w)),
              f"{layout}: the Linear weight as PyTorch (out, in) / tapegrad (in, out)")
        check(np.array_equal(bits(t["emb"]), bits(pattern(24, np.float64).reshape(2, 3, 4))), f"{layout}: F64 3-d")
        check(t["t"].shape == () and np.array_equal(bits(t["t"]), bits(pattern(1, np.float64))), f"{layout}: 0-d")
        check(t["none"].shape == (0, 2), f"{layout}: an empty tensor keeps its shape")
        # And back: tapegrad reads its own file the same way.
        back = parse_dump(peer("dump-st", f, layout, *specs).stdout)
        check(np.array_equal(back["lin.weight"][2], bits(w)), f"{layout}: round trip")


# -------------------------------------------------------------------- MLP

def forward_numpy(params, x):
    h = x
    for i in (0, 2, 4):
        h = h @ params[f"{i}.weight"].T + params[f"{i}.bias"]
        if i != 4:
            h = np.tanh(h)
    return h


def cross_entropy_numpy(z, y):
    z = z.astype(np.float32)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def torch_model(params=None, seed=0):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8), torch.nn.Tanh(),
                            torch.nn.Linear(8, 3))
    if params is not None:
        m.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()}, strict=True)
    return m


def mlp_tapegrad_to_torch():
    d = path("mlp")
    os.makedirs(d, exist_ok=True)
    loss_tg = float(peer("mlp-train", d).stdout)
    meta, params = read_st(os.path.join(d, "mlp.safetensors"))
    check(sorted(params) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"] and
          params["0.weight"].shape == (16, 4) and meta["format"] == "pt", "PyTorch's names and (out, in) shapes")
    x, y = np.load(os.path.join(d, "x.npy")), np.load(os.path.join(d, "y.npy")).astype(np.int64)
    loss_np = cross_entropy_numpy(forward_numpy(params, x), y)
    print(f"MLP trained in tapegrad: loss {loss_tg:.9g} in tapegrad, {loss_np:.9g} in NumPy (f32)")
    check(abs(loss_np - loss_tg) <= 1e-6, f"NumPy's loss {loss_np} == tapegrad's {loss_tg} to 1e-6")
    check(loss_tg < 0.9, f"the MLP learned something (loss {loss_tg} below chance's 1.0986)")
    if torch is not None:
        m = torch_model(params)
        with torch.no_grad():
            loss_t = float(torch.nn.functional.cross_entropy(m(torch.from_numpy(x)), torch.from_numpy(y)))
        print(f"MLP trained in tapegrad: loss {loss_t:.9g} in PyTorch {torch.__version__}, "
              f"|difference| {abs(loss_t - loss_tg):.2e}")
        check(abs(loss_t - loss_tg) <= 1e-6, f"PyTorch's loss {loss_t} == tapegrad's {loss_tg} to 1e-6")


def mlp_torch_to_tapegrad():
    d = path("mlp")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    if torch is not None:
        m = torch_model(seed=5)
        params = {k: v.detach().numpy() for k, v in m.state_dict().items()}
        with torch.no_grad():
            loss_ref = float(torch.nn.functional.cross_entropy(m(torch.from_numpy(x)), torch.from_numpy(y)))
        who = "PyTorch"
    else:
        sizes = [(16, 4), (8, 16), (3, 8)]
        params = {}
        for i, (o, n) in zip((0, 2, 4), sizes):
            params[f"{i}.weight"] = rng.uniform(-1, 1, (o, n)).astype(np.float32) / np.sqrt(n)
            params[f"{i}.bias"] = rng.uniform(-0.1, 0.1, o).astype(np.float32)
        loss_ref = cross_entropy_numpy(forward_numpy(params, x), y)
        who = "NumPy"
    write_st(os.path.join(d, "torch.safetensors"),
             [(k, "F32", v.shape, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in params.items()],
             {"format": "pt"})
    np.save(os.path.join(d, "x.npy"), x)
    np.save(os.path.join(d, "y.npy"), y.astype(np.float64))
    loss_tg = float(peer("mlp-eval", d).stdout)
    print(f"MLP from {who}: loss {loss_ref:.9g} there, {loss_tg:.9g} in tapegrad, "
          f"|difference| {abs(loss_ref - loss_tg):.2e}")
    check(abs(loss_ref - loss_tg) <= 1e-6, f"{who}'s model: tapegrad's loss {loss_tg} == {loss_ref} to 1e-6")


numpy_to_tapegrad()
tapegrad_to_numpy()
if peer("features").stdout.strip() == "safetensors yes":
    python_to_tapegrad()
    tapegrad_to_python()
    mlp_tapegrad_to_torch()
    mlp_torch_to_tapegrad()
else:
    print("this build has no safetensors (no Jansson): .npy checks only")
print(f"interop: {checks - len(failures)} of {checks} checks passed (NumPy {np.__version__}, "
      f"PyTorch {torch.__version__ if torch else 'not installed'})")
sys.exit(1 if failures else 0)
