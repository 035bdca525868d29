"""QKeras' quantized tanh, sigmoid and u-law: a function, then an output grid.

Each quantizer names its function in ``nonlinearity`` (so the IR builds a
table or a shift-and-add circuit rather than a cast) and answers
``hardware()`` with the grid of the final rounding step, so that for the
FixedType cases the output is ``hardware().quantize(f(x))`` with ``f`` from
:data:`~fpgaq.quantizers.activations.NONLINEARITIES`.

QKeras computes ``clip(round(f(x) * 2**n) / 2**n, lo, hi)`` in float32, with
``round`` half to even (``AC_RND_CONV``).  By default ``f`` is QKeras' *hard*
sigmoid ``clip(x/2 + 1/2, 0, 1)`` (and tanh is ``2*hard_sigmoid(x) - 1``),
not the real one; ``use_real_tanh`` / ``use_real_sigmoid`` select the real
functions.  Where the two goals meet, fpgaq chooses:

* hard functions: the same float32 arithmetic as QKeras, so results equal
  QKeras' for every input.  It equals the exact ``quantize(f(x))`` whenever
  ``x/2 + 1/2`` is exact in float32, e.g. for every input with at most 23
  fractional bits, which covers fixed-point datapaths.  Finer inputs can be
  rounded onto a tie first: ``quantized_tanh(8)`` maps ``2**-8 + 2**-30`` to 0
  (QKeras too), where the exact answer is ``2**-7``.
* real functions: TensorFlow's float32 tanh and sigmoid are approximations
  (up to ~5 ulp, and sigmoid's result even depends on the element's position
  in the tensor), so no table can reproduce them.  fpgaq evaluates the
  function in float64 and rounds that, which is the correctly rounded result
  a table holds; it differs from QKeras only where ``f(x) * 2**n`` lies within
  a few float32 ulps of a rounding tie: about 5 inputs in 10**6 at 8 bits,
  1 in 10**4 at 12 bits, 1.5 in 10**3 at 16 bits (normal inputs, sd 3).
* u-law: calls follow QKeras' chain of float32 ops, operation for
  operation; ``hardware().levels`` are that chain evaluated once on every
  code.  TensorFlow's float32 ``log`` depends on the element's position in
  the tensor, so an output can lie one float32 ulp away from its level.

Gradients are QKeras': the derivative of ``f`` (real or hard, with TF's
inclusive clip masks) where the rounded value lies inside ``[lo, hi]``
(bounds included), zero outside, computed in float32 as QKeras does.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import HardwareType, LevelsType
from fpgaq.quantizers._common import in_training, python_number, seed_generator, stochastic_round
from fpgaq.quantizers.activations import float_hard_sigmoid, internal_sigmoid, internal_sigmoid_mode
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer

__all__ = ["quantized_sigmoid", "quantized_tanh", "quantized_ulaw"]


# ------------------------------------------------------------------ helpers
def _check_int(name: str, key: str, value: Any, example: str, minimum: int | None = None) -> int:
    ok = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or (minimum is not None and value < minimum):
        need = f"an integer >= {minimum}" if minimum is not None else "an integer"
        raise ValueError(f"{name}: {key} must be {need}, got {value!r}; e.g. {example}")
    return int(value)


def _call_string(name: str, bits: int, options: list[tuple[str, Any, Any]]) -> str:
    """``name(bits,key=value,...)`` listing only settings that differ from the default."""
    args = [str(bits)] + [f"{key}={value!r}" for key, value, default in options if value != default]
    return f"{name}({','.join(args)})"


def _on_grid(p_value: Any, p_grad: Any, scale: float, lo: float, hi: float, generator: Any) -> Any:
    """``clip(round(p * scale) / scale, lo, hi)`` forward; ``dp/dx`` where the rounded value is in range.

    ``p_value`` is the function's value used for rounding (float32 or float64),
    ``p_grad`` the float32 tensor the gradient flows through.  With a
    ``generator`` the rounding is QKeras' stochastic one, to multiples of 1/2
    (its ``precision=0.5``), so training sees half-steps the hardware never
    produces, as in QKeras.
    """
    z = p_value * scale
    z = ops.round(z) if generator is None else stochastic_round(z, 0.5, generator)
    z = z / scale
    out_dtype = p_grad.dtype
    q = ops.cast(ops.clip(z, lo, hi), out_dtype)
    inside = ops.cast(ops.logical_and(ops.greater_equal(z, lo), ops.less_equal(z, hi)), out_dtype)
    return ops.stop_gradient(q) + inside * (p_grad - ops.stop_gradient(p_grad))


def _sampler(generator: Any, training: bool | None) -> Any:
    """The generator to round with now, or None: QKeras samples only while training."""
    return generator if generator is not None and in_training(training) else None


def _float_input(x: Any) -> Any:
    # QKeras casts to floatx first; so do we, so that integer inputs work too.
    return ops.cast(x, keras.backend.floatx())


# ----------------------------------------------------------------- quantizers
@register_quantizer
class quantized_tanh(BaseQuantizer):
    """A tanh rounded to ``bits`` bits in ``[-1, 1 - 2**(1-bits)]``: ``fixed<bits, 1>``.

    ``symmetric`` drops -1 (``AC_SAT_SYM``).  ``use_stochastic_rounding``
    rounds randomly only while training (``training=True`` given, or the
    Keras layer call in progress is training); at inference it is
    deterministic, as in QKeras.
    """

    name = "quantized_tanh"
    nonlinearity = "tanh"

    def __init__(
        self,
        bits: int = 8,
        use_stochastic_rounding: bool = False,
        symmetric: bool = False,
        use_real_tanh: bool = False,
    ) -> None:
        self.bits = _check_int(self.name, "bits", bits, "quantized_tanh(8)", minimum=1)
        self.use_stochastic_rounding = python_number(use_stochastic_rounding)
        self.symmetric = python_number(symmetric)
        self.use_real_tanh = python_number(use_real_tanh)
        self._generator = seed_generator(None) if use_stochastic_rounding else None
        # The exact function, so that nothing downstream mistakes the default hard tanh for tanh.
        self.nonlinearity = "tanh" if use_real_tanh else "hard_tanh"  # type: ignore[misc]

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = _float_input(x)
        m = 2.0 ** (self.bits - 1)
        if self.use_real_tanh:
            p_grad = ops.tanh(x)
            p_value = ops.tanh(ops.cast(x, "float64"))
        else:
            p_grad = p_value = 2.0 * float_hard_sigmoid(x) - 1.0
        return _on_grid(p_value, p_grad, m, self.min(), self.max(), _sampler(self._generator, training))

    def hardware(self, x: Any = None) -> HardwareType:
        overflow = Overflow.SAT_SYM if self.symmetric else Overflow.SAT
        return FixedType(self.bits, 1, True, Rounding.RND_CONV, overflow)

    def max(self) -> float:
        return 1.0 - 2.0 ** (1 - self.bits)

    def min(self) -> float:
        return -1.0 + (2.0 ** (1 - self.bits) if self.symmetric else 0.0)

    def get_config(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "symmetric": self.symmetric,
            "use_stochastic_rounding": self.use_stochastic_rounding,
            "use_real_tanh": self.use_real_tanh,
        }

    def __str__(self) -> str:
        return _call_string(
            self.name,
            self.bits,
            [
                ("use_stochastic_rounding", self.use_stochastic_rounding, False),
                ("symmetric", self.symmetric, False),
                ("use_real_tanh", self.use_real_tanh, False),
            ],
        )


@register_quantizer
class quantized_sigmoid(BaseQuantizer):
    """A sigmoid rounded to ``bits`` bits in ``[0, 1 - 2**-bits]``: ``ufixed<bits, 0>``.

    ``symmetric`` raises the floor to ``2**-bits`` (a range symmetric about
    1/2).  No overflow mode of an unsigned type expresses that, so its
    ``hardware()`` lists the levels instead (a :class:`LevelsType`); the
    values are still ``max(ufixed<bits, 0, RND_CONV, SAT>(f(x)), 2**-bits)``
    and fit in ``ufixed<bits, 0>``.
    """

    name = "quantized_sigmoid"
    nonlinearity = "sigmoid"

    def __init__(
        self,
        bits: int = 8,
        symmetric: bool = False,
        use_real_sigmoid: bool = False,
        use_stochastic_rounding: bool = False,
    ) -> None:
        self.bits = _check_int(self.name, "bits", bits, "quantized_sigmoid(8)", minimum=1)
        self.symmetric = python_number(symmetric)
        self.use_real_sigmoid = python_number(use_real_sigmoid)
        self.use_stochastic_rounding = python_number(use_stochastic_rounding)
        self._generator = seed_generator(None) if use_stochastic_rounding else None
        self.nonlinearity = "sigmoid" if use_real_sigmoid else "hard_sigmoid"  # type: ignore[misc]

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = _float_input(x)
        m = 2.0**self.bits
        if self.use_real_sigmoid:
            p_grad = ops.sigmoid(x)
            p_value = ops.sigmoid(ops.cast(x, "float64"))
        else:
            p_grad = p_value = float_hard_sigmoid(x)
        return _on_grid(p_value, p_grad, m, self.min(), self.max(), _sampler(self._generator, training))

    def hardware(self, x: Any = None) -> HardwareType:
        if self.symmetric:
            m = 2**self.bits
            return LevelsType(self.bits, tuple(k / m for k in range(1, m)))
        return FixedType(self.bits, 0, False, Rounding.RND_CONV, Overflow.SAT)

    def max(self) -> float:
        return 1.0 - 2.0**-self.bits

    def min(self) -> float:
        return 2.0**-self.bits if self.symmetric else 0.0

    def get_config(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "symmetric": self.symmetric,
            "use_real_sigmoid": self.use_real_sigmoid,
            "use_stochastic_rounding": self.use_stochastic_rounding,
        }

    def __str__(self) -> str:
        return _call_string(
            self.name,
            self.bits,
            [
                ("symmetric", self.symmetric, False),
                ("use_real_sigmoid", self.use_real_sigmoid, False),
                ("use_stochastic_rounding", self.use_stochastic_rounding, False),
            ],
        )


@functools.lru_cache(maxsize=64)
def _ulaw_table(bits: int, integer: int, symmetric: bool, u: float) -> np.ndarray:
    """Output for each rounded code ``k = 0 .. 2**(bits-1)``, as float32.

    Computed with QKeras' own float32 expression (see :func:`_ulaw_curve`), so
    the levels are the values QKeras outputs.
    """
    m = 2 ** (bits - 1)
    k = ops.convert_to_tensor(np.arange(m + 1, dtype=np.float32))
    return np.asarray(ops.convert_to_numpy(_ulaw_curve(k, bits, integer, symmetric, u)), dtype=np.float32)


def _ulaw_curve(k: Any, bits: int, integer: int, symmetric: Any, u: float) -> Any:
    """QKeras' float32 u-law of the rounded code ``k``, operation for operation."""
    m = 2 ** (bits - 1)
    r = 2.0 * (k / float(m)) - 1.0
    log_1pu = ops.log(ops.convert_to_tensor(1.0 + u, dtype=k.dtype))
    curve = ops.sign(r) * ops.log(1.0 + u * ops.abs(r)) / log_1pu
    lo = -1.0 + (1.0 * bool(symmetric)) / m
    return float(2**integer) * ops.clip(curve, lo, 1.0 - 1.0 / m)


