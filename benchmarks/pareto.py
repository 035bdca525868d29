"""Accuracy against Yosys LUTs: fpgaq's learned precision, fpgaq's uniform bits, and HGQ2 + alkaid (issue 13).

One run draws three fronts per task and prints, at float accuracy minus
0.5, 1, 1.5, 2 and 3 points, the fewest LUTs each flow needs and the ratios:

* **learned**: fpgaq's learned per-element precision (:func:`learned_front`):
  the float model's ``fpgaq.learned`` twin trained on cross-entropy + beta x
  the surrogate LUT cost, beta ramping geometrically, once per seed
  (``--learned-seeds``, 2: as many epochs in all as HGQ2's one run); every epoch on
  the (accuracy, surrogate) front is converted, scored with the bit-exact
  reference and estimated; the surrogate's rank correlation with the estimate
  and with Yosys over those designs is printed (issue 13, point 2);
* **uniform**: QKeras-style uniform bits (``quantized_bits(b,0,alpha=1)``
  kernels and biases, ``quantized_relu(b)``), every width ``b`` and input
  width of the grid trained with QAT from the float weights, converted by
  fpgaq, scored with the bit-exact reference, estimated by the resource
  model (its designs are the largest, 10-130k LUTs, so fewer go to Yosys);
* **hgq2**: HGQ2 0.2.0 trained with a beta ramp, converted by alkaid 0.8.2
  (``benchmarks/pareto_hgq_inside.py``, run in a side venv that this script
  creates with ``tests/fixtures/sidevenv.py``), its Verilog synthesized here.

Every point on a flow's estimated front (the uniform flow: the cheapest at each
level and a spread, ``--synth-uniform``) is synthesized by the same Yosys script
(``fpgaq.sim.synth.synthesize``: ``synth_xilinx -family xc7 -nodsp``, Debian's
Yosys 0.23 when on PATH).  Tasks: ``jet`` (``datasets.jet_like(40000)``,
16-64-32-32-5 MLP) and ``digits`` (scikit-learn digits, the zoo's CNN); both
use ``train_test_split(x, y, 0.25, seed=0)``.  Nothing is cached between runs
except the side venv; ``--hgq-json`` reuses an earlier inner run while
developing.

    python benchmarks/pareto.py                      # both tasks, the real run (hours on 2 cores)
    python benchmarks/pareto.py --task jet --quick   # a smoke run (minutes)
    python benchmarks/pareto.py --task jet --keep W --resume   # finish a kept run's conversions and synthesis
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from fpgaq import datasets, zoo
from fpgaq.design import convert
from fpgaq.figures import figure, save_figure
from fpgaq.sim.synth import synthesize
from fpgaq.train import accuracy, train_classifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
from sidevenv import ensure_venv  # noqa: E402 (a test fixture module, found through the path above)

HGQ_REQUIREMENTS = ["tensorflow-cpu==2.21.*", "hgq2==0.2.0", "alkaid==0.8.2"]
INSIDE = Path(__file__).with_name("pareto_hgq_inside.py")
#: Accuracy levels, in points below the float model's test accuracy.
DROPS = (0.5, 1.0, 1.5, 2.0, 3.0)
FLOWS = ("learned", "uniform", "hgq2")
#: fpgaq's conversion settings for every fpgaq point: constant multiplications as shift-and-add networks.
FPGAQ_CONFIG = {"Model": {"Multiplier": "lut"}}
SYNTH_DEVICE = "xc7"


@dataclasses.dataclass
class Point:
    """One design on a front: what every flow reports, so that the three fronts share one table and plot."""

    flow: str  # "learned", "uniform" or "hgq2"
    label: str  # how the flow made it: "w4 a4 in8", "beta 3.2e-05 epoch 212", ...
    accuracy: float  # test accuracy in [0, 1] of the bit-exact model (reference or emulation)
    verilog: list[str]  # the Verilog files synthesized, compile order
    top: str
    luts: int | None = None  # Yosys synth_xilinx -nodsp
    ffs: int | None = None
    estimated_luts: float | None = None  # the flow's own estimate (fpgaq resource model, alkaid cost)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def synthesize(self, workdir: Path) -> None:
        """Fill ``luts`` and ``ffs`` from Yosys (the same script for every flow)."""
        result = synthesize(self.verilog, self.top, device=SYNTH_DEVICE, dsp=False, workdir=workdir)
        self.luts, self.ffs = result.luts, result.ffs
        self.extra["synth_seconds"] = result.runtime_s
        self.extra["yosys"] = result.yosys.split(" (")[0]


@dataclasses.dataclass
class Task:
    """A benchmark task: its data, its float model and the uniform-bit grid fpgaq's front is drawn from."""

    name: str
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    float_model: Callable[[], keras.Model]
    uniform_model: Callable[[int, int], keras.Model]  # (bits, input bits) -> QKeras-style model
    float_epochs: int
    qat_epochs: int
    bits: Sequence[int]
    input_bits: Sequence[int]
    hgq_epochs: int
    hgq_batch: int
    learned_epochs: int
    learned_batch: int
    learned_beta: tuple[float, float]
    learned_twin: dict[str, Any]  # fpgaq.learned.to_learned settings
    quick: dict[str, Any]  # the overrides of --quick


