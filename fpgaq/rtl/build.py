"""Design -> lowered netlist that remembers which node built each operation.

The driver lives in :mod:`fpgaq.rtl.lower.driver`, next to the lowerings it
runs (so that the lowering table never imports back up into ``fpgaq.rtl``);
this module keeps its names where the RTL generator has always found them.
"""

from fpgaq.rtl.lower.driver import Lowered, check_supported, lower

__all__ = ["Lowered", "check_supported", "lower"]
