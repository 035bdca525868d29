"""Loading a saved model for any command: Keras 3 files, QKeras / Keras 2 HDF5 files and qkeras-v3 files."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["load_model"]


def load_model(path: str | os.PathLike[str]) -> Any:
    """A ``.keras`` model (fpgaq layers registered), or a QKeras model saved by Keras 2 as HDF5,
    imported with :func:`fpgaq.load_qkeras` without QKeras installed, or a ``.keras`` saved by qkeras-v3
    (imported with :func:`fpgaq.qkeras_v3_import.load_qkeras_v3` without qkeras-v3).

    Raises OSError or ValueError with Keras' or the importer's message.
    """
    import keras

    import fpgaq.layers  # noqa: F401  (registers the layers for loading)
    from fpgaq.larq_import import is_larq_h5, load_larq
    from fpgaq.qkeras_import import is_keras2_h5, load_qkeras

    if is_larq_h5(path):  # a Keras 2 HDF5 with Larq layers: read without Larq
        return load_larq(path)
    if is_keras2_h5(path):
        return load_qkeras(path)
    from fpgaq.qkeras_v3_import import is_qkeras_v3_file, load_qkeras_v3

    if is_qkeras_v3_file(path):  # a .keras saved by qkeras-v3: its classes are read without it
        return load_qkeras_v3(path)
    return keras.models.load_model(path, compile=False)
