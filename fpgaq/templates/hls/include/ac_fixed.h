// fpgaq's own implementation of the Algorithmic C fixed-point type
// ac_fixed<W, I, S, Q, O>.
//
// Written for fpgaq from the documented semantics of the Algorithmic C
// datatypes (it shares no code with the Siemens/Mentor headers); it is what
// fpgaq's C-simulation compiles against unless AC_TYPES_DIR points at the real
// headers.  The numeric meaning is exactly that of fpgaq.fixed.FixedType:
//
//   value = mantissa * 2**-(W - I), the mantissa a W-bit two's complement
//   (S) or unsigned (!S) integer; I may be negative or larger than W.
//
// Assignment from another type aligns the binary points, rounds the dropped
// bits by the target's Q, then fits the target's W bits by its O (AC_SAT_SYM
// never yields the most negative code).  Arithmetic never loses a bit: the
// result types of +, -, * and unary - hold the exact result, and only the
// assignment into a declared type rounds and saturates.
//
// Shifts follow the documented ac_fixed rule: x << k and x >> k have the
// type ac_fixed<W, I, S> (the operand's format, default modes), the bits move
// and fall off either end (>> is arithmetic, i.e. rounds toward minus
// infinity), no rounding or saturation mode is applied, and a negative k
// shifts the other way.  <<= and >>= do the same in place.
//
// The subset implemented is listed in README.md next to this file.
#ifndef FPGAQ_AC_FIXED_H
#define FPGAQ_AC_FIXED_H

#include "ac_int.h"

namespace fpgaq_ac {
template <int W_, int I_, bool S_, ac_q_mode Q_, ac_o_mode O_>
struct traits<ac_fixed<W_, I_, S_, Q_, O_>, void> {
  static constexpr int kind = 3;
  static constexpr int W = W_, I = I_;
  static constexpr bool S = S_;
  static constexpr int N = words(W + !S);
  static FPGAQ_AC_INLINE const wint<N>& raw(const ac_fixed<W_, I_, S_, Q_, O_>& x) { return access::get(x); }
};
}  // namespace fpgaq_ac

template <int W, int I, bool S, ac_q_mode Q, ac_o_mode O>
class ac_fixed {
  static_assert(W >= 1, "ac_fixed: the width W must be at least 1");
  static constexpr int F = W - I;  // fractional bits; negative when the lsb weighs more than 1

 public:
  static constexpr int width = W;
  static constexpr int i_width = I;
  static constexpr bool sign = S;
  static constexpr ac_q_mode q_mode = Q;
  static constexpr ac_o_mode o_mode = O;
  static constexpr int e_width = 0;
  static constexpr int N = fpgaq_ac::words(W + !S);

  template <int W2, int I2, bool S2>
  struct rt {
    typedef fpgaq_ac::binop<ac_fixed, ac_fixed<W2, I2, S2>> op;
    typedef typename op::plus plus;
    typedef typename op::minus minus;
    typedef typename op::mult mult;
  };
  struct rt_unary {
    typedef ac_fixed<W + 1, I + 1, true> neg;
  };

  // Zero (the real type leaves a default-constructed value undefined).
  FPGAQ_AC_INLINE constexpr ac_fixed() : v{} {}
  template <int W2, int I2, bool S2, ac_q_mode Q2, ac_o_mode O2>
  FPGAQ_AC_INLINE ac_fixed(const ac_fixed<W2, I2, S2, Q2, O2>& o)
      : v(fpgaq_ac::cast<W, F, S, Q, O, W2, W2 - I2, S2, N>(o.v)) {}
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_fixed(const ac_int<W2, S2>& o) : v(fpgaq_ac::cast<W, F, S, Q, O, W2, 0, S2, N>(o.v)) {}
  template <class T, std::enable_if_t<std::is_integral<T>::value, int> = 0>
  FPGAQ_AC_INLINE constexpr ac_fixed(T x)
      : v(fpgaq_ac::cast<W, F, S, Q, O, fpgaq_ac::traits<T>::W, 0, fpgaq_ac::traits<T>::S, N>(
            fpgaq_ac::traits<T>::raw(x))) {}
  // Exact for every finite double: Q rounds and O saturates as for any source.
  constexpr ac_fixed(double d) : v(fpgaq_ac::from_double<W, F, S, Q, O, N>(d)) {}
  constexpr ac_fixed(float f) : ac_fixed(static_cast<double>(f)) {}

  static constexpr int length() { return W; }

  // Exact when the mantissa has at most 53 significant bits.
  inline double to_double() const { return fpgaq_ac::to_double(v, -F); }
  inline float to_float() const { return static_cast<float>(to_double()); }

  // The integer part, floor(value), as ac_int<max(I, 1), S>.
  FPGAQ_AC_INLINE ac_int<fpgaq_ac::imax(I, 1), S> to_ac_int() const {
    constexpr int WI = fpgaq_ac::imax(I, 1);
    ac_int<WI, S> r;
    r.v = fpgaq_ac::cast<WI, 0, S, AC_TRN, AC_WRAP, W, F, S, ac_int<WI, S>::N>(v);
    return r;
  }
  // floor(value), then its low 32 or 64 bits, as the real to_int() family does.
  FPGAQ_AC_INLINE int to_int() const { return to_ac_int().to_int(); }
  FPGAQ_AC_INLINE unsigned to_uint() const { return to_ac_int().to_uint(); }
  FPGAQ_AC_INLINE long to_long() const { return to_ac_int().to_long(); }
  FPGAQ_AC_INLINE unsigned long to_ulong() const { return to_ac_int().to_ulong(); }
  FPGAQ_AC_INLINE long long to_int64() const { return to_ac_int().to_int64(); }
  FPGAQ_AC_INLINE unsigned long long to_uint64() const { return to_ac_int().to_uint64(); }

