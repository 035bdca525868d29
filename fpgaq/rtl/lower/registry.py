"""The op -> lowering table and the driver that lowers a whole graph."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fpgaq.errors import FpgaqError
from fpgaq.ir.graph import Graph, Node
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["LOWERINGS", "Lowering", "RtlLoweringError", "lower_graph", "lowering"]

Lowering = Callable[[Netlist, Node, Graph, list[list[Signal]]], list[Signal]]

#: op name -> lowering; filled by the modules listed in ``_FAMILIES`` when they are imported.
LOWERINGS: dict[str, Lowering] = {}

#: Modules of fpgaq.rtl.lower that register lowerings (imported lazily, once).
_FAMILIES = ("linear", "activations", "pooling", "structural", "tables")


class RtlLoweringError(FpgaqError, ValueError):
    """A node the RTL back end cannot build; the message names the node, the setting and the fix."""


def lowering(*ops: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for op in ops:
            LOWERINGS[op] = fn
        return fn

    return register


def _load_families() -> None:
    for family in _FAMILIES:
        try:
            importlib.import_module(f"fpgaq.rtl.lower.{family}")
        except ModuleNotFoundError as err:
            if err.name != f"fpgaq.rtl.lower.{family}":
                raise


def lower_graph(graph: Graph) -> Netlist:
    """The whole graph as one combinational netlist (pipelining comes after).

    The same driver as the RTL generator's :func:`fpgaq.rtl.build.lower`, which
    also records which node built each op; this is its netlist alone.
    """
    from fpgaq.rtl.build import lower  # build imports this module

    return lower(graph).net
