"""Shared helpers of the HLS back-end tests: models that cover every op, vendor headers, parallel builds."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import keras
import numpy as np

import fpgaq
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.layers import (
    QActivation,
    QAveragePooling2D,
    QConv1D,
    QConv2D,
    QConv2DTranspose,
    QDense,
    QDepthwiseConv2D,
    QGlobalAveragePooling2D,
    QSeparableConv1D,
    QSeparableConv2D,
)
from fpgaq.testing.inputs import edge_inputs

WQ = "quantized_bits(4,0,alpha=1)"
BQ = "quantized_bits(6,2,alpha=1)"


def convert(model: keras.Model, config: Any = None) -> fpgaq.Design:
    """fpgaq.convert without the warnings about unquantized tensors (these tests mean them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fpgaq.convert(model, config)


def randomize(model: keras.Model, seed: int, scale: float = 0.6) -> keras.Model:
    """Weights drawn wider than the quantizers' ranges (some saturate); batch-norm variances positive."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        values = rng.normal(0.0, scale, size=shape)
        if "variance" in w.path:
            values = rng.uniform(0.5, 2.0, size=shape)
        w.assign(values.astype(np.float32))
    return model


def inputs_for(design: fpgaq.Design, n: int, seed: int = 0) -> list[np.ndarray]:
    """Floats covering each input type's range, beyond it (saturation) and its exact half-way points."""
    return edge_inputs(design, n, seed)


def _qin(x: Any, bits: int = 8, integer: int = 2) -> Any:
    return QActivation(f"quantized_bits({bits},{integer},alpha=1)", name="in_q")(x)


# ----------------------------------------------------------------------------- models covering every op
def tables_model() -> keras.Model:
    """sigmoid, tanh (Keras activations: tables), concatenate, softmax on a 2-D tensor."""
    inp = keras.Input((6,), name="x")
    x = _qin(inp)
    a = QDense(5, kernel_quantizer=WQ, bias_quantizer=BQ, activation="sigmoid", name="sig")(x)
    b = QDense(5, kernel_quantizer=WQ, bias_quantizer=BQ, activation="tanh", name="tanh")(x)
    c = keras.layers.Concatenate(name="cat")([a, b])
    d = QDense(6, kernel_quantizer=WQ, bias_quantizer=BQ, name="logits")(c)
    d = keras.layers.Reshape((2, 3), name="rows")(d)
    out = keras.layers.Activation("softmax", name="softmax")(d)
    return randomize(keras.Model(inp, out, name="tables"), 1)


def piecewise_model() -> keras.Model:
    """LeakyReLU, ReLU(max_value), hard_sigmoid / hard_tanh (Keras and quantizers), relu6."""
    inp = keras.Input((7,), name="x")
    x = _qin(inp)
    x = QDense(8, kernel_quantizer=WQ, bias_quantizer=BQ, name="d1")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.25, name="leaky")(x)
    x = QDense(8, kernel_quantizer=WQ, bias_quantizer=BQ, name="d2")(x)
    x = keras.layers.ReLU(max_value=1.5, name="relu_max")(x)
    x = QDense(8, kernel_quantizer=WQ, bias_quantizer=BQ, name="d3")(x)
    x = keras.layers.Activation("hard_sigmoid", name="hsig")(x)
    x = QDense(8, kernel_quantizer=WQ, bias_quantizer=BQ, name="d4")(x)
    x = QActivation("quantized_tanh(6)", name="qhtanh")(x)
    x = QActivation("quantized_sigmoid(5)", name="qhsig")(x)  # standalone: reads another activation
    x = QDense(6, kernel_quantizer=WQ, bias_quantizer=BQ, name="d5")(x)
    x = QActivation("quantized_relu(4,1,negative_slope=0.5)", name="qleaky")(x)
    x = QDense(5, kernel_quantizer=WQ, bias_quantizer=BQ, name="d6")(x)
    out = keras.layers.Activation("relu6", name="relu6")(x)
    return randomize(keras.Model(inp, out, name="piecewise"), 2)


def steps_model() -> keras.Model:
    """Binary, ternary and power-of-two activation quantizers (the step op)."""
    inp = keras.Input((6,), name="x")
    x = _qin(inp)
    a = QActivation("binary(alpha=1)", name="bin")(QDense(4, kernel_quantizer=WQ, name="da")(x))
    b = QActivation("ternary(alpha=1)", name="ter")(QDense(4, kernel_quantizer=WQ, name="db")(x))
    c = QActivation("quantized_po2(4,1)", name="po2")(QDense(4, kernel_quantizer=WQ, name="dc")(x))
    y = keras.layers.Concatenate(name="cat")([a, b, c])
    out = QDense(3, kernel_quantizer=WQ, bias_quantizer=BQ, name="out")(y)
    return randomize(keras.Model(inp, out, name="steps"), 3)


