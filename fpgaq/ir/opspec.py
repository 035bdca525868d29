"""Every IR op, declared once, with the traits that passes, back ends and cost models ask.

A pass or back end that treats a family of ops alike (the layers with a
constant kernel, the ops a reuse factor folds, the ops that only move bits)
asks :func:`op_spec` or :func:`ops_where` here instead of keeping its own
tuple of op names, so that a new op is one declaration, not a grep.

Adding an op: declare it in :data:`OP_SPECS`, then give it a reference kernel
(``fpgaq.reference.KERNELS``), an HLS builder (``fpgaq.converters._hls_nodes``)
and an RTL lowering (``fpgaq.rtl.lower``); ``tests/ir/test_op_declarations.py``
names every op that lacks one, and every table entry that names no declared op.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

__all__ = [
    "COSTS",
    "OP_SPECS",
    "OpSpec",
    "is_average_pool",
    "is_exact_then_cast",
    "is_fusable",
    "is_linear",
    "is_reusable",
    "is_wiring",
    "keeps_input_type",
    "op_spec",
    "ops_where",
]

#: How the resource model prices an op: ``dot_products`` (the multipliers and adder trees of a layer
#: with a constant kernel), ``netlist`` (the logic its RTL lowering builds) or ``free`` (nothing is
#: built: the graph input, whose registers the design's top level counts).
Cost = Literal["dot_products", "netlist", "free"]
COSTS: tuple[str, ...] = ("dot_products", "netlist", "free")


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One op's declaration: what it computes and the traits the rest of fpgaq asks about it."""

    name: str
    doc: str
    #: ``y = x (*) kernel + bias`` with constant weights: the back ends build it from dot products
    #: and the cost models count its multipliers.
    linear: bool = False
    #: A ReuseFactor folds its multiplications in time (fpgaq.rtl.fold and the HLS kernels).
    reusable: bool = False
    #: A linear op whose kernel reads as (fan-in, output channel) columns: precision inference sizes
    #: its accumulator from them, prune_zero_weights annotates them, a following element-wise
    #: activation fuses into it and a following batch normalization folds into it.
    fusable: bool = False
    #: It carries constants in ``node.weights``.
    has_weights: bool = False
    #: Its reference kernel computes the exact result and casts it once into the output type, and
    #: its open output type is that exact result's type (merge_quantizer, requantize).
    exact_then_cast: bool = False
    #: Its exact result has its input's type (max pooling, and wiring that adds no value): the
    #: type precision inference gives its open output.
    keeps_input_type: bool = False
    #: A mean over a window (or the whole map) through the reciprocal of its area: exact only
    #: when the area is a power of two.
    average_pool: bool = False
    #: It only moves bits (no logic): the HLS cost model counts no LUTs for it.
    wiring: bool = False
    #: It is computed, so it needs a reference kernel, an HLS builder and an RTL lowering
    #: (False only for the graph input, which the back ends read rather than compute).
    computed: bool = True
    cost: Cost = "netlist"


def _linear(name: str, doc: str, fusable: bool = True) -> OpSpec:
    """A layer with a constant kernel; all but conv2d_transpose compute exactly, then cast once."""
    return OpSpec(
        name,
        doc,
        linear=True,
        reusable=True,
        fusable=fusable,
        has_weights=True,
        exact_then_cast=fusable,
        cost="dot_products",
    )


