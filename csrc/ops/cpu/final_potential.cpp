// CPU kernel for fastspike::final_potential (definition in ../final_potential.cpp).
//
// Event-driven: every input cell (c, yp, xp) of the inner (non-border) region
// that is an event adds its weight row W[c, i, j, :] to the outputs (y, x) =
// (yp - i, xp - j) it reaches. The events are the inputs that fire, or, when
// more than half of the inner inputs fire, those that do not, subtracted from
// the per-position total of the inner inputs' weights: at most half of the inner
// inputs are visited.
//
// Samples are taken in groups of kGroup; within a group the input channels are
// taken in chunks whose weight rows (about 256 KB) stay in cache while each
// sample of the group adds, position by position, the rows of its events of
// those channels into accumulators held in registers.
//
// Two ways to add, which give the same bits:
//  - fixed point (when the weights allow it and the batch has enough rows to
//    add to repay their conversion): every non-zero weight is an integer multiple of u = 2^(e_min - 23)
//    (e_min: the smallest binary exponent among them) below 2^bits u, bits =
//    e_max - e_min + 24. With bits <= 28 (the R-STDP weights in [0.2, 0.8]: 26),
//    the weights become int32 multiples of u, summed exactly in int32 registers
//    2^(31 - bits) rows at a time, then in int64: half the bytes of float64 rows
//    and no conversions.
//  - float64 (otherwise): the float32 rows converted and added in float64.
// Both are the exact sum whenever float64 holds it exactly (see the definition;
// always so in the fixed-point case), so the result does not depend on the path,
// the grouping or the order of the additions.
#include "fastspike/checks.h"
#include "fastspike/math.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace fastspike {
namespace {

constexpr int64_t kGroup = 8;          // samples that share a pass over the weights

// Debug state (_final_potential_debug): the forced way to add (-1 auto: fixed point
// where the weights allow it and the batch repays the conversion; 1: fixed point
// wherever the weights allow it; 0: float64) and the calls each way made since the
// last debug call.
std::atomic<int> forced_sum{-1};
std::atomic<int64_t> sum_calls[2];

struct FinalGeometry {
  ConvGeometry g;
  int64_t border, Fd;
};

// Register-blocked row sums: acc[0, F) += (or -=) the float32 weight rows
// wr + offs[q] (q < n), converted to float64, NV vectors of 8 doubles at a time
// in registers. Plain GCC vector types: one zmm per vector in the AVX-512 clone,
// split into narrower ones by the compiler in the others.
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

template <int NV>
inline __attribute__((always_inline)) void add_rows_block(double* __restrict__ acc, const float* __restrict__ wr,
                                                          const int32_t* __restrict__ offs, int64_t n,
                                                          bool subtract) {
  v8d a[NV];  // the rows' sum (exact whenever the result is), then added to or taken from acc
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) a[v] = v8d{};
  for (int64_t q = 0; q < n; ++q) {
    const float* row = wr + offs[q];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      v8f x;
      std::memcpy(&x, row + 8 * v, sizeof(v8f));
      a[v] += __builtin_convertvector(x, v8d);
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    v8d c;
    std::memcpy(&c, acc + 8 * v, sizeof(v8d));
    c = subtract ? c - a[v] : c + a[v];
    std::memcpy(acc + 8 * v, &c, sizeof(v8d));
  }
}