def conv2d_model() -> keras.Model:
    """Strided/dilated same conv, unfolded batch normalization, same/valid pools, quantized pools, merges."""
    inp = keras.Input((7, 7, 2), name="img")
    x = _qin(inp, 6, 1)
    x = QConv2D(3, 3, strides=1, padding="same", dilation_rate=2, kernel_quantizer=WQ, bias_quantizer=BQ, name="c1")(x)
    x = QActivation("quantized_relu(5,2)", name="r1")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = QActivation("quantized_bits(6,2,alpha=1)", name="q_bn")(x)
    m = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="mp_same")(x)
    a = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="ap_same")(x)
    a = QActivation("quantized_bits(8,2,alpha=1)", name="q_ap")(a)
    s = keras.layers.Add(name="add3")([m, a, m])
    s = keras.layers.Concatenate(axis=1, name="cat_rows")([s, m])
    q = QAveragePooling2D(2, average_quantizer="quantized_bits(8,0,alpha=1)", name="qap")(s)
    g1 = keras.layers.GlobalMaxPooling2D(name="gmp")(s)
    g2 = keras.layers.GlobalAveragePooling2D(name="gap")(s)
    g3 = QGlobalAveragePooling2D(average_quantizer="quantized_bits(8,0,alpha=1)", name="qgap")(s)
    f = keras.layers.Flatten(name="flat")(q)
    y = keras.layers.Concatenate(name="cat")([f, g1, g2, g3])
    out = QDense(4, kernel_quantizer=WQ, bias_quantizer=BQ, name="out")(y)
    return randomize(keras.Model(inp, out, name="conv2d_ops"), 4, 0.5)


def conv_misc_model() -> keras.Model:
    """Depthwise (multiplier 2), separable, transposed convolution, zero padding, valid pools."""
    inp = keras.Input((6, 6, 2), name="img")
    x = _qin(inp, 6, 1)
    x = keras.layers.ZeroPadding2D(((1, 0), (0, 2)), name="zp")(x)
    x = QDepthwiseConv2D(3, depth_multiplier=2, depthwise_quantizer=WQ, bias_quantizer=BQ, name="dw")(x)
    x = QActivation("quantized_relu(5,2)", name="r1")(x)
    x = QSeparableConv2D(
        3, 2, padding="same", depthwise_quantizer=WQ, pointwise_quantizer=WQ, bias_quantizer=BQ, name="sep"
    )(x)
    x = QActivation("quantized_bits(6,2,alpha=1)", name="q2")(x)
    x = QConv2DTranspose(2, 3, strides=2, padding="same", kernel_quantizer=WQ, bias_quantizer=BQ, name="tr")(x)
    x = QActivation("quantized_relu(5,2)", name="r3")(x)
    x = keras.layers.MaxPooling2D(2, name="mp")(x)
    x = keras.layers.AveragePooling2D(3, strides=1, name="ap")(x)
    out = keras.layers.Flatten(name="flat")(x)
    return randomize(keras.Model(inp, out, name="conv_misc"), 5, 0.5)


def conv1d_model() -> keras.Model:
    """1-D convolutions, depthwise, separable, pools and padding."""
    inp = keras.Input((12, 2), name="seq")
    x = _qin(inp, 6, 1)
    x = keras.layers.ZeroPadding1D((2, 1), name="zp")(x)
    x = QConv1D(3, 3, strides=2, padding="same", kernel_quantizer=WQ, bias_quantizer=BQ, name="c1")(x)
    x = QActivation("quantized_relu(5,2)", name="r1")(x)
    x = keras.layers.DepthwiseConv1D(2, depth_multiplier=2, name="dw1")(x)
    x = QActivation("quantized_bits(6,2,alpha=1)", name="q2")(x)
    x = QSeparableConv1D(
        2, 2, padding="same", depthwise_quantizer=WQ, pointwise_quantizer=WQ, bias_quantizer=BQ, name="sep"
    )(x)
    x = QActivation("quantized_relu(5,2)", name="r3")(x)
    m = keras.layers.MaxPooling1D(2, padding="same", name="mp")(x)
    a = keras.layers.AveragePooling1D(3, strides=1, padding="same", name="ap")(x)
    a = QActivation("quantized_bits(8,3,alpha=1)", name="q_ap")(a)
    g = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    h = keras.layers.GlobalMaxPooling1D(name="gmp")(x)
    y = keras.layers.Concatenate(name="cat")([keras.layers.Flatten(name="fm")(m), keras.layers.Flatten(name="fa")(a)])
    y = keras.layers.Concatenate(name="cat2")([y, g, h])
    out = QDense(3, kernel_quantizer=WQ, bias_quantizer=BQ, name="out")(y)
    return randomize(keras.Model(inp, out, name="conv1d_ops"), 6, 0.5)


