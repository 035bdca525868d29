"""Dense and Conv2D layers with a batch normalization folded into the quantized kernel.

The numerics follow QKeras' ``QDenseBatchnorm`` / ``QConv2DBatchnorm``: during
training the batch normalization is folded into kernel and bias *before* they
are quantized, so training sees exactly the quantization that inference (and
the hardware) will apply.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from fpgaq.layers.common import QuantizedLayerMixin, layer_label, register_layer

__all__ = ["FOLDING_MODES", "QConv2DBatchnorm", "QDenseBatchnorm", "fold_batchnorm"]

FOLDING_MODES = ("ema_stats_folding", "batch_stats_folding")


def fold_batchnorm(
    kernel: Any, bias: Any, gamma: Any, beta: Any, mean: Any, variance: Any, epsilon: float
) -> tuple[Any, Any]:
    """``(kernel * inv, inv * (bias - mean) + beta)`` with ``inv = gamma / sqrt(variance + epsilon)``.

    ``inv`` broadcasts along the kernel's last (output-channel) axis; ``bias``,
    ``gamma`` and ``beta`` may be ``None``.  The arithmetic runs in float64 and
    is rounded once to float32: TensorFlow's graph optimiser and XLA rewrite a
    float32 ``x / sqrt(y)`` in different ways, so float32 folding would change
    with how the model is run, and a one-ulp change can move a kernel value
    across a quantization step.  The float64 route gives the same float32
    everywhere, and the same as NumPy.
    """
    inv = 1.0 / ops.sqrt(ops.cast(variance, "float64") + epsilon)
    if gamma is not None:
        inv = ops.cast(gamma, "float64") * inv
    folded_kernel = ops.cast(kernel, "float64") * inv
    centered = -ops.cast(mean, "float64")
    if bias is not None:
        centered = ops.cast(bias, "float64") + centered
    folded_bias = inv * centered
    if beta is not None:
        folded_bias = folded_bias + ops.cast(beta, "float64")
    return ops.cast(folded_kernel, "float32"), ops.cast(folded_bias, "float32")


def _int_tuple(value: Any, n: int, what: str, owner: str) -> tuple[int, ...]:
    items = (value,) * n if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        items = tuple(int(v) for v in items)
    except (TypeError, ValueError):
        items = ()
    if len(items) != n or any(v < 1 for v in items):
        raise ValueError(f"{owner}: {what}={value!r} must be a positive int or a tuple of {n} positive ints")
    return items


class _FoldedBatchnorm(QuantizedLayerMixin, keras.layers.Layer):
    """What QDenseBatchnorm and QConv2DBatchnorm share: the batchnorm half and the folding.

    Subclasses provide ``build`` (through ``_build_weights``), ``_linear``
    (the matmul or convolution), ``_channel_axes`` (the axis values that name
    the output channels), ``compute_output_shape`` and ``get_config``.
    """

    _quantizer_attrs = (
        ("kernel_quantizer", "kernel_quantizer_internal"),
        ("bias_quantizer", "bias_quantizer_internal"),
    )

    def _init_folding(self, p: dict[str, Any]) -> None:
        owner = layer_label(self)
        self.use_bias = bool(p["use_bias"])
        for kind in ("kernel", "bias"):
            setattr(self, f"{kind}_initializer", keras.initializers.get(p[f"{kind}_initializer"]))
            setattr(self, f"{kind}_regularizer", keras.regularizers.get(p[f"{kind}_regularizer"]))
            setattr(self, f"{kind}_constraint", keras.constraints.get(p[f"{kind}_constraint"]))
        # As QKeras' QDense/QConv2D: the float kernel (not the folded one) gets Clip(-m, m).
        self._init_weight_quantization(
            p["activation"],
            {"kernel_range": p["kernel_range"], "bias_range": p["bias_range"]},
            kernel_quantizer=p["kernel_quantizer"],
            bias_quantizer=p["bias_quantizer"],
        )

        axis = p["axis"]
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{owner}: axis={p['axis']!r} must be an int naming the output-channel axis")
        self.axis = int(axis)
        self.momentum = float(p["momentum"])
        self.epsilon = float(p["epsilon"])
        if not self.epsilon > 0:
            raise ValueError(f"{owner}: epsilon={p['epsilon']!r} must be positive")
        self.center = bool(p["center"])
        self.scale = bool(p["scale"])
        for name in ("beta", "gamma"):
            setattr(self, f"{name}_initializer", keras.initializers.get(p[f"{name}_initializer"]))
            setattr(self, f"{name}_regularizer", keras.regularizers.get(p[f"{name}_regularizer"]))
            setattr(self, f"{name}_constraint", keras.constraints.get(p[f"{name}_constraint"]))
        self.moving_mean_initializer = keras.initializers.get(p["moving_mean_initializer"])
        self.moving_variance_initializer = keras.initializers.get(p["moving_variance_initializer"])
        if p["renorm"] or p["virtual_batch_size"] is not None or p["adjustment"] is not None:
            raise ValueError(
                f"{owner}: renorm, virtual_batch_size and adjustment are not supported by folded batchnorm; "
                "leave them at their defaults"
            )
        if p["synchronized"]:
            raise ValueError(f"{owner}: synchronized=True is not supported; batch moments are per replica")

        delay = p["ema_freeze_delay"]
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, np.integer))):
            raise ValueError(f"{owner}: ema_freeze_delay={delay!r} must be an int (steps) or None (never freeze)")
        self.ema_freeze_delay = None if delay is None else int(delay)
        if p["folding_mode"] not in FOLDING_MODES:
            raise ValueError(
                f"{owner}: folding_mode={p['folding_mode']!r} is not supported; use one of {', '.join(FOLDING_MODES)}"
            )
        self.folding_mode = p["folding_mode"]

    @property
    def quantizers(self) -> list[Any]:
        return self.get_quantizers()

    # -- weights ---------------------------------------------------------------------------------

    def _build_weights(self, kernel_shape: tuple[int, ...]) -> None:
        channels = (kernel_shape[-1],)
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=channels,
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.gamma = self.beta = None
        for name, enabled in (("gamma", self.scale), ("beta", self.center)):
            if enabled:
                weight = self.add_weight(
                    name=name,
                    shape=channels,
                    initializer=getattr(self, f"{name}_initializer"),
                    regularizer=getattr(self, f"{name}_regularizer"),
                    constraint=getattr(self, f"{name}_constraint"),
                    autocast=False,
                )
                setattr(self, name, weight)
        # QKeras' step counter: starts at -1 and counts training calls, so a saved
        # model resumes its freeze schedule where it stopped.
        self.iteration = self.add_weight(
            name="iteration",
            shape=(),
            dtype="int64",
            initializer=keras.initializers.Constant(-1),
            trainable=False,
            autocast=False,
        )
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=channels,
            initializer=self.moving_mean_initializer,
            trainable=False,
            autocast=False,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=channels,
            initializer=self.moving_variance_initializer,
            trainable=False,
            autocast=False,
        )

    def _check_axis(self, rank: int) -> None:
        if self.axis not in self._channel_axes(rank):
            raise ValueError(
                f"{layer_label(self)}: axis={self.axis} is not the output-channel axis; the folded batchnorm "
                f"normalizes output channels, so use axis={self._channel_axes(rank)[0]}"
            )

    # -- computation -----------------------------------------------------------------------------

    def _fold(self, mean: Any, variance: Any) -> tuple[Any, Any]:
        return fold_batchnorm(self.kernel, self.bias, self.gamma, self.beta, mean, variance, self.epsilon)

    def get_folded_weights(self) -> list[np.ndarray]:
        """``[folded_kernel, folded_bias]``: float32, *not* quantized, from the moving statistics.

        Inference computes ``activation(linear(x, kernel_quantizer(folded_kernel)) + bias_quantizer(folded_bias))``
        with exactly these arrays (a missing quantizer is the identity), where
        ``folded_kernel = kernel * inv``, ``folded_bias = inv * (bias - moving_mean) + beta`` and
        ``inv = gamma / sqrt(moving_variance + epsilon)`` (see :func:`fold_batchnorm`).
        """
        if not self.built:
            raise ValueError(f"{layer_label(self)}: build the layer (call it once) before get_folded_weights()")
        kernel, bias = self._fold(self.moving_mean, self.moving_variance)
        return [ops.convert_to_numpy(kernel), ops.convert_to_numpy(bias)]

    def _quantize(self, kernel: Any, bias: Any) -> tuple[Any, Any]:
        if self.kernel_quantizer_internal is not None:
            kernel = self.kernel_quantizer_internal(kernel)
        if self.bias_quantizer_internal is not None:
            bias = self.bias_quantizer_internal(bias)
        return kernel, bias

    def _per_channel(self, v: Any, rank: int) -> Any:
        shape = [1] * rank
        shape[self.axis] = -1
        return ops.reshape(v, shape)

    def _bias_add(self, y: Any, bias: Any) -> Any:
        return y + self._per_channel(bias, len(y.shape))

    def _finish(self, y: Any) -> Any:
        return self.activation(y) if self.activation is not None else y

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        inputs = ops.cast(inputs, "float32")
        if not (training and self.trainable):
            kernel, bias = self._fold(self.moving_mean, self.moving_variance)
            kernel, bias = self._quantize(kernel, bias)
            return self._finish(self._bias_add(self._linear(inputs, kernel), bias))
        return self._training_call(inputs)

    def _training_call(self, inputs: Any) -> Any:
        # Statistics of the float (unquantized, unfolded) layer output, as QKeras.
        raw = self._linear(inputs, self.kernel)
        if self.bias is not None:
            raw = self._bias_add(raw, self.bias)
        axes = [i for i in range(len(raw.shape)) if i != self.axis % len(raw.shape)]
        mean, variance = ops.moments(raw, axes=axes)

        # bn_training: the batch statistics are in use (until ema_freeze_delay steps have passed).
        if self.ema_freeze_delay is None or self.ema_freeze_delay < 0:
            bn_training: Any = True
        else:
            bn_training = ops.less_equal(self.iteration, self.ema_freeze_delay)
        self.iteration.assign_add(ops.ones((), dtype="int64"))

        def pick(batch_value: Any, frozen_value: Any) -> Any:
            return batch_value if bn_training is True else ops.where(bn_training, batch_value, frozen_value)

        m = self.momentum
        moving_mean = pick(self.moving_mean * m + ops.stop_gradient(mean) * (1.0 - m), self.moving_mean)
        moving_variance = pick(self.moving_variance * m + ops.stop_gradient(variance) * (1.0 - m), self.moving_variance)
        self.moving_mean.assign(moving_mean)
        self.moving_variance.assign(moving_variance)

        if self.folding_mode == "batch_stats_folding":
            kernel, bias = self._fold(pick(mean, moving_mean), pick(variance, moving_variance))
            kernel, bias = self._quantize(kernel, bias)
            return self._finish(self._bias_add(self._linear(inputs, kernel), bias))

        # ema_stats_folding: the kernel is always folded with the moving variance, so its
        # quantization does not jitter from batch to batch; while the batch statistics are
        # in use, the output is rescaled to what batch-statistics folding would give.
        kernel, moving_bias = self._fold(moving_mean, moving_variance)
        _, batch_bias = self._fold(mean, variance)
        kernel, bias = self._quantize(kernel, pick(batch_bias, moving_bias))
        y = self._linear(inputs, kernel)
        correction = ops.sqrt(moving_variance + self.epsilon) / ops.sqrt(variance + self.epsilon)
        correction = pick(correction, ops.ones_like(correction))
        return self._finish(self._bias_add(y * self._per_channel(correction, len(y.shape)), bias))

    # -- config ----------------------------------------------------------------------------------

    def _folding_config(self) -> dict[str, Any]:
        ser = keras.initializers.serialize
        config = {
            "use_bias": self.use_bias,
            "kernel_initializer": ser(self.kernel_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": ser(self.beta_initializer),
            "gamma_initializer": ser(self.gamma_initializer),
            "moving_mean_initializer": ser(self.moving_mean_initializer),
            "moving_variance_initializer": ser(self.moving_variance_initializer),
            "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": keras.constraints.serialize(self.beta_constraint),
            "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
            "ema_freeze_delay": self.ema_freeze_delay,
            "folding_mode": self.folding_mode,
        }
        return self._quantized_config(config)


def _params(local: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in local.items() if k not in ("self", "kwargs", "__class__")}


@register_layer
class QDenseBatchnorm(_FoldedBatchnorm):
    """QDense followed by a batch normalization, folded into the quantized kernel (QKeras' ``QDenseBatchnorm``).

    Inference: ``activation(x @ kernel_quantizer(Wf) + bias_quantizer(bf))`` with
    ``[Wf, bf] = get_folded_weights()``.  Training: see ``folding_mode`` below.

    ``folding_mode="ema_stats_folding"`` (default) folds the kernel with the
    moving variance (updated with this batch first) and, while the batch
    statistics are in use, multiplies the output by
    ``sqrt(moving_variance + eps) / sqrt(batch_variance + eps)`` and folds the
    bias with the batch mean and variance.  ``"batch_stats_folding"`` folds
    kernel and bias with the batch statistics.  After ``ema_freeze_delay``
    training steps (``None`` or negative: never) the moving statistics are
    frozen and training folds exactly as inference does.  The batch statistics
    are the mean and biased variance, over every axis but the last, of
    ``x @ kernel + bias`` with the float kernel.
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        kernel_quantizer: Any = None,
        bias_quantizer: Any = None,
        kernel_range: Any = None,
        bias_range: Any = None,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 0.001,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: Any = None,
        renorm_momentum: float = 0.99,
        fused: Any = None,
        virtual_batch_size: Any = None,
        adjustment: Any = None,
        synchronized: bool = False,
        ema_freeze_delay: int | None = None,
        folding_mode: str = "ema_stats_folding",
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{layer_label(self)}: units={units!r} must be a positive int")
        self.units = int(units)
        self._init_folding(_params(locals()))

    def _channel_axes(self, rank: int) -> tuple[int, ...]:
        return (-1, rank - 1)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{layer_label(self)}: input shape {tuple(input_shape)} needs a known last dimension and a batch axis"
            )
        self._check_axis(len(input_shape))
        self._build_weights((int(input_shape[-1]), self.units))
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: int(input_shape[-1])})

    def _linear(self, inputs: Any, kernel: Any) -> Any:
        return ops.matmul(inputs, kernel)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, **self._folding_config()}


