"""A table read from a register: the register gets an initial value, so Yosys keeps the read combinational.

Yosys merges a register that drives a table's index into the table's read port (``memory_dff``) and,
as every fpgaq register has a clock enable, rebuilds that enabled read port in logic at several times
the table's own LUTs.  fpgaq gives such registers an initial value (which ``memory_dff`` does not merge).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from _rtl_testing import build, cosim_exact, lint_design, mismatches, with_options

from fpgaq.calibrate import table_corpus
from fpgaq.design import convert
from fpgaq.layers import QActivation
from fpgaq.rtl.verilog import emit_verilog
from fpgaq.sim.synth import synthesize

YOSYS = shutil.which("yosys")


def _sigmoid(pipeline_every: int) -> object:
    keras.utils.set_random_seed(3)
    x_in = keras.Input((3,), name="x")
    x = QActivation("quantized_bits(12,3,alpha=1)", name="in_q")(x_in)
    x = keras.layers.Activation("sigmoid", name="sig")(x)
    design = convert(keras.Model(x_in, x, name="sig_reg"), {"Model": {"TableSize": 128}})
    return with_options(design, pipeline_every=pipeline_every)


def _registers(design: object) -> tuple[set[str], set[str]]:
    """The registers of the emitted Verilog (assigned with ``<=``) and those with an initial value."""
    text = "\n".join(emit_verilog(build(design), "top").values())
    return set(re.findall(r"\b(s\d+)\s*<=", text)), set(re.findall(r"\binitial\s+(s\d+)\s*=\s*\d+'d0;", text))


@pytest.mark.parametrize("pipeline_every", [0, 1])
def test_only_registers_that_feed_a_table_index_get_an_initial_value(pipeline_every: int) -> None:
    registers, initialised = _registers(_sigmoid(pipeline_every))
    assert initialised and initialised < registers  # the input registers feed the tables; the outputs do not


@pytest.mark.parametrize("pipeline_every", [0, 1])
def test_table_behind_a_register_is_bit_exact_and_lints_clean(pipeline_every: int, tmp_path: Path) -> None:
    design = _sigmoid(pipeline_every)
    grid = np.arange(-(1 << 11), 1 << 11, dtype=np.int64)  # every input code, both saturations
    x = (np.stack([grid, grid[::-1], np.roll(grid, 7)], axis=1) / 2.0**8).astype(np.float32)
    assert not mismatches(design, x)
    assert lint_design(design, tmp_path) == []
    cosim_exact(design, x[::37], tmp_path / "cosim")


@pytest.mark.skipif(YOSYS is None, reason="Debian yosys is installed by .ci/run")
def test_yosys_builds_a_registered_table_index_as_cheaply_as_a_combinational_one(tmp_path: Path) -> None:
    """tab_fit_008 of the calibration corpus (2 sigmoids, 128-entry tables, a register in front):
    101 LUTs in Yosys 0.23 before registers feeding tables had an initial value, 28 after."""
    item = next(it for it in table_corpus("fit", 12) if it.name == "tab_fit_008")
    luts = {}
    for every in (2, 0):
        design = with_options(item.build(), pipeline_every=every)
        files = emit_verilog(build(design), "top")
        paths = []
        for rel, text in files.items():
            path = tmp_path / f"pe{every}" / Path(rel).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            paths.append(path)
        luts[every] = synthesize(paths, "top", device="xc7").luts
    assert luts[2] <= 1.25 * luts[0], luts
