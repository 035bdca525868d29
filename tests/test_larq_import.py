"""Larq models load as fpgaq models and convert exactly: checked on the corpus Larq itself wrote.

``tests/fixtures/larq`` holds models saved by Larq 0.14.0 (tf_keras 2.21) with Larq's
own predictions (``make_corpus.py`` there).  Rules checked here:

* the imported Keras 3 model predicts exactly what Larq predicted, on every model (where
  this CPU's float32 kernels round a sum otherwise than Larq's machine did, fpgaq's exact
  arithmetic must give Larq's value);
* ``fpgaq.convert(model).predict`` equals the imported model bit for bit where Keras'
  float32 arithmetic is exact (binary/ternary sums, quantizer outputs); on the models in
  ``FLOAT32_SUMS``, whose sums of 25-27-bit float32 constants Keras rounds, fpgaq's exact
  result agrees to float32 rounding, and every quantizer output inside them is still bit-exact;
* ``pad_values=1.0`` convolutions convert exactly (zero-padded convolution of ``x - 1``, kernel sums in the bias);
* settings fpgaq cannot honour are refused with the exact messages below.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.larq_import import LarqImportError, is_larq_h5, larq_quantizer, load_larq
from fpgaq.model_io import load_model
from fpgaq.qkeras_import import QKerasImportError
from fpgaq.quantizers import get_quantizer
from fpgaq.quantizers.larq import dorefa_quantizer, magnitude_aware_sign, ste_sign, ste_tern

CORPUS = Path(__file__).parent / "fixtures" / "larq"
FILES = sorted(p.stem for p in CORPUS.glob("*.h5") if not p.name.endswith("_weights.h5"))
REFUSED: dict[str, str] = {}  # corpus files fpgaq refuses (none since pad_values is supported)
LOADED = [name for name in FILES if name not in REFUSED]
#: Models whose outputs are float32 sums Keras (and Larq) round: magnitude-aware scales and DoReFa levels.
FLOAT32_SUMS = {"conv_swish_magnitude", "dorefa", "magnitude_aware_conv"}
#: The corpus inputs (a 2**-6 grid, float32 thresholds such as 0.05 and 1/6) are exact in this input type.
INPUT = {"Model": {"Input": {"Precision": "ap_fixed<40,8>"}}}
#: Keras' float batch normalization constants, held finely enough that no sign decision moves.
WIDE_BN = {"BatchNormalization": {"Precision": {"weight": "ap_fixed<48,16>", "bias": "ap_fixed<48,16>"}}}


def _config(model: keras.Model) -> dict[str, Any]:
    has_bn = any(isinstance(la, keras.layers.BatchNormalization) for la in model.layers)
    return {**INPUT, "LayerType": WIDE_BN} if has_bn else INPUT


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[keras.Model, np.ndarray, np.ndarray]]:
    out = {}
    for name in LOADED:
        data = np.load(CORPUS / f"{name}.npz")
        out[name] = (load_larq(CORPUS / f"{name}.h5"), data["x"], data["y"])
    return out


@pytest.fixture(scope="module")
def predictions(corpus) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``(keras prediction, fpgaq prediction)`` per model."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (model, x, _) in corpus.items():
            out[name] = (model.predict(x, verbose=0), fpgaq.convert(model, _config(model)).predict(x))
    return out


def test_manifest_names_every_file_and_the_versions() -> None:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    assert sorted(manifest["models"]) == FILES
    assert manifest["quantizer_table"]["configs"] == len(TABLE)
    assert manifest["larq"] == "0.14.0" and manifest["tensorflow"].startswith("2.21")
    assert len(LOADED) >= 6
    total = sum(p.stat().st_size for p in CORPUS.iterdir() if p.is_file())
    assert total < 2_000_000


def test_corpus_covers_larq_layers_and_quantizers(corpus) -> None:
    layers, quantizers = set(), set()
    for name in FILES:
        config = json.loads(h5py.File(CORPUS / f"{name}.h5").attrs["model_config"])
        for entry in config["config"]["layers"]:
            layers.add(entry["class_name"])
            for key, value in entry["config"].items():
                if (key.endswith("quantizer") or key == "activation") and isinstance(value, dict):
                    quantizers.add(value["class_name"])
    assert {"QuantDense", "QuantConv2D", "QuantDepthwiseConv2D", "BatchNormalization"} <= layers
    assert {"QuantConv1D", "QuantSeparableConv1D", "QuantSeparableConv2D"} <= layers
    expected = {"SteSign", "ApproxSign", "SwishSign", "MagnitudeAwareSign", "SteTern", "SteHeaviside", "DoReFa"}
    assert expected <= quantizers


def _cpu_rounding(keras_y: np.ndarray, larq_y: np.ndarray) -> np.ndarray:
    """Elements where Keras on this CPU differs from what Larq computed when it wrote the corpus:
    float32 sums in the order this CPU's kernels choose (AVX-512 machines: a few ulps, which can
    move a value across a quantizer's rounding boundary)."""
    return keras_y != larq_y


