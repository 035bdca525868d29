"""Training one AutoQ trial: its validation accuracy after every epoch, and the early stop of poor curves.

The stop rule itself (the median of cheaper finished trials) is the search's;
this module measures and calls it, so that a trial's training is the same
whichever sampler or storage the search uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

__all__ = ["EpochWatcher", "top1_accuracy"]


def top1_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int = 4096) -> float:
    """Top-1 accuracy by direct calls (``model.predict`` retraces for every new trial model)."""
    hits = 0
    for i in range(0, len(x), batch):
        pred = keras.ops.convert_to_numpy(model(x[i : i + batch], training=False))
        hits += int(np.sum(np.argmax(pred, axis=-1) == y[i : i + batch]))
    return hits / max(1, len(x))


class EpochWatcher(keras.callbacks.Callback):
    """Validation accuracy after every epoch, and the early stop of poor learning curves."""

    def __init__(self, evaluate: Callable[[], float], should_prune: Callable[[int, float], bool], epochs: int) -> None:
        super().__init__()
        self.evaluate = evaluate
        self.should_prune = should_prune
        self.epochs = epochs
        self.curve: list[float] = []
        self.pruned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        acc = self.evaluate()
        self.curve.append(acc)
        if epoch + 1 < self.epochs and self.should_prune(epoch, acc):
            self.pruned = True
            self.model.stop_training = True
