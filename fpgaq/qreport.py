"""The per-layer quantization report: what each tensor becomes in hardware.

This is the first thing a user checks after training: every quantizer, its
exact hardware type (``ac_fixed`` spelling or po2/binary/ternary), the
operations it costs and the weight bits it stores.
"""

from __future__ import annotations

from typing import Any

import keras

from fpgaq.fixed import FixedType
from fpgaq.hwtypes import BinaryType, LevelsType, Po2Type, ScaledType, TernaryType
from fpgaq.keras_walk import WEIGHT_QUANTIZERS, walk_layers
from fpgaq.qstats import qstats
from fpgaq.quantizers import BaseQuantizer

__all__ = ["describe_hardware", "quantization_report", "quantization_rows"]

# (quantizer attribute, the weight it applies to or None for an output quantizer), in report order.
_ROLES = (
    *((attr, weight) for weight, attr in WEIGHT_QUANTIZERS.items()),
    ("quantizer", None),
    ("activation", None),
)


def describe_hardware(q: BaseQuantizer, x: Any = None) -> str:
    """A short, exact spelling of a quantizer's hardware type."""
    try:
        hw = q.hardware(x)
    except (ValueError, NotImplementedError, TypeError) as err:
        return f"(no fixed type: {err})"
    if isinstance(hw, FixedType):
        return hw.ac_fixed()
    if isinstance(hw, ScaledType):
        kind = "po2 scale" if hw.po2 else "float scale"
        return f"{hw.base.ac_fixed()} x {kind} per channel ({len(hw.scale)})"
    if isinstance(hw, Po2Type):
        sign = "±" if hw.signed else "+"
        return f"po2 {sign}2^[{hw.min_exp}..{hw.max_exp}]{' or 0' if hw.has_zero else ''} ({hw.bits} bits)"
    if isinstance(hw, BinaryType):
        return f"binary {'{0,1}' if hw.use_01 else '{-1,+1}'} x {hw.scale}"
    if isinstance(hw, TernaryType):
        return f"ternary {{-1,0,+1}} x {hw.scale}"
    if isinstance(hw, LevelsType):
        return f"{len(hw.levels)} levels ({hw.bits} bits)"
    return repr(hw)


def quantization_rows(model: keras.Model) -> list[dict[str, str]]:
    """One row per quantizer in the model: layer, role, quantizer, hardware type."""
    rows = []
    for visit in walk_layers(model):
        layer = visit.layer
        seen: set[int] = set()
        for attr, var_name in _ROLES:
            q = getattr(layer, attr, None)
            if not isinstance(q, BaseQuantizer) or id(q) in seen:
                continue
            seen.add(id(q))
            x = getattr(layer, var_name, None) if var_name else None
            x = keras.ops.convert_to_numpy(x) if x is not None else None
            role = attr.replace("_quantizer_internal", "").replace("quantizer", "output")
            rows.append(
                {
                    "layer": layer.name,
                    "class": visit.cls,
                    "role": role,
                    "quantizer": str(q),
                    "hardware": describe_hardware(q, x),
                }
            )
    return rows


def quantization_report(model: keras.Model) -> str:
    """Plain-text report: the quantizer table followed by QKeras-style qstats."""
    rows = quantization_rows(model)
    stats = qstats(model)
    headers = ("layer", "class", "role", "quantizer", "hardware")
    widths = [max(len(h), *(len(r[h]) for r in rows)) if rows else len(h) for h in headers]
    lines = [f"Quantization report for model {model.name!r}", ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(r[h].ljust(w) for h, w in zip(headers, widths)))
    lines += ["", f"{'layer':16}{'operation':18}{'operations':>12}{'weight bits':>14}{'sparsity':>10}"]
    for name, s in stats["layers"].items():
        lines.append(f"{name:16}{s['operation']:18}{s['operations']:>12}{s['weight_bits']:>14}{s['sparsity']:>10.3f}")
    lines.append(f"{'total':16}{'':18}{stats['total_operations']:>12}{stats['total_weight_bits']:>14}")
    return "\n".join(lines)
