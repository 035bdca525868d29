"""QTools: the per-layer data type map and the Horowitz energy estimate of a quantized model.

This is fpgaq's counterpart of QKeras' ``qkeras.qtools`` (``QTools``, ``pe()``,
``extract_energy_sum``, ``extract_energy_profile``): for every layer it lists the
types of the input, weight, bias, multiplier, accumulator and output (bits,
integer bits, signedness, shape), the number and kind of operations, and an
energy estimate in picojoules that can be compared with QKeras' reports.

Why the Keras model and not the IR graph
----------------------------------------
QTools' numbers are defined per *Keras layer* from the *quantizers' bit
widths* and QKeras' sizing rules (an accumulator of ``bits(multiplier) +
ceil(log2(fan_in + 1))`` bits, whatever the weights are), and they include
layers that the IR folds or removes (``QActivation`` becomes part of a node,
``Flatten`` vanishes).  The IR's accumulators are sized from the actual
weights, which is what the firmware needs but not what QTools reports.  So
this module walks the Keras model, as :mod:`fpgaq.qstats` does, and reuses
qstats' quantizer classification, weight lookup and exact operation counts;
integer bits and signedness come from each quantizer's own ``hardware()``
type, so they are the ``ac_fixed`` parameters, not a guess.

The energy formula (Horowitz 45 nm, as in QKeras' ``qenergy``)
---------------------------------------------------------------
Constants: M. Horowitz, "Computing's energy problem (and what we can do about
it)", IEEE ISSCC 2014, pp. 10-14 (45 nm, 0.9 V), fitted as in QKeras'
``qtools/config_public.py``.  ``b`` is a bit width, ``B`` a tensor size in bits.

* Fixed-point add: ``E_add(b) = 0.003125 * b`` pJ (linear: 0.1 pJ for 32 bits,
  0.025 for 8).  Mux, xor, and-gate and shifter are charged as adds of their
  gate bits.
* Fixed-point multiply: ``E_mul(b) = 0.002994791667 * b**2 + 0.001041666667 * b``
  pJ (quadratic: 3.1 pJ for 32 bits, 0.2 for 8).
* Floating point, per operation: fp32 add 0.9, fp32 mult 3.7, fp16 add 0.4,
  fp16 mult 1.1 pJ, whatever the operands.
* SRAM access of a tensor of ``B`` bits: ``ceil(B / 64) * E_sram(log2(max(B, min_sram_size)))``
  with ``E_sram(x) = 9.02427321e-4 x**3 - 2.68847858e-2 x**2 + 2.08900804e-1 x``
  (the per-bit energy of an SRAM of ``2**x`` bits).  QKeras multiplies this
  per-bit fit by the number of 64-bit words, not by the number of bits; we
  keep that so that the numbers compare with QKeras' reports.
* DRAM access: ``E_dram(B) = 20.3125 * B`` pJ (1.3 nJ per 64-bit word).

Per layer (``pe()``):

* ``inputs``: reading each input tensor (batch dimension dropped).  Layers that
  read a model input use DRAM when ``rd_wr_on_io`` (plus an SRAM write, the
  copy into the cache) and SRAM otherwise; other layers use
  ``activations_on_memory`` (DRAM also adds the SRAM term when
  ``rd_wr_on_io``).
* ``outputs``: writing the output tensor, the mirror image (model outputs go
  to DRAM when ``rd_wr_on_io``).
* ``parameters``: reading the kernel and the bias, each as its own tensor,
  from ``parameters_on_memory`` (``"fixed"``: weights are wired in, 0 pJ).
* ``op_cost``: ``operations * (gate_factor * E_op(gate_bits) + E_add(accumulator))``
  where the multiplier's implementation sets the gate: a fixed-point
  multiplier costs ``E_mul(sqrt(b_x * b_w))``; a mux (binary/ternary operand)
  ``0.3`` (binary) or ``0.6`` (ternary) ``* E_add(b_other)``; an xor ``0.3 *
  E_add(1)``; an and gate ``0.1 * E_add(max(b_x, b_w))``; a shifter (po2
  operand) ``E_add(g log10 g)`` with ``g = sqrt(2**b_po2 * b_fixed)``; po2 by
  po2 an adder ``E_add(max(b_x, b_w) + 1)``; a float multiplier the fp
  constant.  The accumulator add uses the accumulator's width (or the fp add).

The sum (``extract_energy_sum``) counts, as QKeras' ``include_energy`` does,
``outputs`` for activation layers and ``inputs + parameters + op_cost`` for
the others, so that each activation tensor is written once and read once.

Reference mode: ``for_reference=True`` (or :func:`reference_qtools` with
``"int8"`` / ``"fp32"``) counts every layer as if unquantized: weights and
biases as ``keras_quantizer`` (``int8`` = ``quantized_bits(8,0,1)``, or
``fp32``), multiplier outputs, accumulators and activation outputs as
``keras_accumulator`` (``int32`` = ``quantized_bits(32,10,1)``, or ``fp32``),
as QKeras does; the
multiplier's gate stays the one its operand types call for.  Without it, only
float Keras layers (and unquantized weights/activations) get those types.

QKeras' whole call is taken: ``QTools(model, process, source_quantizers,
is_inference, weights_path, keras_quantizer, keras_accumulator,
for_reference)``.  ``weights_path`` loads weights into ``model`` first (Keras 3
``.weights.h5``, or the ``.h5`` QKeras wrote).  ``is_inference`` means what it
means in QKeras: the trained weights are known, so a product by a po2 weight
is a mux among the layer's distinct quantized weight values (``0.3 *
count`` adders of the other operand's width) rather than a barrel shifter.
``pe(weights_on_memory, activations_on_memory, min_sram_size, rd_wr_on_io,
verbose)`` takes ``dram``, ``sram`` and ``fixed`` for both memories (QKeras
refuses other weight memories; it accepts any activation memory name and
charges nothing for one it does not know, where fpgaq refuses it).
:attr:`QTools.qkeras_stats`, ``qtools_stats_to_json`` and ``qtools_stats_print``
write QKeras' keys and layout (JSON, indent 4); :attr:`QTools.stats` is
fpgaq's richer map (kinds, gates, po2 exponents) that ``fpgaq qtools --json`` writes.

Where this differs from QKeras, deliberately: integer bits follow
``ac_fixed`` (they include the sign bit, so the product of two signed
operands has ``I_x + I_w`` integer bits, one more than QKeras prints, and so
do the accumulator and the layer output built on it); the accumulator's
fan-in is the true number of products per output (QKeras uses the kernel
size without its last axis, which overcounts depthwise layers) and adds the
bias only when the layer has one; a +-1 (xor) product is two bits wide
(``ac_fixed<2,2>``, QKeras sizes it as one) and QKeras' accumulator of binary
or ternary products adds a sign bit to integer bits that already hold it, so
a binary sum has one bit more and a ternary sum one integer bit fewer than
QKeras prints; operation counts are qstats' exact ones; QKeras' energy model
charges nothing for the parameters and MACs of ``QConv2DBatchnorm`` (its
layer lists miss the folded classes), fpgaq charges them as for ``QConv2D``;
energies are not rounded to 0.01 pJ nor the sum truncated to whole pJ; float
Keras activation layers (``ReLU``, ``Softmax``) are counted like
``Activation``.  tests/test_qtools.py checks each of these against QKeras' own
reports (tests/fixtures/qkeras/qtools).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fpgaq.errors import FpgaqError
from fpgaq.fixed import FixedType
from fpgaq.hwtypes import Po2Type, ScaledType
from fpgaq.keras_walk import (
    COMPUTE_LAYERS,
    KINDS,
    PASS_THROUGH_LAYERS,
    operation_count,
    operation_name,
    prod,
    quantizer_kind,
    sample_elements,
    walk_layers,
    weights_of,
)
from fpgaq.quantizers import BaseQuantizer, get_quantizer

__all__ = [
    "DEFAULT_SOURCE_QUANTIZER",
    "HOROWITZ",
    "INCLUDE_ENERGY",
    "REFERENCES",
    "QTools",
    "QToolsError",
    "QType",
    "format_energy_table",
    "format_qtools_table",
    "qtools_stats_to_json",
    "reference_qtools",
]

# Horowitz (ISSCC 2014, 45 nm) as fitted in QKeras' qtools/config_public.py: polynomial
# coefficients, highest power first (numpy.polyval order).  Units: pJ.
HOROWITZ: dict[str, tuple[float, ...]] = {
    "fpm_add": (0.003125, 0.0),  # fixed-point add, per operation, of b bits
    "fpm_mul": (0.002994791667, 0.001041666667, 0.0),  # fixed-point multiply of b bits
    "fp16_add": (0.4,),
    "fp16_mul": (1.1,),
    "fp32_add": (0.9,),
    "fp32_mul": (3.7,),
    "sram_rd": (9.02427321e-04, -2.68847858e-02, 2.08900804e-01, 0.0),  # of log2(SRAM bits)
    "dram_rd": (20.3125, 0.0),  # of bits
}
_SRAM_WORD_BITS = 64  # QKeras' sram_mul_factor = 1/64

#: Which energy terms count in a layer's total, by layer class (QKeras' include_energy).
INCLUDE_ENERGY: dict[str, tuple[str, ...]] = {
    "QActivation": ("outputs",),
    "QAdaptiveActivation": ("outputs",),
    "Activation": ("outputs",),
    "ReLU": ("outputs",),
    "LeakyReLU": ("outputs",),
    "Softmax": ("outputs",),
    "QBatchNormalization": ("parameters",),
    "BatchNormalization": ("parameters",),
    "Add": ("op_cost",),
    "Subtract": ("op_cost",),
    "MaxPooling2D": ("op_cost",),
    "default": ("inputs", "parameters", "op_cost"),
}

#: ``reference`` name -> (keras_quantizer, keras_accumulator), as in QKeras' examples.
REFERENCES: dict[str, tuple[str, str]] = {"int8": ("int8", "int32"), "fp32": ("fp32", "fp32")}

#: QTools' default type of a model input with no QActivation in front (``quantized_bits(8, 0, 1)``).
DEFAULT_SOURCE_QUANTIZER = "quantized_bits(8,0,alpha=1)"

_MEMORIES = ("dram", "sram", "fixed")
_ACTIVATION_LAYERS = {"QActivation", "Activation", "ReLU", "LeakyReLU", "Softmax", "ELU", "PReLU"}
_SUPPORTED_COMPUTE = {
    "QDense",
    "QDenseBatchnorm",
    "QConv1D",
    "QConv2D",
    "QConv2DBatchnorm",
    "QDepthwiseConv2D",
    "Dense",
    "Conv1D",
    "Conv2D",
    "DepthwiseConv2D",
}
_SUPPORTED_LIST = ", ".join(sorted(_SUPPORTED_COMPUTE | _ACTIVATION_LAYERS | PASS_THROUGH_LAYERS))


class QToolsError(FpgaqError, ValueError):
    """A layer or an option that QTools cannot account for; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class QType:
    """One quantity's type as QTools sees it.

    ``kind`` is qstats' classification (``fixed``, ``po2``, ``ternary``,
    ``binary``, ``binary01``, ``float``); ``int_bits`` counts the integer bits
    including the sign, as ``ac_fixed`` does (``None`` where it means nothing:
    floats, po2); ``min_exp``/``max_exp`` give a po2 type's exponent range.
    """

    quantizer: str
    kind: str
    bits: int
    int_bits: int | None
    signed: bool
    min_exp: int | None = None
    max_exp: int | None = None
    max_value: float | None = None  # a po2 quantizer's max_value setting (QKeras' JSON prints it)

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    def to_dict(self, shape: Any = None, op_type: str | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "quantizer_type": self.quantizer,
            "kind": self.kind,
            "bits": self.bits,
            "int_bits": self.int_bits,
            "is_signed": self.signed,
        }
        if self.min_exp is not None:
            d["min_exp"], d["max_exp"] = self.min_exp, self.max_exp
        if shape is not None:
            d["shape"] = shape
        if op_type is not None:
            d["op_type"] = op_type
        return d


