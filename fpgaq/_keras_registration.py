"""Register fpgaq's Keras classes with Keras the moment Keras is imported.

A model saved with fpgaq layers records them as ``registered_name:
"fpgaq>QDense"``; Keras 3 finds such names only in its registry of custom
objects (it imports a recorded ``module`` itself only for Keras' own
packages).  The README promises that ``import fpgaq`` is enough for
``keras.models.load_model``, without ``custom_objects``.  Importing the
layers and quantizers at package import kept that promise but made every
``import fpgaq.<anything>`` load Keras and TensorFlow.  Instead, importing
``fpgaq`` installs a tiny post-import hook: when ``keras`` finishes loading
(or at once, if it already has), the modules that register fpgaq's classes
are imported.  Code that never imports Keras never pays for it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

__all__ = ["REGISTERING_MODULES", "register_now", "register_when_keras_loads"]

# The modules whose import registers every fpgaq class Keras may meet in a saved model
# (layers, quantizers, and the layers the QKeras/Larq importers build).
REGISTERING_MODULES: tuple[str, ...] = ("fpgaq.quantizers", "fpgaq.layers", "fpgaq.larq_import", "fpgaq.qkeras_import")


def register_now() -> None:
    """Import the registering modules (a no-op once they are imported); Keras must be importable."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)


class _RegisterAfterExec(importlib.abc.Loader):
    """A module's own loader, followed by fpgaq's registration once the module has executed."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader  # tools that read __loader__ (inspect, linecache) see the real one
        _register_if_ready(module)

    def __getattr__(self, name: str):  # get_source, get_resource_reader, is_package, ... of the real loader
        return getattr(self._loader, name)


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Watches ``keras`` and fpgaq's own modules finish loading; removes itself once it has registered.

    Keras may be imported by an fpgaq module half-way through its own import
    (``fpgaq.quantizers`` imports Keras before it defines its names); the
    layers cannot be imported then, so the registration waits until no fpgaq
    module is still initializing, which is before the outermost import returns.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras" and not fullname.startswith("fpgaq."):
            return None
        for finder in list(sys.meta_path):
            find_spec = None if finder is self else getattr(finder, "find_spec", None)
            spec = None if find_spec is None else find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisterAfterExec(spec.loader)
                return spec
        return None


def _initializing(module: object) -> bool:
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _register_if_ready(finished: types.ModuleType) -> None:
    """Register when Keras has loaded and no fpgaq module is half-imported (the layers need them whole).

    ``finished`` has just executed; the import system marks it initialized only after this returns.
    """
    keras = sys.modules.get("keras")
    if keras is None or (keras is not finished and _initializing(keras)):
        return
    modules = list(sys.modules.items())
    if any(name.startswith("fpgaq.") and m is not finished and _initializing(m) for name, m in modules):
        return
    _remove_hook()
    register_now()


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _KerasImportHook)]


def register_when_keras_loads() -> None:
    """Register fpgaq's classes now if Keras is loaded, else as soon as it is (called by ``fpgaq/__init__``)."""
    if "keras" in sys.modules:
        register_now()
    elif not any(isinstance(f, _KerasImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasImportHook())
