"""QKeras-compatible quantizers on Keras 3, each stating its hardware type.

Names, arguments, string forms and numeric results follow QKeras (see
``shared/QKERAS_NOTES.md``); outputs saturate exactly where QKeras' float32
arithmetic does not.
"""

from fpgaq.quantizers import activations as _activations  # noqa: F401
from fpgaq.quantizers import binary as _binary  # noqa: F401  (registers quantizers)
from fpgaq.quantizers import bits as _bits  # noqa: F401
from fpgaq.quantizers import hswish as _hswish  # noqa: F401
from fpgaq.quantizers import larq as _larq  # noqa: F401
from fpgaq.quantizers import learned as _learned  # noqa: F401
from fpgaq.quantizers import linear as _linear  # noqa: F401
from fpgaq.quantizers import nonlinear as _nonlinear  # noqa: F401
from fpgaq.quantizers import po2 as _po2  # noqa: F401
from fpgaq.quantizers import relu as _relu  # noqa: F401
from fpgaq.quantizers import ternary as _ternary  # noqa: F401
from fpgaq.quantizers._common import EPSILON
from fpgaq.quantizers.activations import internal_sigmoid_mode, set_internal_sigmoid
from fpgaq.quantizers.base import (
    QUANTIZERS,
    BaseQuantizer,
    get_quantizer,
    parse_quantizer_string,
    register_quantizer,
    serialize_quantizer,
    straight_through,
)

__all__ = [
    "EPSILON",
    "QUANTIZERS",
    "BaseQuantizer",
    "get_quantizer",
    "internal_sigmoid_mode",
    "parse_quantizer_string",
    "register_quantizer",
    "serialize_quantizer",
    "set_internal_sigmoid",
    "straight_through",
]


def __getattr__(name: str):
    """``fpgaq.quantizers.quantized_bits`` etc., whichever modules define them."""
    if name in QUANTIZERS:
        return QUANTIZERS[name]
    raise AttributeError(f"module 'fpgaq.quantizers' has no attribute {name!r}")
