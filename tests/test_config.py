"""The conversion config: parsing, every error message, precedence, round trips, config_from_model.

Error messages are part of the interface (they name the key path, the bad
value, what is allowed and the fix), so the tests compare them in full.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import yaml

from fpgaq import zoo
from fpgaq.config import Config, ConfigError, LayerSettings, ModelSettings, config_from_model, load_config
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.layers import QActivation, QDense

T16_6 = FixedType(16, 6, True)
T18_8 = FixedType(18, 8, True)

DEFAULT_MODEL = {
    "Precision": {"default": "ap_fixed<16,6>", "accum": "auto", "result": "auto"},
    "ReuseFactor": 1,
    "Strategy": "Latency",
    "IOType": "io_parallel",
    "TableSize": 1024,
    "TablePrecision": "ap_fixed<18,8>",
    "Multiplier": "auto",
    "PipelineEvery": 0,
}


def error(source: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(source)
    return str(info.value)


def model_error(**settings: object) -> str:
    return error({"Model": settings})


def layer_error(**settings: object) -> str:
    return error({"LayerName": {"fc1": settings}})


# ------------------------------------------------------------------ defaults
def test_defaults_from_none_empty_dict_and_empty_sections():
    expected = Config(ModelSettings(), {}, {})
    assert load_config(None) == expected
    assert load_config({}) == expected
    assert load_config({"Model": None, "LayerType": None, "LayerName": None}) == expected
    assert expected.default_precision == T16_6
    assert expected.input_precision is None
    assert expected.to_dict() == {"Model": DEFAULT_MODEL}


def test_a_config_is_returned_as_is():
    cfg = load_config({"Model": {"ReuseFactor": 3}})
    assert load_config(cfg) is cfg


def test_layer_without_entries_gets_the_model_defaults():
    lc = load_config(None).layer("fc1", "QDense")
    assert lc.name == "fc1"
    assert lc.class_name == "QDense"
    assert lc.precision == {"weight": "auto", "bias": "auto", "accum": "auto", "result": "auto", "table": T18_8}
    assert (lc.reuse_factor, lc.strategy, lc.io_type) == (1, "Latency", "io_parallel")
    assert (lc.table_size, lc.table_precision, lc.multiplier, lc.pipeline_every) == (1024, T18_8, "auto", 0)
    assert lc.origin == {
        "ReuseFactor": "Model.ReuseFactor",
        "Strategy": "Model.Strategy",
        "TableSize": "Model.TableSize",
        "TablePrecision": "Model.TablePrecision",
        "Multiplier": "Model.Multiplier",
        "PipelineEvery": "Model.PipelineEvery",
        "Adders": "Model.Adders",
        "Precision.weight": "Model.Precision.default",
        "Precision.bias": "Model.Precision.default",
        "Precision.accum": "Model.Precision.accum",
        "Precision.result": "Model.Precision.result",
        "Precision.table": "Model.TablePrecision",
        "IOType": "Model.IOType",
    }


# ------------------------------------------------------------------ values
@pytest.mark.parametrize(
    ("key", "given", "attr", "stored"),
    [
        ("Strategy", "latency", "strategy", "Latency"),
        ("Strategy", "RESOURCE", "strategy", "Resource"),
        ("Strategy", " Resource ", "strategy", "Resource"),
        ("IOType", "IO_Stream", "io_type", "io_stream"),
        ("IOType", "io_parallel", "io_type", "io_parallel"),
        ("Multiplier", "DSP", "multiplier", "dsp"),
        ("Multiplier", "lut", "multiplier", "lut"),
        ("ReuseFactor", 7, "reuse_factor", 7),
        ("ReuseFactor", np.int64(3), "reuse_factor", 3),
        ("PipelineEvery", 0, "pipeline_every", 0),
        ("PipelineEvery", 2, "pipeline_every", 2),
        ("TableSize", 16, "table_size", 16),
        ("TableSize", 65536, "table_size", 65536),
        ("TableSize", 512, "table_size", 512),
    ],
)
def test_model_values_are_read_and_canonicalised(key, given, attr, stored):
    value = getattr(load_config({"Model": {key: given}}).model, attr)
    assert value == stored
    assert type(value) is type(stored)


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("ap_fixed<16,6>", FixedType(16, 6, True), "ap_fixed<16,6>"),
        ("ap_fixed<16, 6>", FixedType(16, 6, True), "ap_fixed<16,6>"),
        (
            "ap_fixed<8,3,AP_RND_CONV,AP_SAT>",
            FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT),
            "ap_fixed<8,3,AP_RND_CONV,AP_SAT>",
        ),
        ("ap_ufixed<8,0,AP_RND>", FixedType(8, 0, False, Rounding.RND), "ap_ufixed<8,0,AP_RND,AP_WRAP>"),
        ("ac_fixed<10, 4, false>", FixedType(10, 4, False), "ap_ufixed<10,4>"),
        ("ac_fixed<6, 1, true, AC_TRN, AC_SAT_SYM>", FixedType(6, 1, True, overflow=Overflow.SAT_SYM),
         "ap_fixed<6,1,AP_TRN,AP_SAT_SYM>"),
        ("fixed<12,-2>", FixedType(12, -2, True), "ap_fixed<12,-2>"),
        ("ap_int<8>", FixedType(8, 8, True), "ap_fixed<8,8>"),
        ("ap_uint<4>", FixedType(4, 4, False), "ap_ufixed<4,4>"),
    ],
)  # fmt: skip
def test_precision_spellings_read_and_write_canonically(text, expected, canonical):
    cfg = load_config({"Model": {"Precision": {"default": text}}})
    assert cfg.default_precision == expected
    assert cfg.to_dict()["Model"]["Precision"]["default"] == canonical


def test_precision_accepts_fixedtype_objects_and_auto_in_any_case():
    t = FixedType(24, 12, True, Rounding.RND, Overflow.SAT)
    cfg = load_config({"Model": {"Precision": {"accum": t, "result": "AUTO"}}})
    assert cfg.model.accum == t
    assert cfg.model.result == "auto"
    assert cfg.to_dict()["Model"]["Precision"] == {
        "default": "ap_fixed<16,6>",
        "accum": "ap_fixed<24,12,AP_RND,AP_SAT>",
        "result": "auto",
    }


def test_model_precision_string_is_hls4ml_shorthand_for_default():
    cfg = load_config({"Model": {"Precision": "ap_fixed<10,4>"}})
    assert cfg.default_precision == FixedType(10, 4, True)
    assert cfg.model.accum == "auto"


def test_input_precision():
    cfg = load_config({"Model": {"Input": {"Precision": "ap_ufixed<8,0>"}}})
    assert cfg.input_precision == FixedType(8, 0, False)
    assert cfg.to_dict()["Model"]["Input"] == {"Precision": "ap_ufixed<8,0>"}
    assert load_config({"Model": {"Input": {}}}).input_precision is None


def test_input_precision_for_prefers_the_hls4ml_layer_name_entry():
    cfg = load_config(
        {
            "Model": {"Input": {"Precision": "ap_fixed<16,6>"}},
            "LayerName": {
                "in_a": {"Precision": {"result": "ap_fixed<8,3>"}},
                "in_b": {"Precision": {"result": "auto"}},
            },
        }
    )
    assert cfg.input_precision_for("in_a") == FixedType(8, 3, True)
    assert cfg.input_precision_for("in_b") == T16_6  # 'auto' is not a type: the Model setting applies
    assert cfg.input_precision_for("other") == T16_6
    assert load_config(None).input_precision_for("x") is None


def test_precision_table_is_another_name_for_table_precision():
    cfg = load_config({"LayerName": {"sm": {"Precision": {"table": "ap_fixed<10,2>"}}}})
    lc = cfg.layer("sm", "Activation")
    assert lc.table_precision == FixedType(10, 2, True)
    assert lc.precision["table"] == FixedType(10, 2, True)
    assert lc.origin["Precision.table"] == "LayerName.sm.TablePrecision"
    assert cfg.to_dict()["LayerName"] == {"sm": {"TablePrecision": "ap_fixed<10,2>"}}


# ------------------------------------------------------------------ precedence
PRECEDENCE = {
    "Model": {"ReuseFactor": 1, "Precision": {"accum": "ap_fixed<32,16>"}, "TableSize": 256},
    "LayerType": {
        "QDense": {"ReuseFactor": 4, "Strategy": "Resource", "Precision": {"accum": "ap_fixed<24,12>"}},
        "Dense": {"ReuseFactor": 8, "Multiplier": "dsp", "Precision": {"result": "ap_fixed<12,4>"}},
        "Activation": {"TableSize": 512},
    },
    "LayerName": {
        "fc1": {"ReuseFactor": 2, "Precision": {"weight": "ap_fixed<8,3>"}, "PipelineEvery": 2},
        "act": {"TableSize": 128},
    },
}


def test_layer_name_beats_layer_type_beats_model_setting_by_setting():
    cfg = load_config(PRECEDENCE)
    fc1 = cfg.layer("fc1", "QDense")
    assert fc1.reuse_factor == 2  # LayerName
    assert fc1.strategy == "Resource"  # LayerType.QDense: LayerName does not set it
    assert fc1.pipeline_every == 2  # LayerName
    assert fc1.table_size == 256  # Model
    assert fc1.precision["weight"] == FixedType(8, 3, True)
    assert fc1.precision["accum"] == FixedType(24, 12, True)
    assert fc1.precision["result"] == "auto"
    assert fc1.origin["ReuseFactor"] == "LayerName.fc1.ReuseFactor"
    assert fc1.origin["Strategy"] == "LayerType.QDense.Strategy"
    assert fc1.origin["Precision.weight"] == "LayerName.fc1.Precision.weight"
    assert fc1.origin["Precision.accum"] == "LayerType.QDense.Precision.accum"
    assert fc1.origin["TableSize"] == "Model.TableSize"
    fc2 = cfg.layer("fc2", "QDense")
    assert (fc2.reuse_factor, fc2.pipeline_every, fc2.precision["weight"]) == (4, 0, "auto")


def test_model_precision_applies_without_entries():
    lc = load_config(PRECEDENCE).layer("conv", "Conv2D")
    assert lc.precision["accum"] == FixedType(32, 16, True)
    assert lc.origin["Precision.accum"] == "Model.Precision.accum"


def test_float_twin_entry_is_ignored_when_the_quantized_class_has_its_own():
    # LayerType.Dense sets Multiplier and result, QDense does not: still the Model's values for a QDense.
    lc = load_config(PRECEDENCE).layer("fc2", "QDense")
    assert lc.multiplier == "auto"
    assert lc.precision["result"] == "auto"


def test_float_twin_entry_applies_to_the_quantized_class_without_its_own():
    cfg = load_config({"LayerType": {"Dense": {"ReuseFactor": 8}, "Activation": {"TableSize": 64}}})
    assert cfg.layer("fc", "QDense").reuse_factor == 8
    assert cfg.layer("fc", "QDense").origin["ReuseFactor"] == "LayerType.Dense.ReuseFactor"
    assert cfg.layer("relu", "QActivation").table_size == 64
    assert cfg.layer("fc", "Dense").reuse_factor == 8


def test_quantized_entry_never_applies_to_the_float_class():
    cfg = load_config({"LayerType": {"QDense": {"ReuseFactor": 4}}})
    assert cfg.layer("fc", "Dense").reuse_factor == 1


def test_only_a_capital_q_prefix_makes_a_twin():
    cfg = load_config({"LayerType": {"uux": {"ReuseFactor": 4}, "": {"ReuseFactor": 5}}})
    assert cfg.layer("a", "Quux").reuse_factor == 1
    assert cfg.layer("b", "Q").reuse_factor == 1


def test_io_type_always_comes_from_the_model():
    lc = load_config({"Model": {"IOType": "io_stream"}, "LayerName": {"fc1": {"ReuseFactor": 2}}}).layer("fc1", "Dense")
    assert lc.io_type == "io_stream"
    assert lc.origin["IOType"] == "Model.IOType"


def test_resolved_precision_is_a_fresh_dict():
    cfg = load_config(PRECEDENCE)
    cfg.layer("fc1", "QDense").precision["accum"] = "auto"
    assert cfg.layer("fc1", "QDense").precision["accum"] == FixedType(24, 12, True)


# ------------------------------------------------------------------ round trips
FULL = {
    "Model": {
        "Precision": {"default": "ap_fixed<12, 4>", "accum": "ap_fixed<32,16,AP_TRN,AP_SAT>", "result": "auto"},
        "ReuseFactor": 2,
        "Strategy": "resource",
        "IOType": "IO_STREAM",
        "TableSize": 2048,
        "TablePrecision": "ac_fixed<18, 8, true>",
        "Multiplier": "LUT",
        "PipelineEvery": 3,
        "Input": {"Precision": "ap_ufixed<8,0>"},
    },
    "LayerType": {"QDense": {"ReuseFactor": 4, "Precision": {"accum": "ap_fixed<24,12>"}}},
    "LayerName": {
        "fc1": {
            "Precision": {
                "result": "ap_fixed<16,6,AP_RND_CONV,AP_SAT>",
                "weight": "ap_fixed<8,3>",
                "bias": "auto",
                "accum": "auto",
                "table": "ap_ufixed<10,0>",
            },
            "ReuseFactor": 2,
            "Strategy": "Latency",
            "TableSize": 512,
            "Multiplier": "dsp",
            "PipelineEvery": 2,
        },
        "on": {},
    },
}

FULL_CANONICAL = {
    "Model": {
        "Precision": {"default": "ap_fixed<12,4>", "accum": "ap_fixed<32,16,AP_TRN,AP_SAT>", "result": "auto"},
        "ReuseFactor": 2,
        "Strategy": "Resource",
        "IOType": "io_stream",
        "TableSize": 2048,
        "TablePrecision": "ap_fixed<18,8>",
        "Multiplier": "lut",
        "PipelineEvery": 3,
        "Input": {"Precision": "ap_ufixed<8,0>"},
    },
    "LayerType": {"QDense": {"Precision": {"accum": "ap_fixed<24,12>"}, "ReuseFactor": 4}},
    "LayerName": {
        "fc1": {
            "Precision": {
                "weight": "ap_fixed<8,3>",
                "bias": "auto",
                "accum": "auto",
                "result": "ap_fixed<16,6,AP_RND_CONV,AP_SAT>",
            },
            "ReuseFactor": 2,
            "Strategy": "Latency",
            "TableSize": 512,
            "TablePrecision": "ap_ufixed<10,0>",
            "Multiplier": "dsp",
            "PipelineEvery": 2,
        },
        "on": {},
    },
}


def test_to_dict_is_canonical():
    assert load_config(FULL).to_dict() == FULL_CANONICAL


def test_dict_config_dict_yaml_config_round_trip(tmp_path):
    cfg = load_config(FULL)
    again = load_config(cfg.to_dict())
    assert again == cfg
    path = tmp_path / "fpgaq.yaml"
    text = cfg.to_yaml(path)
    assert path.read_text(encoding="utf-8") == text
    assert yaml.safe_load(text) == FULL_CANONICAL  # 'on' stays a string key: YAML quotes it
    assert load_config(path) == cfg
    assert load_config(str(path)) == cfg


def test_to_yaml_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = load_config(None).to_yaml()
    assert list(tmp_path.iterdir()) == []
    assert yaml.safe_load(text) == {"Model": DEFAULT_MODEL}


def test_yaml_file_written_by_hand(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(
        "Model:\n"
        "  Precision:\n"
        "    default: ap_fixed<10,4>\n"
        "  Strategy: latency\n"
        "LayerName:\n"
        "  fc1:\n"
        "    ReuseFactor: 4\n"
        "    Precision: {accum: 'ap_fixed<20,10,AP_RND,AP_SAT>'}\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.default_precision == FixedType(10, 4, True)
    lc = cfg.layer("fc1", "Dense")
    assert lc.reuse_factor == 4
    assert lc.precision["accum"] == FixedType(20, 10, True, Rounding.RND, Overflow.SAT)


def test_empty_yaml_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert load_config(path) == Config()


def test_configs_compare_by_value():
    a = load_config({"LayerName": {"fc1": {"ReuseFactor": 2}}})
    assert a == Config(layer_name={"fc1": LayerSettings(reuse_factor=2)})
    assert a != Config(layer_name={"fc1": LayerSettings(reuse_factor=3)})


# ------------------------------------------------------------------ key errors
def test_unknown_top_level_key():
    assert error({"Modle": {}}) == (
        "Modle: unknown key; the top level takes Model, LayerType, LayerName; did you mean 'Model'?"
    )


def test_unknown_top_level_key_without_close_match():
    assert error({"OutputDir": "prj"}) == (
        "OutputDir: unknown key; the top level takes Model, LayerType, LayerName; remove it"
    )


MODEL_KEYS = (
    "Precision, ReuseFactor, Strategy, IOType, TableSize, TablePrecision, Multiplier, PipelineEvery, Adders, "
    "ClockPeriod, Device, Input"
)
LAYER_KEYS = "Precision, ReuseFactor, Strategy, TableSize, TablePrecision, Multiplier, PipelineEvery, Adders"


def test_unknown_model_key_suggests_the_right_one():
    assert model_error(ReuseFactr=1) == (
        f"Model.ReuseFactr: unknown key; Model takes {MODEL_KEYS}; did you mean 'ReuseFactor'?"
    )


def test_keys_are_case_sensitive_and_the_suggestion_finds_the_case():
    assert model_error(reusefactor=1) == (
        f"Model.reusefactor: unknown key; Model takes {MODEL_KEYS}; did you mean 'ReuseFactor'?"
    )


def test_unknown_layer_key():
    assert layer_error(Trace=True) == (f"LayerName.fc1.Trace: unknown key; LayerName.fc1 takes {LAYER_KEYS}; remove it")
    assert error({"LayerType": {"QDense": {"ReuseFacter": 2}}}) == (
        f"LayerType.QDense.ReuseFacter: unknown key; LayerType.QDense takes {LAYER_KEYS}; did you mean 'ReuseFactor'?"
    )


def test_model_only_keys_in_a_layer_entry():
    assert layer_error(IOType="io_stream") == (
        "LayerName.fc1.IOType: not allowed here; IOType applies to the whole design; set Model.IOType instead"
    )
    assert layer_error(Input={"Precision": "ap_fixed<8,3>"}) == (
        "LayerName.fc1.Input: not allowed here; the input type is set for the whole model; "
        "set Model.Input.Precision instead"
    )


def test_unknown_precision_roles():
    assert layer_error(Precision={"wieght": "auto"}) == (
        "LayerName.fc1.Precision.wieght: unknown key; LayerName.fc1.Precision takes weight, bias, accum, result, "
        "table; did you mean 'weight'?"
    )
    assert layer_error(Precision={"default": "ap_fixed<8,3>"}) == (
        "LayerName.fc1.Precision.default: not allowed here; Precision.default is a Model-level key; "
        "for one layer set weight, bias, accum, result or table"
    )
    assert model_error(Precision={"weight": "ap_fixed<8,3>"}) == (
        "Model.Precision.weight: not allowed here; set it per layer under LayerType or LayerName "
        "(Model.Precision.default covers unquantized ones)"
    )
    assert model_error(Precision={"acum": "auto"}) == (
        "Model.Precision.acum: unknown key; Model.Precision takes default, accum, result; did you mean 'accum'?"
    )


def test_unknown_input_key():
    assert model_error(Input={"Type": "ap_fixed<8,3>"}) == (
        "Model.Input.Type: unknown key; Model.Input takes Precision; remove it"
    )


def test_non_string_keys():
    assert error({"LayerName": {1: {}}}) == (
        "LayerName.1: key 1 (int) is invalid: expected a layer name string; quote it in YAML"
    )
    assert error({"LayerType": {True: {}}}) == (
        "LayerType.True: key True (bool) is invalid: expected a class name string; quote it in YAML"
    )
    assert model_error(**{"Precision": {1: "auto"}}) == (
        "Model.Precision.1: key 1 (int) is invalid: expected a string; quote it in YAML"
    )


def test_sections_must_be_mappings():
    assert error({"Model": 5}) == (
        "Model: 5 is invalid: expected a mapping of settings; "
        "write e.g. {ReuseFactor: 1, Precision: {default: 'ap_fixed<16,6>'}}"
    )
    assert error({"LayerName": ["fc1"]}) == (
        "LayerName: ['fc1'] is invalid: expected a mapping of settings; write e.g. {fc1: {ReuseFactor: 2}}"
    )
    assert error({"LayerType": "QDense"}) == (
        "LayerType: 'QDense' is invalid: expected a mapping of settings; write e.g. {QDense: {ReuseFactor: 2}}"
    )
    assert error({"LayerName": {"fc1": "fast"}}) == (
        "LayerName.fc1: 'fast' is invalid: expected a mapping of settings; "
        "write e.g. {ReuseFactor: 2, Precision: {accum: 'ap_fixed<24,12>'}}"
    )
    assert model_error(Input="ap_fixed<8,3>") == (
        "Model.Input: 'ap_fixed<8,3>' is invalid: expected a mapping of settings; "
        "write e.g. {Precision: 'ap_fixed<16,6>'}"
    )


def test_precision_sections_must_be_mappings():
    assert layer_error(Precision="ap_fixed<8,3>") == (
        "LayerName.fc1.Precision: 'ap_fixed<8,3>' is invalid: expected a mapping from roles (weight, bias, accum, "
        "result, table) to types; write e.g. {weight: 'ap_fixed<8,3>', result: 'ap_fixed<16,6>'}"
    )
    assert model_error(Precision=16) == (
        "Model.Precision: 16 is invalid: expected a type or a mapping from roles (default, accum, result) to types; "
        "write e.g. {default: 'ap_fixed<16,6>', accum: auto}"
    )


# ------------------------------------------------------------------ value errors
RF_FIX = "expected an integer >= 1; write 1 for a fully parallel layer, or a larger integer"


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "2", None])
def test_reuse_factor_must_be_a_positive_integer(value):
    assert layer_error(ReuseFactor=value) == f"LayerName.fc1.ReuseFactor: {value!r} is invalid: {RF_FIX}"


def test_reuse_factor_error_in_model_and_layer_type():
    assert model_error(ReuseFactor=0) == f"Model.ReuseFactor: 0 is invalid: {RF_FIX}"
    assert (
        error({"LayerType": {"QDense": {"ReuseFactor": 0}}}) == f"LayerType.QDense.ReuseFactor: 0 is invalid: {RF_FIX}"
    )


@pytest.mark.parametrize("value", [-1, 1.0, False])
def test_pipeline_every_must_be_a_non_negative_integer(value):
    assert layer_error(PipelineEvery=value) == (
        f"LayerName.fc1.PipelineEvery: {value!r} is invalid: expected an integer >= 0; "
        "write 0 for one register per layer, or N for a register every N adder levels"
    )


def test_strategy_errors():
    expected = "expected one of Latency, Resource (any case)"
    assert model_error(Strategy="Latncy") == (
        f"Model.Strategy: 'Latncy' is invalid: {expected}; did you mean 'Latency'?"
    )
    assert model_error(Strategy="distributed_arithmetic") == (
        f"Model.Strategy: 'distributed_arithmetic' is invalid: {expected}; choose one of them"
    )
    assert layer_error(Strategy=1) == f"LayerName.fc1.Strategy: 1 is invalid: {expected}; write e.g. Latency"


def test_io_type_errors():
    expected = "expected one of io_parallel, io_stream (any case)"
    assert (
        model_error(IOType="io_serial")
        == f"Model.IOType: 'io_serial' is invalid: {expected}; did you mean 'io_stream'?"
    )
    assert model_error(IOType="axi") == f"Model.IOType: 'axi' is invalid: {expected}; choose one of them"


def test_multiplier_errors():
    expected = "expected one of auto, lut, dsp (any case)"
    assert (
        layer_error(Multiplier="bram") == f"LayerName.fc1.Multiplier: 'bram' is invalid: {expected}; choose one of them"
    )
    assert (
        layer_error(Multiplier="dsps")
        == f"LayerName.fc1.Multiplier: 'dsps' is invalid: {expected}; did you mean 'dsp'?"
    )


TABLE_EXPECTED = "expected a power of two from 16 to 65536"


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        (1000, "the nearest powers of two are 512 and 1024"),
        (17, "the nearest powers of two are 16 and 32"),
        (65535, "the nearest powers of two are 32768 and 65536"),
        (8, "use a size from 16 to 65536"),
        (131072, "use a size from 16 to 65536"),
        (0, "use a size from 16 to 65536"),
        (-1024, "use a size from 16 to 65536"),
        (1024.0, "write an integer such as 1024"),
        (True, "write an integer such as 1024"),
        ("1024", "write an integer such as 1024"),
    ],
)
def test_table_size_errors(value, fix):
    assert layer_error(TableSize=value) == f"LayerName.fc1.TableSize: {value!r} is invalid: {TABLE_EXPECTED}; {fix}"


TYPE_EXPECTED = "expected a fixed-point type such as 'ap_fixed<16,6>'"


def test_unreadable_precisions():
    assert model_error(Precision={"default": "ap_fixd<16,6>"}) == (
        f"Model.Precision.default: 'ap_fixd<16,6>' is invalid: {TYPE_EXPECTED}; "
        "cannot read fixed-point type 'ap_fixd<16,6>': unknown type name 'ap_fixd'"
    )
    assert layer_error(Precision={"accum": "ap_fixed<16,6,AP_RND_CON>"}) == (
        f"LayerName.fc1.Precision.accum: 'ap_fixed<16,6,AP_RND_CON>' is invalid: {TYPE_EXPECTED} or 'auto'; "
        "cannot read fixed-point type 'ap_fixed<16,6,AP_RND_CON>': unknown rounding mode 'AP_RND_CON'; "
        "supported: TRN, TRN_ZERO, RND, RND_ZERO, RND_INF, RND_MIN_INF, RND_CONV (an AC_ or AP_ prefix is accepted)"
    )
    assert layer_error(Precision={"weight": "ap_fixed<0,0>"}) == (
        f"LayerName.fc1.Precision.weight: 'ap_fixed<0,0>' is invalid: {TYPE_EXPECTED} or 'auto'; "
        "cannot read fixed-point type 'ap_fixed<0,0>': FixedType width must be an integer >= 1, got 0"
    )


def test_precision_must_be_a_string():
    assert layer_error(Precision={"result": 16}) == (
        f"LayerName.fc1.Precision.result: 16 is invalid: {TYPE_EXPECTED} or 'auto'; "
        "write the type as a string, e.g. 'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'"
    )


@pytest.mark.parametrize(
    ("source", "path", "value"),
    [
        ({"Model": {"Precision": {"default": "auto"}}}, "Model.Precision.default", "auto"),
        ({"Model": {"TablePrecision": "auto"}}, "Model.TablePrecision", "auto"),
        ({"Model": {"Input": {"Precision": "auto"}}}, "Model.Input.Precision", "auto"),
        ({"LayerName": {"fc1": {"TablePrecision": "Auto"}}}, "LayerName.fc1.TablePrecision", "Auto"),
        ({"LayerName": {"fc1": {"Precision": {"table": "auto"}}}}, "LayerName.fc1.Precision.table", "auto"),
    ],
)
def test_auto_only_where_the_ir_can_size_the_type(source, path, value):
    assert error(source) == (
        f"{path}: {value!r} is invalid: {TYPE_EXPECTED}; 'auto' is only allowed for weight, bias, accum, result; "
        "give a type"
    )


def test_table_precision_given_twice():
    assert layer_error(TablePrecision="ap_fixed<8,3>", Precision={"table": "ap_fixed<8,3>"}) == (
        "LayerName.fc1.Precision.table: both LayerName.fc1.TablePrecision and LayerName.fc1.Precision.table are "
        "given; they set the same thing: keep one"
    )


# ------------------------------------------------------------------ check_layers
def test_check_layers_accepts_known_names_and_classes():
    cfg = load_config(PRECEDENCE)
    cfg.check_layers(["fc1", "act", "fc2"], ["QDense", "QActivation", "Dense"])
    cfg.check_layers(["fc1", "act"])  # without class names only LayerName is checked


def test_check_layers_unknown_name_with_suggestion():
    cfg = load_config({"LayerName": {"fc_1": {}}})
    with pytest.raises(ConfigError) as info:
        cfg.check_layers(["input", "fc1", "relu1"])
    assert str(info.value) == (
        "LayerName.fc_1: the model has no layer named 'fc_1'; its layers are input, fc1, relu1; did you mean 'fc1'?"
    )


def test_check_layers_unknown_name_without_suggestion_and_long_listing():
    cfg = load_config({"LayerName": {"classifier": {}}})
    names = [f"l{i}" for i in range(15)]
    with pytest.raises(ConfigError) as info:
        cfg.check_layers(names)
    assert str(info.value) == (
        "LayerName.classifier: the model has no layer named 'classifier'; its layers are "
        "l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, ... (3 more); remove the entry or rename it to one of them"
    )


def test_check_layers_unknown_class():
    cfg = load_config({"LayerType": {"QDence": {}}})
    with pytest.raises(ConfigError) as info:
        cfg.check_layers(["fc1"], ["QDense", "QDense", "QActivation"])
    assert str(info.value) == (
        "LayerType.QDence: the model has no layer of class 'QDence' (nor QQDence); its classes are QDense, "
        "QActivation; did you mean 'QDense'?"
    )
    cfg = load_config({"LayerType": {"LSTM": {}}})
    with pytest.raises(ConfigError) as info:
        cfg.check_layers(["fc1"], ["QDense"])
    assert str(info.value) == (
        "LayerType.LSTM: the model has no layer of class 'LSTM' (nor QLSTM); its classes are QDense; remove the entry"
    )


# ------------------------------------------------------------------ sources
def test_unsupported_source():
    assert error(42) == (
        "load_config: cannot read a config from 42 (int); give None, a dict, a Config, or the path of a .yaml/.yml file"
    )


def test_file_errors(tmp_path):
    assert error(tmp_path / "c.json") == (
        f"load_config: {str(tmp_path / 'c.json')!r} is invalid: expected a .yaml or .yml file; "
        "rename the file, or read it yourself and pass the dict"
    )
    assert error(tmp_path / "missing.yaml") == (
        f"load_config: no such file {str(tmp_path / 'missing.yaml')!r}; check the path"
    )


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("Model:\n  ReuseFactor: [1\n", encoding="utf-8")
    message = error(path)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert message.endswith("; fix the syntax at the line shown")
    assert 'in "' + str(path) + '", line 3' in message


def test_yaml_document_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- Model\n", encoding="utf-8")
    assert error(path) == (
        f"{path}: the document is a list, expected a mapping with Model, LayerType, LayerName; "
        "start the file with 'Model:'"
    )


def test_yaml_duplicate_keys_raise(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("LayerName:\n  fc1: {ReuseFactor: 2}\n  fc1: {ReuseFactor: 4}\n", encoding="utf-8")
    assert error(path) == f"{path}: line 3: key 'fc1' appears twice in one mapping; keep one"


def test_yaml_values_are_validated_like_dicts(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("LayerName:\n  fc1:\n    ReuseFactor: 0\n", encoding="utf-8")
    assert error(path) == f"LayerName.fc1.ReuseFactor: 0 is invalid: {RF_FIX}"


# ------------------------------------------------------------------ config_from_model
@pytest.fixture(scope="module")
def jet():
    return zoo.jet_tagger()


@pytest.fixture(scope="module")
def digits():
    return zoo.digits_cnn()


def check_round_trip(d: dict, model, tmp_path) -> Config:
    cfg = load_config(d)
    assert cfg.to_dict() == d
    path = tmp_path / "generated.yaml"
    cfg.to_yaml(path)
    assert load_config(path) == cfg
    cfg.check_layers([la.name for la in model.layers], [type(la).__name__ for la in model.layers])
    return cfg


# quantized_bits(6,0,alpha=1): 6 bits, 0 integer bits + sign -> <6,1>; tf.round is half to even -> RND_CONV; clips.
W6 = "ap_fixed<6,1,AP_RND_CONV,AP_SAT>"
W4 = "ap_fixed<4,1,AP_RND_CONV,AP_SAT>"
WEIGHT_LAYER_AUTO = {"accum": "auto", "result": "auto"}


def test_model_granularity(jet, tmp_path):
    d = config_from_model(jet)
    assert d == {"Model": DEFAULT_MODEL}  # the input is quantized by input_q: no Model.Input
    check_round_trip(d, jet, tmp_path)


def test_model_granularity_passes_settings_through_canonically(jet):
    d = config_from_model(
        jet,
        "model",
        default_precision="fixed<8, 3>",
        reuse_factor=4,
        strategy="resource",
        io_type="IO_STREAM",
        table_size=256,
        table_precision="ap_fixed<12,4,AP_RND,AP_SAT>",
        multiplier="DSP",
        pipeline_every=2,
    )
    assert d == {
        "Model": {
            "Precision": {"default": "ap_fixed<8,3>", "accum": "auto", "result": "auto"},
            "ReuseFactor": 4,
            "Strategy": "Resource",
            "IOType": "io_stream",
            "TableSize": 256,
            "TablePrecision": "ap_fixed<12,4,AP_RND,AP_SAT>",
            "Multiplier": "dsp",
            "PipelineEvery": 2,
        }
    }


def test_type_granularity(jet, tmp_path):
    d = config_from_model(jet, "type", reuse_factor=2)
    assert list(d) == ["Model", "LayerType"]
    assert d["LayerType"] == {
        "QActivation": {"Precision": {"result": "auto"}},
        "QDense": {
            "Precision": {"weight": "auto", "bias": "auto", "accum": "auto", "result": "auto"},
            "ReuseFactor": 2,
        },
        "Activation": {"Precision": {"result": "auto"}, "TableSize": 1024, "TablePrecision": "ap_fixed<18,8>"},
    }
    check_round_trip(d, jet, tmp_path)


def test_name_granularity_jet_tagger(jet, tmp_path):
    d = config_from_model(jet, "name")
    assert list(d) == ["Model", "LayerName"]
    dense = {"Precision": {"weight": W6, "bias": W6, **WEIGHT_LAYER_AUTO}, "ReuseFactor": 1}
    # quantized_relu(6): 6 magnitude bits, no integer bits -> ap_ufixed<6,0>.
    relu = {"Precision": {"result": "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"}}
    assert d["LayerName"] == {
        # quantized_bits(16,5,alpha=1): 5 integer bits + sign -> <16,6>.
        "input_q": {"Precision": {"result": "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"}},
        "fc1": dense,
        "relu1": relu,
        "fc2": dense,
        "relu2": relu,
        "fc3": dense,
        "relu3": relu,
        "output": dense,
        "softmax": {"Precision": {"result": "auto"}, "TableSize": 1024, "TablePrecision": "ap_fixed<18,8>"},
    }
    cfg = check_round_trip(d, jet, tmp_path)
    fc1 = cfg.layer("fc1", "QDense")
    assert fc1.precision["weight"] == FixedType(6, 1, True, Rounding.RND_CONV, Overflow.SAT)


def test_name_granularity_digits_cnn(digits, tmp_path):
    d = config_from_model(digits, "name", reuse_factor=3)
    conv = {"Precision": {"weight": W4, "bias": W4, **WEIGHT_LAYER_AUTO}, "ReuseFactor": 3}
    # quantized_relu(4,2): 4 magnitude bits of which 2 integer -> ap_ufixed<4,2>.
    relu = {"Precision": {"result": "ap_ufixed<4,2,AP_RND_CONV,AP_SAT>"}}
    assert d["LayerName"] == {
        # quantized_bits(8,0,keep_negative=0): all 8 bits are fraction bits, unsigned -> ap_ufixed<8,0>.
        "input_q": {"Precision": {"result": "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"}},
        "conv1": conv,
        "relu1": relu,
        "pool1": {"Precision": {"result": "auto"}},
        "conv2": conv,
        "relu2": relu,
        "flatten": {"Precision": {"result": "auto"}},
        "output": conv,
        "softmax": {"Precision": {"result": "auto"}, "TableSize": 1024, "TablePrecision": "ap_fixed<18,8>"},
    }
    assert "Input" not in d["Model"]
    check_round_trip(d, digits, tmp_path)


def test_type_granularity_digits_cnn(digits, tmp_path):
    d = config_from_model(digits, "type")
    assert list(d["LayerType"]) == ["QActivation", "QConv2D", "MaxPooling2D", "Flatten", "QDense", "Activation"]
    assert d["LayerType"]["MaxPooling2D"] == {"Precision": {"result": "auto"}}
    check_round_trip(d, digits, tmp_path)


def test_float_model_gets_an_input_type_and_default_weights(tmp_path):
    model = zoo.jet_tagger(quantized=False)
    d = config_from_model(model, "name", default_precision="ap_fixed<10,4>")
    assert d["Model"]["Input"] == {"Precision": "ap_fixed<10,4>"}
    dense = {"Precision": {"weight": "ap_fixed<10,4>", "bias": "ap_fixed<10,4>", **WEIGHT_LAYER_AUTO}, "ReuseFactor": 1}
    assert d["LayerName"] == {
        "fc1": dense,
        "fc2": dense,
        "fc3": dense,
        "output": dense,
        "softmax": {"Precision": {"result": "auto"}, "TableSize": 1024, "TablePrecision": "ap_fixed<18,8>"},
    }
    cfg = check_round_trip(d, model, tmp_path)
    assert cfg.input_precision == FixedType(10, 4, True)
    # LayerType 'Dense' written for the float model also steers a QDense of the same model family.
    t = load_config(config_from_model(model, "type", reuse_factor=5))
    assert t.layer("fc1", "QDense").reuse_factor == 5


def test_quantizers_without_a_plain_grid_no_bias_and_missing_bias_quantizer(tmp_path):
    inputs = keras.Input((4,), name="x")
    h = QActivation("quantized_bits(8,3,alpha=1)", name="in_q")(inputs)
    h = QDense(3, kernel_quantizer="binary", bias_quantizer="quantized_bits(8,3,alpha=1)", name="bin")(h)
    h = QDense(3, kernel_quantizer="quantized_bits(5,1,alpha=1)", name="nobq")(h)
    h = QDense(2, kernel_quantizer="quantized_bits(5,1,alpha=1)", use_bias=False, name="nob")(h)
    h = keras.layers.Dense(2, activation="sigmoid", name="sig")(h)
    model = keras.Model(inputs, h)
    d = config_from_model(model, "name")
    layers = d["LayerName"]
    # binary has no fixed-point grid: the IR takes the type from the quantizer ('auto').
    # quantized_bits(8,3): 3 integer bits + sign -> <8,4>.
    assert layers["bin"]["Precision"]["weight"] == "auto"
    assert layers["bin"]["Precision"]["bias"] == "ap_fixed<8,4,AP_RND_CONV,AP_SAT>"
    # An unquantized bias of a quantized layer gets the default precision.
    assert layers["nobq"]["Precision"]["bias"] == "ap_fixed<16,6>"
    assert layers["nobq"]["Precision"]["weight"] == "ap_fixed<5,2,AP_RND_CONV,AP_SAT>"
    assert layers["nob"]["Precision"] == {"weight": "ap_fixed<5,2,AP_RND_CONV,AP_SAT>", **WEIGHT_LAYER_AUTO}
    assert layers["sig"]["TableSize"] == 1024  # a Dense with a sigmoid activation needs a table
    assert "Input" not in d["Model"]
    types = config_from_model(model, "type")["LayerType"]
    assert types["QDense"]["Precision"] == {"weight": "auto", "bias": "auto", **WEIGHT_LAYER_AUTO}
    check_round_trip(d, model, tmp_path)


def test_model_whose_input_feeds_a_float_activation_gets_an_input_type():
    inputs = keras.Input((4,), name="x")
    h = QActivation("relu", name="float_relu")(inputs)
    model = keras.Model(inputs, QDense(2, kernel_quantizer="quantized_bits(4,0,alpha=1)", name="fc")(h))
    assert config_from_model(model)["Model"]["Input"] == {"Precision": "ap_fixed<16,6>"}
    assert config_from_model(model, "name")["LayerName"]["float_relu"] == {"Precision": {"result": "auto"}}


def test_a_leading_quantizer_of_any_kind_quantizes_the_input():
    inputs = keras.Input((4,), name="x")
    h = QActivation("binary", name="bin_in")(inputs)
    model = keras.Model(inputs, QDense(2, kernel_quantizer="quantized_bits(4,0,alpha=1)", name="fc")(h))
    d = config_from_model(model, "name")
    assert "Input" not in d["Model"]
    assert d["LayerName"]["bin_in"] == {"Precision": {"result": "auto"}}  # binary is not a fixed-point grid


def test_unknown_granularity(jet):
    with pytest.raises(ConfigError) as info:
        config_from_model(jet, "layer")
    assert str(info.value) == (
        "config_from_model: granularity: 'layer' is invalid: expected one of model, type, name; choose one of them"
    )
    with pytest.raises(ConfigError) as info:
        config_from_model(jet, "names")
    assert str(info.value) == (
        "config_from_model: granularity: 'names' is invalid: expected one of model, type, name; did you mean 'name'?"
    )


def test_config_from_model_validates_its_arguments(jet):
    with pytest.raises(ConfigError) as info:
        config_from_model(jet, reuse_factor=0)
    assert str(info.value) == f"Model.ReuseFactor: 0 is invalid: {RF_FIX}"
    with pytest.raises(ConfigError) as info:
        config_from_model(jet, table_size=100)
    assert (
        str(info.value)
        == f"Model.TableSize: 100 is invalid: {TABLE_EXPECTED}; the nearest powers of two are 64 and 128"
    )
