"""Co-simulation tests: a fresh build cache per session, and copies of the hand-written fixture projects.

Modules opt in with ``pytestmark = pytest.mark.usefixtures("cosim_cache")``.
"""

import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def cosim_cache(tmp_path_factory):
    saved = os.environ.get("FPGAQ_CACHE")
    os.environ["FPGAQ_CACHE"] = str(tmp_path_factory.mktemp("cosim_cache"))
    yield Path(os.environ["FPGAQ_CACHE"])
    if saved is None:
        os.environ.pop("FPGAQ_CACHE", None)
    else:
        os.environ["FPGAQ_CACHE"] = saved


@pytest.fixture
def fixture_project(tmp_path):
    """``fixture_project(name)``: a writable copy of ``tests/sim/fixtures/<name>`` (runs write into ``sim/``)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy
