"""The hls4ml side of ``benchmarks/hls_csim.py``: runs inside the side venv (hls4ml 1.3.0, QKeras 0.9, tf_keras).

``benchmarks/hls_csim.py`` saves the jet tagger's float kernels and biases to
an ``.npz`` and runs this script with the side venv's python.  It rebuilds
the same network from QKeras layers with the same quantizers (16-bit input,
6-bit weights and ReLUs), converts it with hls4ml (Vitis back end,
io_parallel, one config entry per layer), and times ``hls_model.compile()``
(write the project, build its C-simulation library with g++, load it) in a
fresh output directory each time, with and without the softmax.  The result
is a JSON object of seconds per build.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tensorflow.keras is Keras 2 (tf_keras), as QKeras 0.9 needs

import tf_keras

sys.modules["keras"] = tf_keras  # QKeras 0.9 and hls4ml's Keras 2 reader expect the Keras 2 API under this name

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
from qkeras import QActivation, QDense  # noqa: E402

LAYERS = (("fc1", 64), ("fc2", 32), ("fc3", 32), ("output", 5))
WEIGHT_QUANTIZER = "quantized_bits(6,0,alpha=1)"


def jet_tagger(weights: dict[str, np.ndarray], softmax: bool) -> tf_keras.Model:
    """16 -> 64 -> 32 -> 32 -> 5 as fpgaq.zoo.jet_tagger() builds it, in QKeras, with the given weights."""
    inputs = tf_keras.Input((16,), name="features")
    x = QActivation("quantized_bits(16,5,alpha=1)", name="input_q")(inputs)
    for i, (name, units) in enumerate(LAYERS):
        x = QDense(units, kernel_quantizer=WEIGHT_QUANTIZER, bias_quantizer=WEIGHT_QUANTIZER, name=name)(x)
        if name != "output":
            x = QActivation("quantized_relu(6)", name=f"relu{i + 1}")(x)
    if softmax:
        x = tf_keras.layers.Activation("softmax", name="softmax")(x)
    model = tf_keras.Model(inputs, x, name="jet_tagger")
    for name, _ in LAYERS:
        model.get_layer(name).set_weights([weights[f"{name}/kernel"], weights[f"{name}/bias"]])
    return model


def build_seconds(model: tf_keras.Model) -> float:
    """Seconds of one ``hls_model.compile()`` into an empty output directory."""
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    with tempfile.TemporaryDirectory(prefix="hls4ml-csim-") as out:
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config, output_dir=out, backend="Vitis", io_type="io_parallel"
        )
        start = time.perf_counter()
        hls_model.compile()
        seconds = time.perf_counter() - start
        x = np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)
        if not np.all(np.isfinite(hls_model.predict(x))):
            raise RuntimeError("hls4ml's C-simulation library returned non-finite values")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inside", action="store_true", help="set by the outer script")
    parser.add_argument("--weights", required=True, help=".npz of '<layer>/kernel' and '<layer>/bias' arrays")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True, help="JSON file for the seconds per build")
    args = parser.parse_args()
    weights = dict(np.load(args.weights))
    result = {"hls4ml": hls4ml.__version__}
    for label, softmax in (("softmax", True), ("no_softmax", False)):
        model = jet_tagger(weights, softmax)
        result[label] = [build_seconds(model) for _ in range(args.repeats)]
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
