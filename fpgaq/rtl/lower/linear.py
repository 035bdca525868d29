"""RTL lowering of the linear ops: dense, convolutions, depthwise, transposed convolution and scale.

Each output element is a dot product of input signals with constant weight
mantissas, computed exactly as :func:`fpgaq.reference._linear` does: the
exact sum (products with ``tin.frac + kernel.frac`` fractional bits, the bias
aligned to the exact accumulator's binary point), then the declared
accumulator type, then the fused activation (after a cast into
``types["linear_result"]``) or the output type.

Everything is fully parallel: a convolution gets hardware for every output
position, and taps that fall on zero padding are constants zero, which
vanish.  Products by constants are built by :mod:`fpgaq.rtl.csd` (zero
weights vanish, powers of two are wiring, odd multiples of an input are
shared by the whole layer, one signed adder tree per output) or, with
``Multiplier: dsp`` (or ``auto`` for weights with many CSD digits), as
``*`` by a constant.  A layer with ``ReuseFactor > 1`` is folded in time by
:mod:`fpgaq.rtl.fold`.
"""

from __future__ import annotations

import numpy as np

from fpgaq.config import ADDERS, MULTIPLIERS
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.opspec import is_linear, ops_where
from fpgaq.reference import patches  # the reference's own window indexing: same taps, same padding
from fpgaq.rtl.csd import adder_bits, layer_terms, signed_sum
from fpgaq.rtl.fold import folded_dot_products
from fpgaq.rtl.lower.activations import apply_activation
from fpgaq.rtl.lower.blocks import on_binary_point
from fpgaq.rtl.lower.registry import RtlLoweringError, lowering
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["dot_products", "linear_taps"]

Tap = tuple[Signal | None, int]  # (input signal, or None on zero padding; weight mantissa)


def _index_windows(node: Node, in_shape: tuple[int, ...]) -> np.ndarray:
    """``(positions, k..., C)`` flat input indices of every window, -1 on zero padding."""
    idx = np.arange(1, int(np.prod(in_shape)) + 1, dtype=np.int64).reshape(1, *in_shape)
    win = patches(idx, node)[0]
    ndim = len(node.attrs["kernel_size"])
    positions = int(np.prod(win.shape[:ndim]))
    return win.reshape(positions, *win.shape[ndim:]) - 1


