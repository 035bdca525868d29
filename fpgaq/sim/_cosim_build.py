"""Building a project's simulator with cocotb's Verilator runner, cached by content.

Builds live in ``cache_dir()/<key>``; the key hashes the RTL files in compile
order, the top name, the Verilator arguments, and the Verilator, cocotb and
compiler versions, and the C++ optimisation level.  Verilator's runtime
objects (``verilated*.o``), which dominate a small design's build, are kept
per tool version and flags and copied into later builds; after a build only
the executable and its log are kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fpgaq.sim import build_cache
from fpgaq.sim._cosim_data import CosimError, load_manifest
from fpgaq.sim.verilator import make_variables

#: Verilator options every build gets: warnings stay in the log (lint is ``fpgaq.sim.verilator.lint``'s job),
#: and unset state is randomised at run time (``+verilator+rand+reset+2``) so that a design relying on it fails.
BUILD_ARGS = ("-Wno-fatal", "--x-assign", "unique", "--x-initial", "unique")
_DONE = "fpgaq_build.json"
#: C++ optimisation of the design's model (make's OPT_FAST; Verilator's runtime keeps its own -Os).
#: -O0 by default: for a co-simulation's few thousand samples compilation dominates.  On the jet
#: tagger it compiles in about a third of the -Os time while the bench runs about 40 % slower.
CXX_OPT = "-O0"
_CXX_OPTS = ("-O0", "-O1", "-O2", "-O3", "-Os", "-Og")


def cache_dir() -> Path:
    """Where Verilator builds are kept: ``$FPGAQ_CACHE/cosim`` or ``~/.cache/fpgaq/cosim``."""
    return build_cache.cache_dir("cosim")


@contextlib.contextmanager
def tool_environment(extra: dict[str, str] | None = None, make_vars: Sequence[str] = ()) -> Iterator[None]:
    """``os.environ`` set up for Verilator and its make for the duration (the runner reads os.environ).

    Not thread-safe: the runner offers no other way to pass an environment.
    """
    from fpgaq.sim.verilator import environment

    wanted = environment()
    # make reads variable definitions from MAKEFLAGS as if given on its command line; the runner
    # calls make itself, so this is how the wheel's missing precompiled-header flag reaches it.
    wanted["MAKEFLAGS"] = " ".join([*make_vars, os.environ.get("MAKEFLAGS", "")]).strip()
    wanted.update(extra or {})
    changed = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
    saved = {k: os.environ.get(k) for k in changed}
    os.environ.update(changed)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@functools.lru_cache(maxsize=1)
def _tool_ids() -> tuple[str, ...]:
    import cocotb
    import cocotb_tools.config

    from fpgaq.sim.verilator import version

    cxx = os.environ.get("CXX", "c++")
    try:
        compiler = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise CosimError(
            f"co-simulation needs a C++ compiler for Verilator; {cxx!r} did not run: install g++"
        ) from None
    main = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
    return (
        version(),
        cocotb.__version__,
        str(cocotb_tools.config.libs_dir),
        hashlib.sha256(main.read_bytes()).hexdigest(),
        cxx,
        compiler.splitlines()[0] if compiler else cxx,
    )


def _sources(root: Path, manifest: dict[str, Any]) -> list[tuple[str, Path]]:
    """``(name as listed, absolute path)`` of each Verilog source, in compile order.

    A project with ternary adders lists ``simulation_files``: its Xilinx spelling of them and fpgaq's
    own models of the primitives it instantiates (see :func:`fpgaq.converters.rtl.project_sources`).
    """
    filelist = root / "filelist.f"
    if "simulation_files" in manifest:
        names = list(manifest["simulation_files"])
    elif filelist.is_file():
        names = [ln.strip() for ln in filelist.read_text().splitlines() if ln.strip() and not ln.startswith("//")]
    else:
        names = list(manifest.get("files", []))
    if not names:
        raise CosimError(f"{root}: neither filelist.f nor the manifest's 'files' names any Verilog source")
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise CosimError(f"{root}: source files listed but missing: {', '.join(missing)}")
    return [(n, (root / n).resolve()) for n in names]


def runner(runtime: Path | None = None) -> Any:
    """cocotb's Verilator runner; with ``runtime``, its build reuses the runtime objects stored there."""
    from cocotb_tools.runner import Verilator

    class SeededVerilator(Verilator):
        def _build_command(self) -> list[Any]:
            cmds = list(super()._build_command())
            # Only when the commands look as expected (verilator, then make); otherwise build everything.
            if runtime is not None and runtime.is_dir() and len(cmds) == 2 and cmds[1][:1] == ["make"]:
                cmds.insert(1, [sys.executable, "-c", build_cache.SEED_SCRIPT, str(runtime), str(self.build_dir)])
            return cmds

    return SeededVerilator()