TASKS = {
    "jet": Task(
        name="jet",
        data=lambda: datasets.jet_like(n=40_000, seed=0),
        float_model=lambda: zoo.jet_tagger(quantized=False),
        # Standardised features: 3 integer bits (|x| < 8) leave the input's other bits to the fraction.
        uniform_model=lambda b, ib: zoo.jet_tagger(weight_bits=b, activation_bits=b, input_bits=ib, input_integer=3),
        float_epochs=40,
        qat_epochs=30,
        bits=range(2, 9),
        input_bits=(6, 8, 10, 12, 16),
        hgq_epochs=600,
        hgq_batch=1024,
        learned_epochs=300,
        learned_batch=256,
        learned_beta=(1e-6, 3e-4),
        learned_twin={"weight_bits": 8, "activation_bits": 8, "input_bits": 12},
        quick={
            "float_epochs": 5,
            "qat_epochs": 3,
            "bits": (3, 6),
            "input_bits": (8, 16),
            "hgq_epochs": 10,
            "learned_epochs": 4,
        },
    ),
    "digits": Task(
        name="digits",
        data=datasets.digits,
        float_model=lambda: zoo.digits_cnn(quantized=False),
        # The pixels are exact 4-bit fractions: the zoo's 8-bit unsigned input quantizer loses nothing.
        uniform_model=lambda b, _ib: zoo.digits_cnn(weight_bits=b, activation_bits=b),
        float_epochs=60,
        qat_epochs=40,
        bits=range(2, 9),
        input_bits=(8,),
        hgq_epochs=300,
        hgq_batch=64,
        learned_epochs=150,
        learned_batch=64,
        learned_beta=(1e-6, 3e-4),
        learned_twin={"weight_bits": 8, "activation_bits": 8, "input_bits": 8},
        quick={
            "float_epochs": 10,
            "qat_epochs": 5,
            "bits": (3, 6),
            "input_bits": (8,),
            "hgq_epochs": 20,
            "learned_epochs": 4,
        },
    ),
}


# ----------------------------------------------------------------------------- fronts
def pareto(points: Sequence[Point], cost: Callable[[Point], float]) -> list[Point]:
    """The points no other point beats on both ``cost`` (lower) and accuracy (higher), by rising cost."""
    front: list[Point] = []
    for p in sorted(points, key=lambda q: (cost(q), -q.accuracy)):
        if not front or p.accuracy > front[-1].accuracy:
            front.append(p)
    return front


def logits_model(model: keras.Model) -> keras.Model:
    """The model without its final softmax: every flow is compared on logits (argmax is unchanged)."""
    return keras.Model(model.inputs, model.get_layer("output").output, name=model.name)


def learned_front(
    task: Task, data: dict[str, np.ndarray], float_model: keras.Model, workdir: Path, seeds: int = 1
) -> list[Point]:
    """fpgaq's learned-precision front: the float model's learned twin trained with a beta ramp, once per seed.

    ``fpgaq.learned.train_learned`` keeps every epoch that no other beats on (test accuracy,
    surrogate LUTs), like HGQ2's ParetoFront callback; each kept epoch is converted, scored
    with the bit-exact reference (``Design.predict``), estimated and written as Verilog.
    Several seeds are several independent runs whose points share one front: what a user
    with that many runs' time would do (the table prints each flow's training seconds).
    """
    points = []
    for seed in range(seeds):
        points += _learned_run(task, data, float_model, workdir / f"seed{seed}", seed)
    return points


