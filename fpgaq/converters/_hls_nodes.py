"""Per-node template contexts for the HLS back end (io_parallel and io_stream).

Each IR op maps to one kernel of ``templates/hls/include/fpgaq_layers.h``.
This module only gathers what the kernel's config struct needs: the IR's
types (tensor types, ``types["exact"]``, ``types["accum"]``, table types,
weight types), shapes, and exact integer constants.  A few *helper* types
appear that the IR does not name, each a pure re-expression of an IR step
that cannot change a number (documented where it is made): the index types
of the table lookups, the product type of softmax, the window-sum type of
average pooling and a 1-bit zero bias for layers without one.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import numpy as np

from fpgaq.errors import FpgaqError
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.ops import tables
from fpgaq.ir.opspec import is_linear, ops_where
from fpgaq.ir.precision import range_type
from fpgaq.reference import node_elements

__all__ = ["BUILDERS", "IO_TYPES", "STREAM_KERNELS", "HlsError", "NodeSpec", "WeightArray", "node_spec", "tensor_alias"]

IO_TYPES = ("io_parallel", "io_stream")
_INT64_SAFE = 61
_ZERO_BIAS = FixedType(1, 1, False)


#: Member typedef names of the kernels' config structs; a tensor type must not be spelled like one.
_MEMBERS = frozenset(
    f"{m}_t"
    for m in (
        *("in", "in0", "in1", "in2", "out", "weight", "bias", "exact", "accum", "pre", "table", "recip", "index"),
        *("exp_sum", "prod", "sum", "mult", "scale", "shift", "positive", "negative", "shifted"),
    )
)


def tensor_alias(cname: str) -> str:
    """The typedef of a tensor: ``<name>_t`` (``<name>_tensor_t`` where that is a config member's name)."""
    alias = f"{cname}_t"
    return f"{cname}_tensor_t" if alias in _MEMBERS else alias


class HlsError(FpgaqError, ValueError):
    """A node the HLS back end cannot render; the message names the node, the setting and the fix."""


@dataclasses.dataclass
class WeightArray:
    """A constant array in firmware/weights/: fixed-point values, or plain integers (``ctype``)."""

    name: str
    size: int
    values: list[str]
    type_alias: str | None = None
    ctype: str | None = None


@dataclasses.dataclass
class NodeSpec:
    """What the templates need to spell one node: types, config struct, weights and the kernel call."""

    name: str  # C identifier of the node
    node: str  # IR node name
    op: str
    kernel: str  # C++ function in namespace fpgaq, with the config struct as template argument
    types: list[tuple[str, FixedType]]  # typedefs this node introduces (alias, type)
    members: list[tuple[str, str]]  # config struct typedef members (member, alias)
    constants: list[tuple[str, int]]  # config struct integer constants
    flags: list[tuple[str, bool]]  # config struct bool constants
    activation: tuple[str, list[str]] | None  # (functor, type aliases) or None
    weights: list[WeightArray]
    inputs: list[str]  # C names of the input arrays
    output: str  # C name of the output array
    extra_args: list[str]  # weight array names after the data arguments
    template_args: list[str] = dataclasses.field(default_factory=list)  # for concat parts: extra template args
    parts: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # concatenate: one call per input


def fixed_literal(value: float) -> str:
    """An exact C++ literal: ``repr`` of a float64 that holds a dyadic value exactly round-trips."""
    text = repr(float(value))
    return text if any(c in text for c in ".en") else text + ".0"


def _weight_values(values: np.ndarray, t: FixedType, where: str) -> list[str]:
    if t.width > 53:
        raise HlsError(
            f"{where}: constants of type {t.ap_fixed()} have {t.width} bits, more than a C++ double literal holds "
            "exactly; use a quantizer of at most 53 bits"
        )
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return [fixed_literal(v) for v in flat]


def _ints(values: list[int], where: str) -> list[str]:
    for v in values:
        if abs(int(v)) >= 1 << _INT64_SAFE:
            raise HlsError(f"{where}: the constant {v} does not fit 62 bits; use narrower types for this layer")
    return [f"{int(v)}LL" for v in values]


def _spatial(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of a channels-last tensor; 1-D tensors have height 1."""
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    raise HlsError(f"a tensor of shape {shape} is not a 1-D or 2-D channels-last feature map")


def _pair(values: tuple[int, ...] | list[Any], fill: Any) -> tuple[Any, Any]:
    vals = list(values)
    return (fill, vals[0]) if len(vals) == 1 else (vals[0], vals[1])


class _Builder:
    """Collects one node's spec; ``alias`` names every type after the node."""

    def __init__(self, graph: Graph, node: Node, names: dict[str, str]) -> None:
        self.graph, self.node, self.names = graph, node, names
        self.cname = names[node.name]
        self.types: list[tuple[str, FixedType]] = []
        self.members: list[tuple[str, str]] = []
        self.constants: list[tuple[str, int]] = []
        self.flags: list[tuple[str, bool]] = []
        self.weights: list[WeightArray] = []
        self.activation: tuple[str, list[str]] | None = None
        self.extra_args: list[str] = []
        tin = [graph.tensors[t] for t in node.inputs]
        self.tins = tin
        self.tout = graph.tensors[node.output]

    def tensor_alias(self, tensor: str) -> str:
        return tensor_alias(self.names[tensor])

    def member(self, member: str, alias: str) -> None:
        self.members.append((member, alias))

    def own_type(self, role: str, t: FixedType, member: str | None = None) -> str:
        alias = f"{self.cname}_{role}_t"
        self.types.append((alias, t))
        self.member(member or f"{role}_t", alias)
        return alias

    def const(self, name: str, value: int) -> None:
        self.constants.append((name, int(value)))

    def consts(self, **values: int) -> None:
        """Several constants, in the order given (the config struct's order)."""
        for name, value in values.items():
            self.const(name, value)

    def flag(self, name: str, value: bool) -> None:
        self.flags.append((name, bool(value)))

    def io(self) -> None:
        self.member("in_t", self.tensor_alias(self.node.inputs[0]))
        self.member("out_t", self.tensor_alias(self.node.output))

    def fixed_array(self, role: str, values: np.ndarray, t: FixedType, member: str | None = None) -> str:
        alias = self.own_type(role, t, member)
        name = f"w_{self.cname}_{role}"
        vals = _weight_values(values, t, self.node.where())
        self.weights.append(WeightArray(name, len(vals), vals, type_alias=alias))
        self.extra_args.append(name)
        return name

    def int_array(self, role: str, values: list[int]) -> str:
        name = f"w_{self.cname}_{role}"
        vals = _ints(values, self.node.where()) or ["0LL"]
        self.weights.append(WeightArray(name, len(vals), vals, ctype="long long"))
        self.extra_args.append(name)
        return name

    def spec(self, kernel: str, **kw: Any) -> NodeSpec:
        return NodeSpec(
            name=self.cname,
            node=self.node.name,
            op=self.node.op,
            kernel=kernel,
            types=self.types,
            members=self.members,
            constants=self.constants,
            flags=self.flags,
            activation=self.activation,
            weights=self.weights,
            inputs=[self.names[t] for t in self.node.inputs],
            output=self.names[self.node.output],
            extra_args=self.extra_args,
            **kw,
        )


# ----------------------------------------------------------------------------- activations
def _activation_functor(b: _Builder, attrs: dict[str, Any], tin_alias: str, tin: FixedType) -> tuple[str, list[str]]:
    """The functor for an element-wise activation (standalone or fused into a linear node)."""
    fn = attrs.get("function")
    out = b.tensor_alias(b.node.output)
    if fn == "linear":
        return "act_linear", [tin_alias, out]
    if fn == "relu":
        return "act_relu", [tin_alias, out]
    if fn == "hard_sigmoid":
        return "act_hard_sigmoid", [tin_alias, out]
    if fn == "hard_tanh":
        return "act_hard_tanh", [tin_alias, out]
    if fn == "leaky_relu":
        shift = int(attrs["shift"])
        pos = b.own_type("positive", attrs["positive_type"])
        neg = b.own_type("negative", attrs["negative_type"])
        # the same mantissas read with `shift` more fraction bits: x * 2**-shift, as the reference does
        shifted = b.own_type("shifted", FixedType(tin.width, tin.integer - shift, tin.signed))
        return "act_leaky_relu", [tin_alias, out, pos, neg, shifted]
    raise HlsError(
        f"{b.node.where()}: activation {fn!r} has no HLS kernel; supported: linear, relu, leaky_relu, "
        "hard_sigmoid, hard_tanh, sigmoid, tanh (tables) and softmax"
    )


def _activation(b: _Builder) -> NodeSpec:
    fn = b.node.attrs.get("function")
    b.io()
    b.const("n_elem", b.tout.size)
    if fn in tables.TABLE_FUNCTIONS:
        return _table_activation(b, fn)
    tin = b.tins[0]
    b.activation = _activation_functor(b, b.node.attrs, b.tensor_alias(b.node.inputs[0]), tin.type)
    return b.spec("activation")


def _table_step(size: int, lo: Fraction, hi: Fraction) -> int:
    """``k`` with ``N / (hi - lo) == 2**k`` (fpgaq.ir.ops.tables, step 1)."""
    ratio = Fraction(size) / (hi - lo)
    k = ratio.numerator.bit_length() - ratio.denominator.bit_length()
    if Fraction(2) ** k != ratio:
        raise HlsError(f"table of {size} entries over [{lo}, {hi}) is not indexed by a shift")
    return k


def _table_activation(b: _Builder, fn: str) -> NodeSpec:
    node = b.node
    size, table_t = int(node.attrs["table_size"]), node.types["table"]
    lo, hi = (Fraction(v) for v in node.attrs.get("table_range", tables.TABLE_RANGES[fn]))
    k = _table_step(size, lo, hi)
    entries = tables.function_table(fn, size, table_t, (lo, hi))
    # index_t: floor(x * 2**k) (truncation at k fraction bits), saturating well outside
    # [lo, hi), where the clamp to [0, N - 1] gives the same index as the exact value.
    integer = max(math.ceil(abs(lo)).bit_length(), math.ceil(abs(hi)).bit_length()) + 2
    b.own_type("index", FixedType(integer + k, integer, True, Rounding.TRN, Overflow.SAT))
    b.const("offset", int(-lo * 2**k))
    b.const("table_size", size)
    b.fixed_array("table", table_t.from_int(entries), table_t)
    return b.spec("table_activation")


def _softmax(b: _Builder) -> NodeSpec:
    node = b.node
    size, table_t = int(node.attrs["table_size"]), node.types["table"]
    lo, hi = (Fraction(v) for v in node.attrs.get("table_range", (-tables.SOFTMAX_EXP_RANGE, 0)))
    k = _table_step(size, lo, hi)
    n = size.bit_length() - 1
    recip_t, sum_t = node.types["reciprocal"], node.types["exp_sum"]
    if sum_t.width > _INT64_SAFE:
        raise HlsError(
            f"{node.where()}: the softmax sum type {sum_t.ap_fixed()} is wider than 61 bits; use a narrower "
            "TablePrecision for this layer"
        )
    entries = tables.exp_table(size, table_t, -lo)
    recips = tables.reciprocal_table(size, recip_t)
    shape = b.tout.shape
    b.io()
    b.const("n_elem", shape[-1])
    b.const("n_rows", b.tout.size // shape[-1])
    b.const("table_size", size)
    b.const("table_bits", n)
    # index_t: (max - x) rounded half up to k fraction bits (RND), saturating at 2N - 1,
    # which the clamp to N - 1 maps to the last entry as the reference does.
    b.own_type("index", FixedType(n + 1, n + 1 - k, False, Rounding.RND, Overflow.SAT))
    b.own_type("exp_sum", sum_t)
    b.const("exp_sum_width", sum_t.width)
    # prod_t holds e_j * R[r] exactly (width and integer bits of a product of the two types)
    prod = FixedType(table_t.width + recip_t.width, table_t.integer + recip_t.integer, table_t.signed)
    b.own_type("prod", prod)
    b.const("prod_width", prod.width)
    b.flag("prod_signed", prod.signed)
    b.const("recip_frac", recip_t.frac)
    b.const("p_min", max(int(entries[0]).bit_length() - 1, 0))
    b.const("p_max", sum_t.width - 1)
    b.fixed_array("table", table_t.from_int(entries), table_t)
    b.fixed_array("recip", recip_t.from_int(recips), recip_t)
    return b.spec("softmax")


def _piecewise(b: _Builder) -> NodeSpec:
    tin, tout = b.tins[0].type, b.tout.type
    pieces = list(b.node.attrs["pieces"])
    scale_in, scale_out = Fraction(2) ** tin.frac, Fraction(2) ** tout.frac
    lower, aa, bb, dens = [0], [], [], []
    for lo, _, _ in pieces[1:]:
        lower.append(math.floor(lo * scale_in))
    for _, slope, offset in pieces:
        a, c = slope * scale_out / scale_in, offset * scale_out
        den = math.lcm(a.denominator, c.denominator)
        aa.append(a.numerator * (den // a.denominator))
        bb.append(c.numerator * (den // c.denominator))
        dens.append(den)
    bound = max(abs(v) for v in aa) * (1 << tin.width) + max(abs(v) for v in bb)
    if 2 * bound >= 1 << _INT64_SAFE:
        raise HlsError(f"{b.node.where()}: the piecewise-linear constants need more than 62-bit integers")
    b.io()
    b.const("n_elem", b.tout.size)
    b.const("n_pieces", len(pieces))
    b.const("out_frac", tout.frac)
    for role, values in (("lower", lower), ("a", aa), ("b", bb), ("den", dens)):
        b.int_array(role, values)
    return b.spec("piecewise")


def _step(b: _Builder) -> NodeSpec:
    thresholds = list(b.node.attrs["thresholds"])
    levels = list(b.node.attrs["levels"])
    b.io()
    b.const("n_elem", b.tout.size)
    b.const("n_thresholds", len(thresholds))
    b.int_array("thresholds", [*thresholds, 0])
    b.int_array("levels", levels)
    return b.spec("step")


def _quantize(b: _Builder) -> NodeSpec:
    """Per-element constants of learned precision: each element's own rounding shift and bounds."""
    et = node_elements(b.node)
    tin, tout = b.tins[0].type, b.tout.type
    live = ~((et.lo == 0) & (et.hi == 0))
    b.io()
    b.const("n_elem", b.tout.size)
    b.flag("round_half", et.rounding == "RND")
    b.flag("wrap", et.overflow == "WRAP")
    b.int_array("shift", [int(v) for v in (tin.frac - et.frac).reshape(-1)])
    b.int_array("lo", [int(v) for v in et.lo.reshape(-1)])
    b.int_array("hi", [int(v) for v in et.hi.reshape(-1)])
    b.int_array("up", [int(v) for v in np.where(live, tout.frac - et.frac, 0).reshape(-1)])
    return b.spec("quantize")


# ----------------------------------------------------------------------------- linear layers
def _linear(b: _Builder) -> NodeSpec:
    node = b.node
    kernel = node.weights["kernel"]
    b.io()
    exact, accum = node.types["exact"], node.types["accum"]
    b.own_type("exact", exact)
    acc_alias = b.own_type("accum", accum)
    pre = acc_alias
    if "activation" in node.attrs:
        linear_result = node.types.get("linear_result") or accum
        pre = b.own_type("pre", linear_result)
        b.activation = _activation_functor(b, node.attrs["activation"], pre, linear_result)
    else:
        b.member("pre_t", acc_alias)
        b.activation = ("act_linear", [acc_alias, b.tensor_alias(node.output)])
    b.fixed_array("weight", kernel.values, kernel.type)
    n_out = b.tout.shape[-1]
    bias = node.weights.get("bias")
    if bias is not None:
        b.fixed_array("bias", bias.values, bias.type)
    else:  # a zero bias: adding an exact 0 changes nothing, and keeps one kernel per op
        b.fixed_array("bias", np.zeros(n_out), _ZERO_BIAS)
    rf = int(node.options.get("reuse_factor", 1) or 1)
    resource = rf > 1 or str(node.options.get("strategy", "Latency")).lower() == "resource"
    b.const("reuse_factor", rf)
    b.flag("resource", resource)
    if node.op == "dense":
        n_in = b.tins[0].shape[-1]
        b.const("n_in", n_in)
        b.const("n_out", n_out)
        b.const("n_rows", b.tout.size // n_out)
        return b.spec("dense")
    in_h, in_w, n_chan = _spatial(b.tins[0].shape)
    out_h, out_w, _ = _spatial(b.tout.shape)
    ks = node.attrs["kernel_size"]
    kern_h, kern_w = _pair(ks, 1)
    stride_h, stride_w = _pair(node.attrs["strides"], 1)
    dil_h, dil_w = _pair(node.attrs.get("dilation", (1,) * len(ks)), 1)
    if node.op == "conv2d_transpose":
        pad_top, pad_left = node.attrs["offset"]
    else:
        pads = node.attrs.get("padding", [(0, 0)] * len(ks))
        pad_top, pad_left = _pair([p[0] for p in pads], 0)
    b.consts(in_h=in_h, in_w=in_w, n_chan=n_chan, out_h=out_h, out_w=out_w, n_out=n_out)
    b.consts(kern_h=kern_h, kern_w=kern_w, stride_h=stride_h, stride_w=stride_w, dilation_h=dil_h, dilation_w=dil_w)
    b.consts(pad_top=pad_top, pad_left=pad_left)
    if node.op.startswith("depthwise"):
        b.const("mult", n_out // n_chan)
        return b.spec("depthwise")
    if node.op == "conv2d_transpose":
        return b.spec("conv_transpose")
    b.const("n_in", kern_h * kern_w * n_chan)
    return b.spec("conv")


def _scale(b: _Builder) -> NodeSpec:
    node = b.node
    b.io()
    b.own_type("exact", node.types["exact"])
    b.own_type("accum", node.types["accum"])
    c = b.tout.shape[-1]
    s, sh = node.weights["scale"], node.weights["shift"]
    b.const("n_elem", b.tout.size)
    b.const("n_chan", c)
    b.fixed_array("scale", np.broadcast_to(np.asarray(s.values).reshape(-1), (c,)), s.type)
    b.fixed_array("shift", np.broadcast_to(np.asarray(sh.values).reshape(-1), (c,)), sh.type)
    return b.spec("scale")


# ----------------------------------------------------------------------------- pooling
def _pool_geometry(b: _Builder) -> None:
    node = b.node
    in_h, in_w, n_chan = _spatial(b.tins[0].shape)
    if node.op.startswith("global_"):
        out_h = out_w = 1
        pool_h, pool_w, stride_h, stride_w, pad_top, pad_left = in_h, in_w, 1, 1, 0, 0
    else:
        out_h, out_w, _ = _spatial(b.tout.shape)
        pool_h, pool_w = _pair(node.attrs["pool_size"], 1)
        stride_h, stride_w = _pair(node.attrs["strides"], 1)
        pads = node.attrs.get("padding", [(0, 0)] * len(node.attrs["pool_size"]))
        pad_top, pad_left = _pair([p[0] for p in pads], 0)
    b.consts(in_h=in_h, in_w=in_w, n_chan=n_chan, out_h=out_h, out_w=out_w, pool_h=pool_h, pool_w=pool_w)
    b.consts(stride_h=stride_h, stride_w=stride_w, pad_top=pad_top, pad_left=pad_left)


def _pool(b: _Builder) -> NodeSpec:
    op = b.node.op
    b.io()
    _pool_geometry(b)
    if "maxpool" in op:
        return b.spec("maxpool")
    tin = b.tins[0].type
    consts = dict(b.constants)
    area = consts["pool_h"] * consts["pool_w"]
    # sum_t: the exact window sum (area inputs of tin), what the reference's integer sum holds
    b.own_type("sum", range_type(area * tin.min, area * tin.max, tin.frac))
    tout = b.tout.type
    shift = abs(tout.frac - tin.frac)
    if (area * max(abs(tin.min_int), tin.max_int) << (shift + 2)) >= 1 << _INT64_SAFE:
        raise HlsError(f"{b.node.where()}: the average pool's window sum needs more than 62 bits")
    b.const("in_frac", tin.frac)
    b.const("out_frac", tout.frac)
    b.flag("count_inside", op.startswith("padded_"))
    return b.spec("avgpool")


def _scaled_pool(b: _Builder) -> NodeSpec:
    node = b.node
    b.io()
    _pool_geometry(b)
    b.own_type("sum", node.types["accum"])
    b.own_type("exact", node.types["exact"])
    m = node.weights["multiplier"]
    b.fixed_array("mult", np.asarray(m.values).reshape(-1), m.type)
    return b.spec("scaled_avgpool")


# ----------------------------------------------------------------------------- wiring
def _copy(b: _Builder) -> NodeSpec:
    b.io()
    b.const("n_elem", b.tout.size)
    return b.spec("copy")


def _zeropad(b: _Builder) -> NodeSpec:
    b.io()
    in_h, in_w, n_chan = _spatial(b.tins[0].shape)
    out_h, out_w, _ = _spatial(b.tout.shape)
    pads = b.node.attrs["padding"]
    pad_top, pad_left = _pair([p[0] for p in pads], 0)
    b.consts(in_h=in_h, in_w=in_w, n_chan=n_chan, out_h=out_h, out_w=out_w, pad_top=pad_top, pad_left=pad_left)
    return b.spec("zeropad")


def _add(b: _Builder) -> NodeSpec:
    n = len(b.node.inputs)
    if n not in (2, 3):
        raise HlsError(f"{b.node.where()}: adding {n} tensors is not supported; add two or three at a time")
    for i, t in enumerate(b.node.inputs):
        b.member(f"in{i}_t", b.tensor_alias(t))
    b.member("out_t", b.tensor_alias(b.node.output))
    b.const("n_elem", b.tout.size)
    return b.spec(f"add{n}")


def _concatenate(b: _Builder) -> NodeSpec:
    axis = int(b.node.attrs["axis"])
    out_shape = b.tout.shape
    outer = int(np.prod(out_shape[:axis])) if axis else 1
    out_inner = int(np.prod(out_shape[axis:]))
    b.member("out_t", b.tensor_alias(b.node.output))
    b.const("n_elem", b.tout.size)
    parts, offset = [], 0
    for t in b.node.inputs:
        inner = int(np.prod(b.graph.tensors[t].shape[axis:]))
        parts.append({"input": b.names[t], "type": b.tensor_alias(t), "outer": outer, "inner": inner, "offset": offset})
        offset += inner
    spec = b.spec("concat_part")
    spec.parts = [dict(p, out_inner=out_inner) for p in parts]
    return spec


#: op -> the builder of its template context; an op missing here has no HLS kernel.
BUILDERS = {
    **dict.fromkeys(ops_where(is_linear), _linear),
    "scale": _scale,
    "activation": _activation,
    "softmax": _softmax,
    "piecewise_linear": _piecewise,
    "step": _step,
    "quantize": _quantize,
    "reshape": _copy,
    "identity": _copy,
    "zeropad1d": _zeropad,
    "zeropad2d": _zeropad,
    "add": _add,
    "concatenate": _concatenate,
    "scaled_avgpool2d": _scaled_pool,
    "global_scaled_avgpool2d": _scaled_pool,
}
for _op in (
    "maxpool1d",
    "maxpool2d",
    "avgpool1d",
    "avgpool2d",
    "global_maxpool1d",
    "global_maxpool2d",
    "global_avgpool1d",
    "global_avgpool2d",
    "padded_maxpool1d",
    "padded_maxpool2d",
    "padded_avgpool1d",
    "padded_avgpool2d",
):
    BUILDERS[_op] = _pool


def node_spec(graph: Graph, node: Node, names: dict[str, str]) -> NodeSpec:
    """The template context of one (non-input) node."""
    builder = BUILDERS.get(node.op)
    if builder is None:
        raise HlsError(
            f"{node.where()}: op {node.op!r} has no HLS kernel yet; supported: {', '.join(sorted(BUILDERS))}"
        )
    if node.options.get("io_type", "io_parallel") not in (None, *IO_TYPES):
        raise HlsError(
            f"{node.where()}: IOType {node.options['io_type']!r} is not supported by the HLS back end; "
            f"set Model.IOType to one of {', '.join(IO_TYPES)}"
        )
    return builder(_Builder(graph, node, names))


#: io_stream kernels with a line buffer, by io_parallel kernel; other kernels run on arrays read from the stream.
STREAM_KERNELS = {
    "conv": "conv_stream",
    "depthwise": "depthwise_stream",
    "maxpool": "maxpool_stream",
    "avgpool": "avgpool_stream",
    "scaled_avgpool": "scaled_avgpool_stream",
}
