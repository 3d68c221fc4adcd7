// CUDA kernel for fastspike::conv_fire (docs/reference/semantics.md#if-convolution).
//
// One thread per output neuron (b, f, y, x), with a private histogram over
// input spike times in a column of shared memory. For every neuron it performs
// the CPU kernel's (csrc/ops/cpu/conv_fire.cpp) fp32 operations in the same
// order: h[s] = 0 + W[f, c, i, j] + ... over the inputs (c, i, j) with
// tau_in = s, in (c, i, j) ascending order, then acc = 0 + h[0] + h[1] + ...,
// the first step with acc > threshold giving (tau, V = acc).
//
// Time is processed in windows of at most TW <= 256 bins, so any T works with
// bounded memory: when T > TW, each window starts at the earliest input spike
// not yet counted, and the empty bins skipped in between are exactly the
// CPU's "acc + 0", which leaves acc unchanged. When T <= TW (every uint8
// input) there is a single window [0, T).
//
// The CPU kernel checks weight >= 0 by reading it; this one does not (that
// would need a host sync): fastspike.ops.conv_fire validates on request.
#include "fastspike/checks.h"
#include "fastspike/math.h"
#include "fastspike/neuron.h"
#include "launch.cuh"

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

namespace fastspike {
namespace {

struct ConvFireArgs {
  int64_t B, C, Hp, Wp, F, kh, kw, H, W;
  int T;   // time steps (never = T)
  int TW;  // histogram bins per window (shared memory holds TW x blockDim.x floats)
  bool has_th;
  float th;
};

// An input spike time as a histogram bin: negative int16 times (spiked
// "before 0") count from step 0; times >= T never spike.
template <typename tau_t>
__device__ __forceinline__ int spike_bin(tau_t s) {
  const int v = s;
  return v < 0 ? 0 : v;
}

//   times_in [B, C, Hp, Wp], weight [F, C, kh, kw]
//   times, values [B, F, H, W] (values nullptr: not wanted), potentials [B, T, F, H, W] or nullptr
template <typename tau_t>
__global__ void conv_fire_kernel(const tau_t* __restrict__ times_in,
                                 const float* __restrict__ weight, tau_t* __restrict__ times,
                                 float* __restrict__ values, float* __restrict__ potentials,
                                 ConvFireArgs a) {
  extern __shared__ float hist_smem[];
  float* const h = hist_smem + threadIdx.x;  // h[s * hs] is bin s of this thread
  const int hs = blockDim.x;
  const int T = a.T;
  const int64_t HW = a.H * a.W, n_total = a.B * a.F * HW;
  const int64_t HpWp = a.Hp * a.Wp, CK = a.C * a.kh * a.kw;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < n_total;
       n += stride) {
    const int64_t bf = n / HW, pos = n - bf * HW;
    const int64_t b = bf / a.F, f = bf - b * a.F;
    const int64_t y = pos / a.W, x = pos - y * a.W;
    const tau_t* const tb = times_in + (b * a.C * a.Hp + y) * a.Wp + x;  // + c*HpWp + i*Wp + j
    const float* const wf = weight + f * CK;
    // P[t] of this neuron is pn[t * a.F * HW].
    float* const pn = potentials ? potentials + (b * T * a.F + f) * HW + pos : nullptr;
    const int64_t pstride = a.F * HW;

    float acc = 0.f, v_first = 0.f;
    int first = T;   // first t with acc > threshold
    int t_done = 0;  // bins [0, t_done) have been added to acc
    while (t_done < T) {
      int t0 = t_done;
      if (T > a.TW) {
        // Skip to the earliest input spike at or after t_done.
        int next = T;
        for (int64_t c = 0; c < a.C; ++c) {
          const tau_t* const tc = tb + c * HpWp;
          for (int64_t i = 0; i < a.kh; ++i) {
            const tau_t* const row = tc + i * a.Wp;
            for (int64_t j = 0; j < a.kw; ++j) {
              const int s = spike_bin(row[j]);
              if (s >= t_done && s < next) next = s;
            }
          }
        }
        // The CPU adds +0 for every skipped bin: only the first such add can
        // change acc's bits (-0 + 0 = +0), so do it once.
        if (next > t_done) acc = math::add_rn(acc, 0.f);
        if (pn)
          for (int t = t_done; t < next; ++t) pn[t * pstride] = acc;
        if (next >= T) break;
        t0 = next;
      }
      const int t1 = min(T, t0 + a.TW);
      for (int s = 0; s < t1 - t0; ++s) h[s * hs] = 0.f;
      // Histogram of bins [t0, t1), inputs in (c, i, j) ascending order.
      const float* w = wf;
      for (int64_t c = 0; c < a.C; ++c) {
        const tau_t* const tc = tb + c * HpWp;
        for (int64_t i = 0; i < a.kh; ++i) {
          const tau_t* const row = tc + i * a.Wp;
          for (int64_t j = 0; j < a.kw; ++j, ++w) {
            const int s = spike_bin(row[j]);
            if (s >= t0 && s < t1) {
              float* const hb = h + (s - t0) * hs;
              *hb = math::add_rn(*hb, *w);
            }
          }
        }
      }
      // Prefix sum over the window.
      for (int t = t0; t < t1; ++t) {
        acc = math::add_rn(acc, h[(t - t0) * hs]);
        if (a.has_th && neuron::if_fires(first == T, acc, a.th)) {
          first = t;
          v_first = acc;
        }
        if (pn) pn[t * pstride] = acc;
      }
      t_done = t1;
      if (a.has_th && first < T && !pn) break;  // nothing later is needed
    }

    if (a.has_th) {
      times[n] = static_cast<tau_t>(first);
      if (values) values[n] = first < T ? v_first : 0.f;
    } else {
      const bool fires = acc > 0.f;
      times[n] = static_cast<tau_t>(fires ? T - 1 : T);
      if (values) values[n] = fires ? acc : 0.f;
    }
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_fire_cuda(const at::Tensor& times_in,
                                                              const at::Tensor& weight, int64_t T,
                                                              std::optional<double> threshold,
                                                              bool return_potentials,
                                                              bool return_values) {
  const auto g = check_conv(times_in, weight, T);
  check_threshold(threshold);
  cuda::check_cuda(times_in, "times_in");
  c10::cuda::CUDAGuard guard(times_in.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto tin = times_in.contiguous();
  const auto w = weight.contiguous();
  // Every element of every output is written by the kernel.
  auto times = at::empty({g.B, g.F, g.H, g.W}, tin.options());
  auto values = return_values ? at::empty({g.B, g.F, g.H, g.W}, tin.options().dtype(at::kFloat))
                              : at::empty({0}, tin.options().dtype(at::kFloat));
  auto potentials = return_potentials ? at::empty({g.B, T, g.F, g.H, g.W}, values.options())
                                      : at::empty({0}, values.options());
  if (g.B == 0) return {times, values, potentials};

  ConvFireArgs a{g.B, g.C, g.Hp, g.Wp, g.F, g.kh, g.kw, g.H, g.W, static_cast<int>(T), 0,
                 threshold.has_value(),
                 threshold.has_value() ? static_cast<float>(*threshold) : 0.f};
  // Histogram window and block size: TW * threads floats of shared memory,
  // at most 32 KiB. Windows of at most 64 bins keep blocks at 4 warps or more
  // (a longer T takes several windows; the result does not depend on TW).
  a.TW = static_cast<int>(std::min<int64_t>(T, 64));
  const int threads = a.TW <= 32 ? 256 : 128;
  const size_t smem = static_cast<size_t>(a.TW) * threads * sizeof(float);
  const int64_t n_total = g.B * g.F * g.H * g.W;
  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "conv_fire", [&] {
    conv_fire_kernel<tau_t><<<cuda::grid_for(n_total, threads), threads, smem, stream>>>(
        tin.const_data_ptr<tau_t>(), w.const_data_ptr<float>(), times.mutable_data_ptr<tau_t>(),
        return_values ? values.mutable_data_ptr<float>() : nullptr,
        return_potentials ? potentials.mutable_data_ptr<float>() : nullptr, a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {times, values, potentials};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) { m.impl("conv_fire", &conv_fire_cuda); }

}  // namespace fastspike
