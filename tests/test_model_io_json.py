"""``fpgaq.load_model`` (and so every command) on a ``model.to_json()`` file with its weights beside it.

The JSON and weights files are the ones real QKeras 0.9.0 and Larq 0.14
wrote (``tests/fixtures/qkeras/models``, ``tests/fixtures/larq``), copied
into a temporary directory under the names Keras users give them; expected
outputs are those tools' own.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.cli import main
from fpgaq.model_io import WEIGHTS_NAMES, find_weights, is_model_json, load_model

FIXTURES = Path(__file__).parent / "fixtures"
QKERAS = FIXTURES / "qkeras" / "models"
LARQ = FIXTURES / "larq"
MODELS: dict[str, dict] = json.loads((QKERAS / "manifest.json").read_text())["models"]
RECURRENT = {"QSimpleRNN", "QLSTM", "QGRU"}  # refused by the importer until issue 17 (tests/test_qkeras_corpus.py)
FEEDFORWARD = sorted(n for n, e in MODELS.items() if "json+weights" in e["forms"] and not RECURRENT & set(e["layers"]))
#: Single-input models whose QKeras outputs an eager Keras call reproduces exactly (see test_qkeras_corpus.py).
EXACT = ["conv1d_causal_strings", "functional_jet_mlp", "dense_po2_strings"]


def _pair(tmp_path: Path, name: str, weights_name: str | None = None) -> Path:
    """``NAME.json`` and QKeras' ``NAME.weights.h5`` copied into ``tmp_path``, the weights under ``weights_name``."""
    shutil.copy(QKERAS / f"{name}.json", tmp_path / f"{name}.json")
    weights_name = weights_name or f"{name}.weights.h5"
    shutil.copy(QKERAS / f"{name}.weights.h5", tmp_path / weights_name)
    return tmp_path / f"{name}.json"


@functools.cache
def full_model(name: str) -> keras.Model:
    """The same model from the full-model ``.h5`` QKeras saved (a different file and reader)."""
    return fpgaq.load_qkeras(QKERAS / f"{name}.h5")


