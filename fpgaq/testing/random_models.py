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

:func:`soak_spec` draws the soak's richer models (``benchmarks/soak.py``) from
its own random stream, so every :func:`random_spec` seed still draws what it
always drew: separable convolutions, quantized batch normalization, zero
padding, global pooling, every activation quantizer family that is exact
against Keras' float32 (:data:`SOAK_ACTIVATIONS`), a different family per
layer, and learned-precision models; :func:`soak_variant` draws the RTL
implementation options (pipelining, folding, multipliers) of a seed.
:data:`SOAK_EXCLUDED` names what the soak leaves out, and why.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from fpgaq.ir.opspec import is_linear
from fpgaq.layers import (
    QActivation,
    QBatchNormalization,
    QConv1D,
    QConv2D,
    QDense,
    QDepthwiseConv2D,
    QSeparableConv1D,
    QSeparableConv2D,
)
from fpgaq.quantizers import learned_bits

__all__ = [
    "SOAK_ACTIVATIONS",
    "SOAK_EXCLUDED",
    "LayerSpec",
    "ModelSpec",
    "build_model",
    "random_inputs",
    "random_spec",
    "soak_spec",
    "soak_variant",
]


@dataclasses.dataclass
class LayerSpec:
    # dense, conv1d, conv2d, depthwise2d, maxpool, avgpool, flatten, branch_add, branch_concat; the soak's:
    # separable1d, separable2d, batchnorm, act, zeropad, global_maxpool, global_avgpool
    kind: str
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
    in_q = _input_quantizer(rng)
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


def _input_quantizer(rng: np.random.Generator) -> str:
    """4 to 9 bits, 0 to 2 of them integer; a quarter unsigned (e.g. pixels or energies: no sign bit)."""
    bits, integer = int(rng.integers(4, 10)), int(rng.integers(0, 3))
    if rng.random() < 0.25:
        return f"quantized_bits({bits},{integer},0,keep_negative=0,alpha=1)"
    return f"quantized_bits({bits},{integer},alpha=1)"


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
        else:
            x = _soak_layer(ls, name, x, rng)
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


# ----------------------------------------------------------------------------- the soak's richer models
#: Activation quantizer families the soak draws, each a function of the stream that spells one quantizer.
#: Every one is exact against Keras' float32 on inputs of at most 24 bits (a step function of the input
#: code, or a fixed-point clip and round), which is what lets the soak demand equality with Keras.
SOAK_ACTIVATIONS: dict[str, Any] = {
    "quantized_bits": lambda r: f"quantized_bits({int(r.integers(3, 8))},{int(r.integers(0, 3))},alpha=1)",
    "quantized_relu": lambda r: f"quantized_relu({int(r.integers(3, 8))},{int(r.integers(0, 3))})",
    "quantized_relu_leaky": lambda r: (
        f"quantized_relu({int(r.integers(3, 8))},{int(r.integers(0, 3))},negative_slope={r.choice([0.25, 0.5])})"
    ),
    "quantized_relu_bounded": lambda r: (
        f"quantized_relu({int(r.integers(4, 8))},2,relu_upper_bound={int(r.integers(1, 4))})"
    ),
    "quantized_relu_po2": lambda r: "quantized_relu_po2(3)",
    "quantized_po2": lambda r: f"quantized_po2({int(r.integers(3, 5))})",
    "quantized_tanh": lambda r: f"quantized_tanh({int(r.integers(3, 8))},symmetric={int(r.integers(0, 2))})",
    "quantized_sigmoid": lambda r: f"quantized_sigmoid({int(r.integers(3, 8))})",
    "quantized_hswish": lambda r: f"quantized_hswish({int(r.integers(5, 9))},{int(r.integers(1, 4))})",
    "quantized_ulaw": lambda r: f"quantized_ulaw({int(r.integers(4, 9))},{int(r.integers(0, 3))})",
    "quantized_linear": lambda r: f"quantized_linear({int(r.integers(3, 8))},{int(r.integers(0, 3))})",
    "binary": lambda r: str(r.choice(["binary(alpha=1)", "binary(use_01=1)"])),
    "binary_tanh": lambda r: "binary_tanh()",
    "ternary": lambda r: str(r.choice(["ternary(alpha=1)", "ternary(threshold=0.5)"])),
    "ste_sign": lambda r: "ste_sign()",
}

