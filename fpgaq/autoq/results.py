"""AutoQ's results: the trained candidates, their table and their accuracy-vs-cost plot."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import keras

from fpgaq.autoq.costs import pareto_mask
from fpgaq.figures import figure, save_figure

__all__ = ["Candidate", "plot_candidates", "write_csv"]


@dataclasses.dataclass
class Candidate:
    """One trained trial: its metrics, its choices, and (when asked for) its model."""

    study: str
    number: int
    accuracy: float
    cost: float
    reference_cost: float
    forgiving_factor: float
    score: float
    quantizers: dict[str, dict[str, str]]
    filters: dict[str, float]
    model: keras.Model | None = None

    @property
    def cost_ratio(self) -> float:
        """How many times cheaper than the reference (> 1: cheaper)."""
        return self.reference_cost / self.cost


def write_csv(
    path: str | os.PathLike[str], candidates: Sequence[Candidate], goal: str, pareto_only: bool = False
) -> Path:
    """One row per candidate (or per Pareto point): metrics and each layer's choices; ``goal`` names the cost."""
    done = list(candidates)
    mask = pareto_mask([c.accuracy for c in done], [c.cost for c in done])
    rows = [(c, keep) for c, keep in zip(done, mask) if keep or not pareto_only]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "study",
                "trial",
                "accuracy",
                f"cost_{goal}",
                "reference_cost",
                "cost_ratio",
                "forgiving_factor",
                "score",
                "pareto",
                "filters",
                "quantizers",
            ]
        )
        for c, keep in rows:
            writer.writerow(
                [
                    c.study,
                    c.number,
                    f"{c.accuracy:.6f}",
                    f"{c.cost:.6g}",
                    f"{c.reference_cost:.6g}",
                    f"{c.cost_ratio:.4f}",
                    f"{c.forgiving_factor:.6f}",
                    f"{c.score:.6f}",
                    int(keep),
                    json.dumps(c.filters, sort_keys=True),
                    json.dumps(c.quantizers, sort_keys=True),
                ]
            )
    return out


def plot_candidates(
    path: str | os.PathLike[str],
    candidates: Sequence[Candidate],
    front: Sequence[Candidate],
    best: Candidate | None,
    goal: str,
    title: str,
    reference_accuracy: float | None = None,
) -> Path:
    """Accuracy against cost (relative to the 8-bit reference), the Pareto front and the best candidate marked."""
    done = list(candidates)
    fig = figure(6.4, 4.4)
    ax = fig.add_subplot()
    if done and best is not None:
        rel = [c.cost / c.reference_cost for c in done]
        acc = [100 * c.accuracy for c in done]
        ax.scatter(rel, acc, s=18, color="0.6", label="trials")
        ax.step(
            [c.cost / c.reference_cost for c in front],
            [100 * c.accuracy for c in front],
            where="post",
            color="C0",
            marker="o",
            label="Pareto front",
        )
        ax.scatter(
            [best.cost / best.reference_cost],
            [100 * best.accuracy],
            s=90,
            marker="*",
            color="C3",
            label="best (forgiving factor)",
            zorder=3,
        )
    if reference_accuracy is not None:
        ax.scatter([1.0], [100 * reference_accuracy], marker="s", color="k", label="8-bit reference")
    ax.axvline(1.0, color="k", lw=0.5, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel(f"{goal} cost / 8-bit reference")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out, dpi=120)
    return out
