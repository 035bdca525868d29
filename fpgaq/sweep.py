"""Design-space sweeps: precision x reuse factor x pipelining x multiplier style.

A sweep converts the model once, then derives every point's graph with two
pure IR passes (:func:`~fpgaq.ir.passes.requantize.requantize` for the
precision, :func:`~fpgaq.ir.passes.requantize.with_options` for the
back-end options), so a point costs what the resource model costs, not a
Keras conversion.  Points that break the device budget or the latency bound
are discarded (with the reason) before anything slow happens; accuracy is
evaluated with the bit-exact reference once per distinct precision among the
survivors (back-end options never change a number); the Pareto front (least
LUTs, least latency, best accuracy) can then be synthesized with Yosys to
check the estimates.

The grid is a YAML file or a dict::

    device: xc7a100t        # a preset from fpgaq.devices
    backend: rtl            # rtl | hls
    clock_mhz: 200          # optional, default each point's Fmax by the delay model
    budget: 1.0             # max fraction of each device resource
    max_latency_cycles: 100 # optional; or max_latency_ns
    grid:
      weight_bits: [4, 6, 8]
      activation_bits: [4, 6, 8]
      reuse_factor: [1, 2, 4]
      pipeline_every: [0, 1, 2, 3]   # or clock_period: [2.5, 4, 8] (ns; registers by the delay model)
      multiplier: [lut, dsp]
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import itertools
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.config import MULTIPLIERS
from fpgaq.errors import FpgaqError
from fpgaq.figures import figure, png_bytes

__all__ = [
    "GRID_KEYS",
    "SETTINGS",
    "SweepError",
    "SweepGrid",
    "SweepPoint",
    "SweepResult",
    "load_grid",
    "pareto_front",
    "sweep",
]

BACKENDS = ("rtl", "hls")

#: Top-level keys of a grid file and what each takes (used in error messages).
GRID_KEYS: dict[str, str] = {
    "device": "a device preset name (see fpgaq.devices.DEVICES)",
    "backend": "rtl or hls",
    "clock_mhz": "a clock frequency in MHz > 0 (default: each point's Fmax by the delay model, else the device's)",
    "budget": "the largest fraction > 0 of each device resource a point may use (default 1.0)",
    "max_latency_cycles": "an integer >= 1: discard points with more latency cycles",
    "max_latency_ns": "a number > 0: discard points with a longer latency in ns",
    "grid": "a mapping of the swept settings to lists of values",
}

#: Swept settings (keys under ``grid``) and what each takes.
SETTINGS: dict[str, str] = {
    "weight_bits": "integers >= 1: total bits of every kernel and bias (integer bits kept)",
    "activation_bits": "integers >= 1: total bits of every quantized relu / quantized_bits output",
    "input_bits": "integers >= 1: total bits of the model inputs",
    "reuse_factor": "integers >= 1: products folded over this many cycles in dense/conv layers",
    "pipeline_every": "integers >= 0: 0 = one register per layer, N = a register every N adder levels",
    "clock_period": "periods in ns > 0: registers placed by the delay model so every stage meets it",
    "multiplier": "any of auto, lut, dsp",
}

_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "weight_bits": (None,),
    "activation_bits": (None,),
    "input_bits": (None,),
    "reuse_factor": (1,),
    "pipeline_every": (0,),
    "clock_period": (None,),
    "multiplier": ("auto",),
}


class SweepError(FpgaqError, ValueError):
    """A grid file, argument or setting that a sweep cannot use; the message says how to fix it."""


# ------------------------------------------------------------------------------ the grid
def _suggest(word: str, choices: Sequence[str]) -> str:
    close = [c for c in choices if c.startswith(str(word).lower())] or difflib.get_close_matches(
        str(word).lower(), list(choices), n=1, cutoff=0.5
    )
    return f" (did you mean {close[0]!r}?)" if close else ""


def _int_list(key: str, value: Any, minimum: int) -> tuple[int, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise SweepError(f"grid.{key}: the list is empty; give at least one value ({SETTINGS[key]})")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Integral) or v < minimum:
            raise SweepError(f"grid.{key}: {v!r} is not allowed; use {SETTINGS[key]}, e.g. {key}: [{minimum + 1}]")
    out = tuple(int(v) for v in values)
    if len(set(out)) != len(out):
        raise SweepError(f"grid.{key}: values {list(out)} repeat; list each value once")
    return out


def _choice_list(key: str, value: Any, choices: Sequence[str]) -> tuple[str, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise SweepError(f"grid.{key}: the list is empty; give at least one of {', '.join(choices)}")
    for v in values:
        if v not in choices:
            raise SweepError(
                f"grid.{key}: {v!r} is not allowed{_suggest(str(v), choices)}; use any of {', '.join(choices)}"
            )
    if len(set(values)) != len(values):
        raise SweepError(f"grid.{key}: values {list(values)} repeat; list each value once")
    return tuple(str(v) for v in values)


def _positive(key: str, value: Any, integer: bool = False) -> float | int:
    ok = not isinstance(value, bool) and isinstance(value, Integral if integer else Real) and value > 0
    if not ok or (not integer and not math.isfinite(float(value))):
        raise SweepError(f"{key}: {value!r} is not allowed; use {GRID_KEYS[key]}")
    return int(value) if integer else float(value)


@dataclasses.dataclass(frozen=True)
class SweepGrid:
    """A validated grid: the target, the filters, and the values of each swept setting."""

    device: str
    backend: str = "rtl"
    clock_mhz: float | None = None
    budget: float = 1.0
    max_latency_cycles: int | None = None
    max_latency_ns: float | None = None
    weight_bits: tuple[int | None, ...] = (None,)
    activation_bits: tuple[int | None, ...] = (None,)
    input_bits: tuple[int | None, ...] = (None,)
    reuse_factor: tuple[int, ...] = (1,)
    pipeline_every: tuple[int, ...] = (0,)
    clock_period: tuple[float | None, ...] = (None,)
    multiplier: tuple[str, ...] = ("auto",)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SweepGrid:
        """Validate a grid mapping; every error names the key, what it takes and how to fix it."""
        from fpgaq.devices import DEVICES, get_device

        if not isinstance(raw, Mapping):
            raise SweepError(
                f"sweep grid: expected a mapping with keys {', '.join(GRID_KEYS)}, got {type(raw).__name__}"
            )
        for key in raw:
            if key not in GRID_KEYS:
                raise SweepError(
                    f"sweep grid: unknown key {key!r}{_suggest(key, list(GRID_KEYS))}; the top level takes "
                    f"{', '.join(GRID_KEYS)} (swept settings go under 'grid:')"
                )
        if "device" not in raw:
            raise SweepError(f"sweep grid: 'device' is missing; add e.g. 'device: xc7a100t' ({', '.join(DEVICES)})")
        try:
            device = get_device(str(raw["device"])).name
        except ValueError:
            raise SweepError(
                f"device: {raw['device']!r} is not a known preset{_suggest(str(raw['device']), list(DEVICES))}; "
                f"use one of {', '.join(DEVICES)}"
            ) from None
        backend = raw.get("backend", "rtl")
        if backend not in BACKENDS:
            raise SweepError(f"backend: {backend!r} is not allowed; use rtl (Verilog) or hls (C++)")
        kwargs: dict[str, Any] = {"device": device, "backend": backend}
        if raw.get("clock_mhz") is not None:
            kwargs["clock_mhz"] = _positive("clock_mhz", raw["clock_mhz"])
        if raw.get("budget") is not None:
            kwargs["budget"] = _positive("budget", raw["budget"])
        if raw.get("max_latency_cycles") is not None:
            kwargs["max_latency_cycles"] = _positive("max_latency_cycles", raw["max_latency_cycles"], integer=True)
        if raw.get("max_latency_ns") is not None:
            kwargs["max_latency_ns"] = _positive("max_latency_ns", raw["max_latency_ns"])
        grid = raw.get("grid")
        if grid is None:
            raise SweepError(
                "sweep grid: 'grid' is missing; add a mapping of settings to value lists, e.g. "
                "'grid: {weight_bits: [4, 6, 8], reuse_factor: [1, 2]}'"
            )
        if not isinstance(grid, Mapping):
            raise SweepError(f"grid: expected a mapping of {', '.join(SETTINGS)} to lists, got {grid!r}")
        for key, value in grid.items():
            if key not in SETTINGS:
                raise SweepError(
                    f"grid: unknown setting {key!r}{_suggest(str(key), list(SETTINGS))}; sweepable settings are "
                    f"{', '.join(SETTINGS)}"
                )
            if key == "multiplier":
                kwargs[key] = _choice_list(key, value, MULTIPLIERS)
            elif key == "clock_period":
                if not isinstance(value, (list, tuple)) or not value:
                    raise SweepError(f"grid.clock_period: expected a non-empty list of periods in ns, got {value!r}")
                kwargs[key] = tuple(float(_positive("grid.clock_period", v)) for v in value)
            else:
                kwargs[key] = _int_list(key, value, 0 if key == "pipeline_every" else 1)
        if "clock_period" in kwargs and "pipeline_every" in kwargs:
            raise SweepError(
                "grid: pipeline_every and clock_period both place registers; sweep one of them (clock_period "
                "places them by the delay model)"
            )
        return cls(**kwargs)

    @property
    def sizes(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in SETTINGS}

    def __len__(self) -> int:
        return math.prod(self.sizes.values())

    def settings(self) -> Iterator[dict[str, Any]]:
        """Every point's settings, precision-major (points sharing a precision are adjacent)."""
        for values in itertools.product(*(getattr(self, k) for k in SETTINGS)):
            yield dict(zip(SETTINGS, values))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in GRID_KEYS if k != "grid"}
        out["grid"] = {k: list(getattr(self, k)) for k in SETTINGS if getattr(self, k) != _DEFAULTS[k]}
        return {k: v for k, v in out.items() if v is not None}


def load_grid(source: SweepGrid | Mapping[str, Any] | str | os.PathLike[str]) -> SweepGrid:
    """A :class:`SweepGrid` from a SweepGrid, a dict, or a YAML file path."""
    if isinstance(source, SweepGrid):
        return source
    if isinstance(source, Mapping):
        return SweepGrid.from_dict(source)
    if isinstance(source, (str, os.PathLike)):
        import yaml

        path = Path(source)
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as err:
            raise SweepError(f"sweep grid: cannot read {str(path)!r}: {err.strerror or err}") from None
        except yaml.YAMLError as err:
            raise SweepError(f"sweep grid: {str(path)!r} is not valid YAML: {err}") from None
        try:
            return SweepGrid.from_dict(raw if raw is not None else {})
        except SweepError as err:
            raise SweepError(f"{path}: {err}") from None
    raise SweepError(
        f"sweep grid: expected a YAML path, a dict or a SweepGrid, got {type(source).__name__}; "
        "pass e.g. 'sweep.yaml' or {'device': 'xc7a100t', 'grid': {...}}"
    )


# ------------------------------------------------------------------------------ points
@dataclasses.dataclass
class SweepPoint:
    """One point: its settings, the estimate, the filter's verdict, and what was measured on it."""

    index: int
    weight_bits: int | None
    activation_bits: int | None
    input_bits: int | None
    reuse_factor: int
    pipeline_every: int
    multiplier: str
    clock_period: float | None = None
    lut: float | None = None
    ff: float | None = None
    dsp: int | None = None
    bram: float | None = None
    latency_cycles: int | None = None
    latency_ns: float | None = None
    fmax_mhz: float | None = None
    ii: int | None = None
    fits: bool = False
    reason: str | None = None  # why the point was discarded; None for a surviving point
    accuracy: float | None = None
    synth_lut: int | None = None
    synth_ff: int | None = None
    synth_dsp: int | None = None

    @property
    def survives(self) -> bool:
        return self.reason is None

    @property
    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SETTINGS}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(SweepPoint))


