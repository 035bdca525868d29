"""Co-simulation of a generated RTL project with cocotb + Verilator, bit for bit against expected mantissas.

A project (what ``design.write_rtl`` writes) holds ``rtl/*.v``, ``filelist.f``
and the manifest ``fpgaq_rtl.json`` (top module, latency, II, and the
``inputs``/``outputs`` bus layout).  :func:`cosimulate` builds the project
once with Verilator through cocotb's Python runner (cached by content, see
``_cosim_build``), drives the input beats with random idle cycles and random
back-pressure through the bench ``testbench/fpgaq_axis_bench.py``, and
compares every output element with the expected mantissas.  It measures
latency and II on a back-to-back phase, checks them against the manifest,
and reports handshake violations.

Run directory (default ``<project>/sim/``)::

    bench.json     the bench's settings (samples, latency phase, idle and back-pressure probabilities, seed, ...)
    inputs.hex     one line per sample: the packed ``in_data`` bus in hexadecimal, most significant digit first
    results.json   written by the bench: output words, accept and output edges, protocol errors, counters
    results.xml    cocotb's xUnit result
    sim.log        the simulator's log
    <top>.fst      the waveform with ``waves=True`` (``<top>.vcd`` where the FST writer cannot be compiled)

Data files for ``fpgaq cosim DIR`` (the RTL writer produces them with
:func:`write_vectors`): the manifest's ``"data"`` entry
``{"samples": N, "inputs": [...], "expected": [...]}`` lists one ``.npy`` file
per graph input and per graph output, in manifest order, paths relative to
the project.  Each holds the mantissas of N samples, shape ``(N, *shape)``:
``int64``, or a unicode array of decimal integers when a value does not
fit int64 (so that no file needs pickle).  Without a ``"data"`` entry the
names ``data/inputs_int.npy`` and ``data/expected_int.npy`` are used (with
``_<k>`` before ``.npy`` when there are several tensors).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.reference import input_mantissas
from fpgaq.sim._cosim_build import (
    BUILD_ARGS,
    CXX_OPT,
    build,
    cache_dir,
    fst_available,
    log_tail,
    runner,
    tool_environment,
)
from fpgaq.sim._cosim_data import (
    MANIFEST,
    CosimError,
    Port,
    as_matrix,
    load_manifest,
    pack_words,
    ports,
    read_vectors,
    unpack_words,
    write_vectors,
)

__all__ = [
    "BUILD_ARGS",
    "CXX_OPT",
    "MANIFEST",
    "CosimError",
    "CosimMismatch",
    "CosimResult",
    "Port",
    "build",
    "cache_dir",
    "compare_outputs",
    "cosimulate",
    "design_cosim",
    "fst_available",
    "load_manifest",
    "pack_words",
    "read_vectors",
    "unpack_words",
    "write_vectors",
]

#: The bench, imported by cocotb as a top-level module from ``fpgaq/sim/testbench`` so that the simulator's
#: Python does not import the fpgaq package (and with it Keras and TensorFlow: tens of seconds).
BENCH_MODULE = "fpgaq_axis_bench"
BENCH_DIR = Path(__file__).resolve().parent / "testbench"
_PLUSARGS = ("+verilator+rand+reset+2",)
_MAX_STORED_MISMATCHES = 1000


# ----------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class CosimMismatch:
    """One output element that differs: sample index, output tensor, flat (C-order) element index."""

    sample: int
    output: str
    index: int
    expected: int
    got: int

    def __str__(self) -> str:
        return f"sample {self.sample} output {self.output}[{self.index}]: expected {self.expected}, got {self.got}"


@dataclasses.dataclass
class CosimResult:
    """What a co-simulation found; ``passed`` means bit-exact, protocol clean and timing as reported."""

    top: str
    n_samples: int
    mismatches: list[CosimMismatch]
    mismatch_count: int
    measured_latency: int | None
    reported_latency: int
    measured_ii: int | None
    reported_ii: int
    protocol_errors: list[str]
    timing_errors: list[str]
    build_time: float
    run_time: float
    cached: bool
    waves: Path | None
    run_dir: Path
    outputs: list[np.ndarray]
    latency_samples: int
    cycles: int = 0
    stall_cycles: int = 0
    idle_cycles: int = 0
    input_wait_cycles: int = 0
    ready_probes: int = 0
    sim_time: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.n_samples > 0 and not (self.mismatch_count or self.protocol_errors or self.timing_errors)

    @property
    def samples_per_second(self) -> float:
        """Samples (both phases) through the bench per second of simulation wall time."""
        return (self.n_samples + self.latency_samples) / self.sim_time if self.sim_time > 0 else 0.0

    def report(self, limit: int = 20) -> str:
        verdict = "PASSED: bit-exact, protocol clean" if self.passed else "FAILED"
        lines = [f"co-simulation of {self.top}: {self.n_samples} samples, {verdict}"]
        lat = "?" if self.measured_latency is None else self.measured_latency
        ii = "?" if self.measured_ii is None else self.measured_ii
        lines.append(
            f"  latency {lat} cycles (manifest {self.reported_latency}), II {ii} (manifest {self.reported_ii}), "
            f"measured on {self.latency_samples} back-to-back samples"
        )
        lines.append(
            f"  {self.cycles} cycles: {self.stall_cycles} back-pressure stalls, {self.idle_cycles} idle input "
            f"cycles, {self.input_wait_cycles} cycles waiting for in_ready"
        )
        build = "cached" if self.cached else f"{self.build_time:.1f} s"
        lines.append(
            f"  build {build}, run {self.run_time:.1f} s ({self.samples_per_second:,.0f} samples/s in the bench)"
        )
        if self.waves is not None:
            lines.append(f"  waves: {self.waves}")
        for message in self.timing_errors:
            lines.append(f"  timing: {message}")
        for message in self.protocol_errors[:limit]:
            lines.append(f"  protocol: {message}")
        if self.mismatch_count:
            samples = len({m.sample for m in self.mismatches})
            more = "+" if self.mismatch_count > len(self.mismatches) else ""
            lines.append(f"  {self.mismatch_count} mismatching output elements in {samples}{more} samples:")
            for m in self.mismatches[:limit]:
                lines.append(f"    {m}")
            if len(self.mismatches) > limit:
                lines.append(f"    ... {self.mismatch_count - limit} more")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


# ----------------------------------------------------------------------------- running
def _settings(n: int, k: int, manifest: dict[str, Any], idle: float, backpressure: float, seed: int) -> dict:
    latency, ii = int(manifest["latency"]), max(1, int(manifest["ii"]))
    slack = 1.0 / ((1.0 - idle) * (1.0 - backpressure))
    return {
        "samples": n,
        "latency_samples": k,
        "idle": idle,
        "backpressure": backpressure,
        "seed": seed,
        "reset_cycles": 4,
        "drain_cycles": min(10_000, latency + 4 * ii + 16),
        "watchdog_cycles": int((1000 + 4 * (latency + ii)) * slack),
        "probe_ready": 256,
    }


@contextlib.contextmanager
def _bench_on_path() -> Iterator[None]:
    """The runner hands the simulator ``PYTHONPATH = sys.path``; the bench directory must be on it."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(BENCH_DIR))