// acc[f] += sign * sum_q wr[offs[q] + f] for f < F: 64 features at a time in
// registers, then the remaining whole vectors, then the scalar tail.
FASTSPIKE_CPU_CLONES
void add_rows(double* __restrict__ acc, const float* __restrict__ wr, const int32_t* __restrict__ offs, int64_t n,
              int64_t F, bool subtract) {
  const int64_t F8 = F / 8 * 8;
  int64_t f0 = 0;
  for (; f0 + 64 <= F8; f0 += 64) add_rows_block<8>(acc + f0, wr + f0, offs, n, subtract);
  switch ((F8 - f0) / 8) {
    case 7: add_rows_block<7>(acc + f0, wr + f0, offs, n, subtract); break;
    case 6: add_rows_block<6>(acc + f0, wr + f0, offs, n, subtract); break;
    case 5: add_rows_block<5>(acc + f0, wr + f0, offs, n, subtract); break;
    case 4: add_rows_block<4>(acc + f0, wr + f0, offs, n, subtract); break;
    case 3: add_rows_block<3>(acc + f0, wr + f0, offs, n, subtract); break;
    case 2: add_rows_block<2>(acc + f0, wr + f0, offs, n, subtract); break;
    case 1: add_rows_block<1>(acc + f0, wr + f0, offs, n, subtract); break;
    default: break;
  }
  for (int64_t f = F8; f < F; ++f) {
    double t = 0.0;
    for (int64_t q = 0; q < n; ++q) t += static_cast<double>(wr[offs[q] + f]);
    acc[f] = subtract ? acc[f] - t : acc[f] + t;
  }
}

// Fixed-point row sums: acc[0, 16 NV) (int64) += (or -=) the int32 rows
// wr + offs[q], at most L of them at a time in int32 registers (L * max row value
// < 2^31: no overflow), then widened into acc.
typedef int32_t v16i __attribute__((vector_size(64)));

template <int NV>
inline __attribute__((always_inline)) void add_fixed_block(int64_t* __restrict__ acc, const int32_t* __restrict__ wr,
                                                           const int32_t* __restrict__ offs, int64_t n, int64_t L,
                                                           bool subtract) {
  for (int64_t q0 = 0; q0 < n; q0 += L) {
    const int64_t q1 = std::min(n, q0 + L);
    v16i a[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) a[v] = v16i{};
    for (int64_t q = q0; q < q1; ++q) {
      const int32_t* row = wr + offs[q];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        v16i x;
        std::memcpy(&x, row + 16 * v, sizeof(v16i));
        a[v] += x;
      }
    }
    int32_t part[16 * NV];
    std::memcpy(part, a, sizeof(part));
    if (subtract)
      for (int f = 0; f < 16 * NV; ++f) acc[f] -= part[f];
    else
      for (int f = 0; f < 16 * NV; ++f) acc[f] += part[f];
  }
}

// acc[f] += sign * sum_q wr[offs[q] + f] for f < Fp (a multiple of 16), 128 at a time.
FASTSPIKE_CPU_CLONES
void add_fixed(int64_t* __restrict__ acc, const int32_t* __restrict__ wr, const int32_t* __restrict__ offs, int64_t n,
               int64_t Fp, int64_t L, bool subtract) {
  int64_t f0 = 0;
  for (; f0 + 128 <= Fp; f0 += 128) add_fixed_block<8>(acc + f0, wr + f0, offs, n, L, subtract);
  switch ((Fp - f0) / 16) {
    case 7: add_fixed_block<7>(acc + f0, wr + f0, offs, n, L, subtract); break;
    case 6: add_fixed_block<6>(acc + f0, wr + f0, offs, n, L, subtract); break;
    case 5: add_fixed_block<5>(acc + f0, wr + f0, offs, n, L, subtract); break;
    case 4: add_fixed_block<4>(acc + f0, wr + f0, offs, n, L, subtract); break;
    case 3: add_fixed_block<3>(acc + f0, wr + f0, offs, n, L, subtract); break;
    case 2: add_fixed_block<2>(acc + f0, wr + f0, offs, n, L, subtract); break;
    case 1: add_fixed_block<1>(acc + f0, wr + f0, offs, n, L, subtract); break;
    default: break;
  }
}

// The weights in fixed point, when they allow it (see the top of this file):
// rows[(c * kh + i) * kw + j][Fp] int32 (zero padded to Fp = F rounded up to 16),
// unit = 2^e_unit; empty when they do not (or when a weight is invalid: the
// float64 path then reports it).
struct FixedRows {
  const int32_t* rows = nullptr;
  int64_t Fp = 0, L = 0;
  int e_unit = 0;
};