@pytest.mark.parametrize("name", LOADED)
def test_keras_prediction_equals_larq(name: str, corpus, predictions) -> None:
    """Equal to Larq's own outputs; where this CPU's float32 rounding differs, the exact arithmetic
    (fpgaq) must side with Larq, and such elements stay rare."""
    keras_y, fpgaq_y = predictions[name]
    larq_y = corpus[name][2]
    if name in FLOAT32_SUMS:
        np.testing.assert_allclose(keras_y, larq_y, rtol=2**-18, atol=2**-18)
        return
    moved = _cpu_rounding(keras_y, larq_y)
    assert moved.mean() <= 0.01, f"{moved.sum()} of {moved.size} outputs differ from Larq's"
    np.testing.assert_array_equal(fpgaq_y[moved], larq_y[moved])


@pytest.mark.parametrize("name", LOADED)
def test_convert_equals_the_imported_model(name: str, corpus, predictions) -> None:
    keras_y, fpgaq_y = predictions[name]
    if name in FLOAT32_SUMS:
        # float32 sums of n terms differ from the exact sum by at most ~n * 2**-24 of the magnitudes summed
        np.testing.assert_allclose(fpgaq_y, keras_y, rtol=2**-18, atol=2**-18)
        assert not np.array_equal(fpgaq_y, keras_y)  # fpgaq is exact where float32 is not: the rule is needed
    else:  # bit for bit: Keras' outputs, or Larq's own where this CPU's float32 rounding moved Keras'
        larq_y = corpus[name][2]
        np.testing.assert_array_equal(fpgaq_y, np.where(_cpu_rounding(keras_y, larq_y), larq_y, keras_y))


@pytest.mark.parametrize("name", LOADED)
def test_every_quantizer_output_is_bit_exact(name: str, corpus) -> None:
    """Each input quantizer (a QActivation) inside the model: Keras and fpgaq agree bit for bit."""
    model, x, _ = corpus[name]
    quantizing = [la for la in model.layers if isinstance(la, fpgaq.layers.QActivation)]
    assert quantizing or name == "dorefa_activation"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer in quantizing:
            sub = keras.Model(model.inputs, layer.output)
            np.testing.assert_array_equal(
                fpgaq.convert(sub, _config(sub)).predict(x), sub.predict(x, verbose=0), err_msg=layer.name
            )


def test_input_quantizer_becomes_a_qactivation_before_the_layer(corpus) -> None:
    model = corpus["depthwise_tern"][0]
    names = [(type(la).__name__, la.name) for la in model.layers[1:3]]
    assert names == [
        ("QActivation", "quant_depthwise_conv2d_input_quantizer"),
        ("QDepthwiseConv2D", "quant_depthwise_conv2d"),
    ]
    assert str(model.layers[1].quantizer) == "ste_tern()"
    assert str(model.get_layer("quant_conv2d_3").kernel_quantizer_internal) == (
        "ste_tern(threshold_value=0.1,ternary_weight_networks=1)"
    )


