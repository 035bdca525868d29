"""QTools: data type map and Horowitz energy, checked term by term against hand computation.

The constants below are typed in from the Horowitz (ISSCC 2014) table as QKeras fits it
(qtools/config_public.py); nothing here calls fpgaq.qtools' own energy helpers.
"""

from __future__ import annotations

import argparse
import json
import math
import re

import keras
import pytest

from fpgaq import zoo
from fpgaq.layers import QActivation, QDense, QSeparableConv2D
from fpgaq.qtools import QTools, QToolsError, format_energy_table, qtools_stats_to_json, reference_qtools
from fpgaq.qtools_cli import add_parser


# --- Horowitz 45 nm, written out independently of the module ---------------------------------
def e_add(bits: float) -> float:  # fixed-point add: 0.1 pJ at 32 bits, linear
    return 0.1 / 32 * bits


def e_mul(bits: float) -> float:  # fixed-point multiply: 0.2 pJ at 8 bits, 3.1 pJ at 32, quadratic fit
    return 0.002994791667 * bits**2 + 0.001041666667 * bits


def e_sram_per_bit(log2_size: float) -> float:
    x = log2_size
    return 9.02427321e-04 * x**3 - 2.68847858e-02 * x**2 + 2.08900804e-01 * x


def e_sram(bits: int, min_sram: int = 0) -> float:
    return math.ceil(bits / 64) * e_sram_per_bit(math.log2(max(bits, min_sram)))


def e_dram(bits: int) -> float:
    return 20.3125 * bits  # 1.3 nJ per 64-bit word


FP32_ADD, FP32_MUL = 0.9, 3.7


def two_layer_model() -> keras.Model:
    inputs = keras.Input((6,), name="x")
    x = QDense(
        5,
        kernel_quantizer="quantized_bits(4,0,alpha=1)",
        bias_quantizer="quantized_bits(6,2,alpha=1)",
        activation="quantized_relu(3,1)",
        name="d1",
    )(inputs)
    x = QDense(
        3, kernel_quantizer="quantized_bits(5,1,alpha=1)", bias_quantizer="quantized_bits(8,3,alpha=1)", name="d2"
    )(x)
    return keras.Model(inputs, x, name="two")


def _t(d: dict) -> tuple:
    return d["bits"], d["int_bits"], d["is_signed"]


def test_data_type_map_by_hand() -> None:
    stats = QTools(two_layer_model()).stats
    d1, d2 = stats["layers"]["d1"], stats["layers"]["d2"]
    assert list(stats["layers"]) == ["d1", "d2"]
    # source quantized_bits(8,0,1) = ac_fixed<8,1>
    assert _t(stats["source_quantizers"][0]) == (8, 1, True)
    assert _t(d1["input_quantizer_list"][0]) == (8, 1, True)
    assert _t(d1["weight_quantizer"]) == (4, 1, True) and d1["weight_quantizer"]["shape"] == [6, 5]
    assert _t(d1["bias_quantizer"]) == (6, 3, True) and d1["bias_quantizer"]["shape"] == [5]
    # product 8 x 4 bits: ac_fixed<12, 2>; a fixed-point multiplier, gate sqrt(8 * 4)
    assert _t(d1["multiplier"]) == (12, 2, True)
    assert d1["multiplier"]["op_type"] == "mul"
    assert d1["multiplier"]["gate_bits"] == pytest.approx(math.sqrt(32))
    # 6 products + bias = 7 terms -> 3 more bits
    assert _t(d1["accumulator"]) == (15, 5, True)
    assert _t(d1["output_quantizer"]) == (3, 1, False) and d1["output_quantizer"]["shape"] == [-1, 5]
    assert d1["operation_count"] == 30
    assert d1["operation"] == "smult_4_8"
    # d2 reads d1's quantized_relu(3,1) output
    assert _t(d2["input_quantizer_list"][0]) == (3, 1, False)
    assert _t(d2["multiplier"]) == (8, 3, True)
    assert _t(d2["accumulator"]) == (11, 6, True)  # 5 products + bias = 6 terms -> 3 more bits
    assert _t(d2["output_quantizer"]) == (11, 6, True)  # no activation: the accumulator is the output
    assert d2["operation_count"] == 15


