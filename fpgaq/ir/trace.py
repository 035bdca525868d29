"""Keras model -> :class:`~fpgaq.ir.graph.Graph`.

Tracing turns each layer into one or more IR nodes with exact quantized
weights and the fixed-point types the model itself declares (quantizers) or
the config imposes.  Types left open (``None``) are filled in by
precision inference, which sizes them so nothing can overflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from fpgaq.config import Config, LayerConfig
from fpgaq.errors import FpgaqError
from fpgaq.fixed import FixedType
from fpgaq.ir.graph import Graph, Node, Tensor
from fpgaq.ir.weights import quantize_weight
from fpgaq.keras_walk import layer_calls, layer_io
from fpgaq.quantizers import BaseQuantizer

__all__ = [
    "HANDLERS",
    "QUANTIZER_ACTIVATIONS",
    "SUPPORTED_LAYERS",
    "UnsupportedLayerError",
    "check_declared",
    "explicit_padding",
    "supported_layers",
    "trace",
    "trace_depthwise",
    "window_attrs",
]


class UnsupportedLayerError(FpgaqError, ValueError):
    """A layer (or a setting of it) that fpgaq cannot turn into hardware."""


def _unsupported(layer: Any, what: str, fix: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}): {what}; {fix}")


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape[1:])


class _Tracer:
    def __init__(self, model: keras.Model, config: Config) -> None:
        self.model = model
        self.config = config
        self.nodes: list[Node] = []
        self.tensors: dict[str, Tensor] = {}
        self.names: dict[int, str] = {}  # id(KerasTensor) -> IR tensor name

    # ---------------------------------------------------------------- helpers
    def add(self, node: Node, shape: tuple[int, ...], type_: FixedType | None = None) -> str:
        if node.output in self.tensors:
            raise ValueError(f"duplicate tensor name {node.output!r}")
        self.tensors[node.output] = Tensor(node.output, shape, type_)
        self.nodes.append(node)
        return node.output

    def options(self, lc: LayerConfig) -> dict[str, Any]:
        return {
            "reuse_factor": lc.reuse_factor,
            "strategy": lc.strategy,
            "io_type": lc.io_type,
            "multiplier": lc.multiplier,
            "pipeline_every": lc.pipeline_every,
            "adders": lc.adders,
            "clock_period": lc.clock_period,
            "timing_device": lc.device,
        }

    def table(self, lc: LayerConfig, quantizer_type: FixedType | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Lookup-table settings (see fpgaq.ir.ops.tables): TableSize, and the entries' type.

        A quantizer's own grid is the better entry type (one rounding, not
        two), unless this layer sets TablePrecision itself.
        """
        table = lc.table_precision
        if quantizer_type is not None and lc.origin.get("TablePrecision", "Model").startswith("Model"):
            table = quantizer_type
        return {"table_size": lc.table_size}, {"table": table}

    def explicit(self, lc: LayerConfig, role: str) -> FixedType | None:
        value = lc.precision.get(role, "auto")
        return value if isinstance(value, FixedType) else None

    def weight_default(self, lc: LayerConfig, role: str) -> FixedType:
        return self.explicit(lc, role) or self.config.default_precision

    # ---------------------------------------------------------------- activations
    def activation(self, layer: Any, act: Any, src: str, name: str, lc: LayerConfig) -> str:
        """Append the node for an activation (quantizer or Keras function) reading ``src``."""
        shape = self.tensors[src].shape
        result = self.explicit(lc, "result")
        if isinstance(act, BaseQuantizer):
            return self.quantizer_activation(layer, act, src, name, lc)
        fname = getattr(act, "__name__", str(act))
        if fname == "linear":
            return src
        if fname == "relu":
            node = Node(name, "activation", [src], name, {"function": "relu"}, options=self.options(lc))
            return self.add(node, shape, result)
        if fname in ("sigmoid", "tanh"):
            attrs, types = self.table(lc)
            attrs = {"function": fname, **attrs}
            node = Node(name, "activation", [src], name, attrs, {}, types, self.options(lc), layer.name)
            return self.add(node, shape, result)
        if fname == "softmax":
            attrs, types = self.table(lc)
            attrs = {"axis": -1, **attrs}
            node = Node(name, "softmax", [src], name, attrs, {}, types, self.options(lc), layer.name)
            return self.add(node, shape, result)
        raise _unsupported(
            layer,
            f"activation {fname!r} is not supported",
            "use linear, relu, sigmoid, tanh, softmax or a quantizer such as quantized_relu(6)",
        )

    def quantizer_activation(self, layer: Any, q: BaseQuantizer, src: str, name: str, lc: LayerConfig) -> str:
        custom = QUANTIZER_ACTIVATIONS.get(q.name)
        if custom is not None:
            return custom(self, layer, q, src, name, lc)
        shape = self.tensors[src].shape
        try:
            hw = q.hardware()
        except (ValueError, NotImplementedError) as err:
            raise _unsupported(
                layer, f"activation quantizer {q}: {err}", "choose a quantizer with a fixed type"
            ) from None
        check_declared(layer, "result", self.explicit(lc, "result"), getattr(hw, "base", hw), q)
        fn = getattr(q, "nonlinearity", None)
        if q.name == "quantized_relu":
            if isinstance(hw, FixedType):
                attrs = {"function": "relu", "quantizer": str(q)}
                return self.add(Node(name, "activation", [src], name, attrs, options=self.options(lc)), shape, hw)
            attrs = {
                "function": "leaky_relu",
                "shift": int(hw.shift),
                "negative_type": hw.negative,
                "positive_type": hw.positive,
                "quantizer": str(q),
            }
            return self.add(Node(name, "activation", [src], name, attrs, options=self.options(lc)), shape, hw.base)
        if q.name in ("quantized_bits", "quantized_linear") and isinstance(hw, FixedType):
            attrs = {"function": "linear", "quantizer": str(q)}
            return self.add(Node(name, "activation", [src], name, attrs, options=self.options(lc)), shape, hw)
        if fn in ("hard_sigmoid", "hard_tanh") and isinstance(hw, FixedType):
            attrs = {"function": fn, "quantizer": str(q)}
            return self.add(Node(name, "activation", [src], name, attrs, options=self.options(lc)), shape, hw)
        if fn in ("sigmoid", "tanh") and isinstance(hw, FixedType):  # use_real_sigmoid / use_real_tanh: a table
            attrs, types = self.table(lc, hw)
            attrs = {"function": fn, "quantizer": str(q), **attrs}
            node = Node(name, "activation", [src], name, attrs, {}, types, self.options(lc), layer.name)
            return self.add(node, shape, hw)
        raise _unsupported(
            layer,
            f"activation quantizer {q} is not supported in the IR yet",
            "use quantized_bits, quantized_relu, quantized_tanh or quantized_sigmoid (not symmetric=True "
            "with use_real_sigmoid)",
        )

    # ---------------------------------------------------------------- layers
    def trace_layer(self, layer: Any) -> None:
        cls = type(layer).__name__
        keras_ins, outs = layer_io(self.model, layer)
        ins = [self.names[id(t)] for t in keras_ins]
        if len(outs) != 1:
            raise _unsupported(layer, "layers with several outputs are not supported", "split the layer")
        out_shape = _shape(outs[0])
        lc = self.config.layer(layer.name, cls)
        handler = HANDLERS.get(cls)
        if handler is None:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} has class {cls}, which fpgaq does not support; "
                f"supported: {', '.join(supported_layers())}"
            )
        result = handler(self, layer, ins, out_shape, lc)
        self.names[id(outs[0])] = result

    def weight(self, layer: Any, attr: str, quantizer_attr: str, role: str, lc: LayerConfig):
        variable = getattr(layer, attr)
        quantizer = getattr(layer, quantizer_attr, None)
        w = quantize_weight(variable, quantizer, self.weight_default(lc, role), role, layer.name)
        if quantizer is not None and w.hardware is None:
            check_declared(layer, role, self.explicit(lc, role), w.type, quantizer)
        return w

    def linear_layer(
        self,
        layer: Any,
        op: str,
        ins: list[str],
        out_shape: tuple[int, ...],
        lc: LayerConfig,
        kernel: Any,
        bias: Any,
        attrs: dict[str, Any],
    ) -> str:
        weights = {"kernel": kernel}
        if bias is not None:
            weights["bias"] = bias
        name = layer.name
        types = {}
        accum = self.explicit(lc, "accum")
        if accum is not None:
            types["accum"] = accum
        act = getattr(layer, "activation", None)
        has_act = act is not None and getattr(act, "__name__", "") != "linear"
        out_name = f"{name}_linear" if has_act else name
        node = Node(out_name, op, ins[:1], out_name, attrs, weights, types, self.options(lc), source=name)
        src = self.add(node, out_shape, None if has_act else self.explicit(lc, "result"))
        if has_act:
            return self.activation(layer, act, src, name, lc)
        return src

    def kernel_and_bias(
        self, layer: Any, lc: LayerConfig, kernel_attr: str = "kernel", kq: str = "kernel_quantizer_internal"
    ):
        kernel = self.weight(layer, kernel_attr, kq, "weight", lc)
        bias = None
        if getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            bias = self.weight(layer, "bias", "bias_quantizer_internal", "bias", lc)
        return kernel, bias


