"""Graph passes: small pure functions ``Graph -> (Graph, changed)``, one per module.

The driver runs each pass until it reports no change, in the order given,
which is how a pass stays simple: it handles one occurrence at a time.

Why :data:`DEFAULT_PASSES` runs in this order:

1. ``remove_identity`` first: Dropout and other wiring-only nodes sit between
   the nodes that the later passes look for as neighbours.
2. ``absorb_input_quantizer`` before ``merge_quantizer``: a quantizer right
   after an input becomes the input's own type (the port type), which is
   what the back ends need, rather than being merged some other way.
   ``absorb_input_elements`` does the same for a learned-precision
   ``quantize`` node: the input gets its per-element types.
3. ``fold_batchnorm`` before the activation passes: a scale node sits between
   a linear node and its activation; folding it makes them neighbours.  It
   also needs the linear node's result type still open, which merging a
   quantizer into it would close.
4. ``merge_quantizer`` before ``fuse_activation``: a ``quantized_bits``
   activation after a linear node becomes that node's output type, which is
   cheaper than fusing it as a ``linear`` activation.
5. ``fuse_activation`` then fuses what remains (relu and friends).
6. ``prune_dead_channels`` (learned precision: the columns of channels a
   ``quantize`` node makes constant zeros) before ``prune_zero_weights``,
   which annotates the final kernels, after folding and pruning changed them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fpgaq.ir.graph import Graph
from fpgaq.ir.passes.absorb_input_elements import absorb_input_elements
from fpgaq.ir.passes.absorb_input_quantizer import absorb_input_quantizer
from fpgaq.ir.passes.fold_batchnorm import fold_batchnorm
from fpgaq.ir.passes.fuse_activation import fuse_activation
from fpgaq.ir.passes.merge_quantizer import merge_quantizer
from fpgaq.ir.passes.prune_dead_channels import prune_dead_channels
from fpgaq.ir.passes.prune_zero_weights import prune_zero_weights
from fpgaq.ir.passes.remove_identity import remove_identity

__all__ = [
    "DEFAULT_PASSES",
    "Pass",
    "absorb_input_elements",
    "absorb_input_quantizer",
    "fold_batchnorm",
    "fuse_activation",
    "merge_quantizer",
    "prune_dead_channels",
    "prune_zero_weights",
    "remove_identity",
    "run_passes",
]

Pass = Callable[[Graph], tuple[Graph, bool]]

DEFAULT_PASSES: list[Pass] = [
    remove_identity,
    absorb_input_quantizer,
    absorb_input_elements,
    fold_batchnorm,
    merge_quantizer,
    fuse_activation,
    prune_dead_channels,
    prune_zero_weights,
]

_MAX_ROUNDS = 10_000


def run_passes(graph: Graph, passes: Sequence[Pass]) -> Graph:
    """Apply each pass until it changes nothing; returns the final graph."""
    for p in passes:
        for _ in range(_MAX_ROUNDS):
            graph, changed = p(graph)
            if not changed:
                break
        else:  # pragma: no cover - a pass that never settles is a bug
            raise RuntimeError(f"pass {p.__name__} did not settle after {_MAX_ROUNDS} rounds")
    graph.validate()
    return graph
