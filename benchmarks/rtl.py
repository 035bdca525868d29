"""fpgaq's RTL on the jet tagger against da4ml 0.6.0 and alkaid 0.8.2, and its back end's own figures.

Two parts, the first argument picks one:

``baselines`` (the default; issue 15, point 6).  The jet tagger of
:mod:`fpgaq.zoo` (16-64-32-32-5, 6-bit weights, ``quantized_relu(6)`` with
half-even rounding, 16-bit inputs, seeded weights, logits out) is written as
integer weights, biases and types to JSON; ``benchmarks/rtl_baselines_inside.py``
rebuilds the same fixed-point network in da4ml 0.6.0 and alkaid 0.8.2 (each in
a side venv that this script builds once with ``tests/fixtures/sidevenv.py``;
baselines, not dependencies), checks each tool's bit-exact interpreter against
fpgaq's reference on edge, saturating and half-way inputs, and writes their
Verilog, combinational and pipelined to the latencies of fpgaq's variants;
that Verilog is then simulated with Verilator on the same inputs
(``rtl_baselines_tb.cpp``), which also measures its latency.
alkaid runs with ``ternary_fuse=False, hard_dc=-1``: Yosys does not map the
ternary adders it writes, and this is its smallest setting there.  fpgaq's
variants (``--fpgaq-option``, repeatable: ``NAME: key=value, ...`` sets node
options, e.g. ``pipeline_every``, ``multiplier``, ``adders``, ``clock_period``;
``comb-t`` registers only the inputs: ``clock_period=1000`` leaves the whole
network in one stage, so it is compared with the combinational baselines) are
checked bit for bit with their Verilator model.  Every design goes through the same Yosys run
(:func:`fpgaq.sim.synth.synthesize`: ``synth_xilinx -family xc7``, no DSP,
flattened); the table gives LUT, FF, CARRY4, the longest register-to-register
path in LUT levels and carry cells, the latency, and fpgaq's LUTs over the
best baseline at the same latency (target: at most 0.9x at no deeper path).
``--layers 1`` keeps only fc1 (and its ReLU): a quick run of the whole flow.

``backend`` (the earlier measurement): for ``Multiplier: lut`` and ``dsp``,
project generation time, Verilator build time, cocotb co-simulation throughput
and bit-exactness, latency and Yosys counts; and a naive RTL of the same
network (one ``*`` per weight, adder chains), synthesized without DSPs, with
the ratio of its LUTs to fpgaq's (target >= 2x; ``--no-naive`` skips it).

    python benchmarks/rtl.py [baselines] [--layers N] [--samples 4000] [--jobs 2]
        [--fpgaq-option "layer: pipeline_every=0, multiplier=lut"] [--no-da4ml] [--no-alkaid]
    python benchmarks/rtl.py backend [--samples 2000] [--no-naive]

Synthesis of a 40k-LUT design takes minutes: run it under ``nice``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's fpgaq, whatever the environment has installed
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import jinja2  # noqa: E402
import numpy as np  # noqa: E402

# ----------------------------------------------------------------------------- backend part
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


def run_backend(args: argparse.Namespace) -> None:
    """The back end's own figures for ``Multiplier: lut`` and ``dsp``, and the naive RTL's LUTs over fpgaq's."""

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


# ----------------------------------------------------------------------------- baselines part
#: The baselines' side venvs (built once, outside the repository) and what each runs with.
BASELINE_REQUIREMENTS = {"da4ml": ["da4ml==0.6.0"], "alkaid": ["alkaid==0.8.2"]}
BASELINES_INSIDE = Path(__file__).with_name("rtl_baselines_inside.py")
BASELINE_TB = Path(__file__).with_name("rtl_baselines_tb.cpp")  # drives a baseline's Verilog in Verilator
#: fpgaq's variants, ``NAME: key=value, ...`` (node options).  A new RTL option (ternary adders, say)
#: is one more line here or one more ``--fpgaq-option`` on the command line.
DEFAULT_FPGAQ_VARIANTS = (
    "layer: pipeline_every=0, multiplier=lut",
    "layer-t: pipeline_every=0, multiplier=lut, adders=ternary",
    "comb-t: clock_period=1000, multiplier=lut, adders=ternary",
    "pipe2: pipeline_every=2, multiplier=lut",
)
DENSE_NAMES = ("fc1", "fc2", "fc3", "output")
SYNTH_DEVICE = "xc7"