def _bits(t: FixedType) -> str:
    return f"{'ap_fixed' if t.signed else 'ap_ufixed'}<{t.width},{t.integer}>"


def check_declared(layer: Any, role: str, declared: FixedType | None, actual: Any, q: Any) -> None:
    """A config type for a tensor that a quantizer already types must agree with it.

    Silently preferring one of the two is what makes configs lie; width,
    integer bits and sign must match (rounding/overflow are the quantizer's).
    """
    if declared is None or not isinstance(actual, FixedType):
        return
    if (declared.width, declared.integer, declared.signed) != (actual.width, actual.integer, actual.signed):
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({type(layer).__name__}): config Precision.{role} is {_bits(declared)} but "
            f"its quantizer {q} makes it {_bits(actual)}; the quantizer decides: change the quantizer, or "
            f"remove Precision.{role} (or set it to 'auto') for this layer"
        )


def explicit_padding(layer: Any, in_shape: tuple[int, ...], ndim: int) -> list[tuple[int, int]]:
    """Explicit (before, after) padding per spatial axis, as TensorFlow's 'same' computes it.

    'causal' (which Keras allows only on 1-D convolutions) pads the start of the
    sequence alone, so that no output sees a later input: every back end takes
    explicit (before, after) pads, so it needs nothing of its own.
    """
    padding = layer.padding
    if padding == "valid":
        return [(0, 0)] * ndim
    if padding == "causal" and ndim == 1 and hasattr(layer, "kernel_size"):
        return [((layer.kernel_size[0] - 1) * layer.dilation_rate[0], 0)]
    if padding != "same":
        raise _unsupported(
            layer, f"padding={padding!r} is not supported", "use 'valid', 'same', or 'causal' on a 1-D convolution"
        )
    pads = []
    for i in range(ndim):
        size, k, s = (
            in_shape[i],
            layer.kernel_size[i] if hasattr(layer, "kernel_size") else layer.pool_size[i],
            (layer.strides[i]),
        )
        d = layer.dilation_rate[i] if hasattr(layer, "dilation_rate") else 1
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def window_attrs(layer: Any, in_shape: tuple[int, ...]) -> dict[str, Any]:
    """A convolution's window as the IR's attrs hold it (kernel_size, strides, dilation, explicit
    padding), shared by every handler that makes a convolution or depthwise node."""
    return {
        "kernel_size": tuple(layer.kernel_size),
        "strides": tuple(layer.strides),
        "dilation": tuple(layer.dilation_rate),
        "padding": explicit_padding(layer, in_shape, len(layer.kernel_size)),
    }