def pareto_front(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """The surviving points no other surviving point dominates, by increasing LUTs.

    Objectives: fewer LUTs, shorter latency (ns), and higher accuracy when
    every surviving point has one.  A point dominates another when it is no
    worse in every objective and better in one; points equal in every
    objective are all kept.
    """
    alive = [p for p in points if p.survives and p.lut is not None and p.latency_ns is not None]
    if not alive:
        return []
    cost = np.array([[p.lut, p.latency_ns] for p in alive], dtype=np.float64)
    if all(p.accuracy is not None for p in alive):
        cost = np.column_stack([cost, [-float(p.accuracy) for p in alive]])
    front = []
    for i, p in enumerate(alive):
        no_worse = np.all(cost <= cost[i], axis=1)
        better = np.any(cost < cost[i], axis=1)
        if not np.any(no_worse & better):
            front.append(p)
    return sorted(front, key=lambda p: (p.lut, p.latency_ns, p.index))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _scatter(ax: Any, points: list[SweepPoint], label: str, *, x: str = "lut", **style: Any) -> Any:
    """``points`` at (``x``, latency) on ``ax``, labelled with their count."""
    xs = [getattr(p, x) for p in points]
    return ax.scatter(xs, [p.latency_ns for p in points], label=f"{label} ({len(points)})", **style)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file, so a file appears complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@dataclasses.dataclass
class SweepResult:
    """All points of one sweep, with the grid that produced them and where the time went."""

    design: str
    grid: SweepGrid
    points: list[SweepPoint]
    timing: dict[str, float]
    calibration: str = ""

    def pareto(self) -> list[SweepPoint]:
        """Non-dominated surviving points (see :func:`pareto_front`)."""
        return pareto_front(self.points)

    @property
    def survivors(self) -> list[SweepPoint]:
        return [p for p in self.points if p.survives]

    def to_dict(self) -> dict[str, Any]:
        front = {p.index for p in self.pareto()}
        return {
            "schema": "fpgaq-sweep/1",
            "design": self.design,
            "grid": self.grid.to_dict(),
            "estimate": self.calibration,
            "timing_s": self.timing,
            "counts": {"points": len(self.points), "survivors": len(self.survivors), "pareto": len(front)},
            "pareto": sorted(front),
            "points": [{**p.to_dict(), "pareto": p.index in front} for p in self.points],
        }

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        _write_atomic(out, (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode())
        return out

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """One row per point (empty cells for what was not computed), with a ``pareto`` column."""
        front = {p.index for p in self.pareto()}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*FIELDS, "pareto"])
        for p in self.points:
            writer.writerow([*(_cell(getattr(p, f)) for f in FIELDS), str(p.index in front)])
        out = Path(path)
        _write_atomic(out, buf.getvalue().encode())
        return out

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """PNG of LUT vs latency: survivors coloured by accuracy, discarded estimates grey, Pareto front marked."""
        fig = figure(7.5, 5.0, dpi=120)
        ax = fig.add_subplot()
        dropped = [p for p in self.points if not p.survives and p.lut is not None and p.latency_ns is not None]
        alive = [p for p in self.survivors if p.lut is not None]
        if dropped:
            _scatter(ax, dropped, "discarded", s=10, c="0.8", marker="x")
        if alive:
            accs = [p.accuracy for p in alive]
            measured = all(a is not None for a in accs)
            sc = _scatter(
                ax,
                alive,
                "within budget",
                s=18,
                c=accs if measured else "tab:blue",
                cmap="viridis" if measured else None,
            )
            if measured:
                fig.colorbar(sc, ax=ax, label="accuracy (bit-exact reference)")
        front = self.pareto()
        if front:
            _scatter(ax, front, "Pareto front", s=70, facecolors="none", edgecolors="tab:red", linewidths=1.5)
            ax.step([p.lut for p in front], [p.latency_ns for p in front], where="post", c="tab:red", lw=0.8)
            synth = [p for p in front if p.synth_lut is not None]
            if synth:
                _scatter(ax, synth, "Yosys LUTs", x="synth_lut", s=40, marker="^", c="tab:orange")
        ax.set_xlabel(f"LUTs ({self.grid.backend.upper()} estimate)")
        ax.set_ylabel("latency (ns)")
        ax.set_title(f"{self.design} on {self.grid.device}: {len(self.points)} points")
        ax.grid(True, alpha=0.3)
        if self.points:
            ax.legend(loc="best", fontsize=8)
        out = Path(path)
        _write_atomic(out, png_bytes(fig))
        return out

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """``sweep.csv``, ``sweep.json`` and ``pareto.png`` in ``out_dir``."""
        d = Path(out_dir)
        return {
            "csv": self.to_csv(d / "sweep.csv"),
            "json": self.to_json(d / "sweep.json"),
            "png": self.plot(d / "pareto.png"),
        }

    def table(self, limit: int = 20) -> str:
        """The Pareto points as a text table (what ``fpgaq sweep`` prints)."""
        cols = [
            "#",
            "w_bits",
            "a_bits",
            "in_bits",
            "reuse",
            "pipe",
            "mult",
            "LUT",
            "FF",
            "DSP",
            "cycles",
            "ns",
            "II",
            "acc",
            "synth LUT",
        ]
        rows = [cols]
        front = self.pareto()
        for p in front[:limit]:
            rows.append(
                [
                    str(p.index),
                    _cell(p.weight_bits) or "-",
                    _cell(p.activation_bits) or "-",
                    _cell(p.input_bits) or "-",
                    str(p.reuse_factor),
                    str(p.pipeline_every) if p.clock_period is None else f"{p.clock_period:g} ns",
                    p.multiplier,
                    f"{p.lut:.0f}",
                    f"{p.ff:.0f}",
                    str(p.dsp),
                    str(p.latency_cycles),
                    f"{p.latency_ns:.1f}",
                    str(p.ii),
                    "-" if p.accuracy is None else f"{p.accuracy:.4f}",
                    "-" if p.synth_lut is None else str(p.synth_lut),
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines = [
            f"{self.design} on {self.grid.device} ({self.grid.backend}): {len(self.points)} points, "
            f"{len(self.survivors)} within budget, {len(front)} on the Pareto front"
            + (f" (first {limit} shown)" if len(front) > limit else "")
        ]
        for i, r in enumerate(rows):
            lines.append("  ".join(c.rjust(w) for c, w in zip(r, widths)))
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)


# ------------------------------------------------------------------------------ the sweep
def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return np.argmax(y, axis=-1) if y.ndim == 2 else y.reshape(-1).astype(np.int64)


def _check_data(data: Any) -> tuple[Any, np.ndarray] | None:
    if data is None:
        return None
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise SweepError("sweep: data must be a pair (x, y) of inputs and labels (integers or one-hot)")
    x, y = data
    labels = _labels(y)
    n = len(x[0]) if isinstance(x, (list, tuple)) else len(x)
    if len(labels) != n:
        raise SweepError(f"sweep: data has {n} inputs but {len(labels)} labels; give one label per sample")
    return x, labels


def _over_budget(est: Any, budget: float) -> str | None:
    over = [f"{k} {u:.0%}" for k, u in est.utilization().items() if u is not None and u > budget]
    if not over:
        return None
    return f"over budget {budget:g} of {est.device.name}: " + ", ".join(over)


def _too_slow(est: Any, grid: SweepGrid) -> str | None:
    cycles = est.total.latency_cycles
    if grid.max_latency_cycles is not None and cycles > grid.max_latency_cycles:
        return f"latency {cycles} cycles > max_latency_cycles {grid.max_latency_cycles}"
    if grid.max_latency_ns is not None and est.latency_ns > grid.max_latency_ns:
        return f"latency {est.latency_ns:.1f} ns > max_latency_ns {grid.max_latency_ns:g}"
    return None


def _reuse_problem(graph: Any, reuse: int) -> str | None:
    from fpgaq.ir.passes.requantize import reuse_limit

    for node in graph.nodes:
        limit = reuse_limit(node)
        if limit is not None and reuse > limit:
            return (
                f"reuse_factor {reuse} exceeds the {limit} products per output of node {node.name!r}: the extra "
                f"cycles would do no work; use a reuse factor <= {limit}"
            )
    return None


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="pt", disable=not (enabled and sys.stderr.isatty()), leave=False)


