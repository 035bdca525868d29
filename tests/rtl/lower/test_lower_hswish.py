"""quantized_hswish lowered to RTL (a ``step`` node): the netlist equals the reference on every input code,
built from comparisons or from a ROM, whichever the lowering picks; no multiplier either way."""

from __future__ import annotations

import pytest
from _lower_testing import assert_exact, every_code, keras_design, kinds

from fpgaq.layers import QActivation
from fpgaq.rtl.lower import blocks

QUANTIZERS = [
    "quantized_hswish(8,3)",
    "quantized_hswish(8,2,1)",
    "quantized_hswish(5,1,0,relu_shift=1,relu_upper_bound=3)",
    "quantized_hswish(4,0,0,relu_shift=6,relu_upper_bound=1)",
]


@pytest.mark.parametrize("quantizer", QUANTIZERS)
@pytest.mark.parametrize("rom_limit", [0, 4096])  # 0: comparisons only; 4096: a ROM over the 10-bit input
def test_every_code(quantizer: str, rom_limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "ROM_LIMIT", rom_limit)
    design = keras_design(QActivation(quantizer, name="act"), "quantized_bits(10,3,alpha=1)", (1,))
    assert design.graph.node("act").op == "step"
    net = assert_exact(design, every_code(design.graph.tensors[design.graph.inputs[0]].type))
    used = kinds(net)
    assert used["mul"] == 0
    assert (used["rom"] > 0) == (rom_limit > 0)