def _simulate(build_dir: Path, top: str, run_dir: Path, waves: Path | None, seed: int) -> None:
    log = run_dir / "sim.log"
    try:
        with tool_environment({"FPGAQ_COSIM_RUN": str(run_dir)}), _bench_on_path():
            runner().test(
                test_module=BENCH_MODULE,
                hdl_toplevel=top,
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=run_dir,
                results_xml=str(run_dir / "results.xml"),
                waves=waves is not None,
                test_args=["--trace-file", str(waves)] if waves is not None else [],
                plusargs=[*_PLUSARGS, f"+verilator+seed+{seed % (2**31 - 1) + 1}"],
                seed=seed,
                log_file=log,
            )
    except (RuntimeError, SystemExit, OSError) as err:
        raise CosimError(f"the simulation of {top!r} failed ({err}); the end of {log}:\n{log_tail(log)}") from None
    if not (run_dir / "results.json").is_file():
        raise CosimError(f"the bench wrote no results for {top!r}; the end of {log}:\n{log_tail(log)}")


def _prepare(
    manifest: dict[str, Any], inputs: Any, design: Any, expected: Any, samples: int | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Input and expected mantissas as (N, elements) matrices, in manifest order."""
    in_ports, out_ports = ports(manifest, "inputs"), ports(manifest, "outputs")
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(xs) != len(in_ports):
        raise CosimError(f"{manifest['top']} has {len(in_ports)} inputs, got {len(xs)} arrays")
    if samples is not None:
        xs = [np.asarray(x)[: int(samples)] for x in xs]
    if design is not None:
        graph = design.graph
        for kind, names, port_list in (("inputs", graph.inputs, in_ports), ("outputs", graph.outputs, out_ports)):
            if list(names) != [p.tensor for p in port_list]:
                raise CosimError(
                    f"the design's {kind} {list(names)} are not the project's {[p.tensor for p in port_list]}; "
                    f"was the project written from this design?"
                )
        values = [np.asarray(x, dtype=np.float64) for x in xs]
        if expected is None:
            expected = design.predict_int(values)
        xs = [input_mantissas(graph.tensors[t], v) for t, v in zip(graph.inputs, values)]
    elif expected is None:
        raise CosimError("cosimulate needs the expected output mantissas (expected=...) or the design (design=...)")
    ys = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    if len(ys) != len(out_ports):
        raise CosimError(f"{manifest['top']} has {len(out_ports)} outputs, got {len(ys)} expected arrays")
    if samples is not None:
        ys = [np.asarray(y)[: int(samples)] for y in ys]
    n = len(np.asarray(xs[0]))
    x_mats = [as_matrix(x, p, n, "input") for x, p in zip(xs, in_ports)]
    y_mats = [as_matrix(y, p, n, "expected output") for y, p in zip(ys, out_ports)]
    return x_mats, y_mats


def compare_outputs(
    got: list[np.ndarray], want: list[np.ndarray], beat_samples: np.ndarray, ports: list[Port]
) -> tuple[list[CosimMismatch], int, list[str]]:
    """``(mismatches, count, notes)`` of output beats ``got`` (row r carries sample ``beat_samples[r]``)
    against the expected mantissas ``want``, one (N, elements) matrix per output port; notes name
    beats that carry a neighbouring sample's result."""
    seen: set[tuple[int, str, int, int]] = set()
    mismatches: list[CosimMismatch] = []
    bad_rows = np.zeros(len(beat_samples), dtype=bool)
    for g, w, p in zip(got, want, ports):
        expected = w[beat_samples]
        if g.dtype == object or expected.dtype == object:
            g, expected = g.astype(object), expected.astype(object)
        rows, cols = np.nonzero(g != expected)
        bad_rows[rows] = True
        for r, c in zip(rows.tolist(), cols.tolist()):
            key = (int(beat_samples[r]), p.tensor, c, int(g[r, c]))
            if key not in seen:
                seen.add(key)
                mismatches.append(CosimMismatch(key[0], p.tensor, c, int(expected[r, c]), key[3]))
    mismatches.sort(key=lambda m: (m.sample, [q.tensor for q in ports].index(m.output), m.index))
    notes = []
    for r in np.nonzero(bad_rows)[0][:5].tolist():
        s = int(beat_samples[r])
        for t in (s - 2, s - 1, s + 1, s + 2):
            if 0 <= t < len(want[0]) and all(np.array_equal(g[r], w[t]) for g, w in zip(got, want)):
                notes.append(f"the output beat for sample {s} carries sample {t}'s result (beats lost or reordered?)")
                break
    return mismatches, len(seen), notes


def _timing(results: dict[str, Any], k: int, manifest: dict[str, Any]) -> tuple[int | None, int | None, list[str]]:
    acc, out = results["accept_cycles"][:k], results["output_cycles"][:k]
    errors: list[str] = []
    lat = [o - a for a, o in zip(acc, out)]
    latency = max(lat) if lat else None
    if lat and min(lat) != latency:
        errors.append(f"latency varies between {min(lat)} and {latency} cycles with out_ready held high")
    if latency is not None and latency != int(manifest["latency"]):
        errors.append(f"measured latency {latency} cycles, the manifest says {manifest['latency']}")
    gaps = np.diff(acc).tolist() if len(acc) > 1 else []
    ii = max(gaps) if gaps else None
    if gaps and min(gaps) != ii:
        errors.append(f"inputs accepted irregularly (every {min(gaps)} to {ii} cycles) with in_valid held high")
    if ii is not None and ii != int(manifest["ii"]):
        errors.append(f"measured II {ii} cycles, the manifest says {manifest['ii']}")
    return latency, ii, errors


def _wave_target(waves: bool | str | os.PathLike[str], run: Path, top: str) -> tuple[Path | None, str | None]:
    """Where the waveform goes and its format: FST where it can be compiled, else VCD (or as the suffix says)."""
    if waves is False or waves is None:
        return None, None
    if waves is True:
        fmt = "fst" if fst_available() else "vcd"
        path = run / f"{top}.{fmt}"
    else:
        path = Path(waves)
        fmt = {".fst": "fst", ".vcd": "vcd"}.get(path.suffix.lower(), "fst" if fst_available() else "vcd")
        if fmt == "fst" and not fst_available():
            raise CosimError(
                f"cannot write {path}: Verilator's FST writer needs the lz4 and zlib headers "
                f"(apt install liblz4-dev zlib1g-dev); name a .vcd file instead"
            )
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, fmt


def cosimulate(
    project_dir: str | os.PathLike[str],
    inputs: Any,
    design: Any = None,
    *,
    expected: Any = None,
    samples: int | None = None,
    idle: float = 0.2,
    backpressure: float = 0.2,
    seed: int = 0,
    waves: bool | str | os.PathLike[str] = False,
    latency_samples: int = 16,
    run_dir: str | os.PathLike[str] | None = None,
    verilator_args: Sequence[str] = (),
    cxx_opt: str = CXX_OPT,
) -> CosimResult:
    """Simulate the RTL project on ``inputs`` and compare every output bit with ``expected``.

    Without ``design``, ``inputs`` and ``expected`` are integer mantissas, one
    array of shape ``(N, *shape)`` per graph input/output (a single array for
    one).  With ``design``, ``inputs`` are values, quantized into the input
    types as the reference does, and ``expected`` defaults to
    ``design.predict_int(inputs)``.  ``idle`` and ``backpressure`` are the
    per-cycle probabilities of a gap before an input beat and of ``out_ready``
    low; ``waves`` (True or a path) writes a waveform, by default
    ``<run_dir>/<top>.fst``, or ``.vcd`` where the FST writer cannot be
    compiled (no lz4 headers).
    """
    for name, p in (("idle", idle), ("backpressure", backpressure)):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"cosimulate: {name}={p} is not a probability in [0, 1); use e.g. 0.2")
    root = Path(project_dir)
    manifest = load_manifest(root)
    top = str(manifest["top"])
    in_ports, out_ports = ports(manifest, "inputs"), ports(manifest, "outputs")
    x_mats, y_mats = _prepare(manifest, inputs, design, expected, samples)
    n = len(x_mats[0])
    if n == 0:
        raise CosimError("cosimulate: no samples to simulate")
    words = pack_words(x_mats, in_ports)
    k = max(0, min(int(latency_samples), n))

    run = Path(run_dir) if run_dir is not None else root / "sim"
    run.mkdir(parents=True, exist_ok=True)
    for stale in ("results.json", "results.xml"):
        (run / stale).unlink(missing_ok=True)
    wave_path, wave_format = _wave_target(waves, run, top)
    (run / "bench.json").write_text(json.dumps(_settings(n, k, manifest, idle, backpressure, seed), indent=1))
    (run / "inputs.hex").write_text("\n".join(words) + "\n")

    build_dir, build_time, cached = build(root, waves=wave_format, verilator_args=verilator_args, cxx_opt=cxx_opt)
    start = time.perf_counter()
    _simulate(build_dir, top, run.resolve(), wave_path, seed)
    run_time = time.perf_counter() - start
    results = json.loads((run / "results.json").read_text())

    protocol = list(results["errors"])
    delivered = len(results["outputs"])
    if delivered < k + n:
        protocol.append(f"only {delivered} of {k + n} output beats arrived")
    beat_samples = np.array([b if b < k else b - k for b in range(delivered)], dtype=np.int64)
    got = unpack_words(results["outputs"], out_ports) if delivered else [np.zeros((0, p.elements)) for p in out_ports]
    mismatches, count, notes = compare_outputs(got, y_mats, beat_samples, out_ports)
    latency, ii, timing = _timing(results, k, manifest)
    tail = [g[k:].reshape(-1, *p.shape) for g, p in zip(got, out_ports)]
    return CosimResult(
        top=top,
        n_samples=n,
        mismatches=mismatches[:_MAX_STORED_MISMATCHES],
        mismatch_count=count,
        measured_latency=latency,
        reported_latency=int(manifest["latency"]),
        measured_ii=ii,
        reported_ii=int(manifest["ii"]),
        protocol_errors=protocol,
        timing_errors=timing,
        build_time=build_time,
        run_time=run_time,
        cached=cached,
        waves=wave_path if wave_path is not None and wave_path.is_file() else None,
        run_dir=run,
        outputs=tail,
        latency_samples=k,
        cycles=int(results["cycles"]),
        stall_cycles=int(results["stall_cycles"]),
        idle_cycles=int(results["idle_cycles"]),
        input_wait_cycles=int(results["input_wait_cycles"]),
        ready_probes=int(results["probes"]),
        sim_time=float(results.get("wall_time", 0.0)),
        notes=notes,
    )


def design_cosim(design: Any, x: Any, *, directory: str | os.PathLike[str] | None = None, **kw: Any) -> CosimResult:
    """Write the design's RTL and co-simulate it on ``x`` against ``design.predict_int(x)``.

    ``directory`` keeps the project (it must not exist yet); without it a
    temporary one is removed afterwards unless the run failed or wrote waves,
    in which case ``result.run_dir`` points into it.
    """
    keep = directory is not None
    base = Path(directory) if keep else Path(tempfile.mkdtemp(prefix="fpgaq-cosim-"))
    project = base if keep else base / "project"
    ok = False
    try:
        design.write_rtl(project, force=False)
        result = cosimulate(project, x, design, **kw)
        ok = result.passed and result.waves is None
        return result
    finally:
        if not keep and ok:
            shutil.rmtree(base, ignore_errors=True)