// Over w[0, n): the smallest biased exponent of the normal weights (255 if none),
// the largest biased exponent (0 if none), and whether a weight is not finite
// and >= 0 (-0 is 0). Integer ops on the bits, 16 lanes at a time.
typedef uint32_t v16u __attribute__((vector_size(64)));

FASTSPIKE_CPU_CLONES
void exponent_range(const float* __restrict__ w, int64_t n, uint32_t* lo, uint32_t* hi, uint32_t* bad) {
  // per lane: the smallest normal exponent, the largest bits (-0 as +0): a weight
  // is valid iff its bits are at most those of FLT_MAX
  const v16u k255 = v16u{} + 255u, zero = v16u{};
  v16u l = k255, m = zero;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16u u;
    std::memcpy(&u, w + i, sizeof(u));
    u = (u == 0x80000000u) ? zero : u;
    m = u > m ? u : m;
    const v16u e = u >> 23;
    const v16u en = (e - 1u < 254u) ? e : k255;  // normal (others: 255)
    l = en < l ? en : l;
  }
  uint32_t lo_s = 255u, m_s = 0u;
  for (int k = 0; k < 16; ++k) {
    lo_s = std::min(lo_s, l[k]);
    m_s = std::max(m_s, m[k]);
  }
  for (; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, w + i, 4);
    u = u == 0x80000000u ? 0u : u;
    m_s = std::max(m_s, u);
    const uint32_t e = u >> 23;
    if (e - 1u < 254u) lo_s = std::min(lo_s, e);
  }
  *lo = lo_s;
  *hi = m_s >> 23;  // meaningful when valid
  *bad = m_s > 0x7F7FFFFFu;
}

// rows[r][f] = w[r][f] in units of 2^(e_min - 150) (e_min biased), the significand
// shifted by its exponent's distance from e_min; subnormals and zeros become 0.
inline int32_t fixed_of(uint32_t u, uint32_t e_min) {
  const uint32_t e = (u >> 23) & 0xFFu;
  return e >= e_min ? static_cast<int32_t>(((u & 0x7FFFFFu) | 0x800000u) << (e - e_min)) : 0;
}

FASTSPIKE_CPU_CLONES
void to_fixed(const float* __restrict__ w, int64_t r0, int64_t r1, int64_t F, int64_t Fp, uint32_t e_min,
              int32_t* __restrict__ rows) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* wr = w + r * F;
    int32_t* out = rows + r * Fp;
    int64_t f = 0;
    for (; f + 16 <= F; f += 16) {
      v16u u;
      std::memcpy(&u, wr + f, sizeof(u));
      const v16u e = (u >> 23) & 0xFFu;
      const v16u keep = e >= e_min;  // all ones where the weight is normal and counted
      const v16u o = (((u & 0x7FFFFFu) | 0x800000u) << ((e - e_min) & keep)) & keep;
      std::memcpy(out + f, &o, sizeof(o));
    }
    for (; f < F; ++f) {
      uint32_t u;
      std::memcpy(&u, wr + f, 4);
      out[f] = fixed_of(u, e_min);
    }
    for (; f < Fp; ++f) out[f] = 0;
  }
}

