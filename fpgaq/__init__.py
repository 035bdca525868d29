"""fpgaq: quantized neural networks to proven-correct FPGA firmware."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fpgaq.fixed import FixedType, Overflow, Rounding
from fpgaq.hwtypes import BinaryType, LevelsType, Po2Type, ScaledType, TernaryType
from fpgaq.quantizers import BaseQuantizer, get_quantizer, register_quantizer

__version__ = "0.1.0"

__all__ = [
    "BaseQuantizer",
    "BinaryType",
    "FixedType",
    "LevelsType",
    "Overflow",
    "Po2Type",
    "Rounding",
    "ScaledType",
    "TernaryType",
    "__version__",
    "get_quantizer",
    "register_quantizer",
]
