#!/usr/bin/env python3
"""Seed inputs for the file readers' fuzz targets, written from the formats'
definitions with the standard library (and NumPy for .npy, when it imports):
one folder per target under OUT (default build-fuzz/seeds). ./dev fuzz
TARGET starts from them and tests/corpus/TARGET; what libFuzzer keeps is
minimised into tests/corpus/TARGET by ./dev fuzz-merge TARGET.

Usage: fuzz_seeds.py [OUT]"""
import io
import json
import os
import struct
import sys
import zlib

out = sys.argv[1] if len(sys.argv) > 1 else "build-fuzz/seeds"


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- nn_load (nn/FORMAT.md): the fuzz store's names, with a flags byte.
def tgp(records):
    body = b""
    for name, dtype, shape, values in records:
        n = name.encode()
        rec = struct.pack("<H", len(n)) + n + bytes([dtype, len(shape)])
        rec += b"".join(struct.pack("<Q", d) for d in shape)
        rec += b"".join(struct.pack("<f" if dtype == 1 else "<d", v) for v in values)
        body += rec + struct.pack("<I", zlib.crc32(rec))
    head = b"TGPARAMS" + struct.pack("<II", 1, len(records)) + body
    return head + struct.pack("<I", zlib.crc32(head))


good = [("w", 1, [2, 2], [1, 2, 3, 4]), ("b", 2, [2], [0.5, -0.5]), ("s", 1, [], [7]), ("e", 2, [0, 3], [])]
for flags in range(4):
    put("load", f"good_{flags}", bytes([flags]) + tgp(good))
put("load", "extra_name", bytes([2]) + tgp(good + [("x", 1, [1], [1])]))
put("load", "wrong_shape", bytes([1]) + tgp([("w", 1, [4], [1, 2, 3, 4])] + good[1:]))
put("load", "duplicate", bytes([1]) + tgp(good + [good[0]]))


# ---- safetensors: the fuzz store (lin.weight (3, 2) f32, lin.bias, d, s, e).
def st(tensors, meta=None, pad=True):
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack(f"<{len(v)}f", *v)


def f64(*v):
    return struct.pack(f"<{len(v)}d", *v)


rest = [("lin.bias", "F32", [2], f32(1, 2)), ("d", "F64", [2, 2], f64(1, 2, 3, 4)), ("s", "F64", [], f64(3)),
        ("e", "F32", [0, 2], b"")]
ours = [("lin.weight", "F32", [3, 2], f32(*range(6)))] + rest
torch = [("lin.weight", "F32", [2, 3], f32(*range(6)))] + rest
put("safetensors", "tapegrad", bytes([0]) + st(ours, {"format": "tapegrad", "layout": "tapegrad"}))
put("safetensors", "pytorch", bytes([1]) + st(torch, {"format": "pt"}))
put("safetensors", "renamed", bytes([5]) + st([("0." + t[0][4:], *t[1:]) if t[0].startswith("lin.") else t
                                              for t in torch], {"layout": "pytorch"}))
put("safetensors", "half", bytes([2]) + st([("lin.weight", "F16", [3, 2], struct.pack("<6H", 0x3c00, 1, 0x7c00,
                                                                                       0xfc00, 0x7e00, 0x8001)),
                                           ("lin.bias", "BF16", [2], struct.pack("<2H", 0x3f80, 0x7fc1))]))
put("safetensors", "no_metadata", bytes([0]) + st(ours, pad=False))
put("safetensors", "unsupported", bytes([2]) + st([("x", "I64", [1], struct.pack("<q", 1))]))


# ---- .npy: NumPy's own files when NumPy imports, else the same by hand.
def npy(descr, shape, data, fortran=False, major=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
    pre = 8 + (2 if major == 1 else 4)
    h = d + " " * (-(pre + len(d) + 1) % 64) + "\n"
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<H" if major == 1 else "<I", len(h)) + h.encode() + data


try:
    import numpy as np

    for name, a in [("f32_2x3", np.arange(6, dtype=np.float32).reshape(2, 3)),
                    ("f64_2x3", np.arange(6, dtype=np.float64).reshape(2, 3)),
                    ("f16_2x3", np.array([[0, 1, np.inf], [-np.inf, np.nan, 6e-8]], dtype=np.float16)),
                    ("be_f8", np.arange(3, dtype=">f8")), ("scalar", np.float64(2.5)),
                    ("fortran", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))),
                    ("empty", np.zeros((0, 3))), ("i8", np.arange(3))]:
        b = io.BytesIO()
        np.save(b, a)
        put("npy", name, b.getvalue())
except ImportError:
    put("npy", "f32_2x3", npy("<f4", [2, 3], f32(*range(6))))
    put("npy", "fortran", npy("<f8", [2, 3], f64(*range(6)), fortran=True))
put("npy", "v2", npy("<f8", [2, 3], f64(*range(6)), major=2))
put("npy", "v3", npy(">f2", [3], struct.pack(">3H", 0x3c00, 1, 0x7c00), major=3))


# ---- IDX: one file per type.
def idx(code, fmt, dims, values):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + \
        b"".join(struct.pack(">" + fmt, v) for v in values)


put("idx", "u8", idx(0x08, "B", [2, 3], range(6)))
put("idx", "i8", idx(0x09, "b", [3], [-1, 0, 1]))
put("idx", "i16", idx(0x0B, "h", [2], [-300, 300]))
put("idx", "i32", idx(0x0C, "i", [1, 2], [-70000, 70000]))
put("idx", "f32", idx(0x0D, "f", [2], [1.5, float("nan")]))
put("idx", "f64", idx(0x0E, "d", [2, 1, 1], [1e300, -0.0]))

# ---- CSV: a flags byte (1: header), then the text.
put("csv", "header", b"\x01a, b ,c\r\n1,2,3\n-4e5, 0x1p3 ,inf\n\n")
put("csv", "plain", b"\x001.5,2\n3,4\n")
put("csv", "ragged", b"\x001,2\n3\n")
put("csv", "text", b"\x011,2\nx,y\n")
print(f"seeds written under {out}/")
