"""fpgaq: quantized neural networks to proven-correct FPGA firmware."""

import os

# Quiet TensorFlow's start-up chatter, and keep its CPU kernels on the plain
# (non-oneDNN) path whose float results do not depend on blocking choices:
# bit-exact comparisons against Keras need reproducible float arithmetic.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, LevelsType, Po2Type, ScaledType, TernaryType
from fpgaq.larq_import import load_larq
from fpgaq.qkeras_import import load_qkeras
from fpgaq.quantizers import BaseQuantizer, get_quantizer, register_quantizer

__version__ = "0.1.0"


def __getattr__(name: str):
    """``fpgaq.convert`` and ``fpgaq.Design`` without importing the IR at package import."""
    if name in ("convert", "Design"):
        from fpgaq import design

        return getattr(design, name)
    if name == "load_model":  # the loader of every fpgaq command (Keras 3, QKeras HDF5, qkeras-v3)
        from fpgaq.model_io import load_model

        return load_model
    if name in ("load_config", "config_from_model"):
        from fpgaq import config

        return getattr(config, name)
    raise AttributeError(f"module 'fpgaq' has no attribute {name!r}")


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
