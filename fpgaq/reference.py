"""Bit-exact evaluation of a typed :class:`~fpgaq.ir.graph.Graph`.

Every tensor is held as integer mantissas of its FixedType.  Multiply-
accumulates run through float64 BLAS when precision inference has proven
that every partial sum stays below 2**53 (then float64 is exact and fast),
and through int64 or Python integers otherwise: exactness first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from fpgaq.fixed import FixedType, Rounding, apply_overflow, round_divide, round_shift
from fpgaq.hwtypes import ElementTypes
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.opspec import is_average_pool, is_fusable, ops_where

__all__ = [
    "KERNELS",
    "evaluate",
    "exact_input_type",
    "input_mantissas",
    "node_elements",
    "on_element_grids",
    "patches",
    "quantize_elements",
    "run_node",
]

_FLOAT_EXACT_BITS = 52
_INT64_BITS = 62


def _int_array(m: np.ndarray, bits: int) -> np.ndarray:
    if bits > _INT64_BITS:
        return np.asarray(m).astype(object)
    return np.asarray(m).astype(np.int64)


_FLOAT_MODE_BITS = 50  # every mantissa and partial sum below 2**50: hold them as float64


def _shl(m: np.ndarray, shift: int) -> np.ndarray:
    """``m * 2**shift`` for a non-negative shift, on integer or integer-valued float arrays."""
    if shift == 0:
        return m
    return np.ldexp(m, shift) if m.dtype.kind == "f" else m << shift


def _weight_array(weight, like: np.ndarray) -> np.ndarray:
    """A weight's mantissas in the representation of the activations they meet."""
    if like.dtype.kind == "f":
        cached = weight.__dict__.get("_float_mantissa")
        if cached is None or cached[0] is not weight.values:
            cached = (weight.values, np.asarray(weight.mantissa, dtype=np.float64))
            weight.__dict__["_float_mantissa"] = cached
        return cached[1]
    return _int_array(weight.mantissa, weight.type.width)


def _matmul(a: np.ndarray, b: np.ndarray, bound_bits: int) -> np.ndarray:
    """Exact integer ``a @ b`` given that every partial sum fits ``bound_bits`` bits."""
    if a.dtype.kind == "f":  # float mode: the caller guarantees bound_bits <= 50
        return a @ b
    if bound_bits <= _FLOAT_EXACT_BITS and a.dtype != object and b.dtype != object:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    if bound_bits <= _INT64_BITS and a.dtype != object and b.dtype != object:
        return a.astype(np.int64) @ b.astype(np.int64)
    return a.astype(object) @ b.astype(object)


def _align(m: np.ndarray, src: FixedType, frac: int) -> np.ndarray:
    """Mantissas of ``src`` values expressed with ``frac`` fractional bits (frac >= src.frac)."""
    shift = frac - src.frac
    if shift < 0:
        raise ValueError("alignment would drop bits")
    return _shl(m, shift)


# ----------------------------------------------------------------------------- kernels
def patches(x: np.ndarray, node: Node) -> np.ndarray:
    """(N, out..., k..., C) windows of a channels-last input, after zero padding."""
    ks = node.attrs["kernel_size"] if "kernel_size" in node.attrs else node.attrs["pool_size"]
    strides = node.attrs["strides"]
    dil = node.attrs.get("dilation", (1,) * len(ks))
    pads = node.attrs.get("padding", [(0, 0)] * len(ks))
    ndim = len(ks)
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    eff = [(k - 1) * d + 1 for k, d in zip(ks, dil)]
    axes = tuple(range(1, ndim + 1))
    win = np.lib.stride_tricks.sliding_window_view(x, eff, axis=axes)  # (N, S'..., C, eff...)
    sl = [slice(None)] + [slice(None, None, s) for s in strides] + [slice(None)] + [slice(None, None, d) for d in dil]
    win = win[tuple(sl)]
    # -> (N, out..., k..., C)
    order = [0, *range(1, ndim + 1), *range(ndim + 2, 2 * ndim + 2), ndim + 1]
    return np.ascontiguousarray(win.transpose(order))


