"""``csim_environment``: HLS back-end tests compile into a fresh cache of their own, against fpgaq's own
ac_fixed unless a test passes other headers (modules opt in with pytest.mark.usefixtures)."""

import os

import pytest


@pytest.fixture(scope="session")
def csim_environment(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("FPGAQ_CACHE", "AC_TYPES_DIR", "AP_TYPES_DIR")}
    os.environ["FPGAQ_CACHE"] = str(tmp_path_factory.mktemp("csim_cache"))
    os.environ.pop("AC_TYPES_DIR", None)
    os.environ.pop("AP_TYPES_DIR", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