def op_models() -> list[tuple[keras.Model, dict[str, Any] | None]]:
    """(model, config) pairs that between them use every op the HLS back end renders."""
    pw_result = {"Precision": {"result": "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"}}
    bn_precision = {"Precision": {"weight": "ap_fixed<8,2,AP_RND,AP_SAT>", "bias": "ap_fixed<8,3,AP_RND,AP_SAT>"}}
    dw_precision = {"Precision": {"weight": "ap_fixed<5,1,AP_RND_CONV,AP_SAT>", "bias": "ap_fixed<6,2,AP_RND,AP_SAT>"}}
    return [
        (tables_model(), {"Model": {"TableSize": 256, "TablePrecision": "ap_fixed<12,2,AP_RND,AP_SAT>"}}),
        (piecewise_model(), {"LayerName": {"leaky": pw_result, "hsig": pw_result, "relu_max": pw_result}}),
        (steps_model(), None),
        (conv2d_model(), {"LayerName": {"bn": bn_precision}}),
        (conv_misc_model(), None),
        (conv1d_model(), {"LayerName": {"dw1": dw_precision}}),
    ]


# ----------------------------------------------------------------------------- rounding and overflow modes
MODES = [(r, o) for r in Rounding for o in Overflow]


def mode_model(index: int) -> tuple[keras.Model, dict[str, Any]]:
    """Float Dense layers typed by the config: each result type in one of the 28 rounding/overflow pairs,
    narrow enough that results round, saturate and wrap."""
    inp = keras.Input((6,), name="x")
    x = inp
    layers = {}
    for j in range(4):
        r, o = MODES[(4 * index + j) % len(MODES)]
        name = f"fc{j}"
        x = keras.layers.Dense(5, name=name)(x)
        layers[name] = {"Precision": {"result": f"ap_fixed<6,{1 + j % 3},AP_{r.value},AP_{o.value}>"}}
    model = randomize(keras.Model(inp, x, name=f"modes_{index}"), 100 + index, 1.0)
    config = {
        "Model": {
            "Precision": {"default": "ap_fixed<6,2,AP_RND_CONV,AP_SAT>"},
            "Input": {"Precision": "ap_fixed<8,3>"},
        },
        "LayerName": layers,
    }
    return model, config


def narrow_accumulators(design: fpgaq.Design, model: keras.Model, config: dict[str, Any] | None) -> fpgaq.Design:
    """The same model with every dense accumulator two integer bits narrower (wrapping), as a config sets it."""
    cfg = dict(config or {})
    names = dict(cfg.get("LayerName", {}))
    for node in design.graph.nodes:
        if node.op == "dense" and node.source in [layer.name for layer in model.layers]:
            exact = node.types["exact"]
            if exact.width <= 3:
                continue
            narrow = FixedType(exact.width - 2, exact.integer - 2, exact.signed)
            entry = dict(names.get(node.source, {}))
            entry["Precision"] = {**entry.get("Precision", {}), "accum": narrow.ap_fixed()}
            names[node.source] = entry
    cfg["LayerName"] = names
    return convert(model, cfg)


# ----------------------------------------------------------------------------- running many designs
def check_all(designs: list[tuple[str, fpgaq.Design, list[np.ndarray]]], **kw: Any) -> list[str]:
    """C-simulate every design (compiling several at once) and return a description of each failure."""
    from fpgaq.sim import compare, compile_design

    def build(item: tuple[str, fpgaq.Design, list[np.ndarray]]) -> Any:
        return compile_design(item[1], **kw)

    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(build, designs))  # compiles in parallel; compare() then hits the cache
    failures = []
    for name, design, x in designs:
        report = compare(design, x, **kw)
        if not report.passed:
            failures.append(f"{name}: {report}")
    return failures


# ----------------------------------------------------------------------------- the real vendor headers
def _download_headers(cache: Path, root: Path) -> None:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), "hls4ml"]
    try:
        subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    except (OSError, subprocess.SubprocessError):
        return
    wheel = next(iter(sorted(wheels.glob("hls4ml-*.whl"))), None)
    if wheel is None:
        return
    staging = Path(tempfile.mkdtemp(prefix="hls4ml_types.", dir=cache))
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.startswith(("hls4ml/templates/catapult/ac_types/", "hls4ml/templates/vivado/ap_types/")):
                zf.extract(member, staging)
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)


def vendor_headers(cache: Path) -> dict[str, Path] | None:
    """The real ac_types and ap_types headers from the hls4ml wheel on PyPI, unpacked into ``cache``.

    They are black-box oracles for the C-simulation only; nothing of them is copied into fpgaq.
    Returns None when the wheel cannot be downloaded.
    """
    root = cache / "hls4ml_types"
    found = {
        "ac": root / "hls4ml" / "templates" / "catapult" / "ac_types" / "include",
        "ap": root / "hls4ml" / "templates" / "vivado" / "ap_types",
    }
    if all((p / h).is_file() for p, h in ((found["ac"], "ac_fixed.h"), (found["ap"], "ap_fixed.h"))):
        return found
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:  # pytest-xdist workers may get here at the same time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((p / h).is_file() for p, h in ((found["ac"], "ac_fixed.h"), (found["ap"], "ap_fixed.h"))):
            _download_headers(cache, root)
    return found if (found["ac"] / "ac_fixed.h").is_file() and (found["ap"] / "ap_fixed.h").is_file() else None
