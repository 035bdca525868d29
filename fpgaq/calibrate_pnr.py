"""Place-and-route timing of the calibration corpus on ECP5: the measurements the delay model is fitted to.

Each design of :func:`fpgaq.calibrate.corpus` / :func:`~fpgaq.calibrate.big_corpus`
is written as RTL, synthesized with ``synth_ecp5`` and placed and routed with
nextpnr-ecp5 (:mod:`fpgaq.sim.pnr`) at a target clock well above what any of
them reaches (400 MHz) with ``--timing-allow-fail``, so that the Fmax recorded is
where the router stopped improving, not a target it met and left.  A record
keeps the clock's Fmax, the register-to-register critical path split into
logic and routing and walked step by step (cell type, carry bits, LUT levels,
the fan-out of each net from the synthesized netlist), the post-route use, and
the synthesis counts, so the delay model can be refitted without rerunning
anything.  Records go to ``fpgaq/data/calibration/ecp5-pnr.json`` as each
design finishes (merged by name, seed and placement mode), so a stopped run
loses nothing.

Designs are placed out of context by default (no I/O buffers, as the large
layers and the jet tagger must be: their buses have more bits than any
package has pins), so that every record measures the fabric alone.

    python -m fpgaq.calibrate_pnr --fit 20 --holdout 10 --big 4 --big-holdout 2 --workdir /tmp/pnr-cal
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.calibrate import CorpusItem, big_corpus, corpus, design_features

__all__ = [
    "DATA_PATH",
    "SCHEMA",
    "clock_path",
    "load_records",
    "measure_pnr",
    "merge_records",
    "net_fanouts",
    "path_summary",
    "routing_by_fanout",
    "run",
    "select_items",
    "write_records",
]

SCHEMA = "fpgaq-ecp5-pnr/1"
DATA_PATH = Path(__file__).parent / "data" / "calibration" / "ecp5-pnr.json"
DEFAULT_FREQ_MHZ = 400.0  # above every corpus design's Fmax: the router never stops at a met target
DEFAULT_SEED = 1
DEFAULT_TIMEOUT_S = 600.0  # a design whose place and route takes longer is recorded as skipped
_OPTION_KEYS = ("pipeline_every", "reuse_factor", "multiplier")
# nextpnr-ecp5 0.11 splits a CCU2C into two TRELLIS_COMB cells named "<cell>$CCU2_COMB0/1" and adds
# CCU2C cells of its own ("$nextpnr_CCU2C_<n>") where a chain needs feeding; I/O buffers get "$tr_io".
_PACKED_SUFFIXES = {"$CCU2_COMB0": "CCU2C", "$CCU2_COMB1": "CCU2C"}
_CARRY_IN = "FCI"


# ----------------------------------------------------------------------------- the critical path
def _cell_type(name: str, types: dict[str, str]) -> str:
    """The synthesized cell type of a nextpnr (packed) cell name."""
    if name in types:
        return types[name]
    for suffix, kind in _PACKED_SUFFIXES.items():
        if name.endswith(suffix):
            return types.get(name[: -len(suffix)], kind)
    if name.startswith("$nextpnr_CCU2C"):
        return "CCU2C"
    if name.endswith("$tr_io"):
        return "TRELLIS_IO"
    return "other"


def net_fanouts(module: dict[str, Any]) -> dict[str, int]:
    """Fan-out (cell inputs and module outputs driven) of every net bit of a Yosys JSON module.

    Keys are spelled as nextpnr names nets: ``name[i]`` for a bit of a
    multi-bit net, ``name`` for a one-bit net.
    """
    sinks: collections.Counter[int | str] = collections.Counter()
    for cell in module["cells"].values():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if directions.get(port, "input") != "output":
                sinks.update(b for b in bits if isinstance(b, int))
    for port in module.get("ports", {}).values():
        if port["direction"] == "output":
            sinks.update(b for b in port["bits"] if isinstance(b, int))
    fanouts = {}
    for name, net in module.get("netnames", {}).items():
        bits = net["bits"]
        for i, bit in enumerate(bits):
            if isinstance(bit, int):
                fanouts[name if len(bits) == 1 else f"{name}[{i}]"] = sinks[bit]
    return fanouts


def clock_path(report: dict[str, Any]) -> dict[str, Any] | None:
    """The register-to-register critical path of a nextpnr report (the one that sets Fmax), None without one."""
    for path in report.get("critical_paths", []):
        if "posedge" in str(path.get("from", "")) and "posedge" in str(path.get("to", "")):
            return path
    return None


def path_summary(path: dict[str, Any], module: dict[str, Any], fanouts: dict[str, int]) -> dict[str, Any]:
    """A nextpnr critical path summed by kind and walked step by step.

    ``cells`` counts distinct synthesized cells by type (a CCU2C once, however
    many of its halves the path crosses); ``carry_bits`` counts the CCU2C
    halves crossed (one bit each) and ``carry_entries`` the carry chains
    entered from general routing; ``lut_levels`` the LUT4s crossed.
    ``steps`` lists ``["logic", cell type, "in>out", ns]`` and
    ``["routing", ns, fan-out or None]``.
    """
    types = {name: cell["type"] for name, cell in module["cells"].items()}
    totals: collections.Counter[str] = collections.Counter()
    cells: dict[str, str] = {}
    halves: set[str] = set()
    steps: list[list[Any]] = []
    entries = luts = 0
    fans: list[int] = []
    for step in path.get("path", []):
        kind, delay = step["type"], float(step["delay"])
        totals[kind] += delay
        if kind == "routing":
            fan = fanouts.get(step.get("net", ""))
            if fan is not None and delay > 0:
                fans.append(fan)
            steps.append(["routing", round(delay, 3), fan])
            continue
        cell = step["to"]["cell"]
        ctype = _cell_type(cell, types)
        base = cell
        for suffix in _PACKED_SUFFIXES:
            base = base.removesuffix(suffix)
        cells[base] = ctype
        if kind == "logic":
            if ctype == "CCU2C":
                halves.add(cell)
                entries += step["from"]["port"] != _CARRY_IN
            elif ctype == "LUT4":
                luts += 1
        steps.append([kind, ctype, f"{step['from']['port']}>{step['to']['port']}", round(delay, 3)])
    routing = totals.pop("routing", 0.0)
    return {
        "delay_ns": round(routing + sum(totals.values()), 3),
        "logic_ns": round(sum(totals.values()), 3),
        "routing_ns": round(routing, 3),
        "clk_to_q_ns": round(totals.get("clk-to-q", 0.0), 3),
        "setup_ns": round(totals.get("setup", 0.0), 3),
        "cells": dict(sorted(collections.Counter(cells.values()).items())),
        "lut_levels": luts,
        "carry_bits": len(halves),
        "carry_entries": entries,
        "routing_hops": len(fans),
        "max_fanout": max(fans, default=0),
        "mean_fanout": round(sum(fans) / len(fans), 2) if fans else 0.0,
        "steps": steps,
    }


# ----------------------------------------------------------------------------- one design
def _part_for(synth: Any, chains: int) -> str:
    """The smallest part that holds the logic and the multipliers (:func:`fpgaq.sim.pnr.choose_part`)."""
    from fpgaq.sim.pnr import choose_part

    return choose_part(synth, None, chains)


def _design_options(design: Any) -> dict[str, Any]:
    """The corpus options (pipeline_every, reuse_factor, multiplier) as the built design's nodes carry them."""
    for node in design.graph.nodes:
        if node.op != "input":
            return {k: node.options.get(k) for k in _OPTION_KEYS}
    return {}


