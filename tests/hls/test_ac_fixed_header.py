"""fpgaq's own ac_fixed.h / ac_int.h, compiled with g++, against exact Python arithmetic.

Assignments (every rounding and overflow mode) are checked against
``FixedType.cast`` / ``FixedType.to_int``; arithmetic, comparisons, shifts and
bit access against Python integers and ``Fraction``.  The result types are the
documented Algorithmic C rules, written out here by hand.  A handful of C++
programs each run thousands of cases fed through stdin.
"""

from __future__ import annotations

import concurrent.futures
import random
import shutil
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import fpgaq
from fpgaq.fixed import FixedType, apply_overflow

INCLUDE = Path(fpgaq.__file__).parent / "templates" / "hls" / "include"
CXX = shutil.which("g++")
FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror"]

pytestmark = pytest.mark.skipif(CXX is None, reason="g++ is not installed")

Q_MODES = ["TRN", "RND", "TRN_ZERO", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV", "RND_CONV_ODD"]
O_MODES = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]
T, U = True, False

Fmt = tuple[int, int, bool]  # (W, I, S)

# ------------------------------------------------------------------ case lists
# Assignment tests: (source, target, full).  A full pair runs all 8 x 4 (Q, O)
# combinations; the others run every Q with AC_SAT and every O with AC_RND,
# which exercises each stage (rounding, then overflow) while compiling faster.
CAST_PAIRS_NARROW: list[tuple[Fmt, Fmt, bool]] = [
    ((16, 6, T), (8, 3, T), True),  # drop 5 bits, overflow
    ((8, 3, T), (16, 6, T), False),  # exact widening
    ((12, 2, U), (6, 3, T), False),
    ((10, 4, T), (6, 2, U), True),  # negatives overflow an unsigned target
    ((20, -3, T), (6, -5, T), True),  # negative I
    ((6, 10, T), (8, 12, T), False),  # I > W: lsb weighs 16
    ((8, 0, T), (4, 8, T), True),  # drop 12 bits, more than the source has
    ((5, 2, T), (1, 1, T), True),  # one-bit signed target: values -1, 0
    ((5, 2, T), (1, 0, U), False),
    ((5, 1, U), (1, 1, U), False),
    ((8, 4, T), (8, 60, T), False),  # drop 56 bits: every value rounds to 0 or -1
    ((8, 60, T), (8, 4, T), False),  # append 56 bits: every non-zero value overflows
    ((12, 4, U), (7, 2, U), True),
    ((32, 16, T), (24, 8, T), False),
    ((6, 10, U), (9, 2, T), False),
    ((7, 1, T), (7, 1, T), True),  # same format: AC_SAT_SYM still turns the most negative code into -max
    ((6, 2, T), (10, 2, T), False),  # more fraction bits, same integer bits: the same edge
]
CAST_PAIRS_WIDE: list[tuple[Fmt, Fmt, bool]] = [
    ((64, 32, T), (32, 16, T), False),
    ((64, 32, T), (64, 20, T), True),
    ((64, 40, U), (63, 30, T), False),
    ((63, 10, T), (64, 10, U), False),
    ((100, 50, T), (70, 20, T), True),
    ((128, 64, T), (96, 40, U), True),
    ((90, 10, U), (128, 70, T), False),
    ((128, 1, T), (127, 1, T), False),
    ((128, 60, T), (13, 5, T), False),
    ((13, 5, T), (128, 100, T), False),
    ((40, 8, T), (100, -20, T), False),
    ((200, 100, T), (150, 90, U), True),
    ((64, 10, T), (100, 10, T), False),  # the AC_SAT_SYM edge with multi-word mantissas
]
# (target, full) for assignments from double.
DOUBLE_TARGETS: list[tuple[Fmt, bool]] = [
    ((8, 3, T), True),
    ((16, -2, U), False),
    ((6, 10, T), True),
    ((1, 1, T), False),
    ((64, 30, T), False),
    ((100, 60, T), True),
]
INT_TARGETS: list[tuple[Fmt, str, str]] = [
    ((8, 3, T), "TRN", "SAT"),
    ((12, 14, T), "RND", "WRAP"),
    ((20, 18, U), "RND_CONV", "SAT_SYM"),
    ((70, 66, T), "TRN_ZERO", "SAT"),
]
# (A, A's modes, B): A's modes matter only for the compound assignments.
ARITH_PAIRS: list[tuple[Fmt, tuple[str, str], Fmt]] = [
    ((8, 3, T), ("TRN", "WRAP"), (16, 6, T)),
    ((6, 1, T), ("RND", "SAT"), (16, 6, T)),
    ((8, 3, U), ("RND_CONV", "SAT"), (8, 3, T)),
    ((8, 3, U), ("TRN", "WRAP"), (5, 7, U)),
    ((12, -2, T), ("RND_INF", "SAT_SYM"), (4, 9, U)),
    ((1, 1, T), ("TRN", "SAT"), (1, 0, U)),
    ((40, 20, T), ("RND", "SAT_ZERO"), (40, -10, T)),
    ((70, 30, T), ("RND_CONV", "SAT"), (64, 60, U)),
    ((100, 50, U), ("TRN_ZERO", "WRAP"), (90, 10, T)),
]
SHIFT_TYPES: list[Fmt] = [(8, 3, T), (12, 4, U), (1, 1, T), (64, 10, T), (70, 20, T)]
CONV_TYPES: list[Fmt] = [(8, 3, T), (16, -2, U), (6, 10, T), (40, 35, T), (100, 70, T), (20, 0, T), (64, 64, U)]
BITS_TYPES: list[Fmt] = [(20, 5, T), (12, 3, U), (64, 1, T), (100, 40, T)]
INT_PAIRS: list[tuple[tuple[int, bool], tuple[int, bool]]] = [
    ((12, U), (7, T)),
    ((64, T), (64, U)),
    ((100, T), (33, U)),
    ((1, U), (5, T)),
]
MIXED_INT_TYPES: list[Fmt] = [(8, 3, T), (10, 12, U), (80, 40, T)]
SET_VAL_TYPES: list[tuple[Fmt, str]] = [
    ((8, 3, T), "SAT"),
    ((8, 3, T), "SAT_SYM"),
    ((12, 4, U), "SAT_SYM"),
    ((100, 40, T), "WRAP"),
]
PRINT_TYPES: list[str] = ["ac_fixed<8, 3, true>", "ac_fixed<20, -4, false>", "ac_int<100, true>", "ac_int<12, false>"]


