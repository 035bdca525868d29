"""``quantized_ulaw`` as an activation: a ``step`` node whose levels are Keras' own float32 outputs.

QKeras' u-law rounds a hard-sigmoid code ``k`` and then maps it through a
float32 ``log`` curve, so its output is one of the ``2**(bits-1) + 1`` float32
values ``curve(k)``.  Every float32 value is a dyadic rational, so a
fixed-point type with enough fractional bits holds all of them exactly (as
the DoReFa levels of :mod:`fpgaq.ir.ops.larq`).  The input of a hardware node
is a fixed-point code, and a code of at most 24 bits is an exact float32
value, so, as for :mod:`fpgaq.ir.ops.hswish`, the quantizer itself is run on
every code and each change of its output becomes a threshold of the ``step``
op: reference kernel, HLS builder, RTL lowering and cost terms apply
unchanged, and the hardware is comparators or a ROM, with no logarithm.

Which float32 ``log`` is "Keras' output"?  TensorFlow computes it differently
by context (measured on CPU):

* compiled graphs (``model.predict``, ``tf.function``; what QKeras' stored
  outputs hold) rewrite ``log(1 + v)`` as ``log1p(v)`` and evaluate it with
  vector instructions, except for the last ``n mod 8`` elements of an
  ``n``-element tensor, which take a scalar routine whose last bit differs
  for some codes (136 of the 2049 of ``quantized_ulaw(12)``);
* eager calls (``model(x)``) evaluate ``log(1 + v)``, again one ulp off for
  some codes.

Hardware cannot depend on where an element sits in a tensor, so the levels
are the compiled graph's vector values: the reference equals ``predict``
bit for bit on every element of a tensor whose size is a multiple of 8, and
on the others is at most one float32 ulp away on the last ``n mod 8``.  They
are computed here in exactly that context: each chunk of codes is padded to
a multiple of 64 elements (any vector width) and evaluated in one compiled
call.  Other backends are evaluated as their ``predict`` runs (``jax.jit``;
eagerly otherwise).

The curve need not be monotone in float32, and the table-building pass does
not assume it is: it checks that its thresholds give back every code's
output and refuses otherwise.  Inputs wider than 24 bits (Keras rounds them
before the hard sigmoid) and QKeras' smooth internal sigmoid (whose float32
value even depends on tensor position) are refused, naming the fix.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from fractions import Fraction
from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.fixed import FixedType
from fpgaq.ir.ops._common import hardware_type, layer_where
from fpgaq.ir.ops.hswish import check_float32_input
from fpgaq.ir.ops.quantized_activations import Piece, emit_step, levels_type
from fpgaq.ir.trace import QUANTIZER_ACTIVATIONS, UnsupportedLayerError
from fpgaq.quantizers.base import get_quantizer

__all__ = ["UlawSteps", "compiled_outputs"]

# Codes per compiled call (a multiple of _PAD), so a 24-bit input needs no gigabyte temporaries.
_CHUNK = 1 << 20
# Chunks are padded to a multiple of this many elements so that no code lands in a scalar tail.
_PAD = 64


@functools.lru_cache(maxsize=32)
def _compiled(quantizer: str) -> Any:
    """The quantizer as the backend's ``predict`` runs it: a TensorFlow graph, a JAX jit, or eagerly."""
    q = get_quantizer(quantizer)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: q(x), input_signature=[tf.TensorSpec([None], tf.float32)], jit_compile=False)
    if backend == "jax":
        import jax

        return jax.jit(lambda x: q(x))
    return q


def compiled_outputs(quantizer: str, x: np.ndarray) -> np.ndarray:
    """The quantizer's compiled float32 output for each float32 in ``x``, none of them in a scalar tail."""
    fn = _compiled(quantizer)
    out = []
    # One trace per quantizer is intended; TensorFlow's "frequent retracing" warning would count each new one.
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(max(level, logging.ERROR))
    try:
        for start in range(0, len(x), _CHUNK):
            chunk = x[start : start + _CHUNK]
            padded = np.concatenate([chunk, np.full(-len(chunk) % _PAD, chunk[0], dtype=np.float32)])
            y = np.asarray(ops.convert_to_numpy(fn(ops.convert_to_tensor(padded))), dtype=np.float32)
            out.append(y[: len(chunk)])
    finally:
        tf_logger.setLevel(level)
    return np.concatenate(out)


@functools.lru_cache(maxsize=32)
def _levels(quantizer: str) -> tuple[float, ...]:
    """``curve(k)`` for every code ``k``: the input ``2**integer * (2k/m - 1)`` makes the hard sigmoid exactly k/m."""
    q = get_quantizer(quantizer)
    m = 2 ** (q.bits - 1)
    x = (2.0**q.integer * (2.0 * np.arange(m + 1) / m - 1.0)).astype(np.float32)
    return tuple(sorted({float(v) for v in compiled_outputs(quantizer, x)}))


@functools.lru_cache(maxsize=16)
def _code_outputs(quantizer: str, tin: FixedType) -> np.ndarray:
    codes = np.arange(tin.min_int, tin.max_int + 1, dtype=np.float64)
    return compiled_outputs(quantizer, np.ldexp(codes, -tin.frac).astype(np.float32))  # exact: <= 24 bits


@dataclasses.dataclass(frozen=True)
class UlawSteps:
    """The step rule of one ``quantized_ulaw``: its levels are Keras' compiled float32 outputs.

    ``quantizer`` is the quantizer's string form (rebuilt to evaluate, so the rule is an immutable,
    hashable value that caches and copies like the other step rules); ``where`` names the layer for
    errors found once the input type is known.
    """

    quantizer: str
    where: str

    def levels(self) -> tuple[Fraction, ...]:
        return tuple(Fraction(v) for v in _levels(self.quantizer))

    def output_type(self) -> FixedType:
        """The narrowest fixed-point type holding every float32 level exactly (each is a dyadic rational)."""
        return levels_type(list(self.levels()))

    def outputs(self, tin: FixedType) -> np.ndarray:
        """Keras' compiled float32 output for every code of ``tin``, in code order."""
        check_float32_input(tin, self.quantizer, self.where, "u-law")
        return _code_outputs(self.quantizer, tin)

    def pieces(self, tin: FixedType) -> list[Piece]:
        y = self.outputs(tin)
        unknown = np.setdiff1d(y, np.asarray(_levels(self.quantizer), dtype=np.float32))
        starts = np.concatenate([[0], np.flatnonzero(y[1:] != y[:-1]) + 1])
        # The self-check: the thresholds and levels, read the way the step op reads them, give every code's output.
        rebuilt = y[starts][np.searchsorted(starts, np.arange(len(y)), side="right") - 1]
        if unknown.size or not np.array_equal(rebuilt, y):
            raise UnsupportedLayerError(
                f"{self.where}: activation quantizer {self.quantizer} gives outputs on {tin.ap_fixed()} that its "
                f"levels do not reproduce (e.g. {unknown[:3].tolist()}), so fpgaq cannot build an exact table; "
                "use quantized_bits or quantized_po2 here"
            )
        return [(tin.min_int + int(i), Fraction(float(y[i]))) for i in starts]


def _ulaw(t: Any, layer: Any, q: Any, src: str, name: str, lc: Any) -> str:
    hardware_type(layer, q)  # refuses QKeras' smooth internal sigmoid, naming set_internal_sigmoid('hard')
    return emit_step(t, layer, q, src, name, lc, UlawSteps(str(q), layer_where(layer)))


QUANTIZER_ACTIVATIONS["quantized_ulaw"] = _ulaw