def _named_type(name: str) -> QType:
    """QKeras' shorthand types: ``int8`` = quantized_bits(8,0,1), ``int16`` = (16,7,1), ``int32`` = (32,10,1)."""
    if name == "fp32":
        return QType("fp32", "float", 32, None, True)
    if name == "fp16":
        return QType("fp16", "float", 16, None, True)
    integer = {"int8": 0, "int16": 7, "int32": 10}.get(name)
    if integer is None:
        raise QToolsError(f"type {name!r} is not one of int8, int16, int32, fp16, fp32")
    bits = int(name[3:])
    return QType(name, "fixed", bits, integer + 1, True)


def _type_of(q: Any, x: Any = None, default: QType | None = None, where: str = "") -> QType:
    """The QType of a quantizer (``x``: the tensor it quantizes, for data-dependent scales).

    ``None`` or a float Keras activation is ``default`` (the keras_quantizer type).
    """
    if isinstance(q, str) and q in ("int8", "int16", "int32", "fp16", "fp32"):
        return _named_type(q)
    if not isinstance(q, BaseQuantizer):
        if default is None:
            raise QToolsError(f"{where}: no type for {q!r}")
        return default
    k = quantizer_kind(q)
    int_bits: int | None = None
    signed = k.signed
    min_exp = max_exp = None
    try:
        hw = q.hardware(x)
    except (ValueError, NotImplementedError, TypeError):
        hw = None
    if isinstance(hw, ScaledType):
        hw = hw.base
    if isinstance(hw, FixedType):
        int_bits, signed = int(hw.integer), bool(hw.signed)
    elif isinstance(hw, Po2Type):
        signed, min_exp, max_exp = bool(hw.signed), int(hw.min_exp), int(hw.max_exp)
    elif k.kind in ("binary", "binary01"):
        int_bits = 1
    if k.kind == "ternary":  # also quantized_bits(2,1): a ternary circuit, QKeras' ternary type
        int_bits, signed = 2, True
    max_value = getattr(q, "max_value", None) if k.kind == "po2" else None
    return QType(str(q), k.kind, int(k.bits), int_bits, signed, min_exp, max_exp, max_value)


