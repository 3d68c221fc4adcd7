// CPU kernel for fastspike::conv_fire.
//
// Event-driven, one time step at a time: the input spikes of a sample are
// bucketed by time; at step t every input spike (c, yp, xp) of that bucket
// scatters its weight column W[:, c, i, j] into h[y, x, :] for the outputs it
// reaches, then P[t] = P[t-1] + h and the first crossings are recorded. Within
// a bucket inputs are visited in (c, yp, xp) ascending order, so each output's
// h[t] accumulates in (c, i, j) ascending order: per neuron exactly the fp32
// additions, in the same order, of the CUDA kernel's histogram + prefix sum.
// The cost is (input spikes x kh*kw x F) instead of the dense
// T x F x C x kh*kw per position, and the working set is two [H, W, F] maps.
#include "fastspike/checks.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace fastspike {
namespace {

// Integrates one sample for the features [f0, f0 + fc): per time step, scatter
// the weight columns of that step's input spikes into h, then P += h and record
// the first crossings. spikes holds the sample's input neurons (c*Hp*Wp + yp*Wp
// + xp) bucketed by time, [bucket_start[t], bucket_start[t+1]) for step t.
// Outputs, laid out [H*W, fc]: first (T = never), v (P at the first spike),
// acc (P[T-1]); po, when given, receives P[t] as [T, F, H*W].
FASTSPIKE_CPU_CLONES
void integrate_sample(const ConvGeometry& g, int64_t T, const int32_t* spikes,
                      const int32_t* bucket_start, const float* wc, int64_t w_stride, int64_t f0, int64_t fc,
                      bool has_th, float th, float* __restrict__ h, float* __restrict__ acc,
                      float* __restrict__ v, int32_t* __restrict__ first, int32_t* __restrict__ mark,
                      int32_t* __restrict__ touched, float* po) {
  const int64_t HW = g.H * g.W, n = HW * fc;
  const int32_t never = static_cast<int32_t>(T);
  for (int64_t e = 0; e < n; ++e) {
    h[e] = 0.f;
    acc[e] = 0.f;
    v[e] = 0.f;
    first[e] = never;
  }
  for (int64_t pos = 0; pos < HW; ++pos) mark[pos] = -1;
  for (int64_t t = 0; t < T; ++t) {
    const int32_t e0 = bucket_start[t], e1 = bucket_start[t + 1];
    if (e0 < e1) {
      // h[t] = sum of the weights of the inputs that fire at t, in (c, i, j) order;
      // the output positions reached are listed once each in `touched`.
      const int32_t tt = static_cast<int32_t>(t);
      int64_t n_touched = 0;
      for (int32_t e = e0; e < e1; ++e) {
        const int64_t in = spikes[e];
        const int64_t c = in / (g.Hp * g.Wp), yp = (in / g.Wp) % g.Hp, xp = in % g.Wp;
        const int64_t i_lo = std::max<int64_t>(0, yp - g.H + 1), i_hi = std::min<int64_t>(g.kh - 1, yp);
        const int64_t j_lo = std::max<int64_t>(0, xp - g.W + 1), j_hi = std::min<int64_t>(g.kw - 1, xp);
        for (int64_t i = i_lo; i <= i_hi; ++i) {
          for (int64_t j = j_lo; j <= j_hi; ++j) {
            const int64_t pos = (yp - i) * g.W + (xp - j);
            if (mark[pos] != tt) {
              mark[pos] = tt;
              touched[n_touched++] = static_cast<int32_t>(pos);
            }
            float* __restrict__ hp = h + pos * fc;
            const float* __restrict__ wr = wc + ((c * g.kh + i) * g.kw + j) * w_stride + f0;
            for (int64_t f = 0; f < fc; ++f) hp[f] += wr[f];
          }
        }
      }
      // P[t] = P[t-1] + h[t] where h[t] != 0; the first t with P[t] > threshold is
      // the spike. (Untouched positions, and steps without input spikes, add 0
      // and change nothing.)
      for (int64_t k = 0; k < n_touched; ++k) {
        const int64_t base = static_cast<int64_t>(touched[k]) * fc;
        float* __restrict__ hp = h + base;
        float* __restrict__ ap = acc + base;
        if (has_th) {
          float* __restrict__ vp = v + base;
          int32_t* __restrict__ fp = first + base;
          for (int64_t f = 0; f < fc; ++f) {
            const float a = ap[f] + hp[f];
            hp[f] = 0.f;
            ap[f] = a;
            const bool cross = (fp[f] == never) & (a > th);
            fp[f] = cross ? tt : fp[f];
            vp[f] = cross ? a : vp[f];
          }
        } else {
          for (int64_t f = 0; f < fc; ++f) {
            ap[f] += hp[f];
            hp[f] = 0.f;
          }
        }
      }
    }
    if (po) {
      for (int64_t f = 0; f < std::min(fc, g.F - f0); ++f)
        for (int64_t pos = 0; pos < HW; ++pos) po[(t * g.F + f0 + f) * HW + pos] = acc[pos * fc + f];
    }
  }
}

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
  auto values = at::empty({g.B, g.F, g.H, g.W}, times_in.options().dtype(at::kFloat));  // all written
  auto potentials = return_potentials
                        ? at::empty({g.B, T, g.F, g.H, g.W}, values.options())
                        : at::empty({0}, values.options());
  if (g.B == 0) return {times, values, potentials};
  const auto tin = times_in.contiguous();
  // Weight columns with the output feature innermost, zero-padded to a multiple
  // of 16 features so the vector loops have no remainder: wt[c][i][j][Fp].
  constexpr int64_t kLanes = 16;
  auto round_up = [](int64_t a, int64_t m) { return (a + m - 1) / m * m; };
  const int64_t Fp = round_up(g.F, kLanes);
  auto wt = at::zeros({g.C, g.kh, g.kw, Fp}, w.options());
  wt.narrow(3, 0, g.F).copy_(w.permute({1, 2, 3, 0}));
  const int64_t HW = g.H * g.W;
  TORCH_CHECK(g.C * g.Hp * g.Wp < (int64_t(1) << 31), "times_in: too many input neurons per sample");
  // Split the features so that small batches still use every thread.
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::min<int64_t>(Fp / kLanes, std::max<int64_t>(1, (threads + g.B - 1) / g.B));
  const int64_t fc_max = round_up((Fp + chunks - 1) / chunks, kLanes);
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
      const int64_t n_max = HW * fc_max;
      std::vector<float> h(n_max), acc(n_max), v(n_max);
      std::vector<int32_t> first(n_max), mark(HW), touched(HW);
      // Input spikes of one sample bucketed by time, (c, yp, xp) ascending in each bucket.
      std::vector<int32_t> bucket_start(T + 1), spikes(g.C * g.Hp * g.Wp);
      int64_t bucketed_b = -1;
      for (int64_t task = task0; task < task1; ++task) {
        const int64_t b = task / chunks;
        const int64_t f0 = (task % chunks) * fc_max;
        const int64_t f1 = std::min(Fp, f0 + fc_max);
        if (f0 >= f1) continue;
        const int64_t fc = f1 - f0;
        const tau_t* tb = ti + b * g.C * g.Hp * g.Wp;
        if (bucketed_b != b) {  // counting sort of the sample's input spikes by time
          std::fill(bucket_start.begin(), bucket_start.end(), 0);
          const int64_t n_in = g.C * g.Hp * g.Wp;
          // (negative int16 times count as 0, "already fired", as on CUDA)
          auto step = [&](int64_t e) { return std::max<int64_t>(0, static_cast<int64_t>(tb[e])); };
          for (int64_t e = 0; e < n_in; ++e)
            if (tb[e] < T) ++bucket_start[step(e) + 1];
          for (int64_t t = 0; t < T; ++t) bucket_start[t + 1] += bucket_start[t];
          std::vector<int32_t> fill(bucket_start.begin(), bucket_start.end() - 1);
          for (int64_t e = 0; e < n_in; ++e)
            if (tb[e] < T) spikes[fill[step(e)]++] = static_cast<int32_t>(e);
          bucketed_b = b;
        }
        integrate_sample(g, T, spikes.data(), bucket_start.data(), wc, Fp, f0, fc, has_th, th, h.data(),
                         acc.data(), v.data(), first.data(), mark.data(), touched.data(),
                         po ? po + b * T * g.F * HW : nullptr);
        for (int64_t f = 0; f < std::min(fc, g.F - f0); ++f) {  // (padding features are dropped)
          tau_t* tf = to + (b * g.F + f0 + f) * HW;
          float* vf = vo + (b * g.F + f0 + f) * HW;
          for (int64_t pos = 0; pos < HW; ++pos) {
            const int64_t e = pos * fc + f;
            if (has_th) {
              tf[pos] = static_cast<tau_t>(first[e]);
              vf[pos] = v[e];
            } else {
              const bool fires = acc[e] > 0.f;
              tf[pos] = static_cast<tau_t>(fires ? T - 1 : T);
              vf[pos] = fires ? acc[e] : 0.f;
            }
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
