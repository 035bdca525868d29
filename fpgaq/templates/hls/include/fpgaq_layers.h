// fpgaq layer kernels: io_parallel (arrays in, arrays out) and io_stream (streams of pixels).
//
// Every kernel is a template over a config struct that the generated
// firmware/parameters.h defines per layer.  The kernels make no numeric
// decision of their own: each type they compute in is a typedef that fpgaq's
// typed IR chose (tensor types, exact and declared accumulators, table types),
// every assignment between two of those types rounds and overflows as the
// destination type says, and every intermediate expression is exact
// (ac_fixed / ap_fixed arithmetic keeps full precision).  That is what makes
// the C++ compute exactly what fpgaq.reference computes.
//
// The same header serves both flavors: ac_fixed (Catapult, and the default
// C-simulation) and ap_fixed (Vitis HLS, with FPGAQ_AP_TYPES defined).
#ifndef FPGAQ_LAYERS_H
#define FPGAQ_LAYERS_H

#ifdef FPGAQ_AP_TYPES
// The Vitis headers trip g++'s uninitialized-value analysis; that is theirs, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_fixed.h>
#include <ap_int.h>
#pragma GCC diagnostic pop
#else
#include <ac_fixed.h>
#include <ac_int.h>
#include "fpgaq_bits.h"
#endif

// How firmware/weights/ declares a constant table (weights, lookup tables).
// fpgaq's own ac_fixed is constexpr-constructible from a double, so there the
// table is constant data that g++ reads in milliseconds; a const table of a
// class type is instead built by start-up code (one constructor call per
// value) that g++ spends seconds optimising.  The real ac_types and ap_types
// headers are not constexpr, so they keep the const table.
#ifdef FPGAQ_AC_TYPES
#define FPGAQ_CONST_TABLE constexpr
#else
#define FPGAQ_CONST_TABLE const
#endif

// Tool pragmas only reach HLS tools (which define __SYNTHESIS__, or FPGAQ_SYNTH from
// build_prj.tcl): g++ -Wall would warn about pragmas it does not know.  Catapult
// wants loop pragmas before the loop, Vitis inside its body, hence two macros each.
#if defined(FPGAQ_SYNTH) || defined(__SYNTHESIS__)
#define FPGAQ_PRAGMA(x) _Pragma(#x)
#else
#define FPGAQ_PRAGMA(x)
#endif
#ifdef FPGAQ_AP_TYPES
#define FPGAQ_UNROLL_PRE
#define FPGAQ_UNROLL_IN FPGAQ_PRAGMA(HLS UNROLL)
#define FPGAQ_PIPELINE_PRE
#define FPGAQ_PIPELINE_IN FPGAQ_PRAGMA(HLS PIPELINE II = 1)
#define FPGAQ_INLINE FPGAQ_PRAGMA(HLS INLINE)
#else
#define FPGAQ_UNROLL_PRE FPGAQ_PRAGMA(hls_unroll yes)
#define FPGAQ_UNROLL_IN
#define FPGAQ_PIPELINE_PRE FPGAQ_PRAGMA(hls_pipeline_init_interval 1)
#define FPGAQ_PIPELINE_IN
#define FPGAQ_INLINE
#endif

