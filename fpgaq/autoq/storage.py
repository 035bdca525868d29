"""Where AutoQ's Optuna studies live: in memory, a SQLite file or a shared database.

Several workers on one storage share a study; they may race to create the
schema or the study, so opening retries for a few seconds before it reports
the URL that failed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fpgaq.autoq.settings import setting_error

__all__ = ["make_sampler", "open_storage", "open_study", "storage_url"]

_ATTEMPTS = 10


def storage_url(storage: str | os.PathLike[str] | None) -> str | None:
    """A database URL for a ``storage`` setting: ``None`` stays in memory, a plain path is a SQLite file."""
    if storage is None:
        return None
    text = os.fspath(storage)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def open_storage(url: str | None) -> Any:
    """The Optuna storage of ``url`` (in memory for ``None``)."""
    import optuna

    if url is None:
        return optuna.storages.InMemoryStorage()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    last: Exception | None = None
    for attempt in range(_ATTEMPTS):  # concurrent workers may race to create the schema
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as err:  # retried, then re-raised with the URL named
            last = err
            time.sleep(0.2 * (attempt + 1))
    raise setting_error("storage", f"cannot open {url!r}: {last}")


def make_sampler(kind: str, seed: int) -> Any:
    """The seeded Optuna sampler a ``sampler`` setting names (``tpe``, ``nsga2`` or ``random``)."""
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)


def open_study(storage: Any, name: str, sampler: Any, url: str | None) -> Any:
    """The two-objective study ``name`` (maximize accuracy, minimize cost), created or loaded."""
    import optuna

    last: Exception | None = None
    for attempt in range(_ATTEMPTS):
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                directions=["maximize", "minimize"],
                sampler=sampler,
                load_if_exists=True,
            )
            break
        except Exception as err:  # two workers creating one study at once
            last = err
            time.sleep(0.2 * (attempt + 1))
    else:
        raise setting_error("study", f"cannot create or load study {name!r} in {url!r}: {last}")
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]:
        raise setting_error(
            "study_name",
            f"study {name!r} already exists with other objectives; choose a new study_name for an AutoQ search",
        )
    return study
