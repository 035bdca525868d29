"""C-simulation of the generated HLS C++ with g++: no vendor tool needed.

Two ways in, one compiler setup:

* :func:`compile_design` builds the design's firmware and the generated
  ``extern "C"`` bridge into a shared library, loads it with ctypes and
  returns a :class:`CompiledDesign` that runs samples in bulk (mantissas in,
  mantissas out, optionally every layer's outputs).  Libraries are cached by
  a content hash of the sources, the compiler and the flags, in
  ``$FPGAQ_CACHE`` or ``~/.cache/fpgaq/csim``.
* :func:`csim` runs a written project's own testbench on its ``tb_data``
  files and reports mismatches by sample and output index, and the first
  layer whose outputs diverge.

The ac_fixed flavor compiles against fpgaq's own headers (``include/``)
unless ``AC_TYPES_DIR`` names a real ac_types installation; the Vitis flavor
needs the ap_types headers (``AP_TYPES_DIR``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fpgaq.converters.hls import CXXFLAGS, render_hls
from fpgaq.errors import FpgaqError
from fpgaq.reference import graph_input_mantissas
from fpgaq.sim import build_cache

__all__ = [
    "CompiledDesign",
    "CsimError",
    "CsimReport",
    "Mismatch",
    "cache_dir",
    "compare",
    "compile_design",
    "csim",
]

_LIB_SOURCES = ("firmware/", "include/", "tb/")


class CsimError(FpgaqError, RuntimeError):
    """The C++ did not compile or the testbench could not run; the message holds the compiler's output."""


# ----------------------------------------------------------------------------- compiler setup
def cache_dir() -> Path:
    """Where compiled libraries and testbenches are kept: ``$FPGAQ_CACHE/csim`` or ``~/.cache/fpgaq/csim``."""
    return build_cache.cache_dir("csim")


@functools.lru_cache(maxsize=4)
def _compiler_id(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise CsimError(f"C-simulation needs a C++ compiler; {cxx!r} did not run ({err}); install g++") from None
    return out.splitlines()[0] if out else cxx


def _types_dir(flavor: str, types_dir: str | os.PathLike[str] | None) -> Path | None:
    """The external fixed-point headers to compile against (None: fpgaq's own ac_fixed)."""
    if types_dir is not None:
        return Path(types_dir)
    if flavor == "vitis":
        env = os.environ.get("AP_TYPES_DIR")
        if not env:
            raise CsimError(
                "the Vitis flavor needs the ap_types headers (ap_fixed.h); set AP_TYPES_DIR or pass types_dir="
            )
        return Path(env)
    env = os.environ.get("AC_TYPES_DIR")
    return Path(env) if env else None


def _dir_digest(path: Path | None) -> str:
    if path is None:
        return "fpgaq"
    headers = sorted(p for p in path.rglob("*.h") if p.is_file())
    return build_cache.content_key(
        [str(path.resolve())] + [part for f in headers for part in (f.relative_to(path).as_posix(), f.read_bytes())]
    )


def _flags(types: Path | None) -> list[str]:
    flags = list(CXXFLAGS)
    if types is not None:
        flags += ["-isystem", str(types)]
    return [*flags, "-Iinclude", "-Ifirmware", "-DFPGAQ_TRACE"]


def _digest(files: dict[str, str], extra: list[str]) -> str:
    sources = [part for rel in sorted(files) if rel.startswith(_LIB_SOURCES) for part in (rel, files[rel])]
    return build_cache.content_key([*sources, *extra])


def _compile(src: Path, args: list[str], output: Path, cxx: str) -> None:
    cmd = [cxx, *args, "-o", str(output)]
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-20000:]
        raise CsimError(f"g++ failed in {src} ({' '.join(cmd)}):\n{log}")


def _build(files: dict[str, str], kind: str, flavor: str, types_dir: Any) -> Path:
    """Compile ``kind`` ('lib' or 'test') from the project ``files``, or reuse the cached build."""
    cxx = os.environ.get("CXX", "g++")
    types = _types_dir(flavor, types_dir)
    flags = _flags(types)
    top = json.loads(files["fpgaq_project.json"])["top"]
    key = _digest(files, [kind, cxx, _compiler_id(cxx), *flags, _dir_digest(types)])
    name = f"lib{top}.so" if kind == "lib" else f"{top}_test"
    final = cache_dir() / key / name
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fpgaq-csim-") as tmp:
        src = Path(tmp)
        for rel, text in files.items():
            if rel.startswith(_LIB_SOURCES):
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_text(text, encoding="utf-8")
        out = src / name
        # One translation unit (the firmware read first, as if #included): g++ parses the headers once
        # instead of once per source file, which was a third of a build.
        unit = ["-include", f"firmware/{top}.cpp"]
        if kind == "lib":
            _compile(src, [*flags, "-fPIC", "-shared", *unit, f"tb/{top}_bridge.cpp"], out, cxx)
        else:
            _compile(src, [*flags, *unit, f"tb/{top}_test.cpp"], out, cxx)
        staged = final.parent / f".{name}.{os.getpid()}.tmp"
        shutil.copy2(out, staged)
        os.replace(staged, final)  # atomic: concurrent builders of the same key are harmless
    return final