#: Families whose outputs are float32 levels of 24 significant bits: a layer that sums them would outgrow
#: float32, so the soak draws them as a model's last activation only.
SOAK_FINAL_ONLY = frozenset({"quantized_ulaw"})

#: What the soak does not draw, and why; ``benchmarks/soak.py`` prints it with every run.
SOAK_EXCLUDED: dict[str, str] = {
    "quantized_sigmoid/quantized_tanh(use_real_*=True), Keras sigmoid/tanh/softmax": (
        "a lookup table over a rounded input approximates Keras' float function by design, so Keras cannot "
        "equal it (the table back ends are checked against the reference in tests/rtl/lower/test_lower_tables.py)"
    ),
    "Keras BatchNormalization, QBatchNormalization without inverse/beta/mean quantizers": (
        "its constants are arbitrary floats that fpgaq rounds to the weight precision (with a warning)"
    ),
    "average pooling over an area that is not a power of two": (
        "the mean is no binary fraction: fpgaq rounds it once, Keras keeps float32's rounding"
    ),
    "hard_sigmoid/hard_tanh/smooth_* quantizer objects, quantized_relu(use_sigmoid=1)": (
        "unquantized float functions: fpgaq refuses them with an FpgaqError naming the fix"
    ),
    "stochastic quantizers (stochastic_binary/ternary, bernoulli) at training time, dropout": (
        "random at training only; inference is the deterministic form the soak already draws"
    ),
    "QConv2DTranspose, QDenseBatchnorm/QConv2DBatchnorm, Larq layers": (
        "not drawn yet (covered by their own tests in tests/layers and tests/ir/ops)"
    ),
}

#: RTL implementation options the soak draws per model (they never change the numbers).
SOAK_PIPELINE_EVERY = (0, 1, 3)
SOAK_REUSE_FACTORS = (1, 2, 3)
SOAK_MULTIPLIERS = ("lut", "dsp", "auto")

#: Share of soak seeds that draw a learned-precision model (random_spec's structures, learned quantizers).
SOAK_LEARNED_SHARE = 0.15


def soak_variant(seed: int) -> dict[str, Any]:
    """The RTL options of soak seed ``seed``: pipelining, folding (reuse factor) and multiplier style."""
    rng = np.random.default_rng([seed, 2])
    return {
        "pipeline_every": int(rng.choice(SOAK_PIPELINE_EVERY)),
        "reuse_factor": int(rng.choice(SOAK_REUSE_FACTORS)),
        "multiplier": str(rng.choice(SOAK_MULTIPLIERS)),
    }


def _soak_activation(rng: np.random.Generator, final: bool = False) -> str:
    """An activation quantizer of a family drawn uniformly; ``final``: the model's last activation."""
    families = sorted(SOAK_ACTIVATIONS) if final else sorted(set(SOAK_ACTIVATIONS) - SOAK_FINAL_ONLY)
    family = str(rng.choice(families))
    return SOAK_ACTIVATIONS[family](rng)


def _with_final_activation(spec: ModelSpec, rng: np.random.Generator) -> ModelSpec:
    """``spec`` with the activation of its last layer, if it has one, redrawn from every family (the
    final-only ones included: nothing sums its output)."""
    last = spec.layers[-1]
    key = "quantizer" if last.kind == "act" else "activation"
    if last.args.get(key):
        last.args[key] = _soak_activation(rng, final=True)
    return spec


def _bias_quantizer(rng: np.random.Generator) -> str:
    return f"quantized_bits({int(rng.integers(3, 8))},{int(rng.integers(0, 3))},alpha=1)"


def _soak_batchnorm(rng: np.random.Generator) -> LayerSpec:
    """A QBatchNormalization whose constants are quantizer outputs (exact), then an activation quantizer."""
    return LayerSpec(
        "batchnorm",
        {
            "inverse_quantizer": f"quantized_bits({int(rng.integers(3, 7))},{int(rng.integers(0, 3))},alpha=1)",
            "beta_quantizer": _bias_quantizer(rng),
            "mean_quantizer": _bias_quantizer(rng),
            "activation": _soak_activation(rng),
        },
    )


