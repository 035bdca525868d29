"""Constant tables: fpgaq's ac_fixed evaluated by g++ at compile time equals the run-time assignment.

Generated weight and lookup tables are ``constexpr`` under fpgaq's own headers
(``FPGAQ_CONST_TABLE``), so g++ converts their double literals while compiling,
on a path of its own (``split_double_const`` / ``exact_mantissa`` in ac_int.h).
One program holds, per format and mode, a constexpr table and the same doubles
converted at run time; both must agree with each other and with
``FixedType.to_int``, on grid values, midpoints, values that saturate or wrap,
signed zeros, sub-normals and huge magnitudes.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fpgaq.converters.hls import CXXFLAGS, INCLUDE_DIR
from fpgaq.fixed import FixedType

CXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(CXX is None, reason="g++ is not installed")

Q_MODES = ["TRN", "RND", "TRN_ZERO", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV", "RND_CONV_ODD"]
O_MODES = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]
Fmt = tuple[int, int, bool]
# (format, every Q x O combination, or else four Q modes with SAT and three O modes with RND)
FORMATS: list[tuple[Fmt, bool]] = [
    ((8, 3, True), True),
    ((11, 1, False), True),
    ((16, -2, False), False),
    ((6, 10, True), False),
    ((1, 1, True), False),
    ((22, 9, True), False),
    ((62, 20, True), False),
    ((64, 30, True), False),
    ((100, 60, True), False),
]


def _cases() -> list[tuple[Fmt, str, str]]:
    out = []
    for fmt, full in FORMATS:
        pairs = [(q, o) for q in Q_MODES for o in O_MODES] if full else []
        pairs += [(q, "SAT") for q in ("TRN", "RND_CONV", "RND_INF", "RND_CONV_ODD")]
        pairs += [("RND", o) for o in ("WRAP", "SAT_ZERO", "SAT_SYM")]
        out += [(fmt, q, o) for q, o in dict.fromkeys(pairs)]
    return out


def _doubles(fmt: Fmt, rnd: random.Random) -> list[float]:
    """Grid values, midpoints and quarter points, out-of-range values and special magnitudes."""
    w, i, s = fmt
    lsb = 2.0 ** (i - w)
    lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if s else (0, 2**w - 1)
    codes = [lo, hi, 0, 1, -1, lo + 1, hi - 1] + [rnd.randint(lo, hi) for _ in range(15)]
    xs = [c * lsb for c in codes]
    xs += [(c + 0.5) * lsb for c in codes[:12]] + [(c + 0.25) * lsb for c in codes[12:]]
    xs += [(hi + 1) * lsb, (hi + 7.5) * lsb, (lo - 1) * lsb, (lo - 3.5) * lsb, (2 * hi + 5) * lsb]
    xs += [0.0, -0.0, 1e-300, -1e-300, 5e-324, -5e-324, 1e300, -1e300, 0.1, -0.1, 1 / 3, -2 / 3]
    return [float(x) for x in xs if np.isfinite(x)]


PROGRAM = """#include "fpgaq_layers.h"
#include <cstdio>

template <class T, int N>
static void show(const T (&table)[N], const double (&values)[N]) {
  unsigned long long w[(T::width + 63) / 64];
  for (int i = 0; i < N; ++i) {
    volatile double v = values[i];  // converted at run time
    const T at_run_time = v;
    fpgaq_get_bits_words(table[i], w);
    for (unsigned long long x : w) std::printf("%llx ", x);
    fpgaq_get_bits_words(at_run_time, w);
    for (unsigned long long x : w) std::printf("%llx ", x);
  }
}

__TABLES__
int main() {
__CALLS__
  return 0;
}
"""


def _signed(words: list[int], w: int, s: bool) -> int:
    u = sum(x << (64 * k) for k, x in enumerate(words))
    return u - (1 << w) if s and u >> (w - 1) else u


def test_constexpr_tables_equal_run_time_assignment(tmp_path: Path) -> None:
    rnd = random.Random(11)
    cases = _cases()
    data = {fmt: _doubles(fmt, rnd) for fmt, _ in FORMATS}
    tables, calls = [], []
    for k, (fmt, q, o) in enumerate(cases):
        w, i, s = fmt
        spelled = f"ac_fixed<{w}, {i}, {'true' if s else 'false'}, AC_{q}, AC_{o}>"
        literals = ", ".join(x.hex() for x in data[fmt])
        n = len(data[fmt])
        tables.append(f"static FPGAQ_CONST_TABLE {spelled} table{k}[{n}] = {{{literals}}};")
        tables.append(f"static const double values{k}[{n}] = {{{literals}}};")
        calls.append(f"  show(table{k}, values{k});")
    src = tmp_path / "tables.cpp"
    src.write_text(PROGRAM.replace("__TABLES__", "\n".join(tables)).replace("__CALLS__", "\n".join(calls)))
    exe = tmp_path / "tables"
    build = subprocess.run(
        [CXX, *CXXFLAGS, "-O0", "-Wextra", f"-I{INCLUDE_DIR}", str(src), "-o", str(exe)], text=True, capture_output=True
    )
    assert build.returncode == 0, build.stderr[-4000:]
    nm = subprocess.run(["nm", "-C", str(exe)], capture_output=True, text=True).stdout
    assert "_GLOBAL__sub_I" not in nm, "a table is built by start-up code, not constant data"
    tokens = iter(
        int(t, 16) for t in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    )
    checked = 0
    for fmt, q, o in cases:
        w, i, s = fmt
        nwords = (w + 63) // 64
        got_const, got_run = [], []
        for _ in data[fmt]:
            got_const.append(_signed([next(tokens) for _ in range(nwords)], w, s))
            got_run.append(_signed([next(tokens) for _ in range(nwords)], w, s))
        assert got_const == got_run, f"{fmt} {q} {o}: constexpr and run-time assignment differ"
        if q != "RND_CONV_ODD" and w <= 62:
            want = [int(v) for v in FixedType(w, i, s, q, o).to_int(np.array(data[fmt]))]
            assert got_const == want, f"{fmt} {q} {o}: constexpr assignment differs from FixedType.to_int"
        checked += len(data[fmt])
    assert next(tokens, None) is None
    assert checked > 3_000