def _as_design(model_or_design: Any, config: Any) -> Any:
    from fpgaq.design import Design, convert

    if isinstance(model_or_design, Design):
        if config is not None:
            raise SweepError("sweep: config applies when converting a Keras model; a Design already has its config")
        return model_or_design
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        keras = None
    if keras is not None and isinstance(model_or_design, keras.Model):
        return convert(model_or_design, config)
    raise SweepError(
        f"sweep: expected a keras.Model or an fpgaq Design, got {type(model_or_design).__name__}; "
        "load the model with keras.models.load_model or convert it with fpgaq.convert"
    )


def _pick(front: list[SweepPoint], n: int) -> list[SweepPoint]:
    """Up to ``n`` points spread evenly along the front (both ends included)."""
    if n >= len(front):
        return list(front)
    if n == 1:
        return [front[0]]
    idx = sorted({round(i * (len(front) - 1) / (n - 1)) for i in range(n)})
    return [front[i] for i in idx]


_ESTIMATE_FIELDS = ("lut", "ff", "dsp", "bram", "latency_cycles", "latency_ns", "fmax_mhz", "ii", "fits", "reason")
_FORKED: dict[str, Any] = {}


def _workers(workers: int | None, n_points: int) -> int:
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, Integral) or workers < 1:
            raise SweepError(f"sweep: workers must be an integer >= 1, got {workers!r}")
        return int(workers)
    if n_points < 200 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _estimate_one(p: SweepPoint, g: SweepGrid, precision_graph: Any) -> str:
    """Fill ``p``'s estimate or its reason for being discarded; returns the estimate's label."""
    from fpgaq.ir.passes.requantize import with_options
    from fpgaq.resource_model import estimate

    base = precision_graph(p.settings)
    if isinstance(base, str):
        p.reason = base
        return ""
    point = with_options(
        base, p.reuse_factor, p.pipeline_every, p.multiplier, clock_period=p.clock_period, timing_device=g.device
    )
    p.reason = _reuse_problem(point, p.reuse_factor)
    if p.reason is not None:
        return ""
    try:
        est = estimate(
            point,
            device=g.device,
            backend=g.backend,
            clock_mhz=g.clock_mhz,
            exact=False,
            use_dsp=p.multiplier != "lut",
        )
    except ValueError as err:
        p.reason = f"estimate failed: {err}"
        return ""
    t = est.total
    p.lut, p.ff, p.dsp, p.bram = float(t.lut), float(t.ff), int(t.dsp), float(t.bram)
    p.latency_cycles, p.latency_ns, p.ii = int(t.latency_cycles), float(est.latency_ns), int(t.ii)
    p.fmax_mhz = est.fmax_mhz
    p.fits = bool(est.fits(g.budget))
    p.reason = _over_budget(est, g.budget) or _too_slow(est, g)
    return est.label


