// fpgaq's own implementation of the Algorithmic C integer type ac_int<W, S>.
//
// Written for fpgaq from the documented semantics of the Algorithmic C
// datatypes (it shares no code with the Siemens/Mentor headers).  It covers
// the subset fpgaq's generated HLS code and test benches use; see README.md
// next to this file.  To C-simulate with the real headers instead, point
// AC_TYPES_DIR at their directory: they are then found first on the include
// path and this file is not used.
//
// Representation: a value is held as N = ceil((W + !S) / 64) 64-bit words in
// two's complement, always normalised (the bits above W repeat the sign bit,
// or are zero when unsigned), so the words read as a signed integer equal the
// value.  Everything is fixed size and inline; one word (W <= 64 signed,
// W <= 63 unsigned) takes a plain 64-bit integer path.
#ifndef FPGAQ_AC_INT_H
#define FPGAQ_AC_INT_H

// Only forward declarations of the streams and strings: <ostream>, <string> and
// <cmath> were two thirds of what g++ parsed for a C-simulation build.  Code
// that prints a value (operator<<, to_string) includes <ostream> or <string>
// itself, as any code that uses std::ostream or std::string does.
#include <iosfwd>
#include <type_traits>

// Defined only by fpgaq's implementation, so code can tell which headers it got.
#define FPGAQ_AC_TYPES 1

enum ac_q_mode { AC_TRN, AC_RND, AC_TRN_ZERO, AC_RND_ZERO, AC_RND_INF, AC_RND_MIN_INF, AC_RND_CONV, AC_RND_CONV_ODD };
enum ac_o_mode { AC_WRAP, AC_SAT, AC_SAT_ZERO, AC_SAT_SYM };
enum ac_special_val { AC_VAL_DC, AC_VAL_0, AC_VAL_MIN, AC_VAL_MAX, AC_VAL_QUANTUM };

template <int W, bool S = true>
class ac_int;
template <int W, int I, bool S = true, ac_q_mode Q = AC_TRN, ac_o_mode O = AC_WRAP>
class ac_fixed;

#define FPGAQ_AC_INLINE inline __attribute__((always_inline))

