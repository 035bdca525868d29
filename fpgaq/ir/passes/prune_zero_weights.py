"""Record where the kernels of dense and convolution nodes are zero.

Quantization leaves many weights exactly zero; a multiplier for a zero
weight is wasted logic, so the back ends and the resource model read these
annotations to leave them out.  Shapes and values stay as they are (the
reference keeps multiplying by zero, which is exact), so this pass cannot
change a number; it only writes ``attrs``:

* ``nonzero_mask``: bool array shaped like the kernel, True where a weight is not zero;
* ``sparsity``: the fraction of kernel weights that are zero;
* ``dead_channels``: output channels whose kernel column and bias are all
  zero, so that their pre-activation value is the constant zero (after a
  fused activation it is the activation of zero, which need not be zero).

Running it again changes nothing unless the kernels changed since.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fpgaq.ir.graph import Graph, Node
from fpgaq.ir.opspec import is_fusable

__all__ = ["prune_zero_weights", "sparsity_annotations"]


def _channel_columns(kernel: np.ndarray, op: str) -> np.ndarray:
    """The kernel as (fan-in, output channel); depthwise output channel c*M + m reads input channel c."""
    if op.startswith("depthwise"):
        return kernel.reshape(-1, kernel.shape[-2] * kernel.shape[-1])
    return kernel.reshape(-1, kernel.shape[-1])


def sparsity_annotations(node: Node) -> dict[str, Any]:
    """The annotations this pass writes for one dense or convolution node."""
    kernel = node.weights["kernel"].values
    mask = kernel != 0
    dead = ~np.any(_channel_columns(mask, node.op), axis=0)
    bias = node.weights.get("bias")
    if bias is not None:
        dead &= bias.values.reshape(-1) == 0
    return {
        "nonzero_mask": mask,
        "sparsity": (mask.size - int(np.count_nonzero(mask))) / mask.size,
        "dead_channels": tuple(int(c) for c in np.flatnonzero(dead)),
    }


def _up_to_date(node: Node, wanted: dict[str, Any]) -> bool:
    mask = node.attrs.get("nonzero_mask")
    return (
        isinstance(mask, np.ndarray)
        and mask.shape == wanted["nonzero_mask"].shape
        and bool(np.array_equal(mask, wanted["nonzero_mask"]))
        and node.attrs.get("sparsity") == wanted["sparsity"]
        and node.attrs.get("dead_channels") == wanted["dead_channels"]
    )


def prune_zero_weights(graph: Graph) -> tuple[Graph, bool]:
    """Annotate every dense and convolution node whose annotations are missing or stale."""
    stale = [n.name for n in graph.nodes if is_fusable(n.op) and not _up_to_date(n, sparsity_annotations(n))]
    if not stale:
        return graph, False
    g = graph.copy()
    for name in stale:
        node = g.node(name)
        node.attrs.update(sparsity_annotations(node))
    return g, True
