"""Output directories that appear whole or not at all.

Every writer of a directory a user asked for (an HLS or RTL project, a trained point, a
calibration) goes through :func:`write_directory`, so that an error halfway never leaves
a half-written directory behind and an existing one is replaced only in one rename.
Whether a directory may be replaced is the caller's decision (``--force``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_directory"]


def write_directory(directory: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Make ``directory`` whole or not at all: ``write`` fills a scratch sibling, which then takes its place.

    A failure inside ``write`` (or a crash) leaves the old directory as it was and no
    half-written one; callers decide first whether ``directory`` may be replaced.
    """
    target = Path(directory).resolve()
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory; remove it or choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(tmp)
        tmp.chmod(0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            old.rmdir()
            target.rename(old)
            try:
                tmp.rename(target)
            except OSError:
                old.rename(target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