# ------------------------------------------------------------ C++ programs
PRELUDE = r"""
#include "ac_fixed.h"
#include "fpgaq_bits.h"
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
typedef unsigned long long u64;
#define NOINLINE __attribute__((noinline))

static long long rdi() {
  long long k = 0;
  if (std::scanf("%lld", &k) != 1) std::abort();
  return k;
}
template <class T> NOINLINE static T rd() {
  u64 w[8] = {0};
  for (int i = 0; i < (T::width + 63) / 64; ++i)
    if (std::scanf("%llx", &w[i]) != 1) std::abort();
  T x;
  fpgaq_set_bits_words(x, w);
  return x;
}
template <class T> NOINLINE static void wr(const T& x) {
  u64 w[8] = {0};
  fpgaq_get_bits_words(x, w);
  for (int i = 0; i < (T::width + 63) / 64; ++i) std::printf("%llx ", w[i]);
}
template <class T> static void ty() { std::printf("%d %d %d ", T::width, T::i_width, T::sign ? 1 : 0); }

template <class A, class B> NOINLINE static void run_cast(int n) {
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    const B b = a;
    wr(b);
  }
}
template <class B> NOINLINE static void run_double(int n) {
  char buf[64];
  for (int c = 0; c < n; ++c) {
    if (std::scanf("%63s", buf) != 1) std::abort();
    const B b = std::strtod(buf, nullptr);
    wr(b);
  }
}
template <class B> NOINLINE static void run_special_double(int) {
  const double inf = std::numeric_limits<double>::infinity();
  const B a = inf, b = -inf, c = std::nan("");
  wr(a); wr(b); wr(c);
}
template <class B> NOINLINE static void run_int(int n) {
  for (int c = 0; c < n; ++c) {
    const int i = static_cast<int>(rdi());
    const long long l = rdi();
    u64 u = 0;
    if (std::scanf("%llx", &u) != 1) std::abort();
    const B b1 = i, b2 = l, b3 = u;
    wr(b1); wr(b2); wr(b3);
  }
}
template <class A, class B> NOINLINE static void run_arith(int n) {
  ty<decltype(A() + B())>(); ty<decltype(A() - B())>(); ty<decltype(A() * B())>(); ty<decltype(-A())>();
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    const B b = rd<B>();
    wr(a + b); wr(a - b); wr(a * b); wr(-a);
    std::printf("%d%d%d%d%d%d ", a == b, a != b, a < b, a <= b, a > b, a >= b);
    A x = a; x += b; wr(x);
    x = a; x -= b; wr(x);
    x = a; x *= b; wr(x);
  }
}
template <class A> NOINLINE static void run_mixed_int(int n) {
  ty<decltype(A() + 1)>(); ty<decltype(A() * 1)>();
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    const int k = static_cast<int>(rdi());
    wr(a + k); wr(k - a); wr(a * k);
    std::printf("%d%d%d%d ", a == k, a < k, k < a, a >= k);
    A x = a; x += k; wr(x);
  }
}
template <class A> NOINLINE static void run_shift(int n) {
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    const int k = static_cast<int>(rdi());
    wr(a << k); wr(a >> k);
    A x = a; x <<= k; wr(x);
    x = a; x >>= k; wr(x);
    const ac_int<12, true> kk = k;
    wr(a << kk); wr(a >> kk);
  }
}
template <class A> NOINLINE static void run_conv(int n) {
  ty<decltype(A().to_ac_int())>();
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    std::printf("%d %lld %a ", a.to_int(), a.to_int64(), a.to_double());
    wr(a.to_ac_int());
  }
}
template <class A> NOINLINE static void run_bits(int n) {
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    const int lsb = static_cast<int>(rdi());
    const long long v = rdi();
    std::printf("%lld %lld %d ", fpgaq_get_bits(a), a.template slc<7>(lsb).to_int64(), a[lsb] ? 1 : 0);
    A x = a; x.set_slc(lsb, ac_int<7, true>(v)); wr(x);
    A y; fpgaq_set_bits(y, v); wr(y);
    A z = a; z[lsb] = !a[lsb]; wr(z);
  }
}
template <class A, class B> NOINLINE static void run_int_ops(int n) {
  ty<decltype(A() + B())>(); ty<decltype(A() - B())>(); ty<decltype(A() * B())>();
  ty<decltype(A() & B())>(); ty<decltype(~A())>(); ty<decltype(-A())>();
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    const B b = rd<B>();
    const int k = static_cast<int>(rdi());
    const long long l = rdi();
    wr(a + b); wr(a - b); wr(a * b); wr(a & b); wr(a | b); wr(a ^ b); wr(~a); wr(-a);
    std::printf("%d%d%d%d%d%d ", a == b, a != b, a < b, a <= b, a > b, a >= b);
    wr(a << k); wr(a >> k);
    A x = a; x += b; wr(x);
    x = a; x *= b; wr(x);
    x = a; x ^= b; wr(x);
    x = a; ++x; x++; --x; wr(x);
    const A y = l; wr(y);
    std::printf("%lld ", fpgaq_get_bits(a));
  }
}
template <class A> NOINLINE static void run_set_val(int) {
  A a; a.template set_val<AC_VAL_MAX>(); wr(a);
  a.template set_val<AC_VAL_MIN>(); wr(a);
  a.template set_val<AC_VAL_QUANTUM>(); wr(a);
  a.template set_val<AC_VAL_0>(); wr(a);
}
template <class A> NOINLINE static void run_print(int n) {
  for (int c = 0; c < n; ++c) {
    const A a = rd<A>();
    std::ostringstream os;
    os << a;
    std::printf("%s ", os.str().c_str());
  }
}

int main() {
  int id = 0, n = 0;
  while (std::scanf("%d %d", &id, &n) == 2) {
    switch (id) {
__CASES__
      default: std::abort();
    }
  }
  return 0;
}
"""


