"""qkeras-v3 ``.keras`` files load without qkeras-v3 and compute what qkeras-v3 computed.

The corpus (tests/fixtures/qkeras_v3/corpus) was written by real qkeras-v3 1.2.1 with
tests/fixtures/qkeras_v3/make_corpus.py: each model's ``.npz`` holds inputs (random, at the first
quantizer's rounding midpoints, and saturating) and qkeras-v3's own ``model.predict`` of them.

The rule: the imported Keras model's float32 predictions equal qkeras-v3's exactly (both run the
same Keras 3 float32 ops on the same weights, so no tolerance is needed), except after
``quantized_ulaw``, whose levels are float32 logarithms that fpgaq and qkeras-v3 evaluate in a
different order: there every output is within 4 float32 ulps of ``max(|y|, 1)``.  fpgaq's integer
reference (``fpgaq.convert(model).predict``) equals the imported model bit for bit; that model's
``quantized_ulaw`` reads a 38-bit accumulator, wider than float32 holds exactly, so converting it is
refused with a message naming the fix.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.cli import main as cli_main
from fpgaq.model_io import load_model
from fpgaq.qkeras_v3_import import QKerasV3ImportError, is_qkeras_v3_file, load_qkeras_v3

CORPUS = Path(__file__).parent / "fixtures" / "qkeras_v3" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
NAMES = sorted(MANIFEST["models"])

#: Models that need quantizers or layer settings other parts of issue 11 are adding right now.
PENDING: dict[str, str] = {}
PENDING_CONVERT: dict[str, str] = {**PENDING}

#: Models whose last quantizer is computed by float32 transcendentals (see the module docstring).
FLOAT32_INEXACT = {"auto_scale_ulaw"}
#: Models fpgaq refuses to convert, with the reason its message gives.
NOT_CONVERTIBLE = {
    # its u-law reads a dense layer's 38-bit accumulator, which Keras rounds to float32 first (fpgaq/ir/ops/ulaw.py)
    "auto_scale_ulaw": r"quantized_ulaw\(8,symmetric=1\) reads a 38-bit input .* put a quantizer of at most 24 bits",
}
#: Models fpgaq refuses to load yet, with the reason its message gives.
NOT_LOADABLE = {"qsimplernn": r"\(QSimpleRNN\): class 'QSimpleRNN' is not yet supported"}
#: A float batchnorm scale (no inverse_quantizer) is rounded to a fixed-point type with a warning, so
#: the reference is close to Keras but not bit-exact; with inverse_quantizer it is exact.
ROUNDED_SCALE = {"dense_batchnorm_float_scale"}


def _param(name: str, pending: dict[str, str] = PENDING):
    if name in pending:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=pending[name]))
    return name


@pytest.fixture(scope="module")
def loaded() -> dict[str, object]:
    """Every corpus model loaded once, through the loader every fpgaq command uses (or its error)."""
    out: dict[str, object] = {}
    for name in NAMES:
        try:
            out[name] = load_model(CORPUS / f"{name}.keras")
        except ValueError as err:
            out[name] = err
    return out


def _model(loaded: dict[str, object], name: str) -> keras.Model:
    model = loaded[name]
    if isinstance(model, Exception):
        raise model
    return model


def test_corpus_is_qkeras_v3() -> None:
    assert MANIFEST["qkeras_v3"] == "1.2.1" and len(NAMES) >= 15
    classes = {layer["class"] for m in MANIFEST["models"].values() for layer in m["layers"]}
    assert {"QDense", "QConv2D", "QConv1D", "QDepthwiseConv2D", "QSeparableConv2D", "QBatchNormalization"} <= classes
    assert {m["class"] for m in MANIFEST["models"].values()} == {"Sequential", "Functional"}
    assert all(is_qkeras_v3_file(CORPUS / f"{n}.keras") for n in NAMES)


@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_predictions_equal_qkeras_v3(loaded, name: str) -> None:
    if name in NOT_LOADABLE:
        with pytest.raises(ValueError, match=NOT_LOADABLE[name]):
            _model(loaded, name)
        return
    model = _model(loaded, name)
    data = np.load(CORPUS / f"{name}.npz")
    y = model.predict(data["x"], verbose=0, batch_size=256)
    if name in FLOAT32_INEXACT:
        bound = 4 * np.finfo(np.float32).eps * np.maximum(np.abs(data["y"]), 1)
        assert np.all(np.abs(y - data["y"]) <= bound)
    else:
        np.testing.assert_array_equal(y, data["y"])


@pytest.mark.parametrize("name", [_param(n, PENDING_CONVERT) for n in NAMES])
def test_reference_is_bit_exact(loaded, name: str) -> None:
    if name in NOT_LOADABLE:
        return  # test_predictions_equal_qkeras_v3 checks the error
    model = _model(loaded, name)
    x = np.load(CORPUS / f"{name}.npz")["x"]
    if name in NOT_CONVERTIBLE:
        with pytest.raises(ValueError, match=NOT_CONVERTIBLE[name]):
            fpgaq.convert(model)
        return
    expected = np.asarray(model.predict(x, verbose=0, batch_size=256), dtype=np.float64)
    if name in ROUNDED_SCALE:
        with pytest.warns(UserWarning, match="the batch-normalization scale is not a quantizer's output"):
            design = fpgaq.convert(model)
        ours = design.predict(x)
        assert np.mean(ours != expected) < 0.01 and np.max(np.abs(ours - expected)) <= 1 / 16  # one relu(6,2) step
        return
    np.testing.assert_array_equal(fpgaq.convert(model).predict(x), expected)


def test_public_loader_is_the_commands_loader(loaded) -> None:
    model = fpgaq.load_model(CORPUS / "seq_dense.keras")
    modules = {type(layer).__module__.split(".")[0] for layer in model.layers if type(layer).__name__ != "InputLayer"}
    assert modules == {"fpgaq"}
    assert [w.shape for w in model.weights] == [w.shape for w in _model(loaded, "seq_dense").weights]


def test_cli_summary_runs_on_a_qkeras_v3_file(capsys) -> None:
    assert cli_main(["summary", str(CORPUS / "conv1d_separable.keras")]) == 0
    out = capsys.readouterr().out
    assert "c1" in out and "sep1" in out


def test_plain_keras_file_is_not_qkeras_v3(tmp_path) -> None:
    x = keras.Input((3,))
    path = tmp_path / "plain.keras"
    keras.Model(x, keras.layers.Dense(2)(x)).save(path)
    assert not is_qkeras_v3_file(path)
    assert isinstance(load_model(path), keras.Model)
    with pytest.raises(QKerasV3ImportError, match=r"not a qkeras-v3 \.keras file"):
        load_qkeras_v3(path)


def _rewrite(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    dst.write_bytes(buffer.getvalue())
    return dst


def test_unknown_layer_class_is_named(tmp_path) -> None:
    def edit(config: dict) -> None:
        layer = config["config"]["layers"][2]
        layer["class_name"], layer["registered_name"] = "QOctaveConv2D", "qkeras>QOctaveConv2D"

    path = _rewrite(CORPUS / "seq_dense.keras", tmp_path / "octave.keras", edit)
    with pytest.raises(ValueError, match=r"layer 'd1' \(QOctaveConv2D\): class 'QOctaveConv2D' cannot be imported"):
        load_model(path)


def test_non_default_setting_is_named(tmp_path) -> None:
    def edit(config: dict) -> None:
        config["config"]["layers"][2]["config"]["groups"] = 2

    path = _rewrite(CORPUS / "seq_dense.keras", tmp_path / "int8.keras", edit)
    with pytest.raises(QKerasV3ImportError, match=r"int8.keras: layer 'd1' \(QDense\): setting groups=2 has no") as e:
        load_model(path)
    assert "reset it in the qkeras-v3 model and save again" in str(e.value)


def test_missing_weights_are_named(tmp_path) -> None:
    src = CORPUS / "seq_dense.keras"
    path = tmp_path / "noweights.keras"
    shutil.copy(src, path)
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(path, "w") as out:
        for n in z.namelist():
            if n != "model.weights.h5":
                out.writestr(n, z.read(n))
    with pytest.raises(QKerasV3ImportError, match=r"has no model\.weights\.h5"):
        load_model(path)