def _estimate_chunk(indices: list[int]) -> tuple[list[tuple[int, dict[str, Any]]], str]:
    points, g, precision_graph = _FORKED["points"], _FORKED["grid"], _FORKED["precision_graph"]
    label, out = "", []
    for i in indices:
        label = _estimate_one(points[i], g, precision_graph) or label
        out.append((i, {k: getattr(points[i], k) for k in _ESTIMATE_FIELDS}))
    return out, label


def _estimate_points(points: list[SweepPoint], g: SweepGrid, precision_graph: Any, workers: int, progress: bool) -> str:
    bar = _progress(len(points), progress, "estimating")
    label = ""
    try:
        if workers == 1:
            for p in points:
                label = _estimate_one(p, g, precision_graph) or label
                bar.update(1)
            return label
        chunks: dict[tuple, list[int]] = {}
        for p in points:  # one chunk per layer structure: no two workers build the same one
            chunks.setdefault((p.weight_bits, p.reuse_factor, p.multiplier), []).append(p.index)
        for p in points:  # requantize every precision once, before the workers inherit them
            precision_graph(p.settings)
        _FORKED.update(points=points, grid=g, precision_graph=precision_graph)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for results, chunk_label in pool.imap_unordered(_estimate_chunk, list(chunks.values())):
                    label = chunk_label or label
                    for i, fields in results:
                        for k, v in fields.items():
                            setattr(points[i], k, v)
                    bar.update(len(results))
        finally:
            _FORKED.clear()
        return label
    finally:
        bar.close()