def fixed_spelling(fmt: Fmt, q: str = "TRN", o: str = "WRAP") -> str:
    w, i, s = fmt
    return f"ac_fixed<{w}, {i}, {'true' if s else 'false'}, AC_{q}, AC_{o}>"


def int_spelling(w: int, s: bool) -> str:
    return f"ac_int<{w}, {'true' if s else 'false'}>"


def modes(full: bool) -> list[tuple[str, str]]:
    if full:
        return [(q, o) for q in Q_MODES for o in O_MODES]
    return [(q, "SAT") for q in Q_MODES] + [("RND", o) for o in O_MODES if o != "SAT"]


def cast_cases(pairs: list[tuple[Fmt, Fmt, bool]]) -> list[tuple[Fmt, Fmt, str, str]]:
    return [(src, dst, q, o) for src, dst, full in pairs for q, o in modes(full)]


DOUBLE_CASES: list[tuple[Fmt, str, str]] = [(t, q, o) for t, full in DOUBLE_TARGETS for q, o in modes(full)]


def cast_calls(pairs: list[tuple[Fmt, Fmt, bool]]) -> list[str]:
    return [f"run_cast<{fixed_spelling(src)}, {fixed_spelling(dst, q, o)} >(n)" for src, dst, q, o in cast_cases(pairs)]


def double_calls() -> list[str]:
    calls = [f"run_double<{fixed_spelling(t, q, o)} >(n)" for t, q, o in DOUBLE_CASES]
    calls += [f"run_special_double<{fixed_spelling((8, 3, T), 'TRN', o)} >(n)" for o in O_MODES]
    calls += [f"run_int<{fixed_spelling(t, q, o)} >(n)" for t, q, o in INT_TARGETS]
    return calls


def misc_calls() -> list[str]:
    calls = [f"run_arith<{fixed_spelling(a, *m)}, {fixed_spelling(b)} >(n)" for a, m, b in ARITH_PAIRS]
    calls += [f"run_mixed_int<{fixed_spelling(a)} >(n)" for a in MIXED_INT_TYPES]
    calls += [f"run_shift<{fixed_spelling(a, 'RND', 'SAT')} >(n)" for a in SHIFT_TYPES]
    calls += [f"run_conv<{fixed_spelling(a)} >(n)" for a in CONV_TYPES]
    calls += [f"run_bits<{fixed_spelling(a)} >(n)" for a in BITS_TYPES]
    calls += [f"run_int_ops<{int_spelling(*a)}, {int_spelling(*b)} >(n)" for a, b in INT_PAIRS]
    calls += [f"run_set_val<{fixed_spelling(a, 'TRN', o)} >(n)" for a, o in SET_VAL_TYPES]
    calls += [f"run_print<{t} >(n)" for t in PRINT_TYPES]
    return calls


PROGRAMS: dict[str, list[str]] = {
    "cast_narrow": cast_calls(CAST_PAIRS_NARROW),
    "cast_wide": cast_calls(CAST_PAIRS_WIDE),
    "double": double_calls(),
    "misc": misc_calls(),
}


def _misc_start(name: str) -> int:
    """Case id of the first call of a runner in the misc program."""
    return next(k for k, call in enumerate(PROGRAMS["misc"]) if call.startswith(f"run_{name}<"))


def _compile(workdir: Path, name: str, calls: list[str]) -> Path:
    cases = "\n".join(f"      case {k}: {call}; break;" for k, call in enumerate(calls))
    src = workdir / f"{name}.cpp"
    src.write_text(PRELUDE.replace("__CASES__", cases))
    exe = workdir / name
    cmd = [CXX, *FLAGS, f"-I{INCLUDE}", str(src), "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"g++ failed for {name}:\n{done.stderr[:6000]}")
    return exe


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """All test programs, compiled in parallel once (they take most of the time)."""
    workdir = tmp_path_factory.mktemp("ac_fixed_header")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(PROGRAMS)) as pool:
        futures = {name: pool.submit(_compile, workdir, name, calls) for name, calls in PROGRAMS.items()}
        return {name: future.result() for name, future in futures.items()}


# ----------------------------------------------------------- data plumbing
def lo_hi(fmt: Fmt) -> tuple[int, int]:
    w, _, s = fmt
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if s else (0, (1 << w) - 1)


