"""Post-training calibration: a float Keras model plus calibration data -> a quantized model of fpgaq.layers.

Each tensor of each layer (kernel, bias, and the layer's output activation
measured on the calibration data) gets a clipping threshold ``T`` by one of
three methods:

* ``max``: the largest magnitude seen (TensorFlow's 8-bit min/max scheme);
* ``percentile``: that percentile of the magnitudes (e.g. 99.99), so rare
  outliers saturate instead of widening the range for everyone;
* ``kl``: TensorRT's entropy calibration: a histogram of ``|x|``; for every
  candidate cut ``i`` the reference distribution is the first ``i`` bins with
  everything beyond folded into the last one, its quantized version is those
  ``i`` bins merged into as many levels as the bit budget has and spread back
  over the non-empty bins; the cut with the smallest KL divergence wins.

The range is then rounded up to a power of two (Ristretto's dynamic fixed
point): integer bits ``I = ceil(log2 T)`` (so ``T <= 2**I``; ``I`` may be
negative for small tensors or exceed the budget for large ones), and the
fraction gets what the budget ``B`` leaves: ``F = B - I - sign``.

Granularity ``"channel"`` gives each output channel of a kernel its own
integer bits.  QKeras-style quantizers have no per-channel range, but a fixed
power-of-two ``alpha`` per channel converts exactly: the kernel is stored
divided by ``2**(I_c - I_max)`` and ``quantized_bits(B, I_max, alpha=[2**(I_c -
I_max)])`` multiplies it back, so channel ``c`` lives on its own grid of
range ``2**I_c``.  Biases and activations stay per layer in that form (fpgaq
converts no per-channel activation scale): the maximum over channels.  The
``"learned"`` form (``fpgaq.quantizers.learned_bits``) takes per-channel
initial bits for every tensor, and is the starting point of learned-precision
training.

A model already made of fpgaq.layers is calibrated through its float twin
(:func:`float_twin`: the same float weights, quantizers dropped).  The
result also says how much each layer costs alone (the model with only
that layer quantized against the float model), and holds histograms of every
tensor against its chosen range (:func:`profile_html`).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.errors import SettingError
from fpgaq.figures import figure, png_uri
from fpgaq.keras_walk import activation_name, layer_io

__all__ = [
    "FORMS",
    "GRANULARITIES",
    "METHODS",
    "LayerChoice",
    "PTQError",
    "PTQResult",
    "TensorChoice",
    "calibrate_model",
    "clip_threshold",
    "float_twin",
    "integer_bits",
    "kl_threshold",
    "profile_figures",
    "profile_html",
    "score",
    "write_result",
]

METHODS = ("max", "percentile", "kl")
GRANULARITIES = ("layer", "channel")
FORMS = ("qkeras", "learned")
#: Float layer class -> the argument names of its weight quantizers (kernel first, then bias).
WEIGHT_KEYS: dict[str, tuple[str, str]] = {
    "Dense": ("kernel_quantizer", "bias_quantizer"),
    "Conv1D": ("kernel_quantizer", "bias_quantizer"),
    "Conv2D": ("kernel_quantizer", "bias_quantizer"),
    "Conv2DTranspose": ("kernel_quantizer", "bias_quantizer"),
    "DepthwiseConv2D": ("depthwise_quantizer", "bias_quantizer"),
}
#: Layers whose kernel's last axis is the output channel (per-channel scales broadcast along it).
_CHANNEL_LAST = ("Dense", "Conv1D", "Conv2D")
_ACTIVATION_LAYERS = ("Activation", "ReLU")
_HIST_BINS = 60
_KL_BINS = 2048


class PTQError(SettingError):
    """A calibration setting or model that post-training calibration cannot use."""


# ----------------------------------------------------------------------------- thresholds
def kl_threshold(values: np.ndarray, levels: int = 128, bins: int = _KL_BINS) -> float:
    """TensorRT's entropy-calibration threshold of ``|values|`` for ``levels`` quantization levels.

    A long thin tail is cut (its mass lands in the last bin of the reference,
    which the coarse version cannot mimic only when the cut keeps too few
    levels per bin); a distribution that fills its range evenly keeps it.
    """
    mags = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    top = float(mags.max()) if mags.size else 0.0
    if top == 0.0:
        return 0.0
    hist, edges = np.histogram(mags, bins=bins, range=(0.0, top))
    hist = hist.astype(np.float64)
    if bins <= levels:
        return top
    tail = np.cumsum(hist[::-1])[::-1]  # tail[i] = mass of bins i..end
    best_i, best_kl = bins, math.inf
    for i in range(levels, bins + 1):
        kept = hist[:i]
        reference = kept.copy()
        if i < bins:
            reference[-1] += tail[i]
        candidate = _merged_and_spread(kept, levels)
        kl = _kl_divergence(reference, candidate)
        if kl < best_kl:  # strict: on a tie the narrower cut wins, as in TensorRT's first minimum
            best_i, best_kl = i, kl
    return float(edges[best_i])


def _merged_and_spread(kept: np.ndarray, levels: int) -> np.ndarray:
    """``kept`` merged into ``levels`` groups of adjacent bins, each group's mass spread over its non-empty bins."""
    groups = np.minimum((np.arange(kept.size) * levels) // kept.size, levels - 1)
    mass = np.bincount(groups, weights=kept, minlength=levels)
    filled = np.bincount(groups, weights=(kept > 0).astype(np.float64), minlength=levels)
    share = np.divide(mass, filled, out=np.zeros_like(mass), where=filled > 0)
    return np.where(kept > 0, share[groups], 0.0)


def _kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-4) -> float:
    """KL(p || q) of two unnormalised histograms; empty bins of ``q`` where ``p`` has mass get a little of it."""
    p = p / p.sum()
    q = q / q.sum() if q.sum() > 0 else q
    q = np.where((q == 0) & (p > 0), eps, q)
    q = q / q.sum()
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def clip_threshold(values: np.ndarray, method: str, percentile: float = 99.99, levels: int = 128) -> float:
    """The clipping threshold of ``|values|`` by ``method`` (see the module docstring)."""
    mags = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if mags.size == 0:
        return 0.0
    if method == "max":
        return float(mags.max())
    if method == "percentile":
        return float(np.percentile(mags, percentile))
    if method == "kl":
        return kl_threshold(mags, levels=levels)
    raise PTQError(f"ptq: method={method!r} is not supported; use one of {', '.join(METHODS)}")


