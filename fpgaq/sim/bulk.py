"""The RTL as a compiled Verilator model driven from NumPy: bulk proof at simulator speed.

cocotb checks the protocol (stalls, back-pressure, measured latency) one beat at a
time through Python, about two thousand samples a second.  For numbers (a
validation set, every point of a sweep) this module compiles the project's
Verilog once with Verilator into a shared library with a small harness of our
own (``templates/sim/bulk_harness.cpp.j2``) that streams whole batches of input
buses through the pipeline at its II, and reads the output buses back; the
buses cross as little-endian 32-bit words packed by NumPy.  Libraries are cached
by content (the Verilog, the harness, Verilator's version and the flags) in
``$FPGAQ_CACHE/rtl`` or ``~/.cache/fpgaq/rtl``, like the C-simulation's.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.reference import graph_input_mantissas
from fpgaq.sim import build_cache
from fpgaq.sim._cosim_data import (
    CosimError,
    as_matrix,
    bus_bits,
    check_ranges,
    load_manifest,
    pack_bus_words,
    ports,
    unpack_bus_words,
)
from fpgaq.templating import template_environment

__all__ = ["RtlModel", "cache_dir", "compile_rtl", "design_rtl_model", "predict_rtl"]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "sim"
#: Verilator options: speed over checks (lint is fpgaq.sim.verilator.lint's job, cocotb's bench checks X),
#: and the model's C++ cut into functions of about a thousand statements in files of a few thousand: g++'s
#: time grows faster than linearly with a function's size (the jet tagger's one 0.9 MB function took 40 s
#: at -O1 and ran slower at -O2), and several files compile in parallel.
VERILATOR_ARGS = (
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "--noassert",
    "-Wno-fatal",
    "--output-split-cfuncs",
    "1000",
    "--output-split",
    "8000",
)
#: The C++ of the model.  Jet tagger, best of four runs of 100k samples (benchmarks/rtl_emulation.py
#: measures the whole path): -O2 264k samples/s, -O1 251k, -O1 unsplit 206k (its build 78 s).
CXX_OPT = "-O2"
#: ``optimize=False``: for a few thousand samples (tests, the soak) the build is the cost, not the run.
CXX_QUICK = "-O0"
_LIB = "libfpgaq_rtl.so"
#: Elements up to this width cross into the library as int64 (wider ones as packed bus words).
_ELEMENT_BITS = 62
#: Fewer samples than this per call are not split across threads.
_MIN_BATCH = 2048


def cache_dir() -> Path:
    """Where compiled RTL models are kept: ``$FPGAQ_CACHE/rtl`` or ``~/.cache/fpgaq/rtl``."""
    return build_cache.cache_dir("rtl")


class RtlModel:
    """A project's RTL compiled into a shared library: input mantissas in, output mantissas out."""

    def __init__(self, library: Path, manifest: dict[str, Any]) -> None:
        self.path = library
        self.manifest = manifest
        self.in_ports, self.out_ports = ports(manifest, "inputs"), ports(manifest, "outputs")
        self._lib = ctypes.CDLL(str(library))
        for run in (self._lib.fpgaq_run_words, self._lib.fpgaq_run_elements):
            run.restype = ctypes.c_long
            run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
        self.in_words = int(self._lib.fpgaq_in_words())
        self.out_words = int(self._lib.fpgaq_out_words())
        # elements cross as int64 and the harness places them on the buses, unless one is too wide
        self._by_element = all(p.width <= _ELEMENT_BITS for p in self.in_ports + self.out_ports)

    def run(self, inputs: list[np.ndarray], threads: int | None = None, batch: int = 32768) -> list[np.ndarray]:
        """Output mantissas (one (N, elements) array per output) for input mantissas, one array per input.

        Batches run on ``threads`` instances of the model at once (default: one per CPU): samples are
        independent, so splitting the stream scales with cores where Verilator's own ``--threads``
        (one model cut into parallel tasks) did not pay on these designs.
        """
        n = len(inputs[0])
        mats = [as_matrix(x, p, n, "input") for x, p in zip(inputs, self.in_ports)]
        check_ranges(mats, self.in_ports)
        threads = default_threads() if threads is None else threads
        if threads < 1:
            raise CosimError(f"threads must be >= 1, got {threads}")
        # as many equal batches as keep every thread busy, none larger than batch nor (when the data
        # allows) smaller than _MIN_BATCH, where the model's construction and reset would show
        rounds = -(-n // (threads * batch)) if n else 1
        size = max(-(-n // (threads * rounds)), min(n, _MIN_BATCH, batch), 1)
        starts = range(0, n, size)
        if threads == 1 or len(starts) < 2:
            parts = [self._run_batch([m[s : s + size] for m in mats]) for s in starts]
        else:
            with ThreadPoolExecutor(min(threads, len(starts))) as pool:
                parts = list(pool.map(lambda s: self._run_batch([m[s : s + size] for m in mats]), starts))
        return [
            np.concatenate([part[k] for part in parts]) if parts else np.zeros((0, p.elements), np.int64)
            for k, p in enumerate(self.out_ports)
        ]

    def _run_batch(self, block: list[np.ndarray]) -> list[np.ndarray]:
        """One call into the library (which releases the GIL: ctypes does): a fresh model, reset, streamed."""
        m = len(block[0])
        latency, ii = int(self.manifest["latency"]), max(int(self.manifest["ii"]), 1)
        limit = (m + 2) * ii + latency + 16
        if self._by_element and all(b.dtype != object for b in block):
            flat = np.ascontiguousarray(np.concatenate([b.reshape(m, -1) for b in block], axis=1), dtype=np.int64)
            out = np.empty((m, sum(p.elements for p in self.out_ports)), dtype=np.int64)
            got = self._lib.fpgaq_run_elements(flat.ctypes.data, out.ctypes.data, m, limit)
            bounds = np.cumsum([p.elements for p in self.out_ports])[:-1]
            results = np.split(out, bounds, axis=1)
        else:
            words = np.ascontiguousarray(pack_bus_words(block, self.in_ports, self.in_words))
            out = np.zeros((m, self.out_words), dtype="<u4")
            got = self._lib.fpgaq_run_words(words.ctypes.data, out.ctypes.data, m, limit)
            results = unpack_bus_words(out, self.out_ports)
        if got != m:
            raise CosimError(
                f"{self.manifest['top']}: {got} of {m} outputs came out within {limit} cycles "
                f"(latency {latency}, II {ii}); run fpgaq cosim on the project to see the protocol"
            )
        return results


def default_threads() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _verilator_id() -> str:
    from fpgaq.sim.verilator import version

    return version()


def _sources(manifest: dict[str, Any]) -> list[str]:
    """The Verilog to compile: with ternary adders, their Xilinx spelling and fpgaq's models of its
    primitives (``simulation_files``, see :func:`fpgaq.converters.rtl.project_sources`)."""
    return list(manifest.get("simulation_files", manifest["files"]))


def _digest(project: Path, manifest: dict[str, Any], harness: str, opt: str) -> str:
    sources = [part for rel in _sources(manifest) for part in (rel, (project / rel).read_bytes())]
    return build_cache.content_key([*sources, manifest["top"], harness, _verilator_id(), *VERILATOR_ARGS, opt])


def compile_rtl(project_dir: str | os.PathLike[str], optimize: bool = True) -> RtlModel:
    """Build (or fetch from the cache) the bulk model of an RTL project written by ``design.write_rtl``.

    ``optimize=False`` compiles the model's C++ without optimisation: a fraction of the build time and
    a third of the speed, the better trade below some ten thousand samples.
    """
    project = Path(project_dir)
    manifest = load_manifest(project)
    top = manifest["top"]
    in_bits, out_bits = bus_bits(ports(manifest, "inputs")), bus_bits(ports(manifest, "outputs"))
    harness = (
        template_environment(_TEMPLATES)
        .get_template("bulk_harness.cpp.j2")
        .render(
            top=top,
            in_ports=ports(manifest, "inputs"),
            out_ports=ports(manifest, "outputs"),
            in_bits=in_bits,
            out_bits=out_bits,
            in_words=(in_bits + 31) // 32,
            out_words=(out_bits + 31) // 32,
        )
    )
    opt = CXX_OPT if optimize else CXX_QUICK
    final = cache_dir() / _digest(project, manifest, harness, opt) / _LIB
    if not final.is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="fpgaq-rtl-") as tmp:
            built = _build(Path(tmp), project, manifest, harness, opt)
            staged = final.parent / f".{_LIB}.{os.getpid()}.tmp"
            shutil.copy2(built, staged)
            os.replace(staged, final)  # atomic: concurrent builders of one key are harmless
    return RtlModel(final, manifest)


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    from fpgaq.sim.verilator import environment

    proc = subprocess.run(cmd, cwd=cwd, env=environment(), capture_output=True, text=True)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-20000:]
        raise CosimError(f"Verilator could not build the bulk model of {what} ({' '.join(cmd)}):\n{log}")


def _build(work: Path, project: Path, manifest: dict[str, Any], harness: str, opt: str) -> Path:
    """Verilate, seed Verilator's runtime objects from the cache (they dominate a small design's build),
    compile and link the shared library; the library's path in ``work``."""
    from fpgaq.sim.verilator import executable, make_variables

    top = manifest["top"]
    (work / "harness.cpp").write_text(harness, encoding="utf-8")
    obj = work / "obj"
    cmd = [executable(), "--cc", "--exe", "--top-module", top, *VERILATOR_ARGS, "--Mdir", str(obj), "-o", _LIB]
    cmd += ["-CFLAGS", "-fPIC", "-LDFLAGS", "-shared"]
    cmd += [str(work / "harness.cpp"), *(str(project / f) for f in _sources(manifest))]
    _run(cmd, work, top)
    runtime = cache_dir() / f"runtime-{build_cache.content_key([_verilator_id()])[:16]}"
    build_cache.seed_runtime_objects(runtime, obj)
    _run(["make", "-C", str(obj), "-f", f"V{top}.mk", "-j", "2", *make_variables(opt)], work, top)
    build_cache.store_runtime_objects(obj, runtime)
    built = obj / _LIB
    if not built.is_file():
        raise CosimError(f"Verilator's build of {top} left no {_LIB} in {obj}")
    return built


def design_rtl_model(design: Any, optimize: bool = True, **rtl_options: Any) -> RtlModel:
    """The bulk model of ``design``'s RTL (written to a scratch directory, then compiled or fetched)."""
    with tempfile.TemporaryDirectory(prefix="fpgaq-rtl-project-") as tmp:
        project = Path(tmp) / "project"
        design.write_rtl(project, **rtl_options)
        return compile_rtl(project, optimize)


def predict_rtl(design: Any, model: RtlModel, x: Any, threads: int | None = None) -> list[np.ndarray]:
    """Output mantissas of ``design``'s RTL for float inputs ``x`` (one array per graph output)."""
    graph = design.graph
    outs = model.run(graph_input_mantissas(graph, x), threads)
    return [o.reshape(len(o), *graph.tensors[t].shape) for t, o in zip(graph.outputs, outs)]
