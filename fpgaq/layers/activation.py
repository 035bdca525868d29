"""QActivation: a quantizer (or a plain Keras activation) as a layer of its own."""

from __future__ import annotations

from typing import Any

import keras

from fpgaq.layers.common import (
    QuantizedLayerMixin,
    activation_from_spec,
    activation_to_spec,
    layer_label,
    register_layer,
)
from fpgaq.quantizers import BaseQuantizer, serialize_quantizer

__all__ = ["QActivation"]


@register_layer
class QActivation(QuantizedLayerMixin, keras.layers.Layer):
    """Applies ``activation`` elementwise: a quantizer given as an object, a
    string such as ``"quantized_relu(6)"`` or a QKeras-style dict, or a Keras
    activation (``"relu"``).  Quantizer names take priority, as in QKeras.

    ``activation`` and ``quantizer`` both hold the parsed callable (QKeras
    keeps the string in ``activation``); the config stores quantizers in
    QKeras' ``{"class_name", "config"}`` form.
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if activation is None:
            raise ValueError(
                f"{layer_label(self)}: activation=None; give a quantizer such as 'quantized_relu(6)' "
                "or a Keras activation name such as 'relu'"
            )
        self.activation = activation_from_spec(activation, f"{layer_label(self)}: activation={activation!r}")
        self.supports_masking = True

    @property
    def quantizer(self) -> Any:
        return self.activation

    def build(self, input_shape: Any) -> None:
        if hasattr(self.activation, "learns_range"):  # learned precision: its bits are this layer's weights
            self.activation.build(tuple(input_shape)[1:], host=self, role="activation")
        super().build(input_shape)

    def call(self, inputs: Any, training: Any = None) -> Any:
        if hasattr(self.activation, "learns_range"):
            return self.activation(inputs, training=training)
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["activation"] = activation_to_spec(self.activation)
        return config

    def get_quantizers(self) -> list[BaseQuantizer | None]:
        """``[quantizer]``, or ``[None]`` when the activation is a float Keras function."""
        return [self.activation if isinstance(self.activation, BaseQuantizer) else None]

    def quantizer_config(self) -> dict[str, Any]:
        return {"activation": serialize_quantizer(self.get_quantizers()[0])}

    def get_prunable_weights(self) -> list[Any]:
        return []
