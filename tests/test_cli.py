"""The command line: the demo, qstats on a saved model, and honest stubs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fpgaq import zoo
from fpgaq.cli import build_parser, main
from fpgaq.config import ConfigError
from fpgaq.errors import FpgaqError, SettingError

# The demo's full run (training, HLS, RTL, simulation, synthesis, report) is tested in tests/test_report.py.


def test_demo_refuses_a_non_empty_directory(tmp_path, capsys) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--quick", "--epochs", "1", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "exists and is not empty" in err
    assert err.count("fpgaq demo:") == 1  # main's prefix only, not the library's too
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_qstats_of_saved_model(tmp_path, capsys) -> None:
    path = tmp_path / "m.keras"
    zoo.digits_cnn().save(path)
    assert main(["qstats", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv2" in out and "smult_4_4" in out


def test_qstats_of_missing_file(tmp_path, capsys) -> None:
    assert main(["qstats", str(tmp_path / "nope.keras")]) == 2
    assert "cannot load" in capsys.readouterr().err


def test_entry_point_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "fpgaq", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("fpgaq ")


def test_summary_and_config_of_saved_model(tmp_path, capsys) -> None:
    path = tmp_path / "jet.keras"
    zoo.jet_tagger().save(path)
    cfg = tmp_path / "fpgaq.yaml"
    assert main(["config", str(path), "-o", str(cfg)]) == 0
    assert "LayerName:" in cfg.read_text()
    assert main(["config", str(path), "-o", str(cfg)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["summary", str(path), "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    fc1 = next(line for line in out.splitlines() if line.startswith("fc1"))
    assert "dense" in fc1 and "fixed<6,1>" in fc1  # the 6-bit weights' type


# --- --weights, and one way of reporting errors -------------------------------------------------
QKERAS_MODELS = Path(__file__).parent / "fixtures" / "qkeras" / "models"


def test_weights_option_reads_a_json_model_s_weights_under_any_name(tmp_path, capsys) -> None:
    """A ``to_json()`` file whose weights are not named after it loads with ``--weights`` (and not without)."""
    model = tmp_path / "model.json"
    weights = tmp_path / "trained_params.h5"
    shutil.copy(QKERAS_MODELS / "dense_alpha_auto.json", model)
    shutil.copy(QKERAS_MODELS / "dense_alpha_auto.weights.h5", weights)
    assert main(["summary", str(QKERAS_MODELS / "dense_alpha_auto.h5")]) == 0
    expected = capsys.readouterr().out
    assert main(["summary", str(model), "--weights", str(weights)]) == 0
    assert capsys.readouterr().out == expected
    assert main(["summary", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fpgaq summary: cannot load {str(model)!r}: ") and "weights" in err


def test_every_command_taking_a_model_takes_weights() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    takes_model = {name for name, sub in commands.items() if any(a.dest == "model" for a in sub._actions)}
    assert takes_model == {
        "project",
        "qstats",
        "summary",
        "config",
        "convert",
        "estimate",
        "qtools",
        "sweep",
        "search",
        "ptq",
        "train",
        "pareto",
    }
    for name in takes_model:
        assert any(a.dest == "weights" for a in commands[name]._actions), name


@pytest.mark.parametrize("command", ["summary", "convert", "estimate", "sweep"])
def test_any_fpgaq_error_exits_2_with_its_message(tmp_path, monkeypatch, capsys, command) -> None:
    """A command does not catch errors: ``main`` reports any FpgaqError as ``fpgaq COMMAND: message``, exit 2."""

    def boom(*args, **kwargs):
        raise ConfigError("Model: Precision 'fixed<4>' is not a type; write fixed<W,I>")

    monkeypatch.setattr("fpgaq.model_io.load_model", lambda *args, **kwargs: object())
    monkeypatch.setattr("fpgaq.design.convert", boom)  # what summary, convert and estimate call first
    monkeypatch.setattr("fpgaq.sweep.sweep", boom)
    argv = {
        "summary": ["summary", "m.keras"],
        "convert": ["convert", "m.keras", "-o", str(tmp_path / "p")],
        "estimate": ["estimate", "m.keras"],
        "sweep": ["sweep", "m.keras", "--grid", str(_grid(tmp_path))],
    }[command]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"fpgaq {command}: Model: Precision 'fixed<4>' is not a type; write fixed<W,I>\n"
    )


def _grid(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text("device: xc7a100t\ngrid: {multiplier: [lut]}\n")
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["estimate", str(QKERAS_MODELS / "dense_alpha_auto.h5"), "--device", "nosuch"], "is not a known preset"),
        (["report", "{tmp}/nope"], "is not a directory"),
        (["csim", "{tmp}"], "fpgaq csim: "),
        (["synth", "{tmp}"], "is not an RTL project"),
    ],
)
def test_library_errors_are_reported_the_same_way(tmp_path, capsys, argv, message) -> None:
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fpgaq {argv[0]}: ") and message in err and "Traceback" not in err


def test_every_user_facing_error_is_an_fpgaq_error_and_keeps_its_builtin_base() -> None:
    from fpgaq.autoq import AutoQError
    from fpgaq.converters.hls import HlsError
    from fpgaq.ir.trace import UnsupportedLayerError
    from fpgaq.larq_import import LarqImportError
    from fpgaq.qkeras_import import QKerasImportError
    from fpgaq.qkeras_v3_import import QKerasV3ImportError
    from fpgaq.qtools import QToolsError
    from fpgaq.report import ReportError
    from fpgaq.rtl.lower import RtlLoweringError
    from fpgaq.sim.cosim import CosimError
    from fpgaq.sim.csim import CsimError
    from fpgaq.sim.synth import ManifestError, SynthError, SynthIncomplete, SynthTimeout, YosysNotFound
    from fpgaq.sim.verilator import VerilatorNotFound
    from fpgaq.sweep import SweepError

    value_errors = [AutoQError, ConfigError, HlsError, UnsupportedLayerError, LarqImportError, QKerasImportError]
    value_errors += [QKerasV3ImportError, QToolsError, ReportError, RtlLoweringError, ManifestError, SweepError]
    value_errors += [SettingError]
    runtime_errors = [CosimError, CsimError, SynthError, SynthIncomplete, SynthTimeout, YosysNotFound]
    runtime_errors += [VerilatorNotFound]
    for cls in value_errors:
        assert issubclass(cls, FpgaqError) and issubclass(cls, ValueError), cls
    for cls in runtime_errors:
        assert issubclass(cls, FpgaqError) and issubclass(cls, RuntimeError), cls
