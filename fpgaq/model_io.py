"""Loading a saved model for any command: Keras 3 files, QKeras / Keras 2 HDF5 files, ``model.to_json()``
files with their weights beside them, and qkeras-v3 files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_NAMES", "find_weights", "is_model_json", "load_model"]

#: Where Keras users put the weights of ``<stem>.json``, in the order they are listed in errors.
WEIGHTS_NAMES = ("{stem}.weights.h5", "{stem}_weights.h5", "{stem}.h5")


def load_model(path: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None) -> Any:
    """A ``.keras`` model (fpgaq layers registered), or a QKeras model saved by Keras 2 as HDF5,
    imported with :func:`fpgaq.load_qkeras` without QKeras installed, or a ``.keras`` saved by qkeras-v3
    (imported with :func:`fpgaq.qkeras_v3_import.load_qkeras_v3` without qkeras-v3).

    A ``model.to_json()`` file is a model without its weights: they are read
    from ``weights`` or, without it, from the one file next to the JSON named
    as in :data:`WEIGHTS_NAMES` (see :func:`find_weights`), so that every
    command taking a model path takes the JSON too.  ``weights`` also
    overrides the weights of a Keras 2 HDF5 model.

    Raises OSError or ValueError with Keras' or the importer's message.
    """
    import keras

    import fpgaq.layers  # noqa: F401  (registers the layers for loading)
    from fpgaq.larq_import import is_larq_h5, load_larq
    from fpgaq.qkeras_import import is_keras2_h5, load_qkeras

    if is_model_json(path):
        return _load_json(Path(path), weights)
    if is_larq_h5(path):  # a Keras 2 HDF5 with Larq layers: read without Larq
        return load_larq(path, weights)
    if is_keras2_h5(path):
        return load_qkeras(path, weights)
    if weights is not None:
        raise ValueError(
            f"{os.fspath(path)}: a separate weights file ({os.fspath(weights)}) is read only with a model.to_json() "
            "file or a Keras 2 .h5 model; this file holds its own weights: leave the weights file out"
        )
    from fpgaq.qkeras_v3_import import is_qkeras_v3_file, load_qkeras_v3

    if is_qkeras_v3_file(path):  # a .keras saved by qkeras-v3: its classes are read without it
        return load_qkeras_v3(path)
    return keras.models.load_model(path, compile=False)


def is_model_json(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ``.json`` file, or a text file holding a JSON object (``to_json()`` under another name).

    A ``.json`` that is not a model is still claimed, so that its error says what a model JSON is rather
    than Keras' complaint about an unknown file format."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(64).lstrip().startswith(b"{")


def find_weights(json_path: str | os.PathLike[str]) -> Path:
    """The one weights file next to ``<stem>.json``, by the names in :data:`WEIGHTS_NAMES`.

    Guessing between two candidates would load one model's weights into
    another silently, so more than one is an error, as is none.
    """
    json_path = Path(json_path)
    stem = json_path.name[: -len(json_path.suffix)] if json_path.suffix else json_path.name
    tried = [json_path.with_name(name.format(stem=stem)) for name in WEIGHTS_NAMES]
    found = [p for p in tried if p.is_file()]
    if len(found) == 1:
        return found[0]
    names = ", ".join(p.name for p in tried)
    if not found:
        raise FileNotFoundError(
            f"{json_path}: a model.to_json() file carries no weights, and none of {names} exists next to it "
            f"(in {json_path.parent}); save them there with model.save_weights('{stem}.weights.h5') (or rename "
            "the weights file to one of those names), or pass the weights file explicitly: "
            "fpgaq.load_model(json, weights=...)"
        )
    raise ValueError(
        f"{json_path}: {len(found)} weights files next to it could belong to it ({', '.join(p.name for p in found)}) "
        f"and fpgaq will not guess; keep only the right one of {names} in {json_path.parent}, or pass it "
        "explicitly: fpgaq.load_model(json, weights=...)"
    )


def _load_json(path: Path, weights: str | os.PathLike[str] | None) -> Any:
    """A ``to_json()`` file: Keras 2 (QKeras, Larq) through fpgaq's importers, Keras 3 through Keras."""
    from fpgaq.larq_import import is_larq_config, load_larq
    from fpgaq.qkeras_import import load_qkeras

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; give a model.to_json() file, a .keras or an .h5 model")
    text = path.read_text(encoding="utf8")
    weights_path = find_weights(path) if weights is None else Path(weights)
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: no such weights file (given for {path})")
    if _is_keras3_config(text):
        import keras

        model = keras.models.model_from_json(text)
        model.load_weights(weights_path)
        return model
    if is_larq_config(text):
        return load_larq(path, weights_path)
    return load_qkeras(path, weights_path)


def _is_keras3_config(text: str) -> bool:
    """Keras 3's ``to_json()`` names the model's module and no Keras version; Keras 2's names its version."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False  # the Keras 2 importer reports what is wrong with the text
    return isinstance(data, dict) and "keras_version" not in data and "module" in data
