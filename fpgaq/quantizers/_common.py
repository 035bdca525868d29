"""What the po2, binary and ternary quantizers share.

* Exact power-of-two exponents.  QKeras rounds ``log(x) / log(2)`` in
  float32, whose error moves a few inputs next to a rounding boundary and,
  with ``log2_rounding='floor'``, some exact powers of two (``2**-13``,
  ``2**15``, ...) to the exponent below; the result even depends on whether
  XLA compiles the graph.  Here the exponent is the exact ``floor`` or
  nearest integer of ``log2``, so Keras, the reference and the hardware agree
  on every input.
* QKeras' least-squares scale for ``alpha='auto'`` / ``'auto_po2'``.
* The training flag.  QKeras samples only while ``K.learning_phase()`` is
  set; Keras 3 has no global learning phase, so a quantizer takes
  ``training`` from its caller or, failing that, from the Keras layer call in
  progress, which is where ``fit`` / ``predict`` / ``layer(x, training=...)``
  put it.
* Seeded randomness from ``keras.random`` and QKeras-style call strings.
* The small numeric helpers several quantizer modules need (QKeras' reduction
  axes, NumPy scalars as Python numbers, the power-of-two test of a scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import keras
import numpy as np
from keras import ops

try:  # Keras 3 keeps the ``training`` value of the layer call in progress here.
    from keras.src.backend.common import global_state as _global_state
except ImportError:  # pragma: no cover - a future Keras without it: explicit flags only
    _global_state = None

#: ``keras.backend.epsilon()``: QKeras adds it before divisions and logs, and
#: po2 quantizers send inputs below it to their smallest exponent.
EPSILON = 1e-7

AUTO_ALPHAS = ("auto", "auto_po2")

#: Default marking an argument that :func:`call_string` always writes.
REQUIRED = object()


# --------------------------------------------------------------- tensors
def python_number(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds, so configs and hardware types see ``int``, not ``np.int64``."""
    return value.item() if isinstance(value, np.generic) else value


def reduction_axes(scale_axis: Any, ndim: int) -> list[int]:
    """Axes QKeras averages over: all but the channel axis (or all but ``scale_axis``).

    Negative axes are not normalised, as in QKeras (``scale_axis=-1`` keeps no
    axis and so gives one scale for the whole tensor).
    """
    if scale_axis is not None:
        if isinstance(scale_axis, (list, tuple)):
            return [i for i in range(ndim) if i not in scale_axis]
        return [*range(scale_axis), *range(scale_axis + 1, ndim)]
    if keras.config.image_data_format() == "channels_last":
        return list(range(max(ndim - 1, 0)))
    return list(range(1, ndim))


def is_po2(values: np.ndarray) -> bool:
    """Whether every value is a positive power of two (a scale the hardware applies as a shift)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.any(~np.isfinite(v)) or np.any(v <= 0):
        return False
    mantissa, _ = np.frexp(v)
    return bool(np.all(mantissa == 0.5))


def as_float(x: Any) -> Any:
    """``x`` as a floating tensor; integer inputs become ``floatx``."""
    x = ops.convert_to_tensor(x)
    if not keras.backend.standardize_dtype(x.dtype).startswith(("float", "bfloat")):
        x = ops.cast(x, keras.config.floatx())
    return x


def to_scale_value(scale: Any) -> float | tuple[float, ...]:
    """A scale tensor as hardware descriptors hold it: a float, or one per channel."""
    arr = np.asarray(ops.convert_to_numpy(scale), dtype=np.float64)
    if arr.ndim == 0:
        return float(arr)
    return tuple(float(v) for v in arr.reshape(-1))


def sign_no_zero(x: Any) -> Any:
    """QKeras' ``sign(x) + (1 - |sign(x)|)``: -1 below zero, +1 from zero up."""
    return ops.where(x < 0, -1.0, 1.0)


def channel_axes(ndim: int) -> tuple[int, ...] | None:
    """Axes reduced for a per-output-channel statistic: all but the last
    (channels_last); ``None`` (everything) for 0-D and 1-D tensors."""
    return tuple(range(ndim - 1)) if ndim > 1 else None


def hard_sigmoid(x: Any) -> Any:
    """QKeras' default internal sigmoid, ``clip(0.5 x + 0.5, 0, 1)``."""
    return ops.clip(0.5 * x + 0.5, 0.0, 1.0)


# ------------------------------------------------------------- exponents
def _least_float64_above_sqrt2() -> float:
    v = np.sqrt(2.0)
    while Fraction(v) ** 2 < 2:
        v = np.nextafter(v, 2.0)
    return float(v)


