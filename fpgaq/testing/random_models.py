"""Random quantized Keras models for bit-exactness tests of every back end.

A model is described by a plain :class:`ModelSpec` (so a failing case can be
printed and rebuilt) and built by :func:`build_model`.  Specs are drawn by
:func:`random_spec` from a seed; property-based tests draw the seed and the
knobs with hypothesis.  Widths are kept small enough that Keras' float32
inference is itself exact, which is what lets tests demand equality.

``learned=True`` draws learned-precision models instead: every kernel, bias
and activation quantizer a ``learned_bits`` (per tensor, channel or element;
SAT or WRAP; RND or TRN; signed or unsigned) whose bit variables
:func:`build_model` sets to seeded random values, some with ``i + f < 0`` so
that their elements are the constant zero.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from fpgaq.ir.opspec import is_linear
from fpgaq.layers import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D
from fpgaq.quantizers import learned_bits

__all__ = ["LayerSpec", "ModelSpec", "build_model", "random_inputs", "random_spec"]


@dataclasses.dataclass
class LayerSpec:
    kind: str  # dense, conv1d, conv2d, depthwise2d, maxpool, avgpool, flatten, act, relu, branch_add, branch_concat
    args: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ModelSpec:
    input_shape: tuple[int, ...]
    input_quantizer: str
    layers: list[LayerSpec]
    seed: int = 0
    learned: bool = False

    def describe(self) -> str:
        parts = [f"input{self.input_shape} {self.input_quantizer}"]
        parts += [f"{ls.kind}({', '.join(f'{k}={v}' for k, v in ls.args.items())})" for ls in self.layers]
        return " -> ".join(parts)


def _weight_quantizer(rng: np.random.Generator) -> str:
    kind = rng.choice(["bits", "bits", "bits", "po2", "ternary", "binary", "auto_po2"])
    if kind == "bits":
        bits = int(rng.integers(2, 7))
        integer = int(rng.integers(0, 2))
        sym = int(rng.integers(0, 2))
        if rng.random() < 0.15:  # non-negative weights only
            return f"quantized_bits({bits},{integer},0,keep_negative=0,alpha=1)"
        return f"quantized_bits({bits},{integer},{sym},alpha=1)"
    if kind == "po2":
        return f"quantized_po2({int(rng.integers(3, 5))},1)"
    if kind == "ternary":
        return "ternary(alpha=1)"
    if kind == "binary":
        return "binary(alpha=1)"
    return f"quantized_bits({int(rng.integers(3, 6))},0,alpha='auto_po2')"


def _activation_quantizer(rng: np.random.Generator) -> str:
    kind = rng.choice(["relu", "relu", "bits", "leaky"])
    bits = int(rng.integers(3, 8))
    integer = int(rng.integers(0, 3))
    if kind == "relu":
        return f"quantized_relu({bits},{integer})"
    if kind == "leaky":
        return f"quantized_relu({bits},{integer},negative_slope=0.25)"
    return f"quantized_bits({bits},{integer},alpha=1)"


#: Ranges of the learned fractional and integer bits drawn by :func:`build_model` (inclusive): small
#: enough that every sum stays below 2**24 (Keras' float32 is exact), wide enough that some elements
#: vanish (``i + f < 0``) and others saturate.
LEARNED_FRAC = (-1, 5)
LEARNED_INTEGER = (-2, 3)


def _learned_quantizer(rng: np.random.Generator, signed: bool | None = None) -> str:
    granularity = str(rng.choice(["tensor", "channel", "element", "element"]))
    overflow = str(rng.choice(["SAT", "SAT", "WRAP"]))
    rounding = str(rng.choice(["RND", "TRN"]))
    keep_negative = bool(rng.random() < 0.6) if signed is None else signed
    return (
        f"learned_bits(6,1,keep_negative={int(keep_negative)},granularity='{granularity}',"
        f"overflow='{overflow}',rounding='{rounding}')"
    )


def _learned_spec(spec: ModelSpec, rng: np.random.Generator) -> ModelSpec:
    """``spec`` with every quantizer a learned one (the structure, shapes and options unchanged)."""
    layers = []
    for ls in spec.layers:
        args = dict(ls.args)
        if "kernel_quantizer" in args:
            args["kernel_quantizer"] = _learned_quantizer(rng, signed=bool(rng.random() < 0.9))
            args["bias_quantizer"] = _learned_quantizer(rng, signed=True)
            if args.get("activation") or rng.random() < 0.5:
                args["activation"] = _learned_quantizer(rng)
        layers.append(LayerSpec(ls.kind, args))
    return dataclasses.replace(spec, input_quantizer=_learned_quantizer(rng), layers=layers, learned=True)


def random_spec(seed: int, family: str | None = None, depth: int | None = None, learned: bool = False) -> ModelSpec:
    """A random but valid model: an MLP, a 1-D or a 2-D CNN, possibly with branches; ``learned``:
    every quantizer a ``learned_bits`` whose bits :func:`build_model` draws."""
    if learned:
        return _learned_spec(random_spec(seed, family, depth), np.random.default_rng(seed + 104729))
    rng = np.random.default_rng(seed)
    family = family or str(rng.choice(["mlp", "mlp", "cnn1d", "cnn2d", "cnn2d"]))
    depth = depth or int(rng.integers(1, 4))
    in_bits = int(rng.integers(4, 10))
    in_int = int(rng.integers(0, 3))
    unsigned_input = rng.random() < 0.25  # e.g. pixels or energies: no sign bit
    in_q = (
        f"quantized_bits({in_bits},{in_int},0,keep_negative=0,alpha=1)"
        if unsigned_input
        else (f"quantized_bits({in_bits},{in_int},alpha=1)")
    )
    layers: list[LayerSpec] = []
    if family == "mlp":
        shape: tuple[int, ...] = (int(rng.integers(2, 17)),)
        for _ in range(depth):
            layers.append(_dense_block(rng))
            if rng.random() < 0.2:
                layers.append(LayerSpec("branch_add" if rng.random() < 0.5 else "branch_concat", {}))
    else:
        ndim = 1 if family == "cnn1d" else 2
        size = int(rng.integers(5, 10))
        shape = (size,) * ndim + (int(rng.integers(1, 4)),)
        spatial = size
        for _ in range(depth):
            kind = "conv" if (ndim == 1 or rng.random() < 0.7) else "depthwise"
            k = int(rng.integers(1, 4))
            padding = str(rng.choice(["valid", "same"]))
            if padding == "valid" and spatial - k + 1 < 2:
                padding = "same"
            stride = 1 if rng.random() < 0.8 else 2
            args = {
                "kernel": k,
                "padding": padding,
                "strides": stride,
                "kernel_quantizer": _weight_quantizer(rng),
                "bias_quantizer": f"quantized_bits({int(rng.integers(3, 8))},{int(rng.integers(0, 3))},alpha=1)",
                "activation": _activation_quantizer(rng),
                "use_bias": bool(rng.random() < 0.8),
            }
            if kind == "conv":
                args["filters"] = int(rng.integers(1, 5))
                layers.append(LayerSpec(f"conv{ndim}d", args))
            else:
                args["depth_multiplier"] = int(rng.integers(1, 3))
                layers.append(LayerSpec("depthwise2d", args))
            out = spatial if padding == "same" else spatial - k + 1
            spatial = -(-out // stride)
            if spatial >= 4 and rng.random() < 0.4:
                layers.append(LayerSpec(str(rng.choice(["maxpool", "avgpool"])), {"pool": 2}))
                spatial //= 2
        layers.append(LayerSpec("flatten", {}))
        if rng.random() < 0.7:
            layers.append(_dense_block(rng))
    return ModelSpec(shape, in_q, layers, seed)


def _dense_block(rng: np.random.Generator) -> LayerSpec:
    return LayerSpec(
        "dense",
        {
            "units": int(rng.integers(1, 17)),
            "kernel_quantizer": _weight_quantizer(rng),
            "bias_quantizer": f"quantized_bits({int(rng.integers(3, 8))},{int(rng.integers(0, 3))},alpha=1)",
            "activation": _activation_quantizer(rng) if rng.random() < 0.85 else None,
            "use_bias": bool(rng.random() < 0.8),
        },
    )


def _linear(ls: LayerSpec, name: str) -> keras.layers.Layer:
    a = ls.args
    common = {
        "kernel_quantizer" if ls.kind != "depthwise2d" else "depthwise_quantizer": a["kernel_quantizer"],
        "bias_quantizer": a["bias_quantizer"],
        "use_bias": a["use_bias"],
        "name": name,
    }
    if ls.kind == "dense":
        return QDense(a["units"], **common)
    if ls.kind == "conv1d":
        return QConv1D(a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"], **common)
    if ls.kind == "conv2d":
        return QConv2D(a["filters"], a["kernel"], strides=a["strides"], padding=a["padding"], **common)
    return QDepthwiseConv2D(
        a["kernel"], strides=a["strides"], padding=a["padding"], depth_multiplier=a["depth_multiplier"], **common
    )


def build_model(spec: ModelSpec) -> keras.Model:
    """The Keras model of ``spec``, with seeded random weights that exercise the quantizers.

    Weights are drawn wider than the quantizers' ranges so that some saturate,
    and biases are non-zero.
    """
    rng = np.random.default_rng(spec.seed + 7919)
    inputs = keras.Input(spec.input_shape, name="x")
    in_q = QActivation(spec.input_quantizer, name="in_q")
    x = in_q(inputs)
    _draw_bits(in_q, rng)
    for i, ls in enumerate(spec.layers):
        name = f"l{i}_{ls.kind}"
        if is_linear(ls.kind):  # the linear layer kinds are named as their IR ops
            layer = _linear(ls, name)
            y = layer(x)
            for w in layer.weights:
                if not _is_bits(w):
                    w.assign(rng.normal(0.0, 0.6, size=tuple(w.shape)).astype(np.float32))
            _draw_bits(layer, rng)
            if ls.args.get("activation"):
                act = QActivation(ls.args["activation"], name=f"{name}_act")
                y = act(y)
                _draw_bits(act, rng)
            x = y
        elif ls.kind in ("maxpool", "avgpool"):
            ndim = len(x.shape) - 2
            cls = {
                ("maxpool", 1): keras.layers.MaxPooling1D,
                ("maxpool", 2): keras.layers.MaxPooling2D,
                ("avgpool", 1): keras.layers.AveragePooling1D,
                ("avgpool", 2): keras.layers.AveragePooling2D,
            }[(ls.kind, ndim)]
            x = cls(ls.args["pool"], name=name)(x)
        elif ls.kind == "flatten":
            x = keras.layers.Flatten(name=name)(x)
        elif ls.kind in ("branch_add", "branch_concat"):
            units = int(x.shape[-1])
            side = QDense(
                units,
                kernel_quantizer="quantized_bits(4,0,alpha=1)",
                bias_quantizer="quantized_bits(4,0,alpha=1)",
                name=f"{name}_side",
            )
            s = side(x)
            for w in side.weights:
                w.assign(rng.normal(0.0, 0.6, size=tuple(w.shape)).astype(np.float32))
            s = QActivation("quantized_relu(4,1)", name=f"{name}_side_act")(s)
            merge = keras.layers.Add if ls.kind == "branch_add" else keras.layers.Concatenate
            x = merge(name=name)([x, s])
        else:  # pragma: no cover
            raise ValueError(f"unknown layer kind {ls.kind!r}")
    return keras.Model(inputs, x, name=f"random_{'learned_' if spec.learned else ''}{spec.seed}")


def _is_bits(variable: Any) -> bool:
    """Whether a layer variable is a learned quantizer's fractional or integer bits."""
    return str(variable.path).endswith(("fbits", "ibits"))


