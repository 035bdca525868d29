"""The op -> lowering table, filled by the family modules (the driver is :mod:`fpgaq.rtl.lower.driver`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fpgaq.errors import FpgaqError
from fpgaq.ir.graph import Graph, Node
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["LOWERINGS", "Lowering", "RtlLoweringError", "load_families", "lowering"]

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


def load_families() -> None:
    """Import every family module once, so that ``LOWERINGS`` holds every lowering."""
    for family in _FAMILIES:
        try:
            importlib.import_module(f"fpgaq.rtl.lower.{family}")
        except ModuleNotFoundError as err:
            if err.name != f"fpgaq.rtl.lower.{family}":
                raise