def _quantizer_arg(spec: Any, what: str) -> QType:
    """A source quantizer given by the user: a quantizer, its string form, or int8/int16/int32/fp16/fp32."""
    if isinstance(spec, str) and spec in ("int8", "int16", "int32", "fp16", "fp32"):
        return _named_type(spec)
    try:
        q = get_quantizer(spec)
    except (ValueError, TypeError) as err:
        raise QToolsError(
            f"{what}: {err}; give a quantizer string such as 'quantized_bits(8,0,alpha=1)' or one of "
            "int8, int16, int32, fp16, fp32"
        ) from None
    if q is None:
        raise QToolsError(f"{what}: None; give a quantizer or one of int8, int16, int32, fp16, fp32")
    return _type_of(q)


# ----------------------------------------------------------------------------------------------
# Multiplier and accumulator (QKeras' multiplier and accumulator tables)


@dataclasses.dataclass(frozen=True)
class _Multiplier:
    """How one product is built: its output type, the gate that does it and that gate's cost inputs."""

    output: QType
    op_type: str  # mul, shifter, mux, xor, and, add
    gate_factor: float  # energy relative to an adder of gate_bits (1 = the op itself)
    gate_bits: float


# QTools' implementation table (weight kind x input kind); it differs from qstats' naming table
# (e.g. anything times binary01 is an and gate), so it lives here.
_IMPL = {
    "fixed": ("mul", "shifter", "mux", "mux", "and", "fmul"),
    "po2": ("shifter", "add", "mux", "mux", "and", "fmul"),
    "ternary": ("mux", "mux", "mux", "mux", "and", "fmul"),
    "binary": ("mux", "mux", "mux", "xor", "and", "fmul"),
    "binary01": ("and", "and", "and", "and", "and", "fmul"),
    "float": ("fmul",) * 6,
}


def _po2_as_fixed(p: QType) -> tuple[int, int]:
    """(bits to the left of the binary point, bits to the right) that a po2 value spans."""
    return max(0, p.max_exp or 0), max(0, -(p.min_exp or 0))


