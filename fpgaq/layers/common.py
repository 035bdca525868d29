"""What every quantized layer shares: its quantizers and how they serialize."""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.quantizers import QUANTIZERS, BaseQuantizer, get_quantizer, serialize_quantizer

__all__ = [
    "KERNEL_AND_BIAS",
    "Clip",
    "QuantizedLayerMixin",
    "QuantizedWeightsMixin",
    "activation_from_spec",
    "activation_to_spec",
    "apply_quantizer",
    "auto_range_constraint",
    "layer_label",
    "quantized_variable",
    "register_layer",
    "ungrouped",
    "warn_range_ignored",
]


def layer_label(layer: Any) -> str:
    """``QDense 'dense_3'``: how error messages name a layer (its name once Keras has set it)."""
    name = getattr(layer, "name", None)
    return f"{type(layer).__name__} {name!r}" if isinstance(name, str) else type(layer).__name__


def register_layer(cls: type) -> type:
    """Register a layer so ``keras.models.load_model`` needs no ``custom_objects``."""
    return keras.saving.register_keras_serializable(package="fpgaq")(cls)


_ACTIVATION_HELP = (
    "give a quantizer (object, string such as 'quantized_relu(6)', or QKeras-style dict), "
    "a Keras activation name such as 'relu', or a callable"
)


def activation_from_spec(spec: Any, where: str | None = None) -> Any:
    """QKeras layers accept either a quantizer (object, string form, dict) or a
    Keras activation name as ``activation``; keep quantizers as quantizers so
    their hardware type stays visible.  Quantizer names win, as in QKeras.

    ``where`` (e.g. ``"QDense 'fc1': activation='reluu'"``) starts error messages.
    """
    prefix = f"{where}: " if where else ""
    if spec is None:
        return None
    if isinstance(spec, BaseQuantizer):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        if spec["class_name"] in QUANTIZERS:
            try:
                return get_quantizer(spec)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{prefix}{err}") from None
        try:
            fn = keras.activations.deserialize(spec)
        except (TypeError, ValueError):
            fn = None
        if not callable(fn):  # Keras hands back unknown names as strings
            raise ValueError(
                f"{prefix}{spec['class_name']!r} is neither a registered quantizer "
                f"(supported: {', '.join(sorted(QUANTIZERS))}) nor a Keras activation"
            )
        return fn
    if isinstance(spec, str):
        try:
            return get_quantizer(spec)
        except ValueError as err:
            quantizer_error = err
        # A call such as "quantized_relu(6)" can only be a quantizer; a bare name may be Keras'.
        if "(" not in spec:
            try:
                return keras.activations.get(spec)
            except ValueError:
                pass
        raise ValueError(f"{prefix}{quantizer_error}; or {_ACTIVATION_HELP}") from None
    if callable(spec):
        return keras.activations.get(spec)
    raise TypeError(f"{prefix}cannot use {spec!r} as an activation; {_ACTIVATION_HELP}")


def activation_to_spec(act: Any) -> Any:
    if act is None:
        return None
    if isinstance(act, BaseQuantizer):
        return serialize_quantizer(act)
    return keras.activations.serialize(act)


@functools.cache
def _takes_training(cls: type) -> bool:
    try:
        return "training" in inspect.signature(cls.__call__).parameters
    except (TypeError, ValueError):
        return False


def apply_quantizer(fn: Any, x: Any, training: Any = None) -> Any:
    """``fn(x)``, passing the layer's ``training`` on to quantizers that take it,
    so stochastic ones sample exactly when the layer trains."""
    if fn is None:
        return x
    if training is not None and isinstance(fn, BaseQuantizer) and _takes_training(type(fn)):
        return fn(x, training=training)
    return fn(x)


