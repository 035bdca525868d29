"""Post-training calibration (fpgaq.ptq, `fpgaq ptq`): ranges by hand, KL on known shapes, exactness, CLI, report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.cli import main
from fpgaq.ptq import PTQError, calibrate_model, clip_threshold, integer_bits, kl_threshold

BITS = 8


# ----------------------------------------------------------------------------- thresholds and integer bits
@pytest.mark.parametrize(
    ("threshold", "expected"), [(3.0, 2), (4.0, 2), (4.01, 3), (0.3, -1), (0.25, -2), (1.0, 0), (0.0, 0), (100.0, 7)]
)
def test_integer_bits_is_the_smallest_power_of_two_range_holding_the_threshold(threshold, expected) -> None:
    assert integer_bits(threshold) == expected
    if threshold > 0:
        assert threshold <= 2.0**expected and threshold > 2.0 ** (expected - 1)


def test_methods_on_data_with_one_outlier() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1.0, 1.0, 20000), [100.0]])
    assert clip_threshold(x, "max") == 100.0
    assert integer_bits(clip_threshold(x, "max")) == 7
    # 99th percentile of |U(-1, 1)| is 0.99: the outlier saturates.
    assert clip_threshold(x, "percentile", 99.0) == pytest.approx(0.99, abs=0.01)
    assert integer_bits(clip_threshold(x, "percentile", 99.0)) == 0
    # KL cuts the lone outlier as far as TensorRT's search goes: its narrowest cut keeps 128 of 2048 bins.
    assert clip_threshold(x, "kl") == pytest.approx(100.0 * 128 / 2048)
    assert integer_bits(clip_threshold(x, "kl")) == 3


def test_kl_cuts_a_heavy_tail_and_keeps_a_uniform_range() -> None:
    rng = np.random.default_rng(1)
    gaussian_with_tail = np.concatenate([rng.normal(0.0, 1.0, 50000), rng.uniform(20.0, 40.0, 30)])
    t = kl_threshold(gaussian_with_tail, levels=128)
    assert 2.0 < t < 12.0, t  # the bulk (|x| < ~4.5) is kept, the thin tail at 20-40 is clipped
    uniform = rng.uniform(0.0, 3.0, 50000)
    assert kl_threshold(uniform, levels=128) >= 0.97 * uniform.max()


# ----------------------------------------------------------------------------- a model with known ranges
def _known_model() -> keras.Model:
    """8-16-4 MLP whose kernels have chosen maxima: layer 1 |w| <= 1.5 (channel c scaled by 2**-(c % 4)), bias 0.2."""
    rng = np.random.default_rng(0)
    inp = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name="fc1")(inp)
    out = keras.layers.Dense(4, name="out")(h)
    model = keras.Model(inp, out)
    k1 = rng.uniform(-1.0, 1.0, (8, 16))
    k1 /= np.abs(k1).max(axis=0)  # every column reaches magnitude 1 exactly
    k1 *= 1.5 * 2.0 ** -(np.arange(16) % 4)  # column maxima 1.5, 0.75, 0.375, 0.1875
    b1 = np.linspace(-0.2, 0.1, 16)
    k2 = rng.normal(0.0, 0.4, (16, 4))
    b2 = np.array([0.05, -0.3, 0.0, 0.6])
    model.get_layer("fc1").set_weights([k1.astype("float32"), b1.astype("float32")])
    model.get_layer("out").set_weights([k2.astype("float32"), b2.astype("float32")])
    return model


@pytest.fixture(scope="module")
def known() -> tuple[keras.Model, np.ndarray]:
    x = np.random.default_rng(2).normal(0.0, 1.0, (1500, 8)).astype("float32")
    return _known_model(), x


def _expected_activation_bits(model: keras.Model, x: np.ndarray) -> tuple[int, int]:
    k1, b1 = model.get_layer("fc1").get_weights()
    k2, b2 = model.get_layer("out").get_weights()
    h = np.maximum(x.astype(np.float64) @ k1 + b1, 0.0)
    y = h.astype(np.float32).astype(np.float64) @ k2 + b2
    return math.ceil(math.log2(h.max())), math.ceil(math.log2(np.abs(y).max()))


def test_max_method_picks_the_ranges_of_the_data(known) -> None:
    model, x = known
    result = calibrate_model(model, x, method="max", bits=BITS, per_layer=False)
    fc1, out = (layer.tensors for layer in result.layers)
    assert (fc1["kernel"].integer, fc1["kernel"].fraction) == (1, BITS - 1 - 1)  # max 1.5 -> 2**1
    assert (fc1["bias"].integer, fc1["bias"].fraction) == (-2, BITS + 2 - 1)  # max 0.2 -> 2**-2
    assert out["bias"].integer == 0  # max 0.6 -> 2**0
    act1, act2 = _expected_activation_bits(model, x)
    assert (fc1["activation"].integer, fc1["activation"].signed) == (act1, False)
    assert fc1["activation"].fraction == BITS - act1  # unsigned: no sign bit
    assert (out["activation"].integer, out["activation"].signed) == (act2, True)
    assert all(t.clipped == 0.0 for layer in result.layers for t in layer.tensors.values())
    q = result.model.get_layer("fc1").get_config()["kernel_quantizer"]
    assert q["class_name"] == "quantized_bits"
    assert {k: q["config"][k] for k in ("bits", "integer", "keep_negative", "alpha")} == {
        "bits": BITS,
        "integer": 1,
        "keep_negative": True,
        "alpha": 1,
    }


def test_percentile_clips_activations_below_max(known) -> None:
    model, x = known
    result = calibrate_model(model, x, method="percentile", percentile=90.0, per_layer=False)
    act = result.layers[0].tensors["activation"]
    h = np.maximum(x @ model.get_layer("fc1").get_weights()[0] + model.get_layer("fc1").get_weights()[1], 0)
    assert act.integer == math.ceil(math.log2(np.percentile(np.abs(h), 90.0)))
    assert act.integer < _expected_activation_bits(model, x)[0]
    assert result.layers[0].tensors["kernel"].integer == 1  # weights keep max unless weight_method says otherwise


def test_per_channel_kernels_get_their_own_range_and_convert_exactly(known) -> None:
    model, x = known
    result = calibrate_model(model, x, granularity="channel", per_layer=False)
    kernel = result.layers[0].tensors["kernel"]
    assert kernel.channel_integer == [1, 0, -1, -2] * 4
    assert kernel.integer == 1
    # Channel c of the quantized kernel lies on its own grid: 2**(I_c - (B - 1)) steps, |w| <= 2**I_c.
    design = fpgaq.convert(result.model, result.conversion_config())
    values = next(n for n in design.graph.nodes if n.name.startswith("fc1")).weights["kernel"].values
    for c in range(16):
        i_c = kernel.channel_integer[c]
        codes = values[:, c] * 2.0 ** (BITS - 1 - i_c)
        assert np.array_equal(codes, np.round(codes)) and np.abs(values[:, c]).max() <= 2.0**i_c
    original = model.get_layer("fc1").get_weights()[0]
    assert np.max(np.abs(values - original)) <= 2.0 ** (kernel.channel_integer[0] - BITS + 1)
    layer_wise = calibrate_model(model, x, per_layer=False)
    err = {
        name: np.abs(r.model.predict(x, verbose=0) - model.predict(x, verbose=0)).mean()
        for name, r in (("channel", result), ("layer", layer_wise))
    }
    assert err["channel"] < err["layer"]


def _on_input_grid(result: Any, x: np.ndarray) -> np.ndarray:
    c = result.input_choice
    lo, hi = c.representable
    return (np.clip(np.round(x * 2.0**c.fraction) / 2.0**c.fraction, lo, hi)).astype("float32")


def test_the_input_type_rounds_and_saturates_like_the_grid(known) -> None:
    model, x = known
    result = calibrate_model(model, x, per_layer=False)
    design = fpgaq.convert(result.model, result.conversion_config())
    probes = np.random.default_rng(4).normal(0.0, 3.0, (500, 8)).astype("float32")  # off grid, beyond the range
    half = 2.0 ** -(result.input_choice.fraction + 1)
    ties = _on_input_grid(result, probes) + np.float32(half)  # exact midpoints between two codes
    for xs in (probes, ties):
        np.testing.assert_array_equal(design.predict(xs), result.model.predict(_on_input_grid(result, xs), verbose=0))
    np.testing.assert_array_equal(result.input_choice.quantize(probes), _on_input_grid(result, probes))


@pytest.mark.parametrize(("method", "granularity"), [("max", "layer"), ("kl", "channel"), ("percentile", "layer")])
def test_quantized_model_converts_bit_exactly(known, method, granularity) -> None:
    model, x = known
    result = calibrate_model(model, x, method=method, granularity=granularity, per_layer=False)
    design = fpgaq.convert(result.model, result.conversion_config())
    rng = np.random.default_rng(3)
    lo, hi = result.input_choice.representable
    probes = np.concatenate(
        [
            rng.normal(0.0, 1.0, (1500, 8)),
            rng.normal(0.0, 4.0, (500, 8)),  # saturates the input and the activations
            np.full((1, 8), lo),
            np.full((1, 8), hi),
            rng.choice([lo, hi], (50, 8)),
        ]
    )
    xq = _on_input_grid(result, probes)
    np.testing.assert_array_equal(design.predict(xq), result.model.predict(xq, verbose=0))


# ----------------------------------------------------------------------------- accuracy on a trained model
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    from fpgaq.datasets import jet_like

    x, y = jet_like(n=3000, seed=0, features=8, classes=4)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4, name="logits")]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x[:2000], y[:2000], epochs=8, batch_size=64, verbose=0)
    root = tmp_path_factory.mktemp("ptq")
    np.savez(root / "data.npz", x_train=x[:2000], y_train=y[:2000], x_test=x[2000:], y_test=y[2000:])
    model.save(root / "float.keras")
    return root / "float.keras", root / "data.npz"


def test_eight_bits_keep_the_float_accuracy(trained) -> None:
    model_path, data_path = trained
    data = np.load(data_path)
    result = calibrate_model(
        keras.models.load_model(model_path), data["x_train"], method="kl", x_test=data["x_test"], y_test=data["y_test"]
    )
    assert result.metric == "accuracy" and result.float_score > 0.4  # 4 classes: well above chance
    assert result.quantized_score >= result.float_score - 0.02
    assert all(layer.score_alone >= result.float_score - 0.02 for layer in result.layers)
    few = calibrate_model(keras.models.load_model(model_path), data["x_train"], bits=3, per_layer=False)
    assert few.metric == "agreement" and few.quantized_score < 1.0  # three bits do lose something


def test_learned_form(trained, monkeypatch) -> None:
    from fpgaq.quantizers import QUANTIZERS

    model_path, data_path = trained
    model, data = keras.models.load_model(model_path), np.load(data_path)
    if "learned_bits" in QUANTIZERS:
        result = calibrate_model(model, data["x_train"], granularity="channel", form="learned", per_layer=False)
        qkeras = calibrate_model(model, data["x_train"], granularity="channel", per_layer=False)
        got, want = (r.model.predict(data["x_test"], verbose=0) for r in (result, qkeras))
        assert np.mean(got.argmax(-1) == want.argmax(-1)) > 0.95  # same ranges; rounding of ties may differ
        assert result.quantized_score > 0.95
        design = fpgaq.convert(result.model, result.conversion_config())
        xq = result.input_choice.quantize(np.concatenate([data["x_test"], 3.0 * data["x_test"]]))
        np.testing.assert_array_equal(design.predict(xq), result.model.predict(xq, verbose=0))
        monkeypatch.delitem(QUANTIZERS, "learned_bits")
    with pytest.raises(PTQError, match=r"learned_bits.*form='qkeras'"):
        calibrate_model(model, data["x_train"], form="learned")


def test_a_model_of_fpgaq_layers_is_calibrated_through_its_float_twin(known) -> None:
    from fpgaq.layers import QActivation, QDense

    model, x = known
    inp = keras.Input((8,))
    h = QDense(16, kernel_quantizer="quantized_bits(4,0,1)", bias_quantizer="quantized_bits(4,0,1)", name="fc1")(inp)
    h = QActivation("quantized_relu(3,1)", name="act")(h)
    out = QDense(4, kernel_quantizer="quantized_bits(4,0,1)", activation="quantized_bits(6,2,1)", name="out")(h)
    quantized = keras.Model(inp, out)
    for name in ("fc1", "out"):  # the known model's float weights under coarse quantizers
        quantized.get_layer(name).set_weights(model.get_layer("fc1" if name == "fc1" else "out").get_weights())
    result = calibrate_model(quantized, x, per_layer=False)
    from_float = calibrate_model(model, x, per_layer=False)
    # The same float weights and function (ReLU in its own layer): the same ranges as the float model's.
    assert result.layers[0].tensors["kernel"].integer == from_float.layers[0].tensors["kernel"].integer == 1
    assert result.layers[1].tensors["activation"].integer == from_float.layers[0].tensors["activation"].integer
    assert result.layers[2].tensors["activation"] == from_float.layers[1].tensors["activation"]
    assert [type(layer).__name__ for layer in result.model.layers] == ["InputLayer", "QDense", "QActivation", "QDense"]
    xq = _on_input_grid(result, x)
    design = fpgaq.convert(result.model, result.conversion_config())
    np.testing.assert_array_equal(design.predict(xq), result.model.predict(xq, verbose=0))


def test_settings_are_checked(known) -> None:
    model, x = known
    for kwargs, words in (
        ({"method": "mse"}, "method='mse' is not supported; use one of max, percentile, kl"),
        ({"granularity": "element"}, "granularity='element'"),
        ({"bits": 1}, "bits=1"),
        ({"percentile": 0.0}, "percentile=0.0"),
    ):
        with pytest.raises(PTQError, match=words):
            calibrate_model(model, x, **kwargs)


# ----------------------------------------------------------------------------- the command and the report
def test_cli_writes_the_result_and_refuses_to_overwrite(trained, tmp_path, capsys) -> None:
    model_path, data_path = trained
    out = tmp_path / "ptq"
    args = ["ptq", str(model_path), "--data", str(data_path), "--method", "percentile", "--samples", "500", "-o"]
    assert main([*args, str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.yml", "model.keras", "profile.html", "ptq.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch directory left behind
    record = json.loads((out / "ptq.json").read_text())
    assert record["settings"]["calibration_samples"] == 500 and record["metric"] == "accuracy"
    assert [layer["class"] for layer in record["layers"]] == ["Dense", "Dense"]
    assert (out / "profile.html").read_text().count("data:image/png;base64,") == 2
    loaded = keras.models.load_model(out / "model.keras")
    design = fpgaq.convert(loaded, str(out / "config.yml"))
    x = np.load(data_path)["x_test"][:200]
    xq = _on_input_grid_from_record(record, x)
    np.testing.assert_array_equal(design.predict(xq), loaded.predict(xq, verbose=0))
    before = (out / "ptq.json").read_text()
    assert main([*args, str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (out / "ptq.json").read_text() == before
    assert main([*args, str(out), "--force", "--bits", "6"]) == 0
    assert json.loads((out / "ptq.json").read_text())["settings"]["bits"] == 6


def _on_input_grid_from_record(record: dict[str, Any], x: np.ndarray) -> np.ndarray:
    c = record["input"]
    lo, hi = c["representable"]
    return np.clip(np.round(x * 2.0 ** c["fraction"]) / 2.0 ** c["fraction"], lo, hi).astype("float32")


def test_cli_reports_bad_settings_without_writing(trained, tmp_path, capsys) -> None:
    model_path, data_path = trained
    out = tmp_path / "ptq"
    assert main(["ptq", str(model_path), "--data", str(data_path), "--bits", "1", "-o", str(out)]) == 2
    assert "bits=1 is not supported" in capsys.readouterr().err
    assert not out.exists()
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 8)))
    assert main(["ptq", str(model_path), "--data", str(tmp_path / "bad.npz"), "-o", str(out)]) == 2
    assert "x_train" in capsys.readouterr().err


def test_report_shows_the_numerical_profile_only_with_a_ptq_record(known, tmp_path) -> None:
    from fpgaq.ptq import write_result
    from fpgaq.report import render_report

    model, x = known
    (tmp_path / "project.json").write_text(json.dumps({"schema": "fpgaq-project/1", "name": "t"}))
    assert 'id="profile"' not in render_report(tmp_path)
    write_result(calibrate_model(model, x, granularity="channel", per_layer=False), tmp_path / "ptq")
    page = render_report(tmp_path)
    section = page[page.index('<section id="profile">') :]
    assert "Numerical profile" in section and 'href="#profile"' in page
    assert section.count('<img alt="numerical profile of') == 2
    assert "1 0 -1 -2" in section  # the per-channel integer bits of fc1's kernel
