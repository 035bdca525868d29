"""Back ends: the typed graph rendered into firmware projects through templates.

Converters make no numeric decision: every width, rounding and overflow
mode they write comes from the IR's FixedTypes.
"""

from fpgaq.converters.hls import CXXFLAGS, FLAVORS, HlsError, render_hls, write_hls

__all__ = ["CXXFLAGS", "FLAVORS", "HlsError", "render_hls", "write_hls"]
