"""Simulation of generated firmware: C-simulation of the HLS C++ with g++ (``fpgaq.sim.csim``)."""

from fpgaq.sim.csim import CompiledDesign, CsimError, CsimReport, Mismatch, compare, compile_design, csim

__all__ = ["CompiledDesign", "CsimError", "CsimReport", "Mismatch", "compare", "compile_design", "csim"]