def _learned_run(
    task: Task, data: dict[str, np.ndarray], float_model: keras.Model, workdir: Path, seed: int
) -> list[Point]:
    from fpgaq.learned import calibrate_ranges, model_cost, to_learned, train_learned

    keras.utils.set_random_seed(seed)
    model = to_learned(logits_model(float_model), **task.learned_twin)
    calibrate_ranges(model, data["x_train"])
    result = train_learned(
        model,
        data["x_train"],
        data["y_train"],
        data["x_test"],
        data["y_test"],
        beta=task.learned_beta,
        epochs=task.learned_epochs,
        batch_size=task.learned_batch,
        seed=seed,
        verbose=1,
    )
    points = []
    for c in result.front:
        model.set_weights(c.weights)
        design = convert(model, FPGAQ_CONFIG)
        acc = float(np.mean(np.argmax(design.predict(data["x_test"]), axis=-1) == data["y_test"]))
        keras_acc = accuracy(model, data["x_test"], data["y_test"])
        estimate = design.estimate(device="xc7a100t", use_dsp=False).total.lut
        label = f"seed {seed} beta {c.beta:.2e} epoch {c.epoch}"
        project = workdir / f"epoch_{c.epoch}"
        design.write_rtl(project, force=True)
        model.save(project / "model.keras")  # to look into a point later (--keep)
        manifest = json.loads((project / "fpgaq_rtl.json").read_text())
        points.append(
            Point(
                "learned",
                label,
                acc,
                [str(project / f) for f in manifest["files"]],
                manifest["top"],
                estimated_luts=float(estimate),
                extra={"keras_accuracy": keras_acc, "surrogate_luts": model_cost(model), "beta": c.beta},
            )
        )
        print(
            f"  learned {label:<33} acc {100 * acc:6.2f}% (Keras {100 * keras_acc:6.2f}%)  surrogate "
            f"{points[-1].extra['surrogate_luts']:8.0f}  estimate {estimate:8.0f} LUT",
            flush=True,
        )
    return points


def surrogate_agreement(points: Sequence[Point]) -> dict[str, float | None]:
    """Spearman rank correlation of the learned front's surrogate LUTs with the estimate and with Yosys."""
    from fpgaq.learned import rank_correlation

    est = [(p.extra["surrogate_luts"], p.estimated_luts) for p in points if p.estimated_luts is not None]
    syn = [(p.extra["surrogate_luts"], p.luts) for p in points if p.luts is not None]
    return {
        "vs_estimate": rank_correlation(*zip(*est)) if len(est) > 1 else None,
        "vs_yosys": rank_correlation(*zip(*syn)) if len(syn) > 1 else None,
        "designs_estimated": len(est),
        "designs_synthesized": len(syn),
    }