# Every float16/32/64 mantissa is exact in float64, and sqrt(2) is irrational,
# so ``m >= sqrt(2)`` is exactly ``float64(m) >= _SQRT2_UP``.
_SQRT2_UP = _least_float64_above_sqrt2()


def floor_log2(x: Any) -> Any:
    """Exact ``floor(log2(x))`` for positive ``x``, as floats.

    The float ``log`` is off by at most one near powers of two; one
    comparison against the exact power of two ``2**e`` corrects it.
    """
    e = ops.floor(ops.log(x) / np.log(2.0))
    p = ops.power(2.0, e)
    return e - ops.cast(p > x, x.dtype) + ops.cast(2.0 * p <= x, x.dtype)


def log2_parts(x: Any) -> tuple[Any, Any]:
    """``(e, m)`` with ``x = m * 2**e`` exactly, ``1 <= m < 2``."""
    e = floor_log2(x)
    return e, x / ops.power(2.0, e)


def round_log2(x: Any) -> Any:
    """The integer nearest to ``log2(x)``; no ties exist for float ``x``
    because the boundaries ``2**(k + 1/2)`` are irrational."""
    e, m = log2_parts(x)
    return e + ops.cast(ops.cast(m, "float64") >= _SQRT2_UP, x.dtype)


def round_po2(x: Any) -> Any:
    """QKeras' ``2 ** round(log2(x + eps))``, with the exponent exact."""
    return ops.power(2.0, round_log2(x + EPSILON))


# ----------------------------------------------------------------- scales
def least_squares_scale(alpha: str, x: Any, q: Any) -> Any:
    """QKeras' ``_get_scale``: ``mean(x q) / (mean(q q) + eps)`` per output
    channel (per element for 0-D and 1-D tensors), rounded to a power of two
    for ``'auto_po2'``."""
    axes = channel_axes(len(x.shape))
    if axes is None:
        qx, qq = x * q, q * q
    else:
        qx = ops.mean(x * q, axis=axes, keepdims=True)
        qq = ops.mean(q * q, axis=axes, keepdims=True)
    scale = qx / (qq + EPSILON)
    return round_po2(scale) if alpha == "auto_po2" else scale


def std_per_channel(x: Any) -> Any:
    """QKeras' ``K.std`` over all but the last axis (over everything for 1-D)."""
    axes = channel_axes(len(x.shape))
    return ops.std(x, axis=axes, keepdims=True)


def check_alpha(owner: str, alpha: Any) -> Any:
    """``alpha`` as QKeras accepts it: None, a number, per-channel numbers, or
    'auto' / 'auto_po2'.  Sequences become tuples (hashable, comparable)."""
    if alpha is None or isinstance(alpha, str):
        if alpha is not None and alpha not in AUTO_ALPHAS:
            raise ValueError(
                f"{owner}: alpha={alpha!r} is not supported; use None, a number, "
                "a list of per-channel numbers, 'auto' or 'auto_po2'"
            )
        return alpha
    if isinstance(alpha, (list, tuple, np.ndarray)):
        return tuple(float(a) for a in np.asarray(alpha, dtype=np.float64).reshape(-1))
    if isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(alpha, bool):
        return python_number(alpha)
    raise TypeError(f"{owner}: alpha must be None, a number, a list of numbers, 'auto' or 'auto_po2', got {alpha!r}")


def fixed_scale(alpha: Any) -> Any:
    """The scale a non-automatic ``alpha`` means: 1 for None."""
    if alpha is None:
        return 1.0
    if isinstance(alpha, tuple):
        return np.asarray(alpha, dtype=keras.config.floatx())
    return float(alpha)


def fixed_scale_for(owner: Any, alpha: Any, x: Any) -> Any:
    """:func:`fixed_scale`, checking that per-channel alphas match ``x``'s last axis."""
    if isinstance(alpha, tuple) and len(x.shape) and x.shape[-1] is not None and x.shape[-1] != len(alpha):
        raise ValueError(
            f"{owner}: {len(alpha)} per-channel alphas for a tensor of {x.shape[-1]} channels (last axis of "
            f"shape {tuple(x.shape)}); give one alpha per output channel"
        )
    return fixed_scale(alpha)


def fixed_scale_value(alpha: Any) -> float | tuple[float, ...]:
    return alpha if isinstance(alpha, tuple) else float(fixed_scale(alpha))


def alpha_extent(alpha: Any) -> float:
    """QKeras' ``max(1.0, alpha)`` for ``max()`` / ``min()``."""
    if alpha is None or isinstance(alpha, str):
        return 1.0
    return max(1.0, *alpha) if isinstance(alpha, tuple) else max(1.0, float(alpha))


