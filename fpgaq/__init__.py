"""fpgaq: quantized neural networks to proven-correct FPGA firmware.

Importing the package is light: only the fixed-point and hardware types load
here, so ``import fpgaq.fixed``, ``fpgaq.hwtypes`` or ``fpgaq.rtl.netlist``
never pull in Keras or TensorFlow.  Every other public name loads on first
use (module ``__getattr__``).  The layers and quantizers register themselves
with Keras as soon as Keras is imported (see :mod:`fpgaq._keras_registration`),
so a model saved with fpgaq layers still loads with
``keras.models.load_model`` after ``import fpgaq``, with no ``custom_objects``.
"""

import importlib
import importlib.util
import os
from typing import Any

# Quiet TensorFlow's start-up chatter, and keep its CPU kernels on the plain
# (non-oneDNN) path whose float results do not depend on blocking choices:
# bit-exact comparisons against Keras need reproducible float arithmetic.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from fpgaq._keras_registration import register_when_keras_loads
from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, LevelsType, Po2Type, ScaledType, TernaryType

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first use
_LAZY: dict[str, str] = {
    "convert": "fpgaq.design",
    "Design": "fpgaq.design",
    "load_model": "fpgaq.model_io",  # the loader of every fpgaq command (Keras 3, QKeras HDF5, qkeras-v3)
    "load_config": "fpgaq.config",
    "config_from_model": "fpgaq.config",
    "load_qkeras": "fpgaq.qkeras_import",
    "load_larq": "fpgaq.larq_import",
    "BaseQuantizer": "fpgaq.quantizers",
    "get_quantizer": "fpgaq.quantizers",
    "register_quantizer": "fpgaq.quantizers",
}


def __getattr__(name: str) -> Any:
    """Public names (and subpackages, as ``fpgaq.layers``) load when first used, not at package import."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fpgaq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BaseQuantizer",
    "BinaryType",
    "Design",
    "FixedType",
    "LevelsType",
    "Overflow",
    "Po2Type",
    "Rounding",
    "ScaledType",
    "TernaryType",
    "__version__",
    "config_from_model",
    "convert",
    "get_quantizer",
    "load_config",
    "load_larq",
    "load_model",
    "load_qkeras",
    "register_quantizer",
]

register_when_keras_loads()
