"""Data that needs no download: the machine running fpgaq may have no network.

``jet_like`` imitates the hls4ml jet-tagging benchmark's shape (16 features,
5 classes) with a seeded Gaussian mixture; ``digits`` is scikit-learn's
bundled 8x8 handwritten digits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["digits", "jet_like", "train_test_split"]


def jet_like(n: int = 20_000, seed: int = 0, features: int = 16, classes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A seeded Gaussian-mixture stand-in for jet substructure features.

    Each class has two overlapping modes with its own mean and a random
    covariance, so classes overlap (accuracy well below 100 %) and a
    quantized network loses accuracy visibly if it is too coarse.  Features
    are standardised, as users do with the real data set.
    """
    rng = np.random.default_rng(seed)
    modes = 2
    means = rng.normal(0.0, 1.0, size=(classes, modes, features))
    mixers = rng.normal(0.0, 0.6, size=(classes, modes, features, features)) / np.sqrt(features)
    labels = rng.integers(0, classes, size=n)
    which = rng.integers(0, modes, size=n)
    noise = rng.normal(size=(n, features))
    x = (
        means[labels, which]
        + np.einsum("nij,nj->ni", mixers[labels, which], noise)
        + 1.6 * rng.normal(size=(n, features))
    )
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), labels.astype(np.int64)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as ``(n, 8, 8, 1)`` images in [0, 1)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None] * (15.0 / 16.0)
    return x, data.target.astype(np.int64)


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded shuffle split (no scikit-learn needed for this)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    cut = round(len(x) * (1.0 - test_fraction))
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]