def _draw_bits(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    """Seeded random integer fractional and integer bits for every learned quantizer of ``layer``."""
    for q in vars(layer).values():
        if isinstance(q, learned_bits) and q.fbits is not None:
            shape = tuple(q.fbits.shape)
            frac = rng.integers(LEARNED_FRAC[0], LEARNED_FRAC[1] + 1, size=shape)
            q.set_bits(frac, rng.integers(LEARNED_INTEGER[0], LEARNED_INTEGER[1] + 1, size=shape))


def random_inputs(spec: ModelSpec, n: int, seed: int = 0) -> np.ndarray:
    """Inputs that cover the input quantizer's range, beyond it (saturation) and its ties."""
    rng = np.random.default_rng(seed)
    if spec.learned:  # a grid finer than every element's: each element meets its midpoints and bounds
        top = 2.0 ** (LEARNED_INTEGER[1] + 1)
        step = 2.0 ** -(LEARNED_FRAC[1] + 1)
        return (np.round(rng.uniform(-top, top, size=(n, *spec.input_shape)) / step) * step).astype(np.float32)
    q = spec.input_quantizer
    bits, integer = (int(v) for v in q[q.index("(") + 1 :].split(",")[:2])
    lsb = 2.0 ** (integer - bits + (0 if "keep_negative=0" in q else 1))
    top = 2.0**integer
    x = rng.uniform(-1.5 * top, 1.5 * top, size=(n, *spec.input_shape))
    ties = (np.round(x / lsb) + 0.5) * lsb  # exactly half-way between grid points
    pick = rng.random(x.shape) < 0.25
    return np.where(pick, ties, x).astype(np.float32)
