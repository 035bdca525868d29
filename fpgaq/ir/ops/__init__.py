"""Op modules that extend tracing, precision inference and the reference.

Each module here registers, for its layers and ops, a trace handler
(``fpgaq.ir.trace.HANDLERS``), a precision rule
(``fpgaq.ir.precision.PRECISION_RULES``) and a reference kernel
(``fpgaq.reference.KERNELS``).  Importing this package registers them all.
"""
