"""Fit the delay model (:mod:`fpgaq.rtl.delay`) to measured timing: Xilinx cell delays and ECP5 place and route.

Each record is one generated design and its measured longest
register-to-register (or register-to-output) path: on ``xc7``/``xcup`` the
walk of :mod:`fpgaq.sim.timing` over Yosys' netlist (the cells' own delays
plus its routing allowance per net), synthesized without DSP slices so that
every product is logic the walk can time; on ``ecp5`` the post-route
critical path of nextpnr-ecp5 (records written by :mod:`fpgaq.calibrate_pnr`,
``1000 / Fmax``).  The model predicts the same quantity from the design's
own scheduled netlist (:func:`fpgaq.rtl.delay.stage_delays`), and the
constants are fitted to minimise the relative error over the ``fit`` split
(non-negative, by ``scipy.optimize.least_squares``); the ``holdout`` split
(other seeds) gives the error that ships with them in
``fpgaq/data/delay_model.json``.

Run ``python -m fpgaq.calibrate_delay --flow xc7`` (it synthesizes) or
``--flow ecp5 --records fpgaq/data/calibration/ecp5-pnr.json`` (it refits
from place-and-route records).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import statistics
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.calibrate import CorpusItem, big_corpus, corpus
from fpgaq.rtl.delay import (
    CARRY_OPS,
    KIND_PARAMETER,
    PARAMETERS,
    ROM_BITS_PER_LEVEL,
    SOURCE_OPS,
    WIRING_OPS,
    DelayModel,
    delay_model,
    extra_bits,
    net_loads_and_widths,
    sloped_output,
    stage_delays,
)

__all__ = ["critical_features", "evaluate", "fit", "measure_xilinx", "predict", "run"]

_DATA = Path(__file__).parent / "data"
_DEVICE_OF = {"xc7": "xc7a100t", "xcup": "xcvu9p", "ecp5": "lfe5u-85f"}


def _timing_options(name: str) -> dict[str, Any]:
    """The implementation options a design is timed with: drawn from its name, so the records stay
    valid whatever the resource model's corpus draws; both adder styles and every multiplier."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return {
        "pipeline_every": int(rng.choice([0, 0, 1, 2, 3, 4])),
        "reuse_factor": int(rng.choice([1, 1, 1, 1, 2])) if name.startswith("cal_") else 1,
        "multiplier": str(rng.choice(["lut", "lut", "auto", "dsp"])),
        "adders": str(rng.choice(["binary", "ternary"])),
    }


def _timed_item(item: CorpusItem, options: dict[str, Any] | None = None) -> CorpusItem:
    """``item`` with the options it is timed with (its own draw, or those a record states)."""
    options = _timing_options(item.name) if options is None else {"adders": "binary", **options}

    def build() -> Any:
        from fpgaq.design import Design
        from fpgaq.ir.passes.requantize import with_options

        design = item.build()
        return Design(with_options(design.graph, **options), design.config)

    layer = item.description.split(";")[0]
    return CorpusItem(item.name, item.split, f"{layer}; {options}", build)


def _record_options(record: dict[str, Any]) -> dict[str, Any]:
    """The options a record was measured with: stated, or the dict its description ends with."""
    if record.get("options"):
        return dict(record["options"])
    return dict(ast.literal_eval(record["description"].split("; ", 1)[1]))


def _same_options(record: dict[str, Any], options: dict[str, Any]) -> bool:
    """Whether ``record`` was measured with ``options`` (by value: descriptions list them in any order)."""
    return {"adders": "binary", **_record_options(record)} == {"adders": "binary", **options}