namespace fpgaq_ac {

typedef unsigned long long u64;
typedef long long i64;
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

constexpr int imax(int a, int b) { return a > b ? a : b; }
constexpr int imin(int a, int b) { return a < b ? a : b; }
// 64-bit words needed for a signed integer of `bits` bits.
constexpr int words(int bits) { return bits <= 64 ? 1 : (bits + 63) / 64; }

// ------------------------------------------------------------------ words
// A signed integer of N 64-bit words, least significant word first.
template <int N>
struct wint {
  static_assert(N >= 1, "fpgaq ac types: at least one word");
  u64 w[static_cast<unsigned>(N)];
};

template <int N>
FPGAQ_AC_INLINE constexpr bool is_neg(const wint<N>& a) {
  return (a.w[N - 1] >> 63) != 0;
}

template <int N>
FPGAQ_AC_INLINE constexpr u64 fill_of(const wint<N>& a) {
  return is_neg(a) ? ~0ULL : 0ULL;
}

// Sign-extend (or truncate) to NR words.
template <int NR, int N>
FPGAQ_AC_INLINE constexpr wint<NR> ext(const wint<N>& a) {
  wint<NR> r{};
  if constexpr (NR <= N) {
    for (int i = 0; i < NR; ++i) r.w[i] = a.w[i];
  } else {
    const u64 f = fill_of(a);
    for (int i = 0; i < N; ++i) r.w[i] = a.w[i];
    for (int i = N; i < NR; ++i) r.w[i] = f;
  }
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> from_i64(i64 v) {
  wint<N> r{};
  r.w[0] = static_cast<u64>(v);
  const u64 f = v < 0 ? ~0ULL : 0ULL;
  for (int i = 1; i < N; ++i) r.w[i] = f;
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> from_u64(u64 v) {
  wint<N> r{};
  r.w[0] = v;
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> bnot(const wint<N>& a) {
  wint<N> r{};
  for (int i = 0; i < N; ++i) r.w[i] = ~a.w[i];
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> band(const wint<N>& a, const wint<N>& b) {
  wint<N> r{};
  for (int i = 0; i < N; ++i) r.w[i] = a.w[i] & b.w[i];
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> bor(const wint<N>& a, const wint<N>& b) {
  wint<N> r{};
  for (int i = 0; i < N; ++i) r.w[i] = a.w[i] | b.w[i];
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> bxor(const wint<N>& a, const wint<N>& b) {
  wint<N> r{};
  for (int i = 0; i < N; ++i) r.w[i] = a.w[i] ^ b.w[i];
  return r;
}

// a + b + carry_in, modulo 2**(64 N).
template <int N>
FPGAQ_AC_INLINE constexpr wint<N> add(const wint<N>& a, const wint<N>& b, u64 carry_in = 0) {
  wint<N> r{};
  if constexpr (N == 1) {
    r.w[0] = a.w[0] + b.w[0] + carry_in;
  } else {
    u64 c = carry_in;
    for (int i = 0; i < N; ++i) {
      const u128 s = static_cast<u128>(a.w[i]) + b.w[i] + c;
      r.w[i] = static_cast<u64>(s);
      c = static_cast<u64>(s >> 64);
    }
  }
  return r;
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> sub(const wint<N>& a, const wint<N>& b) {
  return add(a, bnot(b), 1);
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> neg(const wint<N>& a) {
  return add(wint<N>{}, bnot(a), 1);
}

template <int N>
FPGAQ_AC_INLINE constexpr wint<N> inc(const wint<N>& a) {
  return add(a, wint<N>{}, 1);
}

// Product modulo 2**(64 NR); exact whenever the product fits NR words.
template <int NR, int NA, int NB>
FPGAQ_AC_INLINE wint<NR> mul(const wint<NA>& a, const wint<NB>& b) {
  wint<NR> r{};
  if constexpr (NR == 1) {
    r.w[0] = a.w[0] * b.w[0];
  } else if constexpr (NR == 2 && NA == 1 && NB == 1) {
    const i128 p = static_cast<i128>(static_cast<i64>(a.w[0])) * static_cast<i64>(b.w[0]);
    r.w[0] = static_cast<u64>(p);
    r.w[1] = static_cast<u64>(static_cast<u128>(p) >> 64);
  } else {
    const wint<NR> x = ext<NR>(a);
    const wint<NR> y = ext<NR>(b);
    for (int i = 0; i < NR; ++i) {
      u64 c = 0;
      for (int j = 0; i + j < NR; ++j) {
        const u128 t = static_cast<u128>(x.w[i]) * y.w[j] + r.w[i + j] + c;
        r.w[i + j] = static_cast<u64>(t);
        c = static_cast<u64>(t >> 64);
      }
    }
  }
  return r;
}

// Left shift by k >= 0 bits, modulo 2**(64 N).
template <int N>
FPGAQ_AC_INLINE constexpr wint<N> shl(const wint<N>& a, int k) {
  wint<N> r{};
  if constexpr (N == 1) {
    r.w[0] = k >= 64 ? 0ULL : a.w[0] << k;
  } else {
    if (k >= 64 * N) return r;
    const int ws = k >> 6;
    const int bs = k & 63;
    for (int i = N - 1; i >= ws; --i) {
      u64 v = a.w[i - ws] << bs;
      if (bs != 0 && i - ws - 1 >= 0) v |= a.w[i - ws - 1] >> (64 - bs);
      r.w[i] = v;
    }
  }
  return r;
}

// Arithmetic right shift by k >= 0 bits (floor division by 2**k).
template <int N>
FPGAQ_AC_INLINE constexpr wint<N> sar(const wint<N>& a, int k) {
  wint<N> r{};
  if constexpr (N == 1) {
    r.w[0] = static_cast<u64>(static_cast<i64>(a.w[0]) >> (k >= 64 ? 63 : k));
  } else {
    const u64 f = fill_of(a);
    if (k >= 64 * N) {
      for (int i = 0; i < N; ++i) r.w[i] = f;
      return r;
    }
    const int ws = k >> 6;
    const int bs = k & 63;
    for (int i = 0; i < N; ++i) {
      const u64 lo = i + ws < N ? a.w[i + ws] : f;
      const u64 hi = i + ws + 1 < N ? a.w[i + ws + 1] : f;
      r.w[i] = bs != 0 ? (lo >> bs) | (hi << (64 - bs)) : lo;
    }
  }
  return r;
}

// Bit k (k >= 0); positions past the words read the sign.
template <int N>
FPGAQ_AC_INLINE constexpr bool bit(const wint<N>& a, int k) {
  if (k >= 64 * N) return is_neg(a);
  return ((a.w[k >> 6] >> (k & 63)) & 1ULL) != 0;
}

// Whether any of bits [0, k) is set.
template <int N>
FPGAQ_AC_INLINE constexpr bool any_low(const wint<N>& a, int k) {
  if (k <= 0) return false;
  if constexpr (N == 1) {
    return k >= 64 ? a.w[0] != 0 : (a.w[0] & ((1ULL << k) - 1)) != 0;
  } else {
    for (int i = 0; i < N; ++i) {
      const int b = k - 64 * i;
      if (b <= 0) break;
      const u64 m = b >= 64 ? ~0ULL : (1ULL << b) - 1;
      if ((a.w[i] & m) != 0) return true;
    }
    return false;
  }
}

template <int N>
FPGAQ_AC_INLINE constexpr bool eq(const wint<N>& a, const wint<N>& b) {
  if constexpr (N == 1) {
    return a.w[0] == b.w[0];
  } else {
    for (int i = 0; i < N; ++i)
      if (a.w[i] != b.w[i]) return false;
    return true;
  }
}

// Signed a < b.
template <int N>
FPGAQ_AC_INLINE constexpr bool lt(const wint<N>& a, const wint<N>& b) {
  if constexpr (N == 1) {
    return static_cast<i64>(a.w[0]) < static_cast<i64>(b.w[0]);
  } else {
    if (a.w[N - 1] != b.w[N - 1]) return static_cast<i64>(a.w[N - 1]) < static_cast<i64>(b.w[N - 1]);
    for (int i = N - 2; i >= 0; --i)
      if (a.w[i] != b.w[i]) return a.w[i] < b.w[i];
    return false;
  }
}

template <int N>
FPGAQ_AC_INLINE constexpr bool is_zero(const wint<N>& a) {
  return eq(a, wint<N>{});
}

// The low k bits set (0 <= k).
template <int N>
constexpr wint<N> low_mask(int k) {
  wint<N> r{};
  for (int i = 0; i < N; ++i) {
    const int b = k - 64 * i;
    r.w[i] = b >= 64 ? ~0ULL : (b <= 0 ? 0ULL : (1ULL << b) - 1);
  }
  return r;
}

// Keep the low W bits and extend them by sign (S) or zeros (!S).
template <int W, bool S, int N>
FPGAQ_AC_INLINE constexpr void normalize(wint<N>& a) {
  static_assert(64 * N >= W + !S, "fpgaq ac types: too few words for the width");
  if constexpr (S) {
    constexpr int wi = (W - 1) / 64;
    constexpr int bi = (W - 1) % 64;
    if constexpr (bi != 63) {
      constexpr int sh = 63 - bi;
      a.w[wi] = static_cast<u64>(static_cast<i64>(a.w[wi] << sh) >> sh);
    }
    const u64 f = static_cast<u64>(static_cast<i64>(a.w[wi]) >> 63);
    for (int j = wi + 1; j < N; ++j) a.w[j] = f;
  } else {
    constexpr int wi = W / 64;
    constexpr int bi = W % 64;
    if constexpr (wi < N) {
      a.w[wi] &= (1ULL << bi) - 1;
      for (int j = wi + 1; j < N; ++j) a.w[j] = 0;
    }
  }
}

// The low W bits of x as a normalised NT-word value: two's complement wrap-around.
template <int W, bool S, int NT, int N>
FPGAQ_AC_INLINE constexpr wint<NT> wrap(const wint<N>& x) {
  wint<NT> r = ext<NT>(x);
  normalize<W, S>(r);
  return r;
}

template <int W, bool S, int N>
constexpr wint<N> max_code() {
  return low_mask<N>(S ? W - 1 : W);
}

template <int W, bool S, int N>
constexpr wint<N> min_code() {
  return S ? bnot(low_mask<N>(W - 1)) : wint<N>{};
}

// -max_code for signed types: the lower bound of AC_SAT_SYM.
template <int W, int N>
constexpr wint<N> sym_min_code() {
  wint<N> r = min_code<W, true, N>();
  if (W == 1) return wint<N>{};
  r.w[0] |= 1ULL;
  return r;
}

// Whether to add one lsb after dropping bits, given the sign of the unrounded
// value, the first dropped bit (half), whether any later dropped bit is set
// (sticky), and the parity of the truncated result.
template <ac_q_mode Q>
FPGAQ_AC_INLINE constexpr bool round_up(bool negv, bool half, bool sticky, bool odd) {
  if constexpr (Q == AC_TRN) {
    (void)negv, (void)half, (void)sticky, (void)odd;
    return false;
  } else if constexpr (Q == AC_TRN_ZERO) {
    (void)odd;
    return negv && (half || sticky);
  } else if constexpr (Q == AC_RND) {
    (void)negv, (void)sticky, (void)odd;
    return half;
  } else if constexpr (Q == AC_RND_ZERO) {
    (void)odd;
    return half && (sticky || negv);
  } else if constexpr (Q == AC_RND_INF) {
    (void)odd;
    return half && (sticky || !negv);
  } else if constexpr (Q == AC_RND_MIN_INF) {
    (void)negv, (void)odd;
    return half && sticky;
  } else if constexpr (Q == AC_RND_CONV) {
    (void)negv;
    return half && (sticky || odd);
  } else {
    static_assert(Q == AC_RND_CONV_ODD, "unknown ac_q_mode");
    (void)negv;
    return half && (sticky || !odd);
  }
}

// Bring an intermediate value into W bits by the overflow mode O.
template <int W, bool S, ac_o_mode O, int NT, int NI>
FPGAQ_AC_INLINE constexpr wint<NT> overflow(const wint<NI>& x) {
  if constexpr (O == AC_WRAP) {
    return wrap<W, S, NT>(x);
  } else {
    static_assert(64 * NI >= W + !S, "fpgaq ac types: intermediate too narrow for saturation");
    constexpr wint<NI> hi = max_code<W, S, NI>();
    if (lt(hi, x)) return O == AC_SAT_ZERO ? wint<NT>{} : ext<NT>(hi);
    if constexpr (O == AC_SAT_SYM && S) {
      constexpr wint<NI> lo = sym_min_code<W, NI>();
      if (lt(x, lo)) return ext<NT>(lo);
    } else {
      constexpr wint<NI> lo = min_code<W, S, NI>();
      if (lt(x, lo)) return O == AC_SAT_ZERO ? wint<NT>{} : ext<NT>(lo);
    }
    return ext<NT>(x);
  }
}

// Assign a mantissa m (|m| < 2**(B-1), i.e. a B-bit signed integer) that has
// d more fractional bits than the target: drop d bits rounding by Q (or append
// -d zero bits), then fit W bits by O.  NI words must hold every intermediate.
//
// Shifts are clamped without changing the outcome: past B+1 dropped bits the
// exact quotient lies strictly inside (-1/4, 1/4), and past W+1 appended bits a
// non-zero value is out of range with its sign kept and low W bits zero.
template <int W, bool S, ac_q_mode Q, ac_o_mode O, int NI, int NT, int NS>
FPGAQ_AC_INLINE constexpr wint<NT> convert(const wint<NS>& m, int B, int d) {
  wint<NI> x = ext<NI>(m);
  if (d > 0) {
    const int k = d < B + 1 ? d : B + 1;
    if constexpr (Q == AC_TRN) {
      x = sar(x, k);
    } else {
      const bool negv = is_neg(x);
      const bool half = bit(x, k - 1);
      const bool sticky = any_low(x, k - 1);
      x = sar(x, k);
      if (round_up<Q>(negv, half, sticky, (x.w[0] & 1ULL) != 0)) x = inc(x);
    }
  } else if (d < 0) {
    const int k = -d < W + 1 ? -d : W + 1;
    x = shl(x, k);
  }
  return overflow<W, S, O, NT>(x);
}

// Assignment of a mantissa with W2 bits, F2 fractional bits and signedness S2
// into <W, F, S, Q, O>, with the narrowest intermediate that is still exact.
template <int W, int F, bool S, ac_q_mode Q, ac_o_mode O, int W2, int F2, bool S2, int NT, int NS>
FPGAQ_AC_INLINE constexpr wint<NT> cast(const wint<NS>& m) {
  constexpr int d = F2 - F;
  constexpr int I = W - F;
  constexpr int I2 = W2 - F2;
  // AC_SAT_SYM excludes the target's most negative code, which a signed source
  // with as many integer bits can still hold: that case goes through overflow().
  constexpr bool sym_edge = O == AC_SAT_SYM && S && S2 && I == I2;
  constexpr bool exact = d <= 0 && !sym_edge && (S ? I >= I2 + !S2 : (!S2 && I >= I2));
  if constexpr (exact) {
    return shl(ext<NT>(m), -d);
  } else {
    constexpr int B = W2 + !S2;
    constexpr int kmax = d < 0 ? imin(-d, W + 1) : 0;
    constexpr int NI = O == AC_WRAP ? imax(NS, NT) : imax(NS, words(imax(B + kmax, W + !S)));
    return convert<W, S, Q, O, NI, NT>(m, B, d);
  }
}

// v == m * 2**e2 with 2**52 <= |m| < 2**53 (m == 0 for zero), for a finite v.
struct split_double {
  i64 m;
  int e2;
};

// The same split by exact scaling with powers of two only, so that a compiler
// can evaluate it as a constant: a table of constants (the weights) is then
// plain data in the object file instead of start-up code that g++ must
// optimise constructor call by constructor call.
constexpr split_double split_double_const(double v) {
  if (v == 0) return {0, -53};
  constexpr double low = 0x1p52, top = 0x1p53;
  constexpr double steps[] = {0x1p512, 0x1p256, 0x1p128, 0x1p64, 0x1p32, 0x1p16, 0x1p8, 0x1p4, 0x1p2, 0x1p1};
  constexpr int shifts[] = {512, 256, 128, 64, 32, 16, 8, 4, 2, 1};
  double a = v < 0 ? -v : v;
  int e2 = 0;
  for (int i = 0; i < 10; ++i) {
    while (a >= low * steps[i]) {
      a /= steps[i];
      e2 += shifts[i];
    }
  }
  for (int i = 0; i < 10; ++i) {
    while (a * steps[i] < top) {
      a *= steps[i];
      e2 -= shifts[i];
    }
  }
  const i64 m = static_cast<i64>(a);
  return {v < 0 ? -m : m, e2};
}

// The mantissa of v in <W, F, S> when v is exactly one of its values (then
// every Q and O leave it unchanged): the constant path's shortcut for tables,
// whose literals are values of their types.  Otherwise false.  Only scaling
// up by 2**F (exact), and |v| < 2**62, so nothing rounds or overflows; the
// range is checked on the integer (2**61 - 1 has no double of its own).
template <int W, int F, bool S>
constexpr bool exact_mantissa(double v, i64& m) {
  if constexpr (F < 0 || F > 64 || W > 62) {
    (void)v, (void)m;
    return false;
  } else {
    if (!(v < 0x1p62 && v > -0x1p62)) return false;
    constexpr double steps[] = {0x1p64, 0x1p32, 0x1p16, 0x1p8, 0x1p4, 0x1p2, 0x1p1};
    constexpr int shifts[] = {64, 32, 16, 8, 4, 2, 1};
    double t = v;
    int f = F;
    for (int i = 0; i < 7; ++i) {
      if (f >= shifts[i]) {
        t *= steps[i];
        f -= shifts[i];
      }
    }
    if (!(t < 0x1p62 && t > -0x1p62)) return false;
    const i64 k = static_cast<i64>(t);
    constexpr i64 hi = S ? (i64{1} << (W - 1)) - 1 : (i64{1} << W) - 1;
    constexpr i64 lo = S ? -hi : 0;  // the most negative code is left out: AC_SAT_SYM never yields it
    if (static_cast<double>(k) != t || k < lo || k > hi) return false;
    m = k;
    return true;
  }
}

// A double assigned into <W, F, S, Q, O>: exact for every finite double.
// NaN gives 0; an infinity behaves as a value too large for any type.
template <int W, int F, bool S, ac_q_mode Q, ac_o_mode O, int NT>
constexpr wint<NT> from_double(double v) {
  split_double s{0, 0};  // v == s.m * 2**s.e2
  if (v != v) return wint<NT>{};
  if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308) {
    s = {v > 0 ? 1 : -1, 1 << 20};
  } else if (__builtin_is_constant_evaluated()) {
    i64 exact = 0;
    if (exact_mantissa<W, F, S>(v, exact)) return from_i64<NT>(exact);
    s = split_double_const(v);
  } else {
    int e = 0;
    const double f = __builtin_frexp(v, &e);
    s = {static_cast<i64>(__builtin_ldexp(f, 53)), e - 53};
  }
  constexpr int B = 54;
  constexpr int NI = O == AC_WRAP ? NT : imax(NT, words(imax(B + W + 1, W + !S)));
  return convert<W, S, Q, O, NI, NT>(from_i64<1>(s.m), B, -s.e2 - F);
}

// value * 2**scale as the nearest double (ties to even), barring underflow to sub-normals.
template <int N>
inline double to_double(const wint<N>& a, int scale) {
  if constexpr (N == 1) {
    return __builtin_ldexp(static_cast<double>(static_cast<i64>(a.w[0])), scale);
  } else {
    const bool negv = is_neg(a);
    const wint<N> m = negv ? neg(a) : a;  // the magnitude, read as unsigned
    int top = N - 1;
    while (top > 0 && m.w[top] == 0) --top;
    double r = 0.0;
    if (top == 0) {
      r = __builtin_ldexp(static_cast<double>(m.w[0]), scale);
    } else {
      // The 64 leading bits, with every lower bit folded into the last one: a
      // sticky bit far below the double's rounding position keeps rounding exact.
      const int lz = __builtin_clzll(m.w[top]);
      u64 lead = lz == 0 ? m.w[top] : (m.w[top] << lz) | (m.w[top - 1] >> (64 - lz));
      bool sticky = lz == 0 ? m.w[top - 1] != 0 : (m.w[top - 1] << lz) != 0;
      for (int i = 0; i < top - 1; ++i) sticky = sticky || m.w[i] != 0;
      lead |= sticky ? 1ULL : 0ULL;
      r = __builtin_ldexp(static_cast<double>(lead), 64 * top - lz + scale);
    }
    return negv ? -r : r;
  }
}

// Decimal text of the integer.
template <class Str, int N>
inline Str to_dec(const wint<N>& a) {
  const bool negv = is_neg(a);
  wint<N> m = negv ? neg(a) : a;  // the most negative value reads correctly as unsigned
  char buf[static_cast<unsigned>(64 * N / 3 + 3)];
  int p = static_cast<int>(sizeof(buf));
  buf[--p] = '\0';
  do {
    u64 rem = 0;
    for (int i = N - 1; i >= 0; --i) {
      const u128 cur = (static_cast<u128>(rem) << 64) | m.w[i];
      m.w[i] = static_cast<u64>(cur / 10);
      rem = static_cast<u64>(cur % 10);
    }
    buf[--p] = static_cast<char>('0' + rem);
  } while (!is_zero(m));
  if (negv) buf[--p] = '-';
  return Str(buf + p);
}

// Shift amounts past every width are clamped to this.
constexpr int kShiftClamp = 1 << 20;

// Bits shifted left (k > 0) or right (k < 0, arithmetic), kept to W bits.
template <int W, bool S, int N>
FPGAQ_AC_INLINE constexpr wint<N> shift_bits(const wint<N>& v, int k) {
  if (k >= 0) return wrap<W, S, N>(shl(v, k < 64 * N ? k : 64 * N));
  return sar(v, k < -64 * N ? 64 * N : -k);
}

// -k without overflow for any int k, as a shift amount.
FPGAQ_AC_INLINE constexpr int flip_shift(int k) { return k < -kShiftClamp ? kShiftClamp : -k; }

// ------------------------------------------------------------ type traits
// Lets the operators treat ac_int, ac_fixed and native integers alike: an
// integer type of W bits is <W, W, S> with no fractional bits.
template <class T, class = void>
struct traits;

struct access {
  template <class T>
  static FPGAQ_AC_INLINE auto& get(T& x) {
    return x.v;
  }
  template <class T>
  static FPGAQ_AC_INLINE const auto& get(const T& x) {
    return x.v;
  }
  template <class T>
  static FPGAQ_AC_INLINE auto raw(const T& x) {
    return traits<T>::raw(x);
  }
};

template <class T, class>
struct traits {
  static constexpr int kind = 0;  // 0 unsupported, 1 native integer, 2 ac_int, 3 ac_fixed
  static constexpr int W = 1, I = 1;
  static constexpr bool S = false;
};

template <class T>
struct traits<T, std::enable_if_t<std::is_integral<T>::value>> {
  static constexpr int kind = 1;
  static constexpr bool is_bool = std::is_same<T, bool>::value;
  static constexpr int W = is_bool ? 1 : static_cast<int>(8 * sizeof(T));
  static constexpr int I = W;
  static constexpr bool S = std::is_signed<T>::value && !is_bool;
  static constexpr int N = words(W + !S);
  static FPGAQ_AC_INLINE constexpr wint<N> raw(T x) {
    if constexpr (S) {
      return from_i64<N>(static_cast<i64>(x));
    } else {
      return from_u64<N>(static_cast<u64>(x));
    }
  }
};

template <int W_, bool S_>
struct traits<ac_int<W_, S_>, void> {
  static constexpr int kind = 2;
  static constexpr int W = W_, I = W_;
  static constexpr bool S = S_;
  static constexpr int N = words(W + !S);
  static FPGAQ_AC_INLINE const wint<N>& raw(const ac_int<W_, S_>& x) { return access::get(x); }
};

template <class A, class B>
constexpr bool ok_pair = traits<A>::kind > 0 && traits<B>::kind > 0 && (traits<A>::kind >= 2 || traits<B>::kind >= 2);

template <int W, int I, bool S, int kind>
struct result_type {
  typedef ac_fixed<W, I, S> type;
};
template <int W, int I, bool S>
struct result_type<W, I, S, 2> {
  typedef ac_int<W, S> type;
};

// Result types of the binary operators, as documented for ac_fixed (and, with
// no fractional bits, for ac_int): + and - keep every bit of the exact result.
template <class A, class B>
struct binop {
  typedef traits<A> TA;
  typedef traits<B> TB;
  static constexpr int kind = imax(TA::kind, TB::kind);
  static constexpr int F1 = TA::W - TA::I, F2 = TB::W - TB::I, F = imax(F1, F2);
  static constexpr int IA = imax(TA::I + (!TA::S && TB::S), TB::I + (!TB::S && TA::S)) + 1;
  static constexpr bool SS = TA::S || TB::S;
  typedef typename result_type<IA + F, IA, SS, kind>::type plus;
  typedef typename result_type<IA + F, IA, true, kind>::type minus;
  typedef typename result_type<TA::W + TB::W, TA::I + TB::I, SS, kind>::type mult;
  static constexpr int WL = imax(TA::W + (!TA::S && TB::S), TB::W + (!TB::S && TA::S));
  typedef ac_int<WL, SS> logic;  // bitwise &, |, ^ (ac_int only)
  // Words that hold both operands aligned to F fractional bits.
  static constexpr int NC = words(imax(TA::W + !TA::S + F - F1, TB::W + !TB::S + F - F2));
};

// Operand aligned to the common number of fractional bits, in N words.
template <int N, int Fto, class T>
FPGAQ_AC_INLINE wint<N> aligned(const T& x) {
  return shl(ext<N>(access::raw(x)), Fto - (traits<T>::W - traits<T>::I));
}

template <class A, class B>
FPGAQ_AC_INLINE bool equal(const A& a, const B& b) {
  typedef binop<A, B> op;
  return eq(aligned<op::NC, op::F>(a), aligned<op::NC, op::F>(b));
}

template <class A, class B>
FPGAQ_AC_INLINE bool less(const A& a, const B& b) {
  typedef binop<A, B> op;
  return lt(aligned<op::NC, op::F>(a), aligned<op::NC, op::F>(b));
}

// A shift amount read from an ac_int, clamped to a plain int.
template <int W2, bool S2>
FPGAQ_AC_INLINE int shift_amount(const ac_int<W2, S2>& k);

// Bit reference returned by operator[] on ac_int and ac_fixed.
template <class Owner>
class bitref {
 public:
  FPGAQ_AC_INLINE bitref(Owner& o, int i) : o_(o), i_(i) {}
  FPGAQ_AC_INLINE operator bool() const {
    return i_ >= 0 && bit(access::get(o_), i_ < 64 * Owner::N ? i_ : 64 * Owner::N);
  }
  template <class T, std::enable_if_t<std::is_integral<T>::value, int> = 0>
  FPGAQ_AC_INLINE bitref& operator=(T v) {
    set((v & 1) != 0);
    return *this;
  }
  FPGAQ_AC_INLINE bitref& operator=(const bitref& b) {
    set(static_cast<bool>(b));
    return *this;
  }

 private:
  FPGAQ_AC_INLINE void set(bool b) {
    if (i_ < 0 || i_ >= Owner::width) return;
    auto& v = access::get(o_);
    const u64 m = 1ULL << (i_ & 63);
    v.w[i_ >> 6] = b ? (v.w[i_ >> 6] | m) : (v.w[i_ >> 6] & ~m);
    normalize<Owner::width, Owner::sign>(v);
  }
  Owner& o_;
  int i_;
};

// Bits [lsb, lsb + WS) of v as a WS-bit value of signedness S.
template <int WS, bool S, int N>
FPGAQ_AC_INLINE wint<words(WS + !S)> slice(const wint<N>& v, int lsb) {
  const wint<N> t = lsb >= 0 ? sar(v, lsb < 64 * N ? lsb : 64 * N) : shl(v, -lsb < 64 * N ? -lsb : 64 * N);
  return wrap<WS, S, words(WS + !S)>(t);
}

// v with bits [lsb, lsb + W2) replaced by the low W2 bits of s, then kept to W bits.
template <int W, bool S, int W2, int N, int N2>
FPGAQ_AC_INLINE void deposit(wint<N>& v, int lsb, const wint<N2>& s) {
  if (lsb < 0 || lsb >= W) return;
  const wint<N> mask = shl(low_mask<N>(imin(W2, 64 * N)), lsb);
  const wint<N> src = shl(ext<N>(s), lsb);
  v = bor(band(v, bnot(mask)), band(src, mask));
  normalize<W, S>(v);
}

}  // namespace fpgaq_ac

// ===================================================================== ac_int
template <int W, bool S>
class ac_int {
  static_assert(W >= 1, "ac_int: the width W must be at least 1");

 public:
  static constexpr int width = W;
  static constexpr int i_width = W;
  static constexpr bool sign = S;
  static constexpr int N = fpgaq_ac::words(W + !S);

  template <int W2, bool S2>
  struct rt {
    typedef typename fpgaq_ac::binop<ac_int, ac_int<W2, S2>>::plus plus;
    typedef typename fpgaq_ac::binop<ac_int, ac_int<W2, S2>>::minus minus;
    typedef typename fpgaq_ac::binop<ac_int, ac_int<W2, S2>>::mult mult;
    typedef typename fpgaq_ac::binop<ac_int, ac_int<W2, S2>>::logic logic;
  };

  FPGAQ_AC_INLINE constexpr ac_int() : v{} {}
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_int(const ac_int<W2, S2>& o) : v(fpgaq_ac::wrap<W, S, N>(o.v)) {}
  template <class T, std::enable_if_t<std::is_integral<T>::value, int> = 0>
  FPGAQ_AC_INLINE constexpr ac_int(T x) : v(fpgaq_ac::wrap<W, S, N>(fpgaq_ac::traits<T>::raw(x))) {}
  // Truncates toward zero like a C cast, then wraps to W bits.
  constexpr ac_int(double d) : v(fpgaq_ac::from_double<W, 0, S, AC_TRN_ZERO, AC_WRAP, N>(d)) {}
  constexpr ac_int(float f) : ac_int(static_cast<double>(f)) {}

  static constexpr int length() { return W; }

  FPGAQ_AC_INLINE int to_int() const { return static_cast<int>(v.w[0]); }
  FPGAQ_AC_INLINE unsigned to_uint() const { return static_cast<unsigned>(v.w[0]); }
  FPGAQ_AC_INLINE long to_long() const { return static_cast<long>(v.w[0]); }
  FPGAQ_AC_INLINE unsigned long to_ulong() const { return static_cast<unsigned long>(v.w[0]); }
  FPGAQ_AC_INLINE long long to_int64() const { return static_cast<long long>(v.w[0]); }
  FPGAQ_AC_INLINE unsigned long long to_uint64() const { return v.w[0]; }
  inline double to_double() const { return fpgaq_ac::to_double(v, 0); }
  template <class Str = std::string>
  inline Str to_string() const {
    return fpgaq_ac::to_dec<Str>(v);
  }

  // Bit access: indices past W read the sign extension; writes there are ignored.
  FPGAQ_AC_INLINE fpgaq_ac::bitref<ac_int> operator[](int i) { return fpgaq_ac::bitref<ac_int>(*this, i); }
  FPGAQ_AC_INLINE bool operator[](int i) const {
    return i >= 0 && fpgaq_ac::bit(v, i < 64 * N ? i : 64 * N);
  }

  template <int WS>
  FPGAQ_AC_INLINE ac_int<WS, S> slc(int lsb) const {
    ac_int<WS, S> r;
    r.v = fpgaq_ac::slice<WS, S>(v, lsb);
    return r;
  }
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_int& set_slc(int lsb, const ac_int<W2, S2>& s) {
    fpgaq_ac::deposit<W, S, W2>(v, lsb, s.v);
    return *this;
  }

  template <ac_special_val V>
  inline ac_int& set_val() {
    if constexpr (V == AC_VAL_MAX) {
      v = fpgaq_ac::max_code<W, S, N>();
    } else if constexpr (V == AC_VAL_MIN) {
      v = fpgaq_ac::min_code<W, S, N>();
    } else if constexpr (V == AC_VAL_QUANTUM) {
      v = fpgaq_ac::from_i64<N>(1);
    } else {
      v = fpgaq_ac::wint<N>{};
    }
    return *this;
  }

  // Shifts keep the type (bits leave at the top); a negative amount shifts the other way.
  FPGAQ_AC_INLINE ac_int operator<<(int k) const {
    ac_int r;
    r.v = fpgaq_ac::shift_bits<W, S>(v, k);
    return r;
  }
  FPGAQ_AC_INLINE ac_int operator>>(int k) const {
    ac_int r;
    r.v = fpgaq_ac::shift_bits<W, S>(v, fpgaq_ac::flip_shift(k));
    return r;
  }
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_int operator<<(const ac_int<W2, S2>& k) const {
    return *this << fpgaq_ac::shift_amount(k);
  }
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_int operator>>(const ac_int<W2, S2>& k) const {
    return *this >> fpgaq_ac::shift_amount(k);
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator<<=(const T& k) {
    return *this = *this << k;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator>>=(const T& k) {
    return *this = *this >> k;
  }

  FPGAQ_AC_INLINE ac_int<W + 1, true> operator-() const {
    ac_int<W + 1, true> r;
    r.v = fpgaq_ac::neg(fpgaq_ac::ext<ac_int<W + 1, true>::N>(v));
    return r;
  }
  FPGAQ_AC_INLINE ac_int operator+() const { return *this; }
  FPGAQ_AC_INLINE ac_int<W + !S, true> operator~() const {
    ac_int<W + !S, true> r;
    r.v = fpgaq_ac::bnot(fpgaq_ac::ext<ac_int<W + !S, true>::N>(v));
    return r;
  }
  FPGAQ_AC_INLINE bool operator!() const { return fpgaq_ac::is_zero(v); }

  template <class T>
  FPGAQ_AC_INLINE ac_int& operator+=(const T& b) {
    return *this = *this + b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator-=(const T& b) {
    return *this = *this - b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator*=(const T& b) {
    return *this = *this * b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator&=(const T& b) {
    return *this = *this & b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator|=(const T& b) {
    return *this = *this | b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_int& operator^=(const T& b) {
    return *this = *this ^ b;
  }
  FPGAQ_AC_INLINE ac_int& operator++() { return *this += 1; }
  FPGAQ_AC_INLINE ac_int& operator--() { return *this -= 1; }
  FPGAQ_AC_INLINE ac_int operator++(int) {
    const ac_int t = *this;
    *this += 1;
    return t;
  }
  FPGAQ_AC_INLINE ac_int operator--(int) {
    const ac_int t = *this;
    *this -= 1;
    return t;
  }

 private:
  fpgaq_ac::wint<N> v;
  friend struct fpgaq_ac::access;
  template <int, bool>
  friend class ac_int;
  template <int, int, bool, ac_q_mode, ac_o_mode>
  friend class ac_fixed;
};

namespace fpgaq_ac {
template <int W2, bool S2>
FPGAQ_AC_INLINE int shift_amount(const ac_int<W2, S2>& k) {
  if (less(kShiftClamp, k)) return kShiftClamp;
  if (less(k, -kShiftClamp)) return -kShiftClamp;
  return static_cast<int>(k.to_int64());
}
}  // namespace fpgaq_ac

// ============================================ operators shared by both types
// Any mix of ac_int, ac_fixed and native integers; the result is an ac_fixed
// when either operand is one, else an ac_int.

template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE typename fpgaq_ac::binop<A, B>::plus operator+(const A& a, const B& b) {
  typedef fpgaq_ac::binop<A, B> op;
  typename op::plus r;
  constexpr int NR = op::plus::N;
  fpgaq_ac::access::get(r) = fpgaq_ac::add(fpgaq_ac::aligned<NR, op::F>(a), fpgaq_ac::aligned<NR, op::F>(b));
  return r;
}

template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE typename fpgaq_ac::binop<A, B>::minus operator-(const A& a, const B& b) {
  typedef fpgaq_ac::binop<A, B> op;
  typename op::minus r;
  constexpr int NR = op::minus::N;
  fpgaq_ac::access::get(r) = fpgaq_ac::sub(fpgaq_ac::aligned<NR, op::F>(a), fpgaq_ac::aligned<NR, op::F>(b));
  return r;
}

template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE typename fpgaq_ac::binop<A, B>::mult operator*(const A& a, const B& b) {
  typedef fpgaq_ac::binop<A, B> op;
  typename op::mult r;
  fpgaq_ac::access::get(r) = fpgaq_ac::mul<op::mult::N>(fpgaq_ac::access::raw(a), fpgaq_ac::access::raw(b));
  return r;
}

template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE bool operator==(const A& a, const B& b) {
  return fpgaq_ac::equal(a, b);
}
template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE bool operator!=(const A& a, const B& b) {
  return !fpgaq_ac::equal(a, b);
}
template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE bool operator<(const A& a, const B& b) {
  return fpgaq_ac::less(a, b);
}
template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE bool operator>(const A& a, const B& b) {
  return fpgaq_ac::less(b, a);
}
template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE bool operator<=(const A& a, const B& b) {
  return !fpgaq_ac::less(b, a);
}
template <class A, class B, std::enable_if_t<fpgaq_ac::ok_pair<A, B>, int> = 0>
FPGAQ_AC_INLINE bool operator>=(const A& a, const B& b) {
  return !fpgaq_ac::less(a, b);
}

// Bitwise operators: ac_int (with native integers) only.
namespace fpgaq_ac {
template <class A, class B, bool = ok_pair<A, B>>
struct int_pair : std::false_type {};
template <class A, class B>
struct int_pair<A, B, true> : std::integral_constant<bool, binop<A, B>::kind == 2> {};
}  // namespace fpgaq_ac

template <class A, class B, std::enable_if_t<fpgaq_ac::int_pair<A, B>::value, int> = 0>
FPGAQ_AC_INLINE typename fpgaq_ac::binop<A, B>::logic operator&(const A& a, const B& b) {
  typedef typename fpgaq_ac::binop<A, B>::logic R;
  R r;
  fpgaq_ac::access::get(r) = fpgaq_ac::band(fpgaq_ac::aligned<R::N, 0>(a), fpgaq_ac::aligned<R::N, 0>(b));
  return r;
}
template <class A, class B, std::enable_if_t<fpgaq_ac::int_pair<A, B>::value, int> = 0>
FPGAQ_AC_INLINE typename fpgaq_ac::binop<A, B>::logic operator|(const A& a, const B& b) {
  typedef typename fpgaq_ac::binop<A, B>::logic R;
  R r;
  fpgaq_ac::access::get(r) = fpgaq_ac::bor(fpgaq_ac::aligned<R::N, 0>(a), fpgaq_ac::aligned<R::N, 0>(b));
  return r;
}
template <class A, class B, std::enable_if_t<fpgaq_ac::int_pair<A, B>::value, int> = 0>
FPGAQ_AC_INLINE typename fpgaq_ac::binop<A, B>::logic operator^(const A& a, const B& b) {
  typedef typename fpgaq_ac::binop<A, B>::logic R;
  R r;
  fpgaq_ac::access::get(r) = fpgaq_ac::bxor(fpgaq_ac::aligned<R::N, 0>(a), fpgaq_ac::aligned<R::N, 0>(b));
  return r;
}

template <class C, class T, int W, bool S>
inline std::basic_ostream<C, T>& operator<<(std::basic_ostream<C, T>& os, const ac_int<W, S>& x) {
  return os << x.to_string();
}

#endif  // FPGAQ_AC_INT_H