namespace fpgaq {

// ----------------------------------------------------------------- portability
// fixed_of<W, I, S>::type is the plain (truncating, wrapping) fixed type of either
// flavor; copy_bits reinterprets a mantissa under another binary point;
// mantissa / set_mantissa move mantissas in and out as 64-bit integers.
#ifdef FPGAQ_AP_TYPES
template <int W, int I, bool S>
struct fixed_of {
  typedef ap_fixed<W, I> type;
};
template <int W, int I>
struct fixed_of<W, I, false> {
  typedef ap_ufixed<W, I> type;
};
template <class To, class From>
inline void copy_bits(To& to, const From& from) {
  to.range() = from.range();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline long long mantissa(const ap_fixed<W, I, Q, O, N>& x) {
  ap_int<W> m;
  m.range() = x.range();
  return (long long)m.to_int64();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline long long mantissa(const ap_ufixed<W, I, Q, O, N>& x) {
  ap_uint<W> m;
  m.range() = x.range();
  return (long long)m.to_uint64();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void set_mantissa(ap_fixed<W, I, Q, O, N>& x, long long v) {
  ap_int<W> m = v;
  x.range() = m.range();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void set_mantissa(ap_ufixed<W, I, Q, O, N>& x, long long v) {
  ap_uint<W> m = v;
  x.range() = m.range();
}
#else
template <int W, int I, bool S>
struct fixed_of {
  typedef ac_fixed<W, I, S> type;
};
template <int W, int I1, bool S1, ac_q_mode Q1, ac_o_mode O1, int I2, bool S2, ac_q_mode Q2, ac_o_mode O2>
inline void copy_bits(ac_fixed<W, I1, S1, Q1, O1>& to, const ac_fixed<W, I2, S2, Q2, O2>& from) {
  to.set_slc(0, from.template slc<W>(0));
}
template <class T>
inline long long mantissa(const T& x) {
  return fpgaq_get_bits(x);
}
template <class T>
inline void set_mantissa(T& x, long long v) {
  fpgaq_set_bits(x, v);
}
#endif

// ----------------------------------------------------------------- exact helpers
// floor(a / b) for b > 0, on integers.
inline long long floor_div(long long a, long long b) {
  long long q = a / b;
  if ((a % b != 0) && (a < 0)) q -= 1;
  return q;
}

// y <- (num / den) * 2**-F for integers num, den > 0, with y's own rounding and overflow
// (FOUT is y's number of fraction bits).  In units of y's lsb the quotient is
// q = num * 2**(FOUT - F) / den; it is replaced by g/2 + sticky/4, with g = floor(2q) and
// sticky = (2q is inexact): a binary fraction in the same half-open half-unit interval
// as q, so every rounding mode (which only looks at the floor, at "exactly a half", at
// "above a half" and at the sign) and every overflow mode give the same result.
template <int F, int FOUT, class Out>
inline void assign_quotient(Out& y, long long num, long long den) {
  const int up = FOUT >= F ? FOUT - F : 0;
  const int down = FOUT >= F ? 0 : F - FOUT;
  num *= (1LL << up);
  den *= (1LL << down);
  long long g = floor_div(2 * num, den);
  long long sticky = (2 * num - g * den) != 0 ? 1 : 0;
  typename fixed_of<64, 64 - (FOUT + 2), true>::type t;
  set_mantissa(t, 2 * g + sticky);
  y = t;
}

// y <- v * 2**(-(FR + p)) read from v's mantissa, for a run-time p in [P, PMAX]
// (softmax's normalisation): one compile-time reinterpretation per possible p.
template <class Out, class V, int VW, bool VS, int FR, int P, int PMAX>
struct scale_pow2 {
  static void apply(int p, const V& v, Out& y) {
    if (p == P) {
      typename fixed_of<VW, VW - (FR + P), VS>::type t;
      copy_bits(t, v);
      y = t;
    } else {
      scale_pow2<Out, V, VW, VS, FR, P + 1, PMAX>::apply(p, v, y);
    }
  }
};
template <class Out, class V, int VW, bool VS, int FR, int PMAX>
struct scale_pow2<Out, V, VW, VS, FR, PMAX, PMAX> {
  static void apply(int, const V& v, Out& y) {
    typename fixed_of<VW, VW - (FR + PMAX), VS>::type t;
    copy_bits(t, v);
    y = t;
  }
};

// ----------------------------------------------------------------- activations
// Each is a struct with apply(in) -> out; linear layers carry one for a fused activation.
template <class In, class Out>
struct act_linear {
  typedef In in_t;
  typedef Out out_t;
  static Out apply(const In& x) {
    Out y = x;
    return y;
  }
};

template <class In, class Out>
struct act_relu {
  typedef In in_t;
  typedef Out out_t;
  static Out apply(const In& x) {
    In zero = 0;
    Out y = (x > zero) ? x : zero;
    return y;
  }
};

// quantized_relu with a power-of-two negative slope 2**-s: the positive part cast into Pos,
// the negative part read as x * 2**-s (Shifted: x's mantissa with s more fraction bits)
// and cast into Neg, each then into Out.
template <class In, class Out, class Pos, class Neg, class Shifted>
struct act_leaky_relu {
  typedef In in_t;
  typedef Out out_t;
  static Out apply(const In& x) {
    In zero = 0;
    Out y;
    if (x >= zero) {
      Pos p = x;
      y = p;
    } else {
      Shifted s;
      copy_bits(s, x);
      Neg n = s;
      y = n;
    }
    return y;
  }
};

// clip(x / 2 + 1/2, 0, 1), exact, then cast.
template <class In, class Out>
struct act_hard_sigmoid {
  typedef In in_t;
  typedef Out out_t;
  static Out apply(const In& x) {
    typename fixed_of<1, 0, false>::type half;
    set_mantissa(half, 1);
    typename fixed_of<2, 2, false>::type one;
    set_mantissa(one, 1);
    typename fixed_of<1, 1, false>::type zero;
    set_mantissa(zero, 0);
    Out y;
    if (x * half + half < zero) {
      y = zero;
    } else if (x * half + half > one) {
      y = one;
    } else {
      y = x * half + half;
    }
    return y;
  }
};

// clip(x, -1, 1), then cast.
template <class In, class Out>
struct act_hard_tanh {
  typedef In in_t;
  typedef Out out_t;
  static Out apply(const In& x) {
    typename fixed_of<2, 2, true>::type one, minus_one;
    set_mantissa(one, 1);
    set_mantissa(minus_one, -1);
    Out y;
    if (x < minus_one) {
      y = minus_one;
    } else if (x > one) {
      y = one;
    } else {
      y = x;
    }
    return y;
  }
};

// ----------------------------------------------------------------- linear layers
// out[j] = act(pre_t(accum_t(bias[j] + sum_i x[i] * w[i * n_out + j]))).
// The sum runs in exact_t, which holds every partial sum (fpgaq sizes it from the
// weights), so the order of additions and the reuse factor cannot change it.
template <class CFG>
inline typename CFG::out_t finish(const typename CFG::exact_t& acc) {
  typename CFG::accum_t a = acc;
  typename CFG::pre_t pre = a;
  return CFG::activation::apply(pre);
}

// Fully parallel (Latency): every product in one step.
template <class CFG>
void matvec_latency(const typename CFG::in_t x[CFG::n_in], typename CFG::out_t y[CFG::n_out],
                    const typename CFG::weight_t w[CFG::n_in * CFG::n_out], const typename CFG::bias_t b[CFG::n_out]) {
  FPGAQ_INLINE
  typename CFG::exact_t acc[CFG::n_out];
  FPGAQ_UNROLL_PRE
  for (int j = 0; j < CFG::n_out; j++) {
    FPGAQ_UNROLL_IN
    acc[j] = b[j];
  }
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_in; i++) {
    FPGAQ_UNROLL_IN
    FPGAQ_UNROLL_PRE
    for (int j = 0; j < CFG::n_out; j++) {
      FPGAQ_UNROLL_IN
      acc[j] += x[i] * w[i * CFG::n_out + j];
    }
  }
  FPGAQ_UNROLL_PRE
  for (int j = 0; j < CFG::n_out; j++) {
    FPGAQ_UNROLL_IN
    y[j] = finish<CFG>(acc[j]);
  }
}

// Folded (Resource): reuse_factor steps, each doing n_in * n_out / reuse_factor products
// (weights taken in storage order, as a BRAM would deliver them).
template <class CFG>
void matvec_resource(const typename CFG::in_t x[CFG::n_in], typename CFG::out_t y[CFG::n_out],
                     const typename CFG::weight_t w[CFG::n_in * CFG::n_out], const typename CFG::bias_t b[CFG::n_out]) {
  FPGAQ_INLINE
  const int n_weights = CFG::n_in * CFG::n_out;
  const int block = (n_weights + CFG::reuse_factor - 1) / CFG::reuse_factor;
  typename CFG::exact_t acc[CFG::n_out];
  FPGAQ_UNROLL_PRE
  for (int j = 0; j < CFG::n_out; j++) {
    FPGAQ_UNROLL_IN
    acc[j] = b[j];
  }
  FPGAQ_PIPELINE_PRE
  for (int r = 0; r < CFG::reuse_factor; r++) {
    FPGAQ_PIPELINE_IN
    FPGAQ_UNROLL_PRE
    for (int m = 0; m < block; m++) {
      FPGAQ_UNROLL_IN
      int k = r + m * CFG::reuse_factor;
      if (k < n_weights) {
        acc[k % CFG::n_out] += x[k / CFG::n_out] * w[k];
      }
    }
  }
  FPGAQ_UNROLL_PRE
  for (int j = 0; j < CFG::n_out; j++) {
    FPGAQ_UNROLL_IN
    y[j] = finish<CFG>(acc[j]);
  }
}

template <class CFG>
void matvec(const typename CFG::in_t x[CFG::n_in], typename CFG::out_t y[CFG::n_out],
            const typename CFG::weight_t w[CFG::n_in * CFG::n_out], const typename CFG::bias_t b[CFG::n_out]) {
  if (CFG::resource) {
    matvec_resource<CFG>(x, y, w, b);
  } else {
    matvec_latency<CFG>(x, y, w, b);
  }
}

// Dense over the last axis of an input of n_rows rows.
template <class CFG>
void dense(const typename CFG::in_t x[CFG::n_rows * CFG::n_in], typename CFG::out_t y[CFG::n_rows * CFG::n_out],
           const typename CFG::weight_t w[CFG::n_in * CFG::n_out], const typename CFG::bias_t b[CFG::n_out]) {
  for (int r = 0; r < CFG::n_rows; r++) {
    matvec<CFG>(&x[r * CFG::n_in], &y[r * CFG::n_out], w, b);
  }
}

// The receptive field of output pixel (oh, ow), zero outside the input (explicit padding).
// 1-D layers are 2-D layers of height 1.  Layout: (kh, kw, c), as Keras orders kernels.
template <class CFG>
void window(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan], int oh, int ow,
            typename CFG::in_t win[CFG::kern_h * CFG::kern_w * CFG::n_chan]) {
  FPGAQ_UNROLL_PRE
  for (int kh = 0; kh < CFG::kern_h; kh++) {
    FPGAQ_UNROLL_IN
    FPGAQ_UNROLL_PRE
    for (int kw = 0; kw < CFG::kern_w; kw++) {
      FPGAQ_UNROLL_IN
      int ih = oh * CFG::stride_h + kh * CFG::dilation_h - CFG::pad_top;
      int iw = ow * CFG::stride_w + kw * CFG::dilation_w - CFG::pad_left;
      bool inside = ih >= 0 && ih < CFG::in_h && iw >= 0 && iw < CFG::in_w;
      FPGAQ_UNROLL_PRE
      for (int c = 0; c < CFG::n_chan; c++) {
        FPGAQ_UNROLL_IN
        if (inside) {
          win[(kh * CFG::kern_w + kw) * CFG::n_chan + c] = x[(ih * CFG::in_w + iw) * CFG::n_chan + c];
        } else {
          win[(kh * CFG::kern_w + kw) * CFG::n_chan + c] = 0;
        }
      }
    }
  }
}

// Convolution: each output pixel is a matvec of its window (n_in = kh * kw * c) with the kernel.
template <class CFG>
void conv(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
          typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
          const typename CFG::weight_t w[CFG::n_in * CFG::n_out], const typename CFG::bias_t b[CFG::n_out]) {
  for (int oh = 0; oh < CFG::out_h; oh++) {
    for (int ow = 0; ow < CFG::out_w; ow++) {
      typename CFG::in_t win[CFG::n_in];
      window<CFG>(x, oh, ow, win);
      matvec<CFG>(win, &y[(oh * CFG::out_w + ow) * CFG::n_out], w, b);
    }
  }
}

// Depthwise convolution: output channel c * mult + m reads input channel c only.
template <class CFG>
void depthwise(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
               typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
               const typename CFG::weight_t w[CFG::kern_h * CFG::kern_w * CFG::n_out],
               const typename CFG::bias_t b[CFG::n_out]) {
  for (int oh = 0; oh < CFG::out_h; oh++) {
    for (int ow = 0; ow < CFG::out_w; ow++) {
      typename CFG::in_t win[CFG::kern_h * CFG::kern_w * CFG::n_chan];
      window<CFG>(x, oh, ow, win);
      FPGAQ_UNROLL_PRE
      for (int o = 0; o < CFG::n_out; o++) {
        FPGAQ_UNROLL_IN
        int c = o / CFG::mult;
        typename CFG::exact_t acc = b[o];
        FPGAQ_UNROLL_PRE
        for (int k = 0; k < CFG::kern_h * CFG::kern_w; k++) {
          FPGAQ_UNROLL_IN
          acc += win[k * CFG::n_chan + c] * w[k * CFG::n_out + o];
        }
        y[(oh * CFG::out_w + ow) * CFG::n_out + o] = finish<CFG>(acc);
      }
    }
  }
}

// Transposed convolution: input pixel (ih, iw) adds x * kernel[kh, kw] to output pixel
// (ih * stride + kh * dilation - offset); kernel layout (kh, kw, filters, channels).
template <class CFG>
void conv_transpose(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
                    typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
                    const typename CFG::weight_t w[CFG::kern_h * CFG::kern_w * CFG::n_out * CFG::n_chan],
                    const typename CFG::bias_t b[CFG::n_out]) {
  typename CFG::exact_t acc[CFG::out_h * CFG::out_w * CFG::n_out];
  for (int o = 0; o < CFG::out_h * CFG::out_w; o++) {
    for (int f = 0; f < CFG::n_out; f++) {
      acc[o * CFG::n_out + f] = b[f];
    }
  }
  for (int ih = 0; ih < CFG::in_h; ih++) {
    for (int iw = 0; iw < CFG::in_w; iw++) {
      for (int kh = 0; kh < CFG::kern_h; kh++) {
        for (int kw = 0; kw < CFG::kern_w; kw++) {
          int oh = ih * CFG::stride_h + kh * CFG::dilation_h - CFG::pad_top;
          int ow = iw * CFG::stride_w + kw * CFG::dilation_w - CFG::pad_left;
          if (oh < 0 || oh >= CFG::out_h || ow < 0 || ow >= CFG::out_w) continue;
          for (int f = 0; f < CFG::n_out; f++) {
            for (int c = 0; c < CFG::n_chan; c++) {
              acc[(oh * CFG::out_w + ow) * CFG::n_out + f] +=
                  x[(ih * CFG::in_w + iw) * CFG::n_chan + c] *
                  w[((kh * CFG::kern_w + kw) * CFG::n_out + f) * CFG::n_chan + c];
            }
          }
        }
      }
    }
  }
  for (int o = 0; o < CFG::out_h * CFG::out_w * CFG::n_out; o++) {
    y[o] = finish<CFG>(acc[o]);
  }
}

// Per-channel x * scale + shift (batch normalization that was not folded), exact, then cast.
template <class CFG>
void scale(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem],
           const typename CFG::scale_t s[CFG::n_chan], const typename CFG::shift_t b[CFG::n_chan]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    typename CFG::exact_t e = x[i] * s[i % CFG::n_chan] + b[i % CFG::n_chan];
    typename CFG::accum_t a = e;
    y[i] = a;
  }
}

// ----------------------------------------------------------------- element-wise
template <class CFG>
void activation(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    y[i] = CFG::activation::apply(x[i]);
  }
}

