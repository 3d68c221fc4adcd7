// CPU kernel for fastspike::final_potential (definition in ../final_potential.cpp).
//
// Event-driven, one sample per task, float64 accumulators [H*W][F] (L1/L2):
// every input cell (c, yp, xp) of the inner (non-border) region that is an
// event adds its weight row W[c, i, j, :] to the outputs (y, x) = (yp - i,
// xp - j) it reaches. The events are the inputs that fire, or, when more than
// half of the inner inputs fire, those that do not, subtracted from the
// per-position total of the inner inputs' weights: at most half of the inner
// inputs are visited. Both give the exact sum whenever float64 holds it
// exactly (see the definition), so the choice never shows in the result.
#include "fastspike/checks.h"
#include "fastspike/math.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <tuple>
#include <vector>

namespace fastspike {
namespace {

struct FinalGeometry {
  ConvGeometry g;
  int64_t border, Fd;
};

// acc[pos][f] += sign * row[f] for the outputs that each listed input
// (flat index (c * Hp + yp) * Wp + xp) reaches.
FASTSPIKE_CPU_CLONES
void add_events(const FinalGeometry& fg, const int32_t* __restrict__ events, int64_t n_events,
                const float* __restrict__ wr, bool subtract, double* __restrict__ acc) {
  const ConvGeometry& g = fg.g;
  const int64_t F = g.F, Fd = fg.Fd;
  for (int64_t q = 0; q < n_events; ++q) {
    const int64_t e = events[q];
    const int64_t xp = e % g.Wp, r = e / g.Wp, yp = r % g.Hp, c = r / g.Hp;
    const int64_t y_lo = std::max<int64_t>(0, yp - g.kh + 1), y_hi = std::min<int64_t>(g.H - 1, yp);
    const int64_t x_lo = std::max<int64_t>(0, xp - g.kw + 1), x_hi = std::min<int64_t>(g.W - 1, xp);
    for (int64_t y = y_lo; y <= y_hi; ++y)
      for (int64_t x = x_lo; x <= x_hi; ++x) {
        const float* __restrict__ row = wr + ((c * g.kh + (yp - y)) * g.kw + (xp - x)) * F;
        double* __restrict__ a = acc + (y * g.W + x) * Fd;
        if (subtract)
          for (int64_t f = 0; f < F; ++f) a[f] -= static_cast<double>(row[f]);
        else
          for (int64_t f = 0; f < F; ++f) a[f] += static_cast<double>(row[f]);
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
  for (int64_t y = 0; y < g.H; ++y)
    for (int64_t x = 0; x < g.W; ++x)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t yp = y + i, xp = x + j;
          if (yp < border || yp >= g.Hp - border || xp < border || xp >= g.Wp - border) continue;
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
  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "final_potential", [&] {
    const tau_t* ti = tin.const_data_ptr<tau_t>();
    float* po = out.mutable_data_ptr<float>();
    bool* dn = done.mutable_data_ptr<bool>();
    // samples handed out one at a time (their event counts differ widely)
    std::atomic<int64_t> next_b{0};
    const int64_t workers = std::min<int64_t>(at::get_num_threads(), g.B);
    at::parallel_for(0, workers, 1, [&](int64_t w0, int64_t w1) {
      ScopedFlushDenormal ftz;
      std::vector<uint8_t> ev(n_words * 8, 0);
      std::vector<int32_t> events(n_plane);
      std::vector<double> acc(HW * fg.Fd);
      for (int64_t b = w0 < w1 ? next_b.fetch_add(1) : g.B; b < g.B; b = next_b.fetch_add(1)) {
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
        float* ob = po + b * g.F * HW;
        dn[b] = static_cast<double>(n_events) <= max_event_fraction * static_cast<double>(n_inner);
        if (!dn[b]) {  // left to the caller
          std::fill(ob, ob + g.F * HW, 0.f);
          continue;
        }
        if (complement)
          std::copy(total.begin(), total.end(), acc.begin());
        else
          std::fill(acc.begin(), acc.end(), 0.0);
        const int64_t n_listed = list_events(ev.data(), border_cell.data(), n_words, complement, events.data());
        TORCH_INTERNAL_ASSERT(n_listed == n_events);
        add_events(fg, events.data(), n_listed, wr, complement, acc.data());
        for (int64_t f = 0; f < g.F; ++f)
          for (int64_t pos = 0; pos < HW; ++pos) ob[f * HW + pos] = static_cast<float>(acc[pos * fg.Fd + f]);
      }
    });
  });
  TORCH_CHECK(bad_sample.load() < 0, "times_in: sample ", bad_sample.load(), " fires in the ", border,
              " border rows/columns declared as padding (border must only cover cells that never fire)");
  return {out, done};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("final_potential", &final_potential_cpu); }

}  // namespace fastspike