def _multiplier(w: QType, x: QType) -> _Multiplier:
    impl = _IMPL[w.kind][KINDS.index(x.kind)]
    signed = w.signed or x.signed
    if impl == "fmul":
        bits = max(t.bits for t in (w, x) if t.is_float)
        return _Multiplier(QType(f"fp{bits}", "float", bits, None, True), "mul", 1.0, float(bits))
    if impl == "mul":
        out = QType("quantized_bits", "fixed", w.bits + x.bits, (w.int_bits or 0) + (x.int_bits or 0), signed)
        return _Multiplier(out, "mul", 1.0, math.sqrt(w.bits * x.bits))
    if impl == "shifter":
        p, q = (w, x) if w.kind == "po2" else (x, w)
        left, right = _po2_as_fixed(p)
        bits = q.bits + left + right + (1 if (p.signed and not q.signed) else 0)
        out = QType("quantized_bits", "fixed", bits, (q.int_bits or 0) + left, signed)
        g = math.sqrt(2**p.bits * q.bits)
        return _Multiplier(out, "shifter", 1.0, g * math.log10(g))
    if impl == "mux":
        # The binary/ternary operand selects the other operand (or its negation, or zero).
        sel, other = (w, x) if w.kind in ("binary", "ternary") else (x, w)
        sign_bit = 1 if (sel.signed and not other.signed) else 0  # negating an unsigned operand adds a sign bit
        int_bits = None if other.int_bits is None else other.int_bits + sign_bit
        quantizer = other.quantizer if other.kind in ("po2", "float") else "quantized_bits"
        out = dataclasses.replace(
            other, quantizer=quantizer, bits=other.bits + sign_bit, int_bits=int_bits, signed=signed
        )
        return _Multiplier(out, "mux", 0.3 if sel.kind == "binary" else 0.6, float(other.bits))
    if impl == "xor":
        out = QType("binary", "binary", 1, 1, True)
        return _Multiplier(out, "xor", 0.3, 1.0)
    if impl == "and":
        bits = max(w.bits, x.bits)
        if {w.kind, x.kind} == {"binary", "binary01"}:
            bits = 2  # -1/+1 times 0/1 is ternary
        base = x if w.kind == "binary01" else w
        if bits == 2 or base.kind == "ternary":  # a +-1 or ternary operand gated by 0/1 stays ternary (QKeras too)
            out = QType("ternary", "ternary", 2, 2, True)
        else:
            out = QType("quantized_bits", "fixed", bits, base.int_bits, signed)
        return _Multiplier(out, "and", 0.1, float(bits))
    # po2 x po2: the exponents add; an adder of max(bits) + 1 bits.
    bits = max(w.bits, x.bits) + 1
    lo = (w.min_exp or 0) + (x.min_exp or 0)
    hi = (w.max_exp or 0) + (x.max_exp or 0)
    out = QType("quantized_po2", "po2", bits, None, signed, lo, hi)
    return _Multiplier(out, "add", 1.0, float(bits))


def _inference_shifter(mult: _Multiplier, weight: QType, other: QType, wq: Any, w_np: np.ndarray) -> _Multiplier:
    """QKeras' ``is_inference`` shifter: with trained po2 weights known, each product selects among the
    distinct weight values, so it is costed as a mux of ``0.3 * (distinct values)`` adders of the other
    operand's width instead of a barrel shifter."""
    values = np.unique(keras.ops.convert_to_numpy(wq(w_np)))
    return dataclasses.replace(mult, gate_factor=0.3 * int(values.size), gate_bits=float(other.bits))