def test_energy_by_hand_dram() -> None:
    qt = QTools(two_layer_model())
    energy = qt.pe()  # parameters and activations in DRAM, inputs/outputs through the SRAM
    d1, d2 = energy["d1"]["energy"], energy["d2"]["energy"]
    # d1 reads the model input (6 x 8 bits) from DRAM and copies it to SRAM
    assert d1["inputs"] == pytest.approx(e_dram(48) + e_sram(48))
    # kernel 6x5 of 4 bits and bias 5 of 6 bits, each its own tensor
    assert d1["parameters"] == pytest.approx(e_dram(120) + e_sram(120) + e_dram(30) + e_sram(30))
    assert d1["op_cost"] == pytest.approx(30 * (e_mul(math.sqrt(8 * 4)) + e_add(15)))
    assert d1["outputs"] == pytest.approx(e_dram(15) + e_sram(15))  # 5 x 3 bits
    assert d2["inputs"] == pytest.approx(e_dram(15) + e_sram(15))
    assert d2["parameters"] == pytest.approx(e_dram(75) + e_sram(75) + e_dram(24) + e_sram(24))
    assert d2["op_cost"] == pytest.approx(15 * (e_mul(math.sqrt(3 * 5)) + e_add(11)))
    assert d2["outputs"] == pytest.approx(e_dram(33) + e_sram(33))  # model output, 3 x 11 bits
    counted = sum(d[k] for d in (d1, d2) for k in ("inputs", "parameters", "op_cost"))
    assert qt.extract_energy_sum(energy) == pytest.approx(counted)
    assert energy["total_cost"] == pytest.approx(counted + d1["outputs"] + d2["outputs"])
    profile = qt.extract_energy_profile(energy)
    assert profile["d2"]["total"] == pytest.approx(d2["inputs"] + d2["parameters"] + d2["op_cost"])


def test_energy_by_hand_sram_and_fixed() -> None:
    qt = QTools(two_layer_model())
    big = 2**20
    e = qt.pe(parameters_on_memory="sram", activations_on_memory="sram", min_sram_size=big, rd_wr_on_io=False)
    d1, d2 = e["d1"]["energy"], e["d2"]["energy"]
    # every tensor is smaller than the 1 Mbit SRAM, so it pays that SRAM's per-bit energy per 64-bit word
    assert d1["inputs"] == pytest.approx(1 * e_sram_per_bit(20))
    assert d1["parameters"] == pytest.approx((2 + 1) * e_sram_per_bit(20))
    assert d2["outputs"] == pytest.approx(1 * e_sram_per_bit(20))
    fixed = qt.pe(parameters_on_memory="fixed", activations_on_memory="sram")
    assert fixed["d1"]["energy"]["parameters"] == 0.0
    # with rd_wr_on_io the model input still comes from DRAM; intermediate tensors stay in SRAM
    assert fixed["d1"]["energy"]["inputs"] == pytest.approx(e_dram(48) + e_sram(48))
    assert fixed["d2"]["energy"]["inputs"] == pytest.approx(e_sram(15))


def test_reference_modes_by_hand() -> None:
    model = two_layer_model()
    int8 = reference_qtools(model, "int8")
    s = int8.stats["layers"]
    assert _t(s["d1"]["weight_quantizer"]) == (8, 1, True)  # quantized_bits(8,0,1)
    assert _t(s["d1"]["accumulator"]) == (32, 11, True)  # quantized_bits(32,10,1)
    assert _t(s["d1"]["output_quantizer"]) == (32, 11, True)  # no activation quantizer counts
    e = int8.pe()
    # gate of an 8-bit x 8-bit multiplier, then a 32-bit add; d2 multiplies the 32-bit activations
    assert e["d1"]["energy"]["op_cost"] == pytest.approx(30 * (e_mul(8) + e_add(32)))
    assert e["d2"]["energy"]["op_cost"] == pytest.approx(15 * (e_mul(16) + e_add(32)))
    assert e["d1"]["energy"]["parameters"] == pytest.approx(e_dram(240) + e_sram(240) + e_dram(40) + e_sram(40))
    fp32 = reference_qtools(model, "fp32").pe()
    assert fp32["d1"]["energy"]["op_cost"] == pytest.approx(30 * (FP32_MUL + FP32_ADD))
    assert fp32["d2"]["energy"]["inputs"] == pytest.approx(e_dram(5 * 32) + e_sram(5 * 32))