@dataclasses.dataclass(frozen=True)
class FpgaqVariant:
    """One fpgaq RTL variant: a name for the table and the node options that make it."""

    name: str
    options: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> FpgaqVariant:
        """``"pipe2: pipeline_every=2, multiplier=lut"``; integer-looking values become ints."""
        name, sep, rest = text.partition(":")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"--fpgaq-option {text!r}: expected 'NAME: key=value, ...'")
        options: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise argparse.ArgumentTypeError(f"--fpgaq-option {text!r}: {item!r} is not key=value")
            value = value.strip()
            options[key.strip()] = _number(value)
        return cls(name.strip(), options)


def _number(value: str) -> Any:
    """``"2"`` -> 2, ``"2.5"`` -> 2.5, anything else stays text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


@dataclasses.dataclass
class Row:
    """One synthesized design of the table."""

    tool: str  # "fpgaq", "da4ml" or "alkaid"
    variant: str
    latency: int  # cycles from input to output; 0 = combinational
    verilog: list[str]
    top: str
    exact: str  # how bit-exactness was checked and what it found
    synth: Any = None  # fpgaq.sim.synth.SynthResult once synthesized
    error: str | None = None
    io: dict[str, list[list[int]]] | None = None  # a baseline's bus layout: [k, i, f] per element


def jet_logits_design(layers: int) -> Any:
    """The zoo's jet tagger with its seeded weights (seed 2, as tests/rtl use), cut after ``layers`` dense layers.

    The softmax is left out (neither baseline builds one); with ``layers < 4``
    the output is that layer's ReLU.
    """
    import keras

    from fpgaq import zoo
    from fpgaq.design import convert

    keras.utils.set_random_seed(2)
    model = zoo.jet_tagger()
    last = "output" if layers >= len(DENSE_NAMES) else f"relu{layers}"
    return convert(keras.Model(model.inputs, model.get_layer(last).output, name=f"jet_{layers}l"))


def _type_dict(t: Any) -> dict[str, Any]:
    return {
        "width": t.width,
        "frac": t.frac,
        "signed": bool(t.signed),
        "rounding": t.rounding.value,
        "overflow": t.overflow.value,
    }


def network_spec(design: Any, samples: int) -> dict[str, Any]:
    """The design as integers for the baselines: weights, biases, types, test inputs and fpgaq's outputs.

    Only chains of dense layers whose activation is a ReLU cast to an unsigned
    half-even, saturating type (the jet tagger's) are supported: that is all
    ``rtl_baselines_inside.py`` builds.
    """
    import numpy as np

    from fpgaq.reference import graph_input_mantissas
    from fpgaq.testing.inputs import edge_inputs

    graph = design.graph
    layers = []
    for node in graph.nodes:
        if node.op == "input":
            continue
        if node.op != "dense":
            raise ValueError(f"network_spec: {node.where(with_op=True)} is not dense; the baselines get dense chains")
        out_type = graph.tensors[node.output].type
        accum = node.types["accum"]
        activation = None
        if node.attrs.get("activation"):
            if node.attrs["activation"].get("function") != "relu" or out_type.signed:
                raise ValueError(f"network_spec: {node.where()} has an activation other than an unsigned ReLU")
            if (out_type.rounding.value, out_type.overflow.value) != ("RND_CONV", "SAT"):
                raise ValueError(f"network_spec: {node.where()} casts with {out_type}; the baselines do RND_CONV, SAT")
            activation = _type_dict(out_type)
        elif out_type.frac != accum.frac or out_type.width < accum.width:
            raise ValueError(f"network_spec: {node.where()} casts its sum to {out_type}; expected it exact")
        kernel, bias = node.weights["kernel"], node.weights["bias"]
        layers.append(
            {
                "name": node.name,
                "kernel": np.asarray(kernel.mantissa).astype(int).tolist(),
                "kernel_frac": kernel.type.frac,
                "bias": np.asarray(bias.mantissa).astype(int).tolist(),
                "bias_frac": bias.type.frac,
                "activation": activation,
            }
        )
    x = edge_inputs(design, samples, seed=0, extremes=True)[0]
    (inputs,) = graph_input_mantissas(graph, x)
    (expected,) = design.predict_int(x)
    return {
        "input": _type_dict(graph.tensors[graph.inputs[0]].type),
        "layers": layers,
        "output_frac": graph.tensors[graph.outputs[0]].type.frac,
        "test_inputs": np.asarray(inputs).astype(int).tolist(),
        "expected": np.asarray(expected).astype(int).tolist(),
        "x": x,  # floats for fpgaq's own RTL check; removed before the JSON is written
    }


def fpgaq_rows(base: Any, variants: list[FpgaqVariant], x: Any, work: Path, check: bool) -> list[Row]:
    """Write each fpgaq variant's project; its latency from the manifest; its Verilator model against predict."""
    import numpy as np

    from fpgaq.converters.rtl import project_sources
    from fpgaq.design import Design

    rows = []
    for variant in variants:
        graph = base.graph.copy()
        for node in graph.nodes:
            if node.op != "input":
                node.options.update(variant.options)
        design = Design(graph, base.config)
        project = work / f"fpgaq_{variant.name}"
        design.write_rtl(project, samples=0)
        manifest = json.loads((project / "fpgaq_rtl.json").read_text())
        exact = "not checked"
        if check:
            got = design.predict_rtl_int(x)[0]
            want = design.predict_int(x)[0]
            bad = int(np.sum(np.any(np.asarray(got) != np.asarray(want), axis=1)))
            exact = f"Verilator: {bad} of {len(x)} differ" if bad else f"Verilator: exact on {len(x)}"
        files = [str(project / f) for f in project_sources(manifest, SYNTH_DEVICE)]  # ternary adders: xc7 spelling
        rows.append(Row("fpgaq", variant.name, int(manifest["latency"]), files, manifest["top"], exact))
        print(f"fpgaq {variant.name}: {variant.options}, latency {manifest['latency']}, {exact}", flush=True)
    return rows


def baseline_rows(tool: str, spec_path: Path, latencies: list[int], work: Path) -> list[Row]:
    """Run ``tool`` in its side venv; its Verilog per latency, with its emulator's verdict."""
    from sidevenv import ensure_venv, rerun_inside  # a test fixture module, found through sys.path

    out = work / tool
    py = ensure_venv(tool, BASELINE_REQUIREMENTS[tool])
    args = ["--tool", tool, "--spec", str(spec_path), "--out", str(out), "--latencies", ",".join(map(str, latencies))]
    code = rerun_inside(py, str(BASELINES_INSIDE), args)
    if code != 0:
        print(f"{tool}: its side run failed (exit {code}); left out of the table", flush=True)
        return []
    result = json.loads((out / "result.json").read_text())
    n, bad = result["samples"], result["emulation_mismatches"]
    exact = f"{tool} emulator: exact on {n}" if bad == 0 else f"{tool} emulator: {bad} of {n} DIFFER"
    if result["first_mismatch"]:
        print(f"{tool}: first disagreement with fpgaq's reference: {result['first_mismatch']}", flush=True)
    print(f"{tool} {result['version']} {result['settings']}: cost {result['cost']:.0f}, {exact}", flush=True)
    rows = []
    for v in result["variants"]:
        name = "comb" if v["requested_latency"] == 0 else f"lat{v['requested_latency']}"
        if v["latency"] != v["requested_latency"]:
            print(f"{tool} {name}: asked for {v['requested_latency']} cycles, got {v['latency']}", flush=True)
        rows.append(Row(tool, name, int(v["latency"]), v["verilog"], v["top"], exact, io=result["io"]))
    return rows


def _pack(mantissas: Any, src_frac: int, layout: list[list[int]]) -> bytes:
    """Rows of element mantissas (fraction bits ``src_frac``) as the tool's bus, 32-bit words per row."""
    width = sum(map(sum, layout))
    words = max(2, -(-width // 32))
    out = bytearray()
    for row in mantissas:
        bus, offset = 0, 0
        for m, (k, i, f) in zip(row, layout):
            scaled = int(m) << (f - src_frac) if f >= src_frac else int(m) >> (src_frac - f)
            if f < src_frac and int(m) & ((1 << (src_frac - f)) - 1):
                raise ValueError(f"_pack: input {m} needs more than the {f} fraction bits of the tool's input")
            bus |= (scaled & ((1 << (k + i + f)) - 1)) << offset
            offset += k + i + f
        out += bus.to_bytes(words * 4, "little")
    return bytes(out)


def _unpack(data: bytes, layout: list[list[int]]) -> list[list[tuple[int, int]]]:
    """Each row of the output bus as ``(mantissa, fraction bits)`` per element."""
    width = sum(map(sum, layout))
    words = max(2, -(-width // 32))
    rows = []
    for start in range(0, len(data), words * 4):
        bus = int.from_bytes(data[start : start + words * 4], "little")
        row, offset = [], 0
        for k, i, f in layout:
            w = k + i + f
            raw = (bus >> offset) & ((1 << w) - 1) if w > 0 else 0
            if k and w > 0 and raw >> (w - 1):
                raw -= 1 << w
            row.append((raw, f))
            offset += w
        rows.append(row)
    return rows


def verilate_row(row: Row, spec: dict[str, Any], work: Path) -> None:
    """Simulate a baseline's Verilog with Verilator on the test inputs; add the verdict and the latency found.

    The latency is where fpgaq's expected outputs appear in the output stream
    (the tools state it, and this checks it); a design that matches at no
    offset is reported with how many samples differ at its stated latency.
    """
    import subprocess

    from fpgaq.sim.verilator import environment, executable, make_variables

    assert row.io is not None
    build = work / "verilate" / f"{row.tool}_{row.variant}"
    build.mkdir(parents=True, exist_ok=True)
    clocked = row.latency > 0
    cmd = [executable(), "--cc", "--exe", "--top-module", row.top, "-Wno-fatal", "-Wno-lint", "-Wno-style"]
    cmd += ["--x-assign", "fast", "--x-initial", "fast", "--Mdir", str(build / "obj"), "-o", "Vmodel"]
    cmd += [*(["-CFLAGS", "-DCLOCKED"] if clocked else []), str(BASELINE_TB), *row.verilog]
    env = environment()
    try:
        subprocess.run(cmd, cwd=build, env=env, check=True, capture_output=True, text=True)
        make = ["make", "-C", str(build / "obj"), "-f", f"V{row.top}.mk", "-j", "1", *make_variables("-O0")]
        subprocess.run(make, cwd=build, env=env, check=True, capture_output=True, text=True)
        inputs, expected = spec["test_inputs"], spec["expected"]
        (build / "inputs.bin").write_bytes(_pack(inputs, spec["input"]["frac"], row.io["inputs"]))
        in_words = max(2, -(-sum(map(sum, row.io["inputs"])) // 32))
        out_words = max(2, -(-sum(map(sum, row.io["outputs"])) // 32))
        extra = row.latency + 4
        args = [str(in_words), str(out_words), str(len(inputs)), str(extra), "inputs.bin", "outputs.bin"]
        subprocess.run([str(build / "obj" / "Vmodel"), *args], cwd=build, check=True, capture_output=True)
    except subprocess.CalledProcessError as err:
        row.exact += f"; Verilator FAILED ({(err.stderr or '')[-300:]!s})"
        return
    got = _unpack((build / "outputs.bin").read_bytes(), row.io["outputs"])
    out_frac = spec["output_frac"]

    def differing(offset: int) -> int:
        return sum(
            any(m * (1 << out_frac) != e * (1 << f) for (m, f), e in zip(got[s + offset], want))
            for s, want in enumerate(expected)
        )

    stated = max(row.latency - 1, 0)
    bad = {offset: differing(offset) for offset in range(0, row.latency + 4) if offset != stated}
    bad[stated] = differing(stated)
    exact_at = [o for o, n in sorted(bad.items()) if n == 0]
    if exact_at:
        found = exact_at[0] + 1 if clocked else 0
        row.exact += f"; Verilog (Verilator): exact, latency {found}"
        if found != row.latency:
            row.exact += f" (stated {row.latency})"
            row.latency = found
    else:
        row.exact += f"; Verilog (Verilator): {bad[stated]} of {len(expected)} DIFFER at latency {row.latency}"
    print(f"verilated {row.tool} {row.variant}: {row.exact}", flush=True)


def synthesize_row(row: Row, work: Path) -> Row:
    """The same Yosys run for every design: xc7, no DSP, flattened."""
    from fpgaq.sim.synth import SynthError, synthesize

    try:
        row.synth = synthesize(
            row.verilog, row.top, device=SYNTH_DEVICE, dsp=False, workdir=work / "synth" / f"{row.tool}_{row.variant}"
        )
    except SynthError as err:
        row.error = str(err).splitlines()[0]
    status = row.error or f"{row.synth.luts:,} LUT ({row.synth.runtime_s:.0f} s)"
    print(f"synthesized {row.tool} {row.variant}: {status}", flush=True)
    return row


def path_delay(row: Row) -> tuple[float | None, str]:
    """The longest timed path of the netlist (ns) and its kind, from ``SynthResult.timing``.

    ``fpgaq.sim.timing`` walks the xc7 netlist with the cells' own delays plus
    a routing allowance per net (an estimate, not a routed design).  The worst
    path of any kind counts: a combinational design's is input to output, and
    its clock would have to cover it between the registers around it.  None
    when the result has no timing; the depth columns then stand in for it.
    """
    timing = getattr(row.synth, "timing", None) if row.synth is not None else None
    if not timing or timing.get("delay_ns") is None:
        return None, ""
    worst = {k: v for k, v in (timing.get("worst_by_kind") or {}).items() if v is not None}
    if worst:  # the result's own delay_ns is register to register when there is such a path
        kind = max(worst, key=lambda k: worst[k])
        return float(worst[kind]), kind
    return float(timing["delay_ns"]), str(timing.get("kind") or "")


def _cell(value: Any, width: int) -> str:
    text = "-" if value is None else (f"{value:,}" if isinstance(value, int) else str(value))
    return text.rjust(width)


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'design':<16}{'cycles':>7}{'LUT':>9}{'FF':>7}{'CARRY4':>8}{'LUT lvl':>8}{'carry':>7}"
        f"{'delay ns':>9}{'path':>9}{'MHz':>5}  bit-exactness"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        s = r.synth
        delay, kind = path_delay(r)
        fmax = None if not delay else f"{1000 / delay:.0f}"
        print(
            f"{r.tool + ' ' + r.variant:<16}{_cell(r.latency, 7)}"
            f"{_cell(s.luts if s else None, 9)}{_cell(s.ffs if s else None, 7)}{_cell(s.carry if s else None, 8)}"
            f"{_cell(s.logic_depth if s else None, 8)}{_cell(s.carry_depth if s else None, 7)}"
            f"{_cell(None if delay is None else f'{delay:.2f}', 9)}{_cell(kind or None, 9)}{_cell(fmax, 5)}  {r.exact}"
            + (f"  SYNTHESIS FAILED: {r.error}" if r.error else "")
        )


def print_ratios(rows: list[Row], target: float = 0.9) -> None:
    """fpgaq over the best baseline at the same latency and over the combinational ones."""
    done = [r for r in rows if r.synth is not None]
    baselines = [r for r in done if r.tool != "fpgaq"]
    for ours in (r for r in done if r.tool == "fpgaq"):
        for label, pool in (
            (f"at {ours.latency} cycles", [b for b in baselines if b.latency == ours.latency]),
            ("combinational", [b for b in baselines if b.latency == 0]),
        ):
            if not pool:
                continue
            best = min(pool, key=lambda b: b.synth.luts)
            ratio = ours.synth.luts / best.synth.luts
            ours_delay, best_delay = path_delay(ours)[0], path_delay(best)[0]
            if ours_delay is not None and best_delay is not None:
                path_ok, path_text = ours_delay <= best_delay, f"delay {ours_delay:.2f} / {best_delay:.2f} ns, "
            else:  # no timing: neither more LUT levels nor more carry cells
                path_ok = (ours.synth.logic_depth or 0) <= (best.synth.logic_depth or 0) and (
                    ours.synth.carry_depth or 0
                ) <= (best.synth.carry_depth or 0)
                path_text = ""
            verdict = "MET" if ratio <= target and path_ok else "MISSED"
            print(
                f"fpgaq {ours.variant} vs best baseline {label} ({best.tool} {best.variant}): "
                f"LUT {ratio:.3f}x ({ours.synth.luts:,} / {best.synth.luts:,}), FF {ours.synth.ffs:,} / "
                f"{best.synth.ffs:,}, {path_text}LUT levels {ours.synth.logic_depth} / {best.synth.logic_depth}, "
                f"carry cells {ours.synth.carry_depth} / {best.synth.carry_depth}; "
                f"target <= {target}x at no longer path: {verdict}"
            )


def run_baselines(args: argparse.Namespace) -> None:
    if args.report:
        report(load_rows(Path(args.report) / "results.json"))
        return
    variants = [FpgaqVariant.parse(t) for t in (args.fpgaq_option or DEFAULT_FPGAQ_VARIANTS)]
    tools = [t for t in BASELINE_REQUIREMENTS if not getattr(args, f"no_{t}")]
    base = jet_logits_design(args.layers)
    spec = network_spec(base, args.samples)
    x = spec.pop("x")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fpgaq-bench-rtl-baselines-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"jet tagger, {args.layers} dense layer(s), {args.samples} test inputs; work files in {work}", flush=True)
    spec_path = work / "network.json"
    spec_path.write_text(json.dumps(spec) + "\n")
    t0 = time.perf_counter()
    rows = fpgaq_rows(base, variants, x, work, check=not args.no_rtl_check)
    latencies = sorted({0} | {r.latency for r in rows})
    for tool in tools:
        rows += baseline_rows(tool, spec_path, latencies, work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        if not args.no_rtl_check:
            list(pool.map(lambda r: verilate_row(r, spec, work), [r for r in rows if r.io is not None]))
        if not args.no_synth:
            rows = list(pool.map(lambda r: synthesize_row(r, work), rows))
    save_rows(rows, work / "results.json")
    print(f"\nYosys synth_xilinx -family {SYNTH_DEVICE} -nodsp, flattened; total {time.perf_counter() - t0:.0f} s")
    report(rows)


def report(rows: list[Row]) -> None:
    print_table(rows)
    print()
    print_ratios(rows)


def save_rows(rows: list[Row], path: Path) -> None:
    """The table's rows with each full SynthResult, so ``--report`` prints them again without synthesizing."""
    data = [{**dataclasses.asdict(r), "synth": r.synth.to_dict() if r.synth is not None else None} for r in rows]
    path.write_text(json.dumps(data, indent=1) + "\n")


def load_rows(path: Path) -> list[Row]:
    rows = []
    for item in json.loads(path.read_text()):
        synth = item.pop("synth")
        rows.append(Row(**item, synth=types.SimpleNamespace(**synth) if synth is not None else None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = parser.add_subparsers(dest="part")
    base = parts.add_parser("baselines", help="fpgaq vs da4ml 0.6.0 and alkaid 0.8.2 (default)")
    base.add_argument("--layers", type=int, default=4, choices=range(1, 5), help="dense layers kept (4: all)")
    base.add_argument("--samples", type=int, default=4000, help="test inputs for the bit-exactness checks")
    base.add_argument("--fpgaq-option", action="append", help="an fpgaq variant 'NAME: key=value, ...' (repeatable)")
    base.add_argument("--no-da4ml", action="store_true", help="leave da4ml out")
    base.add_argument("--no-alkaid", action="store_true", help="leave alkaid out")
    base.add_argument(
        "--no-rtl-check", action="store_true", help="skip the Verilator runs (fpgaq's and the baselines' Verilog)"
    )
    base.add_argument("--no-synth", action="store_true", help="generate and check only (no Yosys)")
    base.add_argument("--jobs", type=int, default=1, help="Yosys runs at once")
    base.add_argument("--report", metavar="WORKDIR", help="print the table of an earlier run's --workdir again")
    base.add_argument("--workdir", help="keep work files here (default: a new temporary directory, kept)")
    back = parts.add_parser("backend", help="fpgaq's generation, co-simulation and synthesis, and the naive RTL")
    back.add_argument("--samples", type=int, default=2000, help="co-simulated samples per style")
    back.add_argument("--no-naive", action="store_true", help="skip the naive baseline's synthesis")
    argv = sys.argv[1:]
    if not argv or argv[0] not in ("baselines", "backend", "-h", "--help"):
        argv = ["baselines", *argv]
    args = parser.parse_args(argv)
    if args.part == "backend":
        run_backend(args)
    else:
        run_baselines(args)


if __name__ == "__main__":
    main()