// sigmoid / tanh: i = clamp(floor(x * 2**k) + offset, 0, N - 1), y = table[i].
// index_t has k fraction bits, truncates (floor) and saturates beyond the table range.
template <class CFG>
void table_activation(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem],
                      const typename CFG::table_t table[CFG::table_size]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    typename CFG::index_t t = x[i];
    long long idx = mantissa(t) + CFG::offset;
    if (idx < 0) idx = 0;
    if (idx > CFG::table_size - 1) idx = CFG::table_size - 1;
    y[i] = table[idx];
  }
}

// Piecewise-linear functions: piece = number of thresholds below the input mantissa,
// y <- (x * a[piece] + b[piece]) / den[piece] * 2**-out_frac.
template <class CFG>
void piecewise(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem],
               const long long lower[CFG::n_pieces], const long long a[CFG::n_pieces],
               const long long b[CFG::n_pieces], const long long den[CFG::n_pieces]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    long long m = mantissa(x[i]);
    int piece = 0;
    for (int p = 1; p < CFG::n_pieces; p++) {
      if (m > lower[p]) piece = p;
    }
    assign_quotient<CFG::out_frac, CFG::out_frac>(y[i], m * a[piece] + b[piece], den[piece]);
  }
}

// Step functions (binary, ternary, power-of-two quantizers): y's mantissa is
// levels[number of thresholds <= x's mantissa].
template <class CFG>
void step(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem],
          const long long thresholds[CFG::n_thresholds + 1], const long long levels[CFG::n_thresholds + 1]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    long long m = mantissa(x[i]);
    int level = 0;
    for (int t = 0; t < CFG::n_thresholds; t++) {
      if (m >= thresholds[t]) level = t + 1;
    }
    set_mantissa(y[i], levels[level]);
  }
}