def integer_bits(threshold: float) -> int:
    """The smallest ``I`` with ``threshold <= 2**I`` (0 for an all-zero tensor)."""
    if threshold <= 0.0 or not math.isfinite(threshold):
        return 0
    exponent = math.ceil(math.log2(threshold))
    return exponent if 2.0**exponent >= threshold else exponent + 1


# ----------------------------------------------------------------------------- records
@dataclass
class TensorChoice:
    """What calibration chose for one tensor, and what it saw (a histogram of its values)."""

    kind: str  # "kernel", "bias", "activation" or "input"
    signed: bool
    bits: int
    integer: int  # the quantizer's integer bits (per layer: max over channels)
    fraction: int
    threshold: float
    channel_integer: list[int] | None  # per-channel integer bits (granularity "channel"), else None
    observed: tuple[float, float]  # min and max seen
    clipped: float  # fraction of values outside the representable range
    histogram: dict[str, list[float]]  # "edges" and "counts"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """``x`` on this tensor's grid: rounded to nearest (ties to even) and saturated, in float32."""
        lo, hi = self.representable
        return np.clip(np.round(np.asarray(x, np.float64) * 2.0**self.fraction) / 2.0**self.fraction, lo, hi).astype(
            np.float32
        )

    @property
    def representable(self) -> tuple[float, float]:
        """The smallest and largest value of the grid (the per-layer one with per-channel bits)."""
        step = 2.0**-self.fraction
        hi = 2.0**self.integer - step
        return (-(2.0**self.integer) if self.signed else 0.0, hi)


