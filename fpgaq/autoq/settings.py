"""AutoQ's settings: the fields, goals and defaults a search takes, and their validation.

Everything a user passes to :class:`~fpgaq.autoq.AutoQ` is checked here, before
any model is built, so that a mistake is reported once, naming the setting,
what is supported and the fix (:class:`AutoQError`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from numbers import Real
from typing import Any

from fpgaq.errors import FpgaqError
from fpgaq.quantizers import get_quantizer

__all__ = [
    "DEFAULT_QUANTIZATION_CONFIG",
    "FIELDS",
    "FILTER_RANGE",
    "FPGA_METRICS",
    "GOALS",
    "REFERENCE_QUANTIZERS",
    "SAMPLERS",
    "SCHEDULES",
    "SEARCHABLE_LAYERS",
    "TUNE_FILTERS",
    "AutoQError",
    "check_regex",
    "normalize_patterns",
    "setting_error",
    "validate_goal",
    "validate_quantization_config",
]

#: The fields a quantization config lists quantizers for.
FIELDS = ("kernel", "bias", "activation", "linear")
#: Width factors that filter tuning chooses from (AutoQKeras' range).
FILTER_RANGE = (0.5, 0.75, 1.0, 1.5, 2.0)
GOALS = ("energy", "bits", "fpga")
TUNE_FILTERS = ("none", "layer", "block")
SCHEDULES = ("sequential", "cost")
SAMPLERS = ("tpe", "nsga2", "random")
FPGA_METRICS = ("lut", "latency")

#: A search space that every fpgaq back end can build; costs are bits per value.
DEFAULT_QUANTIZATION_CONFIG: dict[str, dict[str, int]] = {
    "kernel": {
        "ternary": 2,
        "quantized_bits(3,0,alpha=1)": 3,
        "quantized_bits(4,0,alpha=1)": 4,
        "quantized_bits(6,0,alpha=1)": 6,
        "quantized_bits(8,0,alpha=1)": 8,
    },
    "bias": {
        "quantized_bits(4,0,alpha=1)": 4,
        "quantized_bits(6,2,alpha=1)": 6,
        "quantized_bits(8,3,alpha=1)": 8,
    },
    "activation": {
        "quantized_relu(3,1)": 3,
        "quantized_relu(4,2)": 4,
        "quantized_relu(6,2)": 6,
        "quantized_relu(8,3)": 8,
    },
    "linear": {
        "quantized_bits(4,2,alpha=1)": 4,
        "quantized_bits(8,3,alpha=1)": 8,
        "quantized_bits(16,6,alpha=1)": 16,
    },
}

#: The 8-bit reference every cost is compared with (the forgiving factor's reference_cost).
REFERENCE_QUANTIZERS: dict[str, str] = {
    "kernel": "quantized_bits(8,0,alpha=1)",
    "bias": "quantized_bits(8,0,alpha=1)",
    "activation": "quantized_relu(8)",
    "linear": "quantized_bits(8,3,alpha=1)",
}

# Float class -> (quantize_model argument names the "kernel" field sets, width attribute or None).
SEARCHABLE_LAYERS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "Dense": (("kernel_quantizer",), "units"),
    "Conv1D": (("kernel_quantizer",), "filters"),
    "Conv2D": (("kernel_quantizer",), "filters"),
    "DepthwiseConv2D": (("depthwise_quantizer",), None),
    "SeparableConv1D": (("depthwise_quantizer", "pointwise_quantizer"), "filters"),
    "SeparableConv2D": (("depthwise_quantizer", "pointwise_quantizer"), "filters"),
}
_GOAL_PARAMS: dict[str, set[str]] = {
    "common": {"delta_p", "delta_n", "rate", "stress", "reference"},
    "energy": {"parameters_on_memory", "activations_on_memory", "min_sram_size", "rd_wr_on_io", "source_quantizers"},
    "bits": {"input_bits", "output_bits", "float_bits"},
    "fpga": {"metric", "device", "backend", "config"},
}
_DEFAULT_GOAL_PARAMS: dict[str, Any] = {"delta_p": 8.0, "delta_n": 8.0, "rate": 2.0, "stress": 1.0}


class AutoQError(FpgaqError, ValueError):
    """A search setting or model AutoQ cannot use; the message names it, what is supported and the fix."""


def setting_error(setting: str, message: str) -> AutoQError:
    """The error for a bad ``setting``, its message prefixed so the user knows where to look."""
    return AutoQError(f"AutoQ {setting}: {message}")


def check_regex(setting: str, pattern: Any) -> re.Pattern[str]:
    """``pattern`` compiled, or the error naming ``setting`` when it is not a valid regular expression."""
    if not isinstance(pattern, str):
        raise setting_error(setting, f"{pattern!r} is not a regular expression string; give e.g. 'fc.*'")
    try:
        return re.compile(pattern)
    except re.error as err:
        message = f"{pattern!r} is not a valid regular expression ({err}); escape special characters"
        raise setting_error(setting, message) from None


def validate_quantization_config(raw: Any) -> dict[str, dict[str, float]]:
    """The quantization config with every quantizer parsed and every cost checked (the default when ``None``)."""
    if raw is None:
        return {k: dict(v) for k, v in DEFAULT_QUANTIZATION_CONFIG.items()}
    if not isinstance(raw, Mapping):
        raise setting_error(
            "quantization_config",
            f"expected a mapping of {', '.join(FIELDS)} to {{quantizer: bits}}, got {type(raw).__name__}",
        )
    out: dict[str, dict[str, float]] = {}
    for field, choices in raw.items():
        if field not in FIELDS:
            raise setting_error(
                "quantization_config",
                f"unknown field {field!r}; the fields are {', '.join(FIELDS)} (kernel and bias of compute layers, "
                "activation for ReLU activations, linear for linear Activation layers)",
            )
        if not isinstance(choices, Mapping) or not choices:
            raise setting_error(
                f"quantization_config.{field}",
                f"expected a non-empty mapping of quantizer strings to their bits, e.g. "
                f"{{'quantized_bits(4,0,1)': 4}}, got {choices!r}",
            )
        entry: dict[str, float] = {}
        for spec, bits in choices.items():
            if isinstance(bits, bool) or not isinstance(bits, Real) or not bits > 0:
                raise setting_error(
                    f"quantization_config.{field}",
                    f"the cost of {spec!r} must be a positive number of bits, got {bits!r}",
                )
            try:
                q = get_quantizer(spec)
            except (ValueError, TypeError, KeyError) as err:
                raise setting_error(
                    f"quantization_config.{field}",
                    f"{spec!r} is not a quantizer fpgaq knows ({err}); use a QKeras string such as "
                    "'quantized_bits(4,0,1)', 'quantized_relu(4,2)', 'ternary' or 'binary'",
                ) from None
            if q is None:
                raise setting_error(f"quantization_config.{field}", f"{spec!r} is not a quantizer; remove it")
            entry[str(spec)] = float(bits)
        out[field] = entry
    for field in ("kernel", "bias", "activation"):
        if field not in out:
            raise setting_error(
                "quantization_config",
                f"field {field!r} is missing; every search needs kernel, bias and activation quantizers "
                f"(linear is optional), e.g. {field}: {DEFAULT_QUANTIZATION_CONFIG[field]}",
            )
    return out


def validate_goal(raw: Any) -> tuple[str, dict[str, Any]]:
    """(goal type, its parameters with defaults filled in and the reference quantizers resolved)."""
    if raw is None:
        raw = {"type": "energy"}
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping) or "type" not in raw:
        raise setting_error("goal", f"expected {{'type': one of {', '.join(GOALS)}, 'params': {{...}}}}, got {raw!r}")
    unknown = set(raw) - {"type", "params"}
    if unknown:
        raise setting_error("goal", f"unknown keys {sorted(unknown)}; a goal takes 'type' and 'params'")
    kind = raw["type"]
    if kind not in GOALS:
        raise setting_error(
            "goal.type",
            f"{kind!r} is not supported; use 'energy' (QTools pJ), 'bits' (parameter + activation bits) "
            "or 'fpga' (LUTs or latency from the resource model)",
        )
    params = dict(_DEFAULT_GOAL_PARAMS)
    given = raw.get("params") or {}
    if not isinstance(given, Mapping):
        raise setting_error("goal.params", f"expected a mapping, got {given!r}")
    allowed = _GOAL_PARAMS["common"] | _GOAL_PARAMS[kind]
    for key, value in given.items():
        if key not in allowed:
            raise setting_error(
                f"goal.params.{key}", f"not a parameter of the {kind!r} goal; it takes {', '.join(sorted(allowed))}"
            )
        params[key] = value
    for key in ("delta_p", "delta_n"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, Real) or v < 0:
            raise setting_error(f"goal.params.{key}", f"must be a percentage >= 0 (e.g. 8.0), got {v!r}")
    if isinstance(params["rate"], bool) or not isinstance(params["rate"], Real) or not params["rate"] > 1:
        raise setting_error(
            "goal.params.rate", f"must be a number > 1 (2.0: each halving of the cost), got {params['rate']!r}"
        )
    if isinstance(params["stress"], bool) or not isinstance(params["stress"], Real) or not params["stress"] > 0:
        raise setting_error("goal.params.stress", f"must be a number > 0 (1.0: no stress), got {params['stress']!r}")
    if kind == "energy":
        # QKeras accepts [reference, trial] pairs for the memory settings; both models use the trial's here.
        for key in ("parameters_on_memory", "activations_on_memory", "min_sram_size", "rd_wr_on_io"):
            if isinstance(params.get(key), (list, tuple)):
                params[key] = params[key][-1]
    if kind == "fpga":
        metric = params.setdefault("metric", "lut")
        if metric not in FPGA_METRICS:
            raise setting_error("goal.params.metric", f"{metric!r} is not supported; use 'lut' or 'latency' (cycles)")
    reference = dict(REFERENCE_QUANTIZERS)
    ref = params.get("reference")
    if ref is not None:
        if not isinstance(ref, Mapping) or set(ref) - set(FIELDS):
            raise setting_error(
                "goal.params.reference", f"expected a mapping of {', '.join(FIELDS)} to quantizers, got {ref!r}"
            )
        reference.update({k: str(v) for k, v in ref.items()})
    params["reference"] = reference
    return kind, params


def normalize_patterns(setting: str, raw: Any) -> list[tuple[str, re.Pattern[str]]]:
    """(label, compiled regex) pairs of a ``groups`` or ``blocks`` setting (a regex, a list or a dict)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(raw)]
    else:
        raise setting_error(setting, f"expected a list of regular expressions (or a dict label -> regex), got {raw!r}")
    return [(label, check_regex(f"{setting}[{label}]", pattern)) for label, pattern in items]