def uniform_front(task: Task, data: dict[str, np.ndarray], float_model: keras.Model, workdir: Path) -> list[Point]:
    """Train every (bits, input bits) of the grid from the float weights; all points, estimated and scored."""
    points = []
    for bits in task.bits:
        for input_bits in task.input_bits:
            start = time.perf_counter()
            model = task.uniform_model(bits, input_bits)
            for layer in float_model.layers:
                if layer.get_weights():
                    model.get_layer(layer.name).set_weights(layer.get_weights())
            train_classifier(model, data["x_train"], data["y_train"], epochs=task.qat_epochs, learning_rate=1e-3)
            design = convert(logits_model(model), FPGAQ_CONFIG)
            acc = float(np.mean(np.argmax(design.predict(data["x_test"]), axis=-1) == data["y_test"]))
            estimate = design.estimate(device="xc7a100t", use_dsp=False).total.lut
            label = f"w{bits} a{bits}" + (f" in{input_bits}" if len(task.input_bits) > 1 else "")
            project = workdir / label.replace(" ", "_")
            design.write_rtl(project, force=True)
            manifest = json.loads((project / "fpgaq_rtl.json").read_text())
            points.append(
                Point(
                    "uniform",
                    label,
                    acc,
                    [str(project / f) for f in manifest["files"]],
                    manifest["top"],
                    estimated_luts=float(estimate),
                    extra={"keras_accuracy": accuracy(model, data["x_test"], data["y_test"])},
                )
            )
            print(
                f"  uniform {label:<14} acc {100 * acc:6.2f}%  est {estimate:8.0f} LUT  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return points


def hgq_front(task: Task, data: dict[str, np.ndarray], workdir: Path, args: argparse.Namespace) -> list[Point]:
    """Run the HGQ2 + alkaid flow in its side venv (or read ``--hgq-json``); its points, not yet synthesized."""
    if args.hgq_json:
        result = json.loads(Path(args.hgq_json).read_text())
        if result["task"] != task.name:
            raise SystemExit(f"--hgq-json {args.hgq_json} holds task {result['task']!r}, not {task.name!r}")
    else:
        python = ensure_venv("hgq2", HGQ_REQUIREMENTS)
        workdir.mkdir(parents=True, exist_ok=True)
        npz = workdir / "data.npz"
        np.savez(npz, **data)
        command = [str(python), str(INSIDE), "--inside", "--task", task.name, "--data", str(npz)]
        command += ["--out", str(workdir), "--epochs", str(task.hgq_epochs), "--batch-size", str(task.hgq_batch)]
        command += ["--points", str(args.hgq_points)] + (["--reuse"] if args.resume else [])
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}
        subprocess.run(command, check=True, env=env)
        result = json.loads((workdir / "hgq_front.json").read_text())
    return [
        Point(
            "hgq2",
            f"epoch {p['epoch']} EBOPs {p['ebops']}",
            p["accuracy"],
            p["verilog"],
            p["top"],
            estimated_luts=p["alkaid_cost"],
            extra={k: p[k] for k in ("ebops", "epoch", "keras_accuracy", "emulation_mismatches", "latency_cycles")},
        )
        for p in result["points"]
    ]


def synthesis_picks(points: Sequence[Point], levels: Sequence[float], limit: int) -> list[Point]:
    """The points to synthesize: at each accuracy level the one the estimate calls cheapest, then a spread.

    The table reads the fewest Yosys LUTs at each level, so the estimate's pick for every
    level goes first; the rest of ``limit`` spreads along the (estimate, accuracy) front for the plot.
    """

    def cost(p: Point) -> float:
        return p.estimated_luts if p.estimated_luts is not None else 0.0

    front = pareto(points, cost)
    picks: list[Point] = []
    for level in levels:
        reached = [p for p in front if p.accuracy >= level - 1e-12]
        if reached:
            best = min(reached, key=cost)
            if all(best is not q for q in picks):
                picks.append(best)
    spare = max(0, limit - len(picks)) if limit else len(front)
    rest = [p for p in front if all(p is not q for q in picks)]
    if rest and spare:
        idx = np.unique(np.round(np.linspace(0, len(rest) - 1, min(spare, len(rest)))).astype(int))
        picks += [rest[i] for i in idx]
    return sorted(picks, key=cost)


def synthesize_front(points: list[Point], levels: Sequence[float], workdir: Path, limit: int) -> list[Point]:
    """Synthesize :func:`synthesis_picks` with Yosys, two at a time (Yosys runs on one core); the synthesized points."""
    from concurrent.futures import ThreadPoolExecutor

    picks = synthesis_picks(points, levels, limit)
    with ThreadPoolExecutor(max_workers=2) as pool:
        todo = [(i, p) for i, p in enumerate(picks) if p.luts is None]  # --resume keeps earlier figures
        list(pool.map(lambda ip: ip[1].synthesize(workdir / f"{ip[1].flow}-{ip[0]}"), todo))
    for p in picks:
        print(
            f"  yosys {p.flow:<8} {p.label:<33} acc {100 * p.accuracy:6.2f}%  {p.luts:7d} LUT  {p.ffs:6d} FF",
            flush=True,
        )
    return picks


# ----------------------------------------------------------------------------- the table
def luts_at(points: Sequence[Point], level: float) -> int | None:
    """The fewest Yosys LUTs among points at least ``level`` accurate (None: not reached)."""
    reached = [p.luts for p in points if p.luts is not None and p.accuracy >= level - 1e-12]
    return min(reached) if reached else None


def level_rows(float_acc: float, fronts: dict[str, list[Point]]) -> list[dict[str, Any]]:
    """One row per accuracy level: each flow's LUTs there (None: not reached; absent: the flow did not run)."""
    rows = []
    for drop in DROPS:
        level = float_acc - drop / 100
        row: dict[str, Any] = {"drop_points": drop, "accuracy": level}
        for flow, points in fronts.items():
            row[flow] = luts_at(points, level)
        for flow in ("learned", "uniform"):
            if row.get(flow) is not None and row.get("hgq2"):
                row[f"{flow}_over_hgq2"] = row[flow] / row["hgq2"]
        rows.append(row)
    return rows


