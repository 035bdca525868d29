"""The numeric core imports without Keras or TensorFlow, and the README's load promise still holds.

``import fpgaq.fixed`` (or the hardware types, or the RTL netlist) runs
``fpgaq/__init__.py`` first; that must stay light.  Each check runs in a
fresh interpreter, since this test process has long imported Keras.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

LIGHT_MODULES = ["fpgaq", "fpgaq.fixed", "fpgaq.hwtypes", "fpgaq.rtl.netlist"]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_without_keras_or_tensorflow(module: str) -> None:
    result = _run(
        f"import sys, {module}\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow') if m in sys.modules)\n"
        f"assert not heavy, f'import {module} loaded {{heavy}}'\n"
    )
    assert result.returncode == 0, result.stderr


def test_lazy_public_names_resolve() -> None:
    import fpgaq

    for name in fpgaq.__all__:
        assert getattr(fpgaq, name) is not None, name
    from fpgaq.quantizers import BaseQuantizer, get_quantizer

    assert fpgaq.BaseQuantizer is BaseQuantizer
    assert fpgaq.get_quantizer is get_quantizer
    assert fpgaq.layers.QDense.__name__ == "QDense"  # subpackages load on attribute access too


def test_saved_model_loads_after_import_fpgaq_without_custom_objects(tmp_path: Path) -> None:
    """Save a model of fpgaq layers and quantizers; a new process loads it after ``import fpgaq, keras``."""
    import keras

    from fpgaq.layers.activation import QActivation
    from fpgaq.layers.dense import QDense

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            QDense(4, kernel_quantizer="quantized_bits(6, 1, alpha=1)", bias_quantizer="quantized_bits(8, 3)"),
            QActivation("quantized_relu(6, 2)"),
            QDense(2, kernel_quantizer="quantized_bits(4, 0, alpha=1)", activation="quantized_bits(8, 2)"),
        ]
    )
    x = np.random.default_rng(0).uniform(-2, 2, (16, 5)).astype(np.float32)
    path, inputs, outputs = tmp_path / "model.keras", tmp_path / "x.npy", tmp_path / "y.npy"
    model.save(path)
    np.save(inputs, x)
    np.save(outputs, np.asarray(model.predict(x, verbose=0)))

    # What Keras sees at load time: fpgaq's classes by registered name, in non-Keras modules that
    # Keras 3 does not import itself, so the registration must already have happened.
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    layers = config["config"]["layers"]
    assert [layer["registered_name"] for layer in layers[1:]] == ["fpgaq>QDense", "fpgaq>QActivation", "fpgaq>QDense"]
    assert all(layer["module"].startswith("fpgaq.") for layer in layers[1:])

    result = _run(
        textwrap.dedent(
            f"""
            import sys
            import fpgaq
            assert "keras" not in sys.modules, "import fpgaq loaded keras"
            import keras
            import numpy as np
            model = keras.models.load_model({str(path)!r})
            y = np.asarray(model.predict(np.load({str(inputs)!r}), verbose=0))
            np.testing.assert_array_equal(y, np.load({str(outputs)!r}))
            assert type(model.layers[0]).__module__.startswith("fpgaq."), type(model.layers[0])
            """
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
