"""Seeded training and evaluation shared by the demo, the examples and the tests."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["accuracy", "train_classifier"]


def train_classifier(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int = 20,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    seed: int = 0,
    validation_split: float = 0.0,
    verbose: int = 0,
    callbacks: list[Any] | None = None,
) -> keras.callbacks.History:
    """Adam + sparse categorical cross-entropy with a cosine-decayed rate.

    Seeds Keras first so that the same call trains the same weights.
    """
    keras.utils.set_random_seed(seed)
    steps = max(1, int(np.ceil(len(x) * (1.0 - validation_split) / batch_size))) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        verbose=verbose,
        shuffle=True,
        callbacks=callbacks or [],
    )


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 4096) -> float:
    """Top-1 accuracy in [0, 1]."""
    pred = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(pred, axis=-1) == y))