def _qkeras_io(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(QKERAS / f"{name}.npz")
    return data["x"], data["y"]


def _assert_same_weights(got: keras.Model, want: keras.Model) -> None:
    assert [w.path for w in got.weights] == [w.path for w in want.weights]
    for a, b in zip(got.get_weights(), want.get_weights()):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- finding the weights
@pytest.mark.parametrize("name", FEEDFORWARD)
def test_every_corpus_json_loads_with_the_weights_beside_it(tmp_path: Path, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # QKeras' defaults load silently
        model = load_model(_pair(tmp_path, name))
    _assert_same_weights(model, full_model(name))


@pytest.mark.parametrize("pattern", WEIGHTS_NAMES)
@pytest.mark.parametrize("name", EXACT)
def test_each_usual_weights_name_is_found_and_predicts_what_qkeras_did(tmp_path: Path, name: str, pattern: str) -> None:
    path = _pair(tmp_path, name, pattern.format(stem=name))
    assert find_weights(path) == tmp_path / pattern.format(stem=name)
    x, y = _qkeras_io(name)
    np.testing.assert_array_equal(np.asarray(load_model(path)(x, training=False)), y)


def test_a_full_model_h5_beside_the_json_gives_the_weights(tmp_path: Path) -> None:
    shutil.copy(QKERAS / "functional_cnn.json", tmp_path / "model.json")
    shutil.copy(QKERAS / "functional_cnn.h5", tmp_path / "model.h5")
    _assert_same_weights(load_model(tmp_path / "model.json"), full_model("functional_cnn"))


def test_an_explicit_weights_path_is_used_whatever_its_name(tmp_path: Path) -> None:
    path = _pair(tmp_path, "conv1d_bits", "checkpoint-final.hdf5")
    with pytest.raises(FileNotFoundError):
        load_model(path)
    _assert_same_weights(load_model(path, weights=tmp_path / "checkpoint-final.hdf5"), full_model("conv1d_bits"))


def test_no_weights_file_names_every_file_tried_and_how_to_name_it(tmp_path: Path) -> None:
    shutil.copy(QKERAS / "dense_bits.json", tmp_path / "dense_bits.json")
    with pytest.raises(FileNotFoundError) as err:
        load_model(tmp_path / "dense_bits.json")
    assert str(err.value) == (
        f"{tmp_path / 'dense_bits.json'}: a model.to_json() file carries no weights, and none of "
        f"dense_bits.weights.h5, dense_bits_weights.h5, dense_bits.h5 exists next to it (in {tmp_path}); save them "
        "there with model.save_weights('dense_bits.weights.h5') (or rename the weights file to one of those names), "
        "or pass the weights file explicitly: fpgaq.load_model(json, weights=...)"
    )


def test_two_candidate_weights_files_are_refused_not_guessed(tmp_path: Path) -> None:
    path = _pair(tmp_path, "dense_bits")
    shutil.copy(QKERAS / "dense_bits.h5", tmp_path / "dense_bits.h5")
    with pytest.raises(ValueError) as err:
        load_model(path)
    assert str(err.value) == (
        f"{path}: 2 weights files next to it could belong to it (dense_bits.weights.h5, dense_bits.h5) and fpgaq "
        "will not guess; keep only the right one of dense_bits.weights.h5, dense_bits_weights.h5, dense_bits.h5 in "
        f"{tmp_path}, or pass it explicitly: fpgaq.load_model(json, weights=...)"
    )
    # naming one resolves it
    _assert_same_weights(load_model(path, weights=tmp_path / "dense_bits.h5"), full_model("dense_bits"))


def test_a_missing_explicit_weights_file_is_named(tmp_path: Path) -> None:
    path = _pair(tmp_path, "dense_bits")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'w.h5'}: no such weights file (given for")):
        load_model(path, weights=tmp_path / "w.h5")


def test_a_json_under_another_suffix_is_recognised(tmp_path: Path) -> None:
    shutil.copy(QKERAS / "dense_bits.json", tmp_path / "arch.txt")
    shutil.copy(QKERAS / "dense_bits.weights.h5", tmp_path / "arch.weights.h5")
    assert is_model_json(tmp_path / "arch.txt") and not is_model_json(QKERAS / "dense_bits.h5")
    _assert_same_weights(load_model(tmp_path / "arch.txt"), full_model("dense_bits"))


def test_weights_for_a_file_that_holds_its_own_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(ValueError, match=r"m\.keras: a separate weights file .* is read only with a model\.to_json"):
        load_model(path, weights=tmp_path / "w.weights.h5")


# ----------------------------------------------------------------------------- the other writers of to_json()
def test_larq_json_with_its_underscore_weights_loads(tmp_path: Path) -> None:
    """Larq's corpus saved ``bnn_dense.json`` + ``bnn_dense_weights.h5``: the Larq importer reads it."""
    for name in ("bnn_dense.json", "bnn_dense_weights.h5"):
        shutil.copy(LARQ / name, tmp_path / name)
    model = load_model(tmp_path / "bnn_dense.json")
    data = np.load(LARQ / "bnn_dense.npz")
    np.testing.assert_array_equal(model.predict(data["x"], verbose=0), data["y"])


def test_keras3_json_and_weights_load_through_keras(tmp_path: Path) -> None:
    from fpgaq.layers import QDense

    model = keras.Sequential(
        [keras.Input((4,)), QDense(3, kernel_quantizer="quantized_bits(4,0,alpha=1)", name="fc")], name="k3"
    )
    (tmp_path / "k3.json").write_text(model.to_json())
    model.save_weights(tmp_path / "k3.weights.h5")
    again = load_model(tmp_path / "k3.json")
    assert type(again.get_layer("fc")) is QDense
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))


# ----------------------------------------------------------------------------- through the command line
def test_summary_and_convert_take_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _pair(tmp_path, "conv1d_causal_strings")
    assert main(["summary", str(path)]) == 0
    assert "q_conv1d" in capsys.readouterr().out
    out = tmp_path / "prj"
    assert main(["convert", str(path), "-o", str(out)]) == 0
    assert (out / "firmware").is_dir()
    x, y = _qkeras_io("conv1d_causal_strings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = fpgaq.convert(load_model(path))
    np.testing.assert_array_equal(design.predict(x), y)  # the converted design computes what QKeras computed


def test_cli_reports_the_missing_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(QKERAS / "dense_bits.json", tmp_path / "dense_bits.json")
    assert main(["summary", str(tmp_path / "dense_bits.json")]) == 2
    err = capsys.readouterr().err
    assert "fpgaq summary: cannot load" in err and "dense_bits.weights.h5, dense_bits_weights.h5, dense_bits.h5" in err
