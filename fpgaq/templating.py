"""The jinja2 environment every generated file is spelled through (HLS, RTL, reports).

A neutral home, so that back ends which only spell (``fpgaq.rtl.verilog``,
``fpgaq.converters``) share one rendering convention without importing each
other.  Templates render strictly (an undefined name is an error, never an
empty string) and keep whitespace as written, so output is byte-stable.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

__all__ = ["template_environment"]


def template_environment(directory: Path) -> jinja2.Environment:
    """A strict, whitespace-preserving environment loading templates from ``directory``."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