// Learned precision (fpgaq.reference.quantize_elements): element i is rounded at its own grid,
// shift[i] bits coarser than x's (half up with round_half, else floor; a negative shift is exact),
// then saturated to [lo[i], hi[i]] or wrapped into that whole range, and written up[i] bits finer,
// on y's binary point.  A constant-zero element has lo = hi = 0.
template <class CFG>
void quantize(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem],
              const long long shift[CFG::n_elem], const long long lo[CFG::n_elem],
              const long long hi[CFG::n_elem], const long long up[CFG::n_elem]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    long long m = mantissa(x[i]);
    long long k = shift[i];
    long long q;
    if (k > 0) {
      q = (CFG::round_half ? m + (1LL << (k - 1)) : m) >> k;
    } else {
      q = m * (1LL << -k);
    }
    if (CFG::wrap) {
      q = lo[i] + ((q - lo[i]) & (hi[i] - lo[i]));  // the range is a power of two: keep the low bits
    } else {
      q = q < lo[i] ? lo[i] : (q > hi[i] ? hi[i] : q);
    }
    set_mantissa(y[i], q * (1LL << up[i]));
  }
}

// Softmax over the last axis (see fpgaq.ir.ops.tables for the contract, step by step).
template <class CFG>
void softmax_row(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem],
                 const typename CFG::table_t exp_table[CFG::table_size],
                 const typename CFG::recip_t recip_table[CFG::table_size]) {
  typename CFG::in_t top = x[0];
  for (int i = 1; i < CFG::n_elem; i++) {
    if (x[i] > top) top = x[i];
  }
  typename CFG::table_t e[CFG::n_elem];
  typename CFG::exp_sum_t total = 0;
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    typename CFG::index_t j = top - x[i];  // rounds half up to the table step, saturates
    long long idx = mantissa(j);
    if (idx > CFG::table_size - 1) idx = CFG::table_size - 1;
    e[i] = exp_table[idx];
    total = total + e[i];
  }
  long long s = mantissa(total);
  int p = 0;
  for (int bit = 0; bit < CFG::exp_sum_width; bit++) {
    if ((s >> bit) & 1) p = bit;
  }
  long long lead = (p >= CFG::table_bits) ? (s >> (p - CFG::table_bits)) : (s << (CFG::table_bits - p));
  typename CFG::recip_t r = recip_table[lead - CFG::table_size];
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    typename CFG::prod_t prod = e[i] * r;
    scale_pow2<typename CFG::out_t, typename CFG::prod_t, CFG::prod_width, CFG::prod_signed, CFG::recip_frac,
               CFG::p_min, CFG::p_max>::apply(p, prod, y[i]);
  }
}