FixedRows fixed_rows_of(const ConvGeometry& g, const float* wr) {
  FixedRows fr;
  const int64_t n_rows = g.C * g.kh * g.kw, n = n_rows * g.F;
  std::vector<uint32_t> lo_t(at::get_num_threads() + 1, 255), hi_t(at::get_num_threads() + 1, 0),
      bad_t(at::get_num_threads() + 1, 0);
  at::parallel_for(0, n, 1 << 16, [&](int64_t i0, int64_t i1) {
    uint32_t lo, hi, bad;
    exponent_range(wr + i0, i1 - i0, &lo, &hi, &bad);
    const int t = at::get_thread_num();
    lo_t[t] = std::min(lo_t[t], lo);
    hi_t[t] = std::max(hi_t[t], hi);
    bad_t[t] |= bad;
  });
  if (*std::max_element(bad_t.begin(), bad_t.end())) return fr;
  const uint32_t e_min = *std::min_element(lo_t.begin(), lo_t.end());
  const uint32_t e_max = *std::max_element(hi_t.begin(), hi_t.end());
  const int bits = e_min == 255u ? 1 : static_cast<int>(e_max - e_min) + 24;  // all zero: any unit
  // int32 partial sums of L rows; int64 totals of up to C kh kw rows, held exactly
  // by the float64 they become
  if (bits > 28 || static_cast<double>(n_rows) * std::ldexp(1.0, bits) >= std::ldexp(1.0, 53)) return fr;
  fr.e_unit = e_min == 255u ? 0 : static_cast<int>(e_min) - 150;  // 2^(e - 127 - 23)
  fr.L = int64_t{1} << (31 - bits);
  fr.Fp = (g.F + 15) / 16 * 16;
  // kept per thread between calls: no page faults for a fresh buffer on every call
  thread_local std::vector<int32_t> buf;
  if (buf.size() < static_cast<size_t>(n_rows * fr.Fp)) buf.resize(n_rows * fr.Fp);
  int32_t* rows = buf.data();
  const int64_t Fp = fr.Fp;
  const uint32_t e_lo = e_min == 255u ? 255u : e_min;
  at::parallel_for(0, n_rows, 256,
                   [&](int64_t r0, int64_t r1) { to_fixed(wr, r0, r1, g.F, Fp, e_lo, rows); });
  fr.rows = rows;
  return fr;
}

// For the events [e0, e1) of one sample (flat input indices (c * Hp + yp) * Wp + xp,
// ascending), the weight-row offsets ((c * kh + i) * kw + j) * stride each output
// position pos = y * W + x receives: rows[pos * cap + k], k < cnt[pos]. cell_yx
// holds (yp << 16) | xp of each cell of a channel's plane (no divisions per event).
void rows_by_position(const ConvGeometry& g, const int32_t* events, int64_t e0, int64_t e1, int64_t stride,
                      int64_t cap, const uint32_t* cell_yx, int32_t* __restrict__ rows, int32_t* __restrict__ cnt) {
  const int64_t HW = g.H * g.W, plane = g.Hp * g.Wp;
  std::fill(cnt, cnt + HW, 0);
  if (e0 == e1) return;
  int64_t c = events[e0] / plane, c_start = c * plane;
  for (int64_t q = e0; q < e1; ++q) {
    const int64_t e = events[q];
    while (e >= c_start + plane) {
      ++c;
      c_start += plane;
    }
    const uint32_t yx = cell_yx[e - c_start];
    const int64_t yp = yx >> 16, xp = yx & 0xFFFFu;
    const int64_t y_lo = std::max<int64_t>(0, yp - g.kh + 1), y_hi = std::min<int64_t>(g.H - 1, yp);
    const int64_t x_lo = std::max<int64_t>(0, xp - g.kw + 1), x_hi = std::min<int64_t>(g.W - 1, xp);
    const int64_t base = c * g.kh;
    for (int64_t y = y_lo; y <= y_hi; ++y)
      for (int64_t x = x_lo; x <= x_hi; ++x) {
        const int64_t pos = y * g.W + x;
        rows[pos * cap + cnt[pos]++] = static_cast<int32_t>(((base + (yp - y)) * g.kw + (xp - x)) * stride);
      }
  }
}

// ev[e] = u[e] fires (tau < T; negative int16 times count as fired); returns the
// number that fire, and sets *border_fires when one of them is a border cell.
#define FASTSPIKE_FIRED_MAP(tau_t)                                                                          \
  FASTSPIKE_CPU_CLONES int64_t fired_map(const tau_t* __restrict__ u, const uint8_t* __restrict__ border_cell, \
                                         int64_t n, int64_t T, uint8_t* __restrict__ ev, bool* border_fires) { \
    const tau_t t = static_cast<tau_t>(T);                                                                  \
    int64_t cnt = 0;                                                                                        \
    uint8_t bad = 0;                                                                                        \
    for (int64_t e = 0; e < n; ++e) {                                                                       \
      const uint8_t f = u[e] < t;                                                                           \
      ev[e] = f;                                                                                            \
      cnt += f;                                                                                             \
      bad |= f & border_cell[e];                                                                            \
    }                                                                                                       \
    *border_fires = bad != 0;                                                                               \
    return cnt;                                                                                             \
  }
