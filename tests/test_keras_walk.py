"""The shared Keras-model walk (fpgaq.keras_walk) and the figure helper (fpgaq.figures)."""

from __future__ import annotations

import ast
from pathlib import Path

import keras
import numpy as np
import pytest

import fpgaq.qstats
from fpgaq.keras_walk import (
    COMPUTE_LAYERS,
    QuantizerKind,
    operation_count,
    operation_name,
    quantizer_kind,
    sample_elements,
    walk_layers,
    weights_of,
)
from fpgaq.layers import QActivation, QDense
from fpgaq.quantizers import get_quantizer

FPGAQ = Path(fpgaq.qstats.__file__).resolve().parent


def _model() -> keras.Model:
    x = keras.Input((6,), name="x")
    h = QDense(4, kernel_quantizer="quantized_bits(6,0,alpha=1)", bias_quantizer="quantized_bits(8,3)", name="fc")(x)
    y = QActivation("quantized_relu(4,2)", name="act")(h)
    return keras.Model(x, y, name="walked")


def test_walk_skips_input_layers_and_lists_tensors():
    visits = list(walk_layers(_model()))
    assert [(v.layer.name, v.cls) for v in visits] == [("fc", "QDense"), ("act", "QActivation")]
    assert all(len(v.inputs) == 1 and len(v.outputs) == 1 for v in visits)
    assert "QDense" in COMPUTE_LAYERS and "QActivation" not in COMPUTE_LAYERS


def test_weights_operations_and_names_of_a_dense_layer():
    fc = _model().get_layer("fc")
    [(label, var, q)] = weights_of(fc)
    assert label == "kernel" and tuple(var.shape) == (6, 4) and str(q) == str(fc.kernel_quantizer_internal)
    assert operation_count(fc, (None, 6), (None, 4)) == 24
    assert sample_elements((None, 3, 5)) == 15 and sample_elements((None,)) == 1
    w, x = quantizer_kind(q), quantizer_kind(get_quantizer("quantized_relu(8,0)"))
    assert operation_name(w, x) == "smult_6_8"
    assert operation_name(QuantizerKind("po2", 4, False), QuantizerKind("fixed", 8, False)) == "ubarrel_4_8"


def test_qstats_keeps_its_public_names():
    assert fpgaq.qstats.quantizer_kind is quantizer_kind
    assert fpgaq.qstats.QuantizerKind is QuantizerKind


@pytest.mark.parametrize("module", ["qstats.py", "qtools.py", "qreport.py", "quantize_model.py", "autoq"])
def test_walk_users_import_no_private_names(module):
    """qstats, QTools, qreport and AutoQ share the walk through public names only."""
    paths = [FPGAQ / module] if module.endswith(".py") else sorted((FPGAQ / module).glob("*.py"))
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fpgaq"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_figures_have_their_own_canvas_and_stable_png():
    from fpgaq.figures import figure, png_bytes, png_uri

    fig = figure(2.0, 1.5, dpi=50)
    assert tuple(fig.get_size_inches()) == (2.0, 1.5) and fig.canvas is not None
    fig.add_subplot().plot([0, 1], [1, 0])
    assert png_bytes(fig).startswith(b"\x89PNG")
    assert png_uri(fig).startswith("data:image/png;base64,") and png_uri(fig) == png_uri(fig)


def test_a_sequential_model_loaded_from_keras_file_converts_and_walks(tmp_path):
    """A loaded Sequential model has its first layer called twice (once while rebuilt); only the graph's call counts."""
    import fpgaq
    from fpgaq.keras_walk import layer_io, walk_layers
    from fpgaq.layers import QActivation, QDense
    from fpgaq.learned import to_learned

    model = keras.Sequential(
        [
            keras.Input((4,)),
            QActivation("quantized_bits(8,2)", name="qi"),
            QDense(3, kernel_quantizer="quantized_bits(4,0,alpha=1)", bias_quantizer="quantized_bits(4,0,alpha=1)"),
        ]
    )
    model.save(tmp_path / "seq.keras")
    loaded = keras.models.load_model(tmp_path / "seq.keras")
    assert len(loaded.layers[0]._inbound_nodes) == 2  # the case this guards: Keras' first call is not the graph's
    x = np.random.default_rng(0).normal(0, 2, size=(500, 4)).astype("float32")
    np.testing.assert_array_equal(fpgaq.convert(loaded).predict(x), loaded.predict(x, verbose=0))
    visits = list(walk_layers(loaded))
    assert visits[1].inputs[0] is visits[0].outputs[0]  # the walk follows the graph the model runs
    assert layer_io(loaded, loaded.layers[1])[1][0] is loaded.outputs[0]
    float_seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    float_seq.save(tmp_path / "float.keras")
    twin = to_learned(keras.models.load_model(tmp_path / "float.keras"))
    assert twin.predict(x, verbose=0).shape == (500, 2)
