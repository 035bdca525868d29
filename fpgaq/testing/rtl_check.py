"""Bit-exactness of a lowered netlist against the reference, without Verilator."""

from __future__ import annotations

from typing import Any

import numpy as np

from fpgaq.reference import input_mantissas
from fpgaq.rtl.netlist import Netlist, simulate

__all__ = ["netlist_mismatches"]


def netlist_mismatches(design: Any, net: Netlist, x: Any) -> list[str]:
    """Descriptions of every output element where ``simulate(net)`` differs from ``design.predict_int``."""
    xs = x if isinstance(x, (list, tuple)) else [x]
    graph = design.graph
    ints = [input_mantissas(graph.tensors[name], np.asarray(v)) for name, v in zip(graph.inputs, xs)]
    got = simulate(net, [m.reshape(len(m), -1) for m in ints])
    want = design.predict_int(x)
    problems = []
    for (name, _, _), g, w in zip(net.outputs, got, want):
        w = np.asarray(w).reshape(len(w), -1)
        bad = np.argwhere(g != w)
        for s, e in bad[:10]:
            problems.append(f"output {name!r} sample {s} element {e}: netlist {g[s, e]} != reference {w[s, e]}")
        if len(bad) > 10:
            problems.append(f"... {len(bad) - 10} more mismatches in {name!r}")
    return problems