def _dense(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    kernel, bias = t.kernel_and_bias(layer, lc)
    return t.linear_layer(layer, "dense", ins, out_shape, lc, kernel, bias, {})


def _conv(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    ndim = len(layer.kernel_size)
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _unsupported(layer, "data_format='channels_first' is not supported", "use channels_last")
    if getattr(layer, "groups", 1) != 1:
        raise _unsupported(layer, f"groups={layer.groups} is not supported", "use groups=1")
    attrs = window_attrs(layer, t.tensors[ins[0]].shape)
    kernel, bias = t.kernel_and_bias(layer, lc)
    return t.linear_layer(layer, f"conv{ndim}d", ins, out_shape, lc, kernel, bias, attrs)


def trace_depthwise(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    ndim = len(layer.kernel_size)
    attrs = {**window_attrs(layer, t.tensors[ins[0]].shape), "depth_multiplier": int(layer.depth_multiplier)}
    kq = "depthwise_quantizer_internal"
    kernel, bias = t.kernel_and_bias(layer, lc, kernel_attr="kernel", kq=kq)
    return t.linear_layer(layer, f"depthwise{ndim}d", ins, out_shape, lc, kernel, bias, attrs)


def _activation_layer(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    act = getattr(layer, "quantizer", None) or layer.activation
    return t.activation(layer, act, ins[0], layer.name, lc)


def _relu_layer(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
        raise _unsupported(
            layer, "ReLU with max_value, negative_slope or threshold is not supported", "use a quantized_relu"
        )
    node = Node(layer.name, "activation", ins, layer.name, {"function": "relu"}, options=t.options(lc))
    return t.add(node, out_shape, t.explicit(lc, "result"))


def _identity(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    node = Node(layer.name, "identity", ins, layer.name, source=layer.name)
    return t.add(node, out_shape, None)


def _reshape(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    node = Node(layer.name, "reshape", ins, layer.name, {"shape": out_shape}, source=layer.name)
    return t.add(node, out_shape, None)


def _pool(kind: str):
    def handler(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
        in_shape = t.tensors[ins[0]].shape
        ndim = len(in_shape) - 1
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise _unsupported(layer, "data_format='channels_first' is not supported", "use channels_last")
        attrs = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides)}
        if layer.padding != "valid":
            raise _unsupported(layer, f"padding={layer.padding!r} is not supported for pooling", "use 'valid'")
        attrs["padding"] = [(0, 0)] * ndim
        node = Node(layer.name, f"{kind}{ndim}d", ins, layer.name, attrs, options=t.options(lc), source=layer.name)
        return t.add(node, out_shape, t.explicit(lc, "result"))

    return handler


def _global_pool(kind: str):
    def handler(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
        in_shape = t.tensors[ins[0]].shape
        ndim = len(in_shape) - 1
        if getattr(layer, "keepdims", False):
            raise _unsupported(layer, "keepdims=True is not supported", "use keepdims=False and a Reshape")
        node = Node(layer.name, f"global_{kind}{ndim}d", ins, layer.name, {}, options=t.options(lc), source=layer.name)
        return t.add(node, out_shape, t.explicit(lc, "result"))

    return handler


def _add(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    node = Node(layer.name, "add", ins, layer.name, {}, options=t.options(lc), source=layer.name)
    return t.add(node, out_shape, t.explicit(lc, "result"))


def _concatenate(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    axis = int(layer.axis)
    rank = len(out_shape)
    axis = axis - 1 if axis > 0 else axis + rank
    if not 0 <= axis < rank:
        raise _unsupported(layer, f"axis={layer.axis} is out of range", "concatenate along a feature axis")
    node = Node(layer.name, "concatenate", ins, layer.name, {"axis": axis}, options=t.options(lc), source=layer.name)
    return t.add(node, out_shape, t.explicit(lc, "result"))


def _zeropad(t: _Tracer, layer: Any, ins: list[str], out_shape, lc) -> str:
    ndim = len(out_shape) - 1
    pad = layer.padding
    pads = [tuple(int(p) for p in pad)] if ndim == 1 else [tuple(int(v) for v in p) for p in pad]
    node = Node(layer.name, f"zeropad{ndim}d", ins, layer.name, {"padding": pads}, source=layer.name)
    return t.add(node, out_shape, None)


#: Quantizer name -> handler(tracer, layer, quantizer, input tensor name, output name, layer config)
#: returning the IR tensor of an activation quantizer's output, wherever the quantizer sits (QActivation,
#: a layer's ``activation=``); op modules add their own, consulted before the built-in cases.
QUANTIZER_ACTIVATIONS: dict[str, Callable[..., str]] = {}

#: Keras class name -> handler(tracer, layer, input tensor names, output shape, layer config)
#: returning the IR tensor that holds the layer's output; op modules add their own.
HANDLERS = {
    "QDense": _dense,
    "Dense": _dense,
    "QConv1D": _conv,
    "QConv2D": _conv,
    "Conv1D": _conv,
    "Conv2D": _conv,
    "QDepthwiseConv2D": trace_depthwise,
    "DepthwiseConv2D": trace_depthwise,
    "QActivation": _activation_layer,
    "Activation": _activation_layer,
    "ReLU": _relu_layer,
    "Dropout": _identity,
    "Flatten": _reshape,
    "Reshape": _reshape,
    "MaxPooling1D": _pool("maxpool"),
    "MaxPooling2D": _pool("maxpool"),
    "AveragePooling1D": _pool("avgpool"),
    "AveragePooling2D": _pool("avgpool"),
    "GlobalMaxPooling1D": _global_pool("maxpool"),
    "GlobalMaxPooling2D": _global_pool("maxpool"),
    "GlobalAveragePooling1D": _global_pool("avgpool"),
    "GlobalAveragePooling2D": _global_pool("avgpool"),
    "Add": _add,
    "Concatenate": _concatenate,
    "ZeroPadding1D": _zeropad,
    "ZeroPadding2D": _zeropad,
}


def supported_layers() -> list[str]:
    return sorted({*HANDLERS, "InputLayer"})


SUPPORTED_LAYERS = supported_layers()  # at import time; op modules may add more


def trace(model: keras.Model, config: Any = None) -> Graph:
    """Build the IR of ``model``: nodes in topological order, weights exact, declared types set."""
    from fpgaq.config import load_config

    cfg = load_config(config)
    names = [layer.name for layer in model.layers] + [kt.name.split(":")[0] for kt in model.inputs]
    cfg.check_layers(names, [type(layer).__name__ for layer in model.layers])
    t = _Tracer(model, cfg)
    inputs = []
    for i, kt in enumerate(model.inputs):
        name = getattr(kt, "name", None) or f"input_{i}"
        name = name.split(":")[0]
        node = Node(name, "input", [], name, source=name)
        t.add(node, _shape(kt), cfg.input_precision_for(name))
        t.names[id(kt)] = name
        inputs.append(name)
    seen_layers = set()
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if id(layer) in seen_layers or len(layer_calls(model, layer)) > 1:
            raise _unsupported(layer, "a layer called more than once is not supported", "use separate layers")
        seen_layers.add(id(layer))
        t.trace_layer(layer)
    outputs = [t.names[id(kt)] for kt in model.outputs]
    graph = Graph(model.name, t.nodes, t.tensors, inputs, outputs)
    graph.validate()
    return graph
