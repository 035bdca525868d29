// fpgaq extensions: raw mantissa access for test benches and the ctypes wrapper.
//
// Real ac_fixed has no "set/get the mantissa" call, so these free functions are
// written only with the standard slc / set_slc / to_int64 / to_uint64 API and
// work unchanged with fpgaq's own headers and with the real Algorithmic C
// headers (AC_TYPES_DIR).  The mantissa is the W-bit two's complement (S) or
// unsigned (!S) integer whose value times 2**-(W - I) is the number.
#ifndef FPGAQ_BITS_H
#define FPGAQ_BITS_H

#include "ac_fixed.h"

// Set the mantissa from a 64-bit integer: its low W bits, sign-extended when W > 64.
template <int W, int I, bool S, ac_q_mode Q, ac_o_mode O>
inline void fpgaq_set_bits(ac_fixed<W, I, S, Q, O>& x, long long m) {
  const ac_int<W, true> bits = m;
  x.set_slc(0, bits);
}

template <int W, bool S>
inline void fpgaq_set_bits(ac_int<W, S>& x, long long m) {
  const ac_int<W, true> bits = m;
  x.set_slc(0, bits);
}

// The mantissa as a 64-bit integer (sign-extended when signed; its low 64 bits when W > 64).
template <int W, int I, bool S, ac_q_mode Q, ac_o_mode O>
inline long long fpgaq_get_bits(const ac_fixed<W, I, S, Q, O>& x) {
  return x.template slc<W>(0).to_int64();
}

template <int W, bool S>
inline long long fpgaq_get_bits(const ac_int<W, S>& x) {
  return x.template slc<W>(0).to_int64();
}

// Any width: the W mantissa bits as ceil(W / 64) words, least significant first;
// bits past W in the last word read as zero on get and are ignored on set.
template <int K, class T>
inline void fpgaq_set_bits_words_from(T& x, const unsigned long long* words) {
  constexpr int W = T::width;
  if constexpr (64 * K < W) {
    constexpr int C = W - 64 * K < 64 ? W - 64 * K : 64;
    const ac_int<C, false> chunk = words[K];
    x.set_slc(64 * K, chunk);
    fpgaq_set_bits_words_from<K + 1>(x, words);
  }
}

template <int K, class T>
inline void fpgaq_get_bits_words_from(const T& x, unsigned long long* words) {
  constexpr int W = T::width;
  if constexpr (64 * K < W) {
    constexpr int C = W - 64 * K < 64 ? W - 64 * K : 64;
    const ac_int<C, false> chunk = x.template slc<C>(64 * K);
    words[K] = chunk.to_uint64();
    fpgaq_get_bits_words_from<K + 1>(x, words);
  }
}

template <class T>
inline void fpgaq_set_bits_words(T& x, const unsigned long long* words) {
  fpgaq_set_bits_words_from<0>(x, words);
}

template <class T>
inline void fpgaq_get_bits_words(const T& x, unsigned long long* words) {
  fpgaq_get_bits_words_from<0>(x, words);
}

#endif  // FPGAQ_BITS_H
