"""Test inputs that exercise what fixed-point hardware gets wrong: saturation and ties."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["edge_inputs"]


def edge_inputs(design: Any, n: int, seed: int = 0, extremes: bool = False) -> list[np.ndarray]:
    """Floats over each input type's range, 30% beyond it (saturation) and exact half-way points.

    With ``extremes`` the first rows are fixed: just below the minimum, just
    above the maximum, zero and half an LSB (a tie), so even a few samples
    cover both saturation directions.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name in design.graph.inputs:
        tensor = design.graph.tensors[name]
        t = tensor.type
        span = max(abs(t.min_value), abs(t.max_value))
        x = rng.uniform(-1.3 * span, 1.3 * span, size=(n, *tensor.shape))
        ties = (np.floor(x / t.lsb_value) + 0.5) * t.lsb_value
        x = np.where(rng.random(x.shape) < 0.25, ties, x)
        if extremes:
            for i, v in enumerate([t.min_value - 1, t.max_value + 1, 0.0, t.lsb_value / 2][:n]):
                x[i] = v
        out.append(x)
    return out
