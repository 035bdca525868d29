"""Op modules that extend tracing, precision inference and the reference.

Each module here registers, for its layers and ops, a trace handler
(``fpgaq.ir.trace.HANDLERS``), a precision rule
(``fpgaq.ir.precision.PRECISION_RULES``) and a reference kernel
(``fpgaq.reference.KERNELS``).  Importing this package registers them all.
The ops themselves, and their traits, are declared in :mod:`fpgaq.ir.opspec`.
"""

from fpgaq.ir.ops import (
    activations,  # noqa: F401
    batchnorm,  # noqa: F401
    folded,  # noqa: F401
    hswish,  # noqa: F401
    larq,  # noqa: F401
    learned,  # noqa: F401
    pooling,  # noqa: F401
    quantized_activations,  # noqa: F401
    separable,  # noqa: F401
    tables,  # noqa: F401
    transpose,  # noqa: F401
    ulaw,  # noqa: F401
)