template <class CFG>
void softmax(const typename CFG::in_t x[CFG::n_rows * CFG::n_elem], typename CFG::out_t y[CFG::n_rows * CFG::n_elem],
             const typename CFG::table_t exp_table[CFG::table_size],
             const typename CFG::recip_t recip_table[CFG::table_size]) {
  for (int r = 0; r < CFG::n_rows; r++) {
    softmax_row<CFG>(&x[r * CFG::n_elem], &y[r * CFG::n_elem], exp_table, recip_table);
  }
}

// ----------------------------------------------------------------- pooling
// Max over the window's cells inside the input (padded cells are ignored).
template <class CFG>
void maxpool(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
             typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_chan]) {
  for (int oh = 0; oh < CFG::out_h; oh++) {
    for (int ow = 0; ow < CFG::out_w; ow++) {
      FPGAQ_UNROLL_PRE
      for (int c = 0; c < CFG::n_chan; c++) {
        FPGAQ_UNROLL_IN
        typename CFG::in_t best = 0;
        bool first = true;
        for (int kh = 0; kh < CFG::pool_h; kh++) {
          for (int kw = 0; kw < CFG::pool_w; kw++) {
            int ih = oh * CFG::stride_h + kh - CFG::pad_top;
            int iw = ow * CFG::stride_w + kw - CFG::pad_left;
            if (ih < 0 || ih >= CFG::in_h || iw < 0 || iw >= CFG::in_w) continue;
            typename CFG::in_t v = x[(ih * CFG::in_w + iw) * CFG::n_chan + c];
            if (first || v > best) best = v;
            first = false;
          }
        }
        y[(oh * CFG::out_w + ow) * CFG::n_chan + c] = best;
      }
    }
  }
}

// Average: the exact window sum (sum_t) divided by the number of cells counted (the pool
// area, or the cells inside the input for padding='same'), rounded once into out_t.
template <class CFG>
void avgpool(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
             typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_chan]) {
  for (int oh = 0; oh < CFG::out_h; oh++) {
    for (int ow = 0; ow < CFG::out_w; ow++) {
      FPGAQ_UNROLL_PRE
      for (int c = 0; c < CFG::n_chan; c++) {
        FPGAQ_UNROLL_IN
        typename CFG::sum_t total = 0;
        int count = 0;
        for (int kh = 0; kh < CFG::pool_h; kh++) {
          for (int kw = 0; kw < CFG::pool_w; kw++) {
            int ih = oh * CFG::stride_h + kh - CFG::pad_top;
            int iw = ow * CFG::stride_w + kw - CFG::pad_left;
            if (ih < 0 || ih >= CFG::in_h || iw < 0 || iw >= CFG::in_w) continue;
            total = total + x[(ih * CFG::in_w + iw) * CFG::n_chan + c];
            count++;
          }
        }
        long long den = CFG::count_inside ? count : CFG::pool_h * CFG::pool_w;
        assign_quotient<CFG::in_frac, CFG::out_frac>(y[(oh * CFG::out_w + ow) * CFG::n_chan + c], mantissa(total), den);
      }
    }
  }
}