def test_pad_values_are_what_the_corpus_exercises() -> None:
    """pad_one pads with 1.0: with zeros instead, its outputs would differ from Larq's."""
    model = load_larq(CORPUS / "pad_one.h5")
    assert [type(la).__name__ for la in model.layers[2::2]] == ["QConv2DPadValues", "QDepthwiseConv2DPadValues"]
    data = np.load(CORPUS / "pad_one.npz")
    np.testing.assert_array_equal(np.asarray(model(data["x"])), data["y"])
    for layer in model.layers[2::2]:
        layer.pad_values = 0.0
    assert not np.array_equal(np.asarray(model(data["x"])), data["y"])


def test_pad_values_on_another_convolution_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, '"class_name": "QuantConv2D"', '"class_name": "QuantConv1D"', "pad_one")
    with pytest.raises(LarqImportError) as info:
        load_larq(path)
    assert str(info.value) == (
        "layer 'quant_conv2d_4' (QuantConv1D): setting pad_values=1.0 with padding='same' pads the quantized input "
        "with 1.0 instead of zeros, which fpgaq supports for QuantConv2D and QuantDepthwiseConv2D (one number) "
        "only; supported here: pad_values=0.0, or padding='valid'; retrain with pad_values=0.0, or use a QuantConv2D"
    )


def test_every_command_loads_larq_files() -> None:
    path = CORPUS / "dorefa.h5"
    assert is_larq_h5(path) and not is_larq_h5(CORPUS / "dorefa.npz")
    assert [type(la).__name__ for la in load_model(path).layers] == [
        "InputLayer",
        "QActivation",
        "QDense",
        "QActivation",
        "QDense",
    ]
    assert fpgaq.load_larq is load_larq


def test_json_and_weights_form_loads_the_same_model(corpus) -> None:
    model = load_larq(CORPUS / "bnn_dense.json", weights_path=CORPUS / "bnn_dense_weights.h5")
    _, x, y = corpus["bnn_dense"]
    np.testing.assert_array_equal(model.predict(x, verbose=0), y)
    with pytest.raises(QKerasImportError, match=re.escape("a model.to_json() file carries no weights")):
        load_larq(CORPUS / "bnn_dense.json")


def test_imported_model_saves_and_reloads(corpus, tmp_path: Path) -> None:
    model, x, y = corpus["depthwise_tern"]
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_array_equal(again.predict(x, verbose=0), y)


def _edited(tmp_path: Path, old: str, new: str, name: str = "depthwise_tern") -> Path:
    """A copy of a corpus file with one string of its model config replaced."""
    path = tmp_path / "edited.h5"
    shutil.copy(CORPUS / f"{name}.h5", path)
    with h5py.File(path, "r+") as f:
        text = f.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        assert old in text
        f.attrs["model_config"] = text.replace(old, new, 1)
    return path


def test_unknown_quantizer_and_setting_and_layer(tmp_path: Path) -> None:
    with pytest.raises(LarqImportError) as info:
        load_larq(_edited(tmp_path, '"class_name": "SteHeaviside"', '"class_name": "SteFancy"'))
    assert str(info.value).startswith(
        "layer 'quant_conv2d_3' (QuantConv2D): input_quantizer={'module': 'larq.quantizers', 'class_name': 'SteFancy'"
    )
    assert str(info.value).endswith(
        "is not a Larq quantizer fpgaq knows; supported: ApproxSign, DoReFa, DoReFaQuantizer, MagnitudeAwareSign, "
        "NoOp, NoOpQuantizer, SteHeaviside, SteSign, SteTern, SwishSign; change the quantizer in Larq and save again"
    )
    with pytest.raises(LarqImportError) as info:
        load_larq(_edited(tmp_path, '"threshold_value": 0.25', '"threshold_value": 0.25, "sharpness": 2'))
    assert str(info.value) == (
        "layer 'quant_depthwise_conv2d_1' (QuantDepthwiseConv2D): input_quantizer SteTern has setting sharpness=2, "
        "which fpgaq's ste_tern does not take; supported: clip_value, ternary_weight_networks, threshold_value"
    )
    with pytest.raises(LarqImportError) as info:
        load_larq(_edited(tmp_path, '"class_name": "QuantConv2D"', '"class_name": "QuantConv2DTranspose"'))
    assert str(info.value) == (
        "layer 'quant_conv2d_3' (QuantConv2DTranspose): Larq class 'QuantConv2DTranspose' has no fpgaq equivalent; "
        "supported Larq layers: QuantConv1D, QuantConv2D, QuantDense, QuantDepthwiseConv2D, QuantSeparableConv1D, "
        "QuantSeparableConv2D; replace the layer in Larq and save again"
    )


