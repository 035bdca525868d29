"""Zero the kernel columns and biases of linear outputs that a ``quantize`` node turns into constant zeros.

Learned precision removes a neuron by training its activation's bits to
nothing: every element of that output channel then has ``i + f < 0``, and the
``quantize`` node after the layer gives the constant 0 whatever the layer
computed.  The same holds for a channel that nothing reads any more (the
next layer's weights for it are all zero, or pruned by this very pass), so
the pruning runs backwards through the network until nothing changes.
The layer's column for such a channel is dead logic.  The RTL netlist
drops it anyway (nothing live reads it), but the resource model
prices each layer from its own weights, so this pass makes the graph say
what the hardware is: the column and the bias become zero, which
``prune_zero_weights`` then records as a dead channel; dead elements of a
channel that stays in use are recorded as ``attrs["dead_outputs"]`` (a flat
bool mask over the layer's outputs).  No number changes:
the only reader of the layer's output is the ``quantize`` node, which
ignores those elements.
"""

from __future__ import annotations

import numpy as np

from fpgaq.ir.graph import Graph, Node, Weight
from fpgaq.ir.opspec import is_fusable

__all__ = ["dead_channels", "prune_dead_channels"]


def _read_mask(graph: Graph, tensor: str) -> np.ndarray:
    """Which elements of ``tensor`` some reader uses (shape: the tensor's); all of them unless every
    reader is a linear layer (through Flattens) whose kernel has no non-zero weight for an element."""
    shape = graph.tensors[tensor].shape
    if tensor in graph.outputs:
        return np.ones(shape, dtype=bool)
    used = np.zeros(shape, dtype=bool)
    for reader in graph.consumers(tensor):
        if reader.op == "reshape":
            used |= _read_mask(graph, reader.output).reshape(shape)
            continue
        if not is_fusable(reader.op):  # an add, a pooling, an activation...: reads every element
            return np.ones(shape, dtype=bool)
        kernel = reader.weights["kernel"].values
        if reader.op == "dense":  # row i reads element i of the last axis
            rows = np.any(kernel.reshape(kernel.shape[0], -1) != 0, axis=1)
        else:  # input channel c: axis -2 of convolution and depthwise kernels
            rows = np.any(np.moveaxis(kernel, -2, 0).reshape(kernel.shape[-2], -1) != 0, axis=1)
        used |= np.broadcast_to(rows, shape)
    return used


def dead_channels(graph: Graph, quantize: Node) -> np.ndarray:
    """The channels (last axis) of a ``quantize`` node's output whose every element is the constant 0
    (``i + f < 0``) or read by nobody (the next layer's weights for it are all zero)."""
    shape = graph.tensors[quantize.output].shape
    lo, hi = (np.broadcast_to(np.asarray(quantize.attrs[k]), shape) for k in ("lo", "hi"))
    dead = ((lo == 0) & (hi == 0)) | ~_read_mask(graph, quantize.output)
    if dead.ndim == 0:
        return np.array([bool(dead)])
    return np.all(dead.reshape(-1, dead.shape[-1]), axis=0)


def _zeroed(weight: Weight, columns: np.ndarray) -> Weight:
    values = weight.values.copy()
    values[..., columns] = 0.0
    return Weight(values, weight.type, weight.hardware, weight.quantizer)


def _sole_linear_producer(graph: Graph, node: Node) -> Node | None:
    """The linear layer whose output only this ``quantize`` node reads (no fused activation), if any."""
    if node.op != "quantize":
        return None
    src = node.inputs[0]
    producer = graph.producer(src)
    if producer is None or not is_fusable(producer.op) or "activation" in producer.attrs:
        return None
    if src in graph.outputs or len(graph.consumers(src)) != 1:
        return None
    return producer


def _prunable(graph: Graph, node: Node) -> tuple[Node, np.ndarray] | None:
    """(the linear producer, its dead output channels) for a ``quantize`` node, if any column is live."""
    producer = _sole_linear_producer(graph, node)
    if producer is None:
        return None
    src = node.inputs[0]
    dead = dead_channels(graph, node)
    n_out = graph.tensors[src].shape[-1] if graph.tensors[src].shape else 1
    if dead.size not in (1, n_out) or not dead.any():
        return None
    dead = np.broadcast_to(dead, (n_out,))
    kernel = producer.weights["kernel"].values
    columns = kernel.reshape(*kernel.shape[:-2], -1) if producer.op.startswith("depthwise") else kernel
    bias = producer.weights.get("bias")
    live = np.any(columns.reshape(-1, n_out)[:, dead] != 0) or (
        bias is not None and np.any(bias.values.reshape(-1)[dead] != 0)
    )
    return (producer, dead) if live else None


def _dead_outputs(graph: Graph, node: Node) -> tuple[str, np.ndarray] | None:
    """(the linear producer, its output elements the ``quantize`` node ignores) when that differs from
    the producer's ``dead_outputs`` attr: per-element deaths that leave the channel's column in use
    (one position of a convolution's output), which the resource model leaves out of the layer."""
    producer = _sole_linear_producer(graph, node)
    if producer is None:
        return None
    src = node.inputs[0]
    shape = graph.tensors[src].shape
    lo, hi = (np.broadcast_to(np.asarray(node.attrs[k]), shape) for k in ("lo", "hi"))
    dead = (((lo == 0) & (hi == 0)) | ~_read_mask(graph, node.output)).reshape(-1)
    old = producer.attrs.get("dead_outputs")
    if not dead.any() or (isinstance(old, np.ndarray) and np.array_equal(old, dead)):
        return None
    return producer.name, dead


def prune_dead_channels(graph: Graph) -> tuple[Graph, bool]:
    """Zero one linear layer's dead channels (or record its dead output elements); report whether
    one was found."""
    for node in graph.nodes:
        outputs = _dead_outputs(graph, node)
        if outputs is not None:
            g = graph.copy()
            g.node(outputs[0]).attrs["dead_outputs"] = outputs[1]
            return g, True
        found = _prunable(graph, node)
        if found is None:
            continue
        g = graph.copy()
        producer, dead = g.node(found[0].name), found[1]
        kernel = producer.weights["kernel"]
        if producer.op.startswith("depthwise"):  # output channel c * M + m is kernel[..., c, m]
            shape = kernel.values.shape
            flat = Weight(kernel.values.reshape(*shape[:-2], -1), kernel.type, kernel.hardware, kernel.quantizer)
            zeroed = _zeroed(flat, dead)
            producer.weights["kernel"] = Weight(
                zeroed.values.reshape(shape), kernel.type, kernel.hardware, kernel.quantizer
            )
        else:
            producer.weights["kernel"] = _zeroed(kernel, dead)
        bias = producer.weights.get("bias")
        if bias is not None:
            producer.weights["bias"] = _zeroed(bias, dead) if bias.values.ndim else bias
        return g, True
    return graph, False