def _linear(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    """Multiply-accumulate in the exact accumulator type, then the declared accumulator, then the output."""
    kernel = node.weights["kernel"]
    exact_t = node.types["exact"]
    acc_t = node.types["accum"]
    frac = tin.frac + kernel.type.frac
    bias = node.weights.get("bias")
    w = _weight_array(kernel, x)
    bound = exact_t.width + 1
    n = x.shape[0]
    if bound > _INT64_BITS and x.dtype != object:
        x = x.astype(object)
    if node.op == "dense":
        lead = x.shape[1:-1]
        acc = _matmul(x.reshape(-1, x.shape[-1]), w, bound).reshape(n, *lead, w.shape[-1])
    elif node.op in ("conv1d", "conv2d"):
        ndim = len(node.attrs["kernel_size"])
        p = patches(x, node)
        out_sp = p.shape[1 : 1 + ndim]
        acc = _matmul(p.reshape(n * int(np.prod(out_sp)), -1), w.reshape(-1, w.shape[-1]), bound)
        acc = acc.reshape(n, *out_sp, w.shape[-1])
    else:  # depthwise: output channel c * M + m reads input channel c only
        ndim = len(node.attrs["kernel_size"])
        p = patches(x, node)  # (N, out..., k..., C)
        out_sp = p.shape[1 : 1 + ndim]
        c, dm = p.shape[-1], w.shape[-1]
        pk = p.reshape(n * int(np.prod(out_sp)), -1, c)
        wk = w.reshape(-1, c, dm)
        dtype = pk.dtype if pk.dtype.kind == "f" else (np.int64 if bound <= _INT64_BITS else object)
        acc = np.einsum("pkc,kcm->pcm", pk.astype(dtype), wk.astype(dtype)).reshape(n, *out_sp, c * dm)
    if exact_t.frac > frac:
        acc = _shl(acc, exact_t.frac - frac)
    if bias is not None:
        b = _align(_weight_array(bias, acc), bias.type, exact_t.frac)
        if acc.dtype.kind == "f":
            acc += b  # acc is a fresh array: add in place
        else:
            acc = acc + b
    if acc_t != exact_t:
        acc = acc_t.cast(acc, exact_t)
    if "activation" in node.attrs:
        return _fused_activation(node, acc, acc_t, tout)
    return tout.cast(acc, acc_t) if tout != acc_t else acc


def _fused_activation(node: Node, acc: np.ndarray, acc_t: FixedType, tout: FixedType) -> np.ndarray:
    """The activation that ``passes.fuse_activation`` moved into a linear node.

    The accumulator is first cast into the type the linear node's own output
    had (``types["linear_result"]``), then the activation op's own kernel runs
    on a stand-in activation node, so fused and unfused graphs cannot differ.
    """
    pre_t = node.types.get("linear_result") or acc_t
    if pre_t != acc_t:
        acc = pre_t.cast(acc, acc_t)
    view = Node(node.name, "activation", [], node.output, dict(node.attrs["activation"]), source=node.source)
    return KERNELS["activation"](view, [acc], [pre_t], tout)


def _activation(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    fn = node.attrs["function"]
    if fn == "linear":
        return tout.cast(x, tin)
    if fn == "relu":
        if not tout.signed and tout.overflow.value != "WRAP":
            # an unsigned saturating output already sends every negative value to 0
            return tout.cast(x, tin)
        return tout.cast(np.maximum(x, 0), tin)
    if fn == "leaky_relu":
        pos_t, neg_t = node.attrs["positive_type"], node.attrs["negative_type"]
        s = node.attrs["shift"]
        pos = tout.cast(pos_t.cast(np.where(x > 0, x, 0), tin), pos_t)
        shifted = FixedType(tin.width, tin.integer - s, tin.signed)  # same mantissas, value / 2**s
        neg = tout.cast(neg_t.cast(np.where(x < 0, x, 0), shifted), neg_t)
        return np.where(x >= 0, pos, neg)
    if fn in ("hard_sigmoid", "hard_tanh"):
        # QKeras' clip(x/2 + 1/2, 0, 1) and clip(x, -1, 1), exact (with at least one fraction bit for
        # the 1/2, or none for the 1), then the output cast; the clip matters when tout reaches 1.
        sig = fn == "hard_sigmoid"
        up = max(-tin.frac, 0)
        t_exact = FixedType(tin.width + 2 + up, tin.integer + 1 + int(not sig), True)
        m = x if x.dtype.kind == "f" else (x.astype(object) if t_exact.wide else x.astype(np.int64))
        one = 2.0**t_exact.frac if x.dtype.kind == "f" else 1 << t_exact.frac
        if sig:  # x/2 + 1/2: the same mantissa read with one more fraction bit, plus one half
            return tout.cast(np.clip(_shl(m, up) + one // 2, 0, one), t_exact)
        return tout.cast(np.clip(_shl(m, up), -one, one), t_exact)
    raise NotImplementedError(f"node {node.name!r}: activation {fn!r} has no reference kernel yet")


def _pool(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    ndim = len(node.attrs["pool_size"]) if "pool_size" in node.attrs else x.ndim - 2
    if node.op.startswith("global_"):
        axes = tuple(range(1, x.ndim - 1))
        window = x
        area = int(np.prod([x.shape[a] for a in axes]))
    else:
        p = patches(x, node)  # (N, out..., k..., C)
        axes = tuple(range(1 + ndim, 1 + 2 * ndim))
        window = p
        area = int(np.prod(node.attrs["pool_size"]))
    if "maxpool" in node.op:
        return tout.cast(np.max(window, axis=axes), tin)
    as_float = x.dtype.kind == "f"
    total = np.sum(window.astype(object) if tin.wide else window.astype(np.int64), axis=axes)
    # value = total * 2**-fin / area; mantissa in tout = total * 2**(fout - fin) / area
    shift = tout.frac - tin.frac
    num = total << shift if shift >= 0 else total
    den = area if shift >= 0 else area << (-shift)
    q = apply_overflow(round_divide(num, den, tout.rounding), tout)
    return q.astype(np.float64) if as_float else q


def _add(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    frac = max(t.frac for t in tins)
    wide = any(t.wide for t in tins) or tout.wide
    total = None
    for x, t in zip(xs, tins):
        m = _align(x if x.dtype.kind == "f" else (x.astype(object) if wide else x.astype(np.int64)), t, frac)
        total = m if total is None else total + m
    src = FixedType(sum(t.width for t in tins) + frac + 2, sum(t.width for t in tins) + 2)
    return tout.cast(total, src)


def _concatenate(node: Node, xs: list[np.ndarray], tins: list[FixedType], tout: FixedType) -> np.ndarray:
    parts = [tout.cast(x, t) for x, t in zip(xs, tins)]
    return np.concatenate(parts, axis=node.attrs["axis"] + 1)


def node_elements(node: Node) -> ElementTypes:
    """The per-element grids and ranges a ``quantize`` node casts into (its attrs)."""
    a = node.attrs
    return ElementTypes(a["frac"], a["lo"], a["hi"], a["rounding"], a["overflow"])


def quantize_elements(m: np.ndarray, frac: int, elements: ElementTypes) -> np.ndarray:
    """Cast mantissas ``m`` (``frac`` fractional bits; samples first, then the element shape) into each
    element's own grid and range, returned as mantissas of ``elements.container()``.

    Element ``e`` rounds at its own ``frac[e]`` (RND: half up; TRN: floor), then saturates to
    ``[lo[e], hi[e]]`` or wraps into that (two's complement / unsigned) range; the result, exact, is
    shifted onto the container's binary point.  Constant-zero elements give 0.
    """
    as_float = m.dtype.kind == "f"
    x = m.astype(np.int64) if as_float else m
    out_frac = elements.container().frac
    shape = elements.shape
    k = np.broadcast_to(frac - elements.frac, shape)
    rounding = Rounding.parse(elements.rounding)
    q = np.zeros(x.shape, dtype=x.dtype)
    for shift in np.unique(k):
        where = k == shift
        q[:, where] = round_shift(x[:, where], int(shift), rounding)
    lo, hi = elements.lo, elements.hi
    if elements.overflow == "SAT":
        q = np.where(q < lo, lo, np.where(q > hi, hi, q)).astype(x.dtype)
    else:
        span = hi - lo + 1
        q = ((q - lo) % span + lo).astype(x.dtype)
    live = ~((lo == 0) & (hi == 0))
    up = np.where(live, out_frac - elements.frac, 0)
    for shift in np.unique(up):
        where = up == shift
        q[:, where] = q[:, where] << int(shift)
    return q.astype(np.float64) if as_float else q


def exact_input_type(et: ElementTypes) -> FixedType:
    """A type from which casting into ``et`` gives what casting the float itself gives.

    One more fractional bit than the finest element, truncating: flooring at a finer grid cannot
    change a rounding at a coarser one (``floor(floor(y) / 2**k) == floor(y / 2**k)``); one more
    integer bit than the container: the range, saturating or wrapping, is a multiple of every
    element's.  (A learned quantizer after a graph input types the input with it.)
    """
    c = et.container()
    return FixedType(c.width + 2, c.integer + 1, True, "TRN", et.overflow)


def input_mantissas(tensor: Tensor, x: np.ndarray) -> np.ndarray:
    """Mantissas of ``tensor.type`` for float inputs ``x``: what every test bench feeds the design.

    A plain input rounds and bounds into its type.  An input with per-element types (a learned
    quantizer absorbed into it, see :mod:`fpgaq.ir.passes.absorb_input_elements`) casts each
    element into its own grid and range as the removed ``quantize`` node did on the float: the
    float is first floored onto a grid one bit finer than the finest element (exact, see
    :func:`fpgaq.ir.ops.learned.exact_input_type`), then rounded and bounded per element.
    """
    if tensor.elements is None:
        return tensor.type.to_int(x)
    exact = exact_input_type(tensor.elements)
    return quantize_elements(exact.to_int(x), exact.frac, tensor.elements)


def graph_input_mantissas(graph: Graph, x: Any) -> list[np.ndarray]:
    """:func:`input_mantissas` of each graph input, for one array or a list of them (one per input)."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(graph.inputs):
        raise ValueError(f"design {graph.name!r} has {len(graph.inputs)} inputs, got {len(xs)} arrays")
    return [input_mantissas(graph.tensors[t], np.asarray(v, dtype=np.float64)) for t, v in zip(graph.inputs, xs)]


def on_element_grids(tensor: Tensor, m: np.ndarray) -> np.ndarray:
    """Mantissas ``m`` of ``tensor.type`` moved onto each element's grid and range (unchanged without
    ``elements``): the codes a per-element input port can carry (random test vectors start anywhere)."""
    if tensor.elements is None:
        return m
    return quantize_elements(np.asarray(m), tensor.type.frac, tensor.elements)


def _quantize(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    elements = node_elements(node)
    if tout != elements.container().replace(rounding=tout.rounding, overflow=tout.overflow):
        raise ValueError(f"{node.where()}: output type {tout} is not the container of its elements")
    return quantize_elements(x, tin.frac, elements)


_Kernel = Callable[[Node, list[np.ndarray], list[FixedType], FixedType], np.ndarray]


def _single(fn: Callable[[Node, np.ndarray, FixedType, FixedType], np.ndarray]) -> _Kernel:
    return lambda node, xs, tins, tout: fn(node, xs[0], tins[0], tout)


def _reshape(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    return tout.cast(x.reshape(x.shape[0], *node.attrs["shape"]), tin)


def _zeropad(node: Node, x: np.ndarray, tin: FixedType, tout: FixedType) -> np.ndarray:
    return tout.cast(np.pad(x, [(0, 0), *node.attrs["padding"], (0, 0)]), tin)


#: op -> its kernel; op modules (fpgaq.ir.ops) add theirs.  The linear layers whose kernel reads as
#: (fan-in, channel) columns share one (conv2d_transpose has its own, in fpgaq.ir.ops.transpose).
KERNELS: dict[str, _Kernel] = {
    **dict.fromkeys(ops_where(is_fusable), _single(_linear)),
    "activation": _single(_activation),
    "maxpool1d": _single(_pool),
    "maxpool2d": _single(_pool),
    "avgpool1d": _single(_pool),
    "avgpool2d": _single(_pool),
    "global_maxpool1d": _single(_pool),
    "global_maxpool2d": _single(_pool),
    "global_avgpool1d": _single(_pool),
    "global_avgpool2d": _single(_pool),
    "add": _add,
    "concatenate": _concatenate,
    "reshape": _single(_reshape),
    "identity": _single(lambda node, x, tin, tout: tout.cast(x, tin)),
    "quantize": _single(_quantize),
    "zeropad1d": _single(_zeropad),
    "zeropad2d": _single(_zeropad),
}


def run_node(graph: Graph, node: Node, values: dict[str, np.ndarray]) -> np.ndarray:
    kernel = KERNELS.get(node.op)
    if kernel is None:
        raise NotImplementedError(f"node {node.name!r}: op {node.op!r} has no reference kernel")
    tins = [graph.tensors[t].type for t in node.inputs]
    tout = graph.tensors[node.output].type
    return kernel(node, [values[t] for t in node.inputs], tins, tout)


def _fits_float_mode(graph: Graph) -> bool:
    """Whether every value the graph forms stays below 2**50, so float64 holds it exactly.

    Exact accumulator widths bound every partial sum (precision inference
    sizes them from the weights), tensor types bound everything else.
    """
    widths = [t.type.width + 2 for t in graph.tensors.values() if t.type is not None]
    for node in graph.nodes:
        widths += [t.width + 2 for t in node.types.values() if isinstance(t, FixedType)]
        widths += [w.type.width for w in node.weights.values()]
        if is_average_pool(node.op):
            widths.append(graph.tensors[node.inputs[0]].type.width + 2 + 20)  # window sums
    return bool(widths) and max(widths) <= _FLOAT_MODE_BITS


_CHUNK = 2048  # samples per pass in float mode: keeps each layer's intermediates in cache


def evaluate(graph: Graph, inputs: list[np.ndarray], keep: bool = False) -> dict[str, np.ndarray]:
    """Mantissas of every graph output (or of every tensor with ``keep``) for float inputs."""
    n = len(inputs[0]) if inputs else 0
    # The layers' matrices are small: BLAS threads cost more in start-up and
    # contention than they gain, so the reference runs single-threaded.
    with threadpool_limits(1, user_api="blas"):
        if not keep and n > _CHUNK and _fits_float_mode(graph):
            parts = [_evaluate(graph, [x[i : i + _CHUNK] for x in inputs], False) for i in range(0, n, _CHUNK)]
            return {t: np.concatenate([p[t] for p in parts]) for t in graph.outputs}
        return _evaluate(graph, inputs, keep)


def _evaluate(graph: Graph, inputs: list[np.ndarray], keep: bool) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    float_mode = _fits_float_mode(graph)
    for name, x in zip(graph.inputs, inputs):
        t = graph.tensors[name].type
        expected = graph.tensors[name].shape
        x = np.asarray(x)
        if tuple(x.shape[1:]) != tuple(expected):
            raise ValueError(f"input {name!r}: expected samples of shape {expected}, got {tuple(x.shape[1:])}")
        values[name] = input_mantissas(graph.tensors[name], x)
        if float_mode:
            values[name] = values[name].astype(np.float64)
    needed: dict[str, int] = {}
    for node in graph.nodes:
        for t in node.inputs:
            needed[t] = needed.get(t, 0) + 1
    for node in graph.nodes:
        if node.op == "input":
            continue
        values[node.output] = run_node(graph, node, values)
        if not keep:
            for t in node.inputs:
                needed[t] -= 1
                if needed[t] == 0 and t not in graph.outputs:
                    del values[t]
    return values if keep else {t: values[t] for t in graph.outputs}