@keras.saving.register_keras_serializable(package="fpgaq")
class Clip(keras.constraints.Constraint):
    """Keeps a weight within ``[min_value, max_value]`` after each update.

    QKeras attaches this to every quantized weight that has no constraint of
    its own, so float weights cannot drift far past the quantizer's range
    while the straight-through gradient keeps pushing them.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0) -> None:
        if min_value > max_value:
            raise ValueError(f"Clip: min_value={min_value} is above max_value={max_value}; swap them")
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def __call__(self, w: Any) -> Any:
        return ops.clip(w, self.min_value, self.max_value)

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value}


def _qkeras_clip(spec: Any) -> Any:
    if isinstance(spec, dict) and spec.get("class_name") == "Clip" and "registered_name" not in spec:
        return Clip(**spec.get("config", {}))
    return spec


def auto_range_constraint(quantizer: BaseQuantizer | None, constraint: Any) -> Any:
    """The constraint QKeras gives a quantized weight: the user's own if any,
    else ``Clip(-m, m)`` with ``m = max(1, quantizer.max())``; none for a quantizer that learns its range."""
    if quantizer is None or constraint is not None or getattr(quantizer, "learns_range", False):
        return constraint
    try:
        bound = float(np.max(quantizer.max()))
    except NotImplementedError:
        bound = 1.0
    bound = max(1.0, bound)
    return Clip(-bound, bound)


def warn_range_ignored(layer: str, **ranges: Any) -> None:
    """QKeras accepts ``kernel_range``-style arguments, warns that they are
    deprecated and otherwise ignores them; so does fpgaq, so old models load."""
    for argument, value in ranges.items():
        if value is not None:
            warnings.warn(
                f"{layer}: {argument}={value!r} is ignored (deprecated in QKeras too); "
                "the quantizer alone sets the range, so drop the argument",
                UserWarning,
                stacklevel=3,
            )


def ungrouped(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without Keras 2's ``groups``, which QKeras writes (as 1) on layers whose Keras 3 base has no
    grouped form: the default loads silently, any other value is refused rather than ignored."""
    groups = kwargs.pop("groups", 1)
    if groups != 1:
        name = kwargs.get("name")
        label = f"{cls.__name__} {name!r}" if isinstance(name, str) else cls.__name__
        raise ValueError(
            f"{label}: groups={groups!r} is not supported; {cls.__name__} takes only groups=1 (its Keras 3 base "
            "has no grouped form); use QConv1D/QConv2D(groups=...) for a grouped convolution, or drop the setting"
        )
    return kwargs


