"""Models saved by QKeras on Keras 2, read without QKeras or tf_keras: ``load_qkeras(path)``.

QKeras runs only on Keras 2, yet most quantized models in the field were
trained with it.  This module reads the two HDF5 forms Keras 2 writes (a
full-model ``model.save("m.h5")``, or ``model.to_json()`` plus
``model.save_weights(...)``, whose file has Keras 2's legacy layout for a
``"w.h5"`` name and, from tf_keras 2.13 on, the by-position layout of Keras
3's saving library for a ``"w.weights.h5"`` name) with h5py alone, maps every layer and
quantizer onto fpgaq's Keras 3 equivalents, and sets the saved weights, so
that the returned model computes what the QKeras model computed.

What is read, and why it is safe to drop the rest:

* Layer configs keep every setting that changes what the layer computes.
  Initializers, regularizers and constraints only matter for training from
  scratch; they are dropped (fpgaq's layers then add QKeras' own ``Clip``
  constraint to quantized weights, as QKeras does).
* Keras 2 settings that Keras 3 no longer has are dropped only at their
  inert value (``groups=1``, ``fused``, ``renorm=False``, ...); any other
  value is an error naming the layer and the setting.
* ``QDepthwiseConv2DBatchnorm`` has no fpgaq twin: it imports as a
  ``QDepthwiseConv2D`` whose float kernel and bias are the batch
  normalization folded in (QKeras' inference formula, computed in float64
  and rounded once to float32 as :func:`fpgaq.layers.folded.fold_batchnorm`
  does), with the same quantizers and activation.  Inference is the same;
  fine-tuning then trains the folded layer.

Anything that cannot be mapped raises :class:`QKerasImportError`, naming the
layer, the setting, what is supported and how to fix it; QKeras' recurrent
layers get a "not yet supported" error of their own until fpgaq has them.

The reading, mapping and weight setting live in :mod:`fpgaq.keras2_format`,
shared with the Larq and qkeras-v3 importers; this module is the QKeras entry.
"""

from __future__ import annotations

import os

import h5py
import keras

from fpgaq.keras2_format import (
    QKerasImportError,
    build,
    h5_model_config,
    is_layered_weights,
    layered_weights,
    legacy_weights,
    model_structure,
    read_model,
    set_weights,
    supported_layers,
)

__all__ = ["QKerasImportError", "is_keras2_h5", "load_qkeras", "supported_layers"]


# ----------------------------------------------------------------------------------- public API
def load_qkeras(path: str | os.PathLike[str], weights_path: str | os.PathLike[str] | None = None) -> keras.Model:
    """The fpgaq Keras 3 model equivalent to a QKeras (Keras 2) model saved as HDF5.

    ``path`` is a full-model ``.h5`` (``model.save("m.h5")``), or the JSON text
    of ``model.to_json()`` in a file, with ``weights_path`` the ``.h5`` of
    ``model.save_weights``; ``weights_path`` also overrides the weights of a
    full-model file.  Neither QKeras nor tf_keras is needed.  The result uses
    ``fpgaq.layers`` and ``fpgaq.quantizers``, so it converts with
    :func:`fpgaq.convert`, trains and saves like any fpgaq model.

    Raises :class:`QKerasImportError` for a layer, quantizer or setting that
    has no equivalent, naming it with what is supported and the fix.
    """
    path, weights_file = os.fspath(path), None if weights_path is None else os.fspath(weights_path)
    model_config, weights_file, group_path = read_model(path, weights_file)
    structure = model_structure(model_config)
    model, folds = build(structure)
    with h5py.File(weights_file, "r") as f:
        if group_path is None and is_layered_weights(f):
            saved = layered_weights(f, structure)
        else:
            saved = legacy_weights(f, group_path)
    set_weights(model, folds, saved)
    return model


def is_keras2_h5(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an HDF5 model saved by Keras 2 (and so needs :func:`load_qkeras`)."""
    found = h5_model_config(path)
    return found is not None and found[1].split(".")[0] in ("1", "2")