def _prune(build_dir: Path, keep: set[str]) -> None:
    """Drop the generated C++ and objects: running the simulation needs only the executable."""
    for path in build_dir.iterdir():
        if path.name not in keep:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()


def log_tail(path: Path, lines: int = 60) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@functools.lru_cache(maxsize=1)
def fst_available() -> bool:
    """Whether Verilator's FST writer can be compiled here (it needs the lz4 and zlib headers)."""
    cxx = os.environ.get("CXX", "c++")
    probe = "#include <lz4.h>\n#include <zlib.h>\n"
    try:
        proc = subprocess.run([cxx, "-x", "c++", "-E", "-"], input=probe, capture_output=True, text=True)
    except OSError:
        return False
    return proc.returncode == 0


def build(
    project_dir: str | os.PathLike[str],
    *,
    waves: str | None = None,
    verilator_args: Sequence[str] = (),
    cxx_opt: str = CXX_OPT,
) -> tuple[Path, float, bool]:
    """Build (or find in the cache) the project's simulator: ``(build_dir, seconds, cached)``.

    ``waves`` is None (no tracing compiled in), ``"vcd"`` or ``"fst"``.
    """
    if waves not in (None, "vcd", "fst"):
        raise ValueError(f"build: waves={waves!r} is not supported; use None, 'vcd' or 'fst'")
    if cxx_opt not in _CXX_OPTS:
        raise ValueError(f"build: cxx_opt={cxx_opt!r} is not supported; use one of {', '.join(_CXX_OPTS)}")
    root = Path(project_dir)
    manifest = load_manifest(root)
    top = str(manifest["top"])
    sources = _sources(root, manifest)
    args = [*BUILD_ARGS, *(["--trace-fst"] if waves == "fst" else []), *verilator_args]
    tools = _tool_ids()
    key = build_cache.content_key(
        [top, *args, f"waves={waves}", f"opt={cxx_opt}", *tools]
        + [part for name, path in sources for part in (name, path.read_bytes())]
    )
    cache = cache_dir()
    final = cache / key
    if (final / _DONE).is_file() and (final / top).is_file():
        return final, 0.0, True
    cache.mkdir(parents=True, exist_ok=True)
    runtime = cache / f"runtime-{build_cache.content_key([*args, f'waves={waves}', *tools])}"
    stage = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache))
    log = stage / "build.log"
    start = time.perf_counter()
    try:
        with tool_environment(make_vars=make_variables(cxx_opt)):
            runner(runtime).build(
                sources=[path for _, path in sources],
                hdl_toplevel=top,
                build_dir=stage,
                build_args=args,
                waves=waves is not None,
                always=True,
                log_file=log,
            )
    except (RuntimeError, SystemExit, OSError) as err:
        tail = log_tail(log)
        shutil.rmtree(stage, ignore_errors=True)
        raise CosimError(f"Verilator could not build {top!r} from {root} ({err}):\n{tail}") from None
    seconds = time.perf_counter() - start
    build_cache.store_runtime_objects(stage, runtime)
    cpp_files = len(list(stage.glob("*.cpp")))
    info = {"top": top, "args": args, "cxx_opt": cxx_opt, "tools": tools, "seconds": seconds, "cpp_files": cpp_files}
    _prune(stage, keep={top, log.name})
    (stage / _DONE).write_text(json.dumps(info))
    try:
        os.rename(stage, final)
    except OSError:  # a concurrent build of the same key finished first; both are identical
        shutil.rmtree(stage, ignore_errors=True)
    return final, seconds, False