#: Kernels narrow enough that a bare accumulator times a batch-normalization scale stays float32-exact.
FOLDABLE_KERNELS = ("ternary(alpha=1)", "binary(alpha=1)", "quantized_bits(2,0,alpha=1)", "quantized_bits(3,1,alpha=1)")


def _add_batchnorm(layers: list[LayerSpec], rng: np.random.Generator) -> None:
    """Append a batch normalization after the last layer: after its activation quantizer, or (half of
    the time) straight after its accumulator, which ``fold_batchnorm`` folds into the layer; the
    layer's kernel is then narrowed so that the folded sum stays float32-exact."""
    linear = layers[-1]
    if rng.random() < 0.5:
        linear.args["activation"] = None
        key = "pointwise_quantizer" if linear.kind.startswith("separable") else "kernel_quantizer"
        linear.args[key] = str(rng.choice(FOLDABLE_KERNELS))
    layers.append(_soak_batchnorm(rng))


def _soak_dense(rng: np.random.Generator) -> LayerSpec:
    return LayerSpec(
        "dense",
        {
            "units": int(rng.integers(1, 13)),
            "kernel_quantizer": _weight_quantizer(rng),
            "bias_quantizer": _bias_quantizer(rng),
            "activation": _soak_activation(rng),
            "use_bias": bool(rng.random() < 0.8),
        },
    )


