"""The one base of every error fpgaq reports to a user.

Each part of fpgaq raises its own error class (``ConfigError``, ``CsimError``,
``SweepError``, ...), named after what went wrong, with a message that says
what to do.  They all derive from :class:`FpgaqError`, so that the ``fpgaq``
command reports any of them the same way (its message, exit code 2) instead
of each command catching its own tuple, and so that a Python caller can catch
every fpgaq error at once.  Each class keeps its historical built-in base too
(``class ConfigError(FpgaqError, ValueError)``), so ``except ValueError`` code
keeps working.

This module imports nothing, so any module may import it without a cycle.
"""

from __future__ import annotations

__all__ = ["FpgaqError", "SettingError"]


class FpgaqError(Exception):
    """An error in what the user asked for or gave (a model, a file, a setting, a tool): its message is the report."""


class SettingError(FpgaqError, ValueError):
    """A value the user chose that fpgaq does not support: a device, back end, clock, calibration flow or file."""