def _synth_record(synth: Any, chains: int) -> dict[str, Any]:
    return {
        "cells": dict(sorted(synth.cells.items())),
        "lut4": synth.luts,
        "ccu2c": synth.carry,
        "ff": synth.ffs,
        "dsp": synth.dsp,
        "lutram": synth.lutram,
        "bram": synth.bram18 + synth.bram36,
        "carry_chains": chains,
        "logic_depth": synth.logic_depth,
        "carry_depth": synth.carry_depth,
        "yosys": synth.yosys,
        "runtime_s": synth.runtime_s,
    }


def measure_pnr(
    item: CorpusItem,
    workdir: str | os.PathLike[str],
    *,
    seeds: Sequence[int] = (DEFAULT_SEED,),
    freq_mhz: float = DEFAULT_FREQ_MHZ,
    out_of_context: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Synthesize one corpus design for ECP5 once and place and route it with each seed; one record per seed.

    A run that exceeds ``timeout`` seconds, or a design larger than the
    largest ECP5, gives a record with ``status: "skipped"`` and its size; any
    other tool failure ``status: "failed"`` with the reason.
    """
    from fpgaq.sim.pnr import DesignTooLarge, PnrFailed, carry_chains, place_and_route
    from fpgaq.sim.synth import synthesize_project

    design = item.build()
    project = Path(workdir) / item.name
    design.write_rtl(project, force=True, samples=0)
    manifest = json.loads((project / "fpgaq_rtl.json").read_text())
    synth, _ = synthesize_project(project, device="ecp5", dsp=True)
    netlist = Path(str(synth.log_path)).with_name("netlist.json")
    module = json.loads(netlist.read_text())["modules"][synth.top]
    fanouts = net_fanouts(module)
    chains = carry_chains(module)
    common = {
        "name": item.name,
        "split": item.split,
        "description": item.description,
        "options": _design_options(design),
        "out_of_context": out_of_context,
        "freq_target_mhz": freq_mhz,
        "rtl_latency": manifest["latency"],
        "synth": _synth_record(synth, chains),
        **design_features(design),
    }
    records = []
    for seed in seeds:
        start = time.monotonic()
        try:
            result = place_and_route(
                synth,
                netlist,
                part=_part_for(synth, chains),
                workdir=project / "pnr" / f"seed{seed}",
                freq_mhz=freq_mhz,
                seed=seed,
                out_of_context=True if out_of_context else None,
                timeout=timeout,
            )
        except (PnrFailed, DesignTooLarge) as err:
            elapsed = time.monotonic() - start
            slow = elapsed >= timeout or isinstance(err, DesignTooLarge)
            records.append(
                {
                    **common,
                    "seed": seed,
                    "status": "skipped" if slow else "failed",
                    "reason": str(err).splitlines()[0][:300],
                    "nextpnr_runtime_s": round(elapsed, 1),
                }
            )
            continue
        report = json.loads((project / "pnr" / f"seed{seed}" / "report.json").read_text())
        path = clock_path(report)
        records.append(
            {
                **common,
                "seed": seed,
                "status": "ok",
                "out_of_context": result.out_of_context,
                "part": result.device,
                "package": result.package,
                "nextpnr": result.tools.get("nextpnr", ""),
                "nextpnr_runtime_s": result.runtime_s,
                "fmax_mhz": result.fmax,
                "comb": result.comb,
                "ff": result.ff,
                "utilisation": {k: v["used"] for k, v in result.utilisation.items()},
                "critical_path": None if path is None else path_summary(path, module, fanouts),
                "paths": result.critical_paths,
            }
        )
    return records


# ----------------------------------------------------------------------------- the data file
def _key(record: dict[str, Any]) -> tuple[str, int, bool]:
    return record["name"], int(record["seed"]), bool(record.get("out_of_context", True))


def merge_records(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with ``new`` added; a new record replaces the old one of the same design, seed and placement mode."""
    merged = {_key(r): r for r in old}
    merged.update((_key(r), r) for r in new)
    return [merged[k] for k in sorted(merged)]


def load_records(path: str | os.PathLike[str] = DATA_PATH) -> list[dict[str, Any]]:
    """The records of a data file ([] when it does not exist yet); a file of another schema is refused."""
    p = Path(path)
    if not p.is_file():
        return []
    data = json.loads(p.read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{p} is not an {SCHEMA} file (schema {data.get('schema')!r})")
    return list(data["records"])


def routing_by_fanout(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How the routing delay of a net grows with its fan-out, from the routed critical paths: every
    routing step with a known fan-out and a delay (dedicated carry wires, 0 ns, are left out), a
    least-squares line ``ns = base + per_doubling * log2(fan-out)``, and the mean per fan-out bucket
    (1, 2-3, 4-7, ...).  What a fan-out term of the delay model would be worth (issue 15, point 3)."""
    hops = [
        (int(step[2]), float(step[1]))
        for r in records
        for step in ((r.get("critical_path") or {}).get("steps") or [])
        if step[0] == "routing" and step[2] is not None and step[1] > 0
    ]
    if len(hops) < 2 or len({f for f, _ in hops}) < 2:
        return {"hops": len(hops), "base": None, "per_doubling": None, "buckets": {}}
    fan = np.log2(np.array([f for f, _ in hops], dtype=float))
    ns = np.array([d for _, d in hops])
    slope, base = np.polyfit(fan, ns, 1)
    buckets: dict[int, list[float]] = {}
    for f, d in hops:
        buckets.setdefault(1 << (f.bit_length() - 1), []).append(d)
    return {
        "hops": len(hops),
        "base": float(base),
        "per_doubling": float(slope),
        "buckets": {k: (len(v), float(np.mean(v))) for k, v in sorted(buckets.items())},
    }


def write_records(records: Sequence[dict[str, Any]], path: str | os.PathLike[str] = DATA_PATH) -> Path:
    """Write the records whole or not at all, one JSON record per line (diffs and merges stay per design)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(json.dumps(r, sort_keys=True) for r in records)
    text = f'{{"schema": "{SCHEMA}", "records": [\n{body}\n]}}\n'
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, p)
    return p


# ----------------------------------------------------------------------------- a run
def select_items(
    n_fit: int, n_holdout: int, n_big: int = 0, n_big_holdout: int = 0, max_reuse: int = 1
) -> list[CorpusItem]:
    """The first ``n_fit`` / ``n_holdout`` corpus designs whose ReuseFactor is at most ``max_reuse``
    (folded designs are slow to place and are not what the delay model is for), then large layers."""

    def first(split: str, n: int) -> list[CorpusItem]:
        if n <= 0:
            return []
        size = 2 * n + 2  # about a third of the corpus is folded
        while True:
            chosen = [it for it in corpus(split, size) if _reuse(it.description) <= max_reuse]
            if len(chosen) >= n or size >= 8 * n:
                return chosen[:n]
            size *= 2

    small = first("fit", n_fit) + first("holdout", n_holdout)
    return small + big_corpus("fit", n_big) + big_corpus("holdout", n_big_holdout)


def _reuse(description: str) -> int:
    """The ReuseFactor of a corpus item from its description (the item says it; building it would be slow)."""
    marker = "'reuse_factor': "
    if marker not in description:
        return 1
    return int(description.split(marker, 1)[1].split(",", 1)[0].split("}", 1)[0])


def run(
    items: Sequence[CorpusItem],
    workdir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] = DATA_PATH,
    seeds: Sequence[int] = (DEFAULT_SEED,),
    extra_seeds: dict[str, Sequence[int]] | None = None,
    freq_mhz: float = DEFAULT_FREQ_MHZ,
    out_of_context: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Measure ``items`` one after another, merging each design's records into ``out`` as soon as it is done.

    ``extra_seeds`` maps a design name to further seeds placed from the same
    synthesis (the seed-to-seed spread).
    """
    done = []
    for k, item in enumerate(items):
        item_seeds = list(dict.fromkeys([*seeds, *(extra_seeds or {}).get(item.name, ())]))
        records = measure_pnr(
            item, workdir, seeds=item_seeds, freq_mhz=freq_mhz, out_of_context=out_of_context, timeout=timeout
        )
        write_records(merge_records(load_records(out), records), out)
        done += records
        if progress:
            for r in records:
                print(_progress_line(k, len(items), r), flush=True)
    return done


def _progress_line(k: int, n: int, r: dict[str, Any]) -> str:
    size = f"{r['synth']['lut4']} LUT4 {r['synth']['ccu2c']} CCU2C {r['synth']['ff']} FF"
    head = f"[{k + 1}/{n}] {r['name']} seed {r['seed']} PE {r['options'].get('pipeline_every')} ({size})"
    if r["status"] != "ok":
        return f"{head}: {r['status']} after {r['nextpnr_runtime_s']} s: {r['reason']}"
    path = r["critical_path"] or {}
    fmax = r["fmax_mhz"]
    return (
        f"{head}: {'no clock' if fmax is None or math.isnan(fmax) else f'{fmax:.1f} MHz'}, path "
        f"{path.get('logic_ns')} logic + {path.get('routing_ns')} routing ns, {r['nextpnr_runtime_s']:.0f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fpgaq.calibrate_pnr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=int, default=20, help="corpus('fit') designs (default 20)")
    parser.add_argument("--holdout", type=int, default=10, help="corpus('holdout') designs (default 10)")
    parser.add_argument("--big", type=int, default=4, help="big_corpus('fit') designs (default 4)")
    parser.add_argument("--big-holdout", type=int, default=2, help="big_corpus('holdout') designs (default 2)")
    parser.add_argument("--max-reuse", type=int, default=1, help="skip corpus designs with a larger ReuseFactor")
    parser.add_argument("--no-dsp", action="store_true", help="skip corpus designs with Multiplier: dsp")
    parser.add_argument("--dsp-only", action="store_true", help="measure only corpus designs with Multiplier: dsp")
    parser.add_argument("--only", action="append", default=[], help="measure only this design (repeatable)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"placer seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--spread", action="append", default=[], metavar="NAME", help="also place NAME with seeds +1 and +2"
    )
    parser.add_argument("--freq", type=float, default=DEFAULT_FREQ_MHZ, help="target clock, MHz (default 400)")
    parser.add_argument("--in-context", action="store_true", help="place with I/O buffers when the pins suffice")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="skip a run past this, s")
    parser.add_argument("--workdir", required=True, help="where projects are written and placed")
    parser.add_argument("--out", default=str(DATA_PATH), help="the records file to merge into")
    args = parser.parse_args(argv)
    items = select_items(args.fit, args.holdout, args.big, args.big_holdout, args.max_reuse)
    if args.no_dsp or args.dsp_only:
        items = [it for it in items if ("'multiplier': 'dsp'" in it.description) == args.dsp_only]
    if args.only:
        items = [it for it in items if it.name in args.only]
    spread = {name: (args.seed + 1, args.seed + 2) for name in args.spread}
    run(
        items,
        args.workdir,
        out=args.out,
        seeds=(args.seed,),
        extra_seeds=spread,
        freq_mhz=args.freq,
        out_of_context=not args.in_context,
        timeout=args.timeout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