def _soak_window(rng: np.random.Generator, ndim: int, spatial: int) -> tuple[LayerSpec, int]:
    """A convolution, depthwise or separable layer on a ``spatial``-wide input, and its output width."""
    kind = str(rng.choice(["conv", "conv", "depthwise", "separable"] if ndim == 2 else ["conv", "conv", "separable"]))
    k = int(rng.integers(1, 4))
    padding = str(rng.choice(["valid", "same"]))
    if padding == "valid" and spatial - k + 1 < 2:
        padding = "same"
    stride = 1 if rng.random() < 0.8 else 2
    args: dict[str, Any] = {
        "kernel": k,
        "padding": padding,
        "strides": stride,
        "kernel_quantizer": _weight_quantizer(rng),
        "bias_quantizer": _bias_quantizer(rng),
        "activation": _soak_activation(rng),
        "use_bias": bool(rng.random() < 0.8),
    }
    if kind == "conv":
        args["filters"] = int(rng.integers(1, 5))
        layer = LayerSpec(f"conv{ndim}d", args)
    elif kind == "depthwise":
        args["depth_multiplier"] = int(rng.integers(1, 3))
        layer = LayerSpec("depthwise2d", args)
    else:
        # both kernels in one Keras product: the depthwise part stays narrow so the sum is float32-exact
        args["kernel_quantizer"] = f"quantized_bits({int(rng.integers(2, 5))},0,alpha=1)"
        args["pointwise_quantizer"] = _weight_quantizer(rng)
        args["depth_multiplier"] = int(rng.integers(1, 3))
        args["filters"] = int(rng.integers(1, 5))
        layer = LayerSpec(f"separable{ndim}d", args)
    out = spatial if padding == "same" else spatial - k + 1
    return layer, -(-out // stride)


def soak_spec(seed: int) -> ModelSpec:
    """The soak's model of ``seed``: richer than :func:`random_spec` (see the module docstring), drawn
    from a stream of its own, so ``random_spec`` seeds keep their models."""
    rng = np.random.default_rng([seed, 1])
    if rng.random() < SOAK_LEARNED_SHARE:
        return random_spec(seed, learned=True)
    family = str(rng.choice(["mlp", "cnn1d", "cnn2d", "cnn2d"]))
    depth = int(rng.integers(1, 4))
    in_q = _input_quantizer(rng)
    layers: list[LayerSpec] = []
    if family == "mlp":
        shape: tuple[int, ...] = (int(rng.integers(2, 17)),)
        for _ in range(depth):
            layers.append(_soak_dense(rng))
            if rng.random() < 0.25:
                _add_batchnorm(layers, rng)
            if rng.random() < 0.15:
                layers.append(LayerSpec("act", {"quantizer": _soak_activation(rng)}))
            if rng.random() < 0.2:
                layers.append(LayerSpec("branch_add" if rng.random() < 0.5 else "branch_concat", {}))
        return _with_final_activation(ModelSpec(shape, in_q, layers, seed), rng)
    ndim = 1 if family == "cnn1d" else 2
    spatial = int(rng.integers(4, 9))
    shape = (spatial,) * ndim + (int(rng.integers(1, 4)),)
    for _ in range(depth):
        if rng.random() < 0.2:
            before, after = int(rng.integers(0, 3)), int(rng.integers(1, 3))
            layers.append(LayerSpec("zeropad", {"padding": (before, after)}))
            spatial += before + after
        layer, spatial = _soak_window(rng, ndim, spatial)
        layers.append(layer)
        if rng.random() < 0.25:
            _add_batchnorm(layers, rng)
        if spatial >= 4 and rng.random() < 0.3:
            layers.append(LayerSpec(str(rng.choice(["maxpool", "avgpool"])), {"pool": 2}))
            spatial //= 2
    if rng.random() < 0.5:
        power_of_two_area = spatial & (spatial - 1) == 0  # a square or a line: area spatial**ndim
        pick_average = power_of_two_area and rng.random() < 0.5
        layers.append(LayerSpec("global_avgpool" if pick_average else "global_maxpool", {}))
    else:
        layers.append(LayerSpec("flatten", {}))
    if rng.random() < 0.7:
        layers.append(_soak_dense(rng))
        if rng.random() < 0.3:  # a bare accumulator as the output
            layers[-1].args["activation"] = None
    return _with_final_activation(ModelSpec(shape, in_q, layers, seed), rng)


def _soak_layer(ls: LayerSpec, name: str, x: Any, rng: np.random.Generator) -> Any:
    """Build one of the soak's own layer kinds on ``x`` (seeded weights); its output tensor."""
    a = ls.args
    ndim = len(x.shape) - 2
    if ls.kind in ("separable1d", "separable2d"):
        cls = QSeparableConv1D if ls.kind == "separable1d" else QSeparableConv2D
        layer = cls(
            a["filters"],
            a["kernel"],
            strides=a["strides"],
            padding=a["padding"],
            depth_multiplier=a["depth_multiplier"],
            depthwise_quantizer=a["kernel_quantizer"],
            pointwise_quantizer=a["pointwise_quantizer"],
            bias_quantizer=a["bias_quantizer"],
            use_bias=a["use_bias"],
            name=name,
        )
        y = layer(x)
        for w in layer.weights:
            w.assign(rng.normal(0.0, 0.6, size=tuple(w.shape)).astype(np.float32))
    elif ls.kind == "batchnorm":
        layer = QBatchNormalization(
            inverse_quantizer=a["inverse_quantizer"],
            beta_quantizer=a["beta_quantizer"],
            mean_quantizer=a["mean_quantizer"],
            gamma_quantizer=None,
            variance_quantizer=None,
            name=name,
        )
        y = layer(x)
        c = int(x.shape[-1])
        stats = [rng.uniform(0.5, 2.0, c), rng.uniform(-1, 1, c), rng.uniform(-1, 1, c), rng.uniform(0.2, 2.0, c)]
        layer.set_weights([s.astype(np.float32) for s in stats])
    elif ls.kind == "act":
        return QActivation(a["quantizer"], name=name)(x)
    elif ls.kind == "zeropad":
        pad = tuple(a["padding"])
        layer = (
            keras.layers.ZeroPadding1D(pad, name=name)
            if ndim == 1
            else keras.layers.ZeroPadding2D((pad, pad), name=name)
        )
        return layer(x)
    elif ls.kind in ("global_maxpool", "global_avgpool"):
        cls = {
            ("global_maxpool", 1): keras.layers.GlobalMaxPooling1D,
            ("global_maxpool", 2): keras.layers.GlobalMaxPooling2D,
            ("global_avgpool", 1): keras.layers.GlobalAveragePooling1D,
            ("global_avgpool", 2): keras.layers.GlobalAveragePooling2D,
        }[(ls.kind, ndim)]
        return cls(name=name)(x)
    else:  # pragma: no cover
        raise ValueError(f"unknown layer kind {ls.kind!r}")
    if a.get("activation"):
        y = QActivation(a["activation"], name=f"{name}_act")(y)
    return y
