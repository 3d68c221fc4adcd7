// CPU kernel for fastspike::conv_fire.
//
// Event-driven: every input spike (c, yp, xp) at time s scatters its weight
// column W[:, c, i, j] into a histogram h[s, y, x, :] of the outputs it reaches;
// a prefix sum over s then gives P[t] for every output at once. Inputs are
// visited in (c, yp, xp) ascending order, so each output's h[s] accumulates in
// (c, i, j) ascending order: the same fp32 additions, in the same order, as the
// CUDA kernel's per-neuron loop. The cost is (input spikes x kh*kw x F) instead
// of the dense T x F x C x kh*kw per position.
#include "fastspike/checks.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace fastspike {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_fire_cpu(const at::Tensor& times_in,
                                                             const at::Tensor& weight, int64_t T,
                                                             std::optional<double> threshold,
                                                             bool return_potentials) {
  const auto g = check_conv(times_in, weight, T);
  check_threshold(threshold);
  const auto w = weight.contiguous();
  {
    const float* wp = w.const_data_ptr<float>();
    const int64_t n = w.numel();
    for (int64_t e = 0; e < n; ++e)
      TORCH_CHECK(wp[e] >= 0.f, "weight: expected non-negative weights (the integrate-and-fire "
                  "convolution assumes non-decreasing potentials), got ", wp[e], " at flat index ", e);
  }
  auto times = at::empty({g.B, g.F, g.H, g.W}, times_in.options());
  auto values = at::zeros({g.B, g.F, g.H, g.W}, times_in.options().dtype(at::kFloat));
  auto potentials = return_potentials
                        ? at::empty({g.B, T, g.F, g.H, g.W}, values.options())
                        : at::empty({0}, values.options());
  if (g.B == 0) return {times, values, potentials};
  const auto tin = times_in.contiguous();
  // Weight columns with the output feature innermost: wt[c][i][j][f].
  const auto wt = w.permute({1, 2, 3, 0}).contiguous();
  const int64_t HW = g.H * g.W;
  // Split the features so that small batches still use every thread.
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::min<int64_t>(g.F, std::max<int64_t>(1, (threads + g.B - 1) / g.B));
  const int64_t fc_max = (g.F + chunks - 1) / chunks;
  const bool has_th = threshold.has_value();
  const float th = has_th ? static_cast<float>(*threshold) : 0.f;

  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "conv_fire", [&] {
    const tau_t* ti = tin.const_data_ptr<tau_t>();
    const float* wc = wt.const_data_ptr<float>();
    tau_t* to = times.mutable_data_ptr<tau_t>();
    float* vo = values.mutable_data_ptr<float>();
    float* po = return_potentials ? potentials.mutable_data_ptr<float>() : nullptr;
    at::parallel_for(0, g.B * chunks, 1, [&](int64_t task0, int64_t task1) {
      ScopedFlushDenormal ftz;
      std::vector<float> hist(static_cast<size_t>(T * HW * fc_max));
      std::vector<float> acc(static_cast<size_t>(HW * fc_max));
      std::vector<int32_t> first(static_cast<size_t>(HW * fc_max));
      for (int64_t task = task0; task < task1; ++task) {
        const int64_t b = task / chunks;
        const int64_t f0 = (task % chunks) * fc_max;
        const int64_t f1 = std::min(g.F, f0 + fc_max);
        if (f0 >= f1) continue;
        const int64_t fc = f1 - f0;
        std::fill(hist.begin(), hist.begin() + T * HW * fc, 0.f);
        // Scatter.
        for (int64_t c = 0; c < g.C; ++c) {
          const tau_t* tc = ti + (b * g.C + c) * g.Hp * g.Wp;
          for (int64_t yp = 0; yp < g.Hp; ++yp) {
            const int64_t i_lo = std::max<int64_t>(0, yp - g.H + 1);
            const int64_t i_hi = std::min<int64_t>(g.kh - 1, yp);
            for (int64_t xp = 0; xp < g.Wp; ++xp) {
              const int64_t s = tc[yp * g.Wp + xp];
              if (s >= T) continue;
              const int64_t j_lo = std::max<int64_t>(0, xp - g.W + 1);
              const int64_t j_hi = std::min<int64_t>(g.kw - 1, xp);
              float* hs = hist.data() + s * HW * fc;
              for (int64_t i = i_lo; i <= i_hi; ++i) {
                const int64_t y = yp - i;
                for (int64_t j = j_lo; j <= j_hi; ++j) {
                  const int64_t x = xp - j;
                  float* h = hs + (y * g.W + x) * fc;
                  const float* wr = wc + ((c * g.kh + i) * g.kw + j) * g.F + f0;
                  for (int64_t f = 0; f < fc; ++f) h[f] += wr[f];
                }
              }
            }
          }
        }
        // Prefix sum over time and first crossing.
        const int64_t n = HW * fc;
        std::fill(acc.begin(), acc.begin() + n, 0.f);
        std::fill(first.begin(), first.begin() + n, static_cast<int32_t>(T));
        for (int64_t t = 0; t < T; ++t) {
          const float* ht = hist.data() + t * n;
          for (int64_t e = 0; e < n; ++e) acc[e] += ht[e];
          if (has_th) {
            for (int64_t e = 0; e < n; ++e) {
              if (first[e] == T && acc[e] > th) {
                first[e] = static_cast<int32_t>(t);
                hist[e] = acc[e];  // hist[0] is consumed: reuse it for V
              }
            }
          }
          if (po) {
            for (int64_t e = 0; e < n; ++e) {
              const int64_t pos = e / fc, f = f0 + e % fc;
              po[(((b * T + t) * g.F + f) * HW) + pos] = acc[e];
            }
          }
        }
        for (int64_t e = 0; e < n; ++e) {
          const int64_t pos = e / fc, f = f0 + e % fc;
          const int64_t o = (b * g.F + f) * HW + pos;
          if (has_th) {
            to[o] = static_cast<tau_t>(first[e]);
            vo[o] = first[e] < T ? hist[e] : 0.f;
          } else {
            const bool fires = acc[e] > 0.f;
            to[o] = static_cast<tau_t>(fires ? T - 1 : T);
            vo[o] = fires ? acc[e] : 0.f;
          }
        }
      }
    });
  });
  return {times, values, potentials};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("conv_fire", &conv_fire_cpu); }

}  // namespace fastspike
