"""What every quantized layer shares: its quantizers and how they serialize."""

from __future__ import annotations

from typing import Any

import keras

from fpgaq.quantizers import BaseQuantizer, get_quantizer, serialize_quantizer

__all__ = ["QuantizedLayerMixin", "activation_from_spec", "activation_to_spec", "register_layer"]


def register_layer(cls: type) -> type:
    """Register a layer so ``keras.models.load_model`` needs no ``custom_objects``."""
    return keras.saving.register_keras_serializable(package="fpgaq")(cls)


def activation_from_spec(spec: Any) -> Any:
    """QKeras layers accept either a quantizer (object, string form, dict) or a
    Keras activation name as ``activation``; keep quantizers as quantizers so
    their hardware type stays visible."""
    if spec is None:
        return None
    if isinstance(spec, BaseQuantizer):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        try:
            return get_quantizer(spec)
        except ValueError:
            return keras.activations.deserialize(spec)
    if isinstance(spec, str):
        try:
            return get_quantizer(spec)
        except ValueError:
            return keras.activations.get(spec)
    return keras.activations.get(spec)


def activation_to_spec(act: Any) -> Any:
    if act is None:
        return None
    if isinstance(act, BaseQuantizer):
        return serialize_quantizer(act)
    return keras.activations.serialize(act)


class QuantizedLayerMixin:
    """Names the layer's quantizers the way QKeras does, for qstats and the IR.

    A layer lists its quantizer attributes in ``_quantizer_attrs`` as pairs
    ``(public_name, attribute)``, e.g. ``("kernel_quantizer", "kernel_quantizer_internal")``.
    """

    _quantizer_attrs: tuple[tuple[str, str], ...] = ()

    def _init_quantizers(self, **specs: Any) -> None:
        for public, attr in self._quantizer_attrs:
            setattr(self, attr, get_quantizer(specs.get(public)))

    def get_quantizers(self) -> list[BaseQuantizer | None]:
        return [getattr(self, attr) for _, attr in self._quantizer_attrs]

    def quantizer_config(self) -> dict[str, Any]:
        return {public: serialize_quantizer(getattr(self, attr)) for public, attr in self._quantizer_attrs}