FASTSPIKE_FIRED_MAP(uint8_t)
FASTSPIKE_FIRED_MAP(int16_t)
#undef FASTSPIKE_FIRED_MAP

// How many of u[0, n) fire (tau < T).
#define FASTSPIKE_COUNT_FIRED(tau_t)                                                                 \
  FASTSPIKE_CPU_CLONES int64_t count_fired(const tau_t* __restrict__ u, int64_t n, int64_t T) { \
    const tau_t t = static_cast<tau_t>(T);                                                       \
    int64_t cnt = 0;                                                                             \
    for (int64_t e = 0; e < n; ++e) cnt += u[e] < t;                                             \
    return cnt;                                                                                  \
  }
FASTSPIKE_COUNT_FIRED(uint8_t)
FASTSPIKE_COUNT_FIRED(int16_t)
#undef FASTSPIKE_COUNT_FIRED

// The flat indices of the events: the cells that fire, or with `complement`
// the inner cells that do not. ev and border_cell hold n_words * 8 bytes of 0/1
// (slack: ev 0, border_cell 1). 8 cells per word; words without events cost a compare.
int64_t list_events(const uint8_t* ev, const uint8_t* border_cell, int64_t n_words, bool complement,
                    int32_t* events) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  int64_t n = 0;
  for (int64_t w = 0; w < n_words; ++w) {
    uint64_t x, bc;
    std::memcpy(&x, ev + 8 * w, 8);
    if (complement) {
      std::memcpy(&bc, border_cell + 8 * w, 8);
      x = (x | bc) ^ kOnes;
    }
    while (x) {  // one bit (bit 0 of its byte) per event
      events[n++] = static_cast<int32_t>(8 * w + (__builtin_ctzll(x) >> 3));
      x &= x - 1;
    }
  }
  return n;
}

// tap[e] = sum over c of W[c, e] for e in [e0, e1) (e = (i, j, f); float64, exact
// as the sums are); returns whether a weight is negative, NaN or infinite.
FASTSPIKE_CPU_CLONES
bool tap_sums_of(const ConvGeometry& g, const float* __restrict__ wr, int64_t e0, int64_t e1, double* __restrict__ tap) {
  const int64_t n = g.kh * g.kw * g.F;
  int neg = 0;
  for (int64_t e = e0; e < e1; ++e) tap[e] = 0.0;
  for (int64_t c = 0; c < g.C; ++c) {
    const float* w = wr + c * n;
    for (int64_t e = e0; e < e1; ++e) {
      tap[e] += static_cast<double>(w[e]);
      neg |= !math::valid_weight(w[e]);
    }
  }
  return neg != 0;
}

