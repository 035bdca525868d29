"""AutoQ's search space: the layers it quantizes (sites), what each may use, groups and blocks.

A site is one layer of the float model with the fields AutoQ chooses a
quantizer for (``kernel``, ``bias``, ``activation``, ``linear``) and whether
its width may change.  The limits narrow each field's choices; groups make
layers share one choice; blocks split the search into studies run in turn.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from numbers import Real
from typing import Any

import keras

from fpgaq.autoq.settings import DEFAULT_QUANTIZATION_CONFIG, FIELDS, SEARCHABLE_LAYERS, setting_error
from fpgaq.keras_walk import activation_name, walk_layers

__all__ = [
    "Site",
    "assign_blocks",
    "assign_groups",
    "find_sites",
    "layers_feeding_outputs",
    "limited_choices",
    "merge_group_choices",
]


@dataclasses.dataclass
class Site:
    """One layer AutoQ quantizes: which fields it has and what each may use."""

    name: str
    cls: str
    fields: tuple[str, ...]
    width_attr: str | None
    resizable: bool = False
    choices: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    unit: str = ""  # the name its Optuna parameters hang off: the layer, or its group
    block: int | None = None


def layers_feeding_outputs(model: keras.Model) -> set[str]:
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
        if type(op).__name__ in SEARCHABLE_LAYERS:
            found.add(op.name)
            continue
        inputs = getattr(op, "input", None)
        if inputs is None:
            continue
        stack.extend(inputs if isinstance(inputs, (list, tuple)) else [inputs])
    return found


def find_sites(model: keras.Model) -> tuple[list[Site], dict[str, str]]:
    """The searchable layers of a float model, and why the others are left alone."""
    sites: list[Site] = []
    skipped: dict[str, str] = {}
    outputs = layers_feeding_outputs(model)
    for visit in walk_layers(model):
        layer, cls = visit.layer, visit.cls
        if cls in SEARCHABLE_LAYERS:
            fields = ["kernel"]
            if getattr(layer, "use_bias", True):
                fields.append("bias")
            act = activation_name(getattr(layer, "activation", None))
            if act == "relu":
                fields.append("activation")
            elif act not in (None, "linear", "softmax"):
                skipped[f"{layer.name}.activation"] = f"activation {act!r} has no quantizer field; it stays float"
            width = SEARCHABLE_LAYERS[cls][1]
            sites.append(
                Site(layer.name, cls, tuple(fields), width, resizable=width is not None and layer.name not in outputs)
            )
        elif cls == "ReLU" or (cls == "Activation" and activation_name(layer.activation) == "relu"):
            sites.append(Site(layer.name, cls, ("activation",), None))
        elif cls == "Activation" and activation_name(layer.activation) == "linear":
            sites.append(Site(layer.name, cls, ("linear",), None))
        elif (cls.startswith("Q") and cls[1:] in SEARCHABLE_LAYERS) or cls == "QActivation":
            raise setting_error(
                "model",
                f"layer {layer.name!r} is already quantized ({cls}); AutoQ starts from the float model "
                f"(e.g. fpgaq.zoo.jet_tagger(quantized=False)): pass the float twin",
            )
        else:
            skipped[layer.name] = "not a searchable layer (no weights or activation quantizer to choose)"
    if not sites:
        raise setting_error(
            "model",
            f"model {model.name!r} has no layer to quantize; AutoQ searches {', '.join(SEARCHABLE_LAYERS)} layers and "
            "ReLU / linear Activation layers",
        )
    return sites, skipped


_LIMIT_POSITIONS = {"kernel": 0, "bias": 1, "activation": 2, "linear": 2}


def _limit_entry(site: Site, limit: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(key, value) of the limit entry for a site: its name, a fully matching regex, its class, or default."""
    if site.name in limit:
        return site.name, limit[site.name]
    for key, value in limit.items():
        if key == "default" or key in SEARCHABLE_LAYERS or key in ("Activation", "ReLU", "QActivation"):
            continue
        if re.fullmatch(key, site.name):
            return key, value
    for key in (site.cls, f"Q{site.cls}" if site.cls in SEARCHABLE_LAYERS else "QActivation", "default"):
        if key in limit:
            return key, limit[key]
    return None


