"""How far to trust the resource model: estimate vs Yosys on designs NOT used for fitting, and speed.

1. The held-out generated layers of every calibrated flow (``fpgaq/data/calibration``):
   each design is rebuilt from its seed and estimated with today's code, and
   compared with the Yosys counts stored when it was synthesized (pass
   ``--resynthesize`` to synthesize them again).  The table layers (softmax,
   sigmoid, tanh: ``tab_*``, fitted and held-out) are listed on their own,
   against their target of 15 % (LUTs, and block RAMs where Yosys used them).
   The quick demo's softmax, the case the issue names, is synthesized with and
   without its softmax and compared with the estimate's softmax node.
2. The two example models, trained briefly with QAT as ``projects/`` does, and
   synthesized now with Yosys ``synth_xilinx`` (xc7, DSPs allowed).
3. The delay model (issue 15, point 3): the held-out designs of each timing
   flow, rebuilt and timed by the shipped constants (:mod:`fpgaq.rtl.delay`),
   against what was measured (xc7: the cell-delay walk of Yosys' netlist;
   ecp5: nextpnr's post-route critical path), and the error the fit stored.
4. The speed of a 1,000-point sweep of the jet tagger (``benchmarks/sweep_speed.py``).

Targets (issue: resource model): median absolute LUT error <= 15 %, FF and DSP
within 10 %; 1,000 sweep points in under 10 s.  Issue 15: held-out median LUT
error <= 4 %, FF <= 8 % per flow; every table layer within 15 % of Yosys.  Run:
``python benchmarks/resource_model.py [--quick] [--resynthesize]`` (``--quick``
skips the example models' synthesis, which takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LUT_TARGET, FF_TARGET, DSP_TARGET = 0.15, 0.10, 0.10
TABLE_TARGET = 0.15
FLOW_DEVICE = {"xc7": "xc7a100t", "xcup": "xcvu9p", "generic-lut4": "generic-lut4"}


def _err(est: float, real: float) -> float:
    if real == 0:
        return 0.0 if est == 0 else 1.0
    return abs(est - real) / real


def _row(name: str, est, real: dict) -> dict:
    bram = real.get("bram36", 0) + real.get("bram18", 0) / 2
    return {
        "design": name,
        "bram": (est.total.bram, bram),
        "lut": (est.total.lut, real["lut"]),
        "ff": (est.total.ff, real["ff"]),
        "dsp": (est.total.dsp, real["dsp"]),
        "lut_err": _err(est.total.lut, real["lut"]),
        "ff_err": _err(est.total.ff, real["ff"]),
        "dsp_err": _err(est.total.dsp, real["dsp"]),
    }


def held_out(flow: str, resynthesize: bool, tables: bool = False) -> list[dict]:
    """The held-out records of ``flow`` (or, with ``tables``, every table layer's record, fitted or not)."""
    from fpgaq.calibrate import all_items, measure

    data = json.loads(resources.files("fpgaq").joinpath(f"data/calibration/{flow}.json").read_text())
    records = {
        r["name"]: r for r in data["records"] if (r["name"].startswith("tab_") if tables else r["split"] == "holdout")
    }
    items = {it.name: it for it in all_items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, rec in sorted(records.items()):
            if name not in items:
                continue
            design = items[name].build()
            real = rec["synth"]
            if resynthesize:
                real = measure(items[name], flow, Path(tmp))["synth"]
            row = _row(name, design.estimate(device=FLOW_DEVICE[flow], use_dsp=items[name].use_dsp), real)
            row["note"] = f"{rec['split']:7s} {rec['description'].split(';')[0]}" if tables else ""
            rows.append(row)
    return rows


def example_models(epochs: int) -> list[dict]:
    import keras

    import fpgaq
    from fpgaq import datasets, zoo
    from fpgaq.sim.synth import synthesize_project
    from fpgaq.train import train_classifier

    rows = []
    x, y = datasets.jet_like(6000, seed=0)
    xd, yd = datasets.digits()
    for name, build, (xs, ys) in (("jet_tagger", zoo.jet_tagger, (x, y)), ("digits_cnn", zoo.digits_cnn, (xd, yd))):
        keras.utils.set_random_seed(0)
        model = build()
        train_classifier(model, xs, ys, epochs=epochs)
        design = fpgaq.convert(model)
        with tempfile.TemporaryDirectory() as tmp:
            design.write_rtl(Path(tmp) / "p", samples=0)
            t = time.perf_counter()
            result, _ = synthesize_project(Path(tmp) / "p", device="xc7")
            seconds = time.perf_counter() - t
        real = {"lut": result.luts, "ff": result.ffs, "dsp": result.dsp}
        t = time.perf_counter()
        est = design.estimate(device="xc7a100t")
        est_ms = (time.perf_counter() - t) * 1000
        row = _row(name, est, real)
        row["note"] = f"Yosys {seconds:.0f} s, estimate {est_ms:.0f} ms (first call, cold cache)"
        rows.append(row)
    return rows


def demo_softmax() -> dict:
    """The quick demo's softmax (``fpgaq.demo.small_jet_tagger``, seed 0, untrained), the case issue 15
    names: Yosys' LUTs of the whole design less those of the same design without the softmax, against
    the estimate's softmax node (xc7, DSPs allowed)."""
    import keras

    import fpgaq
    from fpgaq.demo import small_jet_tagger
    from fpgaq.sim.synth import synthesize_project

    keras.utils.set_random_seed(0)
    model = small_jet_tagger(True)
    logits = keras.Model(model.inputs, model.layers[-2].output)
    luts, node = {}, 0.0
    for name, m in (("full", model), ("logits", logits)):
        design = fpgaq.convert(m)
        with tempfile.TemporaryDirectory() as tmp:
            design.write_rtl(Path(tmp) / "p", samples=0)
            luts[name] = synthesize_project(Path(tmp) / "p", device="xc7")[0].luts
        if name == "full":
            node = next(n.lut for n in design.estimate(device="xc7a100t").nodes if n.op == "softmax")
    real = luts["full"] - luts["logits"]
    err = _err(node, real)
    verdict = "PASS" if err <= TABLE_TARGET else "MISS"
    print(
        f"\nquick demo's softmax (xc7): estimate {node:.0f} LUTs, Yosys {real} ({luts['full']} with it, "
        f"{luts['logits']} without): error {err:.1%} (target {TABLE_TARGET:.0%}): {verdict}"
    )
    return {"estimate": node, "yosys": real, "error": err}


def _table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(
        f"  {'design':18s} {'LUT est':>9s} {'LUT syn':>9s} {'err':>6s}  {'FF est':>8s} {'FF syn':>8s} {'err':>6s}"
        f"  {'DSP est':>7s} {'DSP syn':>7s}"
    )
    for r in rows:
        print(
            f"  {r['design']:18s} {r['lut'][0]:9.0f} {r['lut'][1]:9d} {r['lut_err']:6.1%}  {r['ff'][0]:8.0f} "
            f"{r['ff'][1]:8d} {r['ff_err']:6.1%}  {r['dsp'][0]:7d} {r['dsp'][1]:7d}"
            + (f"  BRAM {r['bram'][0]:g}/{r['bram'][1]:g}" if r["bram"][0] or r["bram"][1] else "")
            + (f"  {r['note']}" if r.get("note") else "")
        )


def _summary(label: str, rows: list[dict]) -> bool:
    lut = statistics.median(r["lut_err"] for r in rows)
    ff = statistics.median(r["ff_err"] for r in rows)
    dsp_rows = [r for r in rows if r["dsp"][0] or r["dsp"][1]]
    dsp = statistics.median(r["dsp_err"] for r in dsp_rows) if dsp_rows else 0.0
    ok = lut <= LUT_TARGET and ff <= FF_TARGET and dsp <= DSP_TARGET
    print(
        f"  {label}: median |error| LUT {lut:.1%} (target {LUT_TARGET:.0%}), FF {ff:.1%} ({FF_TARGET:.0%}), "
        f"DSP {dsp:.1%} over {len(dsp_rows)} designs with DSPs ({DSP_TARGET:.0%}): {'PASS' if ok else 'MISS'}"
    )
    return ok


def _table_summary(label: str, rows: list[dict]) -> bool:
    worst = max(rows, key=lambda r: r["lut_err"])
    within = sum(r["lut_err"] <= TABLE_TARGET for r in rows)
    ok = within == len(rows)
    print(
        f"  {label}: {within} of {len(rows)} table layers within {TABLE_TARGET:.0%} of Yosys' LUTs, median "
        f"{statistics.median(r['lut_err'] for r in rows):.1%}, worst {worst['lut_err']:.1%} ({worst['design']}): "
        f"{'PASS' if ok else 'MISS'}"
    )
    return ok


def delay_held_out(flow: str) -> None:
    """The delay model against the held-out designs of one timing flow (no synthesis: stored measurements)."""
    from fpgaq.calibrate_delay import evaluate
    from fpgaq.rtl.delay import shipped_flows

    try:
        rows = evaluate(flow)
    except FileNotFoundError:
        print(f"\ndelay model, {flow}: no records")
        return
    print(f"\ndelay model, {flow}: held-out designs, longest stage (ns), measured vs the model")
    for r in rows:
        cells = f"{r['measured_ns']:>8.2f}{r['predicted_ns']:>8.2f}{r['error']:>+8.1%}"
        print(f"  {r['name']:<18}{cells}  {r['description']}")
    if rows:
        errors = [abs(r["error"]) for r in rows]
        print(
            f"  {flow}: {len(rows)} held-out designs, median |error| {statistics.median(errors):.1%}, "
            f"max {max(errors):.1%}; stored with the fit: {shipped_flows().get(flow, {}).get('holdout')}"
        )
    if flow == "ecp5":
        without_fanout(flow)


def without_fanout(flow: str) -> None:
    """Baseline: the same records refitted with the fan-out term held at 0 (in a scratch copy of the data)."""
    import shutil

    from fpgaq.calibrate_delay import run
    from fpgaq.rtl.delay import shipped_flows

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(Path(str(resources.files("fpgaq").joinpath("data"))), data)
        base = run(flow, data_dir=data, fixed=("fanout",))["holdout"]
    shipped = shipped_flows()[flow]
    ours = shipped["holdout"]
    print(
        f"  fan-out term ({shipped['ns'].get('fanout', 0.0):.3f} ns per doubling): held-out median "
        f"{ours['median_error']:.1%} (max {ours['max_error']:.1%}) vs refitted without it "
        f"{base['median_error']:.1%} (max {base['max_error']:.1%}) over {base['designs']} designs: "
        f"ratio {ours['median_error'] / base['median_error']:.2f}"
    )


def routing_fanout() -> None:
    """Routing delay against fan-out on the routed ECP5 critical paths, hop by hop (the delay model's
    ``fanout`` term is fitted on whole paths, where congestion rides on it too)."""
    from fpgaq.calibrate_pnr import load_records, routing_by_fanout

    r = routing_by_fanout(load_records())
    if r["per_doubling"] is None:
        print("\nrouting vs fan-out, ecp5: too few routed hops")
        return
    print(
        f"\nrouting vs fan-out, ecp5 (nextpnr critical paths, {r['hops']} routed hops): "
        f"ns = {r['base']:.3f} + {r['per_doubling']:.3f} * log2(fan-out)"
    )
    for fan, (n, mean) in r["buckets"].items():
        print(f"  fan-out {fan:>3}-{2 * fan - 1:<4} {n:>5} hops, mean {mean:.3f} ns")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the example models' synthesis and the sweep")
    parser.add_argument("--resynthesize", action="store_true", help="synthesize the held-out layers again")
    parser.add_argument("--epochs", type=int, default=5, help="QAT epochs of the example models")
    args = parser.parse_args()

    all_rows = []
    for flow in ("xc7", "xcup", "generic-lut4"):
        rows = held_out(flow, args.resynthesize)
        _table(f"held-out generated layers, {flow} ({FLOW_DEVICE[flow]})", rows)
        _summary(flow, rows)
        tables = held_out(flow, args.resynthesize, tables=True)
        if tables:
            _table(f"table layers (softmax, sigmoid, tanh), {flow}, fitted and held-out", tables)
            _table_summary(flow, tables)
        if flow == "xc7":
            all_rows += rows
            demo_softmax()
    if not args.quick:
        examples = example_models(args.epochs)
        _table("example models, xc7 (Yosys synth_xilinx), trained with QAT", examples)
        all_rows += examples
    print()
    _summary("xc7 held-out layers + example models" if not args.quick else "xc7 held-out layers", all_rows)
    for flow in ("xc7", "ecp5"):
        delay_held_out(flow)
    routing_fanout()
    if not args.quick:
        from sweep_speed import main as sweep_main

        print()
        sweep_main([])


if __name__ == "__main__":
    main()