class QuantizedLayerMixin:
    """Names the layer's quantizers the way QKeras does, for qstats and the IR.

    A layer lists its quantizer attributes in ``_quantizer_attrs`` as pairs
    ``(public_name, attribute)``, e.g. ``("kernel_quantizer", "kernel_quantizer_internal")``.
    As in QKeras, ``public_name`` keeps the argument as given and ``attribute``
    holds the quantizer object (or ``None``).
    """

    _quantizer_attrs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Also reads QKeras' own configs, whose ``Clip`` constraints carry no Keras 3 registration."""
        config = {k: _qkeras_clip(v) if k.endswith("_constraint") else v for k, v in config.items()}
        return super().from_config(config)  # type: ignore[misc]

    def _init_quantizers(self, **specs: Any) -> None:
        for public, attr in self._quantizer_attrs:
            spec = specs.get(public)
            try:
                quantizer = get_quantizer(spec)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{layer_label(self)}: {public}={spec!r}: {err}") from None
            setattr(self, attr, quantizer)
            setattr(self, public, spec)

    def _init_activation(self, spec: Any) -> None:
        """``self.activation`` from a quantizer or Keras activation; ``None`` becomes
        Keras' ``linear``, as in ``keras.layers.Dense`` (configs then say ``"linear"``)."""
        activation = activation_from_spec(spec, f"{layer_label(self)}: activation={spec!r}")
        self.activation = keras.activations.get(None) if activation is None else activation

    def _init_weight_quantization(self, activation: Any, ranges: dict[str, Any] | None = None, **specs: Any) -> None:
        """QKeras' set-up of a layer with quantized weights, run after the Keras
        ``__init__``: quantizers, activation, and for each quantized weight
        ``<w>_quantizer`` without a ``<w>_constraint`` QKeras' ``Clip``.  ``ranges``
        (``kernel_range=...``) are warned about, kept for the config, and ignored."""
        self._init_quantizers(**specs)
        self._init_activation(activation)
        for public, attr in self._quantizer_attrs:
            constraint = public.replace("_quantizer", "_constraint")
            if constraint == "bias_constraint" and not getattr(self, "use_bias", True):
                continue
            setattr(self, constraint, auto_range_constraint(getattr(self, attr), getattr(self, constraint, None)))
        ranges = ranges or {}
        warn_range_ignored(layer_label(self), **ranges)
        self._range_args = tuple(ranges)
        for argument, value in ranges.items():
            setattr(self, argument, value)

    def _quantized_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` (from the Keras base) with quantizers and activation in
        QKeras' ``{"class_name", "config"}`` form, plus any ``*_range`` arguments."""
        config.update(self.quantizer_config())
        if hasattr(self, "activation"):
            config["activation"] = activation_to_spec(self.activation)
        config.update({argument: getattr(self, argument) for argument in getattr(self, "_range_args", ())})
        return config

    def _quantized_weight(self, attr: str, w: Any, training: Any = None) -> Any:
        """``w`` through the quantizer held in ``attr``; unchanged when there is none."""
        return apply_quantizer(getattr(self, attr), w, training)

    def get_quantizers(self) -> list[BaseQuantizer | None]:
        return [getattr(self, attr) for _, attr in self._quantizer_attrs]

    def _learned_variables(self) -> list[Any]:
        """The bit-width variables of this layer's learned-precision quantizers, in the layer's variable order."""
        mine = []
        for q in [*self.get_quantizers(), getattr(self, "activation", None)]:
            if hasattr(q, "learns_range") and q.fbits is not None:
                mine += [q.fbits, q.ibits]
        order = self._trainable_variables + self._non_trainable_variables  # type: ignore[attr-defined]
        return [v for v in order if any(v is m for m in mine)]

    def save_own_variables(self, store: Any) -> None:
        """Keras' layers save their own weights by a fixed list (Dense: kernel, bias);
        the learned bit widths follow them, so a saved model keeps its precision."""
        super().save_own_variables(store)  # type: ignore[misc]
        extra = self._learned_variables()
        n = len(store.keys())
        if extra and n + len(extra) == len(self._trainable_variables + self._non_trainable_variables):  # type: ignore[attr-defined]
            for k, v in enumerate(extra):
                store[str(n + k)] = v

    def load_own_variables(self, store: Any) -> None:
        super().load_own_variables(store)  # type: ignore[misc]
        extra = self._learned_variables()
        n = len(store.keys())
        for k, v in enumerate(extra):
            v.assign(store[str(n - len(extra) + k)])

    def _build_learned_quantizers(self, input_shape: Any) -> None:
        """Create the bit-width variables of learned-precision quantizers on this layer.

        They belong to the layer (``kernel_fbits``, ``activation_ibits``, ...), so they
        train, save and load with it; shapes come from the weights and the output.
        """
        for public, attr in self._quantizer_attrs:
            q = getattr(self, attr, None)
            if not hasattr(q, "learns_range"):
                continue
            weight = quantized_variable(self, public)
            if weight is not None:
                q.build(tuple(weight.shape), host=self, role=public.removesuffix("_quantizer"))
        act = getattr(self, "activation", None)
        if hasattr(act, "learns_range"):
            out = self.compute_output_shape(input_shape)
            act.build(tuple(out)[1:], host=self, role="activation")

    def quantizer_config(self) -> dict[str, Any]:
        return {public: serialize_quantizer(getattr(self, attr)) for public, attr in self._quantizer_attrs}


def quantized_variable(layer: Any, public: str) -> Any:
    """The weight that quantizer ``public`` (``kernel_quantizer``, ``depthwise_quantizer``...) reads."""
    stem = public.removesuffix("_quantizer")
    for name in (stem, f"{stem}_kernel"):
        variable = getattr(layer, name, None)
        if variable is not None and hasattr(variable, "shape"):
            return variable
    return None


#: The quantizer attributes of a layer with one kernel and a bias (QDense, the convolutions).
KERNEL_AND_BIAS = (
    ("kernel_quantizer", "kernel_quantizer_internal"),
    ("bias_quantizer", "bias_quantizer_internal"),
)


class QuantizedWeightsMixin(QuantizedLayerMixin):
    """The config and pruning hooks of a Keras layer whose weights pass through quantizers.

    Placed before the Keras base class, it adds the quantizers and activation to the base's config and tells
    pruning which weights are kernels (``_prunable``: attribute names, ``("kernel",)`` by default).
    """

    _prunable: tuple[str, ...] = ("kernel",)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)  # type: ignore[misc]
        self._build_learned_quantizers(input_shape)

    def get_config(self) -> dict[str, Any]:
        return self._quantized_config(super().get_config())  # type: ignore[misc]

    def get_prunable_weights(self) -> list[Any]:
        return [getattr(self, name) for name in self._prunable]