def limited_choices(
    site: Site, field: str, qconfig: dict[str, dict[str, float]], limit: Mapping[str, Any]
) -> list[str]:
    """The quantizers of ``qconfig[field]`` that the ``limit`` entry of this site allows, in config order."""
    options = qconfig.get(field)
    if not options:
        raise setting_error(
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
            raise setting_error(setting, f"unknown fields {sorted(bad)}; a dict limit takes {', '.join(FIELDS)}")
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
            raise setting_error(
                setting,
                f"quantizers {unknown} for {field} of layer {site.name!r} are not in quantization_config.{field} "
                f"({', '.join(options)}); list only configured quantizers or add them to the config",
            )
        chosen = [q for q in options if q in item]
    elif isinstance(item, Real) and not isinstance(item, bool):
        chosen = [q for q, bits in options.items() if bits <= item]
    else:
        raise setting_error(setting, f"{item!r} is neither a number of bits nor a list of quantizer names")
    if not chosen:
        raise setting_error(
            setting,
            f"leaves no {field} quantizer for layer {site.name!r}: the cheapest configured one costs "
            f"{min(options.values()):g} bits; raise the limit or add cheaper quantizers",
        )
    return chosen


def assign_groups(sites: list[Site], groups: list[tuple[str, re.Pattern[str]]]) -> dict[str, list[str]]:
    """Set each site's ``unit`` (its own name, or ``group:<label>`` of the first group it fully matches).

    Returns label -> member layer names; a group that matches no site is an error.
    """
    members: dict[str, list[str]] = {}
    for site in sites:
        site.unit = site.name
        for label, pattern in groups:
            if pattern.fullmatch(site.name):
                site.unit = f"group:{label}"
                members.setdefault(label, []).append(site.name)
                break
    for label, pattern in groups:
        if label not in members:
            raise setting_error(
                f"groups[{label}]",
                f"{pattern.pattern!r} matches no searchable layer; searchable layers: "
                f"{', '.join(s.name for s in sites)}",
            )
    return members


def merge_group_choices(sites: list[Site]) -> None:
    """Grouped layers share a parameter, so each field offers what every member allows."""
    by_unit: dict[str, list[Site]] = {}
    for site in sites:
        by_unit.setdefault(site.unit, []).append(site)
    for unit, members in by_unit.items():
        if len(members) < 2:
            continue
        fields = {f for s in members for f in s.fields}
        for field in fields:
            holders = [s for s in members if field in s.fields]
            common = [q for q in holders[0].choices[field] if all(q in s.choices[field] for s in holders)]
            if not common:
                raise setting_error(
                    f"groups[{unit[6:]}]",
                    f"layers {[s.name for s in holders]} share no allowed {field} quantizer under the limits; "
                    "relax the limits or split the group",
                )
            for s in holders:
                s.choices[field] = common


def assign_blocks(sites: list[Site], blocks: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    """Set each site's search ``block`` (the first block pattern it fully matches); returns the block labels.

    Without blocks every site is in block 0, ``"all"``.  A block that matches
    no site, or a group split across blocks, is an error.
    """
    if not blocks:
        for site in sites:
            site.block = 0
        return ["all"]
    for site in sites:
        for index, (_, pattern) in enumerate(blocks):
            if pattern.fullmatch(site.name):
                site.block = index
                break
    labels = [p.pattern for _, p in blocks]
    for index, (_, pattern) in enumerate(blocks):
        if not any(s.block == index for s in sites):
            raise setting_error(
                f"blocks[{index}]",
                f"{pattern.pattern!r} matches no searchable layer; searchable layers: "
                f"{', '.join(s.name for s in sites)}",
            )
    for unit in {s.unit for s in sites if s.unit.startswith("group:")}:
        owners = {s.block for s in sites if s.unit == unit}
        if len(owners) > 1:
            raise setting_error(
                f"groups[{unit[6:]}]",
                "its layers fall in different blocks; a group's shared choice must be searched in one block: "
                "put its layers in the same block",
            )
    return labels
