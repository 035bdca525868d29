"""The RTL back end on the jet tagger: generation, Verilator build, co-simulation, Yosys, vs a naive RTL.

For ``Multiplier: lut`` and ``dsp`` (the jet tagger of :mod:`fpgaq.zoo`: 16-64-32-32-5, 6-bit
weights, ``quantized_relu(6)``, 16-bit inputs; seeded weights): time to generate the project,
Verilator build time, co-simulation throughput (cocotb drives every sample, with random stalls),
bit-exactness and latency, and Yosys ``synth_xilinx -family xc7`` LUT/FF/DSP/CARRY counts.

The baseline, in the same run: a naive RTL of the same network (one ``*`` per non-zero weight,
one adder chain per neuron, a register stage per layer), synthesized the same way without DSPs;
the ratio of its LUTs to fpgaq's (``lut``, no DSP) is printed (target: >= 2x).  The naive
synthesis takes several minutes; ``--no-naive`` skips it.

    python benchmarks/rtl.py [--samples 2000] [--no-naive]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jinja2
import numpy as np

NAIVE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent), trim_blocks=True, lstrip_blocks=True
).get_template("naive_jet.v.j2")


def _literal(v: int, width: int) -> str:
    return f"{'-' if v < 0 else ''}{width}'sd{abs(v)}"


def naive_verilog(design) -> str:
    """The naive RTL of a dense-only design: the same weights, the plainest arithmetic."""
    layers = []
    src, in_w, signed = "x", 16, True
    dense = [n for n in design.graph.nodes if n.op == "dense"]
    for k, node in enumerate(dense):
        w = np.asarray(node.weights["kernel"].mantissa)
        b = np.asarray(node.weights["bias"].mantissa)
        relu = k < len(dense) - 1
        neurons = [
            {
                "bias": _literal(int(b[j]), 32),
                "terms": [(i, _literal(int(w[i, j]), 8)) for i in range(w.shape[0]) if w[i, j] != 0],
            }
            for j in range(w.shape[1])
        ]
        layers.append(
            {
                "index": k,
                "n_out": w.shape[1],
                "out_w": 6 if relu else 16,
                "in_w": in_w,
                "acc_w": in_w + 8 + int(np.ceil(np.log2(w.shape[0]))) + 1,
                "src": src,
                "signed": signed,
                "relu": relu,
                "shift": 6,
                "neurons": neurons,
            }
        )
        src, in_w, signed = f"a{k + 1}", 6 if relu else 16, False
    n_in = dense[0].weights["kernel"].values.shape[0]
    return NAIVE.render(layers=layers, n_in=n_in, in_w=16, n_out=layers[-1]["n_out"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="co-simulated samples per style")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline's synthesis")
    args = parser.parse_args()

    import keras

    import fpgaq
    from fpgaq import zoo
    from fpgaq.design import Design
    from fpgaq.sim.cosim import cosimulate
    from fpgaq.sim.synth import synthesize, synthesize_project
    from fpgaq.testing.inputs import edge_inputs

    keras.utils.set_random_seed(2)
    base = fpgaq.convert(zoo.jet_tagger())
    x = edge_inputs(base, args.samples, seed=0, extremes=True)[0]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="fpgaq-bench-rtl-") as tmp:
        for style in ("lut", "dsp"):
            graph = base.graph.copy()
            for node in graph.nodes:
                if node.op != "input":
                    node.options["multiplier"] = style
            design = Design(graph, base.config)
            t = time.perf_counter()
            project = design.write_rtl(Path(tmp) / style, samples=0)
            generate = time.perf_counter() - t
            cos = cosimulate(project, x, design)
            result, _ = synthesize_project(project, device="xc7", dsp=style == "dsp")
            rows[style] = (generate, cos, result)
            print(
                f"multiplier {style}: generate {generate:.2f} s, Verilator build {cos.build_time:.1f} s"
                f"{' (cached)' if cos.cached else ''}, co-simulation {cos.n_samples / cos.run_time:,.0f} samples/s, "
                f"{cos.mismatch_count} mismatches, latency {cos.measured_latency} cycles (reported "
                f"{cos.reported_latency}), Yosys {result.luts:,} LUT {result.ffs:,} FF {result.dsp} DSP "
                f"{result.carry:,} CARRY4 ({result.runtime_s:.0f} s)",
                flush=True,
            )
        if not args.no_naive:
            path = Path(tmp) / "naive_jet.v"
            path.write_text(naive_verilog(base))
            naive = synthesize([path], "naive_jet", device="xc7", dsp=False)
            ratio = naive.luts / rows["lut"][2].luts
            print(
                f"naive RTL (one '*' per weight, adder chains), no DSP: {naive.luts:,} LUT {naive.ffs:,} FF "
                f"({naive.runtime_s:.0f} s); fpgaq multiplier lut: {rows['lut'][2].luts:,} LUT -> "
                f"{ratio:.2f}x fewer (target >= 2x: {'MET' if ratio >= 2 else 'MISSED'})"
            )


if __name__ == "__main__":
    main()