def test_zero_pad_values_and_defaults_load_silently(tmp_path: Path) -> None:
    path = _edited(tmp_path, '"pad_values": 0.0', '"pad_values": 0.0, "metrics": ["flip_ratio"]')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_larq(path).name == "depthwise_tern"
    heaviside = '"input_quantizer": {"module": "larq.quantizers", "class_name": "SteHeaviside"'
    valid = _edited(tmp_path, f'"pad_values": 0.0, {heaviside}', f'"pad_values": 1.0, {heaviside}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_larq(valid).get_layer("quant_conv2d_3").padding == "valid"  # Larq pads 'same' convs only


# ----------------------------------------------------------------------------- Larq's quantizer table
TABLE = json.loads((CORPUS / "quantizers.json").read_text())
TABLE_DATA = np.load(CORPUS / "quantizers.npz")
#: Inputs of the table (1e6, and float32 neighbours of 2**-30) are exact in this type.
WIDE_INPUT = {"Model": {"Input": {"Precision": "ap_fixed<80,22>"}}}


def _table_id(i: int) -> str:
    entry = TABLE[i]
    args = ",".join(f"{k}={v}" for k, v in sorted(entry["config"].items()) if k not in ("name", "trainable", "dtype"))
    return f"{entry['class_name']}({args})"


@pytest.mark.parametrize("i", range(len(TABLE)), ids=_table_id)
def test_quantizer_equals_larq(i: int) -> None:
    x = TABLE_DATA["x"]
    q = larq_quantizer(TABLE[i])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(q(x)), TABLE_DATA[f"y{i}"])


@pytest.mark.parametrize("i", range(len(TABLE)), ids=_table_id)
def test_quantizer_as_activation_converts_to_larq_values(i: int) -> None:
    """Where a quantizer has a fixed meaning as an activation, the step node gives Larq's values bit for bit."""
    q = larq_quantizer(TABLE[i])
    config = TABLE[i]["config"]
    data_dependent = (
        q.name == "magnitude_aware_sign" or config.get("ternary_weight_networks") or config.get("mode") == "weights"
    )
    # TensorFlow flushes subnormal float32 inputs (the neighbours of 0) to zero before deciding; fixed-point
    # hardware sees their sign, so they are left out here (Larq's and fpgaq's Keras outputs agree on them above)
    normal = np.abs(TABLE_DATA["x"].reshape(-1)) >= np.finfo(np.float32).tiny
    normal |= TABLE_DATA["x"].reshape(-1) == 0
    x = TABLE_DATA["x"].reshape(1, -1)[:, normal]
    model = _activation_model(q, x.shape[1])
    if data_dependent:
        with pytest.raises(ValueError, match="every new input"):
            fpgaq.convert(model, WIDE_INPUT)
        return
    expected = TABLE_DATA[f"y{i}"].reshape(1, -1)[:, normal]
    assert normal.sum() == TABLE_DATA["x"].size - 8  # the float32 neighbours of 0 and -0
    np.testing.assert_array_equal(fpgaq.convert(model, WIDE_INPUT).predict(x), expected)


# ----------------------------------------------------------------------------- quantizers as activations
def _activation_model(q: Any, n: int) -> keras.Model:
    inp = keras.Input((n,))
    return keras.Model(inp, fpgaq.layers.QActivation(q)(inp))