def words(m: int, w: int) -> list[str]:
    u = m % (1 << w)
    return [format((u >> (64 * k)) & ((1 << 64) - 1), "x") for k in range((w + 63) // 64)]


def from_words(tokens: Iterator[str], w: int, s: bool) -> int:
    u = 0
    for k in range((w + 63) // 64):
        u |= int(next(tokens), 16) << (64 * k)
    if u >> w:
        raise AssertionError(f"bits above the width {w} are set: {u:#x}")
    return u - (1 << w) if s and u >> (w - 1) else u


def run(exe: Path, blocks: list[tuple[int, int, list[str]]]) -> Iterator[str]:
    """Feed ``(case id, count, tokens)`` blocks to a program; its output tokens, in order."""
    text = "".join(f"{cid} {n}\n{' '.join(tokens)}\n" for cid, n, tokens in blocks)
    done = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return iter(done.stdout.split())


def mantissas(fmt: Fmt, shift: int, rnd: random.Random, n: int = 40) -> list[int]:
    """Edges, exact ties and near-ties for dropping ``shift`` bits, and random values."""
    lo, hi = lo_hi(fmt)
    vals = {lo, lo + 1, -1, 0, 1, 2, hi - 1, hi, lo // 2, hi // 2}
    if shift > 0 and shift <= fmt[0] + 2:
        half = 1 << (shift - 1)
        for _ in range(10):
            base = rnd.randint(lo >> shift, hi >> shift) << shift
            vals.update(base + off for off in (half - 1, half, half + 1, 0, (1 << shift) - 1))
    for _ in range(n):
        vals.add(rnd.randint(lo, hi))
        bits = rnd.randint(1, fmt[0])
        vals.add(rnd.randint(-(1 << bits), 1 << bits))
    return sorted(v for v in vals if lo <= v <= hi)


def frac(fmt: Fmt) -> int:
    return fmt[0] - fmt[1]


def value(m: int, fmt: Fmt) -> Fraction:
    return Fraction(m) * Fraction(2) ** -frac(fmt)


def mantissa_of(v: Fraction, fmt: Fmt) -> int:
    """The exact mantissa of ``v`` in ``fmt``; fails if ``v`` is not on its grid."""
    scaled = v * Fraction(2) ** frac(fmt)
    assert scaled.denominator == 1, f"{v} is not a multiple of the lsb of {fmt}"
    return scaled.numerator


def reference_cast(ms: list[int], src: Fmt, dst: Fmt, q: str, o: str) -> list[int]:
    """Assignment by FixedType.cast; ties-to-odd (absent from FixedType) by integer arithmetic."""
    if q != "RND_CONV_ODD":
        target = FixedType(dst[0], dst[1], dst[2], q, o)
        return [int(v) for v in target.cast(np.array(ms, dtype=object), FixedType(*src))]
    shift = frac(src) - frac(dst)
    rounded = []
    for m in ms:
        if shift > 0:
            floor = m >> shift
            rem = m - (floor << shift)
            half = 1 << (shift - 1)
            rounded.append(floor + int(rem > half or (rem == half and floor % 2 == 0)))
        else:
            rounded.append(m << -shift)
    target = FixedType(dst[0], dst[1], dst[2], "TRN", o)
    return [int(v) for v in apply_overflow(np.array(rounded, dtype=object), target)]


def check_lists(got: list[int], want: list[int], inputs: list, what: str) -> None:
    bad = [(x, g, w) for x, g, w in zip(inputs, got, want, strict=True) if g != w]
    assert not bad, f"{what}: {len(bad)} of {len(want)} wrong, e.g. (input, got, want) {bad[:5]}"


# ------------------------------------------------------------- assignments
def _check_casts(exe: Path, pairs: list[tuple[Fmt, Fmt, bool]], seed: int) -> int:
    rnd = random.Random(seed)
    data = {(src, dst): mantissas(src, frac(src) - frac(dst), rnd) for src, dst, _ in pairs}
    cases = cast_cases(pairs)
    blocks = []
    for cid, (src, dst, _, _) in enumerate(cases):
        ms = data[src, dst]
        blocks.append((cid, len(ms), [t for m in ms for t in words(m, src[0])]))
    out = run(exe, blocks)
    checked = 0
    for src, dst, q, o in cases:
        ms = data[src, dst]
        got = [from_words(out, dst[0], dst[2]) for _ in ms]
        check_lists(got, reference_cast(ms, src, dst, q, o), ms, f"{src} -> {dst} {q} {o}")
        checked += len(ms)
    return checked


def test_assignment_narrow_all_modes(programs: dict[str, Path]) -> None:
    assert _check_casts(programs["cast_narrow"], CAST_PAIRS_NARROW, seed=1) > 15_000


def test_assignment_wide_all_modes(programs: dict[str, Path]) -> None:
    assert _check_casts(programs["cast_wide"], CAST_PAIRS_WIDE, seed=2) > 8_000


def test_rounding_ties_by_hand(programs: dict[str, Path]) -> None:
    """Ties of <16,6> -> <8,3> (5 dropped bits, half = 16) worked out by hand for each mode."""
    src, dst = (16, 6, T), (8, 3, T)
    ms = [3 * 32 + 16, -3 * 32 - 16, 2 * 32 + 16, -2 * 32 - 16, 2 * 32 + 17, -2 * 32 - 15]
    # value/lsb:  3.5,   -3.5,  2.5,  -2.5,  2.53125, -2.46875
    want = {
        "TRN": [3, -4, 2, -3, 2, -3],
        "TRN_ZERO": [3, -3, 2, -2, 2, -2],
        "RND": [4, -3, 3, -2, 3, -2],
        "RND_ZERO": [3, -3, 2, -2, 3, -2],
        "RND_INF": [4, -4, 3, -3, 3, -2],
        "RND_MIN_INF": [3, -4, 2, -3, 3, -2],
        "RND_CONV": [4, -4, 2, -2, 3, -2],
        "RND_CONV_ODD": [3, -3, 3, -3, 3, -2],
    }
    ids = cast_cases(CAST_PAIRS_NARROW)
    cases = {q: ids.index((src, dst, q, "WRAP")) for q in Q_MODES}
    tokens = [t for m in ms for t in words(m, 16)]
    out = run(programs["cast_narrow"], [(cases[q], len(ms), tokens) for q in Q_MODES])
    for q in Q_MODES:
        assert [from_words(out, 8, True) for _ in ms] == want[q], q


def test_saturation_by_hand(programs: dict[str, Path]) -> None:
    """<16,6> -> <8,3>: 200/32 and -200/32 are out of range [-4, 3.96875]; -4 is the most negative code."""
    ms = [200 * 32, -200 * 32, -128 * 32]
    ids = cast_cases(CAST_PAIRS_NARROW)
    cases = {o: ids.index(((16, 6, T), (8, 3, T), "TRN", o)) for o in O_MODES}
    want = {
        "WRAP": [200 - 256, 56, -128],
        "SAT": [127, -128, -128],
        "SAT_ZERO": [0, 0, -128],
        "SAT_SYM": [127, -127, -127],
    }
    tokens = [t for m in ms for t in words(m, 16)]
    out = run(programs["cast_narrow"], [(cases[o], len(ms), tokens) for o in O_MODES])
    for o in O_MODES:
        assert [from_words(out, 8, True) for _ in ms] == want[o], o


def _doubles(fmt: Fmt, rnd: random.Random) -> list[float]:
    lsb = 2.0 ** -frac(fmt)
    lo, hi = lo_hi(fmt)
    vals = [0.0, -0.0, 1e300, -1e300, 5e-324, -5e-324, 2.0**-1074 * 3, 1.0, -1.0, 0.5, -0.5]
    for _ in range(60):
        k = rnd.randint(max(lo, -(1 << 50)), min(hi, 1 << 50))
        vals += [(k + 0.5) * lsb, (k - 0.5) * lsb, k * lsb, (k + 0.25) * lsb]
        vals.append(rnd.uniform(-1, 1) * 2.0 ** rnd.randint(-80, 80))
    vals += [float(hi) * lsb, float(hi + 1) * lsb, float(lo) * lsb, float(lo - 1) * lsb, (hi + 0.5) * lsb]
    vals += [(lo - 0.5) * lsb, float(lo + 1) * lsb]
    return [v for v in vals if np.isfinite(v)]


def test_from_double_all_modes(programs: dict[str, Path]) -> None:
    rnd = random.Random(3)
    data = {fmt: _doubles(fmt, rnd) for fmt, _ in DOUBLE_TARGETS}
    blocks = [(cid, len(data[fmt]), [x.hex() for x in data[fmt]]) for cid, (fmt, _, _) in enumerate(DOUBLE_CASES)]
    out = run(programs["double"], blocks)
    checked = 0
    for fmt, q, o in DOUBLE_CASES:
        xs = data[fmt]
        got = [from_words(out, fmt[0], fmt[2]) for _ in xs]
        if q == "RND_CONV_ODD":
            # Exact rational value, rounded to odd on ties, then FixedType's overflow.
            source = [mantissa_of(Fraction(x), (2200, 1100, True)) for x in xs]
            want = reference_cast(source, (2200, 1100, True), fmt, q, o)
        else:
            want = [int(v) for v in FixedType(fmt[0], fmt[1], fmt[2], q, o).to_int(np.array(xs))]
        check_lists(got, want, xs, f"double -> {fmt} {q} {o}")
        checked += len(xs)
    assert checked > 5_000


def test_from_infinity_and_nan(programs: dict[str, Path]) -> None:
    """Documented choice: an infinity acts as a value beyond any range, NaN as zero."""
    base = len(DOUBLE_CASES)  # the run_special_double calls follow the run_double ones
    out = run(programs["double"], [(base + k, 1, []) for k in range(4)])
    got = {o: [from_words(out, 8, True) for _ in range(3)] for o in O_MODES}
    assert got == {"WRAP": [0, 0, 0], "SAT": [127, -128, 0], "SAT_ZERO": [0, 0, 0], "SAT_SYM": [127, -127, 0]}


def test_from_native_integers(programs: dict[str, Path]) -> None:
    rnd = random.Random(4)
    base = PROGRAMS["double"].index(next(c for c in PROGRAMS["double"] if c.startswith("run_int<")))
    ints = [0, 1, -1, 7, -8, 2**31 - 1, -(2**31), 100, -100] + [rnd.randint(-(2**31), 2**31 - 1) for _ in range(60)]
    longs = [0, -1, 2**63 - 1, -(2**63)] + [rnd.randint(-(2**63), 2**63 - 1) for _ in range(65)]
    ulongs = [0, 2**64 - 1, 2**63, 1] + [rnd.randint(0, 2**64 - 1) for _ in range(65)]
    tokens = [t for i, j, u in zip(ints, longs, ulongs, strict=True) for t in (str(i), str(j), format(u, "x"))]
    out = run(programs["double"], [(base + k, len(ints), tokens) for k in range(len(INT_TARGETS))])
    for fmt, q, o in INT_TARGETS:
        target = FixedType(fmt[0], fmt[1], fmt[2], q, o)
        got = [[from_words(out, fmt[0], fmt[2]) for _ in range(3)] for _ in ints]
        for col, (vals, src) in enumerate(
            [(ints, FixedType(32, 32, True)), (longs, FixedType(64, 64, True)), (ulongs, FixedType(64, 64, False))]
        ):
            want = [int(v) for v in target.cast(np.array(vals, dtype=object), src)]
            check_lists([g[col] for g in got], want, vals, f"integer -> {fmt} {q} {o}")


# --------------------------------------------------------------- arithmetic
def sum_type(a: Fmt, b: Fmt, subtract: bool) -> Fmt:
    """The documented ac_fixed rule: align binary points, one more integer bit, signed if needed."""
    (w1, i1, s1), (w2, i2, s2) = a, b
    f = max(w1 - i1, w2 - i2)
    i = max(i1 + int(not s1 and s2), i2 + int(not s2 and s1)) + 1
    return (i + f, i, True if subtract else s1 or s2)


def product_type(a: Fmt, b: Fmt) -> Fmt:
    return (a[0] + b[0], a[1] + b[1], a[2] or b[2])


def read_type(out: Iterator[str]) -> Fmt:
    return (int(next(out)), int(next(out)), next(out) == "1")


def test_arithmetic_types_values_and_compare(programs: dict[str, Path]) -> None:
    rnd = random.Random(5)
    blocks, cases = [], []
    start = _misc_start("arith")
    for k, (a, _, b) in enumerate(ARITH_PAIRS):
        ma, mb = mantissas(a, 0, rnd, 30), mantissas(b, 0, rnd, 30)
        pairs = [(x, y) for x in ma for y in rnd.sample(mb, min(len(mb), 12))]
        same = [(x, value(x, a) * Fraction(2) ** frac(b)) for x in ma]  # equal values where b can hold them
        pairs += [(x, int(y)) for x, y in same if y.denominator == 1 and lo_hi(b)[0] <= y <= lo_hi(b)[1]]
        tokens = [t for x, y in pairs for t in (*words(x, a[0]), *words(y, b[0]))]
        blocks.append((start + k, len(pairs), tokens))
        cases.append(pairs)
    out = run(programs["misc"], blocks)
    checked = 0
    for (a, (q, o), b), pairs in zip(ARITH_PAIRS, cases, strict=True):
        tp, tm, tx, tn = read_type(out), read_type(out), read_type(out), read_type(out)
        assert (tp, tm, tx, tn) == (
            sum_type(a, b, False),
            sum_type(a, b, True),
            product_type(a, b),
            (a[0] + 1, a[1] + 1, True),
        ), (a, b)
        for x, y in pairs:
            va, vb = value(x, a), value(y, b)
            got = [from_words(out, t[0], t[2]) for t in (tp, tm, tx, tn)]
            want = [mantissa_of(v, t) for v, t in ((va + vb, tp), (va - vb, tm), (va * vb, tx), (-va, tn))]
            assert got == want, (a, b, x, y)
            flags = next(out)
            assert flags == "".join(str(int(c)) for c in (va == vb, va != vb, va < vb, va <= vb, va > vb, va >= vb))
            target = FixedType(a[0], a[1], a[2], q, o)
            for exact, t in ((va + vb, tp), (va - vb, tm), (va * vb, tx)):
                want_c = int(target.cast(np.array([mantissa_of(exact, t)], dtype=object), FixedType(*t))[0])
                assert from_words(out, a[0], a[2]) == want_c, ("compound", a, q, o, b, x, y, exact)
            checked += 1
    assert checked > 1000


def test_mixed_with_int(programs: dict[str, Path]) -> None:
    rnd = random.Random(6)
    start = _misc_start("mixed_int")
    blocks, cases = [], []
    for k, a in enumerate(MIXED_INT_TYPES):
        ms = mantissas(a, 0, rnd, 20)
        pairs = [(m, rnd.choice([0, 1, -1, 3, -7, 2**31 - 1, -(2**31), rnd.randint(-1000, 1000)])) for m in ms]
        blocks.append((start + k, len(pairs), [t for m, i in pairs for t in (*words(m, a[0]), str(i))]))
        cases.append(pairs)
    out = run(programs["misc"], blocks)
    i32 = (32, 32, True)
    for a, pairs in zip(MIXED_INT_TYPES, cases, strict=True):
        tp, tx = read_type(out), read_type(out)
        assert (tp, tx) == (sum_type(a, i32, False), product_type(a, i32))
        tm = sum_type(i32, a, True)
        for m, i in pairs:
            va = value(m, a)
            got = [from_words(out, t[0], t[2]) for t in (tp, tm, tx)]
            assert got == [mantissa_of(va + i, tp), mantissa_of(i - va, tm), mantissa_of(va * i, tx)], (a, m, i)
            assert next(out) == "".join(str(int(c)) for c in (va == i, va < i, i < va, va >= i))
            want_c = int(FixedType(*a).cast(np.array([mantissa_of(va + i, tp)], dtype=object), FixedType(*tp))[0])
            assert from_words(out, a[0], a[2]) == want_c


def wrap_to(m: int, w: int, s: bool) -> int:
    u = m % (1 << w)
    return u - (1 << w) if s and u >> (w - 1) else u


def test_shifts_move_bits_without_modes(programs: dict[str, Path]) -> None:
    """x << k and x >> k keep <W, I, S>, drop bits off either end, ignore Q/O; k < 0 reverses."""
    rnd = random.Random(7)
    start = _misc_start("shift")
    blocks, cases = [], []
    for k, a in enumerate(SHIFT_TYPES):
        pairs = [(m, rnd.randint(-a[0] - 3, a[0] + 3)) for m in mantissas(a, 0, rnd, 30)]
        pairs += [(m, s) for m in (*lo_hi(a), -1 if a[2] else 1) for s in (0, 1, a[0] - 1, a[0], -a[0], 200, -200)]
        blocks.append((start + k, len(pairs), [t for m, s in pairs for t in (*words(m, a[0]), str(s))]))
        cases.append(pairs)
    out = run(programs["misc"], blocks)
    for a, pairs in zip(SHIFT_TYPES, cases, strict=True):
        w, _, s = a
        for m, k in pairs:
            left = wrap_to(m << k, w, s) if k >= 0 else m >> -k
            right = m >> k if k >= 0 else wrap_to(m << -k, w, s)
            got = [from_words(out, w, s) for _ in range(6)]
            assert got == [left, right, left, right, left, right], (a, m, k)


def test_conversions_to_native(programs: dict[str, Path]) -> None:
    """to_int/to_int64 are floor(value) in 32/64 bits; to_double is the nearest double (ties to even)."""
    rnd = random.Random(8)
    start = _misc_start("conv")
    blocks, cases = [], []
    for k, a in enumerate(CONV_TYPES):
        ms = mantissas(a, max(frac(a), 1), rnd, 30)
        if a[0] > 64:  # ties at the 53rd bit, with and without a set bit far below them
            top = 1 << (a[0] - 20)
            ms += [sign * (top + (top >> 53) + low) for sign in (1, -1) for low in (0, 1, top >> 60)]
        blocks.append((start + k, len(ms), [t for m in ms for t in words(m, a[0])]))
        cases.append(ms)
    out = run(programs["misc"], blocks)
    for a, ms in zip(CONV_TYPES, cases, strict=True):
        wi = max(a[1], 1)
        assert read_type(out) == (wi, wi, a[2])
        for m in ms:
            floor = value(m, a).numerator // value(m, a).denominator
            assert int(next(out)) == wrap_to(floor, 32, True), (a, m)
            assert int(next(out)) == wrap_to(floor, 64, True), (a, m)
            d = float.fromhex(next(out))
            assert d == float(value(m, a)), (a, m)  # exact to 53 bits, correctly rounded beyond
            assert from_words(out, wi, a[2]) == floor, (a, m)


def test_bit_access_and_fpgaq_bits(programs: dict[str, Path]) -> None:
    rnd = random.Random(9)
    start = _misc_start("bits")
    blocks, cases = [], []
    for k, a in enumerate(BITS_TYPES):
        triples = [(m, rnd.randint(0, a[0] - 7), rnd.randint(-(2**63), 2**63 - 1)) for m in mantissas(a, 0, rnd, 30)]
        triples += [(m, a[0] - 7, v) for m in lo_hi(a) for v in (-1, 0, 63, -64)]
        tokens = [t for m, lsb, v in triples for t in (*words(m, a[0]), str(lsb), str(v))]
        blocks.append((start + k, len(triples), tokens))
        cases.append(triples)
    out = run(programs["misc"], blocks)
    for a, triples in zip(BITS_TYPES, cases, strict=True):
        w, _, s = a
        for m, lsb, v in triples:
            assert int(next(out)) == wrap_to(m, 64, True), ("fpgaq_get_bits", a, m)
            assert int(next(out)) == wrap_to(m >> lsb, 7, s), ("slc", a, m, lsb)
            assert int(next(out)) == (m >> lsb) & 1, ("operator[]", a, m, lsb)
            field = ((1 << 7) - 1) << lsb
            replaced = wrap_to((m & ~field) | ((v << lsb) & field), w, s)
            assert from_words(out, w, s) == replaced, ("set_slc", a, m, lsb, v)
            assert from_words(out, w, s) == wrap_to(v, w, s), ("fpgaq_set_bits", a, v)
            assert from_words(out, w, s) == wrap_to(m ^ (1 << lsb), w, s), ("bit write", a, m, lsb)


def test_ac_int_operators(programs: dict[str, Path]) -> None:
    rnd = random.Random(10)
    start = _misc_start("int_ops")
    blocks, cases = [], []
    for k, ((w1, s1), (w2, s2)) in enumerate(INT_PAIRS):
        ma, mb = mantissas((w1, w1, s1), 0, rnd, 20), mantissas((w2, w2, s2), 0, rnd, 20)
        rows = [(x, rnd.choice(mb), rnd.randint(-w1 - 2, w1 + 2), rnd.randint(-(2**63), 2**63 - 1)) for x in ma]
        rows += [(x, y, 1, -1) for x in ma[:4] for y in mb]
        tokens = [t for x, y, sh, big in rows for t in (*words(x, w1), *words(y, w2), str(sh), str(big))]
        blocks.append((start + k, len(rows), tokens))
        cases.append(rows)
    out = run(programs["misc"], blocks)
    for ((w1, s1), (w2, s2)), rows in zip(INT_PAIRS, cases, strict=True):
        wl = max(w1 + int(not s1 and s2), w2 + int(not s2 and s1))
        types = [(wl + 1, s1 or s2), (wl + 1, True), (w1 + w2, s1 or s2), (wl, s1 or s2), (w1 + int(not s1), True)]
        types.append((w1 + 1, True))
        for w, s in types:
            assert read_type(out) == (w, w, s), ((w1, s1), (w2, s2))
        for x, y, k, big in rows:
            want = [x + y, x - y, x * y, x & y, x | y, x ^ y, ~x, -x]
            got = [from_words(out, w, s) for w, s in types[:3] + [types[3]] * 3 + types[4:]]
            assert got == want, ((w1, s1), (w2, s2), x, y)
            assert next(out) == "".join(str(int(c)) for c in (x == y, x != y, x < y, x <= y, x > y, x >= y))
            left = wrap_to(x << k, w1, s1) if k >= 0 else x >> -k
            right = x >> k if k >= 0 else wrap_to(x << -k, w1, s1)
            assert [from_words(out, w1, s1) for _ in range(2)] == [left, right], (w1, s1, x, k)
            after = [x + y, x * y, x ^ y, x + 1, big]
            after = [wrap_to(v, w1, s1) for v in after]
            assert [from_words(out, w1, s1) for _ in range(5)] == after, ((w1, s1), (w2, s2), x, y, big)
            assert int(next(out)) == wrap_to(x, 64, True)


def test_set_val(programs: dict[str, Path]) -> None:
    """AC_VAL_MIN of a signed AC_SAT_SYM type is -max (documented choice), else the most negative code."""
    start = _misc_start("set_val")
    out = run(programs["misc"], [(start + k, 0, []) for k in range(len(SET_VAL_TYPES))])
    got = [[from_words(out, a[0], a[2]) for _ in range(4)] for a, _ in SET_VAL_TYPES]
    assert got == [
        [127, -128, 1, 0],
        [127, -127, 1, 0],
        [4095, 0, 1, 0],
        [2**99 - 1, -(2**99), 1, 0],
    ]


def test_stream_output(programs: dict[str, Path]) -> None:
    """ac_fixed prints its value as a double would; ac_int prints exact decimal digits."""
    start = _misc_start("print")
    fixed = [(8, 3, T), (20, -4, U)]
    ms = [[-128, -1, 0, 1, 77, 127], [0, 1, 2**20 - 1, 12345]]
    ints = [[-(2**99), 2**99 - 1, -1, 0, 123456789012345678901234567], [0, 4095, 7]]
    widths = [(8, T), (20, U), (100, T), (12, U)]
    values = ms + ints
    blocks = [
        (start + k, len(vals), [t for m in vals for t in words(m, w)])
        for k, (vals, (w, _)) in enumerate(zip(values, widths, strict=True))
    ]
    out = run(programs["misc"], blocks)
    for fmt, vals in zip(fixed, ms, strict=True):
        for m in vals:
            printed = float(next(out))
            assert abs(printed - float(value(m, fmt))) <= 1e-5 * abs(float(value(m, fmt))), (fmt, m, printed)
    for vals in ints:
        assert [int(next(out)) for _ in vals] == vals


def test_headers_are_self_contained(tmp_path: Path) -> None:
    """Each header compiles on its own, warning-free, and ac_fixed's defaults are <W, I, true, AC_TRN, AC_WRAP>."""
    for header in ("ac_int.h", "ac_fixed.h", "fpgaq_bits.h"):
        src = tmp_path / f"only_{header}.cpp"
        src.write_text(f'#include "{header}"\nint main() {{ return 0; }}\n')
        cmd = [CXX, *FLAGS, "-fsyntax-only", f"-I{INCLUDE}", str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    src = tmp_path / "defaults.cpp"
    src.write_text(
        '#include "ac_fixed.h"\n#include <type_traits>\n'
        'static_assert(std::is_same<ac_fixed<8, 3>, ac_fixed<8, 3, true, AC_TRN, AC_WRAP>>::value, "");\n'
        'static_assert(std::is_same<ac_int<8>, ac_int<8, true>>::value, "");\n'
        'static_assert(ac_fixed<8, 3>::width == 8 && ac_fixed<8, 3>::i_width == 3, "");\n'
        'static_assert(std::is_same<ac_fixed<8, 3>::rt<16, 6, false>::mult, ac_fixed<24, 9, true>>::value, "");\n'
        'static_assert(std::is_same<ac_fixed<8, 3>::rt<16, 6, false>::plus, ac_fixed<18, 8, true>>::value, "");\n'
        'static_assert(std::is_same<ac_fixed<8, 3, false>::rt<8, 3, false>::minus, ac_fixed<9, 4, true>>::value, "");\n'
        'static_assert(std::is_same<ac_fixed<8, 3, false>::rt_unary::neg, ac_fixed<9, 4, true>>::value, "");\n'
        'static_assert(std::is_same<ac_int<8, false>::rt<4, true>::logic, ac_int<9, true>>::value, "");\n'
        "int main() { return 0; }\n"
    )
    done = subprocess.run([CXX, *FLAGS, "-fsyntax-only", f"-I{INCLUDE}", str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


MAC_BENCH = r"""
#include "ac_fixed.h"
#include "fpgaq_bits.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
typedef ac_fixed<6, 1> weight_t;
typedef ac_fixed<16, 6> input_t;
typedef ac_fixed<24, 9> acc_t;
static const int K = 4000;
static weight_t w[K];
static input_t x[K];
int main() {
  for (int i = 0; i < K; ++i) {
    long long a = 0, b = 0;
    if (std::scanf("%lld %lld", &a, &b) != 2) std::abort();
    fpgaq_set_bits(w[i], a);
    fpgaq_set_bits(x[i], b);
  }
  const int reps = 25000;  // 1e8 multiply-adds
  long long first = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    acc_t acc = 0;
    for (int i = 0; i < K; ++i) acc += w[i] * x[i];
    if (r == 0) first = fpgaq_get_bits(acc);
    x[r % K] = acc;  // a dependence between repetitions, so none is optimised away
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%lld %.6g\n", first, double(reps) * K / s);
  return 0;
}
"""


def test_mac_loop(tmp_path: Path) -> None:
    """1e8 multiply-adds of <6,1> x <16,6> into <24,9> are exact (the speed is reported, not asserted:
    timing belongs to benchmarks, and this machine is shared)."""
    src = tmp_path / "mac.cpp"
    src.write_text(MAC_BENCH)
    exe = tmp_path / "mac"
    done = subprocess.run([CXX, *FLAGS, f"-I{INCLUDE}", str(src), "-o", str(exe)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rnd = random.Random(11)
    pairs = [(rnd.randint(-32, 31), rnd.randint(-(2**15), 2**15 - 1)) for _ in range(4000)]
    text = "\n".join(f"{a} {b}" for a, b in pairs)
    done = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    first, rate = done.stdout.split()
    # acc has 15 fractional bits like the product (5 + 10): each step adds exactly, then wraps to 24 bits.
    acc = 0
    for a, b in pairs:
        acc = wrap_to(acc + a * b, 24, True)
    assert int(first) == acc
    print(f"ac_fixed MAC loop: {float(rate):.3g} multiply-adds per second")