  // Bits of the mantissa: indices past W read the sign extension; writes there are ignored.
  FPGAQ_AC_INLINE fpgaq_ac::bitref<ac_fixed> operator[](int i) { return fpgaq_ac::bitref<ac_fixed>(*this, i); }
  FPGAQ_AC_INLINE bool operator[](int i) const {
    return i >= 0 && fpgaq_ac::bit(v, i < 64 * N ? i : 64 * N);
  }

  // Mantissa bits [lsb, lsb + WS) as an integer.
  template <int WS>
  FPGAQ_AC_INLINE ac_int<WS, S> slc(int lsb) const {
    ac_int<WS, S> r;
    r.v = fpgaq_ac::slice<WS, S>(v, lsb);
    return r;
  }
  // Replace mantissa bits [lsb, lsb + W2) with the bits of s.
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_fixed& set_slc(int lsb, const ac_int<W2, S2>& s) {
    fpgaq_ac::deposit<W, S, W2>(v, lsb, s.v);
    return *this;
  }
  template <int W2, int I2, bool S2, ac_q_mode Q2, ac_o_mode O2>
  FPGAQ_AC_INLINE ac_fixed& set_slc(int lsb, const ac_fixed<W2, I2, S2, Q2, O2>& s) {
    fpgaq_ac::deposit<W, S, W2>(v, lsb, s.v);
    return *this;
  }

  // AC_VAL_MIN of a signed AC_SAT_SYM type is -max, the least value its assignments produce.
  template <ac_special_val V>
  inline ac_fixed& set_val() {
    if constexpr (V == AC_VAL_MAX) {
      v = fpgaq_ac::max_code<W, S, N>();
    } else if constexpr (V == AC_VAL_MIN) {
      if constexpr (S && O == AC_SAT_SYM) {
        v = fpgaq_ac::sym_min_code<W, N>();
      } else {
        v = fpgaq_ac::min_code<W, S, N>();
      }
    } else if constexpr (V == AC_VAL_QUANTUM) {
      v = fpgaq_ac::wrap<W, S, N>(fpgaq_ac::from_i64<N>(1));
    } else {
      v = fpgaq_ac::wint<N>{};
    }
    return *this;
  }

  FPGAQ_AC_INLINE ac_fixed<W, I, S> operator<<(int k) const {
    ac_fixed<W, I, S> r;
    r.v = fpgaq_ac::shift_bits<W, S>(v, k);
    return r;
  }
  FPGAQ_AC_INLINE ac_fixed<W, I, S> operator>>(int k) const {
    ac_fixed<W, I, S> r;
    r.v = fpgaq_ac::shift_bits<W, S>(v, fpgaq_ac::flip_shift(k));
    return r;
  }
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_fixed<W, I, S> operator<<(const ac_int<W2, S2>& k) const {
    return *this << fpgaq_ac::shift_amount(k);
  }
  template <int W2, bool S2>
  FPGAQ_AC_INLINE ac_fixed<W, I, S> operator>>(const ac_int<W2, S2>& k) const {
    return *this >> fpgaq_ac::shift_amount(k);
  }
  template <class T>
  FPGAQ_AC_INLINE ac_fixed& operator<<=(const T& k) {
    v = (*this << k).v;
    return *this;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_fixed& operator>>=(const T& k) {
    v = (*this >> k).v;
    return *this;
  }

  FPGAQ_AC_INLINE ac_fixed<W + 1, I + 1, true> operator-() const {
    ac_fixed<W + 1, I + 1, true> r;
    r.v = fpgaq_ac::neg(fpgaq_ac::ext<ac_fixed<W + 1, I + 1, true>::N>(v));
    return r;
  }
  FPGAQ_AC_INLINE ac_fixed operator+() const { return *this; }
  FPGAQ_AC_INLINE bool operator!() const { return fpgaq_ac::is_zero(v); }

  // Compound assignment: the exact result assigned back with this type's Q and O.
  template <class T>
  FPGAQ_AC_INLINE ac_fixed& operator+=(const T& b) {
    return *this = *this + b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_fixed& operator-=(const T& b) {
    return *this = *this - b;
  }
  template <class T>
  FPGAQ_AC_INLINE ac_fixed& operator*=(const T& b) {
    return *this = *this * b;
  }

 private:
  fpgaq_ac::wint<N> v;
  friend struct fpgaq_ac::access;
  template <int, bool>
  friend class ac_int;
  template <int, int, bool, ac_q_mode, ac_o_mode>
  friend class ac_fixed;
};

template <class C, class T, int W, int I, bool S, ac_q_mode Q, ac_o_mode O>
inline std::basic_ostream<C, T>& operator<<(std::basic_ostream<C, T>& os, const ac_fixed<W, I, S, Q, O>& x) {
  return os << x.to_double();
}

#endif  // FPGAQ_AC_FIXED_H
