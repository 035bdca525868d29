"""``learned_bits``: fixed-point quantization whose bit widths train with the weights.

Every element (or channel, or the whole tensor) has its own number of
fractional bits ``f`` and integer bits ``i`` (excluding the sign), held as
float variables on the layer that owns the quantized tensor.  The forward
pass rounds them to integers and places each value on its own grid,
``m * 2**-f`` with the mantissa ``m`` in ``[-2**(i+f), 2**(i+f) - 1]``
(``[0, 2**(i+f) - 1]`` unsigned), exactly as hardware of that width would:
rounding ``RND`` (half up) or ``TRN`` (floor), then saturation or wrap.
An element with ``i + f < 0`` holds only zero and vanishes from hardware.

Gradients: the value passes straight through inside the range; the range
bounds pass the gradient of saturated values on to ``i`` (so ranges grow
where clipping hurts); and ``f`` gets the gradient of the rounding error,
which scales as ``2**-f``: ``d(q - x)/df ~ -ln(2) * (q - x)`` (the surrogate
HGQ introduced).  A resource cost on the widths (:meth:`learned_bits.widths`,
used by :mod:`fpgaq.learned`) pulls the other way.

All of it is exact in float32: scaling by ``2**f`` is exact, and mantissas
stay far below ``2**24``, so Keras computes the values the reference and the
firmware compute.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from fpgaq.hwtypes import ElementTypes
from fpgaq.quantizers.base import BaseQuantizer, register_quantizer

__all__ = ["GRANULARITIES", "learned_bits"]

GRANULARITIES = ("tensor", "channel", "element")
_ROUNDINGS = ("RND", "TRN")
_OVERFLOWS = ("SAT", "WRAP")
#: Bounds on the learned fractional and integer bits: wide enough for any network, narrow
#: enough that ``x * 2**f`` and every mantissa stay exact in float32.
FRAC_RANGE = (-12, 20)
INTEGER_RANGE = (-12, 12)
_LN2 = math.log(2.0)
#: The bit variables hold ``bits / BIT_SCALE``: Adam moves a variable by about its learning
#: rate per step whatever the gradient's scale, so this is how much faster bits move than weights.
BIT_SCALE = 16.0


def _round_ste(v: Any) -> Any:
    """``round(v)`` forward, identity backward."""
    return v + ops.stop_gradient(ops.round(v) - v)


def _as_list(value: Any) -> Any:
    """Config-friendly form of a scalar or per-channel initial value."""
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr.tolist()


@register_quantizer
class learned_bits(BaseQuantizer):
    """Fixed-point quantizer with trainable fractional and integer bits.

    Args:
        bits: initial total width, sign included (as in ``quantized_bits``).
        integer: initial integer bits, sign excluded; with ``bits`` it sets the
            initial fractional bits ``bits - integer - keep_negative``.  Either may be a
            scalar or one value per channel (the last axis).
        keep_negative: signed values (``True``) or unsigned, which also clips negative
            values to zero: an unsigned ``learned_bits`` after a linear layer is a
            quantized ReLU.
        granularity: ``"tensor"`` (one width), ``"channel"`` (one per last-axis
            channel) or ``"element"`` (every weight or activation its own).
        overflow: ``"SAT"`` (saturate; the integer bits train) or ``"WRAP"`` (drop high
            bits, as hardware does for free; the integer bits then follow the largest
            value seen in training, since a wrapped value has no useful gradient).
        rounding: ``"RND"`` (nearest, ties up: one adder bit) or ``"TRN"`` (floor: free).
        trainable_integer: train ``integer`` (default: with ``SAT``).

    The quantizer's variables live on the layer that owns the tensor (built by
    :meth:`build`), so they train, save and load with it.
    """

    name: ClassVar[str] = "learned_bits"
    #: The range is learned: layers must not clip the float weights to a fixed range.
    learns_range: ClassVar[bool] = True

    def __init__(
        self,
        bits: Any = 8,
        integer: Any = 0,
        keep_negative: bool = True,
        granularity: str = "tensor",
        overflow: str = "SAT",
        rounding: str = "RND",
        trainable_integer: bool | None = None,
    ) -> None:
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"learned_bits: granularity={granularity!r} is not supported; choose one of {', '.join(GRANULARITIES)}"
            )
        overflow, rounding = str(overflow).upper(), str(rounding).upper()
        if overflow not in _OVERFLOWS:
            raise ValueError(f"learned_bits: overflow={overflow!r} is not supported; choose 'SAT' or 'WRAP'")
        if rounding not in _ROUNDINGS:
            raise ValueError(
                f"learned_bits: rounding={rounding!r} is not supported; "
                "choose 'RND' (nearest, ties up) or 'TRN' (floor)"
            )
        self.bits_init = _as_list(bits)
        self.integer_init = _as_list(integer)
        self.keep_negative = bool(keep_negative)
        self.granularity = granularity
        self.overflow = overflow
        self.rounding = rounding
        self.trainable_integer = (overflow == "SAT") if trainable_integer is None else bool(trainable_integer)
        frac0 = np.asarray(bits, dtype=np.float64) - np.asarray(integer, dtype=np.float64) - int(self.keep_negative)
        self._frac_init = frac0
        self._integer_init = np.asarray(integer, dtype=np.float64)
        self.bits = int(np.max(np.asarray(bits)))
        # The variables hold bits / BIT_SCALE: read them with frac_bits() / integer_bits() /
        # element_bits(), write them with set_bits().
        self.fbits: Any = None
        self.ibits: Any = None
        self.shape: tuple[int, ...] | None = None
        #: a percentile while a calibration pass runs (:func:`fpgaq.learned.calibrate_ranges`)
        self.calibrating: float | None = None
        #: while true (eager calls only), the smallest and largest output of every element are recorded
        self.observing = False
        self._seen: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ state
    def variable_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the bit variables for a tensor of (per-sample) ``shape``: broadcastable to it."""
        shape = tuple(int(s) for s in shape)
        if self.granularity == "tensor" or not shape:
            return ()
        if self.granularity == "channel":
            return (shape[-1],)
        return shape

    def build(self, shape: tuple[int, ...], host: Any = None, role: str = "q") -> None:
        """Create ``fbits``/``ibits`` for a tensor of (per-sample) ``shape``.

        With a ``host`` layer the variables are its weights (``<role>_fbits``,
        ``<role>_ibits``), so they train and are saved with it; without one
        they are free-standing Keras variables (for use outside a layer).
        """
        if self.fbits is not None:
            if tuple(shape) != self.shape:
                raise ValueError(
                    f"learned_bits is already built for shape {self.shape}, not {tuple(shape)}: "
                    "give every layer and weight its own learned_bits object"
                )
            return
        vshape = self.variable_shape(shape)
        frac0 = self._broadcast_init(self._frac_init, vshape, "bits")
        int0 = self._broadcast_init(self._integer_init, vshape, "integer")

        def make(name: str, value: np.ndarray, trainable: bool) -> Any:
            def init(shape: Any, dtype: Any = None) -> Any:
                return ops.convert_to_tensor((np.broadcast_to(value, tuple(shape)) / BIT_SCALE).astype("float32"))

            if host is not None:
                return host.add_weight(name=f"{role}_{name}", shape=vshape, initializer=init, trainable=trainable)
            return keras.Variable(init(vshape), trainable=trainable, name=f"{role}_{name}")

        self.fbits = make("fbits", frac0, True)
        self.ibits = make("ibits", int0, self.trainable_integer)
        self.shape = tuple(int(s) for s in shape)

    def _broadcast_init(self, value: np.ndarray, vshape: tuple[int, ...], what: str) -> np.ndarray:
        if value.ndim == 0:
            return np.full(vshape, float(value))
        if not vshape or value.shape[-1] != vshape[-1]:
            raise ValueError(
                f"learned_bits: {what} has {value.shape[-1]} per-channel values but the tensor has "
                f"{vshape[-1] if vshape else 1} channel(s) at granularity {self.granularity!r}; give a scalar "
                "or one value per channel (last axis)"
            )
        return np.broadcast_to(value, vshape).astype(np.float64)

    def _check_built(self, x: Any) -> None:
        if self.fbits is None:
            shape = tuple(x.shape)
            # a free-standing call: per-element bits cover the whole tensor given
            self.build(shape[1:] if len(shape) > 1 and self.granularity == "element" else shape)

    # ---------------------------------------------------------------- numbers
    def frac_bits(self) -> Any:
        """The fractional bits as trained (float, before rounding)."""
        return self.fbits * BIT_SCALE

    def integer_bits(self) -> Any:
        return self.ibits * BIT_SCALE

    def set_bits(self, frac: Any = None, integer: Any = None) -> None:
        """Assign fractional and/or integer bits (broadcast to the variables' shape)."""
        for var, value in ((self.fbits, frac), (self.ibits, integer)):
            if value is not None:
                var.assign(np.broadcast_to(np.asarray(value, dtype=np.float32) / BIT_SCALE, var.shape))

    def _bits(self) -> tuple[Any, Any]:
        """Rounded (straight-through) fractional and integer bits, clipped to the supported ranges."""
        f = _round_ste(ops.clip(self.frac_bits(), *FRAC_RANGE))
        i = _round_ste(ops.clip(self.integer_bits(), *INTEGER_RANGE))
        return f, i

    def widths(self) -> Any:
        """Each element's width in bits (0 for an element that holds only zero), differentiable in the bits."""
        f, i = self._bits()
        return ops.relu(f + i + float(self.keep_negative))

    def __call__(self, x: Any, training: Any = None) -> Any:
        x = ops.cast(ops.convert_to_tensor(x), "float32")
        self._check_built(x)
        if self.calibrating is not None:
            self.calibrate(x, self.calibrating)
        if self.overflow == "WRAP" and training:
            self._follow_range(x)
        f = ops.broadcast_to(ops.clip(self.frac_bits(), *FRAC_RANGE), ops.shape(x))
        i = ops.broadcast_to(ops.clip(self.integer_bits(), *INTEGER_RANGE), ops.shape(x))
        q = self._quantize(x, f, i)
        if self.observing:
            self._observe(q)
        return q

    def _observe(self, q: Any) -> None:
        v = np.asarray(ops.convert_to_numpy(q), dtype=np.float64)
        shape = self.shape or ()
        v = v.reshape(-1, *shape) if shape else v.reshape(-1)
        lo, hi = v.min(axis=0), v.max(axis=0)
        if self._seen is not None:
            lo, hi = np.minimum(lo, self._seen[0]), np.maximum(hi, self._seen[1])
        self._seen = (lo, hi)

    def tighten(self) -> None:
        """The fewest integer bits that still hold every output seen while ``observing``; never more than now.

        Saturation made the trained ranges generous; on the data that was observed the
        outputs do not change, and every bit of range they did not use is a bit of
        hardware saved.  An element that only ever output zero becomes constant zero.
        """
        if self._seen is None:
            raise ValueError("learned_bits.tighten: nothing observed; run the model with observing=True first")
        lo, hi = self._seen
        f, _ = self.element_bits()
        step = np.ldexp(1.0, -f)
        need_hi = np.where(hi > 0, np.ceil(np.log2(np.maximum(hi, 0) + step)), -np.inf)
        need_lo = np.where(lo < 0, np.ceil(np.log2(np.maximum(-lo, step))), -np.inf) if self.keep_negative else -np.inf
        need = np.maximum(need_hi, need_lo)
        need = np.where(np.isfinite(need), need, -f - 1).astype(np.float64)  # only zeros seen: a dead element
        vshape = self.variable_shape(self.shape or ())
        axes = tuple(range(need.ndim - len(vshape))) + tuple(
            k + need.ndim - len(vshape) for k, n in enumerate(vshape) if n == 1
        )
        per_variable = need.max(axis=axes, keepdims=False) if axes else need
        current = np.asarray(ops.convert_to_numpy(self.integer_bits()), dtype=np.float64)
        current = np.round(np.clip(current, *INTEGER_RANGE))
        self.set_bits(integer=np.minimum(np.reshape(per_variable, vshape), current))
        self._seen = None

    def _quantize(self, x: Any, f_real: Any, i_real: Any) -> Any:
        """The exact quantized values, with the gradients written out (no float tricks in the forward pass).

        A ``custom_gradient`` keeps graph optimizers from re-associating a straight-through
        ``q + (x - x)`` into something inexact; the gradients are:

        * ``x``: 1 inside the range (always, with WRAP), 0 where saturated or the element is dead;
        * ``f``: ``-ln2 * (q - x)`` inside the range (the rounding error scales as ``2**-f``), also for a
          dead element, so that the loss can bring it back; plus ``ln2 * 2**-f`` where ``x`` is above the top;
        * ``i``: ``ln2 * 2**i`` where ``x`` is above the top, ``-ln2 * 2**i`` where it is below a signed bottom.
        """
        signed, sat, rnd = self.keep_negative, self.overflow == "SAT", self.rounding == "RND"

        @ops.custom_gradient
        def quantize(x: Any, f_real: Any, i_real: Any) -> Any:
            f, i = ops.round(f_real), ops.round(i_real)
            scale = ops.power(2.0, f)
            magnitude = f + i  # mantissa bits besides the sign
            alive = magnitude >= 0
            top = ops.power(2.0, ops.maximum(magnitude, 0.0))
            m_hi = ops.where(alive, top - 1.0, 0.0)
            m_lo = ops.where(alive, -top, 0.0) if signed else ops.zeros_like(top)
            xs = x * scale
            m = ops.floor(xs)
            if rnd:  # floor(xs + 0.5) would round in float32 just below a midpoint: xs - floor(xs) is exact
                m = m + ops.cast(xs - m >= 0.5, m.dtype)
            if sat:
                m = ops.minimum(ops.maximum(m, m_lo), m_hi)
            else:
                span = m_hi - m_lo + 1.0
                m = ops.where(alive, m - span * ops.floor((m - m_lo) / span), 0.0)
            q = m / scale
            lo, hi = m_lo / scale, m_hi / scale
            above = alive & (x > hi) if sat else ops.zeros_like(alive)
            below = alive & (x < lo) if sat else ops.zeros_like(alive)
            inside = alive & ~above & ~below
            err = q - x

            def grad(*args: Any, upstream: Any = None) -> Any:
                if upstream is None:
                    (upstream,) = args
                zero = ops.zeros_like(x)
                dx = ops.where(inside, upstream, zero)
                df = ops.where(inside | ~alive, -_LN2 * err * upstream, zero)
                df = df + ops.where(above, _LN2 * ops.power(2.0, -f) * upstream, zero)
                pull = _LN2 * ops.power(2.0, i) * upstream
                di = ops.where(above, pull, zero)
                if signed:
                    di = di - ops.where(below, pull, zero)
                return dx, df, di

            return q, grad

        return quantize(x, f_real, i_real)

    def _follow_range(self, x: Any) -> None:
        """WRAP: integer bits that hold the largest magnitude of this batch (never shrinking)."""
        vshape = self.variable_shape(self.shape or ())
        axes = tuple(range(len(x.shape) - len(vshape)))
        peak = ops.max(ops.abs(x), axis=axes) if axes else ops.abs(x)
        need = ops.ceil(ops.log2(ops.maximum(peak, 2.0 ** INTEGER_RANGE[0]) + 2.0 ** FRAC_RANGE[0]))
        need = ops.reshape(need, vshape) if vshape else ops.max(need)
        self.ibits.assign(ops.maximum(self.ibits, ops.cast(need, self.ibits.dtype) / BIT_SCALE))

    def calibrate(self, x: Any, percentile: float = 100.0) -> None:
        """Set the integer bits to hold ``x`` (a batch of the tensor), up to ``percentile`` of |x| per element.

        The fractional bits move with them, so each element keeps its width.
        """
        v = np.abs(np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64))
        if self.fbits is None:
            self.build(v.shape[1:] if self.granularity == "element" else v.shape)
        vshape = self.variable_shape(self.shape or ())
        axes = tuple(range(v.ndim - len(vshape)))
        peak = np.percentile(v, percentile, axis=axes) if axes else v
        need = np.ceil(np.log2(np.maximum(peak, 2.0 ** INTEGER_RANGE[0]) * (1 + 2.0**-20)))
        new = np.clip(need, *INTEGER_RANGE).reshape(vshape).astype("float32")
        old = np.asarray(ops.convert_to_numpy(self.integer_bits()), dtype="float32")
        self.set_bits(np.asarray(ops.convert_to_numpy(self.frac_bits()), dtype="float32") - (new - old), new)

    # --------------------------------------------------------------- hardware
    def element_bits(self) -> tuple[np.ndarray, np.ndarray]:
        """Integer (fractional bits, integer bits) of every element, as the forward pass uses them."""
        if self.fbits is None or self.shape is None:
            raise ValueError("learned_bits is not built yet: call the layer (or build the model) first")
        f = np.round(np.clip(np.asarray(ops.convert_to_numpy(self.frac_bits()), dtype=np.float32), *FRAC_RANGE))
        i = np.round(np.clip(np.asarray(ops.convert_to_numpy(self.integer_bits()), dtype=np.float32), *INTEGER_RANGE))
        shape = self.shape
        return (
            np.broadcast_to(f.astype(np.int64), shape).copy(),
            np.broadcast_to(i.astype(np.int64), shape).copy(),
        )

    def hardware(self, x: Any = None) -> ElementTypes:
        f, i = self.element_bits()
        magnitude = f + i
        alive = magnitude >= 0
        top = np.where(alive, np.left_shift(np.int64(1), np.maximum(magnitude, 0)), 0)
        hi = np.where(alive, top - 1, 0)
        lo = -top if self.keep_negative else np.zeros_like(top)
        return ElementTypes(f, lo, hi, self.rounding, self.overflow)

    def max(self) -> float:
        """The largest value any element can take (QKeras' ``max()``)."""
        f, i = self.element_bits()
        return float(np.max(np.where(f + i >= 0, 2.0**i - 2.0**-f, 0.0)))

    def min(self) -> float:
        f, i = self.element_bits()
        return float(np.min(np.where(f + i >= 0, -(2.0**i), 0.0))) if self.keep_negative else 0.0

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return {
            "bits": self.bits_init,
            "integer": self.integer_init,
            "keep_negative": self.keep_negative,
            "granularity": self.granularity,
            "overflow": self.overflow,
            "rounding": self.rounding,
            "trainable_integer": self.trainable_integer,
        }

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)