def _load_weights_file(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """QKeras' ``weights_path``: set the model's weights from a file before accounting.

    Takes Keras 3 ``.weights.h5`` files and the HDF5 files Keras 2 / QKeras write (``save_weights``
    or a full-model ``save``), the latter read with fpgaq's QKeras importer.
    """
    import h5py

    from fpgaq.keras2_format import QKerasImportError, saved_weights, set_weights

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise QToolsError(
            f"weights_path={path!r}: no such file; give a model.save_weights('w.weights.h5') file, or the .h5 "
            "that QKeras' save_weights or save wrote"
        )
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                group = f if "layer_names" in f.attrs else f.get("model_weights")
                if group is not None and "layer_names" in group.attrs:
                    set_weights(model, {}, saved_weights(group))
                    return
        model.load_weights(path)
    except (QKerasImportError, ValueError, OSError, KeyError) as err:
        raise QToolsError(f"weights_path={path!r}: cannot load weights into model {model.name!r}: {err}") from None


def _fan_in(layer: Any, in_shape: tuple) -> int:
    """Products summed into one output (the true fan-in; QKeras' accumulator sizing input)."""
    cls = type(layer).__name__
    if "Dense" in cls:
        return prod(in_shape[1:])
    area = prod(layer.kernel_size)
    if "Depthwise" in cls:
        return area
    groups = int(getattr(layer, "groups", 1) or 1)
    return area * int(in_shape[-1]) // groups


def _accumulator(mult: QType, fan_in: int, use_bias: bool) -> QType:
    """QKeras' accumulator: the product grown by ceil(log2(terms)) bits; floats stay floats."""
    if mult.is_float:
        return dataclasses.replace(mult)
    if mult.kind == "po2":
        left, right = _po2_as_fixed(mult)
        bits, int_bits = int(mult.signed) + left + right, left + int(mult.signed)
    elif mult.kind == "binary" and mult.signed:
        bits, int_bits = 2, 2  # -1 and +1 in two's complement: ac_fixed<2, 2> (QKeras sizes 1 bit)
    else:
        bits, int_bits = mult.bits, mult.int_bits or 0
    grow = math.ceil(math.log2(fan_in + (1 if use_bias else 0))) if fan_in + use_bias > 1 else 0
    return QType("quantized_bits", "fixed", bits + grow, int_bits + grow, mult.signed)


# ----------------------------------------------------------------------------------------------
# Energy (Horowitz)


def _poly(name: str, x: float) -> float:
    return max(float(np.polyval(HOROWITZ[name], x)), 0.0)


def _add_energy(t: QType) -> float:
    if t.is_float:
        return _poly(f"fp{t.bits}_add", 0.0)
    return _poly("fpm_add", t.bits)


def _op_energy(m: _Multiplier) -> float:
    """One product: gate_factor * E(gate_bits), in the arithmetic of the multiplier's output."""
    if m.output.is_float:
        return m.gate_factor * _poly(f"fp{m.output.bits}_{'mul' if m.op_type == 'mul' else 'add'}", 0.0)
    return m.gate_factor * _poly("fpm_mul" if m.op_type == "mul" else "fpm_add", m.gate_bits)


def _sram_energy(total_bits: float, min_sram_size: int) -> float:
    if total_bits <= 0:
        return 0.0
    words = math.ceil(total_bits / _SRAM_WORD_BITS)
    return words * _poly("sram_rd", math.log2(max(total_bits, min_sram_size)))


def _memory_energy(total_bits: float, mode: str, at_io: bool, min_sram_size: int, rd_wr_on_io: bool) -> float:
    """Moving ``total_bits`` between memory and the datapath (read and write cost the same)."""
    if at_io:
        mode = "dram" if rd_wr_on_io else "sram"
    if mode == "dram":
        energy = _poly("dram_rd", total_bits)
        if rd_wr_on_io:
            energy += _sram_energy(total_bits, min_sram_size)
        return energy
    if mode == "sram":
        return _sram_energy(total_bits, min_sram_size)
    return 0.0  # "fixed": wired into the logic


# ----------------------------------------------------------------------------------------------
# The layer walk


@dataclasses.dataclass
class _LayerEntry:
    layer: Any
    inputs: list[QType]
    input_shapes: list[tuple]
    output: QType
    output_shape: tuple
    is_input_layer: bool
    is_output_layer: bool
    weight: QType | None = None
    weight_shape: tuple | None = None
    bias: QType | None = None
    bias_shape: tuple | None = None
    multiplier: _Multiplier | None = None
    accumulator: QType | None = None
    operation_count: int = 0
    operation: str | None = None


def _shape(shape: Any) -> list[int]:
    return [-1 if v is None else int(v) for v in shape]


def _is_quantized_layer(layer: Any) -> bool:
    return hasattr(layer, "get_quantizers")


class QTools:
    """The data type map of ``model`` and its energy, in the manner of QKeras' ``QTools``.

    ``source_quantizers``: one per model input (a quantizer, its string form, or
    ``int8``/``int16``/``int32``/``fp16``/``fp32``); default QTools'
    ``quantized_bits(8,0,1)``.  ``keras_quantizer`` and ``keras_accumulator``:
    the types given to unquantized weights/activations and to the
    multipliers/accumulators of float layers (and of every layer with
    ``for_reference``); ``None``, QKeras' default, means its
    ``default_interm_quantizer``, ``int8``.  ``process`` must be
    ``"horowitz"``, the only table with published constants.
    """

    def __init__(
        self,
        model: keras.Model,
        process: str = "horowitz",
        source_quantizers: Sequence[Any] | Any | None = None,
        is_inference: bool = False,
        weights_path: str | os.PathLike[str] | None = None,
        keras_quantizer: str | None = None,
        keras_accumulator: str | None = None,
        for_reference: bool = False,
    ) -> None:
        if process != "horowitz":
            raise QToolsError(
                f"process={process!r} is not supported; the only energy table is 'horowitz' "
                "(Horowitz, ISSCC 2014, 45 nm); pass process='horowitz'"
            )
        # QKeras' default for both is its default_interm_quantizer, quantized_bits(8, 0, 1): int8
        keras_quantizer = "int8" if keras_quantizer is None else keras_quantizer
        keras_accumulator = "int8" if keras_accumulator is None else keras_accumulator
        for what, value in (("keras_quantizer", keras_quantizer), ("keras_accumulator", keras_accumulator)):
            if value not in ("int8", "int16", "int32", "fp16", "fp32"):
                raise QToolsError(
                    f"{what}={value!r} is not supported; use one of int8, int16, int32, fp16, fp32 "
                    "(QKeras' reference types)"
                )
        if weights_path is not None:
            _load_weights_file(model, weights_path)
        self.model = model
        self.for_reference = bool(for_reference)
        self.is_inference = bool(is_inference)
        self.keras_quantizer = keras_quantizer
        self.keras_accumulator = keras_accumulator
        self._kq = _named_type(keras_quantizer)
        self._ka = _named_type(keras_accumulator)
        self.source_quantizers = self._sources(source_quantizers)
        self._entries = self._walk()
        self._stats = self._to_stats()

    # -- construction ------------------------------------------------------------------------

    def _sources(self, source_quantizers: Any) -> list[QType]:
        n = len(self.model.inputs)
        if source_quantizers is None:
            specs: list[Any] = [DEFAULT_SOURCE_QUANTIZER] * n
        elif isinstance(source_quantizers, (list, tuple)):
            specs = list(source_quantizers)
        else:
            specs = [source_quantizers]
        if len(specs) != n:
            raise QToolsError(
                f"source_quantizers: {len(specs)} given but model {self.model.name!r} has {n} input(s); "
                "give one quantizer per model input"
            )
        return [_quantizer_arg(s, f"source_quantizers[{i}]") for i, s in enumerate(specs)]

    def _walk(self) -> list[_LayerEntry]:
        tensor_type: dict[int, QType] = {id(t): q for t, q in zip(self.model.inputs, self.source_quantizers)}
        model_inputs = {id(t) for t in self.model.inputs}
        model_outputs = {id(t) for t in self.model.outputs}
        entries = []
        for visit in walk_layers(self.model):
            in_types = [tensor_type.get(id(t), self._kq) for t in visit.inputs]
            entry = self._entry(visit.layer, visit.cls, visit.inputs, visit.outputs, in_types)
            entry.is_input_layer = any(id(t) in model_inputs for t in visit.inputs)
            entry.is_output_layer = any(id(t) in model_outputs for t in visit.outputs)
            for t in visit.outputs:
                tensor_type[id(t)] = entry.output
            entries.append(entry)
        return entries

    def _entry(self, layer: Any, cls: str, inputs: list, outputs: list, in_types: list[QType]) -> _LayerEntry:
        in_shapes = [tuple(t.shape) for t in inputs]
        out_shape = tuple(outputs[0].shape)
        where = f"layer {layer.name!r} ({cls})"
        if len(outputs) != 1:
            raise QToolsError(f"{where}: {len(outputs)} outputs; QTools accounts for single-output layers only")
        base = {
            "layer": layer,
            "inputs": in_types,
            "input_shapes": in_shapes,
            "output_shape": out_shape,
            "is_input_layer": False,
            "is_output_layer": False,
        }
        if cls in _ACTIVATION_LAYERS:
            q = layer.quantizer if cls == "QActivation" else None
            # QKeras: in reference mode, and for float activations, the output takes keras_accumulator's type.
            unquantized = self._ka
            if cls == "Activation" and getattr(layer, "activation", None) is keras.activations.linear:
                out = in_types[0]
            elif self.for_reference:
                out = unquantized
            else:
                out = _type_of(q, default=unquantized, where=where)
            return _LayerEntry(output=out, operation_count=sample_elements(in_shapes[0]), **base)
        if cls in PASS_THROUGH_LAYERS:
            return _LayerEntry(output=in_types[0], operation_count=sample_elements(in_shapes[0]), **base)
        if cls in _SUPPORTED_COMPUTE:
            return self._compute_entry(layer, cls, where, in_types, in_shapes, out_shape, base)
        if cls in COMPUTE_LAYERS:
            raise QToolsError(
                f"{where}: QTools' energy model has no multiplier/accumulator rule for {cls}; supported compute "
                f"layers: {', '.join(sorted(_SUPPORTED_COMPUTE))}; fpgaq.qstats counts its operations"
            )
        hint = (
            "fold it into the preceding layer (QDenseBatchnorm / QConv2DBatchnorm)"
            if "BatchNormalization" in cls
            else "remove it or replace it with a supported layer"
        )
        raise QToolsError(f"{where} is not supported by QTools; supported layers: {_SUPPORTED_LIST}; {hint}")

    def _compute_entry(
        self, layer: Any, cls: str, where: str, in_types: list[QType], in_shapes: list, out_shape: tuple, base: dict
    ) -> _LayerEntry:
        label, var, wq = weights_of(layer)[0]
        w_np = keras.ops.convert_to_numpy(var)
        quantized = _is_quantized_layer(layer) and not self.for_reference
        weight = _type_of(wq, w_np, default=self._kq, where=f"{where} {label}") if quantized else self._kq
        bias_var = getattr(layer, "bias", None)
        folded = cls.endswith("Batchnorm")  # the folded batchnorm always adds a bias
        has_bias = folded or (bias_var is not None and bool(getattr(layer, "use_bias", True)))
        bias = bias_shape = None
        if has_bias:
            bias_shape = (int(w_np.shape[-1]),) if bias_var is None else tuple(int(v) for v in bias_var.shape)
            bq = getattr(layer, "bias_quantizer_internal", None)
            bias_np = None if bias_var is None else keras.ops.convert_to_numpy(bias_var)
            bias = _type_of(bq, bias_np, default=self._kq, where=f"{where} bias") if quantized else self._kq
        mult = _multiplier(weight, in_types[0])
        if self.is_inference and mult.op_type == "shifter" and weight.kind == "po2":
            mult = _inference_shifter(mult, weight, in_types[0], wq, w_np)
        acc = _accumulator(mult.output, _fan_in(layer, in_shapes[0]), has_bias)
        if not quantized:
            # QKeras: float layers (and all layers in reference mode) keep the gate their operand
            # types call for, but multiply and accumulate in keras_accumulator arithmetic.
            mult = dataclasses.replace(mult, output=self._ka)
            acc = self._ka
        act = getattr(layer, "activation", None)
        out = _type_of(act, where=where) if (quantized and isinstance(act, BaseQuantizer)) else acc
        return _LayerEntry(
            output=out,
            weight=weight,
            weight_shape=tuple(int(v) for v in w_np.shape),
            bias=bias,
            bias_shape=bias_shape,
            multiplier=mult,
            accumulator=acc,
            operation_count=operation_count(layer, in_shapes[0], out_shape),
            operation=operation_name(weight, in_types[0]),
            **base,
        )

    def _to_stats(self) -> dict[str, Any]:
        layers: dict[str, Any] = {}
        for e in self._entries:
            item: dict[str, Any] = {
                "layer_type": type(e.layer).__name__,
                "input_quantizer_list": [q.to_dict(_shape(s)) for q, s in zip(e.inputs, e.input_shapes)],
                "output_quantizer": e.output.to_dict(_shape(e.output_shape)),
            }
            if e.weight is not None:
                item["weight_quantizer"] = e.weight.to_dict(list(e.weight_shape or ()))
            if e.bias is not None:
                item["bias_quantizer"] = e.bias.to_dict(list(e.bias_shape or ()))
            if e.multiplier is not None and e.accumulator is not None:
                item["multiplier"] = e.multiplier.output.to_dict(op_type=e.multiplier.op_type)
                item["multiplier"]["gate_factor"] = e.multiplier.gate_factor
                item["multiplier"]["gate_bits"] = e.multiplier.gate_bits
                item["accumulator"] = e.accumulator.to_dict(op_type="add")
                item["operation"] = e.operation
            item["operation_count"] = e.operation_count
            layers[e.layer.name] = item
        return {
            "model": self.model.name,
            "process": "horowitz",
            "for_reference": self.for_reference,
            "keras_quantizer": self.keras_quantizer,
            "keras_accumulator": self.keras_accumulator,
            "source_quantizers": [q.to_dict() for q in self.source_quantizers],
            "layers": layers,
        }

    # -- the data type map -----------------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        """The data type map as a JSON-ready dict (a copy: editing it changes nothing here)."""
        return json.loads(json.dumps(self._stats))

    @property
    def qkeras_stats(self) -> dict[str, Any]:
        """The data type map in QKeras' keys and layout (what its ``qtools_stats_to_json`` writes).

        ``source_quantizers`` first, then one entry per layer keyed by its name; quantizers as
        QKeras spells them (``floating_point`` floats with only ``bits``; po2 with ``max_value``;
        binary and ternary with their ``values``; bias shapes as a plain count).
        """
        out: dict[str, Any] = {"source_quantizers": [_qkeras_quantizer(q) for q in self.source_quantizers]}
        for e in self._entries:
            item: dict[str, Any] = {
                "layer_type": type(e.layer).__name__,
                "input_quantizer_list": [_qkeras_quantizer(q) for q in e.inputs],
            }
            if e.weight is not None:
                item["weight_quantizer"] = _qkeras_quantizer(e.weight, list(e.weight_shape or ()))
            if e.bias is not None:
                shape = list(e.bias_shape or ())
                item["bias_quantizer"] = _qkeras_quantizer(e.bias, shape[0] if len(shape) == 1 else shape)
            if e.multiplier is not None and e.accumulator is not None:
                item["multiplier"] = _qkeras_quantizer(e.multiplier.output, op_type=e.multiplier.op_type)
                item["accumulator"] = _qkeras_quantizer(e.accumulator, op_type="add")
            item["output_quantizer"] = _qkeras_quantizer(e.output, _shape(e.output_shape))
            item["operation_count"] = e.operation_count
            out[e.layer.name] = item
        return out

    def qtools_stats_to_json(self, path: str | Path) -> Path:
        """Write :attr:`qkeras_stats` to ``path`` as QKeras' method of the same name does (JSON, indent 4)."""
        return qtools_stats_to_json(self, path)

    def table(self) -> str:
        """The data type map as a plain-text table."""
        return format_qtools_table(self._stats)

    def qtools_stats_print(self) -> None:
        """Print :attr:`qkeras_stats` as QKeras does (JSON, indent 4); :meth:`table` is the compact view."""
        print(json.dumps(self.qkeras_stats, indent=4))

    # -- energy ------------------------------------------------------------------------------

    def pe(
        self,
        parameters_on_memory: str = "dram",
        activations_on_memory: str = "dram",
        min_sram_size: int = 0,
        rd_wr_on_io: bool = True,
        verbose: bool = False,
        weights_on_memory: str | None = None,
    ) -> dict[str, Any]:
        """Energy per layer in pJ: ``{name: {"class_name", "energy": {inputs, outputs, parameters, op_cost}}}``.

        ``parameters_on_memory`` (QKeras' first argument, ``weights_on_memory``; either
        keyword works): ``dram``, ``sram`` or ``fixed`` (wired in: free);
        ``activations_on_memory``: ``dram``, ``sram`` or ``fixed`` (intermediate tensors
        stay in registers: free; model inputs and outputs still move as ``rd_wr_on_io``
        says); ``min_sram_size``: the smallest SRAM in bits
        (a tensor smaller than it still pays that SRAM's per-bit energy);
        ``rd_wr_on_io``: model inputs/outputs come from/go to DRAM through the
        SRAM.  ``total_cost`` sums every term of every layer, as QKeras does;
        :meth:`extract_energy_sum` applies the per-class rule instead.  ``verbose``
        prints the result as QKeras does.
        """
        if weights_on_memory is not None:
            if parameters_on_memory not in ("dram", weights_on_memory):
                raise QToolsError(
                    f"parameters_on_memory={parameters_on_memory!r} and weights_on_memory={weights_on_memory!r} "
                    "name the same setting; pass only one of them"
                )
            parameters_on_memory = weights_on_memory
        if parameters_on_memory not in _MEMORIES:
            raise QToolsError(
                f"parameters_on_memory={parameters_on_memory!r} is not supported; use 'dram', 'sram' or 'fixed'"
            )
        if activations_on_memory not in _MEMORIES:
            raise QToolsError(
                f"activations_on_memory={activations_on_memory!r} is not supported; use 'dram', 'sram' or 'fixed'"
            )
        if isinstance(min_sram_size, bool) or not isinstance(min_sram_size, (int, np.integer)) or min_sram_size < 0:
            raise QToolsError(f"min_sram_size={min_sram_size!r} must be a non-negative number of bits, e.g. 0 or 2**20")

        def mem(bits: float, mode: str, at_io: bool) -> float:
            return _memory_energy(bits, mode, at_io, int(min_sram_size), bool(rd_wr_on_io))

        result: dict[str, Any] = {}
        total = 0.0
        for e in self._entries:
            inputs = sum(
                mem(sample_elements(s) * q.bits, activations_on_memory, e.is_input_layer)
                for q, s in zip(e.inputs, e.input_shapes)
            )
            outputs = mem(sample_elements(e.output_shape) * e.output.bits, activations_on_memory, e.is_output_layer)
            parameters = op_cost = 0.0
            if e.weight is not None and e.multiplier is not None and e.accumulator is not None:
                parameters = mem(float(np.prod(e.weight_shape)) * e.weight.bits, parameters_on_memory, False)
                if e.bias is not None:
                    parameters += mem(float(np.prod(e.bias_shape)) * e.bias.bits, parameters_on_memory, False)
                op_cost = e.operation_count * (_op_energy(e.multiplier) + _add_energy(e.accumulator))
            energy = {"inputs": inputs, "outputs": outputs, "parameters": parameters, "op_cost": op_cost}
            result[e.layer.name] = {"class_name": type(e.layer).__name__, "energy": energy}
            total += sum(energy.values())
        result["total_cost"] = total
        if verbose:
            print("COST:")
            print(json.dumps(result, indent=4))
        return result

    @staticmethod
    def extract_energy_profile(
        energy: dict[str, Any], include: dict[str, Sequence[str]] | None = None
    ) -> dict[str, Any]:
        """Per layer: its energy terms and ``total``, the terms ``include`` counts for its class.

        QKeras' order, ``extract_energy_profile(include, energy)``, works too.
        """
        energy, include = _energy_first(energy, include)
        rules = INCLUDE_ENERGY if include is None else include
        profile = {}
        for name, item in energy.items():
            if name == "total_cost":
                continue
            keys = rules.get(item["class_name"], rules.get("default", ()))
            profile[name] = {"energy": dict(item["energy"]), "total": sum(item["energy"][k] for k in keys)}
        return profile

    @classmethod
    def extract_energy_sum(cls, energy: dict[str, Any], include: dict[str, Sequence[str]] | None = None) -> float:
        """The model's energy in pJ: the sum of :meth:`extract_energy_profile`'s totals.

        QKeras' order, ``extract_energy_sum(include, energy)``, works too; QKeras truncates the sum
        to a whole pJ, fpgaq does not.
        """
        energy, include = _energy_first(energy, include)
        return float(sum(v["total"] for v in cls.extract_energy_profile(energy, include).values()))


def reference_qtools(
    model: keras.Model, reference: str = "int8", source_quantizers: Sequence[Any] | Any | None = None
) -> QTools:
    """QTools of ``model`` counted as unquantized: ``int8`` (int32 accumulators) or ``fp32``."""
    if reference not in REFERENCES:
        raise QToolsError(f"reference={reference!r} is not supported; use one of {', '.join(REFERENCES)}")
    kq, ka = REFERENCES[reference]
    return QTools(
        model, source_quantizers=source_quantizers, keras_quantizer=kq, keras_accumulator=ka, for_reference=True
    )


def _energy_first(a: Any, b: Any) -> tuple[Any, Any]:
    """``(energy, include)`` from either argument order (fpgaq's, or QKeras' ``(include, energy)``)."""
    if isinstance(b, dict) and "total_cost" in b and not (isinstance(a, dict) and "total_cost" in a):
        return b, a
    return a, b


def _qkeras_name(t: QType) -> str:
    if t.is_float:
        return "floating_point"
    if t.quantizer in ("int8", "int16", "int32"):
        return "quantized_bits"
    return t.quantizer.split("(")[0]


def _qkeras_quantizer(t: QType, shape: Any = None, op_type: str | None = None) -> dict[str, Any]:
    """One quantizer as QKeras' ``populate_quantizer`` lays it out."""
    d: dict[str, Any] = {"quantizer_type": _qkeras_name(t)}
    if t.is_float:
        d["bits"] = t.bits
    elif t.kind == "po2":
        d.update(bits=t.bits, is_signed=t.signed, max_value=-1 if t.max_value is None else t.max_value)
    elif t.kind in ("binary", "binary01"):
        values = [0, 1] if t.kind == "binary01" else [-1, 1]
        d.update(bits=t.bits, int_bits=t.int_bits, is_signed=t.signed, values=values)
    elif t.kind == "ternary":
        d.update(bits=2, int_bits=2, is_signed=True, values=[0, -1, 1])
    else:
        d.update(bits=t.bits, int_bits=t.int_bits, is_signed=t.signed)
    if shape is not None:
        d["shape"] = shape
    if op_type is not None:
        d["op_type"] = op_type
    return d


def qtools_stats_to_json(stats: dict[str, Any] | QTools, path: str | Path) -> Path:
    """Write a :class:`QTools`' map in QKeras' layout (or a given dict) to ``path`` as JSON, indent 4."""
    data = stats.qkeras_stats if isinstance(stats, QTools) else stats
    out = Path(path)
    out.write_text(json.dumps(data, indent=4))  # as QKeras' json.dump: no final newline
    return out


def _spell(t: dict[str, Any] | None) -> str:
    if not t:
        return "-"
    if t["kind"] == "float":
        return f"fp{t['bits']}"
    if t["kind"] == "po2":
        return f"{'s' if t['is_signed'] else 'u'}po2<{t['bits']}>"
    if t["kind"] in ("binary", "binary01", "ternary"):
        return f"{t['kind']}<{t['bits']}>"
    return f"{'' if t['is_signed'] else 'u'}fixed<{t['bits']},{t['int_bits']}>"


def format_qtools_table(stats: dict[str, Any]) -> str:
    """One row per layer: input, weight, bias, multiplier (and its gate), accumulator, output, operations."""
    headers = ("layer", "class", "input", "weight", "bias", "multiplier", "accumulator", "output", "ops")
    rows = []
    for name, item in stats["layers"].items():
        mult = item.get("multiplier")
        rows.append(
            (
                name,
                item["layer_type"],
                ", ".join(_spell(q) for q in item["input_quantizer_list"]),
                _spell(item.get("weight_quantizer")),
                _spell(item.get("bias_quantizer")),
                f"{_spell(mult)} {mult['op_type']}" if mult else "-",
                _spell(item.get("accumulator")),
                _spell(item["output_quantizer"]),
                str(item["operation_count"]),
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    mode = f"reference {stats['keras_quantizer']}/{stats['keras_accumulator']}" if stats["for_reference"] else "model"
    sources = ", ".join(_spell(q) for q in stats["source_quantizers"])
    lines = [f"QTools data type map of {stats['model']!r} ({mode}; inputs {sources})", ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def format_energy_table(energy: dict[str, Any], include: dict[str, Sequence[str]] | None = None) -> str:
    """Per-layer energy terms (pJ), the counted total per layer and the model's sum."""
    profile = QTools.extract_energy_profile(energy, include)
    headers = ("layer", "inputs", "outputs", "parameters", "op_cost", "counted")
    lines = [f"{headers[0]:24}" + "".join(f"{h:>14}" for h in headers[1:])]
    for name, item in profile.items():
        e = item["energy"]
        values = (e["inputs"], e["outputs"], e["parameters"], e["op_cost"], item["total"])
        lines.append(f"{name:24}" + "".join(f"{v:>14.2f}" for v in values))
    total = sum(v["total"] for v in profile.values())
    lines.append(f"{'total (pJ)':24}" + f"{'':>14}" * 4 + f"{total:>14.2f}")
    return "\n".join(lines)