# ----------------------------------------------------------------------------- the shared library
class CompiledDesign:
    """The design's C++ as a shared library: runs samples in bulk, mantissas in and out."""

    def __init__(self, design: Any, library: Path, manifest: dict[str, Any]) -> None:
        self.design = design
        self.path = library
        self.manifest = manifest
        self._lib = ctypes.CDLL(str(library))
        self._lib.fpgaq_run.restype = None
        self._lib.fpgaq_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
        self.input_size = int(self._lib.fpgaq_input_size())
        self.output_size = int(self._lib.fpgaq_output_size())
        self.trace_size = int(self._lib.fpgaq_trace_size())

    def run(self, inputs: np.ndarray, trace: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """``(outputs, trace)`` for input mantissas of shape (n, input_size)."""
        x = np.ascontiguousarray(inputs, dtype=np.int64).reshape(-1, self.input_size)
        n = x.shape[0]
        y = np.zeros((n, self.output_size), dtype=np.int64)
        t = np.zeros((n, max(self.trace_size, 1)), dtype=np.int64) if trace else None
        self._lib.fpgaq_run(x.ctypes.data, y.ctypes.data, None if t is None else t.ctypes.data, n)
        return y, t

    def _input_matrix(self, x: Any) -> np.ndarray:
        mants = graph_input_mantissas(self.design.graph, x)
        n = len(mants[0])
        return np.concatenate([np.asarray(m, dtype=np.int64).reshape(n, -1) for m in mants], axis=1)

    def _split(self, flat: np.ndarray, tensors: list[str]) -> list[np.ndarray]:
        graph, out, offset = self.design.graph, [], 0
        for t in tensors:
            tensor = graph.tensors[t]
            out.append(flat[:, offset : offset + tensor.size].reshape(len(flat), *tensor.shape))
            offset += tensor.size
        return out

    def predict_int(self, x: Any) -> list[np.ndarray]:
        """Output mantissas, as :meth:`fpgaq.design.Design.predict_int` returns them."""
        y, _ = self.run(self._input_matrix(x))
        return self._split(y, self.design.graph.outputs)

    def predict(self, x: Any) -> np.ndarray | list[np.ndarray]:
        graph = self.design.graph
        outs = [graph.tensors[t].type.from_int(m) for t, m in zip(graph.outputs, self.predict_int(x))]
        return outs[0] if len(outs) == 1 else outs

    def trace_int(self, x: Any) -> dict[str, np.ndarray]:
        """Every traced layer's output mantissas, keyed by node name."""
        _, t = self.run(self._input_matrix(x), trace=True)
        graph, out = self.design.graph, {}
        for entry in self.manifest["trace"]:
            tensor = graph.tensors[graph.node(entry["node"]).output]
            block = t[:, entry["offset"] : entry["offset"] + entry["size"]]
            out[entry["node"]] = block.reshape(len(t), *tensor.shape)
        return out


def compile_design(design: Any, flavor: str = "catapult", types_dir: Any = None) -> CompiledDesign:
    """Build (or fetch from the cache) the design's C-simulation library."""
    files = render_hls(design, flavor=flavor, test_data=False)
    lib = _build(files, "lib", flavor, types_dir)
    return CompiledDesign(design, lib, json.loads(files["fpgaq_project.json"]))


# ----------------------------------------------------------------------------- reports
@dataclasses.dataclass(frozen=True)
class Mismatch:
    sample: int
    output_index: int  # index into the concatenated, flattened outputs
    output: str  # output tensor name
    got: int
    expected: int


@dataclasses.dataclass
class CsimReport:
    """Result of a C-simulation compared bit for bit with the reference."""

    samples: int
    mismatches: list[Mismatch]
    first_diverging: dict[int, str]  # sample -> first layer whose outputs differ (where known)

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.samples > 0

    def __str__(self) -> str:
        if self.passed:
            return f"C-simulation: {self.samples} samples, bit-exact"
        bad = sorted({m.sample for m in self.mismatches})
        lines = [f"C-simulation: {self.samples} samples, {len(self.mismatches)} mismatches in {len(bad)} samples"]
        for m in self.mismatches[:20]:
            lines.append(f"  sample {m.sample} output {m.output}[{m.output_index}]: got {m.got}, expected {m.expected}")
        for s in bad[:20]:
            if s in self.first_diverging:
                lines.append(f"  sample {s}: first diverging layer {self.first_diverging[s]!r}")
        return "\n".join(lines)


def _output_names(manifest: dict[str, Any]) -> list[str]:
    return [o["name"] for o in manifest["outputs"] for _ in range(o["size"])]


def _mismatches(got: np.ndarray, want: np.ndarray, names: list[str]) -> list[Mismatch]:
    rows, cols = np.nonzero(got != want)
    return [Mismatch(int(r), int(c), names[c], int(got[r, c]), int(want[r, c])) for r, c in zip(rows, cols)]


def _first_diverging(trace: np.ndarray, expected: np.ndarray, layout: list[dict[str, Any]]) -> dict[int, str]:
    out = {}
    for s in range(min(len(trace), len(expected))):
        for e in layout:
            sl = slice(e["offset"], e["offset"] + e["size"])
            if not np.array_equal(trace[s, sl], expected[s, sl]):
                out[s] = e["node"]
                break
    return out


def compare(design: Any, x: Any, flavor: str = "catapult", types_dir: Any = None) -> CsimReport:
    """C-simulate ``x`` through the design's library and compare with ``design.predict_int``."""
    compiled = compile_design(design, flavor, types_dir)
    inputs = compiled._input_matrix(x)
    got, trace = compiled.run(inputs, trace=True)
    graph = design.graph
    want = np.concatenate([np.asarray(m).reshape(len(inputs), -1) for m in design.predict_int(x)], axis=1)
    mismatches = _mismatches(got, want.astype(np.int64), _output_names(compiled.manifest))
    first = {}
    if mismatches:
        from fpgaq.reference import evaluate

        bad = sorted({m.sample for m in mismatches})
        sub = [np.asarray(v)[bad] for v in (x if isinstance(x, (list, tuple)) else [x])]
        kept = evaluate(graph, [np.asarray(v, dtype=np.float64) for v in sub], keep=True)
        layout = compiled.manifest["trace"]
        exp = np.concatenate(
            [np.asarray(kept[graph.node(e["node"]).output]).reshape(len(bad), -1) for e in layout], axis=1
        ).astype(np.int64)
        found = _first_diverging(trace[bad], exp, layout)
        first = {bad[i]: node for i, node in found.items()}
    return CsimReport(len(inputs), mismatches, first)


def _read_matrix(path: Path, rows: int | None = None) -> np.ndarray:
    lines = path.read_text().splitlines()
    if rows is not None:
        lines = lines[:rows]
    return np.array([[int(v) for v in line.split()] for line in lines], dtype=np.int64)


def csim(
    directory: str | os.PathLike[str], samples: int | None = None, types_dir: Any = None, timeout: float = 3600
) -> CsimReport:
    """Compile and run a written project's testbench on its first ``samples`` samples (all by default)."""
    root = Path(directory)
    manifest_path = root / "fpgaq_project.json"
    if not manifest_path.is_file():
        raise CsimError(f"{root} is not an fpgaq HLS project (no fpgaq_project.json); write one with design.write_hls")
    manifest = json.loads(manifest_path.read_text())
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel.startswith(_LIB_SOURCES):
            files[rel] = path.read_text(encoding="utf-8")
    files["fpgaq_project.json"] = manifest_path.read_text()
    exe = _build(files, "test", manifest["flavor"], types_dir)
    n = manifest["samples"] if samples is None else min(int(samples), manifest["samples"])
    with tempfile.TemporaryDirectory(prefix="fpgaq-tb-") as tmp:
        data = Path(tmp)
        for name in ("inputs.txt", "expected.txt"):
            shutil.copy2(root / "tb_data" / name, data / name)
        proc = subprocess.run([str(exe), str(data), str(n)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode not in (0, 1) or not (data / "csim_outputs.txt").is_file():
            raise CsimError(f"the testbench of {root} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
        got = _read_matrix(data / "csim_outputs.txt")
        trace_path = data / "csim_trace.txt"
        trace = _read_matrix(trace_path) if trace_path.is_file() and manifest["trace"] else np.zeros((0, 0))
    want = _read_matrix(root / "tb_data" / "expected.txt", n)
    if got.shape != want.shape:
        raise CsimError(f"the testbench of {root} wrote {got.shape} outputs, expected {want.shape}")
    mismatches = _mismatches(got, want, _output_names(manifest))
    first = {}
    if mismatches and len(trace):
        expected_trace = _read_matrix(root / "tb_data" / "trace_expected.txt")
        first = _first_diverging(trace, expected_trace, manifest["trace"])
        bad = {m.sample for m in mismatches}
        first = {s: node for s, node in first.items() if s in bad}
    return CsimReport(n, mismatches, first)
