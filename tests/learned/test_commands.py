"""``fpgaq train`` and ``fpgaq pareto``: what they write, and what they refuse."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import fpgaq
from fpgaq.cli import main


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    h = keras.layers.Dense(8, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(h))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    model.save(root / "float.keras")
    np.savez(root / "data.npz", x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    return root


def test_train_writes_a_loadable_learned_model_and_its_record(task, capsys):
    out = task / "trained"
    args = ["train", str(task / "float.keras"), "--data", str(task / "data.npz"), "--beta", "1e-5:1e-4"]
    assert main([*args, "--epochs", "2", "-o", str(out)]) == 0
    record = json.loads((out / "train.json").read_text())
    assert 0 <= record["accuracy"] <= 1 and record["estimate"]["lut"] > 0 and len(record["history"]) == 2
    model = keras.models.load_model(out / "model.keras")
    x = np.load(task / "data.npz")["x_test"]
    np.testing.assert_array_equal(fpgaq.convert(model).predict(x), model.predict(x, verbose=0))
    assert "accuracy" in capsys.readouterr().out
    assert main([*args, "--epochs", "1", "-o", str(out)]) == 2  # not empty, no --force
    assert "pass --force" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--beta", "lots"], "--beta 'lots': give a number (1e-5) or a ramp START:END"),
        (["--beta", "-1"], "--beta '-1': give a non-negative number"),
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    ],
)
def test_train_refuses_bad_settings_before_writing(task, capsys, extra, message):
    out = task / "refused"
    args = ["train", str(task / "float.keras"), "--data", str(task / "data.npz"), "-o", str(out), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_train_refuses_a_model_with_fixed_quantizers(task, capsys):
    from fpgaq.layers import QDense

    inp = keras.Input((5,))
    model = keras.Model(inp, QDense(3, kernel_quantizer="quantized_bits(4,0,alpha=1)", name="q")(inp))
    model.save(task / "fixed.keras")
    args = ["train", str(task / "fixed.keras"), "--data", str(task / "data.npz"), "-o", str(task / "fx")]
    assert main([*args, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "already has fixed quantizers (QDense 'q': quantized_bits" in err and "fpgaq ptq MODEL --form learned" in err


def test_pareto_trains_one_point_per_beta_in_a_shared_study(task, capsys):
    out = task / "front"
    storage = task / "study.db"
    args = ["pareto", str(task / "float.keras"), "--data", str(task / "data.npz"), "--betas", "1e-6,1e-3"]
    assert main([*args, "--epochs", "2", "-o", str(out), "--storage", str(storage)]) == 0
    rows = json.loads((out / "pareto.json").read_text())
    assert sorted(r["beta"] for r in rows) == [1e-6, 1e-3]
    assert any(r["on_front"] for r in rows) and (out / "pareto.csv").exists() and (out / "pareto.png").exists()
    for r in rows:
        keras.models.load_model(r["model_path"])
    # a second worker on the same study finds nothing left to train and reports the same points
    assert main([*args, "--epochs", "2", "-o", str(out), "--storage", str(storage)]) == 0
    assert len(json.loads((out / "pareto.json").read_text())) == 2
    assert "pareto.csv" in capsys.readouterr().out
