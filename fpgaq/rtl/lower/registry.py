"""The op -> lowering table, filled by the family modules (the driver is :mod:`fpgaq.rtl.lower.driver`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fpgaq.errors import FpgaqError
from fpgaq.ir.graph import Graph, Node
from fpgaq.rtl.netlist import Netlist, Signal

__all__ = ["LOWERINGS", "OWN_BINARY_POINTS", "Lowering", "RtlLoweringError", "load_families", "lowering"]

Lowering = Callable[[Netlist, Node, Graph, list[list[Signal]]], list[Signal]]

#: op name -> lowering; filled by the modules listed in ``_FAMILIES`` when they are imported.
LOWERINGS: dict[str, Lowering] = {}

#: Modules of fpgaq.rtl.lower that register lowerings (imported lazily, once).
_FAMILIES = ("linear", "activations", "pooling", "structural", "tables", "learned")

#: Ops whose lowering reads every input signal at its own binary point (``Signal.frac``), so that
#: signals narrower than their tensor's type (a ``quantize`` node's per-element grids) reach them
#: as they are; every other lowering gets its inputs on their tensor type's binary point (free
#: left shifts, see :func:`fpgaq.rtl.lower.driver.lower`).
OWN_BINARY_POINTS: set[str] = set()


class RtlLoweringError(FpgaqError, ValueError):
    """A node the RTL back end cannot build; the message names the node, the setting and the fix."""


def lowering(*ops: str, own_binary_points: bool = False) -> Callable[[Lowering], Lowering]:
    """Register ``fn`` as the lowering of ``ops``; ``own_binary_points``: see :data:`OWN_BINARY_POINTS`."""

    def register(fn: Lowering) -> Lowering:
        for op in ops:
            LOWERINGS[op] = fn
            if own_binary_points:
                OWN_BINARY_POINTS.add(op)
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
