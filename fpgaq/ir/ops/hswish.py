"""``quantized_hswish`` as an activation: a ``step`` node holding every output exactly.

QKeras' hard swish is ``x * clip(x + shift, 0, bound) / bound`` in float32,
then ``quantized_bits``.  Its float32 products round, so no closed form in
fixed point reproduces it at every input; but the input of a hardware node is
a fixed-point code, and a code of at most 24 bits is an exact float32 value.
So the exact output of every code is what the quantizer itself computes on
that float32 value, and the function of the code is piecewise constant with
at most a few levels per output value (it dips below zero once, then rises
and saturates).  That is the ``step`` op of
:mod:`fpgaq.ir.ops.quantized_activations`: its reference kernel, HLS builder,
RTL lowering (comparators or a ROM, whichever is smaller) and cost terms
apply unchanged, and no multiplier is built.

Wider inputs (e.g. an accumulator of more than 24 bits) hold codes that Keras
rounds to float32 before the hard swish, so no hardware of the exact value
matches Keras; they are refused with the fix (a quantizer before it).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import numpy as np
from keras import ops

from fpgaq.fixed import FixedType
from fpgaq.ir.ops._common import hardware_type, layer_where, unsupported
from fpgaq.ir.ops.quantized_activations import Piece, emit_step, fixed_alpha
from fpgaq.ir.trace import QUANTIZER_ACTIVATIONS, UnsupportedLayerError
from fpgaq.quantizers.base import get_quantizer

__all__ = ["FLOAT32_EXACT_BITS", "HswishSteps", "check_float32_input"]

#: float32 holds every integer code of at most this many bits (its significand).
FLOAT32_EXACT_BITS = 24
# Codes evaluated per call of the Keras quantizer, so a 24-bit input needs no gigabyte temporaries.
_CHUNK = 1 << 20


def check_float32_input(tin: FixedType, quantizer: str, where: str, function: str) -> None:
    """Refuse an input ``tin`` too wide for float32, which Keras would round before ``function``."""
    if tin.width > FLOAT32_EXACT_BITS:
        raise UnsupportedLayerError(
            f"{where}: activation quantizer {quantizer} reads a {tin.width}-bit input "
            f"({tin.ap_fixed()}), wider than float32's {FLOAT32_EXACT_BITS}-bit significand, so Keras rounds "
            f"the input before the {function} and no exact fixed-point form exists; put a quantizer of at most "
            f"{FLOAT32_EXACT_BITS} bits before it (e.g. quantized_bits(16, ...) on the previous layer's output)"
        )


@dataclasses.dataclass(frozen=True)
class HswishSteps:
    """The step rule of one ``quantized_hswish``: its levels are the quantizer's own float32 outputs.

    ``quantizer`` is the quantizer's string form (rebuilt to evaluate, so the rule is an immutable,
    hashable value that caches and copies like the other step rules); ``grid`` is its output type;
    ``where`` names the layer for errors found once the input type is known.
    """

    quantizer: str
    grid: FixedType
    where: str

    def output_type(self) -> FixedType:
        return self.grid

    def outputs(self, tin: FixedType) -> np.ndarray:
        """The quantizer's float32 output for every code of ``tin``, in code order."""
        check_float32_input(tin, self.quantizer, self.where, "hard swish")
        q = get_quantizer(self.quantizer)
        out = []
        for start in range(tin.min_int, tin.max_int + 1, _CHUNK):
            codes = np.arange(start, min(start + _CHUNK, tin.max_int + 1), dtype=np.float64)
            x = np.ldexp(codes, -tin.frac).astype(np.float32)  # exact: at most 24 significant bits
            out.append(np.asarray(ops.convert_to_numpy(q(x, training=False)), dtype=np.float32))
        return np.concatenate(out)

    def pieces(self, tin: FixedType) -> list[Piece]:
        y = self.outputs(tin)
        starts = np.concatenate([[0], np.flatnonzero(y[1:] != y[:-1]) + 1])
        return [(tin.min_int + int(i), Fraction(float(y[i]))) for i in starts]


def _hswish(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    fixed_alpha(layer, q)  # refuses a learned or per-channel scale, naming the fix
    grid = hardware_type(layer, q)
    if not isinstance(grid, FixedType):
        raise unsupported(
            layer,
            f"activation quantizer {q} rounds to {grid}, a scaled grid, which is not supported for activations",
            "use alpha=1 (or None)",
        )
    return emit_step(t, layer, q, src, name, lc, HswishSteps(str(q), grid, layer_where(layer)))


QUANTIZER_ACTIVATIONS["quantized_hswish"] = _hswish