def linear_taps(node: Node, graph: Graph, xs: list[Signal]) -> list[list[Tap]]:
    """For every output element (C order), its taps: (input signal or None, weight mantissa).

    Outputs that read the same inputs list them in the same tap order, which
    is what lets a folded layer share its input multiplexers.
    """
    w = np.asarray(node.weights["kernel"].mantissa)
    in_shape = graph.tensors[node.inputs[0]].shape
    sig = [*xs]

    def at(i: int) -> Signal | None:
        return None if i < 0 else sig[i]

    if node.op == "dense":
        n_in = w.shape[0]
        w2 = w.reshape(n_in, -1)
        out = []
        for lead in range(len(xs) // n_in):
            row = xs[lead * n_in : (lead + 1) * n_in]
            out += [[(row[i], int(w2[i, j])) for i in range(n_in)] for j in range(w2.shape[1])]
        return out
    if node.op in ("conv1d", "conv2d"):
        win = _index_windows(node, in_shape)
        taps = win.reshape(win.shape[0], -1)
        w2 = w.reshape(-1, w.shape[-1])
        return [[(at(int(i)), int(w2[t, f])) for t, i in enumerate(row)] for row in taps for f in range(w2.shape[1])]
    if node.op in ("depthwise1d", "depthwise2d"):
        win = _index_windows(node, in_shape)  # (P, k..., C)
        chans, mult = w.shape[-2], w.shape[-1]
        taps = win.reshape(win.shape[0], -1, chans)
        w3 = w.reshape(-1, chans, mult)
        return [
            [(at(int(i)), int(w3[t, c, m])) for t, i in enumerate(row[:, c])]
            for row in taps
            for c in range(chans)
            for m in range(mult)
        ]
    if node.op == "conv2d_transpose":
        return _transpose_taps(node, in_shape, w, xs)
    raise RtlLoweringError(f"{node.where(with_op=True)}: not a linear op")  # pragma: no cover - registry decides


def _transpose_taps(node: Node, in_shape: tuple[int, ...], w: np.ndarray, xs: list[Signal]) -> list[list[Tap]]:
    """out[i*stride + t*dilation - offset] += x[i] * kernel[t]; kernel (kh, kw, F, C)."""
    h, wd, c = in_shape
    (kh, kw), (sh, sw), (dh, dw) = node.attrs["kernel_size"], node.attrs["strides"], node.attrs["dilation"]
    oh, ow = node.attrs["offset"]
    out_h, out_w = node.attrs["output_size"]
    filters = w.shape[2]
    out: list[list[Tap]] = [[] for _ in range(out_h * out_w * filters)]
    for i in range(h):
        for j in range(wd):
            for ti in range(kh):
                for tj in range(kw):
                    r, q = i * sh + ti * dh - oh, j * sw + tj * dw - ow
                    if not (0 <= r < out_h and 0 <= q < out_w):
                        continue
                    for f in range(filters):
                        base = (r * out_w + q) * filters + f
                        out[base] += [(xs[(i * wd + j) * c + ch], int(w[ti, tj, f, ch])) for ch in range(c)]
    return out


def _choice(node: Node, key: str, setting: str, default: str, choices: tuple[str, ...]) -> str:
    """A node's implementation option among ``choices`` (the config checks them; hand-built graphs get here too)."""
    style = str(node.options.get(key, default)).lower()
    if style not in choices:
        raise RtlLoweringError(
            f"{node.where(with_op=True)}: {setting} {style!r} is not supported; choose one of {', '.join(choices)}"
        )
    return style


def _multiplier(node: Node) -> str:
    return _choice(node, "multiplier", "Multiplier", "auto", MULTIPLIERS)


def _adders(node: Node) -> str:
    return _choice(node, "adders", "Adders", "binary", ADDERS)


def dot_products(
    net: Netlist,
    taps: list[list[Tap]],
    kfrac: int,
    multiplier: str,
    share: bool | None = None,
    pairs: bool = True,
    adders: str = "binary",
) -> list[Signal]:
    """Fully parallel sums of ``x * w`` per output (binary point ``x.frac + kfrac`` or coarser).

    Products are CSD digits or shared odd multiples of each input, then two-term patterns common
    to several outputs are shared (:func:`fpgaq.rtl.csd.layer_terms`).  Which of the two starting
    points costs fewer adder bits depends on the weights (digits win on wide inputs, odd multiples
    on narrow ones), so unless ``share`` forces one, both are built and the cheaper one is kept;
    the other becomes dead logic that the netlist drops.  ``pairs=False`` turns pattern sharing off
    (for measurements).  ``adders`` is :func:`fpgaq.rtl.csd.signed_sum`'s tree: ``binary`` or ``ternary``.
    """
    products = [[(x, w) for x, w in row if x is not None and w != 0] for row in taps]

    def build(option: bool) -> list[Signal]:
        terms = layer_terms(net, products, kfrac, multiplier, option, pairs)
        return [signed_sum(net, t, adders=adders) for t in terms]

    if share is not None:
        return build(share)
    mark = len(net.ops)
    candidates = [build(False), build(True)]
    costs = [adder_bits(net, sums, since=mark) for sums in candidates]
    return candidates[costs.index(min(costs))]


def _bias(node: Node, key: str, n_out: int) -> list[int] | None:
    b = node.weights.get(key)
    if b is None:
        return None
    m = np.asarray(b.mantissa).reshape(-1)
    return [int(m[i % len(m)]) for i in range(n_out)]


def finish(
    net: Netlist, node: Node, sums: list[Signal], bias: list[int] | None, bias_frac: int, tout: FixedType
) -> list[Signal]:
    """Exact sum + bias -> declared accumulator -> fused activation or output type."""
    acc_t = node.types["accum"]
    accs = []
    for s, b in zip(sums, bias or [0] * len(sums)):
        total = net.add(s, net.const(b, bias_frac)) if b else s
        accs.append(net.cast(total, acc_t))
    if "activation" not in node.attrs:
        return [net.cast(a, tout) for a in accs]
    pre_t = node.types.get("linear_result") or acc_t
    pre = [net.cast(a, pre_t) for a in accs]
    where = node.where(with_op=True)
    return apply_activation(
        net, node.attrs["activation"], pre, pre_t, tout, types=node.types, options=node.options, where=where
    )


def _reuse(node: Node) -> int:
    return max(1, int(node.options.get("reuse_factor", 1) or 1))


@lowering(*ops_where(is_linear), own_binary_points=True)
def _linear(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    tout = graph.tensors[node.output].type
    kernel = node.weights["kernel"]
    reuse = _reuse(node)
    xs = inputs[0]
    if reuse > 1:  # folded products share multiplexed operands: one binary point
        xs = on_binary_point(net, xs, graph.tensors[node.inputs[0]].type)
    taps = linear_taps(node, graph, xs)
    kfrac = kernel.type.frac
    multiplier = _multiplier(node)
    if reuse > 1:
        sums = folded_dot_products(net, taps, kfrac, multiplier, reuse, adders=_adders(node))
    else:
        sums = dot_products(net, taps, kfrac, multiplier, adders=_adders(node))
    bias = node.weights.get("bias")
    return finish(net, node, sums, _bias(node, "bias", len(sums)), bias.type.frac if bias else 0, tout)


@lowering("scale")
def _scale(net: Netlist, node: Node, graph: Graph, inputs: list[list[Signal]]) -> list[Signal]:
    """Per-channel ``x * scale + shift``: one constant product per element (ReuseFactor does not apply)."""
    tout = graph.tensors[node.output].type
    s, b = node.weights["scale"], node.weights["shift"]
    sm = np.asarray(s.mantissa).reshape(-1)
    xs = inputs[0]
    chans = graph.tensors[node.inputs[0]].shape[-1] if graph.tensors[node.inputs[0]].shape else 1
    taps = [[(x, int(sm[(e % chans) % len(sm)]))] for e, x in enumerate(xs)]
    sums = dot_products(net, taps, s.type.frac, _multiplier(node), adders=_adders(node))
    bm = np.asarray(b.mantissa).reshape(-1)
    bias = [int(bm[(e % chans) % len(bm)]) for e in range(len(xs))]
    return finish(net, node, sums, bias, b.type.frac, tout)
