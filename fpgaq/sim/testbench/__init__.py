"""cocotb test benches that :mod:`fpgaq.sim.cosim` runs inside the simulator.

cocotb imports them as top-level modules from this directory (``fpgaq_axis_bench``
for generated RTL projects), so that the simulator's Python never imports the
fpgaq package and, with it, Keras.  They use only the standard library and cocotb.
"""