std::tuple<at::Tensor, at::Tensor> final_potential_cpu(const at::Tensor& times_in, const at::Tensor& weight_rows,
                                                       int64_t T, int64_t border, double max_event_fraction,
                                                       const std::optional<at::Tensor>& tap_sums) {
  FinalGeometry fg{check_final_potential(times_in, weight_rows, T, border, max_event_fraction), border, 0};
  const ConvGeometry& g = fg.g;
  check_tap_sums(tap_sums, g, weight_rows);
  fg.Fd = (g.F + 7) / 8 * 8;
  // event indices and weight-row offsets are int32, cell coordinates 16-bit
  TORCH_CHECK(g.Hp < 65536 && g.Wp < 65536, "final_potential: times_in ", times_in.sizes(),
              " is over 65535 cells high or wide");
  TORCH_CHECK(g.C * g.Hp * g.Wp <= INT32_MAX && g.C * g.kh * g.kw * g.F <= INT32_MAX,
              "final_potential: times_in ", times_in.sizes(), " or weight_rows ", weight_rows.sizes(),
              " has more than 2^31 - 1 elements per sample (the CPU kernel indexes them with int32)");
  auto out = at::empty({g.B, g.F, g.H, g.W}, times_in.options().dtype(at::kFloat));
  auto done = at::empty({g.B}, times_in.options().dtype(at::kBool));
  const auto wr_t = weight_rows.contiguous();
  const float* wr = wr_t.const_data_ptr<float>();
  const int64_t HW = g.H * g.W, n_plane = g.C * g.Hp * g.Wp;
  // per-tap sums over the channels, then per output position the total over the inner inputs
  std::vector<double> tap(g.kh * g.kw * g.F);
  if (tap_sums.has_value()) {  // the caller's (it checked the weights when it made them)
    const auto ts = tap_sums->contiguous();
    std::copy(ts.const_data_ptr<double>(), ts.const_data_ptr<double>() + tap.size(), tap.begin());
  } else {
    std::atomic<bool> negative{false};
    at::parallel_for(0, static_cast<int64_t>(tap.size()), 512, [&](int64_t e0, int64_t e1) {
      ScopedFlushDenormal ftz;  // as in the event adds: subnormal weights count as 0
      if (tap_sums_of(g, wr, e0, e1, tap.data())) negative = true;
    });
    TORCH_CHECK(!negative.load(), "weight_rows: expected finite, non-negative weights");
  }
  std::vector<double> total(HW * fg.Fd, 0.0);
  int64_t inner_links = 0;  // (output position, inner input cell) pairs of one channel
  for (int64_t y = 0; y < g.H; ++y)
    for (int64_t x = 0; x < g.W; ++x)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t yp = y + i, xp = x + j;
          if (yp < border || yp >= g.Hp - border || xp < border || xp >= g.Wp - border) continue;
          ++inner_links;
          const double* t = tap.data() + (i * g.kw + j) * g.F;
          double* a = total.data() + (y * g.W + x) * fg.Fd;
          for (int64_t f = 0; f < g.F; ++f) a[f] += t[f];
        }
  if (g.B == 0) return {out, done};
  // 1 on the border cells (padding that must never fire); slack to whole words
  const int64_t n_words = (n_plane + 7) / 8;
  std::vector<uint8_t> border_cell(n_words * 8, 1);
  for (int64_t r = 0; r < g.C * g.Hp; ++r) {
    const int64_t yp = r % g.Hp;
    for (int64_t xp = 0; xp < g.Wp; ++xp)
      border_cell[r * g.Wp + xp] = yp < border || yp >= g.Hp - border || xp < border || xp >= g.Wp - border;
  }
  const int64_t n_inner = g.C * (g.Hp - 2 * border) * (g.Wp - 2 * border);
  const auto tin = times_in.contiguous();
  std::atomic<int64_t> bad_sample{-1};
  // Fixed point when the weights allow it and the batch has enough rows to add to
  // repay converting them: on the AMD EPYC, the conversion costs about 0.23 ns per
  // weight and saves about 0.1 ns per row element added, so it pays from about
  // 2.3 rows per (c, i, j) of the weight; the rows are estimated from the events
  // (the inputs that fire, or those that do not, whichever are fewer) times the
  // outputs an inner input reaches on average.
  bool want_fixed = forced_sum.load() == 1;
  if (forced_sum.load() < 0) {
    const int64_t inner_per_channel = (g.Hp - 2 * border) * (g.Wp - 2 * border);
    int64_t events = 0;
    FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "final_potential", [&] {
      const tau_t* ti = tin.const_data_ptr<tau_t>();
      for (int64_t b = 0; b < g.B; ++b) {
        const int64_t fired = std::min(count_fired(ti + b * n_plane, n_plane, T), n_inner);
        events += std::min(fired, n_inner - fired);
      }
    });
    const double rows = static_cast<double>(events) * static_cast<double>(inner_links) /
                        static_cast<double>(std::max<int64_t>(1, inner_per_channel));
    want_fixed = rows >= 3.0 * static_cast<double>(g.C * g.kh * g.kw);
  }
  const FixedRows fr = want_fixed ? fixed_rows_of(g, wr) : FixedRows{};
  sum_calls[fr.rows != nullptr ? 1 : 0].fetch_add(1);
  std::vector<int64_t> total_i;
  if (fr.rows != nullptr) {  // the totals in units (exact: float64 held them exactly)
    total_i.assign(HW * fr.Fp, 0);
    const double inv_unit = std::ldexp(1.0, -fr.e_unit);
    for (int64_t pos = 0; pos < HW; ++pos)
      for (int64_t f = 0; f < g.F; ++f)
        total_i[pos * fr.Fp + f] = static_cast<int64_t>(total[pos * fg.Fd + f] * inv_unit);
  }
  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "final_potential", [&] {
    const tau_t* ti = tin.const_data_ptr<tau_t>();
    float* po = out.mutable_data_ptr<float>();
    bool* dn = done.mutable_data_ptr<bool>();
    // Groups of up to kGroup samples handed out one at a time (their event counts
    // differ widely); see the top of this file.
    const int64_t n_groups = (g.B + kGroup - 1) / kGroup;
    const bool fixed = fr.rows != nullptr;
    const int64_t stride = fixed ? fr.Fp : g.F;                     // weight-row length in elements
    const int64_t ad = fixed ? fr.Fp : fg.Fd;                       // accumulator row length
    const int64_t chan_bytes = g.kh * g.kw * stride * 4;            // one input channel's rows
    const int64_t cb = std::max<int64_t>(1, (int64_t{256} << 10) / chan_bytes);
    const int64_t cap = std::min(cb, g.C) * g.kh * g.kw;            // rows a position gets per chunk, at most
    const int64_t plane = g.Hp * g.Wp;
    std::vector<uint32_t> cell_yx(plane);
    for (int64_t yp = 0; yp < g.Hp; ++yp)
      for (int64_t xp = 0; xp < g.Wp; ++xp) cell_yx[yp * g.Wp + xp] = static_cast<uint32_t>((yp << 16) | xp);
    std::atomic<int64_t> next_group{0};
    const int64_t workers = std::min<int64_t>(at::get_num_threads(), n_groups);
    at::parallel_for(0, workers, 1, [&](int64_t w0, int64_t w1) {
      ScopedFlushDenormal ftz;
      std::vector<uint8_t> ev(n_words * 8, 0);
      std::vector<int32_t> events(kGroup * n_plane);
      std::vector<int64_t> n_ev(kGroup), cursor(kGroup);
      std::vector<uint8_t> live(kGroup), compl_(kGroup);
      std::vector<double> acc_d(fixed ? 0 : kGroup * HW * ad);
      std::vector<int64_t> acc_i(fixed ? kGroup * HW * ad : 0);
      std::vector<int32_t> rows(HW * cap), cnt(HW);
      for (int64_t grp = w0 < w1 ? next_group.fetch_add(1) : n_groups; grp < n_groups;
           grp = next_group.fetch_add(1)) {
        const int64_t b0 = grp * kGroup, nb = std::min(kGroup, g.B - b0);
        bool any = false;
        for (int64_t s = 0; s < nb; ++s) {
          const int64_t b = b0 + s;
          live[s] = 0;
          bool border_fires = false;
          const int64_t n_fired = fired_map(ti + b * n_plane, border_cell.data(), n_plane, T, ev.data(),
                                            &border_fires);
          if (border_fires) {
            int64_t expected = -1;
            bad_sample.compare_exchange_strong(expected, b);
            continue;
          }
          const bool complement = 2 * n_fired > n_inner;
          const int64_t n_events = complement ? n_inner - n_fired : n_fired;
          dn[b] = static_cast<double>(n_events) <= max_event_fraction * static_cast<double>(n_inner);
          if (!dn[b]) {  // left to the caller
            float* ob = po + b * g.F * HW;
            std::fill(ob, ob + g.F * HW, 0.f);
            continue;
          }
          if (fixed) {
            int64_t* as = acc_i.data() + s * HW * ad;
            if (complement)
              std::copy(total_i.begin(), total_i.end(), as);
            else
              std::fill(as, as + HW * ad, int64_t{0});
          } else {
            double* as = acc_d.data() + s * HW * ad;
            if (complement)
              std::copy(total.begin(), total.end(), as);
            else
              std::fill(as, as + HW * ad, 0.0);
          }
          n_ev[s] = list_events(ev.data(), border_cell.data(), n_words, complement, events.data() + s * n_plane);
          TORCH_INTERNAL_ASSERT(n_ev[s] == n_events);
          cursor[s] = 0;
          compl_[s] = complement;
          live[s] = 1;
          any = true;
        }
        if (!any) continue;
        for (int64_t c0 = 0; c0 < g.C; c0 += cb) {
          const int64_t e_end = std::min(c0 + cb, g.C) * plane;  // first flat index past the chunk
          for (int64_t s = 0; s < nb; ++s) {
            if (!live[s]) continue;
            const int32_t* es = events.data() + s * n_plane;
            const int64_t q0 = cursor[s];
            int64_t q1 = q0;
            while (q1 < n_ev[s] && es[q1] < e_end) ++q1;
            cursor[s] = q1;
            if (q1 == q0) continue;
            rows_by_position(g, es, q0, q1, stride, cap, cell_yx.data(), rows.data(), cnt.data());
            for (int64_t pos = 0; pos < HW; ++pos) {
              if (!cnt[pos]) continue;
              const int32_t* offs = rows.data() + pos * cap;
              if (fixed)
                add_fixed(acc_i.data() + (s * HW + pos) * ad, fr.rows, offs, cnt[pos], fr.Fp, fr.L,
                          compl_[s]);
              else
                add_rows(acc_d.data() + (s * HW + pos) * ad, wr, offs, cnt[pos], g.F, compl_[s]);
            }
          }
        }
        const double unit = std::ldexp(1.0, fr.e_unit);
        for (int64_t s = 0; s < nb; ++s) {
          if (!live[s]) continue;
          float* ob = po + (b0 + s) * g.F * HW;
          if (fixed) {
            const int64_t* as = acc_i.data() + s * HW * ad;
            for (int64_t f = 0; f < g.F; ++f)
              for (int64_t pos = 0; pos < HW; ++pos)
                ob[f * HW + pos] = static_cast<float>(static_cast<double>(as[pos * ad + f]) * unit);
          } else {
            const double* as = acc_d.data() + s * HW * ad;
            for (int64_t f = 0; f < g.F; ++f)
              for (int64_t pos = 0; pos < HW; ++pos) ob[f * HW + pos] = static_cast<float>(as[pos * ad + f]);
          }
        }
      }
    });
  });
  TORCH_CHECK(bad_sample.load() < 0, "times_in: sample ", bad_sample.load(), " fires in the ", border,
              " border rows/columns declared as padding (border must only cover cells that never fire)");
  return {out, done};
}

// _final_potential_debug(force): forces the way the CPU kernel adds for later
// calls ("auto": fixed point where the weights allow it and the batch has rows
// enough to repay the conversion; "fixed": wherever the weights allow it;
// "float64"; "" leaves it as it is) and returns, then resets, the calls made each way since the last call:
// [float64, fixed]. For the tests, which assert the way each case took.
std::vector<int64_t> final_potential_debug(const std::string& force) {
  if (force == "auto")
    forced_sum = -1;
  else if (force == "float64")
    forced_sum = 0;
  else if (force == "fixed")
    forced_sum = 1;
  else
    TORCH_CHECK(force.empty(), "force: expected '', auto, float64 or fixed, got '", force, "'");
  return {sum_calls[0].exchange(0), sum_calls[1].exchange(0)};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("final_potential", &final_potential_cpu); }
TORCH_LIBRARY_FRAGMENT(fastspike, m) { m.def("_final_potential_debug(str force) -> int[]", &final_potential_debug); }

}  // namespace fastspike