def _around(values: list[float], ulps: int = 3) -> np.ndarray:
    """Every float32 within ``ulps`` steps of each value (and of its negation, and 0 and -0)."""
    out = [np.float32(0.0), np.float32(-0.0)]
    for v in values:
        for start in (np.float32(v), np.float32(-v)):
            x = start
            for _ in range(ulps):
                x = np.nextafter(x, np.float32(-np.inf))
            for _ in range(2 * ulps + 1):
                out.append(x)
                x = np.nextafter(x, np.float32(np.inf))
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("k_bit", [1, 2, 3, 4])
def test_dorefa_activation_cuts_are_exact_on_every_float32_near_them(k_bit: int) -> None:
    n = 2**k_bit - 1
    x = _around([(2 * j + 1) / (2 * n) for j in range(n)] + [0.0, 1.0, 1.5, 7.0])
    model = _activation_model(dorefa_quantizer(k_bit), x.size)
    design = fpgaq.convert(model, {"Model": {"Input": {"Precision": "ap_fixed<48,8>"}}})
    xs = x.reshape(1, -1)
    np.testing.assert_array_equal(design.predict(xs), model.predict(xs, verbose=0))


@pytest.mark.parametrize("q", [ste_sign(), ste_tern(), ste_tern(threshold_value=0.3), "ste_heaviside", "approx_sign"])
def test_sign_and_ternary_activations_are_exact_at_their_thresholds(q: Any) -> None:
    x = _around([0.05, 0.3, 2.0**-30]).reshape(1, -1)
    model = _activation_model(q, x.size)
    design = fpgaq.convert(model, {"Model": {"Input": {"Precision": "ap_fixed<48,8>"}}})
    np.testing.assert_array_equal(design.predict(x), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    ("q", "why"),
    [
        (magnitude_aware_sign(), "scales by the mean magnitude of every new input"),
        (ste_tern(ternary_weight_networks=True), "takes its threshold from the mean magnitude of every new input"),
        (dorefa_quantizer(2, "weights"), "is in weights mode"),
    ],
)
def test_data_dependent_quantizers_are_refused_as_activations(q: Any, why: str) -> None:
    with pytest.raises(ValueError) as info:
        fpgaq.convert(_activation_model(q, 4))
    assert re.fullmatch(r"layer 'q_activation(_\d+)?' \(QActivation\): activation quantizer .*", str(info.value))
    assert f"activation quantizer {q} {why}" in str(info.value)


@pytest.mark.parametrize(
    "q",
    [ste_sign(clip_value=None), ste_tern(0.1, True), dorefa_quantizer(3, "weights"), magnitude_aware_sign(2.0)],
)
def test_quantizer_string_and_config_forms_read_back(q: Any) -> None:
    assert get_quantizer(str(q)) == q
    assert get_quantizer({"class_name": q.name, "config": q.get_config()}) == q


# ----------------------------------------------------------------------------- back ends
@pytest.mark.skipif(shutil.which("g++") is None, reason="HLS C-simulation needs g++")
@pytest.mark.parametrize("name", ["pad_one", "dorefa_activation"])
def test_hls_csim_equals_the_reference(name: str, corpus) -> None:
    """The generated C++ computes the pad_values convolutions and the DoReFa staircase bit for bit."""
    model, x, y = corpus[name]
    design = fpgaq.convert(model, _config(model))
    np.testing.assert_array_equal(design.predict_hls(x), y)


def test_cli_converts_a_larq_file(tmp_path: Path) -> None:
    from fpgaq.cli import main

    assert main(["convert", str(CORPUS / "pad_one.h5"), "--backend", "rtl", "-o", str(tmp_path / "rtl")]) == 0
    assert any((tmp_path / "rtl").iterdir())


def test_every_larq_quantizer_is_registered_and_imported() -> None:
    from fpgaq.larq_import import _QUANTIZERS
    from fpgaq.quantizers import QUANTIZERS
    from fpgaq.quantizers.larq import LARQ_QUANTIZERS

    assert {name for name in _QUANTIZERS.values() if name} == LARQ_QUANTIZERS
    assert set(QUANTIZERS) >= LARQ_QUANTIZERS
    assert {TABLE[i]["class_name"] for i in range(len(TABLE))} == {
        "SteSign",
        "ApproxSign",
        "SwishSign",
        "MagnitudeAwareSign",
        "SteTern",
        "SteHeaviside",
        "DoReFa",
    }