@dataclass
class LayerChoice:
    """One calibrated layer: its tensors and the score of the model with only this layer quantized."""

    name: str
    cls: str
    tensors: dict[str, TensorChoice]
    score_alone: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class PTQResult:
    """The quantized model and everything calibration decided and measured (see :meth:`to_dict`)."""

    model: Any
    layers: list[LayerChoice]
    settings: dict[str, Any]
    metric: str  # "accuracy" (labels given) or "agreement" (argmax of the float model)
    float_score: float | None
    quantized_score: float | None
    input_choice: TensorChoice | None
    skipped: dict[str, str]

    @property
    def input_precision(self) -> str | None:
        """``ap_fixed`` type of the model input (``Model.Input.Precision`` of the conversion config)."""
        c = self.input_choice
        if c is None:
            return None
        # Round to nearest (ties to even) and saturate, as the quantized layers do; ap_fixed's default would
        # truncate and wrap an input beyond the calibrated range.
        kind, integer = ("ap_fixed", c.integer + 1) if c.signed else ("ap_ufixed", c.integer)
        return f"{kind}<{c.bits},{integer},AP_RND_CONV,AP_SAT>"

    def conversion_config(self) -> dict[str, Any]:
        """The conversion config that types the input as calibrated (pass it to ``fpgaq.convert``)."""
        return {"Model": {"Input": {"Precision": self.input_precision}}} if self.input_precision else {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (``ptq.json``): settings, scores, per-layer choices and histograms."""

        def tensor(t: TensorChoice) -> dict[str, Any]:
            d = asdict(t)
            d["observed"] = list(t.observed)
            d["representable"] = list(t.representable)
            return d

        return {
            "schema": "fpgaq-ptq/1",
            "settings": self.settings,
            "metric": self.metric,
            "float": self.float_score,
            "quantized": self.quantized_score,
            "input": tensor(self.input_choice) if self.input_choice else None,
            "input_precision": self.input_precision,
            "layers": [
                {
                    "name": layer.name,
                    "class": layer.cls,
                    "score_alone": layer.score_alone,
                    "notes": layer.notes,
                    "tensors": {k: tensor(t) for k, t in layer.tensors.items()},
                }
                for layer in self.layers
            ],
            "skipped": self.skipped,
        }

    def table(self) -> str:
        """A text table: per layer and tensor the chosen bits, and each layer's score alone."""
        head = f"{'layer':<18} {'tensor':<10} {'bits':>4} {'int':>4} {'frac':>4} {'threshold':>10}"
        rows = [f"{head}  {self.metric} alone"]
        for layer in self.layers:
            alone = "" if layer.score_alone is None else f"{100 * layer.score_alone:.2f}%"
            for i, (kind, t) in enumerate(layer.tensors.items()):
                rows.append(
                    f"{layer.name if i == 0 else '':<18} {kind:<10} {t.bits:>4} {t.integer:>4} {t.fraction:>4} "
                    f"{t.threshold:>10.4g}  {alone if i == 0 else ''}"
                )
        if self.float_score is not None:
            rows.append(f"float {self.metric}: {100 * self.float_score:.2f}%")
        if self.quantized_score is not None:
            rows.append(f"quantized {self.metric}: {100 * self.quantized_score:.2f}%")
        return "\n".join(rows)


# ----------------------------------------------------------------------------- measuring
def _choose(
    values: np.ndarray, kind: str, signed: bool, bits: int, method: str, percentile: float, channels: bool
) -> TensorChoice:
    """Calibrate one tensor: threshold, integer and fraction bits, and its histogram."""
    v = np.asarray(values, dtype=np.float64)
    levels = 2 ** (bits - int(signed))
    channel_integer = None
    if channels and v.ndim >= 1 and v.shape[-1] > 1:
        flat = v.reshape(-1, v.shape[-1])
        thresholds = [clip_threshold(flat[:, c], method, percentile, levels) for c in range(flat.shape[1])]
        channel_integer = [integer_bits(t) for t in thresholds]
        threshold = max(thresholds)
    else:
        threshold = clip_threshold(v, method, percentile, levels)
    integer = integer_bits(threshold)
    fraction = bits - integer - int(signed)
    lo = -(2.0**integer) if signed else 0.0
    hi = 2.0**integer - 2.0**-fraction
    clipped = float(np.mean((v < lo) | (v > hi))) if v.size else 0.0
    span = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    counts, edges = np.histogram(v.ravel(), bins=_HIST_BINS, range=span if span[0] < span[1] else None)
    return TensorChoice(
        kind=kind,
        signed=signed,
        bits=bits,
        integer=integer,
        fraction=fraction,
        threshold=threshold,
        channel_integer=channel_integer,
        observed=span,
        clipped=clipped,
        histogram={"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    )


def _layer_outputs(model: Any, layers: Sequence[Any], x: np.ndarray) -> list[np.ndarray]:
    """Each of ``layers``' outputs on ``x`` (one pass through the float model)."""
    import keras

    probe = keras.Model(model.inputs, [layer_io(model, layer)[1][0] for layer in layers])
    outs = _predict(probe, x)
    return outs if isinstance(outs, list) else [outs]


def _predict(model: Any, x: np.ndarray, batch: int = 4096) -> Any:
    """The model's outputs on ``x`` (NumPy; a list for several outputs).

    A direct call per batch, not ``Model.predict``: calibration makes a new
    model per layer, and ``predict`` would compile a graph function for each.
    """
    import keras

    parts = [model(keras.ops.convert_to_tensor(x[i : i + batch]), training=False) for i in range(0, len(x), batch)]
    if isinstance(parts[0], (list, tuple)):
        return [np.concatenate([keras.ops.convert_to_numpy(p[k]) for p in parts]) for k in range(len(parts[0]))]
    return np.concatenate([keras.ops.convert_to_numpy(p) for p in parts])


def score(pred: np.ndarray, reference: np.ndarray) -> float:
    """Classification accuracy of ``pred`` against labels (ints or one-hot) or another model's outputs.

    Several outputs are classes (argmax); a single output is a probability
    (class 1 when above 0.5).
    """
    pred = np.asarray(pred)
    ref = np.asarray(reference)
    if pred.ndim > 1 and pred.shape[-1] > 1:
        got = pred.reshape(len(pred), -1).argmax(-1)
        want = ref.reshape(len(ref), -1).argmax(-1) if ref.ndim > 1 and ref.shape[-1] > 1 else ref.reshape(-1)
    else:
        got = pred.reshape(-1) > 0.5
        want = ref.reshape(-1) > 0.5
    return float(np.mean(got == want.astype(got.dtype)))


# ----------------------------------------------------------------------------- the quantized model
def _quantizer(choice: TensorChoice, form: str, granularity: str, alpha: list[float] | None = None) -> Any:
    """The quantizer (string or object) that realises one tensor's choice in the requested form."""
    if form == "learned":
        from fpgaq.quantizers import QUANTIZERS

        integer: Any = choice.integer
        if granularity == "channel" and choice.channel_integer is not None:
            integer = list(choice.channel_integer)
        return QUANTIZERS["learned_bits"](
            bits=choice.bits,
            integer=integer,
            keep_negative=choice.signed,
            granularity="channel" if granularity == "channel" else "tensor",
            overflow="SAT",
            rounding="RND",
        )
    if choice.kind == "activation" and not choice.signed:
        return f"quantized_relu({choice.bits},{choice.integer})"
    if alpha is not None:
        from fpgaq.quantizers import QUANTIZERS

        return QUANTIZERS["quantized_bits"](choice.bits, choice.integer, 1, alpha=np.asarray(alpha))
    return f"quantized_bits({choice.bits},{choice.integer},1,alpha=1)"


def _channel_alpha(choice: TensorChoice) -> list[float] | None:
    """Per-channel power-of-two multipliers ``2**(I_c - I)`` (None when every channel has the layer's bits)."""
    if choice.channel_integer is None or all(i == choice.integer for i in choice.channel_integer):
        return None
    return [2.0 ** (i - choice.integer) for i in choice.channel_integer]


def _entries(layers: Sequence[LayerChoice], form: str, granularity: str) -> dict[str, dict[str, Any]]:
    """The per-layer entries of the quantize_model config (by exact layer name)."""
    config: dict[str, dict[str, Any]] = {}
    for layer in layers:
        entry: dict[str, Any] = {}
        if layer.cls in WEIGHT_KEYS:
            kernel_key, bias_key = WEIGHT_KEYS[layer.cls]
            kernel = layer.tensors["kernel"]
            alpha = _channel_alpha(kernel) if form == "qkeras" else None
            entry[kernel_key] = _quantizer(kernel, form, granularity, alpha)
            if "bias" in layer.tensors:
                entry[bias_key] = _quantizer(layer.tensors["bias"], form, granularity)
        if "activation" in layer.tensors:
            entry["activation"] = _quantizer(layer.tensors["activation"], form, granularity)
        config[layer.name] = entry
    return config


def _build(model: Any, layers: Sequence[LayerChoice], form: str, granularity: str) -> Any:
    """The quantized clone of ``model`` (through :func:`fpgaq.quantize_model.quantize_model`)."""
    import keras

    from fpgaq.quantize_model import quantize_model

    config = _entries(layers, form, granularity)
    # learned_bits keeps its bit widths as variables of the layer, so the layers' weight lists differ: copy by name.
    qmodel, _ = quantize_model(model, config, transfer_weights=form == "qkeras")
    if form == "learned":
        for old, new in zip(model.layers, qmodel.layers):
            for attr in ("kernel", "depthwise_kernel", "bias"):
                if getattr(old, attr, None) is not None:
                    getattr(new, attr).assign(getattr(old, attr))
    if form == "qkeras":
        for layer in layers:
            kernel = layer.tensors.get("kernel")
            alpha = _channel_alpha(kernel) if kernel is not None else None
            if alpha is None:
                continue
            # The quantizer multiplies channel c by alpha_c: store the kernel divided by it (exact: powers of two).
            target = qmodel.get_layer(layer.name)
            weights = target.get_weights()
            weights[0] = (weights[0] / np.asarray(alpha, dtype=np.float32)).astype(weights[0].dtype)
            target.set_weights(weights)
    if isinstance(qmodel, keras.Sequential):
        # A Sequential model of two or more layers comes back from a .keras file with its first layer called
        # twice (Keras rebuilds it on load), which fpgaq.convert refuses; the functional form loads as it was.
        qmodel = keras.Model(qmodel.inputs, qmodel.outputs, name=qmodel.name)
    return qmodel


# ----------------------------------------------------------------------------- the calibration
def _check_settings(method: str, granularity: str, form: str, bits: int, percentile: float) -> None:
    if method not in METHODS:
        raise PTQError(f"ptq: method={method!r} is not supported; use one of {', '.join(METHODS)}")
    if granularity not in GRANULARITIES:
        raise PTQError(f"ptq: granularity={granularity!r} is not supported; use one of {', '.join(GRANULARITIES)}")
    if form not in FORMS:
        raise PTQError(f"ptq: form={form!r} is not supported; use one of {', '.join(FORMS)}")
    if not isinstance(bits, int) or not 2 <= bits <= 32:
        raise PTQError(f"ptq: bits={bits!r} is not supported; give an integer budget from 2 to 32 bits per tensor")
    if not 0.0 < percentile <= 100.0:
        raise PTQError(f"ptq: percentile={percentile!r} is out of range; give a number in (0, 100], e.g. 99.99")
    if form == "learned":
        from fpgaq.quantizers import QUANTIZERS

        if "learned_bits" not in QUANTIZERS:
            raise PTQError(
                "ptq: form='learned' needs the quantizer fpgaq.quantizers.learned_bits, which this fpgaq does not "
                "have yet; use form='qkeras' (QKeras-style quantized_bits / quantized_relu)"
            )


# fpgaq.layers class -> the float Keras class it quantizes (a model of these is calibrated through its float twin)
_FLOAT_TWINS = {
    "QDense": "Dense",
    "QConv1D": "Conv1D",
    "QConv2D": "Conv2D",
    "QConv2DTranspose": "Conv2DTranspose",
    "QDepthwiseConv2D": "DepthwiseConv2D",
}


def _float_activation(act: Any, layer: Any) -> str:
    """The float activation a quantized one stands for: ``"relu"`` (unsigned grid) or ``"linear"`` (signed)."""
    from fpgaq.quantizers import BaseQuantizer

    if not isinstance(act, BaseQuantizer):
        return activation_name(act) or "linear"
    kind = type(act).__name__
    if kind == "quantized_relu" or (kind == "learned_bits" and not act.keep_negative):
        return "relu"
    if kind in ("quantized_bits", "quantized_linear", "learned_bits"):
        return "linear"
    raise PTQError(
        f"ptq: layer {layer.name!r} has the activation quantizer {act}; calibration re-chooses quantized_relu, "
        "quantized_bits, quantized_linear and learned_bits activations only; give the float model instead"
    )


def float_twin(model: Any) -> Any:
    """``model`` with every fpgaq.layers layer replaced by the float layer it quantizes (same float weights).

    A model that is already made of fpgaq.layers is calibrated through this
    twin: its quantizers are dropped and chosen again from the data.
    """
    import inspect

    import keras

    from fpgaq.layers import QActivation

    if not any(type(layer).__name__ in _FLOAT_TWINS or isinstance(layer, QActivation) for layer in model.layers):
        return model

    def clone(layer: Any) -> Any:
        cls = type(layer).__name__
        if cls in _FLOAT_TWINS:
            float_cls = getattr(keras.layers, _FLOAT_TWINS[cls])
            takes = set(inspect.signature(float_cls.__init__).parameters) | {"name", "trainable", "dtype"}
            config = {
                k: v
                for k, v in layer.get_config().items()
                if k in takes and not k.endswith(("_quantizer", "_constraint"))
            }
            config["activation"] = _float_activation(layer.activation, layer)
            return float_cls.from_config(config)
        if isinstance(layer, QActivation):
            return keras.layers.Activation(_float_activation(layer.activation, layer), name=layer.name)
        if cls.startswith("Q") and type(layer).__module__.startswith("fpgaq"):
            raise PTQError(
                f"ptq: layer {layer.name!r} ({cls}) has no float twin here; calibration supports "
                f"{', '.join(_FLOAT_TWINS)} and QActivation; give the float model it was built from"
            )
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, twin.layers):
        for attr in ("kernel", "depthwise_kernel", "bias"):
            if getattr(old, attr, None) is not None:
                getattr(new, attr).assign(getattr(old, attr))
        if not old.get_weights() or type(old).__name__ in _FLOAT_TWINS:
            continue
        new.set_weights(old.get_weights())
    return twin


def _plan(model: Any) -> tuple[list[Any], dict[str, str]]:
    """The layers to calibrate, and why each other layer with numbers in it is left float."""
    calibrate, skipped = [], {}
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in WEIGHT_KEYS:
            calibrate.append(layer)
        elif cls in _ACTIVATION_LAYERS:
            name = "relu" if cls == "ReLU" else activation_name(layer.activation)
            relu = layer.get_config() if cls == "ReLU" else {}
            if relu.get("max_value") is not None or relu.get("negative_slope") or relu.get("threshold"):
                skipped[layer.name] = "ReLU with max_value, negative_slope or threshold is left float"
            elif name in ("relu", "linear"):
                calibrate.append(layer)
            else:
                skipped[layer.name] = f"activation {name!r} is left float (only relu and linear are calibrated)"
        elif layer.get_weights():
            skipped[layer.name] = f"{cls} is not calibrated and stays float"
    if not calibrate:
        raise PTQError(
            "ptq: the model has no layer to calibrate; supported: " + ", ".join((*WEIGHT_KEYS, *_ACTIVATION_LAYERS))
        )
    return calibrate, skipped


def calibrate_model(
    model: Any,
    x_calibration: np.ndarray,
    *,
    method: str = "max",
    bits: int = 8,
    percentile: float = 99.99,
    granularity: str = "layer",
    form: str = "qkeras",
    weight_method: str | None = None,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    per_layer: bool = True,
) -> PTQResult:
    """Calibrate ``model`` on ``x_calibration`` and return the quantized model with its record.

    ``method`` chooses the activations' ranges; ``weight_method`` (default
    ``"max"``, as TensorRT and TensorFlow do: a layer's weights are few, and
    a kernel clipped by a histogram method loses the weights that matter
    most) chooses the kernels' and biases'.  ``bits`` is the budget of every
    tensor (sign included).  The scores use
    ``x_test`` (default: the calibration data) against ``y_test`` when given
    (accuracy), else against the float model's own outputs (agreement).  The
    whole quantized model is scored on inputs on the calibrated input grid
    (:meth:`PTQResult.conversion_config` gives that type to the conversion),
    so its score is the hardware's; a layer alone sees the float input.
    ``per_layer=False`` skips the one-model-per-layer scores.
    """
    _check_settings(method, granularity, form, bits, percentile)
    if weight_method is not None and weight_method not in METHODS:
        raise PTQError(f"ptq: weight_method={weight_method!r} is not supported; use one of {', '.join(METHODS)}")
    x_calibration = np.asarray(x_calibration, dtype=np.float32)
    model = float_twin(model)
    targets, skipped = _plan(model)
    outputs = _layer_outputs(model, targets, x_calibration)
    weight_method = weight_method or "max"
    channels = granularity == "channel"
    learned_channels = channels and form == "learned"  # QKeras-style biases and activations have one range
    choices: list[LayerChoice] = []
    for layer, out in zip(targets, outputs):
        cls = type(layer).__name__
        tensors: dict[str, TensorChoice] = {}
        notes: list[str] = []
        if cls in WEIGHT_KEYS:
            weights = layer.get_weights()
            per_channel = channels and (cls in _CHANNEL_LAST or form == "learned")
            if channels and not per_channel:
                notes.append(f"{cls} kernel: one range per layer (per-channel scales broadcast on its last axis)")
            tensors["kernel"] = _choose(weights[0], "kernel", True, bits, weight_method, percentile, per_channel)
            if len(weights) > 1:
                tensors["bias"] = _choose(weights[1], "bias", True, bits, weight_method, percentile, learned_channels)
            act = activation_name(layer.activation)
        else:
            act = "relu" if cls == "ReLU" else activation_name(layer.activation)
        if act in ("relu", "linear"):
            signed = act == "linear" and bool(np.any(out < 0))
            tensors["activation"] = _choose(out, "activation", signed, bits, method, percentile, learned_channels)
        else:
            notes.append(f"activation {act!r} left float")
        choices.append(LayerChoice(layer.name, cls, tensors, notes=notes))

    x_eval = x_calibration if x_test is None else np.asarray(x_test, dtype=np.float32)
    float_pred = _predict(model, x_eval)
    reference = float_pred if y_test is None else np.asarray(y_test)
    metric = "agreement" if y_test is None else "accuracy"
    if per_layer:
        for choice in choices:
            alone = _build(model, [choice], form, granularity)
            choice.score_alone = score(_predict(alone, x_eval), reference)
    qmodel = _build(model, choices, form, granularity)
    input_choice = _choose(x_calibration, "input", bool(np.any(x_calibration < 0)), bits, method, percentile, False)
    return PTQResult(
        model=qmodel,
        layers=choices,
        settings={
            "method": method,
            "weight_method": weight_method,
            "bits": bits,
            "percentile": percentile if method == "percentile" else None,
            "granularity": granularity,
            "form": form,
            "calibration_samples": len(x_calibration),
            "evaluation_samples": len(x_eval),
        },
        metric=metric,
        float_score=score(float_pred, reference),
        quantized_score=score(_predict(qmodel, input_choice.quantize(x_eval)), reference),
        input_choice=input_choice,
        skipped=skipped,
    )


# ----------------------------------------------------------------------------- the numerical profile
def profile_figures(record: dict[str, Any]) -> list[tuple[str, str]]:
    """One histogram per calibrated layer (its tensors side by side) from a ``ptq.json`` record: (title, PNG URI).

    Dashed lines: the representable minimum and maximum; dotted: the
    clipping threshold that chose them.  Activations have a log count axis
    (a ReLU's zeros dwarf the rest); weights, few, a linear one.
    """
    pictures = []
    for layer in record["layers"]:
        tensors = layer["tensors"]
        if not tensors:
            continue
        fig = figure(3.2 * len(tensors), 2.4)
        for k, (kind, t) in enumerate(tensors.items()):
            ax = fig.add_subplot(1, len(tensors), k + 1)
            edges = np.asarray(t["histogram"]["edges"])
            counts = np.asarray(t["histogram"]["counts"], dtype=np.float64)
            ax.stairs(counts, edges, fill=True, color="#5b7db1")  # one artist, not a patch per bin
            if kind == "activation" and counts.max() > 0:
                ax.set_yscale("log")
            lo, hi = t["representable"]
            for v in (lo, hi):
                ax.axvline(v, color="#b00020", linestyle="--", linewidth=1)
            ax.axvline(t["threshold"], color="#0a6b2d", linestyle=":", linewidth=1.2)
            if t["signed"]:
                ax.axvline(-t["threshold"], color="#0a6b2d", linestyle=":", linewidth=1.2)
            ax.set_title(
                f"{kind}: {t['bits']} bits, I={t['integer']}, F={t['fraction']}\nclipped {100 * t['clipped']:.3g}%",
                fontsize=8,
            )
            ax.tick_params(labelsize=7)
        fig.suptitle(f"{layer['name']} ({layer['class']})", fontsize=9)
        fig.subplots_adjust(top=0.72, wspace=0.3)
        pictures.append((layer["name"], png_uri(fig)))
    return pictures


def profile_html(record: dict[str, Any]) -> str:
    """A self-contained HTML page: settings, the per-layer table and the histograms of a ``ptq.json`` record."""
    metric = record["metric"]
    rows = []
    for layer in record["layers"]:
        alone = "" if layer["score_alone"] is None else f"{100 * layer['score_alone']:.2f}%"
        for kind, t in layer["tensors"].items():
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(v))}</td>"
                    for v in (
                        layer["name"],
                        kind,
                        t["bits"],
                        t["integer"],
                        t["fraction"],
                        f"{t['threshold']:.4g}",
                        f"{100 * t['clipped']:.3g}%",
                        alone,
                    )
                )
                + "</tr>"
            )
    images = "".join(
        f'<h3>{html.escape(name)}</h3><img alt="histograms of {html.escape(name)}" src="{uri}">'
        for name, uri in profile_figures(record)
    )
    settings = ", ".join(f"{k} {v}" for k, v in record["settings"].items() if v is not None)
    labels = (("Float", "float"), ("Quantized", "quantized"))
    scores = " ".join(f"{label} {metric}: {100 * record[k]:.2f}%." for label, k in labels if record.get(k) is not None)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>fpgaq numerical profile</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}img{max-width:100%}</style></head><body>"
        f"<h1>Numerical profile</h1><p>{html.escape(settings)}. {html.escape(scores)}</p>"
        f"<table><tr><th>layer</th><th>tensor</th><th>bits</th><th>integer</th><th>fraction</th><th>threshold</th>"
        f"<th>clipped</th><th>{metric} with only this layer quantized</th></tr>{''.join(rows)}</table>"
        "<p>Dashed red: the representable minimum and maximum; dotted green: the clipping threshold.</p>"
        f"{images}</body></html>\n"
    )


def write_result(result: PTQResult, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``model.keras``, ``ptq.json``, ``profile.html`` and ``config.yml`` (the input type) into ``out``."""
    import yaml

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    record = result.to_dict()
    paths = [root / "model.keras", root / "ptq.json", root / "profile.html", root / "config.yml"]
    result.model.save(os.fspath(paths[0]))
    paths[1].write_text(json.dumps(record, indent=1) + "\n")
    paths[2].write_text(profile_html(record), encoding="utf-8")
    paths[3].write_text(yaml.safe_dump(result.conversion_config(), sort_keys=False))
    return paths