_DECLARATIONS = (
    OpSpec(
        "input",
        "graph input; the input tensor's type is the quantization applied to incoming floats",
        computed=False,
        cost="free",
    ),
    _linear("dense", "y = x @ kernel + bias over the last axis"),
    _linear("conv1d", "1-D convolution, channels last, explicit padding"),
    _linear("conv2d", "2-D convolution, channels last, explicit padding"),
    _linear("depthwise1d", "1-D depthwise convolution"),
    _linear("depthwise2d", "2-D depthwise convolution"),
    _linear(
        "conv2d_transpose",
        "2-D transposed convolution: out[i*stride + t*dilation - offset] += x[i] * kernel[t]; "
        "kernel (kh, kw, filters, in_channels) as Keras holds it",
        fusable=False,
    ),
    OpSpec("scale", "per-channel y = x * scale + shift (unfolded batch normalization)", has_weights=True),
    OpSpec("activation", "element-wise function then cast to the output type: linear, relu, leaky_relu, and tables"),
    OpSpec("softmax", "softmax over the last axis through exp and reciprocal tables"),
    OpSpec("maxpool1d", "max pooling", exact_then_cast=True, keeps_input_type=True),
    OpSpec("maxpool2d", "max pooling", exact_then_cast=True, keeps_input_type=True),
    OpSpec("avgpool1d", "average pooling: exact sum times the reciprocal of the pool size", average_pool=True),
    OpSpec("avgpool2d", "average pooling", average_pool=True),
    OpSpec("global_maxpool1d", "max over the spatial axis", exact_then_cast=True, keeps_input_type=True),
    OpSpec("global_maxpool2d", "max over the spatial axes", exact_then_cast=True, keeps_input_type=True),
    OpSpec("global_avgpool1d", "mean over the spatial axis", average_pool=True),
    OpSpec("global_avgpool2d", "mean over the spatial axes", average_pool=True),
    OpSpec("padded_maxpool1d", "max pooling whose padded border cells are ignored (Keras padding='same')"),
    OpSpec("padded_maxpool2d", "max pooling whose padded border cells are ignored (Keras padding='same')"),
    OpSpec("padded_avgpool1d", "window sum divided by the number of cells inside the input (Keras padding='same')"),
    OpSpec("padded_avgpool2d", "window sum divided by the number of cells inside the input (Keras padding='same')"),
    OpSpec(
        "scaled_avgpool2d",
        "window sum times a per-position constant: QAveragePooling2D's quantized 1/area",
        has_weights=True,
    ),
    OpSpec(
        "global_scaled_avgpool2d",
        "sum over the spatial axes times a constant: QGlobalAveragePooling2D's quantized 1/area",
        has_weights=True,
    ),
    OpSpec(
        "piecewise_linear",
        "y = slope * x + offset on the piece whose lower bound x exceeds (exact rationals), then "
        "cast to the output type: LeakyReLU, ReLU(max_value, threshold), relu6, hard_tanh, hard_sigmoid",
    ),
    OpSpec(
        "step",
        "piecewise constant: levels[number of thresholds <= input mantissa] (attrs thresholds, levels): QKeras' "
        "binary, ternary and power-of-two quantizers as activations",
    ),
    OpSpec(
        "quantize",
        "element-wise cast of every element to its own grid and range (attrs frac, lo, hi: per-element "
        "arrays; rounding, overflow): learned_bits, each element m * 2**-frac[e] with lo[e] <= m <= hi[e]",
    ),
    OpSpec("zeropad1d", "zero padding", wiring=True, exact_then_cast=True, keeps_input_type=True),
    OpSpec("zeropad2d", "zero padding", wiring=True, exact_then_cast=True, keeps_input_type=True),
    OpSpec(
        "reshape",
        "wiring only: a new shape over the same values in the same order",
        wiring=True,
        exact_then_cast=True,
        keeps_input_type=True,
    ),
    OpSpec("add", "element-wise sum of two or more tensors", exact_then_cast=True),
    OpSpec("concatenate", "concatenation along an axis", wiring=True, exact_then_cast=True),
    # Casts to its output type, which may round or saturate: the HLS cost model counts its logic.
    OpSpec(
        "identity",
        "wiring only: same values (Dropout at inference, linear Activation)",
        exact_then_cast=True,
        keeps_input_type=True,
    ),
)

#: op name -> its declaration: the one list of the ops the IR knows.
OP_SPECS: dict[str, OpSpec] = {spec.name: spec for spec in _DECLARATIONS}


def op_spec(op: str) -> OpSpec:
    """The declaration of ``op``; a KeyError names the known ops."""
    try:
        return OP_SPECS[op]
    except KeyError:
        raise KeyError(f"unknown op {op!r}; known: {', '.join(sorted(OP_SPECS))}") from None


def ops_where(trait: Callable[[OpSpec], bool]) -> tuple[str, ...]:
    """The names of the declared ops with a trait, in declaration order (e.g. ``ops_where(is_linear)``)."""
    return tuple(spec.name for spec in _DECLARATIONS if trait(spec))


def _trait(name: str) -> Callable[[str | OpSpec], bool]:
    def ask(op: str | OpSpec) -> bool:
        spec = op if isinstance(op, OpSpec) else OP_SPECS.get(op)
        return spec is not None and bool(getattr(spec, name))

    ask.__name__ = f"is_{name}"
    ask.__doc__ = f"Whether ``op`` (a name or an OpSpec) is declared {name} (see :class:`OpSpec`); False if unknown."
    return ask


is_linear = _trait("linear")
is_reusable = _trait("reusable")
is_fusable = _trait("fusable")
is_wiring = _trait("wiring")
is_exact_then_cast = _trait("exact_then_cast")
is_average_pool = _trait("average_pool")
keeps_input_type = _trait("keeps_input_type")
