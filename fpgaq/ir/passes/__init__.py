"""Graph passes: small pure functions ``Graph -> (Graph, changed)``, one per module.

The driver runs each pass until it reports no change, in the order given,
which is how a pass stays simple: it handles one occurrence at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fpgaq.ir.graph import Graph
from fpgaq.ir.passes.absorb_input_quantizer import absorb_input_quantizer
from fpgaq.ir.passes.remove_identity import remove_identity

__all__ = ["DEFAULT_PASSES", "Pass", "absorb_input_quantizer", "remove_identity", "run_passes"]

Pass = Callable[[Graph], tuple[Graph, bool]]

DEFAULT_PASSES: list[Pass] = [remove_identity, absorb_input_quantizer]

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
