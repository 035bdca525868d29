"""AutoQ's cost measures: bits, QTools energy and FPGA resources of a quantized model.

A search compares each candidate's cost with the same measure on the 8-bit
reference model through the forgiving factor; the Pareto front keeps the
candidates no other one beats on both accuracy and cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from fpgaq.autoq.settings import SEARCHABLE_LAYERS, AutoQError, setting_error
from fpgaq.keras_walk import activation_name, quantizer_kind, sample_elements, walk_layers, weight_quantizers
from fpgaq.quantizers import BaseQuantizer

__all__ = ["bit_profile", "bits_cost", "energy_cost", "forgiving_factor", "fpga_cost", "goal_cost", "pareto_mask"]


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
    """The bits a quantized value takes; ``float_bits`` for an unquantized one."""
    return int(quantizer_kind(q).bits) if isinstance(q, BaseQuantizer) else int(float_bits)


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
    inputs = float(sum(input_bits * sample_elements(t.shape) for t in model.inputs))
    profile: dict[str, dict[str, float]] = {"<inputs>": {"parameters": 0.0, "activations": inputs}}
    for visit in walk_layers(model):
        layer, cls, out = visit.layer, visit.cls, visit.outputs[0]
        params = acts = 0.0
        base = cls[1:] if cls.startswith("Q") and cls[1:] in SEARCHABLE_LAYERS else cls
        if base in SEARCHABLE_LAYERS:
            quantizers = weight_quantizers(layer)
            for var in layer.weights:
                label = var.path.split("/")[-1]
                if label not in quantizers:
                    continue
                params += float(np.prod(var.shape)) * _quantizer_bits(quantizers[label], float_bits)
            act = getattr(layer, "activation", None)
            name = activation_name(act)
            if isinstance(act, BaseQuantizer):
                acts = sample_elements(out.shape) * _quantizer_bits(act, float_bits)
            elif name in ("softmax", "sigmoid"):
                acts = sample_elements(out.shape) * output_bits
            elif name not in (None, "linear"):
                acts = sample_elements(out.shape) * float_bits
        elif cls == "QActivation":
            acts = sample_elements(out.shape) * _quantizer_bits(layer.quantizer, float_bits)
        elif cls in ("Activation", "ReLU", "Softmax"):
            name = "relu" if cls == "ReLU" else ("softmax" if cls == "Softmax" else activation_name(layer.activation))
            if name in ("softmax", "sigmoid"):
                acts = sample_elements(out.shape) * output_bits
            elif name != "linear":
                acts = sample_elements(out.shape) * float_bits
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


def goal_cost(model: keras.Model, goal: str, params: Mapping[str, Any]) -> float:
    """The cost of ``model`` under a validated goal (pJ, bits, LUTs or cycles), never zero.

    A zero cost would make the forgiving factor infinite, so energies and
    bits are floored at 1e-9 and FPGA counts at one LUT or cycle.
    """
    p = params
    if goal == "energy":
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
            raise setting_error("goal (energy)", f"{err}; or use goal type 'bits'") from None
    elif goal == "bits":
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
    return max(float(value), 1e-9 if goal != "fpga" else 1.0)


def pareto_mask(accuracy: Sequence[float], cost: Sequence[float]) -> list[bool]:
    """Which points no other point dominates (accuracy at least as high and cost at most as low, one strictly)."""
    pts = list(zip(accuracy, cost))
    return [
        not any((a2 >= a and c2 <= c) and (a2 > a or c2 < c) for j, (a2, c2) in enumerate(pts) if j != i)
        for i, (a, c) in enumerate(pts)
    ]
