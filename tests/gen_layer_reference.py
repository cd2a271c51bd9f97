#!/usr/bin/python3
"""Writes tests/layer_reference.h: PyTorch's outputs and gradients for the
layers of nn/include/tapegrad/nn_layers.h on fixed inputs and weights.

    /usr/bin/python3 tests/gen_layer_reference.py > tests/layer_reference.h

Run once with Debian's python3-torch (1.13); the header is committed and
the C suites assert against it. Every input and weight is the value
fill(i, seed) below at its row-major index i in PyTorch's layout
(tests/nn_check.c computes the same numbers), everything in float64. Each
case's loss is sum(out_k * fill(·, 90 + k)) over its outputs, and the
header holds the outputs, the gradients of that loss with respect to each
input, and those with respect to each parameter, by PyTorch's name and in
PyTorch's layout.
"""
import math
import sys

import torch

torch.set_default_dtype(torch.float64)


def fill(n, seed, scale=1.0):
    """As tu_fill in tests/nn_check.c."""
    return [scale * (0.5 * math.sin(0.731 * i + 1.37 * seed) + 0.25 * math.cos(2.113 * i + 0.5 * seed))
            for i in range(n)]


def tensor(shape, seed, scale=1.0):
    n = math.prod(shape)
    return torch.tensor(fill(n, seed, scale)).reshape(shape).requires_grad_()


def set_params(module, seed0):
    """Parameter k (state_dict order, buffers skipped) gets seed seed0 + k."""
    with torch.no_grad():
        for k, (_, p) in enumerate(module.named_parameters()):
            p.copy_(torch.tensor(fill(p.numel(), seed0 + k, 0.8)).reshape(p.shape))


def c_array(values):
    vals = [float(v) for v in values]
    rows = [", ".join("%.17g" % v for v in vals[i:i + 4]) for i in range(0, len(vals), 4)]
    return "{\n    " + ",\n    ".join(rows) + ",\n}"


CASES = []


def case(name, module, inputs, outputs):
    """inputs: list of (label, tensor); outputs: list of (label, tensor) from
    the forward. Records values and gradients of the weighted-sum loss."""
    loss = sum((o * torch.tensor(fill(o.numel(), 90 + k)).reshape(o.shape)).sum()
               for k, (_, o) in enumerate(outputs))
    params = list(module.named_parameters()) if module is not None else []
    grads = torch.autograd.grad(loss, [x for _, x in inputs] + [p for _, p in params], allow_unused=True)
    CASES.append((name, outputs, [(l, g) for (l, _), g in zip(inputs, grads[:len(inputs)])],
                  [(n, g) for (n, _), g in zip(params, grads[len(inputs):])],
                  [(n, b) for n, b in (module.named_buffers() if module is not None else [])]))


def convolution():
    conv = torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    set_params(conv, 110)
    x = tensor((2, 4, 9), 14)
    case("conv1d", conv, [("x", x)], [("y", conv(x))])
    conv = torch.nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2)
    set_params(conv, 120)
    x = tensor((2, 4, 7, 6), 15)
    case("conv2d", conv, [("x", x)], [("y", conv(x))])
    conv = torch.nn.Conv2d(3, 2, 4, padding="same", bias=False)
    set_params(conv, 130)
    x = tensor((1, 3, 5, 6), 16)
    case("conv2d_same", conv, [("x", x)], [("y", conv(x))])
    x = tensor((2, 3, 6, 7), 17)
    case("max_pool2d", None, [("x", x)], [("y", torch.nn.MaxPool2d(3, stride=2, padding=1)(x))])
    x = tensor((2, 3, 6, 7), 18)
    case("avg_pool2d", None, [("x", x)], [("y", torch.nn.AvgPool2d((2, 3), stride=(2, 1), padding=(1, 1))(x))])


def layer_norm():
    x = tensor((2, 3, 4), 1)
    ln = torch.nn.LayerNorm(4)
    set_params(ln, 10)
    case("layer_norm", ln, [("x", x)], [("y", ln(x))])
    x = tensor((2, 3, 4), 2)
    ln = torch.nn.LayerNorm((3, 4))
    set_params(ln, 20)
    case("layer_norm2", ln, [("x", x)], [("y", ln(x))])


