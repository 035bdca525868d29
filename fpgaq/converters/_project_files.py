"""Spelling and writing a generated project.

Templates render strictly (an undefined name is an error, never an empty
string) and keep whitespace as written, so output is byte-stable; a project
is written complete or not at all, never over a user's directory unasked.
"""

from __future__ import annotations

import os
from pathlib import Path

from fpgaq.output_dirs import write_directory
from fpgaq.templating import template_environment  # re-exported: its home is the neutral fpgaq.templating

__all__ = ["check_new_directory", "template_environment", "write_files"]


def check_new_directory(directory: str | os.PathLike[str], force: bool = False) -> Path:
    """``directory`` resolved, or a FileExistsError if it exists and ``force`` is not set.

    Writers call it before rendering too, so that a refused directory costs no rendering.
    """
    target = Path(directory).resolve()
    if target.exists() and not force:
        raise FileExistsError(
            f"{target} already exists; fpgaq does not overwrite a directory unless asked: pass force=True "
            "(--force on the command line) or choose another directory"
        )
    return target


def write_files(files: dict[str, str | bytes], directory: str | os.PathLike[str], force: bool = False) -> Path:
    """Write ``files`` as a new directory, atomically (:func:`write_directory`)."""
    check_new_directory(directory, force)

    def write(tmp: Path) -> None:
        for rel, content in sorted(files.items()):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8", newline="\n")

    return write_directory(directory, write)