@register_layer
class QConv2DBatchnorm(_FoldedBatchnorm):
    """QConv2D followed by a batch normalization, folded into the quantized kernel (QKeras' ``QConv2DBatchnorm``).

    Inference: ``activation(conv2d(x, kernel_quantizer(Wf)) + bias_quantizer(bf))``
    with ``[Wf, bf] = get_folded_weights()``; training folds as described in
    :class:`QDenseBatchnorm`, with the statistics taken per filter over batch
    and spatial axes.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        data_format: str | None = "channels_last",
        dilation_rate: int | tuple[int, int] = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        kernel_quantizer: Any = None,
        bias_quantizer: Any = None,
        kernel_range: Any = None,
        bias_range: Any = None,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 0.001,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: Any = None,
        renorm_momentum: float = 0.99,
        fused: Any = None,
        virtual_batch_size: Any = None,
        adjustment: Any = None,
        synchronized: bool = False,
        ema_freeze_delay: int | None = None,
        folding_mode: str = "ema_stats_folding",
        groups: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = layer_label(self)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{owner}: filters={filters!r} must be a positive int")
        self.filters = int(filters)
        self.kernel_size = _int_tuple(kernel_size, 2, "kernel_size", owner)
        self.strides = _int_tuple(strides, 2, "strides", owner)
        self.dilation_rate = _int_tuple(dilation_rate, 2, "dilation_rate", owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: strides > 1 together with dilation_rate > 1 is not supported")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{owner}: padding={padding!r} is not supported; use 'valid' or 'same'")
        self.data_format = keras.config.image_data_format() if data_format is None else data_format
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{owner}: data_format={data_format!r}; use 'channels_last' or 'channels_first'")
        if groups != 1:
            raise ValueError(f"{owner}: groups={groups!r} is not supported (QKeras' QConv2D has no groups); use 1")
        self._init_folding(_params(locals()))

    def _channel_axes(self, rank: int) -> tuple[int, ...]:
        return (-1, 3) if self.data_format == "channels_last" else (1, -3)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"{layer_label(self)}: expects 4-D inputs, got shape {tuple(input_shape)}")
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels is None:
            raise ValueError(
                f"{layer_label(self)}: the channel dimension of input shape {tuple(input_shape)} is unknown"
            )
        self._check_axis(4)
        self._build_weights((*self.kernel_size, int(channels), self.filters))
        channel_axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={channel_axis: int(channels)})

    def _linear(self, inputs: Any, kernel: Any) -> Any:
        # Convolve channels_last and transpose around it: TensorFlow's CPU kernels lack NCHW.
        if self.data_format == "channels_first":
            inputs = ops.transpose(inputs, (0, 2, 3, 1))
        y = ops.conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
        )
        return ops.transpose(y, (0, 3, 1, 2)) if self.data_format == "channels_first" else y

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        out = []
        for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append((size + s - 1) // s)
            else:
                out.append((size - d * (k - 1) - 1) // s + 1)
        if self.data_format == "channels_last":
            return (input_shape[0], *out, self.filters)
        return (input_shape[0], self.filters, *out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            **self._folding_config(),
        }
