"""What every ``fpgaq`` command shares: its model argument, its model and data loading, and how it fails.

A command reports a problem by raising a :class:`~fpgaq.errors.FpgaqError`
(here :func:`fail`, or any error class of the library it calls); the entry
point :func:`fpgaq.cli.main` prints it as ``fpgaq COMMAND: message`` and exits
with code 2.  So no command catches, prints or maps errors itself.

Nothing heavy is imported at module level, so ``fpgaq --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from fpgaq.errors import FpgaqError

__all__ = [
    "CommandError",
    "add_command",
    "add_model_argument",
    "check_new_file",
    "check_out_dir",
    "fail",
    "load_arrays",
    "load_model",
]


class CommandError(FpgaqError):
    """A command-line argument the command cannot use (a model it cannot load, a data file, an output path)."""


def fail(message: str) -> NoReturn:
    """Stop the command: ``main`` prints ``fpgaq COMMAND: message`` and exits with code 2."""
    raise CommandError(message)


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` that ``run(args)`` carries out (returning its exit code); returns its parser."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run)
    return parser


def add_model_argument(parser: argparse.ArgumentParser, help: str = "path to a .keras model") -> None:
    """The positional ``model`` and ``--weights PATH``, spelled once for every command that takes a model."""
    parser.add_argument("model", help=help)
    parser.add_argument(
        "--weights",
        default=None,
        metavar="PATH",
        help="weights of a model.to_json() file under any name (default: the one file beside it named "
        "M.weights.h5, M_weights.h5 or M.h5), or new weights for a Keras 2 .h5 model",
    )


def load_model(args: argparse.Namespace) -> Any:
    """The model of ``args.model`` (with ``args.weights``) through :func:`fpgaq.model_io.load_model`."""
    from fpgaq.model_io import load_model as load

    try:
        return load(args.model, weights=args.weights)
    except (OSError, ValueError) as err:
        fail(f"cannot load {args.model!r}: {err}")


def load_arrays(path: str, *layouts: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The arrays of an NPZ file, by the first of ``layouts`` (names that must all be present) that it holds.

    The arrays named in ``optional`` come along when present.  A file that
    holds none of the layouts is refused with the names it has and needs, and
    how to save one.
    """
    import numpy as np

    try:
        with np.load(path) as npz:
            names = set(npz.files)
            layout = next((names_ for names_ in layouts if set(names_) <= names), None)
            if layout is None:
                missing = next(n for n in layouts[0] if n not in names)
                needs = ", or ".join(_and(names_) for names_ in layouts)
                fail(
                    f"--data: {path!r} has no array {missing!r} (it holds {_and(sorted(names)) or 'none'}); it needs "
                    f"{needs}: save it with numpy.savez(path, x=inputs, y=labels)"
                )
            return {name: npz[name] for name in (*layout, *optional) if name in names}
    except (OSError, ValueError) as err:
        fail(f"--data: cannot read {path!r}: {err}")


def _and(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def check_out_dir(out: Path | None, force: bool) -> None:
    """Refuse an ``--out`` that is a file, or a non-empty directory without ``--force``."""
    if out is None or not out.exists():
        return
    if not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory; choose another path")
    if any(out.iterdir()) and not force:
        fail(f"--out {str(out)!r} is not empty; pass --force to write into it, or choose a new directory")


def check_new_file(path: str | os.PathLike[str] | None, force: bool) -> None:
    """Refuse to overwrite an existing output file without ``--force``."""
    if path is not None and Path(path).exists() and not force:
        fail(f"{os.fspath(path)} exists; pass --force to overwrite it")