def _plain_items(n_fit: int, n_holdout: int, n_big: int) -> dict[str, CorpusItem]:
    items = corpus("fit", n_fit) + corpus("holdout", n_holdout) + big_corpus("fit", n_big)
    items += big_corpus("holdout", max(n_big // 2, 0))
    return {it.name: it for it in items}


def _items(n_fit: int, n_holdout: int, n_big: int) -> dict[str, CorpusItem]:
    return {name: _timed_item(it) for name, it in _plain_items(n_fit, n_holdout, n_big).items()}


def _pipelined(item: CorpusItem) -> Any:
    from fpgaq.rtl.lower.driver import lower
    from fpgaq.rtl.pipeline import pipeline

    design = item.build()
    return design, pipeline(lower(design.graph))


def predict(net: Any, model: DelayModel) -> float:
    """The longest stage of a scheduled netlist by ``model`` (ns, register cost included)."""
    return model.stage_ns(max(stage_delays(net, model).values(), default=0.0))


def measure_xilinx(item: CorpusItem, flow: str, workdir: Path) -> dict[str, Any]:
    """Synthesize one design (no DSP) and time it with the cell-delay walk."""
    from fpgaq.sim.synth import synthesize_project

    design = item.build()
    project = workdir / item.name
    design.write_rtl(project, force=True, samples=0)
    start = time.perf_counter()
    result, _ = synthesize_project(project, device=flow, dsp=False)
    t = result.timing or {}
    worst = t.get("worst_by_kind") or {}
    measured = max((worst.get(k, 0.0) or 0.0) for k in ("reg->reg", "reg->out"))
    return {
        "name": item.name,
        "split": item.split,
        "description": item.description,
        "measured_ns": measured,
        "lut_levels": t.get("lut_levels"),
        "carry_cells": t.get("carry_cells"),
        "routing_ns": t.get("routing_ns"),
        "luts": result.luts,
        "synth_seconds": round(time.perf_counter() - start, 1),
    }


def critical_features(net: Any, model: DelayModel) -> np.ndarray:
    """How many of each constant the longest path by ``model`` is made of (its delay is their dot product).

    The same walk as :func:`fpgaq.rtl.delay.stage_delays`, carrying, for every
    signal, the count of each constant on its slowest path: along a fixed
    path the delay is linear in the constants, which is what makes the fit a
    non-negative least-squares problem once the paths are chosen.
    """
    index = {p: i for i, p in enumerate(PARAMETERS)}
    theta = np.array(model.vector())
    zero = np.zeros(len(PARAMETERS))
    feats: dict[int, np.ndarray] = {}
    sloped: dict[int, bool] = {}
    loads, widths = net_loads_and_widths(net)
    worst, worst_value = zero, -1.0

    def read(a: Any) -> np.ndarray:  # an operand's path up to the reader, its net's fan-out included
        f = feats.get(a.id, zero).copy()
        n = loads.get(a.id, 1)
        if n > 1:
            f[index["fanout"]] += math.log2(n)
        return f

    for op in net.ops:
        live = [a for a in op.args if not a.is_const]
        kind = op.kind
        if kind in SOURCE_OPS:
            f = zero
        elif kind in WIRING_OPS or kind not in KIND_PARAMETER:
            f = max((feats.get(a.id, zero) for a in live), key=lambda v: float(v @ theta), default=zero)
        else:
            base = zero.copy()
            base[index[KIND_PARAMETER[kind]]] = 1.0
            if kind == "rom":
                base[index["rom_bit"]] = max(0, extra_bits(op) - ROM_BITS_PER_LEVEL)
            elif kind in ("mul", "mulc"):
                base[index["multiply_bit"]] = extra_bits(op)
            if kind not in CARRY_OPS:
                f = base + max((read(a) for a in live), key=lambda v: float(v @ theta), default=zero)
            else:
                width = widths.get(op.out.id, op.out.width)
                fresh = base.copy()
                fresh[index["carry"]] += width
                options = [fresh]
                for a in live:
                    fa = feats.get(a.id, zero)
                    rippling = float(fa @ theta) > 0 and sloped.get(a.id, False)
                    cand = read(a) + base
                    cand[index["carry"]] += max(width - widths.get(a.id, a.width), 0) if rippling else width
                    options.append(cand)
                f = max(options, key=lambda v: float(v @ theta))
        feats[op.out.id] = f
        sloped[op.out.id] = sloped_output(kind, (sloped.get(a.id, False) for a in live))
        value = float(f @ theta)
        if value > worst_value:
            worst, worst_value = f, value
    out = worst.copy()
    out[index["register"]] += 1.0
    return out


def fit(
    nets: Sequence[Any],
    measured: Sequence[float],
    flow: str,
    start: DelayModel,
    rounds: int = 8,
    fixed: Sequence[str] = (),
) -> DelayModel:
    """Non-negative constants minimising the relative error of :func:`predict` against ``measured``.

    Alternates two steps until the critical paths stop changing: find each
    design's longest path under the current constants
    (:func:`critical_features`), then solve the non-negative least squares
    of the relative errors along those paths.  Constants named in ``fixed`` keep their
    starting values.
    """
    from scipy.optimize import nnls

    free = np.array([p not in fixed for p in PARAMETERS])
    model = DelayModel.from_vector(flow, np.where(free, np.maximum(np.array(start.vector()), 1e-3), start.vector()))
    target = np.array(measured, dtype=float)
    previous = None
    for _ in range(rounds):
        rows = np.array([critical_features(net, model) for net in nets])
        if previous is not None and np.array_equal(rows, previous):
            break
        previous = rows
        # constants no critical path uses keep their starting value (nothing measured says otherwise)
        used = np.any(rows != 0, axis=0) & free
        kept = np.where(used, 0.0, np.array(model.vector()))
        rest = target - rows @ kept
        theta, _ = nnls(rows[:, used] / target[:, None], rest / target)
        values = kept.copy()
        values[used] = theta
        model = DelayModel.from_vector(flow, [round(float(v), 4) for v in values])
    return model


def _summary(errors: Sequence[float]) -> dict[str, float | int]:
    if not len(errors):
        return {"designs": 0}
    absolute = [abs(e) for e in errors]
    return {
        "designs": len(errors),
        "median_error": round(statistics.median(absolute), 4),
        "max_error": round(max(absolute), 4),
        "mean_signed_error": round(float(np.mean(errors)), 4),
    }


def run(
    flow: str,
    n_fit: int = 24,
    n_holdout: int = 12,
    n_big: int = 4,
    workdir: Path | None = None,
    records_path: Path | None = None,
    data_dir: Path = _DATA,
    remeasure: bool = False,
    fixed: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Measure (Xilinx flows; or read ``records_path``), fit, and write the flow's entry.

    ``fixed``: constants held at 0 instead of fitted (default: ``fanout`` on the Xilinx flows,
    whose walk charges every net alike; nothing on ECP5)."""
    if flow not in _DEVICE_OF:
        raise ValueError(f"calibrate_delay: flow {flow!r} is not supported; use one of {', '.join(_DEVICE_OF)}")
    items = _items(n_fit, n_holdout, n_big)
    own = data_dir / "calibration" / f"delay-{flow}.json"
    records: list[dict[str, Any]] = []
    if flow == "ecp5":
        source = records_path or data_dir / "calibration" / "ecp5-pnr.json"
        raw = json.loads(Path(source).read_text())
        for r in raw.get("records", raw) if isinstance(raw, dict) else raw:
            if r.get("fmax_mhz"):
                records.append({**r, "measured_ns": 1000.0 / float(r["fmax_mhz"])})
        what = f"nextpnr-ecp5 post-route critical paths ({Path(source).name})"
    else:
        if own.exists() and not remeasure:
            records = json.loads(own.read_text())["records"]
        done = {r["name"] for r in records if r["name"] in items and _same_options(r, _timing_options(r["name"]))}
        work = Path(workdir or tempfile.mkdtemp(prefix="fpgaq-delay-"))
        for name, item in items.items():
            if name in done:
                continue
            records.append(measure_xilinx(item, flow, work))
            own.parent.mkdir(parents=True, exist_ok=True)
            own.write_text(json.dumps({"flow": flow, "records": records}, indent=1) + "\n")
            print(f"{name}: {records[-1]['measured_ns']:.2f} ns", flush=True)
        what = "the cell-delay walk of fpgaq.sim.timing over Yosys synth (no DSP)"
    plain = _plain_items(n_fit, n_holdout, n_big)
    usable, nets = [], {}
    for r in records:  # each design rebuilt with the options it was measured with
        if r.get("measured_ns") and r["name"] in plain:
            item = _timed_item(plain[r["name"]], _record_options(r))
            r["description"] = item.description
            usable.append(r)
            nets[id(r)] = _pipelined(item)[1].net
    train = [r for r in usable if r["split"] == "fit"]
    hold = [r for r in usable if r["split"] != "fit"]
    start = delay_model(_DEVICE_OF[flow])
    if fixed is None:  # the walk's routing allowance is the same for every net: fan-out is not in what it measures
        fixed = () if flow == "ecp5" else ("fanout",)
    start = dataclasses.replace(start, **dict.fromkeys(fixed, 0.0))
    model = fit([nets[id(r)] for r in train], [r["measured_ns"] for r in train], flow, start, fixed=fixed)
    for r in usable:
        r["predicted_ns"] = round(predict(nets[id(r)], model), 3)
    paths = np.array([critical_features(nets[id(r)], model) for r in train])
    unfitted = [p for p, used in zip(PARAMETERS, np.any(paths != 0, axis=0)) if not used or p in fixed]
    entry = {
        "ns": {p: getattr(model, p) for p in PARAMETERS},
        "source": f"fitted to {what}",
        "unfitted": unfitted,  # no fitted design's critical path has them: they keep their starting values
        "train": _summary([r["predicted_ns"] / r["measured_ns"] - 1 for r in train]),
        "holdout": _summary([r["predicted_ns"] / r["measured_ns"] - 1 for r in hold]),
    }
    shipped_path = data_dir / "delay_model.json"
    shipped = json.loads(shipped_path.read_text())
    shipped["flows"][flow] = entry
    shipped["source"] = "fpgaq.calibrate_delay: see each flow's source"
    shipped_path.write_text(json.dumps(shipped, indent=1) + "\n")
    if flow != "ecp5":
        own.write_text(json.dumps({"flow": flow, "records": records}, indent=1) + "\n")
    return entry


def evaluate(flow: str, data_dir: Path = _DATA, split: str | None = "holdout") -> list[dict[str, Any]]:
    """The shipped model against a flow's records (rebuilding each design): name, measured, predicted, error."""
    path = data_dir / "calibration" / ("ecp5-pnr.json" if flow == "ecp5" else f"delay-{flow}.json")
    raw = json.loads(path.read_text())
    records = raw.get("records", []) if isinstance(raw, dict) else raw
    plain: dict[str, CorpusItem] = {}
    for maker, prefix in ((corpus, "cal_"), (big_corpus, "big_")):
        for sp in ("fit", "holdout"):
            indices = [int(r["name"].rsplit("_", 1)[1]) for r in records if r["name"].startswith(f"{prefix}{sp}_")]
            if indices:
                plain |= {it.name: it for it in maker(sp, max(indices) + 1)}
    model = delay_model(_DEVICE_OF[flow])
    rows = []
    for r in records:
        measured = r.get("measured_ns") or (1000.0 / r["fmax_mhz"] if r.get("fmax_mhz") else None)
        if not measured or r["name"] not in plain or (split is not None and r.get("split") != split):
            continue
        item = _timed_item(plain[r["name"]], _record_options(r))
        predicted = predict(_pipelined(item)[1].net, model)
        rows.append(
            {
                "name": r["name"],
                "description": r.get("description", ""),
                "measured_ns": round(measured, 3),
                "predicted_ns": round(predicted, 3),
                "error": predicted / measured - 1,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fpgaq.calibrate_delay", description=__doc__.split("\n")[0])
    parser.add_argument("--flow", required=True, choices=sorted(_DEVICE_OF))
    parser.add_argument("--fit", type=int, default=24, help="corpus designs to fit on")
    parser.add_argument("--holdout", type=int, default=12, help="held-out corpus designs")
    parser.add_argument("--big", type=int, default=4, help="large single layers (fit; half as many held out)")
    parser.add_argument("--workdir", type=Path, help="where projects are synthesized (default: a temporary one)")
    parser.add_argument("--records", type=Path, help="ecp5: the place-and-route records to fit")
    parser.add_argument("--remeasure", action="store_true", help="synthesize again even where records exist")
    args = parser.parse_args(argv)
    entry = run(args.flow, args.fit, args.holdout, args.big, args.workdir, args.records, remeasure=args.remeasure)
    print(json.dumps(entry, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
