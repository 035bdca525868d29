"""Cross-checks with the real vendor headers (black-box oracles, fetched from the hls4ml wheel on PyPI).

The Vitis flavor (ap_fixed) and the Catapult flavor compiled against the real
ac_fixed must give the reference's numbers bit for bit, like fpgaq's own ac_fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _hls_testing import check_all, convert, inputs_for, op_models, vendor_headers

from fpgaq import zoo

_CACHE = Path.home() / ".cache" / "fpgaq" / "vendor_types"

pytestmark = pytest.mark.usefixtures("csim_environment")


@pytest.fixture(scope="module")
def headers() -> dict[str, Path]:
    found = vendor_headers(_CACHE)
    if found is None:
        pytest.skip("cannot download the hls4ml wheel from PyPI (pip download --no-deps hls4ml) for its headers")
    return found


def test_vitis_flavor_with_real_ap_types(headers) -> None:
    design = convert(zoo.jet_tagger())
    x = inputs_for(design, 1000, seed=5)[0]
    x[:20] *= 30
    compiled = design.compile(flavor="vitis", types_dir=headers["ap"])
    assert np.array_equal(compiled.predict_int(x)[0], design.predict_int(x)[0])


def test_catapult_flavor_with_real_ac_types(headers) -> None:
    designs = [("jet_tagger", convert(zoo.jet_tagger()), None), ("digits_cnn", convert(zoo.digits_cnn()), None)]
    designs += [(m.name, convert(m, c), None) for m, c in op_models()]
    designs = [(name, d, inputs_for(d, 300, seed=7)) for name, d, _ in designs]
    assert check_all(designs, types_dir=headers["ac"]) == []
