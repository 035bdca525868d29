"""``fpgaq.convert(model, config) -> Design``: the one object a user holds.

A Design is a typed graph plus its config.  ``predict`` runs the bit-exact
reference; later stages (HLS, RTL, estimates) read the same graph, so what
``predict`` returns is what the firmware computes.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

import fpgaq.ir.ops  # noqa: F401  (registers the op modules)
from fpgaq.config import Config, load_config
from fpgaq.hwtypes import ElementTypes
from fpgaq.ir.graph import Graph
from fpgaq.ir.ops.learned import describe_elements
from fpgaq.ir.passes import DEFAULT_PASSES, run_passes
from fpgaq.ir.precision import infer_precision
from fpgaq.ir.trace import trace
from fpgaq.reference import evaluate

__all__ = ["Design", "convert"]


def _as_inputs(graph: Graph, x: Any) -> list[np.ndarray]:
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(graph.inputs):
        raise ValueError(f"design {graph.name!r} has {len(graph.inputs)} inputs, got {len(xs)} arrays")
    return [np.asarray(v, dtype=np.float64) for v in xs]


class Design:
    """A converted model: typed graph, config, and the reference that defines its numbers."""

    def __init__(self, graph: Graph, config: Config) -> None:
        self.graph = graph
        self.config = config

    @property
    def name(self) -> str:
        return self.graph.name

    def predict_int(self, x: Any) -> list[np.ndarray]:
        """Output mantissas (integers of each output's FixedType)."""
        values = evaluate(self.graph, _as_inputs(self.graph, x))
        return [values[t] for t in self.graph.outputs]

    def predict(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """Output values as float64: exact, because every output type fits in 53 bits or raises."""
        outs = [self.graph.tensors[t].type.from_int(m) for t, m in zip(self.graph.outputs, self.predict_int(x))]
        return outs[0] if len(outs) == 1 else outs

    def trace(self, x: Any) -> dict[str, np.ndarray]:
        """Every node's output values (float64), keyed by node name, for debugging."""
        values = evaluate(self.graph, _as_inputs(self.graph, x), keep=True)
        out = {}
        for node in self.graph.nodes:
            t = self.graph.tensors[node.output].type
            out[node.name] = t.from_int(values[node.output]) if t.width <= 53 else t.to_fractions(values[node.output])
        return out

    def summary(self) -> str:
        """One line per node: op, output shape and type, internal types, weights and MACs."""
        rows = [("node", "op", "shape", "type", "accumulator", "weights", "MACs")]
        for node in self.graph.nodes:
            out = self.graph.tensors[node.output]
            acc = node.types.get("accum")
            kernel = node.weights.get("kernel")
            macs = ""
            if kernel is not None:
                per_output = int(np.prod(kernel.values.shape[:-1]))
                if node.op.startswith("depthwise"):
                    per_output = int(np.prod(kernel.values.shape[:-2]))
                macs = str(per_output * out.size)
            wdesc = f"{kernel.type.short()} {kernel.nonzero}/{kernel.values.size} nonzero" if kernel is not None else ""
            if kernel is not None and isinstance(kernel.hardware, ElementTypes):
                wdesc += f", {describe_elements(kernel.hardware)}"
            tdesc = out.type.short() if out.type else "?"
            if out.elements is not None:
                tdesc += f" {describe_elements(out.elements)}"
            rows.append(
                (
                    node.name,
                    node.op + (f"[{node.attrs['function']}]" if "function" in node.attrs else ""),
                    "x".join(map(str, out.shape)),
                    tdesc,
                    acc.short() if acc else "",
                    wdesc,
                    macs,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"Design {self.name!r}"]
        for i, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Design({self.name!r}, {len(self.graph.nodes)} nodes)"

    # ------------------------------------------------------------------ HLS back end
    # (fpgaq.converters.hls writes the project, fpgaq.sim.csim compiles and runs it)
    def write_hls(self, directory: Any, flavor: str = "catapult", force: bool = False, **options: Any) -> Any:
        """Write the HLS C++ project to ``directory`` (see fpgaq.converters.hls.write_hls)."""
        from fpgaq.converters.hls import write_hls

        return write_hls(self, directory, flavor=flavor, force=force, **options)

    def compile(self, flavor: str = "catapult", types_dir: Any = None) -> Any:
        """The C-simulation shared library of this design (built with g++ once, then cached)."""
        from fpgaq.sim.csim import compile_design

        key = (flavor, None if types_dir is None else str(types_dir))
        cache = self.__dict__.setdefault("_compiled", {})
        if key not in cache:
            cache[key] = compile_design(self, flavor, types_dir)
        return cache[key]

    def predict_hls(self, x: Any, flavor: str = "catapult", types_dir: Any = None) -> np.ndarray | list[np.ndarray]:
        """Output values computed by the generated C++ (C-simulation): equal to ``predict`` bit for bit."""
        return self.compile(flavor, types_dir).predict(x)

    # ------------------------------------------------------------------ RTL back end
    # (fpgaq.converters.rtl writes the project, fpgaq.sim.cosim simulates it)
    def write_rtl(self, directory: Any, force: bool = False, **options: Any) -> Any:
        """Write the Verilog RTL project to ``directory`` (see fpgaq.converters.rtl.write_rtl)."""
        from fpgaq.converters.rtl import write_rtl

        return write_rtl(self, directory, force=force, **options)

    def rtl_model(self, optimize: bool = True, **rtl_options: Any) -> Any:
        """The RTL compiled by Verilator into a bulk model (once per design and options, then cached);
        ``optimize=False`` builds faster and runs slower (see fpgaq.sim.bulk.compile_rtl)."""
        from fpgaq.sim.bulk import design_rtl_model

        key = (optimize, tuple(sorted(rtl_options.items())))
        cache = self.__dict__.setdefault("_rtl_models", {})
        if key not in cache:
            cache[key] = design_rtl_model(self, optimize, **rtl_options)
        return cache[key]

    def predict_rtl_int(
        self, x: Any, threads: int | None = None, optimize: bool = True, **rtl_options: Any
    ) -> list[np.ndarray]:
        """Output mantissas computed by the generated Verilog (Verilator), one array per output."""
        from fpgaq.sim.bulk import predict_rtl

        return predict_rtl(self, self.rtl_model(optimize, **rtl_options), x, threads)

    def predict_rtl(
        self, x: Any, threads: int | None = None, optimize: bool = True, **rtl_options: Any
    ) -> np.ndarray | list[np.ndarray]:
        """Output values computed by the generated Verilog: equal to ``predict`` bit for bit.

        For numbers in bulk, on ``threads`` model instances at once (default: one per CPU);
        ``fpgaq.sim.cosim`` (cocotb) checks the handshake protocol.
        """
        mants = self.predict_rtl_int(x, threads, optimize, **rtl_options)
        outs = [self.graph.tensors[t].type.from_int(m) for t, m in zip(self.graph.outputs, mants)]
        return outs[0] if len(outs) == 1 else outs

    # ------------------------------------------------------------------ resources and latency
    def estimate(
        self, device: Any = "xc7a100t", backend: str = "rtl", clock_mhz: float | None = None, use_dsp: bool = True
    ) -> Any:
        """LUT/FF/DSP/BRAM, latency and II per node and in total (see fpgaq.resource_model.estimate)."""
        from fpgaq.resource_model import estimate

        return estimate(self, device=device, backend=backend, clock_mhz=clock_mhz, use_dsp=use_dsp)


def convert(model: keras.Model, config: Any = None, passes: Any = None) -> Design:
    """Trace ``model``, run the graph passes, infer every type, and wrap it in a Design."""
    cfg = load_config(config)
    graph = trace(model, cfg)
    graph = run_passes(graph, DEFAULT_PASSES if passes is None else passes)
    graph = infer_precision(graph, cfg)
    graph.validate()
    return Design(graph, cfg)
