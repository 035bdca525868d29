"""Where fpgaq keeps what it compiles (C-simulation libraries, cocotb simulators, bulk RTL models).

Every build is keyed by a hash of its content (sources, flags, tool versions), so a
rebuild happens exactly when something that changes the binary changed, and
concurrent builders of one key are harmless (each stages its result, then renames).
Verilator's runtime objects (``verilated*.o``) take most of a small design's build
and depend only on the tool version and flags: they are stored once and copied
into later builds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SEED_SCRIPT", "cache_dir", "content_key", "seed_runtime_objects", "store_runtime_objects"]


def cache_dir(kind: str) -> Path:
    """``$FPGAQ_CACHE/<kind>``, or ``~/.cache/fpgaq/<kind>`` when the variable is unset."""
    root = os.environ.get("FPGAQ_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "fpgaq") / kind


def content_key(parts: Sequence[bytes | str]) -> str:
    """A hash of ``parts`` in order; each is length-prefixed, so no two lists share a key."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:32]


def store_runtime_objects(build_dir: Path, store: Path) -> None:
    """Keep ``build_dir``'s Verilator runtime objects (and their make dependency files) in ``store``."""
    if store.is_dir():
        return
    objects = sorted(build_dir.glob("verilated*.o"))
    if not objects:
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".runtime.", dir=store.parent))
    for obj in objects:
        shutil.copy2(obj, staged / obj.name)
        dep = obj.with_suffix(".d")
        if dep.is_file():
            shutil.copy2(dep, staged / dep.name)
    try:
        os.rename(staged, store)
    except OSError:  # another build stored them first
        shutil.rmtree(staged, ignore_errors=True)


def seed_runtime_objects(store: Path, build_dir: Path) -> None:
    """Copy stored runtime objects into a fresh build, between Verilator and make.

    The copies are newer than the ``V<top>.mk`` Verilator just wrote (verilated.mk makes the
    objects depend on it), so make keeps them instead of compiling them again.
    """
    for f in sorted(store.glob("verilated*")) if store.is_dir() else []:
        shutil.copy(f, build_dir / f.name)


#: :func:`seed_runtime_objects` as a command for a build that runs its own steps (cocotb's runner):
#: ``python -c SEED_SCRIPT STORE BUILD_DIR``.  Inline, because importing fpgaq would import Keras.
SEED_SCRIPT = (
    "import pathlib, shutil, sys\n"
    "store = pathlib.Path(sys.argv[1])\n"
    "for f in sorted(store.glob('verilated*')) if store.is_dir() else []:\n"
    "    shutil.copy(f, pathlib.Path(sys.argv[2]) / f.name)\n"
)