// QAveragePooling: the exact window sum times the quantized reciprocal for that position.
template <class CFG>
void scaled_avgpool(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
                    typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_chan],
                    const typename CFG::mult_t mult[CFG::out_h * CFG::out_w]) {
  for (int oh = 0; oh < CFG::out_h; oh++) {
    for (int ow = 0; ow < CFG::out_w; ow++) {
      FPGAQ_UNROLL_PRE
      for (int c = 0; c < CFG::n_chan; c++) {
        FPGAQ_UNROLL_IN
        typename CFG::sum_t total = 0;
        for (int kh = 0; kh < CFG::pool_h; kh++) {
          for (int kw = 0; kw < CFG::pool_w; kw++) {
            int ih = oh * CFG::stride_h + kh - CFG::pad_top;
            int iw = ow * CFG::stride_w + kw - CFG::pad_left;
            if (ih < 0 || ih >= CFG::in_h || iw < 0 || iw >= CFG::in_w) continue;
            total = total + x[(ih * CFG::in_w + iw) * CFG::n_chan + c];
          }
        }
        typename CFG::exact_t e = total * mult[oh * CFG::out_w + ow];
        y[(oh * CFG::out_w + ow) * CFG::n_chan + c] = e;
      }
    }
  }
}

// ----------------------------------------------------------------- wiring
template <class CFG>
void copy(const typename CFG::in_t x[CFG::n_elem], typename CFG::out_t y[CFG::n_elem]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    y[i] = x[i];
  }
}

template <class CFG>
void add2(const typename CFG::in0_t a[CFG::n_elem], const typename CFG::in1_t b[CFG::n_elem],
          typename CFG::out_t y[CFG::n_elem]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    y[i] = a[i] + b[i];
  }
}

template <class CFG>
void add3(const typename CFG::in0_t a[CFG::n_elem], const typename CFG::in1_t b[CFG::n_elem],
          const typename CFG::in2_t c[CFG::n_elem], typename CFG::out_t y[CFG::n_elem]) {
  FPGAQ_UNROLL_PRE
  for (int i = 0; i < CFG::n_elem; i++) {
    FPGAQ_UNROLL_IN
    y[i] = a[i] + b[i] + c[i];
  }
}

// One input's share of a concatenation: `outer` blocks of `inner` values, placed at
// `offset` within output blocks of `out_inner` values.
template <class CFG, class In, int outer, int inner, int out_inner, int offset>
void concat_part(const In x[outer * inner], typename CFG::out_t y[CFG::n_elem]) {
  FPGAQ_UNROLL_PRE
  for (int o = 0; o < outer; o++) {
    FPGAQ_UNROLL_IN
    FPGAQ_UNROLL_PRE
    for (int i = 0; i < inner; i++) {
      FPGAQ_UNROLL_IN
      y[o * out_inner + offset + i] = x[o * inner + i];
    }
  }
}

template <class CFG>
void zeropad(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::n_chan],
             typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_chan]) {
  FPGAQ_UNROLL_PRE
  for (int oh = 0; oh < CFG::out_h; oh++) {
    FPGAQ_UNROLL_IN
    FPGAQ_UNROLL_PRE
    for (int ow = 0; ow < CFG::out_w; ow++) {
      FPGAQ_UNROLL_IN
      int ih = oh - CFG::pad_top;
      int iw = ow - CFG::pad_left;
      bool inside = ih >= 0 && ih < CFG::in_h && iw >= 0 && iw < CFG::in_w;
      FPGAQ_UNROLL_PRE
      for (int c = 0; c < CFG::n_chan; c++) {
        FPGAQ_UNROLL_IN
        if (inside) {
          y[(oh * CFG::out_w + ow) * CFG::n_chan + c] = x[(ih * CFG::in_w + iw) * CFG::n_chan + c];
        } else {
          y[(oh * CFG::out_w + ow) * CFG::n_chan + c] = 0;
        }
      }
    }
  }
}

}  // namespace fpgaq

// ----------------------------------------------------------------- io_stream
// An io_parallel design's top header sets FPGAQ_NO_STREAMS: it needs none of this, and
// <deque> alone was a tenth of its C-simulation build.
#ifndef FPGAQ_NO_STREAMS
namespace fpgaq {

// A pixel is every channel of one spatial position; image tensors travel as streams of
// pixels in row-major order.  Under g++ fpgaq::stream is a small FIFO of its own (the
// C-simulation runs the layers one after another, so it is unbounded); an HLS tool gets
// its native channel: ac_channel (Catapult) or hls::stream (Vitis).  Kernels only use
// read() and write(), which all three have.
template <class T, int N>
struct pixel {
  T data[N];
};

}  // namespace fpgaq

#if defined(FPGAQ_SYNTH) || defined(__SYNTHESIS__)
#ifdef FPGAQ_AP_TYPES
#include <hls_stream.h>
namespace fpgaq {
template <class T>
using stream = hls::stream<T>;
}  // namespace fpgaq
#else
#include <ac_channel.h>
namespace fpgaq {
template <class T>
using stream = ac_channel<T>;
}  // namespace fpgaq
#endif
#else
#include <deque>
namespace fpgaq {
template <class T>
class stream {
 public:
  T read() {
    T v = fifo_.front();
    fifo_.pop_front();
    return v;
  }
  void write(const T& v) { fifo_.push_back(v); }
  bool empty() const { return fifo_.empty(); }
  int size() const { return (int)fifo_.size(); }
  // C-simulation only (tracing): the i-th value waiting to be read.
  const T& peek(int i) const { return fifo_[i]; }

 private:
  std::deque<T> fifo_;
};
}  // namespace fpgaq
#endif