@pytest.mark.parametrize(
    ("kernel_q", "input_q", "gate"),
    [
        ("binary", "quantized_bits(8,0,alpha=1)", 0.3 * e_add(8)),  # mux selecting +-x
        ("ternary", "quantized_bits(8,0,alpha=1)", 0.6 * e_add(8)),  # mux selecting +-x or 0
        ("binary", "binary", 0.3 * e_add(1)),  # xnor
        ("quantized_bits(6,0,alpha=1)", "binary(use_01=True)", 0.1 * e_add(6)),  # and gate
        # shifter: g = sqrt(2**4 * 8), energy of an adder of g*log10(g) bits
        ("quantized_po2(4)", "quantized_bits(8,0,alpha=1)", e_add(math.sqrt(128) * math.log10(math.sqrt(128)))),
    ],
)
def test_gate_energies(kernel_q: str, input_q: str, gate: float) -> None:
    inputs = keras.Input((4,))
    x = QActivation(input_q, name="q")(inputs)
    x = QDense(2, kernel_quantizer=kernel_q, use_bias=False, name="d")(x)
    qt = QTools(keras.Model(inputs, x))
    acc_bits = qt.stats["layers"]["d"]["accumulator"]["bits"]
    assert qt.pe()["d"]["energy"]["op_cost"] == pytest.approx(8 * (gate + e_add(acc_bits)))


def test_digits_cnn_convolutions_and_wiring_layers() -> None:
    s = QTools(zoo.digits_cnn()).stats["layers"]
    # unsigned 8-bit pixels x 4-bit weights; 3x3x1 taps + bias = 10 terms -> 4 more bits
    assert _t(s["conv1"]["multiplier"]) == (12, 1, True)
    assert s["conv1"]["accumulator"]["bits"] == 16
    assert s["conv1"]["operation_count"] == 8 * 8 * 8 * 9
    # max pooling passes quantized_relu(4,2) through; 3x3x8 taps + bias = 73 terms -> 7 more bits
    assert _t(s["conv2"]["input_quantizer_list"][0]) == (4, 2, False)
    assert s["conv2"]["accumulator"]["bits"] == 8 + 7
    assert s["flatten"]["output_quantizer"]["bits"] == 4


def test_jet_tagger_ordering() -> None:
    model = zoo.jet_tagger(weight_bits=4, activation_bits=4)
    totals = {}
    for name, qt in (
        ("fp32", reference_qtools(model, "fp32")),
        ("int8", reference_qtools(model, "int8")),
        ("4bit", QTools(model, source_quantizers="quantized_bits(16,5,alpha=1)")),
    ):
        for options in ({}, {"parameters_on_memory": "sram", "activations_on_memory": "sram", "rd_wr_on_io": False}):
            totals[name, bool(options)] = qt.extract_energy_sum(qt.pe(**options))
    for sram in (False, True):
        assert totals["fp32", sram] > totals["int8", sram] > totals["4bit", sram] > 0
    ops = QTools(model).pe()
    # the MACs alone follow the same order: fp32 4.6 pJ, int8 0.3 pJ, 4-bit well below
    assert sum(v["energy"]["op_cost"] for k, v in ops.items() if k != "total_cost") < 0.3 * (1024 + 2048 + 1024 + 160)


def test_json_round_trip_and_table(tmp_path, capsys) -> None:
    qt = QTools(two_layer_model())
    path = qt.qtools_stats_to_json(tmp_path / "stats.json")
    assert json.loads(path.read_text()) == qt.stats
    other = qtools_stats_to_json(qt, tmp_path / "again.json")
    assert other.read_text() == path.read_text()
    qt.qtools_stats_print()
    text = capsys.readouterr().out
    assert re.search(
        r"^d1\s+QDense\s+fixed<8,1>\s+fixed<4,1>\s+fixed<6,3>\s+fixed<12,2> mul\s+fixed<15,5>\s+"
        r"ufixed<3,1>\s+30\s*$",
        text,
        re.M,
    )
    assert re.search(r"^d2\s+QDense\s+ufixed<3,1>\s+fixed<5,2>\s+fixed<8,4>\s+fixed<8,3> mul", text, re.M)
    energy = qt.pe()
    table = format_energy_table(energy)
    assert table.splitlines()[-1].split()[-1] == f"{qt.extract_energy_sum(energy):.2f}"