def format_table(task: str, float_acc: float, rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], flow: str) -> str:
        if flow not in row:
            return "not run"
        return "not reached" if row[flow] is None else f"{row[flow] / 1000:.2f}k"

    def ratio(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    lines = [
        f"{task}: float accuracy {100 * float_acc:.2f}% (LUTs: Yosys {SYNTH_DEVICE}, no DSP)",
        "| accuracy | fpgaq learned | fpgaq uniform | HGQ2+alkaid | learned/HGQ2 | uniform/HGQ2 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {100 * r['accuracy']:.2f}% (float - {r['drop_points']}) | {cell(r, 'learned')} "
            f"| {cell(r, 'uniform')} | {cell(r, 'hgq2')} | {ratio(r.get('learned_over_hgq2'))} "
            f"| {ratio(r.get('uniform_over_hgq2'))} |"
        )
    return "\n".join(lines)


def plot(task: str, float_acc: float, fronts: dict[str, list[Point]], path: Path) -> None:
    fig = figure(6.4, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    for flow, marker, color in zip(FLOWS, "o^s", ("C2", "C0", "C3")):
        pts = sorted((p for p in fronts.get(flow, []) if p.luts is not None), key=lambda p: p.luts)
        if pts:
            ax.plot([p.luts for p in pts], [100 * p.accuracy for p in pts], marker=marker, color=color, label=flow)
    ax.axhline(100 * float_acc, color="grey", linestyle="--", label="float")
    ax.set_xscale("log")
    ax.set_xlabel("LUTs (Yosys synth_xilinx -nodsp)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{task}: accuracy against LUTs")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


# ----------------------------------------------------------------------------- the run
def split(task: Task) -> dict[str, np.ndarray]:
    x, y = task.data()
    x_train, y_train, x_test, y_test = datasets.train_test_split(x, y, 0.25, seed=0)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def run_task(task: Task, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    data = split(task)
    with tempfile.TemporaryDirectory(prefix=f"fpgaq-pareto-{task.name}-") as tmp:
        work = Path(args.keep) / task.name if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        earlier = _earlier_run(args, task.name) if args.resume else None
        t = time.perf_counter()
        if earlier:
            float_model, float_acc = None, earlier["float_accuracy"]
            timings.update(earlier["seconds"])
        else:
            float_model = task.float_model()
            train_classifier(float_model, data["x_train"], data["y_train"], epochs=task.float_epochs)
            float_acc = accuracy(float_model, data["x_test"], data["y_test"])
            timings["float"] = time.perf_counter() - t
        print(f"{task.name}: float accuracy {100 * float_acc:.2f}% ({timings['float']:.0f} s)", flush=True)

        fronts: dict[str, list[Point]] = {}
        every: dict[str, list[Point]] = {}
        notes: list[str] = []
        for flow in args.flows:
            t = time.perf_counter()
            try:
                if earlier and flow in ("learned", "uniform"):
                    every[flow] = [Point(**p) for p in earlier["all_points"][flow]]
                elif earlier:
                    every[flow] = _with_earlier_figures(hgq_front(task, data, work / flow, args), earlier, flow)
                elif flow == "learned":
                    every[flow] = learned_front(task, data, float_model, work / flow, args.learned_seeds)
                elif flow == "uniform":
                    every[flow] = uniform_front(task, data, float_model, work / flow)
                else:
                    every[flow] = hgq_front(task, data, work / flow, args)
            except NotImplementedError as err:
                notes.append(f"{flow} front skipped: {err}")
                print(f"  note: {notes[-1]}", flush=True)
                continue
            if not earlier:
                timings[f"{flow}_train"] = time.perf_counter() - t
            t = time.perf_counter()
            levels = [float_acc - drop / 100 for drop in DROPS]
            limit = args.synth_uniform if flow == "uniform" else args.synth
            fronts[flow] = synthesize_front(every[flow], levels, work / "synth", limit)
            timings[f"{flow}_synth"] = timings.get(f"{flow}_synth", 0.0) * bool(earlier) + time.perf_counter() - t

    rows = level_rows(float_acc, fronts)
    print(format_table(task.name, float_acc, rows), flush=True)
    spent = ", ".join(f"{flow} {timings[f'{flow}_train']:.0f} s" for flow in fronts if f"{flow}_train" in timings)
    print(f"{task.name}: training and conversion time per flow: {spent}", flush=True)
    agreement = surrogate_agreement(every["learned"]) if "learned" in every else None
    if agreement:
        print(
            f"{task.name}: learned-precision surrogate vs estimate: Spearman {agreement['vs_estimate']} over "
            f"{agreement['designs_estimated']} designs; vs Yosys: {agreement['vs_yosys']} over "
            f"{agreement['designs_synthesized']}",
            flush=True,
        )
    plot(task.name, float_acc, fronts, out / f"{task.name}.png")
    return {
        "task": task.name,
        "float_accuracy": float_acc,
        "levels": rows,
        "fronts": {flow: [dataclasses.asdict(p) for p in pts] for flow, pts in fronts.items()},
        "all_points": {flow: [dataclasses.asdict(p) for p in pts] for flow, pts in every.items()},
        "notes": notes,
        "surrogate_agreement": agreement,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def _earlier_run(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """The task's results in ``--out``'s pareto.json, which ``--resume`` completes."""
    path = args.out / "pareto.json"
    for result in json.loads(path.read_text())["tasks"] if path.exists() else []:
        if result["task"] == task:
            return result
    raise SystemExit(f"--resume: no results for task {task!r} in {path}")


def _with_earlier_figures(points: list[Point], earlier: dict[str, Any], flow: str) -> list[Point]:
    """Yosys figures of points an earlier run already synthesized (matched by label)."""
    known = {p["label"]: p for p in earlier["all_points"].get(flow, []) if p["luts"] is not None}
    for p in points:
        if p.label in known:
            p.luts, p.ffs = known[p.label]["luts"], known[p.label]["ffs"]
            p.extra.update({k: v for k, v in known[p.label]["extra"].items() if k in ("synth_seconds", "yosys")})
    return points


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=[*TASKS, "all"], default="all")
    p.add_argument("--quick", action="store_true", help="few epochs and grid points: a smoke run of minutes")
    p.add_argument("-o", "--out", type=Path, default=Path("/tmp/fpgaq-pareto"))
    p.add_argument("--synth", type=int, default=0, help="front points per flow to synthesize with Yosys (0: all)")
    p.add_argument(
        "--synth-uniform", type=int, default=6, help="the same for the uniform front (its designs are the largest)"
    )
    p.add_argument("--learned-seeds", type=int, default=2, help="independent learned-precision runs on one front")
    p.add_argument("--hgq-points", type=int, default=0, help="HGQ2 front checkpoints to convert with alkaid (0: all)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish a run kept with --keep whose pareto.json is in --out: convert and synthesize what it left",
    )
    p.add_argument("--hgq-json", help="reuse an inner run's hgq_front.json (development only; one task)")
    p.add_argument(
        "--flows", type=lambda v: v.split(","), default=list(FLOWS), help=f"comma-separated subset of {','.join(FLOWS)}"
    )
    p.add_argument("--keep", help="keep the work files (Verilog, Yosys logs, checkpoints) under this directory")
    args = p.parse_args(argv)
    names = list(TASKS) if args.task == "all" else [args.task]
    unknown = sorted(set(args.flows) - set(FLOWS))
    if unknown:
        p.error(f"--flows: unknown {', '.join(unknown)}; choose from {', '.join(FLOWS)}")
    if args.resume and not args.keep:
        p.error("--resume needs --keep: the directory the earlier run kept its work in")
    if args.hgq_json and len(names) != 1:
        p.error("--hgq-json holds one task's front: pick it with --task")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        task = TASKS[name]
        if args.quick:
            task = dataclasses.replace(task, **task.quick)
            args.synth, args.hgq_points = min(args.synth or 3, 3), min(args.hgq_points or 3, 3)
            args.synth_uniform, args.learned_seeds = min(args.synth_uniform or 3, 3), 1
        start = time.perf_counter()
        results.append(run_task(task, args, args.out))
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    path = args.out / "pareto.json"
    path.write_text(json.dumps({"quick": args.quick, "tasks": results}, indent=2) + "\n")
    print(f"wrote {path} and the plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