@register_quantizer
class quantized_ulaw(BaseQuantizer):
    """u-law companding of a hard-sigmoid code: non-uniform levels in ``[-2**integer, 2**integer)``.

    The input is first put on a uniform grid, ``k = round(2**(bits-1) *
    hard_sigmoid(x / 2**integer))`` (half to even), then mapped through
    ``r = 2k / 2**(bits-1) - 1``, ``y = sign(r) log(1 + u|r|) / log(1 + u)``,
    clipped to ``[-1 (+2**(1-bits) if symmetric), 1 - 2**(1-bits)]`` and
    scaled by ``2**integer``.  The curve comes *after* the rounding, so the
    output is a :class:`LevelsType` (one level per code, merged where the clip
    makes codes equal) and hardware needs a table indexed by ``k``.
    """

    name = "quantized_ulaw"
    nonlinearity = "ulaw"

    def __init__(self, bits: int = 8, integer: int = 0, symmetric: bool = False, u: float = 255.0) -> None:
        self.bits = _check_int(self.name, "bits", bits, "quantized_ulaw(8)", minimum=1)
        self.integer = _check_int(self.name, "integer", integer, "quantized_ulaw(8, integer=1) for [-2, 2)")
        self.symmetric = python_number(symmetric)
        if isinstance(u, bool) or not isinstance(u, numbers.Real) or not u > 0:
            raise ValueError(f"{self.name}: u must be a number > 0, got {u!r}; QKeras' default is u=255.0")
        self.u = float(u)

    def _table(self) -> np.ndarray:
        return _ulaw_table(self.bits, self.integer, bool(self.symmetric), self.u)

    def __call__(self, x: Any) -> Any:
        # QKeras' float32 expression, operation for operation: TensorFlow's float32 log can differ by an ulp
        # between elements of one tensor (vector and scalar code paths), so a table cannot reproduce it.
        x = _float_input(x)
        m = 2 ** (self.bits - 1)
        p = internal_sigmoid(x / float(2**self.integer)) * float(m)
        k = ops.stop_gradient(ops.round(p)) + (p - ops.stop_gradient(p))
        return _ulaw_curve(k, self.bits, self.integer, self.symmetric, self.u)

    def hardware(self, x: Any = None) -> HardwareType:
        """The levels of QKeras' float32 curve at each code (a call's output can differ from them by an ulp)."""
        if internal_sigmoid_mode() != "hard":
            raise ValueError(
                f"{self}: set_internal_sigmoid({internal_sigmoid_mode()!r}) is in effect; only QKeras' default "
                "'hard' sigmoid maps to hardware; call set_internal_sigmoid('hard')"
            )
        levels = sorted({float(v) for v in self._table()})
        return LevelsType(self.bits, tuple(levels))

    def max(self) -> float:
        return max(1.0, 2.0**self.integer) if self.bits > 1 else 1.0

    def min(self) -> float:
        return -self.max()

    def get_config(self) -> dict[str, Any]:
        return {"bits": self.bits, "integer": self.integer, "symmetric": self.symmetric, "u": self.u}

    def __str__(self) -> str:
        return _call_string(
            self.name,
            self.bits,
            [("integer", self.integer, 0), ("symmetric", self.symmetric, False), ("u", self.u, 255.0)],
        )