def test_stats_copy_is_independent() -> None:
    qt = QTools(two_layer_model())
    qt.stats["layers"]["d1"]["operation_count"] = -1
    assert qt.stats["layers"]["d1"]["operation_count"] == 30


def test_unsupported_layers_name_the_fix() -> None:
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="bn")(inputs)
    with pytest.raises(QToolsError, match=re.escape("layer 'bn' (BatchNormalization) is not supported by QTools")) as e:
        QTools(keras.Model(inputs, x))
    assert "QDenseBatchnorm" in str(e.value) and "QDense" in str(e.value)
    inputs = keras.Input((4, 4, 2))
    x = QSeparableConv2D(3, 3, depthwise_quantizer="quantized_bits(4)", name="sep")(inputs)
    with pytest.raises(QToolsError, match=r"layer 'sep' \(QSeparableConv2D\): QTools' energy model has no"):
        QTools(keras.Model(inputs, x))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"process": "5nm"}, "process='5nm' is not supported; the only energy table is 'horowitz'"),
        ({"keras_quantizer": "int4"}, "keras_quantizer='int4' is not supported; use one of int8, int16, int32"),
        ({"source_quantizers": ["int8", "int8"]}, "source_quantizers: 2 given but model 'two' has 1 input(s)"),
        ({"source_quantizers": "quantized_bitz(8)"}, "source_quantizers[0]: unknown quantizer 'quantized_bitz'"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(QToolsError, match=re.escape(message)):
        QTools(two_layer_model(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameters_on_memory": "flash"}, "parameters_on_memory='flash' is not supported; use 'dram', 'sram'"),
        ({"activations_on_memory": "fixed"}, "activations_on_memory='fixed' is not supported; use 'dram' or"),
        ({"min_sram_size": -1}, "min_sram_size=-1 must be a non-negative number of bits"),
    ],
)
def test_bad_energy_options(kwargs: dict, message: str) -> None:
    with pytest.raises(QToolsError, match=re.escape(message)):
        QTools(two_layer_model()).pe(**kwargs)


def test_bad_reference() -> None:
    with pytest.raises(QToolsError, match=re.escape("reference='int4' is not supported; use one of int8, fp32")):
        reference_qtools(two_layer_model(), "int4")


# --- the command line ------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fpgaq")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("qtools") / "two.keras"
    two_layer_model().save(path)
    return str(path)


def test_cli_prints_and_writes_json(saved_model, tmp_path, capsys) -> None:
    out = tmp_path / "q.json"
    assert _cli(["qtools", saved_model, "--json", str(out), "--input-quantizer", "quantized_bits(8,0,alpha=1)"]) == 0
    text = capsys.readouterr().out
    assert "QTools data type map of 'two'" in text and "total (pJ)" in text
    data = json.loads(out.read_text())
    assert data["layers"]["d1"]["accumulator"]["bits"] == 15
    expected = QTools(two_layer_model())
    assert data["energy"]["energy_sum"] == pytest.approx(expected.extract_energy_sum(expected.pe()))
    assert _cli(["qtools", saved_model, "--json", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


def test_cli_reference_and_errors(saved_model, tmp_path, capsys) -> None:
    assert _cli(["qtools", saved_model, "--reference", "fp32", "--parameters-on-memory", "sram"]) == 0
    assert "reference fp32/fp32" in capsys.readouterr().out
    assert _cli(["qtools", str(tmp_path / "missing.keras")]) == 2
    assert "cannot load" in capsys.readouterr().err
    assert _cli(["qtools", saved_model, "--input-quantizer", "int8", "--input-quantizer", "int8"]) == 2
    assert "give one quantizer per model input" in capsys.readouterr().err
