"""The conversion config: precisions and implementation settings, as hls4ml users write them.

A config is a dict or a YAML file with three sections, each more specific
than the last: ``Model`` (defaults for everything), ``LayerType`` (keyed by
Keras class name) and ``LayerName`` (keyed by layer name).  Every key and
value is checked when the config is read, and every mistake raises a
:class:`ConfigError` naming the key path, the bad value, what is allowed and
the fix: hls4ml's habit of silently ignoring a misspelt key is the thing its
users complain about most.

Precisions are written in any spelling :meth:`FixedType.parse` reads
(``ap_fixed<8,3,AP_RND_CONV,AP_SAT>``), so rounding and overflow travel with
the type.  ``auto`` leaves a type to the IR: an accumulator or result is then
sized so it cannot overflow, and a weight takes its quantizer's type (or
``Model.Precision.default`` when it has none).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Union

import yaml

from fpgaq.errors import FpgaqError, SettingError
from fpgaq.fixed import FixedType, Overflow, Rounding

__all__ = [
    "Config",
    "ConfigError",
    "LayerConfig",
    "LayerSettings",
    "ModelSettings",
    "config_from_model",
    "load_config",
]

AUTO = "auto"
Precision = Union[FixedType, str]  # noqa: UP007 (runtime alias): a FixedType or "auto"

STRATEGIES = ("Latency", "Resource")
IO_TYPES = ("io_parallel", "io_stream")
MULTIPLIERS = ("auto", "lut", "dsp")
#: How the RTL back end adds the terms of a dot product: two at a time, or three (one LUT6_2 per bit on Xilinx).
ADDERS = ("binary", "ternary")
TABLE_SIZE_MIN, TABLE_SIZE_MAX = 16, 65536
GRANULARITIES = ("model", "type", "name")
DEFAULT_PRECISION = FixedType(16, 6)  # hls4ml's default, so configs carried over mean the same
DEFAULT_TABLE_PRECISION = FixedType(18, 8)

#: Precision roles a LayerType/LayerName entry may set; ``table`` is another name for TablePrecision.
LAYER_ROLES = ("weight", "bias", "accum", "result", "table")
MODEL_ROLES = ("default", "accum", "result")
_AUTO_ROLES = ("weight", "bias", "accum", "result")

_TOP_KEYS = ("Model", "LayerType", "LayerName")
_SHARED_KEYS = (
    "Precision",
    "ReuseFactor",
    "Strategy",
    "TableSize",
    "TablePrecision",
    "Multiplier",
    "PipelineEvery",
    "Adders",
)
_MODEL_KEYS = (
    "Precision",
    "ReuseFactor",
    "Strategy",
    "IOType",
    "TableSize",
    "TablePrecision",
    "Multiplier",
    "PipelineEvery",
    "Adders",
    "ClockPeriod",
    "Device",
    "Input",
)
_MODEL_ONLY = {
    "IOType": "IOType applies to the whole design; set Model.IOType instead",
    "ClockPeriod": "the design has one clock; set Model.ClockPeriod instead",
    "Device": "the design is timed for one part; set Model.Device instead",
    "Input": "the input type is set for the whole model; set Model.Input.Precision instead",
}


class ConfigError(FpgaqError, ValueError):
    """A config key or value that fpgaq cannot use; the message says where, why and how to fix it."""


# ------------------------------------------------------------------ spelling
def _spell(t: FixedType) -> str:
    """The canonical spelling in configs: ``ap_fixed<16,6>``, modes only when not TRN/WRAP."""
    name = "ap_fixed" if t.signed else "ap_ufixed"
    if t.rounding is Rounding.TRN and t.overflow is Overflow.WRAP:
        return f"{name}<{t.width},{t.integer}>"
    return f"{name}<{t.width},{t.integer},AP_{t.rounding.value},AP_{t.overflow.value}>"


def _spell_precision(p: Precision) -> str:
    return p if isinstance(p, str) else _spell(p)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _suggest(word: str, options: Iterable[str]) -> str | None:
    """The option closest to ``word``, compared without case so ``reusefactor`` finds ``ReuseFactor``."""
    options = list(options)
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.65)
    return by_lower[close[0]] if close else None


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown}, ... ({len(names) - limit} more)" if len(names) > limit else shown


def _invalid(path: str, value: Any, expected: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: {value!r} is invalid: expected {expected}; {fix}")


# ------------------------------------------------------------------ readers
def _mapping(value: Any, path: str, example: str) -> dict[Any, Any]:
    if value is None:  # an empty YAML section
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(path, value, "a mapping of settings", f"write e.g. {example}")
    return dict(value)


def _check_keys(
    section: Mapping[Any, Any], allowed: tuple[str, ...], path: str, misplaced: Mapping[str, str] | None = None
) -> None:
    where = path or "the top level"
    for key in section:
        if not isinstance(key, str):
            raise ConfigError(
                f"{_join(path, key)}: key {key!r} ({type(key).__name__}) is invalid: expected a string; "
                "quote it in YAML"
            )
        if key in allowed:
            continue
        if misplaced and key in misplaced:
            raise ConfigError(f"{_join(path, key)}: not allowed here; {misplaced[key]}")
        close = _suggest(key, allowed)
        hint = f"did you mean {close!r}?" if close else "remove it"
        raise ConfigError(f"{_join(path, key)}: unknown key; {where} takes {', '.join(allowed)}; {hint}")


def _read_int(value: Any, path: str, minimum: int, expected: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise _invalid(path, value, expected, fix)
    return int(value)


def _read_reuse_factor(value: Any, path: str) -> int:
    return _read_int(value, path, 1, "an integer >= 1", "write 1 for a fully parallel layer, or a larger integer")


def _read_pipeline_every(value: Any, path: str) -> int:
    return _read_int(
        value,
        path,
        0,
        "an integer >= 0",
        "write 0 for one register per layer, or N for a register every N adder levels",
    )


def _read_clock_period(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) < 1000:
        raise _invalid(path, value, "a clock period in ns, above 0 and below 1000", "write e.g. 5.0 for 200 MHz")
    return float(value)


def _read_device(value: Any, path: str) -> str:
    from fpgaq.devices import DEVICES, get_device

    try:
        return get_device(str(value)).name
    except SettingError:
        raise _invalid(
            path, value, f"a device preset: {', '.join(DEVICES)}", "choose the part closest to yours"
        ) from None


def _read_choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    expected = f"one of {', '.join(choices)} (any case)"
    if not isinstance(value, str):
        raise _invalid(path, value, expected, f"write e.g. {choices[0]}")
    by_lower = {c.lower(): c for c in choices}
    found = by_lower.get(value.strip().lower())
    if found is None:
        close = _suggest(value.strip(), choices)
        raise _invalid(path, value, expected, f"did you mean {close!r}?" if close else "choose one of them")
    return found


def _read_table_size(value: Any, path: str) -> int:
    expected = f"a power of two from {TABLE_SIZE_MIN} to {TABLE_SIZE_MAX}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _invalid(path, value, expected, "write an integer such as 1024")
    if not TABLE_SIZE_MIN <= value <= TABLE_SIZE_MAX:
        raise _invalid(path, value, expected, f"use a size from {TABLE_SIZE_MIN} to {TABLE_SIZE_MAX}")
    if value & (value - 1):
        low = 1 << (int(value).bit_length() - 1)
        raise _invalid(path, value, expected, f"the nearest powers of two are {low} and {2 * low}")
    return int(value)


def _read_type(value: Any, path: str, allow_auto: bool) -> Precision:
    expected = "a fixed-point type such as 'ap_fixed<16,6>'" + (" or 'auto'" if allow_auto else "")
    if isinstance(value, FixedType):
        return value
    if not isinstance(value, str):
        raise _invalid(path, value, expected, "write the type as a string, e.g. 'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'")
    if value.strip().lower() == AUTO:
        if allow_auto:
            return AUTO
        raise _invalid(path, value, expected, f"'auto' is only allowed for {', '.join(_AUTO_ROLES)}; give a type")
    try:
        return FixedType.parse(value)
    except ValueError as err:
        raise _invalid(path, value, expected, str(err)) from None


def _read_fixed(value: Any, path: str) -> FixedType:
    t = _read_type(value, path, allow_auto=False)
    assert isinstance(t, FixedType)
    return t


@dataclasses.dataclass(frozen=True)
class _Setting:
    """One scalar setting shared by the Model and layer sections."""

    key: str
    attr: str
    read: Callable[[Any, str], Any]
    write: Callable[[Any], Any] = lambda v: v


_SETTINGS = (
    _Setting("ReuseFactor", "reuse_factor", _read_reuse_factor),
    _Setting("Strategy", "strategy", lambda v, p: _read_choice(v, p, STRATEGIES)),
    _Setting("TableSize", "table_size", _read_table_size),
    _Setting("TablePrecision", "table_precision", _read_fixed, _spell),
    _Setting("Multiplier", "multiplier", lambda v, p: _read_choice(v, p, MULTIPLIERS)),
    _Setting("PipelineEvery", "pipeline_every", _read_pipeline_every),
    _Setting("Adders", "adders", lambda v, p: _read_choice(v, p, ADDERS)),
)


# ------------------------------------------------------------------ settings
@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """The ``Model`` section: what every layer gets unless a more specific entry says otherwise."""

    default_precision: FixedType = DEFAULT_PRECISION
    accum: Precision = AUTO
    result: Precision = AUTO
    reuse_factor: int = 1
    strategy: str = "Latency"
    io_type: str = "io_parallel"
    table_size: int = 1024
    table_precision: FixedType = DEFAULT_TABLE_PRECISION
    multiplier: str = "auto"
    pipeline_every: int = 0
    adders: str = "binary"
    input_precision: FixedType | None = None
    clock_period: float | None = None  # ns; registers placed by the delay model instead of PipelineEvery
    device: str | None = None  # the part ClockPeriod is timed for (a fpgaq.devices preset)


@dataclasses.dataclass(frozen=True)
class LayerSettings:
    """One ``LayerType`` or ``LayerName`` entry; ``None`` (or a missing role) means "not set here"."""

    precision: dict[str, Precision] = dataclasses.field(default_factory=dict)  # weight, bias, accum, result
    reuse_factor: int | None = None
    strategy: str | None = None
    table_size: int | None = None
    table_precision: FixedType | None = None
    multiplier: str | None = None
    pipeline_every: int | None = None
    adders: str | None = None


@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """The settings one layer ends up with after LayerName > LayerType > Model.

    ``precision`` holds every role (weight, bias, accum, result, table);
    ``origin`` maps each setting (``"ReuseFactor"``, ``"Precision.accum"``...)
    to the key path it came from, so later errors can point at the config line.
    """

    name: str
    class_name: str
    precision: dict[str, Precision]
    reuse_factor: int
    strategy: str
    io_type: str
    table_size: int
    table_precision: FixedType
    multiplier: str
    pipeline_every: int
    origin: dict[str, str]
    adders: str = "binary"
    clock_period: float | None = None
    device: str | None = None


def _float_twin(class_name: str) -> str | None:
    """``QDense`` -> ``Dense``: the Keras class a quantized layer stands in for."""
    if len(class_name) > 1 and class_name[0] == "Q" and class_name[1].isupper():
        return class_name[1:]
    return None


@dataclasses.dataclass(frozen=True)
class Config:
    """A validated conversion config; build it with :func:`load_config`."""

    model: ModelSettings = dataclasses.field(default_factory=ModelSettings)
    layer_type: dict[str, LayerSettings] = dataclasses.field(default_factory=dict)
    layer_name: dict[str, LayerSettings] = dataclasses.field(default_factory=dict)

    @property
    def default_precision(self) -> FixedType:
        return self.model.default_precision

    @property
    def input_precision(self) -> FixedType | None:
        return self.model.input_precision

    def input_precision_for(self, name: str) -> FixedType | None:
        """The type of input ``name``: ``LayerName.<name>.Precision.result`` (where hls4ml users
        put it) when it is a type, else ``Model.Input.Precision``."""
        entry = self.layer_name.get(name)
        result = entry.precision.get("result") if entry else None
        return result if isinstance(result, FixedType) else self.model.input_precision

    def _type_entry(self, class_name: str) -> tuple[str, LayerSettings] | None:
        for key in (class_name, _float_twin(class_name)):
            if key is not None and key in self.layer_type:
                return key, self.layer_type[key]
        return None

    def layer(self, name: str, class_name: str) -> LayerConfig:
        """Resolve one layer's settings, setting by setting.

        Precedence: ``LayerName.<name>``, then ``LayerType.<class_name>`` (or,
        when there is no entry for a quantized class such as ``QDense``, the
        entry of its float twin ``Dense``), then ``Model``.
        """
        chain: list[tuple[str, LayerSettings]] = []
        if name in self.layer_name:
            chain.append((f"LayerName.{name}", self.layer_name[name]))
        type_entry = self._type_entry(class_name)
        if type_entry is not None:
            chain.append((f"LayerType.{type_entry[0]}", type_entry[1]))
        origin: dict[str, str] = {}
        values: dict[str, Any] = {}
        for s in _SETTINGS:
            values[s.attr] = getattr(self.model, s.attr)
            origin[s.key] = f"Model.{s.key}"
            for path, entry in chain:
                if getattr(entry, s.attr) is not None:
                    values[s.attr] = getattr(entry, s.attr)
                    origin[s.key] = f"{path}.{s.key}"
                    break
        model_roles = {
            "weight": (AUTO, "Model.Precision.default"),
            "bias": (AUTO, "Model.Precision.default"),
            "accum": (self.model.accum, "Model.Precision.accum"),
            "result": (self.model.result, "Model.Precision.result"),
        }
        precision: dict[str, Precision] = {}
        for role, (value, path) in model_roles.items():
            origin[f"Precision.{role}"] = path
            precision[role] = value
            for entry_path, entry in chain:
                if role in entry.precision:
                    precision[role] = entry.precision[role]
                    origin[f"Precision.{role}"] = f"{entry_path}.Precision.{role}"
                    break
        precision["table"] = values["table_precision"]
        origin["Precision.table"] = origin["TablePrecision"]
        origin["IOType"] = "Model.IOType"
        return LayerConfig(
            name=name,
            class_name=class_name,
            precision=precision,
            io_type=self.model.io_type,
            origin=origin,
            clock_period=self.model.clock_period,
            device=self.model.device,
            **values,
        )

    def check_layers(self, names: Iterable[str], class_names: Iterable[str] | None = None) -> None:
        """Raise if a LayerName entry names no layer of the model, or (when ``class_names``
        is given) a LayerType entry matches no layer class, so a typo never goes unnoticed."""
        names = list(names)
        known = set(names)
        for name in self.layer_name:
            if name not in known:
                close = _suggest(name, names)
                hint = f"did you mean {close!r}?" if close else "remove the entry or rename it to one of them"
                raise ConfigError(
                    f"LayerName.{name}: the model has no layer named {name!r}; its layers are {_listing(names)}; {hint}"
                )
        if class_names is None:
            return
        classes = list(dict.fromkeys(class_names))
        present = set(classes)
        for key in self.layer_type:
            if key in present or f"Q{key}" in present:
                continue
            close = _suggest(key, classes)
            hint = f"did you mean {close!r}?" if close else "remove the entry"
            raise ConfigError(
                f"LayerType.{key}: the model has no layer of class {key!r} (nor Q{key}); "
                f"its classes are {_listing(classes)}; {hint}"
            )

    # -------------------------------------------------------------- writing
    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the schema's own form, every type canonically spelled; loads back equal."""
        m = self.model
        model: dict[str, Any] = {
            "Precision": {
                "default": _spell(m.default_precision),
                "accum": _spell_precision(m.accum),
                "result": _spell_precision(m.result),
            },
            "ReuseFactor": m.reuse_factor,
            "Strategy": m.strategy,
            "IOType": m.io_type,
            "TableSize": m.table_size,
            "TablePrecision": _spell(m.table_precision),
            "Multiplier": m.multiplier,
            "PipelineEvery": m.pipeline_every,
        }
        if m.adders != ModelSettings.adders:  # written when set, so configs from before the key read the same
            model["Adders"] = m.adders
        if m.clock_period is not None:
            model["ClockPeriod"] = m.clock_period
        if m.device is not None:
            model["Device"] = m.device
        if m.input_precision is not None:
            model["Input"] = {"Precision": _spell(m.input_precision)}
        out: dict[str, Any] = {"Model": model}
        if self.layer_type:
            out["LayerType"] = {k: _entry_to_dict(v) for k, v in self.layer_type.items()}
        if self.layer_name:
            out["LayerName"] = {k: _entry_to_dict(v) for k, v in self.layer_name.items()}
        return out

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The config as YAML text; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def _entry_to_dict(entry: LayerSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if entry.precision:
        out["Precision"] = {r: _spell_precision(entry.precision[r]) for r in LAYER_ROLES if r in entry.precision}
    for s in _SETTINGS:
        value = getattr(entry, s.attr)
        if value is not None:
            out[s.key] = s.write(value)
    return out


# ------------------------------------------------------------------ parsing
def _parse_layer_entry(raw: Any, path: str) -> LayerSettings:
    section = _mapping(raw, path, "{ReuseFactor: 2, Precision: {accum: 'ap_fixed<24,12>'}}")
    _check_keys(section, _SHARED_KEYS, path, _MODEL_ONLY)
    values: dict[str, Any] = {}
    for s in _SETTINGS:
        if s.key in section:
            values[s.attr] = s.read(section[s.key], f"{path}.{s.key}")
    precision: dict[str, Precision] = {}
    if "Precision" in section:
        ppath = f"{path}.Precision"
        raw_p = section["Precision"]
        if not isinstance(raw_p, Mapping):
            raise _invalid(
                ppath,
                raw_p,
                f"a mapping from roles ({', '.join(LAYER_ROLES)}) to types",
                "write e.g. {weight: 'ap_fixed<8,3>', result: 'ap_fixed<16,6>'}",
            )
        roles = dict(raw_p)
        _check_keys(
            roles,
            LAYER_ROLES,
            ppath,
            {
                "default": "Precision.default is a Model-level key; "
                "for one layer set weight, bias, accum, result or table"
            },
        )
        for role in LAYER_ROLES:
            if role not in roles:
                continue
            if role == "table":
                if "table_precision" in values:
                    raise ConfigError(
                        f"{ppath}.table: both {path}.TablePrecision and {ppath}.table are given; "
                        "they set the same thing: keep one"
                    )
                values["table_precision"] = _read_fixed(roles[role], f"{ppath}.table")
            else:
                precision[role] = _read_type(roles[role], f"{ppath}.{role}", allow_auto=True)
    return LayerSettings(precision=precision, **values)


def _parse_model(raw: Any) -> ModelSettings:
    section = _mapping(raw, "Model", "{ReuseFactor: 1, Precision: {default: 'ap_fixed<16,6>'}}")
    _check_keys(section, _MODEL_KEYS, "Model")
    values: dict[str, Any] = {}
    for s in _SETTINGS:
        if s.key in section:
            values[s.attr] = s.read(section[s.key], f"Model.{s.key}")
    if "IOType" in section:
        values["io_type"] = _read_choice(section["IOType"], "Model.IOType", IO_TYPES)
    if "ClockPeriod" in section:
        values["clock_period"] = _read_clock_period(section["ClockPeriod"], "Model.ClockPeriod")
    if "Device" in section:
        values["device"] = _read_device(section["Device"], "Model.Device")
    if "Precision" in section:
        raw_p = section["Precision"]
        if isinstance(raw_p, (str, FixedType)):  # hls4ml's shorthand for {default: ...}
            raw_p = {"default": raw_p}
        if not isinstance(raw_p, Mapping):
            raise _invalid(
                "Model.Precision",
                raw_p,
                f"a type or a mapping from roles ({', '.join(MODEL_ROLES)}) to types",
                "write e.g. {default: 'ap_fixed<16,6>', accum: auto}",
            )
        roles = dict(raw_p)
        layer_only = "set it per layer under LayerType or LayerName (Model.Precision.default covers unquantized ones)"
        _check_keys(roles, MODEL_ROLES, "Model.Precision", dict.fromkeys(("weight", "bias", "table"), layer_only))
        if "default" in roles:
            values["default_precision"] = _read_fixed(roles["default"], "Model.Precision.default")
        for role in ("accum", "result"):
            if role in roles:
                values[role] = _read_type(roles[role], f"Model.Precision.{role}", allow_auto=True)
    if "Input" in section:
        inp = _mapping(section["Input"], "Model.Input", "{Precision: 'ap_fixed<16,6>'}")
        _check_keys(inp, ("Precision",), "Model.Input")
        if "Precision" in inp:
            values["input_precision"] = _read_fixed(inp["Precision"], "Model.Input.Precision")
    return ModelSettings(**values)


def _parse(raw: Any) -> Config:
    top = _mapping(raw, "config", "{Model: {ReuseFactor: 1}}")
    _check_keys(top, _TOP_KEYS, "")
    sections = {}
    for key in ("LayerType", "LayerName"):
        entries = _mapping(top.get(key), key, f"{{{'QDense' if key == 'LayerType' else 'fc1'}: {{ReuseFactor: 2}}}}")
        for name in entries:
            if not isinstance(name, str):
                raise ConfigError(
                    f"{key}.{name}: key {name!r} ({type(name).__name__}) is invalid: expected a "
                    f"{'class' if key == 'LayerType' else 'layer'} name string; quote it in YAML"
                )
        sections[key] = {name: _parse_layer_entry(entry, f"{key}.{name}") for name, entry in entries.items()}
    model = _parse_model(top.get("Model"))
    if model.clock_period is not None:
        setters = ["Model.PipelineEvery"] if model.pipeline_every else []
        setters += [
            f"{key}.{name}.PipelineEvery"
            for key in ("LayerType", "LayerName")
            for name, entry in sections[key].items()
            if entry.pipeline_every is not None
        ]
        if setters:
            raise ConfigError(
                f"Model.ClockPeriod: registers are placed by the clock period, so {', '.join(setters)} cannot be "
                "honoured as well; remove PipelineEvery (or ClockPeriod to place registers by levels)"
            )
    return Config(model, sections["LayerType"], sections["LayerName"])


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping, which plain YAML resolves silently."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable keys are reported by the constructor itself
        if duplicate:
            raise ConfigError(
                f"{loader.name}: line {key_node.start_mark.line + 1}: key {key!r} appears twice in one mapping; "
                "keep one"
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(
            f"load_config: {str(path)!r} is invalid: expected a .yaml or .yml file; "
            "rename the file, or read it yourself and pass the dict"
        )
    if not path.is_file():
        raise ConfigError(f"load_config: no such file {str(path)!r}; check the path")
    try:
        with path.open(encoding="utf-8") as stream:  # from an open file, YAML's error marks name the file
            return yaml.load(stream, Loader=_StrictLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}; fix the syntax at the line shown") from None


def load_config(source: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None) -> Config:
    """A validated :class:`Config` from defaults (``None``), a dict, a Config or a YAML file path."""
    if source is None:
        return Config()
    if isinstance(source, Config):
        return source
    if isinstance(source, Mapping):
        return _parse(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        raw = _read_yaml(path)
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigError(
                f"{path}: the document is a {type(raw).__name__}, expected a mapping with Model, LayerType, "
                "LayerName; start the file with 'Model:'"
            )
        return _parse(raw)
    raise ConfigError(
        f"load_config: cannot read a config from {source!r} ({type(source).__name__}); "
        "give None, a dict, a Config, or the path of a .yaml/.yml file"
    )


# ------------------------------------------------------------------ from a model
_WEIGHT_ROLES = {
    "kernel_quantizer": ("weight", ("kernel",)),
    "depthwise_quantizer": ("weight", ("depthwise_kernel", "kernel")),
    "pointwise_quantizer": ("weight", ("pointwise_kernel",)),
    "bias_quantizer": ("bias", ("bias",)),
}
_TABLE_FUNCTIONS = ("sigmoid", "tanh", "softmax")


def _has_kernel(layer: Any) -> bool:
    return any(getattr(layer, a, None) is not None for a in ("kernel", "depthwise_kernel", "pointwise_kernel"))


def _has_bias(layer: Any) -> bool:
    return bool(getattr(layer, "use_bias", False)) and getattr(layer, "bias", None) is not None


def _quantizer_type(quantizer: Any, values: Any = None) -> Precision:
    """The quantizer's type when it is a plain fixed-point grid, else ``auto`` (the IR decides)."""
    if not callable(getattr(quantizer, "hardware", None)):  # None, or a float Keras function
        return AUTO
    try:
        hw = quantizer.hardware(values)
    except (ValueError, NotImplementedError, TypeError):
        return AUTO
    return hw if isinstance(hw, FixedType) else AUTO


def _weight_precision(layer: Any, default: FixedType) -> dict[str, Precision]:
    """weight/bias types: the quantizers' grids, the default for unquantized weights."""
    import keras  # only here: reading a config must not need Keras

    found: dict[str, list[Precision]] = {"weight": [], "bias": []}
    for public, attr in getattr(layer, "_quantizer_attrs", ()):
        if public not in _WEIGHT_ROLES:
            continue
        role, variables = _WEIGHT_ROLES[public]
        variable = next((getattr(layer, v) for v in variables if getattr(layer, v, None) is not None), None)
        if variable is None:
            continue
        q = getattr(layer, attr, None)
        found[role].append(default if q is None else _quantizer_type(q, keras.ops.convert_to_numpy(variable)))
    out: dict[str, Precision] = {}
    for role in ("weight", "bias"):
        if role == "bias" and not _has_bias(layer):
            continue
        types = found[role]
        if not types:
            out[role] = default  # a float Keras layer
        else:
            out[role] = types[0] if all(t == types[0] for t in types) else AUTO
    return out


def _activation_of(layer: Any) -> Any:
    return getattr(layer, "quantizer", None) or getattr(layer, "activation", None)


def _uses_table(layer: Any) -> bool:
    if type(layer).__name__ == "Softmax":
        return True
    act = _activation_of(layer)
    name = getattr(act, "nonlinearity", None) or getattr(act, "__name__", None)
    return name in _TABLE_FUNCTIONS


def _name_entry(layer: Any, model: dict[str, Any], default: FixedType) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if _has_kernel(layer):
        precision: dict[str, Any] = dict(_weight_precision(layer, default))
        precision.update(accum=AUTO, result=AUTO)
        entry["Precision"] = precision
        entry["ReuseFactor"] = model["ReuseFactor"]
    else:
        act = _activation_of(layer) if type(layer).__name__ == "QActivation" else None
        entry["Precision"] = {"result": _quantizer_type(act)}
    if _uses_table(layer):
        entry["TableSize"] = model["TableSize"]
        entry["TablePrecision"] = model["TablePrecision"]
    return entry


def _type_section(layers: list[Any], model: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if any(_has_kernel(layer) for layer in layers):
        roles = (
            ("weight", "bias", "accum", "result")
            if any(_has_bias(la) for la in layers)
            else ("weight", "accum", "result")
        )
        entry["Precision"] = dict.fromkeys(roles, AUTO)
        entry["ReuseFactor"] = model["ReuseFactor"]
    else:
        entry["Precision"] = {"result": AUTO}
    if any(_uses_table(layer) for layer in layers):
        entry["TableSize"] = model["TableSize"]
        entry["TablePrecision"] = model["TablePrecision"]
    return entry


def _input_is_quantized(model: Any) -> bool:
    """Whether every layer reading a model input is a QActivation with a quantizer (of any kind)."""
    from fpgaq.keras_walk import layer_io  # keras_walk reads quantizers, which read this module

    input_ids = {id(t) for t in model.inputs}
    readers = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        ins, _ = layer_io(model, layer)
        if any(id(t) in input_ids for t in ins):
            readers.append(layer)
    return bool(readers) and all(
        type(la).__name__ == "QActivation" and callable(getattr(_activation_of(la), "hardware", None)) for la in readers
    )


def config_from_model(
    model: Any,
    granularity: str = "model",
    default_precision: str = "ap_fixed<16,6>",
    reuse_factor: int = 1,
    strategy: str = "Latency",
    io_type: str = "io_parallel",
    table_size: int = 1024,
    table_precision: str = "ap_fixed<18,8>",
    multiplier: str = "auto",
    pipeline_every: int = 0,
) -> dict[str, Any]:
    """A complete config for ``model`` to edit and pass on, as hls4ml's ``config_from_keras_model`` makes.

    ``granularity='model'`` writes the Model section only; ``'type'`` adds a
    LayerType entry per layer class; ``'name'`` adds a LayerName entry per
    layer instead, with each quantized weight's own type written out.  A
    model whose inputs are not quantized by a leading QActivation gets
    ``Model.Input.Precision = default_precision``.
    """
    if granularity not in GRANULARITIES:
        close = _suggest(str(granularity), GRANULARITIES)
        raise _invalid(
            "config_from_model: granularity",
            granularity,
            f"one of {', '.join(GRANULARITIES)}",
            f"did you mean {close!r}?" if close else "choose one of them",
        )
    model_section: dict[str, Any] = {
        "Precision": {"default": default_precision, "accum": AUTO, "result": AUTO},
        "ReuseFactor": reuse_factor,
        "Strategy": strategy,
        "IOType": io_type,
        "TableSize": table_size,
        "TablePrecision": table_precision,
        "Multiplier": multiplier,
        "PipelineEvery": pipeline_every,
    }
    if not _input_is_quantized(model):
        model_section["Input"] = {"Precision": default_precision}
    base = load_config({"Model": model_section})  # validates the arguments before they are copied around
    canonical = base.to_dict()["Model"]
    out: dict[str, Any] = {"Model": canonical}
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if granularity == "type":
        by_class: dict[str, list[Any]] = {}
        for layer in layers:
            by_class.setdefault(type(layer).__name__, []).append(layer)
        out["LayerType"] = {cls: _type_section(group, canonical) for cls, group in by_class.items()}
    elif granularity == "name":
        out["LayerName"] = {layer.name: _name_entry(layer, canonical, base.default_precision) for layer in layers}
    return load_config(out).to_dict()