namespace fpgaq {

// Layers without a line-buffer kernel (dense, activations, ...) read their whole input
// into an array, run the io_parallel kernel and stream the result out.
template <class T, int N, int P>
void stream_to_array(stream<pixel<T, N> >& s, T a[N * P]) {
  for (int p = 0; p < P; p++) {
    FPGAQ_PIPELINE_IN
    pixel<T, N> v = s.read();
    FPGAQ_UNROLL_PRE
    for (int c = 0; c < N; c++) {
      FPGAQ_UNROLL_IN
      a[p * N + c] = v.data[c];
    }
  }
}

template <class T, int N, int P>
void array_to_stream(const T a[N * P], stream<pixel<T, N> >& s) {
  for (int p = 0; p < P; p++) {
    FPGAQ_PIPELINE_IN
    pixel<T, N> v;
    FPGAQ_UNROLL_PRE
    for (int c = 0; c < N; c++) {
      FPGAQ_UNROLL_IN
      v.data[c] = a[p * N + c];
    }
    s.write(v);
  }
}

// The line buffer: a shift register of the last span_h input rows (span_h = (KH - 1) * DH + 1
// rows of in_w pixels), newest pixel first.  After each input pixel, every output pixel whose
// window is now complete (its last cell inside the input has arrived) is computed by Op and
// written, in row-major order.  Cells outside the input (padding) read as zero and are marked
// in `inside` (pooling ignores them).  Op::apply(win, inside, oh, ow, out) computes one pixel.
// Any stream classes with read() / write() of these pixels will do.
template <class CFG, int KH, int KW, int DH, int DW, int NOUT, class Op, class InStream, class OutStream>
void window_stream(InStream& x, OutStream& y, const Op& op) {
  typedef typename CFG::in_t in_t;
  const int span_h = (KH - 1) * DH + 1;
  const int depth = span_h * CFG::in_w;
  const int n_outputs = CFG::out_h * CFG::out_w;
  pixel<in_t, CFG::n_chan> line[depth];
  FPGAQ_UNROLL_PRE
  for (int k = 0; k < depth; k++) {
    FPGAQ_UNROLL_IN
    FPGAQ_UNROLL_PRE
    for (int c = 0; c < CFG::n_chan; c++) {
      FPGAQ_UNROLL_IN
      line[k].data[c] = 0;
    }
  }
  int next = 0;
  for (int i = 0; i < CFG::in_h * CFG::in_w + 1; i++) {
    // the last step reads nothing: it flushes what the bottom padding completes
    const bool last = i == CFG::in_h * CFG::in_w;
    const int r = last ? CFG::in_h - 1 : i / CFG::in_w;
    const int c = last ? CFG::in_w - 1 : i % CFG::in_w;
    if (!last) {
      pixel<in_t, CFG::n_chan> v = x.read();
      FPGAQ_UNROLL_PRE
      for (int k = depth - 1; k > 0; k--) {
        FPGAQ_UNROLL_IN
        line[k] = line[k - 1];
      }
      line[0] = v;
    }
    while (next < n_outputs) {
      const int oh = next / CFG::out_w;
      const int ow = next % CFG::out_w;
      int lr = oh * CFG::stride_h + (KH - 1) * DH - CFG::pad_top;
      int lc = ow * CFG::stride_w + (KW - 1) * DW - CFG::pad_left;
      if (lr > CFG::in_h - 1) lr = CFG::in_h - 1;
      if (lc > CFG::in_w - 1) lc = CFG::in_w - 1;
      if (!last && (lr > r || (lr == r && lc > c))) break;
      in_t win[KH * KW * CFG::n_chan];
      bool inside[KH * KW];
      FPGAQ_UNROLL_PRE
      for (int kh = 0; kh < KH; kh++) {
        FPGAQ_UNROLL_IN
        FPGAQ_UNROLL_PRE
        for (int kw = 0; kw < KW; kw++) {
          FPGAQ_UNROLL_IN
          const int ih = oh * CFG::stride_h + kh * DH - CFG::pad_top;
          const int iw = ow * CFG::stride_w + kw * DW - CFG::pad_left;
          const bool in = ih >= 0 && ih < CFG::in_h && iw >= 0 && iw < CFG::in_w;
          const int age = in ? (r - ih) * CFG::in_w + (c - iw) : 0;
          inside[kh * KW + kw] = in;
          FPGAQ_UNROLL_PRE
          for (int ch = 0; ch < CFG::n_chan; ch++) {
            FPGAQ_UNROLL_IN
            if (in) {
              win[(kh * KW + kw) * CFG::n_chan + ch] = line[age].data[ch];
            } else {
              win[(kh * KW + kw) * CFG::n_chan + ch] = 0;
            }
          }
        }
      }
      pixel<typename CFG::out_t, NOUT> out;
      op.apply(win, inside, oh, ow, out.data);
      y.write(out);
      next++;
    }
  }
}

template <class CFG>
struct conv_op {
  const typename CFG::weight_t* w;
  const typename CFG::bias_t* b;
  void apply(const typename CFG::in_t win[CFG::n_in], const bool*, int, int,
             typename CFG::out_t out[CFG::n_out]) const {
    matvec<CFG>(win, out, w, b);
  }
};

template <class CFG>
struct depthwise_op {
  const typename CFG::weight_t* w;
  const typename CFG::bias_t* b;
  void apply(const typename CFG::in_t win[CFG::kern_h * CFG::kern_w * CFG::n_chan], const bool*, int, int,
             typename CFG::out_t out[CFG::n_out]) const {
    FPGAQ_UNROLL_PRE
    for (int o = 0; o < CFG::n_out; o++) {
      FPGAQ_UNROLL_IN
      int c = o / CFG::mult;
      typename CFG::exact_t acc = b[o];
      FPGAQ_UNROLL_PRE
      for (int k = 0; k < CFG::kern_h * CFG::kern_w; k++) {
        FPGAQ_UNROLL_IN
        acc += win[k * CFG::n_chan + c] * w[k * CFG::n_out + o];
      }
      out[o] = finish<CFG>(acc);
    }
  }
};

template <class CFG>
struct maxpool_op {
  void apply(const typename CFG::in_t win[CFG::pool_h * CFG::pool_w * CFG::n_chan],
             const bool inside[CFG::pool_h * CFG::pool_w], int, int, typename CFG::out_t out[CFG::n_chan]) const {
    FPGAQ_UNROLL_PRE
    for (int c = 0; c < CFG::n_chan; c++) {
      FPGAQ_UNROLL_IN
      typename CFG::in_t best = 0;
      bool first = true;
      for (int k = 0; k < CFG::pool_h * CFG::pool_w; k++) {
        if (!inside[k]) continue;
        typename CFG::in_t v = win[k * CFG::n_chan + c];
        if (first || v > best) best = v;
        first = false;
      }
      out[c] = best;
    }
  }
};

template <class CFG>
struct avgpool_op {
  void apply(const typename CFG::in_t win[CFG::pool_h * CFG::pool_w * CFG::n_chan],
             const bool inside[CFG::pool_h * CFG::pool_w], int, int, typename CFG::out_t out[CFG::n_chan]) const {
    FPGAQ_UNROLL_PRE
    for (int c = 0; c < CFG::n_chan; c++) {
      FPGAQ_UNROLL_IN
      typename CFG::sum_t total = 0;
      int count = 0;
      for (int k = 0; k < CFG::pool_h * CFG::pool_w; k++) {
        if (!inside[k]) continue;
        total = total + win[k * CFG::n_chan + c];
        count++;
      }
      long long den = CFG::count_inside ? count : CFG::pool_h * CFG::pool_w;
      assign_quotient<CFG::in_frac, CFG::out_frac>(out[c], mantissa(total), den);
    }
  }
};

template <class CFG>
struct scaled_avgpool_op {
  const typename CFG::mult_t* mult;
  void apply(const typename CFG::in_t win[CFG::pool_h * CFG::pool_w * CFG::n_chan],
             const bool inside[CFG::pool_h * CFG::pool_w], int oh, int ow,
             typename CFG::out_t out[CFG::n_chan]) const {
    FPGAQ_UNROLL_PRE
    for (int c = 0; c < CFG::n_chan; c++) {
      FPGAQ_UNROLL_IN
      typename CFG::sum_t total = 0;
      for (int k = 0; k < CFG::pool_h * CFG::pool_w; k++) {
        if (!inside[k]) continue;
        total = total + win[k * CFG::n_chan + c];
      }
      typename CFG::exact_t e = total * mult[oh * CFG::out_w + ow];
      out[c] = e;
    }
  }
};

template <class CFG>
void conv_stream(stream<pixel<typename CFG::in_t, CFG::n_chan> >& x,
                 stream<pixel<typename CFG::out_t, CFG::n_out> >& y,
                 const typename CFG::weight_t w[CFG::n_in * CFG::n_out], const typename CFG::bias_t b[CFG::n_out]) {
  conv_op<CFG> op = {w, b};
  window_stream<CFG, CFG::kern_h, CFG::kern_w, CFG::dilation_h, CFG::dilation_w, CFG::n_out>(x, y, op);
}

template <class CFG>
void depthwise_stream(stream<pixel<typename CFG::in_t, CFG::n_chan> >& x,
                      stream<pixel<typename CFG::out_t, CFG::n_out> >& y,
                      const typename CFG::weight_t w[CFG::kern_h * CFG::kern_w * CFG::n_out],
                      const typename CFG::bias_t b[CFG::n_out]) {
  depthwise_op<CFG> op = {w, b};
  window_stream<CFG, CFG::kern_h, CFG::kern_w, CFG::dilation_h, CFG::dilation_w, CFG::n_out>(x, y, op);
}

template <class CFG>
void maxpool_stream(stream<pixel<typename CFG::in_t, CFG::n_chan> >& x,
                    stream<pixel<typename CFG::out_t, CFG::n_chan> >& y) {
  maxpool_op<CFG> op;
  window_stream<CFG, CFG::pool_h, CFG::pool_w, 1, 1, CFG::n_chan>(x, y, op);
}

template <class CFG>
void avgpool_stream(stream<pixel<typename CFG::in_t, CFG::n_chan> >& x,
                    stream<pixel<typename CFG::out_t, CFG::n_chan> >& y) {
  avgpool_op<CFG> op;
  window_stream<CFG, CFG::pool_h, CFG::pool_w, 1, 1, CFG::n_chan>(x, y, op);
}

template <class CFG>
void scaled_avgpool_stream(stream<pixel<typename CFG::in_t, CFG::n_chan> >& x,
                           stream<pixel<typename CFG::out_t, CFG::n_chan> >& y,
                           const typename CFG::mult_t mult[CFG::out_h * CFG::out_w]) {
  scaled_avgpool_op<CFG> op = {mult};
  window_stream<CFG, CFG::pool_h, CFG::pool_w, 1, 1, CFG::n_chan>(x, y, op);
}

}  // namespace fpgaq
#endif  // FPGAQ_NO_STREAMS

#endif  // FPGAQ_LAYERS_H
