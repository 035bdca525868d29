"""AutoQ: automatic heterogeneous quantization search (the AutoQKeras workflow on Optuna).

Given a float Keras model, AutoQ chooses a quantizer for every kernel, bias
and activation (and optionally a width for every layer), trains each
candidate briefly with quantization-aware training, and keeps the trade-off
between accuracy and hardware cost.

What it takes, as AutoQKeras does
---------------------------------
* ``quantization_config``: per field (``kernel``, ``bias``, ``activation``
  for ReLU activations, ``linear`` for linear ``Activation`` layers) the
  allowed quantizers and their cost in bits, e.g.
  ``{"kernel": {"ternary": 2, "quantized_bits(4,0,1)": 4}, ...}``.
* ``limit``: which of them each layer may use.  Keys are an exact layer
  name, a regular expression that fully matches layer names, a layer class
  (``"Dense"``) or ``"default"``, looked up in that order.  A value is a
  number of bits (for every field), a list ``[kernel, bias, activation]``
  (``[activation]`` for activation layers) whose entries are a number of
  bits or a list of quantizer names, or a dict ``{field: bits or names}``.
  Layers with no entry may use every quantizer of the config.
* ``goal``: ``{"type": "energy" | "bits" | "fpga", "params": {...}}``.  The
  cost of a candidate is its QTools energy (:mod:`fpgaq.qtools`), its bits
  (parameters plus activations, as AutoQKeras' ``bits`` goal counts them), or
  the LUTs or latency cycles of the resource model
  (:mod:`fpgaq.resource_model`).  The reference cost is the same measure on
  the model with every layer at 8 bits (``quantized_bits(8,0,1)`` weights,
  ``quantized_relu(8)`` activations), unless ``params.reference`` says
  otherwise.
* the forgiving factor ranks candidates by one number: ``score = accuracy *
  (1 + delta * log_rate(stress * reference_cost / trial_cost))`` with
  ``delta = delta_p / 100`` when the log is >= 0 (the candidate is cheaper than
  the stressed reference) and ``delta_n / 100`` otherwise.  ``delta_p = 8``
  and ``rate = 2`` mean "halving the cost is worth 8 % of accuracy";
  ``stress < 1`` pushes the search towards smaller models.
* ``tune_filters``: ``"none"``, ``"layer"`` (each Dense/Conv1D/Conv2D/
  Separable layer picks a width factor from 0.5, 0.75, 1, 1.5, 2) or
  ``"block"`` (one factor per search block); ``tune_filters_exceptions`` is
  a regular expression (searched in the layer name) of layers to leave
  alone.  Layers that produce a model output are never resized: their width
  is the number of classes.
* ``groups``: regular expressions (a list, or a dict label -> regex); layers
  whose names fully match one share every choice (quantizers and width).
* ``blocks`` and ``schedule_block``: search the layers block by block
  (regular expressions, fully matched), in the listed order
  (``"sequential"``) or the most expensive block first (``"cost"``, by the
  reference model's bits).  Earlier blocks keep their best choice (by the
  forgiving factor); later ones, and layers in no block, keep their most
  precise allowed quantizer until their turn.  The trials are shared out in
  proportion to each block's cost.

Engine
------
Each block is one Optuna study with two objectives (maximize validation
accuracy, minimize cost), so the result is a Pareto front.  Trials record
their validation accuracy after every epoch; a trial whose accuracy is below
the median of finished trials that cost no more (in bits) at the same epoch,
by more than ``prune_margin``, is stopped (``optuna.TrialPruned``): a cheaper
design already learns better, so this one is very likely dominated.  Optuna's
own pruners need a single objective, hence this rule.

Studies live in Optuna storage: in memory by default, or a SQLite file, or
any database URL Optuna supports (``postgresql://user:pw@host/db``).  Workers
on many machines that run the same search with the same ``storage`` and
``study_name`` share one study: each asks Optuna for new trials, so their
trials are disjoint, and ``n_trials`` counts the trials of the whole study.

Differences from AutoQKeras, deliberately: the search engine is Optuna (TPE
or NSGA-II, seeded) rather than Keras Tuner; layers without a ``limit`` entry
are searched over the whole config instead of being left float; limit and
group patterns must match the whole layer name (``re.fullmatch``); a
resized layer keeps the overlapping slice of its float weights as a warm
start instead of starting from scratch.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = [
    "DEFAULT_QUANTIZATION_CONFIG",
    "FIELDS",
    "FILTER_RANGE",
    "GOALS",
    "REFERENCE_QUANTIZERS",
    "AutoQ",
    "AutoQError",
    "Candidate",
    "bit_profile",
    "bits_cost",
    "energy_cost",
    "forgiving_factor",
    "fpga_cost",
    "pareto_mask",
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
_COMPUTE: dict[str, tuple[tuple[str, ...], str | None]] = {
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


class AutoQError(ValueError):
    """A search setting or model AutoQ cannot use; the message names it, what is supported and the fix."""


# ----------------------------------------------------------------------------------------------
# Cost measures


def forgiving_factor(
    reference_cost: float,
    trial_cost: float,
    delta_p: float = 8.0,
    delta_n: float = 8.0,
    rate: float = 2.0,
    stress: float = 1.0,
) -> float:
    """``1 + delta * log_rate(stress * reference_cost / trial_cost)`` (AutoQKeras' forgiving factor).

    ``delta`` is ``delta_p / 100`` when the log is >= 0 (cheaper than the
    stressed reference) and ``delta_n / 100`` otherwise, so ``delta_p`` is the
    percentage of accuracy one ``rate``-fold cost reduction is worth.
    """
    if reference_cost <= 0 or trial_cost <= 0:
        raise AutoQError(
            f"forgiving_factor: costs must be positive, got reference_cost={reference_cost!r}, "
            f"trial_cost={trial_cost!r}; a zero cost means the goal measured nothing (check goal.type)"
        )
    steps = math.log(stress * reference_cost / trial_cost) / math.log(rate)
    delta = (delta_p if steps >= 0 else delta_n) / 100.0
    return 1.0 + delta * steps


def _quantizer_bits(q: Any, float_bits: int) -> int:
    from fpgaq.qstats import quantizer_kind
    from fpgaq.quantizers import BaseQuantizer

    return int(quantizer_kind(q).bits) if isinstance(q, BaseQuantizer) else int(float_bits)


def _elements(tensor: Any) -> int:
    return int(np.prod([int(v) for v in tensor.shape[1:]]))


def _activation_name(act: Any) -> str | None:
    if act is None:
        return None
    return getattr(act, "__name__", None) or str(act)


def bit_profile(
    model: keras.Model, input_bits: int = 8, output_bits: int = 8, float_bits: int = 32
) -> dict[str, dict[str, float]]:
    """Per layer, the bits of its parameters and of its output activations.

    As AutoQKeras' ``bits`` goal counts them: each weight times its
    quantizer's bits, each quantized activation's output tensor times its
    bits, model inputs at ``input_bits``, softmax/sigmoid outputs at
    ``output_bits``; linear outputs of compute layers are not stored (0).
    Unquantized weights and activations count ``float_bits`` (32: honest
    about what a float layer stores).  Inputs appear under ``"<inputs>"``.
    """
    from fpgaq.quantizers import BaseQuantizer

    profile: dict[str, dict[str, float]] = {
        "<inputs>": {"parameters": 0.0, "activations": float(sum(input_bits * _elements(t) for t in model.inputs))}
    }
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        params = acts = 0.0
        out = layer.output
        if isinstance(out, (list, tuple)):
            out = out[0]
        base = cls[1:] if cls.startswith("Q") and cls[1:] in _COMPUTE else cls
        if base in _COMPUTE:
            quantizers = {
                "kernel": getattr(layer, "kernel_quantizer_internal", None),
                "depthwise_kernel": getattr(layer, "depthwise_quantizer_internal", None),
                "pointwise_kernel": getattr(layer, "pointwise_quantizer_internal", None),
                "bias": getattr(layer, "bias_quantizer_internal", None),
            }
            for var in layer.weights:
                label = var.path.split("/")[-1]
                if label not in quantizers:
                    continue
                params += float(np.prod(var.shape)) * _quantizer_bits(quantizers[label], float_bits)
            act = getattr(layer, "activation", None)
            name = _activation_name(act)
            if isinstance(act, BaseQuantizer):
                acts = _elements(out) * _quantizer_bits(act, float_bits)
            elif name in ("softmax", "sigmoid"):
                acts = _elements(out) * output_bits
            elif name not in (None, "linear"):
                acts = _elements(out) * float_bits
        elif cls == "QActivation":
            acts = _elements(out) * _quantizer_bits(layer.quantizer, float_bits)
        elif cls in ("Activation", "ReLU", "Softmax"):
            name = "relu" if cls == "ReLU" else ("softmax" if cls == "Softmax" else _activation_name(layer.activation))
            if name in ("softmax", "sigmoid"):
                acts = _elements(out) * output_bits
            elif name != "linear":
                acts = _elements(out) * float_bits
        else:
            continue
        profile[layer.name] = {"parameters": float(params), "activations": float(acts)}
    return profile


def bits_cost(model: keras.Model, input_bits: int = 8, output_bits: int = 8, float_bits: int = 32) -> float:
    """Total bits of parameters and activations (:func:`bit_profile` summed)."""
    profile = bit_profile(model, input_bits, output_bits, float_bits)
    return float(sum(v["parameters"] + v["activations"] for v in profile.values()))


def energy_cost(
    model: keras.Model,
    parameters_on_memory: str = "dram",
    activations_on_memory: str = "dram",
    min_sram_size: int = 0,
    rd_wr_on_io: bool = True,
    source_quantizers: Any = None,
) -> float:
    """QTools' Horowitz energy in pJ (the sum QKeras' ``extract_energy_sum`` makes)."""
    from fpgaq.qtools import QTools

    q = QTools(model, source_quantizers=source_quantizers)
    energy = q.pe(
        parameters_on_memory=parameters_on_memory,
        activations_on_memory=activations_on_memory,
        min_sram_size=min_sram_size,
        rd_wr_on_io=rd_wr_on_io,
    )
    return QTools.extract_energy_sum(energy)


def fpga_cost(
    model: keras.Model, metric: str = "lut", device: str = "xc7a100t", backend: str = "rtl", config: Any = None
) -> float:
    """LUTs or latency cycles of the converted design (the resource model's fast estimate).

    ``config`` is the conversion config; by default fpgaq's
    ``config_from_model`` (inputs at ``ap_fixed<16,6>`` when not quantized).
    """
    from fpgaq.config import config_from_model
    from fpgaq.design import convert
    from fpgaq.resource_model import estimate

    design = convert(model, config if config is not None else config_from_model(model))
    total = estimate(design, device=device, backend=backend, exact=False).total
    return float(total.lut if metric == "lut" else total.latency_cycles)


def pareto_mask(accuracy: Sequence[float], cost: Sequence[float]) -> list[bool]:
    """Which points no other point dominates (accuracy at least as high and cost at most as low, one strictly)."""
    pts = list(zip(accuracy, cost))
    return [
        not any((a2 >= a and c2 <= c) and (a2 > a or c2 < c) for j, (a2, c2) in enumerate(pts) if j != i)
        for i, (a, c) in enumerate(pts)
    ]


# ----------------------------------------------------------------------------------------------
# Validation


def _fail(setting: str, message: str) -> AutoQError:
    return AutoQError(f"AutoQ {setting}: {message}")


def _check_regex(setting: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise _fail(setting, f"{pattern!r} is not a regular expression string; give e.g. 'fc.*'")
    try:
        return re.compile(pattern)
    except re.error as err:
        message = f"{pattern!r} is not a valid regular expression ({err}); escape special characters"
        raise _fail(setting, message) from None


def _validate_quantization_config(raw: Any) -> dict[str, dict[str, float]]:
    from fpgaq.quantizers import get_quantizer

    if raw is None:
        return {k: dict(v) for k, v in DEFAULT_QUANTIZATION_CONFIG.items()}
    if not isinstance(raw, Mapping):
        raise _fail(
            "quantization_config",
            f"expected a mapping of {', '.join(FIELDS)} to {{quantizer: bits}}, got {type(raw).__name__}",
        )
    out: dict[str, dict[str, float]] = {}
    for field, choices in raw.items():
        if field not in FIELDS:
            raise _fail(
                "quantization_config",
                f"unknown field {field!r}; the fields are {', '.join(FIELDS)} (kernel and bias of compute layers, "
                "activation for ReLU activations, linear for linear Activation layers)",
            )
        if not isinstance(choices, Mapping) or not choices:
            raise _fail(
                f"quantization_config.{field}",
                f"expected a non-empty mapping of quantizer strings to their bits, e.g. "
                f"{{'quantized_bits(4,0,1)': 4}}, got {choices!r}",
            )
        entry: dict[str, float] = {}
        for spec, bits in choices.items():
            if isinstance(bits, bool) or not isinstance(bits, Real) or not bits > 0:
                raise _fail(
                    f"quantization_config.{field}",
                    f"the cost of {spec!r} must be a positive number of bits, got {bits!r}",
                )
            try:
                q = get_quantizer(spec)
            except (ValueError, TypeError, KeyError) as err:
                raise _fail(
                    f"quantization_config.{field}",
                    f"{spec!r} is not a quantizer fpgaq knows ({err}); use a QKeras string such as "
                    "'quantized_bits(4,0,1)', 'quantized_relu(4,2)', 'ternary' or 'binary'",
                ) from None
            if q is None:
                raise _fail(f"quantization_config.{field}", f"{spec!r} is not a quantizer; remove it")
            entry[str(spec)] = float(bits)
        out[field] = entry
    for field in ("kernel", "bias", "activation"):
        if field not in out:
            raise _fail(
                "quantization_config",
                f"field {field!r} is missing; every search needs kernel, bias and activation quantizers "
                f"(linear is optional), e.g. {field}: {DEFAULT_QUANTIZATION_CONFIG[field]}",
            )
    return out


def _validate_goal(raw: Any) -> tuple[str, dict[str, Any]]:
    if raw is None:
        raw = {"type": "energy"}
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping) or "type" not in raw:
        raise _fail("goal", f"expected {{'type': one of {', '.join(GOALS)}, 'params': {{...}}}}, got {raw!r}")
    unknown = set(raw) - {"type", "params"}
    if unknown:
        raise _fail("goal", f"unknown keys {sorted(unknown)}; a goal takes 'type' and 'params'")
    kind = raw["type"]
    if kind not in GOALS:
        raise _fail(
            "goal.type",
            f"{kind!r} is not supported; use 'energy' (QTools pJ), 'bits' (parameter + activation bits) "
            "or 'fpga' (LUTs or latency from the resource model)",
        )
    params = dict(_DEFAULT_GOAL_PARAMS)
    given = raw.get("params") or {}
    if not isinstance(given, Mapping):
        raise _fail("goal.params", f"expected a mapping, got {given!r}")
    allowed = _GOAL_PARAMS["common"] | _GOAL_PARAMS[kind]
    for key, value in given.items():
        if key not in allowed:
            raise _fail(
                f"goal.params.{key}", f"not a parameter of the {kind!r} goal; it takes {', '.join(sorted(allowed))}"
            )
        params[key] = value
    for key in ("delta_p", "delta_n"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, Real) or v < 0:
            raise _fail(f"goal.params.{key}", f"must be a percentage >= 0 (e.g. 8.0), got {v!r}")
    if isinstance(params["rate"], bool) or not isinstance(params["rate"], Real) or not params["rate"] > 1:
        raise _fail("goal.params.rate", f"must be a number > 1 (2.0: each halving of the cost), got {params['rate']!r}")
    if isinstance(params["stress"], bool) or not isinstance(params["stress"], Real) or not params["stress"] > 0:
        raise _fail("goal.params.stress", f"must be a number > 0 (1.0: no stress), got {params['stress']!r}")
    if kind == "energy":
        # QKeras accepts [reference, trial] pairs for the memory settings; both models use the trial's here.
        for key in ("parameters_on_memory", "activations_on_memory", "min_sram_size", "rd_wr_on_io"):
            if isinstance(params.get(key), (list, tuple)):
                params[key] = params[key][-1]
    if kind == "fpga":
        metric = params.setdefault("metric", "lut")
        if metric not in FPGA_METRICS:
            raise _fail("goal.params.metric", f"{metric!r} is not supported; use 'lut' or 'latency' (cycles)")
    reference = dict(REFERENCE_QUANTIZERS)
    ref = params.get("reference")
    if ref is not None:
        if not isinstance(ref, Mapping) or set(ref) - set(FIELDS):
            raise _fail(
                "goal.params.reference", f"expected a mapping of {', '.join(FIELDS)} to quantizers, got {ref!r}"
            )
        reference.update({k: str(v) for k, v in ref.items()})
    params["reference"] = reference
    return kind, params


# ----------------------------------------------------------------------------------------------
# The search space


@dataclasses.dataclass
class _Site:
    """One layer AutoQ quantizes: which fields it has and what each may use."""

    name: str
    cls: str
    fields: tuple[str, ...]
    width_attr: str | None
    resizable: bool = False
    choices: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    unit: str = ""  # the name its Optuna parameters hang off: the layer, or its group
    block: int | None = None


def _compute_layers_feeding_outputs(model: keras.Model) -> set[str]:
    """Compute layers whose output reaches a model output through non-compute layers only."""
    found: set[str] = set()
    seen: set[int] = set()
    stack = list(model.outputs)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        history = getattr(t, "_keras_history", None)
        if history is None:
            continue
        op = history[0]
        if type(op).__name__ in _COMPUTE:
            found.add(op.name)
            continue
        inputs = getattr(op, "input", None)
        if inputs is None:
            continue
        stack.extend(inputs if isinstance(inputs, (list, tuple)) else [inputs])
    return found


def _find_sites(model: keras.Model) -> tuple[list[_Site], dict[str, str]]:
    """The searchable layers of a float model, and why the others are left alone."""
    sites: list[_Site] = []
    skipped: dict[str, str] = {}
    outputs = _compute_layers_feeding_outputs(model)
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        if cls in _COMPUTE:
            fields = ["kernel"]
            if getattr(layer, "use_bias", True):
                fields.append("bias")
            act = _activation_name(getattr(layer, "activation", None))
            if act == "relu":
                fields.append("activation")
            elif act not in (None, "linear", "softmax"):
                skipped[f"{layer.name}.activation"] = f"activation {act!r} has no quantizer field; it stays float"
            width = _COMPUTE[cls][1]
            sites.append(
                _Site(layer.name, cls, tuple(fields), width, resizable=width is not None and layer.name not in outputs)
            )
        elif cls == "ReLU" or (cls == "Activation" and _activation_name(layer.activation) == "relu"):
            sites.append(_Site(layer.name, cls, ("activation",), None))
        elif cls == "Activation" and _activation_name(layer.activation) == "linear":
            sites.append(_Site(layer.name, cls, ("linear",), None))
        elif (cls.startswith("Q") and cls[1:] in _COMPUTE) or cls == "QActivation":
            raise _fail(
                "model",
                f"layer {layer.name!r} is already quantized ({cls}); AutoQ starts from the float model "
                f"(e.g. fpgaq.zoo.jet_tagger(quantized=False)): pass the float twin",
            )
        else:
            skipped[layer.name] = "not a searchable layer (no weights or activation quantizer to choose)"
    if not sites:
        raise _fail(
            "model",
            f"model {model.name!r} has no layer to quantize; AutoQ searches {', '.join(_COMPUTE)} layers and "
            "ReLU / linear Activation layers",
        )
    return sites, skipped


_LIMIT_POSITIONS = {"kernel": 0, "bias": 1, "activation": 2, "linear": 2}


def _limit_entry(site: _Site, limit: Mapping[str, Any]) -> tuple[str, Any] | None:
    if site.name in limit:
        return site.name, limit[site.name]
    for key, value in limit.items():
        if key == "default" or key in _COMPUTE or key in ("Activation", "ReLU", "QActivation"):
            continue
        if re.fullmatch(key, site.name):
            return key, value
    for key in (site.cls, f"Q{site.cls}" if site.cls in _COMPUTE else "QActivation", "default"):
        if key in limit:
            return key, limit[key]
    return None


def _limited_choices(
    site: _Site, field: str, qconfig: dict[str, dict[str, float]], limit: Mapping[str, Any]
) -> list[str]:
    options = qconfig.get(field)
    if not options:
        raise _fail(
            "quantization_config",
            f"layer {site.name!r} ({site.cls}) needs {field!r} quantizers but the config has none; add a "
            f"'{field}' section, e.g. {field}: {DEFAULT_QUANTIZATION_CONFIG[field]}",
        )
    found = _limit_entry(site, limit)
    if found is None:
        return list(options)
    key, value = found
    setting = f"limit[{key!r}]"
    if isinstance(value, Mapping):
        bad = set(value) - set(FIELDS)
        if bad:
            raise _fail(setting, f"unknown fields {sorted(bad)}; a dict limit takes {', '.join(FIELDS)}")
        item = value.get(field)
        if item is None and field == "linear":
            item = value.get("activation")
    elif isinstance(value, (list, tuple)):
        if site.fields in (("activation",), ("linear",)):
            position = 0 if len(value) == 1 else 2
        else:
            position = _LIMIT_POSITIONS[field]
        item = value[position] if position < len(value) else None
        if item is None and "default" in limit and key != "default":
            default = limit["default"]
            item = default if not isinstance(default, (list, tuple, Mapping)) else None
    else:
        item = value
    if item is None:
        return list(options)
    if isinstance(item, (list, tuple)):
        unknown = [q for q in item if q not in options]
        if unknown:
            raise _fail(
                setting,
                f"quantizers {unknown} for {field} of layer {site.name!r} are not in quantization_config.{field} "
                f"({', '.join(options)}); list only configured quantizers or add them to the config",
            )
        chosen = [q for q in options if q in item]
    elif isinstance(item, Real) and not isinstance(item, bool):
        chosen = [q for q, bits in options.items() if bits <= item]
    else:
        raise _fail(setting, f"{item!r} is neither a number of bits nor a list of quantizer names")
    if not chosen:
        raise _fail(
            setting,
            f"leaves no {field} quantizer for layer {site.name!r}: the cheapest configured one costs "
            f"{min(options.values()):g} bits; raise the limit or add cheaper quantizers",
        )
    return chosen


def _normalize_patterns(setting: str, raw: Any) -> list[tuple[str, re.Pattern[str]]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(raw)]
    else:
        raise _fail(setting, f"expected a list of regular expressions (or a dict label -> regex), got {raw!r}")
    return [(label, _check_regex(f"{setting}[{label}]", pattern)) for label, pattern in items]


# ----------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class Candidate:
    """One trained trial: its metrics, its choices, and (when asked for) its model."""

    study: str
    number: int
    accuracy: float
    cost: float
    reference_cost: float
    forgiving_factor: float
    score: float
    quantizers: dict[str, dict[str, str]]
    filters: dict[str, float]
    model: keras.Model | None = None

    @property
    def cost_ratio(self) -> float:
        """How many times cheaper than the reference (> 1: cheaper)."""
        return self.reference_cost / self.cost


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int = 4096) -> float:
    """Top-1 accuracy by direct calls (``model.predict`` retraces for every new trial model)."""
    hits = 0
    for i in range(0, len(x), batch):
        pred = keras.ops.convert_to_numpy(model(x[i : i + batch], training=False))
        hits += int(np.sum(np.argmax(pred, axis=-1) == y[i : i + batch]))
    return hits / max(1, len(x))


class _EpochWatcher(keras.callbacks.Callback):
    """Validation accuracy after every epoch, and the early stop of poor learning curves."""

    def __init__(self, evaluate: Callable[[], float], should_prune: Callable[[int, float], bool], epochs: int) -> None:
        super().__init__()
        self.evaluate = evaluate
        self.should_prune = should_prune
        self.epochs = epochs
        self.curve: list[float] = []
        self.pruned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        acc = self.evaluate()
        self.curve.append(acc)
        if epoch + 1 < self.epochs and self.should_prune(epoch, acc):
            self.pruned = True
            self.model.stop_training = True


# ----------------------------------------------------------------------------------------------
# AutoQ


class AutoQ:
    """Automatic heterogeneous quantization of a float Keras model (see the module docstring).

    ``storage``: ``None`` (in memory), a SQLite file path, or a database URL
    (``sqlite:///autoq.db``, ``postgresql://user:pw@host/db``); with a URL,
    every worker running the same search with the same ``study_name`` shares
    the study.  ``sampler``: ``tpe`` (multi-objective TPE, default), ``nsga2``
    or ``random``, seeded with ``seed`` (mixed with the process id when the
    storage is shared, so that workers explore different points, unless
    ``worker_seed`` fixes it).  ``output_dir``: where each trained trial's
    weights are kept, so that any worker can return any trial's model without
    retraining it.
    """

    def __init__(
        self,
        model: keras.Model,
        quantization_config: Mapping[str, Mapping[str, float]] | None = None,
        goal: Mapping[str, Any] | str | None = None,
        limit: Mapping[str, Any] | None = None,
        tune_filters: str = "none",
        tune_filters_exceptions: str | None = None,
        groups: Sequence[str] | Mapping[str, str] | None = None,
        blocks: Sequence[str] | None = None,
        schedule_block: str = "sequential",
        storage: str | os.PathLike[str] | None = None,
        study_name: str | None = None,
        seed: int = 0,
        sampler: str = "tpe",
        transfer_weights: bool = True,
        prune_margin: float = 0.05,
        prune_min_trials: int = 3,
        worker_seed: int | None = None,
        output_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise _fail("model", f"expected a keras.Model (the float model), got {type(model).__name__}")
        self.model = model
        self.quantization_config = _validate_quantization_config(quantization_config)
        self.goal, self.goal_params = _validate_goal(goal)
        if limit is not None and not isinstance(limit, Mapping):
            raise _fail(
                "limit", f"expected a mapping of layer name / regex / class / 'default' to limits, got {limit!r}"
            )
        self.limit = dict(limit or {})
        for key in self.limit:
            if key != "default" and key not in _COMPUTE and key not in ("Activation", "ReLU"):
                _check_regex(f"limit key {key!r}", key)
        if tune_filters not in TUNE_FILTERS:
            raise _fail(
                "tune_filters",
                f"{tune_filters!r} is not supported; use 'none', 'layer' (a width per layer) or 'block' "
                "(one width per search block)",
            )
        self.tune_filters = tune_filters
        self.tune_filters_exceptions = (
            None
            if tune_filters_exceptions is None
            else _check_regex("tune_filters_exceptions", tune_filters_exceptions)
        )
        if schedule_block not in SCHEDULES:
            raise _fail(
                "schedule_block",
                f"{schedule_block!r} is not supported; use 'sequential' (blocks in the listed order) or 'cost' "
                "(most expensive block first)",
            )
        self.schedule_block = schedule_block
        if sampler not in SAMPLERS:
            raise _fail("sampler", f"{sampler!r} is not supported; use one of {', '.join(SAMPLERS)}")
        self.sampler = sampler
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise _fail("seed", f"must be an integer, got {seed!r}")
        self.seed = seed
        self.worker_seed = worker_seed
        self.transfer_weights = bool(transfer_weights)
        if not float(prune_margin) >= 0:
            raise _fail(
                "prune_margin", f"must be >= 0 (accuracy points as a fraction, e.g. 0.05), got {prune_margin!r}"
            )
        self.prune_margin = float(prune_margin)
        self.prune_min_trials = int(prune_min_trials)
        self.storage_url = self._storage_url(storage)
        self.study_name = study_name or f"autoq-{model.name}"
        self.output_dir = Path(output_dir) if output_dir is not None else None

        self.sites, self.skipped = _find_sites(model)
        self._assign_groups(_normalize_patterns("groups", groups))
        for site in self.sites:
            for field in site.fields:
                site.choices[field] = _limited_choices(site, field, self.quantization_config, self.limit)
        self._merge_group_choices()
        self._assign_blocks(_normalize_patterns("blocks", blocks))

        self.reference_model = self._reference_model()
        self.reference_cost = self.cost(self.reference_model)
        self.block_order = self._schedule()
        self._weights: dict[tuple[str, int], list[np.ndarray]] = {}
        self._fit_settings: dict[str, Any] | None = None
        self.my_trials: list[tuple[str, int]] = []  # (study, number) of the trials this process ran
        self._storage_obj: Any = None
        self._studies: dict[int, Any] = {}

    # -- set-up ----------------------------------------------------------------------------------

    @staticmethod
    def _storage_url(storage: Any) -> str | None:
        if storage is None:
            return None
        text = os.fspath(storage)
        if "://" in text:
            return text
        return f"sqlite:///{Path(text).resolve()}"

    def _assign_groups(self, groups: list[tuple[str, re.Pattern[str]]]) -> None:
        self.groups: dict[str, list[str]] = {}
        for site in self.sites:
            site.unit = site.name
            for label, pattern in groups:
                if pattern.fullmatch(site.name):
                    site.unit = f"group:{label}"
                    self.groups.setdefault(label, []).append(site.name)
                    break
        for label, pattern in groups:
            if label not in self.groups:
                raise _fail(
                    f"groups[{label}]",
                    f"{pattern.pattern!r} matches no searchable layer; searchable layers: "
                    f"{', '.join(s.name for s in self.sites)}",
                )

    def _merge_group_choices(self) -> None:
        """Grouped layers share a parameter, so each field offers what every member allows."""
        by_unit: dict[str, list[_Site]] = {}
        for site in self.sites:
            by_unit.setdefault(site.unit, []).append(site)
        for unit, members in by_unit.items():
            if len(members) < 2:
                continue
            fields = {f for s in members for f in s.fields}
            for field in fields:
                holders = [s for s in members if field in s.fields]
                common = [q for q in holders[0].choices[field] if all(q in s.choices[field] for s in holders)]
                if not common:
                    raise _fail(
                        f"groups[{unit[6:]}]",
                        f"layers {[s.name for s in holders]} share no allowed {field} quantizer under the limits; "
                        "relax the limits or split the group",
                    )
                for s in holders:
                    s.choices[field] = common

    def _assign_blocks(self, blocks: list[tuple[str, re.Pattern[str]]]) -> None:
        self.blocks = blocks
        if not blocks:
            for site in self.sites:
                site.block = 0
            self.block_labels = ["all"]
            return
        for site in self.sites:
            for index, (_, pattern) in enumerate(blocks):
                if pattern.fullmatch(site.name):
                    site.block = index
                    break
        self.block_labels = [p.pattern for _, p in blocks]
        for index, (_, pattern) in enumerate(blocks):
            if not any(s.block == index for s in self.sites):
                raise _fail(
                    f"blocks[{index}]",
                    f"{pattern.pattern!r} matches no searchable layer; searchable layers: "
                    f"{', '.join(s.name for s in self.sites)}",
                )
        for unit in {s.unit for s in self.sites if s.unit.startswith("group:")}:
            owners = {s.block for s in self.sites if s.unit == unit}
            if len(owners) > 1:
                raise _fail(
                    f"groups[{unit[6:]}]",
                    "its layers fall in different blocks; a group's shared choice must be searched in one block: "
                    "put its layers in the same block",
                )

    def _schedule(self) -> list[int]:
        indexes = sorted({s.block for s in self.sites if s.block is not None})
        if self.schedule_block == "sequential":
            return indexes
        costs = self.block_costs()
        return sorted(indexes, key=lambda i: (-costs[i], i))

    def block_costs(self) -> dict[int, float]:
        """Each block's share of the reference model, in bits (parameters + activations of its layers)."""
        profile = bit_profile(self.reference_model)
        costs = dict.fromkeys(range(max(1, len(self.blocks))), 0.0)
        for site in self.sites:
            if site.block is not None and site.name in profile:
                costs[site.block] += profile[site.name]["parameters"] + profile[site.name]["activations"]
        return costs

    # -- models ------------------------------------------------------------------------------

    def search_space(self, block: int | None = None) -> dict[str, list[Any]]:
        """Optuna parameter name -> its choices (all blocks, or one)."""
        space: dict[str, list[Any]] = {}
        for site in self.sites:
            if block is not None and site.block != block:
                continue
            for field in site.fields:
                space[f"{site.unit}/{field}"] = list(site.choices[field])
            if self._resizable(site):
                space[self._filters_key(site)] = list(FILTER_RANGE)
        return space

    def _filters_key(self, site: _Site) -> str:
        return f"{site.unit}/filters" if self.tune_filters == "layer" else f"block{site.block}/filters"

    def _resizable(self, site: _Site) -> bool:
        if self.tune_filters == "none" or not site.resizable:
            return False
        return not (self.tune_filters_exceptions is not None and self.tune_filters_exceptions.search(site.name))

    def default_assignment(self) -> dict[str, Any]:
        """The stand-in for layers not searched yet: their most precise allowed quantizer, width 1."""
        out: dict[str, Any] = {}
        for name, choices in self.search_space().items():
            if name.endswith("/filters"):
                out[name] = 1.0
                continue
            field = name.rsplit("/", 1)[1]
            costs = self.quantization_config[field]
            out[name] = max(choices, key=lambda q: (costs[q], -choices.index(q)))
        return out

    def _layer_choices(self, assignment: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
        quantizers: dict[str, dict[str, str]] = {}
        filters: dict[str, float] = {}
        for site in self.sites:
            quantizers[site.name] = {f: str(assignment[f"{site.unit}/{f}"]) for f in site.fields}
            if self._resizable(site):
                factor = float(assignment[self._filters_key(site)])
                if factor != 1.0:
                    filters[site.name] = factor
        return quantizers, filters

    def _quantize_config(self, quantizers: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for site in self.sites:
            chosen = quantizers[site.name]
            if site.cls in _COMPUTE:
                entry: dict[str, Any] = dict.fromkeys(_COMPUTE[site.cls][0], chosen["kernel"])
                if "bias" in chosen:
                    entry["bias_quantizer"] = chosen["bias"]
                if "activation" in chosen:
                    entry["activation"] = chosen["activation"]
            else:
                entry = {"activation": chosen.get("activation", chosen.get("linear"))}
            config[site.name] = entry
        return config

    def build_model(
        self, quantizers: Mapping[str, Mapping[str, str]], filters: Mapping[str, float] | None = None
    ) -> keras.Model:
        """The quantized model with these per-layer quantizers and width factors, weights from the float model.

        A resized layer keeps the overlapping slice of its float weights (the
        first units/filters) as a warm start; the rest keep their initializer.
        """
        from fpgaq.quantize_model import quantize_model

        config = self._quantize_config(quantizers)
        filters = dict(filters or {})
        if not filters:
            qmodel, _ = quantize_model(self.model, config, transfer_weights=self.transfer_weights)
            return qmodel
        widths = {name: factor for name, factor in filters.items() if factor != 1.0}

        def resize(layer: keras.layers.Layer) -> keras.layers.Layer:
            cfg = layer.get_config()
            site = next((s for s in self.sites if s.name == layer.name), None)
            if layer.name in widths and site is not None and site.width_attr:
                cfg[site.width_attr] = max(1, int(cfg[site.width_attr] * widths[layer.name]))
            return layer.__class__.from_config(cfg)

        keras.utils.set_random_seed(self.seed)
        resized = keras.models.clone_model(self.model, clone_function=resize)
        qmodel, _ = quantize_model(resized, config, transfer_weights=False)
        if self.transfer_weights:
            for old, new in zip(self.model.layers, qmodel.layers):
                old_w, new_w = old.get_weights(), new.get_weights()
                if not old_w or len(old_w) != len(new_w):
                    continue
                merged = []
                for a, b in zip(old_w, new_w):
                    b = b.copy()
                    overlap = tuple(slice(0, min(p, q)) for p, q in zip(a.shape, b.shape))
                    b[overlap] = a[overlap]
                    merged.append(b)
                new.set_weights(merged)
        return qmodel

    def model_for(self, assignment: Mapping[str, Any]) -> keras.Model:
        """The (untrained) quantized model of a full parameter assignment."""
        return self.build_model(*self._layer_choices(assignment))

    def _reference_model(self) -> keras.Model:
        ref = self.goal_params["reference"]
        quantizers = {s.name: {f: ref[f] for f in s.fields} for s in self.sites}
        return self.build_model(quantizers)

    def cost(self, model: keras.Model) -> float:
        """The goal's cost of a quantized model (pJ, bits, LUTs or cycles)."""
        p = self.goal_params
        if self.goal == "energy":
            from fpgaq.qtools import QToolsError

            try:
                value = energy_cost(
                    model,
                    parameters_on_memory=p.get("parameters_on_memory", "dram"),
                    activations_on_memory=p.get("activations_on_memory", "dram"),
                    min_sram_size=p.get("min_sram_size", 0),
                    rd_wr_on_io=p.get("rd_wr_on_io", True),
                    source_quantizers=p.get("source_quantizers"),
                )
            except QToolsError as err:
                raise _fail("goal (energy)", f"{err}; or use goal type 'bits'") from None
        elif self.goal == "bits":
            value = bits_cost(
                model, int(p.get("input_bits", 8)), int(p.get("output_bits", 8)), int(p.get("float_bits", 32))
            )
        else:
            value = fpga_cost(
                model,
                metric=p.get("metric", "lut"),
                device=p.get("device", "xc7a100t"),
                backend=p.get("backend", "rtl"),
                config=p.get("config"),
            )
        return max(float(value), 1e-9 if self.goal != "fpga" else 1.0)

    def score(self, accuracy: float, cost: float) -> tuple[float, float]:
        """(forgiving factor, accuracy times it) of a trial."""
        p = self.goal_params
        ff = forgiving_factor(self.reference_cost, cost, p["delta_p"], p["delta_n"], p["rate"], p["stress"])
        return ff, accuracy * ff

    # -- the search ----------------------------------------------------------------------------

    def _block_study_name(self, block: int) -> str:
        return self.study_name if len(self.block_order) == 1 else f"{self.study_name}:block{block}"

    def _make_sampler(self) -> Any:
        import optuna

        seed = self.seed if self.storage_url is None else self.seed + os.getpid()
        if self.worker_seed is not None:
            seed = self.worker_seed
        if self.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)

    def _storage(self) -> Any:
        import optuna

        if self._storage_obj is not None:
            return self._storage_obj
        if self.storage_url is None:
            self._storage_obj = optuna.storages.InMemoryStorage()
            return self._storage_obj
        kwargs: dict[str, Any] = {}
        if self.storage_url.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        last: Exception | None = None
        for attempt in range(10):  # concurrent workers may race to create the schema
            try:
                self._storage_obj = optuna.storages.RDBStorage(self.storage_url, **kwargs)
                return self._storage_obj
            except Exception as err:  # retried, then re-raised with the URL named
                last = err
                time.sleep(0.2 * (attempt + 1))
        raise _fail("storage", f"cannot open {self.storage_url!r}: {last}")

    def study(self, block: int | None = None) -> Any:
        """The Optuna study of a block (the first scheduled one by default), created if needed."""
        import optuna

        block = self.block_order[0] if block is None else block
        if block in self._studies:
            return self._studies[block]
        name = self._block_study_name(block)
        storage = self._storage()
        last: Exception | None = None
        for attempt in range(10):
            try:
                study = optuna.create_study(
                    storage=storage,
                    study_name=name,
                    directions=["maximize", "minimize"],
                    sampler=self._make_sampler(),
                    load_if_exists=True,
                )
                break
            except Exception as err:  # two workers creating one study at once
                last = err
                time.sleep(0.2 * (attempt + 1))
        else:
            raise _fail("study", f"cannot create or load study {name!r} in {self.storage_url!r}: {last}")
        if study.directions != [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]:
            raise _fail(
                "study_name",
                f"study {name!r} already exists with other objectives; choose a new study_name for an AutoQ search",
            )
        study.set_user_attr("reference_cost", self.reference_cost)
        study.set_user_attr("goal", self.goal)
        self._studies[block] = study
        return study

    def _trials(self, block: int, states: Sequence[Any] | None = None) -> list[Any]:
        import optuna

        states = states or (optuna.trial.TrialState.COMPLETE,)
        return self.study(block).get_trials(deepcopy=False, states=tuple(states))

    def _best_assignment(self, block: int) -> dict[str, Any] | None:
        done = self._trials(block)
        if not done:
            return None
        best = max(done, key=lambda t: (t.user_attrs["score"], -t.number))
        return dict(best.user_attrs["assignment"])

    def _trials_per_block(self, n_trials: int) -> dict[int, int]:
        if len(self.block_order) == 1:
            return {self.block_order[0]: n_trials}
        costs = self.block_costs()
        total = sum(costs[b] for b in self.block_order) or 1.0
        share = {b: max(1, math.floor(n_trials * costs[b] / total)) for b in self.block_order}
        for b in sorted(self.block_order, key=lambda b: -costs[b]):
            if sum(share.values()) >= n_trials:
                break
            share[b] += 1
        return share

    def fit(
        self,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any] | None = None,
        epochs: int = 3,
        n_trials: int = 20,
        timeout: float | None = None,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        progress: bool = False,
        wait_for_workers: float = 3600.0,
    ) -> AutoQ:
        """Run the search: ``n_trials`` trials in total over the (shared) study, ``epochs`` of QAT each.

        Without ``validation_data`` a seeded 20 % of ``(x, y)`` is held out.
        Labels may be integers or one-hot.  With several workers on one
        storage, each stops when the study has ``n_trials`` finished trials;
        with blocks, a worker waits (up to ``wait_for_workers`` s) for the
        other workers' trials of a block before starting the next one.
        """
        import optuna

        from fpgaq.datasets import train_test_split

        for key, value, minimum in (("epochs", epochs, 1), ("n_trials", n_trials, 1), ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise _fail(f"fit {key}", f"must be an integer >= {minimum}, got {value!r}")
        x = np.asarray(x)
        y = self._labels(y, "y")
        if validation_data is None:
            x, y, x_val, y_val = train_test_split(x, y, test_fraction=0.2, seed=self.seed)
        else:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) != 2:
                raise _fail("fit validation_data", "expected a pair (x_val, y_val)")
            x_val, y_val = np.asarray(validation_data[0]), self._labels(validation_data[1], "validation_data y")
        self._fit_settings = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate}
        self._data = (x, y, x_val, y_val)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        start = time.monotonic()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_trials, desc="AutoQ", unit="trial")
        try:
            shares = self._trials_per_block(n_trials)
            fixed: dict[str, Any] = self.default_assignment()
            for block in self.block_order:
                left = None if timeout is None else max(0.0, timeout - (time.monotonic() - start))
                if left is not None and left <= 0:
                    break
                self._run_block(block, fixed, shares[block], left, bar)
                self._wait_for_block(block, wait_for_workers)
                best = self._best_assignment(block)
                if best is not None:
                    block_keys = set(self.search_space(block))
                    fixed.update({k: v for k, v in best.items() if k in block_keys})
        finally:
            if bar is not None:
                bar.close()
        return self

    @staticmethod
    def _labels(y: Any, what: str) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            return np.argmax(y, axis=1)
        if y.ndim == 2 and y.shape[1] == 1:
            return y[:, 0].astype(np.int64)
        if y.ndim != 1:
            raise _fail(f"fit {what}", f"labels must be integers (n,) or one-hot (n, classes), got shape {y.shape}")
        return y.astype(np.int64)

    def _run_block(self, block: int, fixed: dict[str, Any], n_trials: int, timeout: float | None, bar: Any) -> None:
        import optuna

        study = self.study(block)
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)

        def count() -> int:
            return len(study.get_trials(deepcopy=False, states=finished))

        remaining = n_trials - count()
        if remaining <= 0:
            return

        def stop_when_full(study: Any, trial: Any) -> None:
            if bar is not None:
                bar.update(1)
                done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
                if done:
                    best = max(done, key=lambda t: t.user_attrs["score"])
                    bar.set_postfix(
                        best_acc=f"{best.values[0]:.3f}",
                        cost_ratio=f"{self.reference_cost / best.values[1]:.2f}x",
                        block=self.block_labels[block],
                    )
            if count() >= n_trials:
                study.stop()

        study.optimize(
            lambda trial: self._objective(trial, block, fixed),
            n_trials=remaining,
            timeout=timeout,
            callbacks=[stop_when_full],
            gc_after_trial=True,
        )

    def _wait_for_block(self, block: int, patience: float) -> None:
        import optuna

        if self.storage_url is None:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            running = self._trials(block, (optuna.trial.TrialState.RUNNING,))
            if not running or len(self.block_order) == 1:
                return
            time.sleep(1.0)

    def _objective(self, trial: Any, block: int, fixed: Mapping[str, Any]) -> tuple[float, float]:
        import optuna

        from fpgaq.train import train_classifier

        assert self._fit_settings is not None
        x, y, x_val, y_val = self._data
        assignment = dict(fixed)
        for name, choices in self.search_space(block).items():
            assignment[name] = trial.suggest_categorical(name, choices)
        quantizers, filters = self._layer_choices(assignment)
        model = self.build_model(quantizers, filters)
        bits = bits_cost(model)
        trial.set_user_attr("assignment", assignment)
        trial.set_user_attr("quantizers", quantizers)
        trial.set_user_attr("filters", filters)
        trial.set_user_attr("bits", bits)
        study = trial.study
        epochs = self._fit_settings["epochs"]

        def should_prune(epoch: int, acc: float) -> bool:
            trial.set_user_attr("curve", [*watcher.curve])
            peers = [
                t.user_attrs["curve"][epoch]
                for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get("bits", math.inf) <= bits and len(t.user_attrs.get("curve", ())) > epoch
            ]
            if len(peers) < self.prune_min_trials:
                return False
            return acc < statistics.median(peers) - self.prune_margin

        watcher = _EpochWatcher(lambda: _accuracy(model, x_val, y_val), should_prune, epochs)
        train_classifier(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=self._fit_settings["batch_size"],
            learning_rate=self._fit_settings["learning_rate"],
            seed=self.seed,
            callbacks=[watcher],
        )
        trial.set_user_attr("curve", watcher.curve)
        self.my_trials.append((study.study_name, trial.number))
        if watcher.pruned:
            raise optuna.TrialPruned(f"accuracy {watcher.curve[-1]:.3f} after epoch {len(watcher.curve)}")
        acc = watcher.curve[-1]
        cost = self.cost(model)
        ff, score = self.score(acc, cost)
        trial.set_user_attr("forgiving_factor", ff)
        trial.set_user_attr("score", score)
        self._weights[(study.study_name, trial.number)] = model.get_weights()
        if self.output_dir is not None:
            path = self._weights_path(study.study_name, trial.number)
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save_weights(os.fspath(path))
        return acc, cost

    def _weights_path(self, study_name: str, number: int) -> Path:
        assert self.output_dir is not None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", study_name)
        return self.output_dir / "trials" / f"{safe}-{number}.weights.h5"

    # -- results ---------------------------------------------------------------------------------

    def completed(self) -> list[Candidate]:
        """Every completed trial of every block, in block order then trial number."""
        out = []
        for block in self.block_order:
            name = self._block_study_name(block)
            for t in sorted(self._trials(block), key=lambda t: t.number):
                out.append(
                    Candidate(
                        study=name,
                        number=t.number,
                        accuracy=float(t.values[0]),
                        cost=float(t.values[1]),
                        reference_cost=self.reference_cost,
                        forgiving_factor=float(t.user_attrs["forgiving_factor"]),
                        score=float(t.user_attrs["score"]),
                        quantizers=dict(t.user_attrs["quantizers"]),
                        filters=dict(t.user_attrs["filters"]),
                    )
                )
        return out

    def _trained(self, candidate: Candidate) -> keras.Model:
        """The candidate's trained model: from memory, from ``output_dir``, or trained again (same seed)."""
        from fpgaq.train import train_classifier

        model = self.build_model(candidate.quantizers, candidate.filters)
        key = (candidate.study, candidate.number)
        if key in self._weights:
            model.set_weights(self._weights[key])
        elif self.output_dir is not None and self._weights_path(*key).exists():
            model.load_weights(os.fspath(self._weights_path(*key)))
        elif self._fit_settings is not None:
            x, y, _, _ = self._data
            s = self._fit_settings
            train_classifier(model, x, y, s["epochs"], s["batch_size"], s["learning_rate"], seed=self.seed)
        else:
            raise _fail(
                "best_model",
                f"trial {candidate.number} of {candidate.study!r} ran on another worker without output_dir; "
                "call fit() first (it retrains the model) or give every worker the same output_dir",
            )
        return model

    def best_model(self) -> keras.Model:
        """The trained model of the completed trial with the highest forgiving-factor score."""
        done = self.completed()
        if not done:
            raise _fail("best_model", "no completed trial yet; call fit() with n_trials >= 1 first")
        best = max(done, key=lambda c: (c.score, -c.number))
        return self._trained(best)

    def best(self) -> Candidate:
        """The metrics of the trial :meth:`best_model` returns."""
        done = self.completed()
        if not done:
            raise _fail("best", "no completed trial yet; call fit() with n_trials >= 1 first")
        return max(done, key=lambda c: (c.score, -c.number))

    def pareto_front(self, models: bool = True) -> list[Candidate]:
        """The non-dominated completed trials (accuracy up, cost down), cheapest first, with their models."""
        done = self.completed()
        mask = pareto_mask([c.accuracy for c in done], [c.cost for c in done])
        front = sorted((c for c, keep in zip(done, mask) if keep), key=lambda c: (c.cost, -c.accuracy, c.number))
        if models:
            for c in front:
                c.model = self._trained(c)
        return front

    def to_csv(self, path: str | os.PathLike[str], pareto_only: bool = False) -> Path:
        """One row per completed trial (or per Pareto point): metrics and each layer's choices."""
        done = self.completed()
        mask = pareto_mask([c.accuracy for c in done], [c.cost for c in done])
        rows = [(c, keep) for c, keep in zip(done, mask) if keep or not pareto_only]
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "study",
                    "trial",
                    "accuracy",
                    f"cost_{self.goal}",
                    "reference_cost",
                    "cost_ratio",
                    "forgiving_factor",
                    "score",
                    "pareto",
                    "filters",
                    "quantizers",
                ]
            )
            for c, keep in rows:
                writer.writerow(
                    [
                        c.study,
                        c.number,
                        f"{c.accuracy:.6f}",
                        f"{c.cost:.6g}",
                        f"{c.reference_cost:.6g}",
                        f"{c.cost_ratio:.4f}",
                        f"{c.forgiving_factor:.6f}",
                        f"{c.score:.6f}",
                        int(keep),
                        json.dumps(c.filters, sort_keys=True),
                        json.dumps(c.quantizers, sort_keys=True),
                    ]
                )
        return out

    def plot(self, path: str | os.PathLike[str], reference_accuracy: float | None = None) -> Path:
        """Accuracy against cost (relative to the 8-bit reference), Pareto front and best trial marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        done = self.completed()
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        if done:
            rel = [c.cost / c.reference_cost for c in done]
            acc = [100 * c.accuracy for c in done]
            ax.scatter(rel, acc, s=18, color="0.6", label="trials")
            front = self.pareto_front(models=False)
            ax.step(
                [c.cost / c.reference_cost for c in front],
                [100 * c.accuracy for c in front],
                where="post",
                color="C0",
                marker="o",
                label="Pareto front",
            )
            best = self.best()
            ax.scatter(
                [best.cost / best.reference_cost],
                [100 * best.accuracy],
                s=90,
                marker="*",
                color="C3",
                label="best (forgiving factor)",
                zorder=3,
            )
        if reference_accuracy is not None:
            ax.scatter([1.0], [100 * reference_accuracy], marker="s", color="k", label="8-bit reference")
        ax.axvline(1.0, color="k", lw=0.5, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel(f"{self.goal} cost / 8-bit reference")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title(f"AutoQ: {self.model.name}")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out
