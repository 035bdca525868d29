"""Every matplotlib figure fpgaq draws is made and written here.

Figures get a private Agg canvas instead of going through ``pyplot``: no
global backend switch, no display needed, nothing left open between plots,
and the same output on a laptop, a CI runner or a worker without a screen.
The report, the sweep and AutoQ draw through these helpers, so that a change
of canvas or of PNG settings is made once.  matplotlib is imported only when
a figure is made.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any

__all__ = ["figure", "png_bytes", "png_data_uri", "png_uri", "save_figure"]


def figure(width: float, height: float, dpi: float = 100) -> Any:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches with its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Any, **savefig: Any) -> bytes:
    """The figure as PNG bytes (``savefig`` keywords such as ``dpi`` or ``bbox_inches`` pass through)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    return buf.getvalue()


def png_data_uri(data: bytes) -> str:
    """PNG bytes as a ``data:`` URI, for a self-contained HTML page."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def png_uri(fig: Any) -> str:
    """The figure, cropped to its content and without a Software tag (byte-stable), as a ``data:`` URI."""
    return png_data_uri(png_bytes(fig, bbox_inches="tight", metadata={"Software": None}))


def save_figure(fig: Any, path: str | os.PathLike[str], **savefig: Any) -> None:
    """Write the figure to ``path``, in the format its suffix names (``savefig`` keywords pass through)."""
    fig.savefig(os.fspath(path), **savefig)