def batch_norm():
    for name, bn, shape in (("batch_norm1d", torch.nn.BatchNorm1d(3), (4, 3, 5)),
                            ("batch_norm1d_2d", torch.nn.BatchNorm1d(3), (6, 3)),
                            ("batch_norm2d", torch.nn.BatchNorm2d(2), (3, 2, 4, 4))):
        set_params(bn, 30)
        x = tensor(shape, 3)
        y = bn(x)  # training: batch statistics, running statistics updated
        x2 = tensor(shape, 4, 2.0)
        bn(x2)     # a second update
        case(name, bn, [("x", x)], [("y", y)])
        bn.eval()
        x3 = tensor(shape, 5)
        case(name + "_eval", bn, [("x", x3)], [("y", bn(x3))])


def embedding():
    emb = torch.nn.Embedding(7, 3)
    set_params(emb, 40)
    idx = torch.tensor([[1, 0, 6], [3, 1, 1]])  # rows repeat: their gradients sum
    case("embedding", emb, [], [("y", emb(idx))])


def recurrent():
    for name, cls in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        rnn = cls(3, 4, batch_first=True)
        set_params(rnn, 50)
        x, h0 = tensor((2, 5, 3), 6), tensor((1, 2, 4), 7)
        if name == "lstm":
            c0 = tensor((1, 2, 4), 8)
            y, (h, c) = rnn(x, (h0, c0))
            case(name, rnn, [("x", x), ("h0", h0), ("c0", c0)], [("y", y), ("h", h), ("c", c)])
        else:
            y, h = rnn(x, h0)
            case(name, rnn, [("x", x), ("h0", h0)], [("y", y), ("h", h)])
    cell = torch.nn.LSTMCell(3, 4)
    set_params(cell, 60)
    x, h0, c0 = tensor((2, 3), 9), tensor((2, 4), 10), tensor((2, 4), 11)
    h, c = cell(x, (h0, c0))
    case("lstm_cell", cell, [("x", x), ("h0", h0), ("c0", c0)], [("h", h), ("c", c)])
    cell = torch.nn.GRUCell(3, 4)
    set_params(cell, 70)
    h = cell(x, h0)
    case("gru_cell", cell, [("x", x), ("h0", h0)], [("h", h)])


def attention():
    T = 5
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    for causal in (False, True):
        mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        set_params(mha, 80)
        x = tensor((2, T, 8), 12)
        y, _ = mha(x, x, x, need_weights=False, attn_mask=mask if causal else None)
        case("mha_causal" if causal else "mha", mha, [("x", x)], [("y", y)])
    blk = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
    set_params(blk, 100)
    x = tensor((2, T, 8), 13)
    case("transformer_block", blk, [("x", x)], [("y", blk(x, src_mask=mask))])


def main():
    convolution()
    layer_norm()
    batch_norm()
    embedding()
    recurrent()
    attention()
    out = sys.stdout
    out.write("/* Generated by tests/gen_layer_reference.py with torch %s: PyTorch's outputs\n"
              " * and gradients for the nn layers on fixed inputs (see the script). Do not\n"
              " * edit. */\n" % torch.__version__.split("+")[0])
    out.write('#include "nn_check.h"\n\n')
    for name, outputs, dins, dparams, buffers in CASES:
        entries = []
        for kind, items in (("out", outputs), ("din", dins), ("dparam", dparams), ("buffer", buffers)):
            for label, t in items:
                var = "%s_%s_%s" % (name, kind, label.replace(".", "_"))
                out.write("static const double %s[] = %s;\n" % (var, c_array(t.detach().reshape(-1).tolist())))
                entries.append('{"%s", "%s", %d, %s}' % (kind, label, t.numel(), var))
        out.write("static const tu_ref ref_%s = {\"%s\", %d, {\n    %s,\n}};\n\n"
                  % (name, name, len(entries), ",\n    ".join(entries)))


if __name__ == "__main__":
    main()