def _synthesize(
    points: list[SweepPoint], graphs: Any, design: Any, grid: SweepGrid, out_dir: Path | None, progress: bool
) -> None:
    from fpgaq.design import Design
    from fpgaq.devices import get_device
    from fpgaq.sim.synth import synthesize_project

    device = get_device(grid.device)
    with tempfile.TemporaryDirectory(prefix="fpgaq-sweep-") as tmp:
        root = (out_dir / "synth") if out_dir is not None else Path(tmp)
        bar = _progress(len(points), progress, "synthesizing")
        try:
            for p in points:
                project = root / f"point_{p.index:05d}"
                Design(graphs(p), design.config).write_rtl(project, force=True)
                result, _ = synthesize_project(project, device=device.synth_device, dsp=p.multiplier != "lut")
                p.synth_lut, p.synth_ff, p.synth_dsp = int(result.luts), int(result.ffs), int(result.dsp)
                bar.update(1)
        finally:
            bar.close()


def sweep(
    model_or_design: Any,
    grid: SweepGrid | Mapping[str, Any] | str | os.PathLike[str],
    data: tuple[Any, Any] | None = None,
    synthesize: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    config: Any = None,
    workers: int | None = None,
) -> SweepResult:
    """Estimate every grid point, filter, score and (optionally) synthesize the Pareto front.

    ``model_or_design``: a quantized keras.Model (converted once with
    ``config``) or a Design.  ``data``: ``(x, y)`` to measure accuracy with
    the bit-exact reference (labels as integers or one-hot), evaluated once
    per precision among the points that survive the filters.
    ``synthesize``: synthesize up to that many Pareto points with Yosys
    (RTL back end only), spread along the front.  ``out_dir``: write
    ``sweep.csv``, ``sweep.json``, ``pareto.png`` (and the synthesized
    projects under ``synth/``) there.  ``progress``: a tqdm bar on a terminal.
    ``workers``: processes that estimate in parallel (default: up to two,
    from 200 points on); points are split by the settings that change a
    layer's structure (weight bits, reuse factor, multiplier), so no two
    workers build the same structure.
    """
    from fpgaq.design import Design
    from fpgaq.ir.passes.requantize import reopen_types, requantize, with_options

    g = load_grid(grid)
    if isinstance(synthesize, bool) or not isinstance(synthesize, Integral) or synthesize < 0:
        raise SweepError(f"sweep: synthesize must be an integer >= 0 (Pareto points to synthesize), got {synthesize!r}")
    if synthesize and g.backend != "rtl":
        raise SweepError(
            "sweep: synthesize needs backend: rtl (Yosys synthesizes the Verilog back end; HLS needs a vendor tool); "
            "set backend: rtl in the grid or synthesize: 0"
        )
    checked = _check_data(data)
    t0 = time.perf_counter()
    design = _as_design(model_or_design, config)
    opened = reopen_types(design.graph, design.config)
    t_prepare = time.perf_counter() - t0

    precisions: dict[tuple, Any] = {}  # (weight, activation, input bits) -> requantized graph or error text

    def precision_graph(s: Mapping[str, Any]) -> Any:
        key = (s["weight_bits"], s["activation_bits"], s["input_bits"])
        if key not in precisions:
            if key == (None, None, None):
                precisions[key] = design.graph
            else:
                try:
                    precisions[key] = requantize(opened, *key[:2], input_bits=key[2], config=design.config)
                except ValueError as err:
                    precisions[key] = f"precision {key}: {err}"
        return precisions[key]

    def point_graph(p: SweepPoint) -> Any:
        return with_options(
            precision_graph(p.settings),
            p.reuse_factor,
            p.pipeline_every,
            p.multiplier,
            clock_period=p.clock_period,
            timing_device=g.device,
        )

    points = [SweepPoint(i, **s) for i, s in enumerate(g.settings())]
    t1 = time.perf_counter()
    calibration = _estimate_points(points, g, precision_graph, _workers(workers, len(points)), progress)
    t_estimate = time.perf_counter() - t1

    t2 = time.perf_counter()
    if checked is not None:
        x, labels = checked
        scores: dict[tuple, float] = {}
        for p in points:
            if not p.survives:
                continue
            key = (p.weight_bits, p.activation_bits, p.input_bits)
            if key not in scores:
                pred = Design(precision_graph(p.settings), design.config).predict(x)
                if isinstance(pred, list):
                    raise SweepError(
                        f"sweep: design {design.name!r} has {len(pred)} outputs; accuracy needs a single "
                        "classifier output"
                    )
                scores[key] = float(np.mean(np.argmax(pred, axis=-1) == labels))
            p.accuracy = scores[key]
    t_accuracy = time.perf_counter() - t2

    t3 = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    if synthesize:
        _synthesize(_pick(pareto_front(points), int(synthesize)), point_graph, design, g, out, progress)
    t_synth = time.perf_counter() - t3

    timing = {
        "prepare": t_prepare,
        "estimate": t_estimate,
        "accuracy": t_accuracy,
        "synthesize": t_synth,
        "points_per_s": len(points) / t_estimate if t_estimate > 0 else 0.0,
    }
    result = SweepResult(design.name, g, points, timing, calibration)
    if out is not None:
        result.write(out)
    return result