def config_alpha(alpha: Any) -> Any:
    return list(alpha) if isinstance(alpha, tuple) else alpha


# ----------------------------------------------------- training, randomness
def in_training(training: bool | None) -> bool:
    """Whether stochastic quantizers sample now.

    An explicit ``training`` wins; otherwise the ``training`` value of the
    Keras layer call in progress (set by ``fit``, ``evaluate``, ``predict``
    or ``layer(x, training=...)``, and inherited by nested layers); outside
    any layer call, inference.
    """
    if training is not None:
        return bool(training)
    if _global_state is None:
        return False
    ctx = _global_state.get_global_attribute("current_call_ctx")
    return bool(ctx is not None and ctx.get_value("training"))


class RebuildFromConfig:
    """Copy and pickle a quantizer through its config.

    A Keras ``SeedGenerator`` cannot be pickled or deep-copied; the config
    holds everything else, and the copy's generator restarts from the seed.
    """

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _rebuild, (type(self), self.get_config())  # type: ignore[attr-defined]


def _rebuild(cls: Any, config: dict[str, Any]) -> Any:
    return cls.from_config(config)


class SeededArguments:
    """``get_config`` and ``__str__`` of a seeded quantizer, from one list of its QKeras arguments.

    The binary and ternary families serialize every argument (``alpha`` in config form), then ``seed`` only when
    set (fpgaq's addition, which QKeras would not read back); their strings list the same arguments. Declaring
    ``_arguments`` once keeps the config and the string in step.
    """

    name: str
    alpha: Any
    seed: int | None
    #: ``(argument, QKeras default)`` in QKeras' order, without ``seed``.
    _arguments: tuple[tuple[str, Any], ...] = ()

    def _init_sampling(self, temperature: float, use_real_sigmoid: bool, seed: int | None) -> None:
        """The settings of a quantizer that samples through a (real or hard) sigmoid of ``temperature * x``."""
        self.temperature = temperature
        self.use_real_sigmoid = bool(use_real_sigmoid)
        self.seed = seed
        self._seed_generator = seed_generator(seed)

    def get_config(self) -> dict[str, Any]:
        config = {key: config_alpha(self.alpha) if key == "alpha" else getattr(self, key) for key, _ in self._arguments}
        if self.seed is not None:
            config["seed"] = self.seed
        return config

    def __str__(self) -> str:
        args = [(key, getattr(self, key), default) for key, default in self._arguments]
        return call_string(self.name, [*args, ("seed", self.seed, None)])


def seed_generator(seed: int | None) -> keras.random.SeedGenerator:
    """A generator owned by one quantizer: the same seed gives the same draws."""
    return keras.random.SeedGenerator(seed)


def uniform(x: Any, generator: keras.random.SeedGenerator, minval: Any = 0.0, maxval: Any = 1.0) -> Any:
    """Uniform samples shaped like ``x`` in ``[minval, maxval)``."""
    u = keras.random.uniform(ops.shape(x), dtype=x.dtype, seed=generator)
    return minval + u * (maxval - minval)


def stochastic_round(x: Any, precision: float, generator: keras.random.SeedGenerator) -> Any:
    """QKeras' ``stochastic_round``: to a multiple of ``precision``, up with
    probability equal to the remainder, so the mean is ``x``."""
    steps = x * (1.0 / precision)
    low = ops.floor(steps)
    up = (steps - low) >= uniform(x, generator)
    return (low + ops.cast(up, x.dtype)) * precision


# ---------------------------------------------------------------- strings
def _literal(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))  # QKeras writes flags as 0/1
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


def call_string(name: str, args: Sequence[tuple[str, Any, Any]], positional: int = 0) -> str:
    """``name(a,b,key=value)`` as QKeras writes it and :func:`get_quantizer` reads it.

    ``args`` lists ``(keyword, value, default)`` in constructor order; the
    first ``positional`` of them are written positionally while none is left
    at its default (a default of :data:`REQUIRED` is always written), the others
    as keywords, and defaults are left out.  Values are exact, so the string
    reads back to an equal quantizer.
    """
    parts: list[str] = []
    in_positional = True
    for index, (key, value, default) in enumerate(args):
        is_default = default is not REQUIRED and _same(value, default)
        if in_positional and index < positional and not is_default:
            parts.append(_literal(value))
            continue
        in_positional = False
        if not is_default:
            parts.append(f"{key}={_literal(value)}")
    return f"{name}({','.join(parts)})"


def _same(value: Any, default: Any) -> bool:
    if value is None or default is None:
        return value is default
    if isinstance(value, str) != isinstance(default, str):
        return False
    return bool(value == default)
