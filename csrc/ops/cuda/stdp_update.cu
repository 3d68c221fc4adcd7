// CUDA kernels for fastspike::stdp_update (docs/reference/semantics.md#batched-stdp),
// deterministic and with no host synchronisation:
//   1. stdp_events_kernel: one warp per feature f builds f's ordered event
//      list, exactly as the CPU host loop of csrc/ops/cpu/stdp_update.cpp does
//      for valid winners. Invalid rows, which the CPU rejects with an error
//      (feature out of range, position out of range, t_post >= T), are
//      skipped here; a feature listed twice by one sample keeps the last row.
//   2. stdp_replay_kernel: one thread per weight element (f, c, i, j) replays
//      its feature's events with the shared stdp_replay, as the CPU loop does.
#include "fastspike/checks.h"
#include "fastspike/stdp.h"
#include "launch.cuh"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace fastspike {
namespace {

// winners [B, k, 3] (feature, row, col), times_out [B, F, H, W]; writes
// sample / pos / t_post [F, B] (first count[f] entries of row f) and count [F].
// A sample gives feature f an event when it lists f as a valid winner
// (pos = y*W + x) or, with clamp_all, a clamp-only event (pos = -1) whether or
// not it has any winner at all, as the CPU kernel does.
// One warp per feature: lane l looks at sample b0 + l, and a ballot compacts
// the events of 32 samples at a time, keeping them in sample order.
template <typename tau_t, typename widx_t>
__global__ void stdp_events_kernel(const widx_t* __restrict__ winners,
                                   const tau_t* __restrict__ times_out,
                                   int32_t* __restrict__ ev_sample, int32_t* __restrict__ ev_pos,
                                   int32_t* __restrict__ ev_tpost, int32_t* __restrict__ ev_count,
                                   int64_t B, int64_t k, int64_t F, int64_t H, int64_t W,
                                   int64_t T, bool clamp_all) {
  const int lane = threadIdx.x & 31;
  const int64_t n_warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  // f is uniform within a warp (blockDim.x is a multiple of 32).
  for (int64_t f = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; f < F;
       f += n_warps) {
    int32_t n = 0;
    for (int64_t b0 = 0; b0 < B; b0 += 32) {
      const int64_t b = b0 + lane;
      bool found = false;
      int32_t pos = -1, t_post = 0;
      if (b < B) {
        const widx_t* wb = winners + b * k * 3;
        for (int64_t r = 0; r < k; ++r) {
          const int64_t fr = wb[r * 3], y = wb[r * 3 + 1], x = wb[r * 3 + 2];
          if (fr != f) continue;
          if (y < 0 || y >= H || x < 0 || x >= W) continue;
          const int64_t tp = times_out[((b * F + fr) * H + y) * W + x];
          if (tp >= T) continue;  // did not fire
          // a later row for the same feature replaces an earlier one
          found = true;
          pos = static_cast<int32_t>(y * W + x);
          t_post = static_cast<int32_t>(tp);
        }
      }
      // every sample clamps every feature with clamp_all (the CPU's clamp-only events)
      const bool has = b < B && (found || clamp_all);
      const unsigned int mask = __ballot_sync(0xffffffffu, has);
      if (has) {
        const int64_t slot = f * B + n + __popc(mask & ((1u << lane) - 1u));
        ev_sample[slot] = static_cast<int32_t>(b);
        ev_pos[slot] = found ? pos : -1;
        ev_tpost[slot] = found ? t_post : 0;
      }
      n += __popc(mask);
    }
    if (lane == 0) ev_count[f] = n;
  }
}

// One thread per weight element e = ((f * C + c) * kh + i) * kw + j.
template <typename tau_t>
__global__ void stdp_replay_kernel(float* __restrict__ weight, const tau_t* __restrict__ times_in,
                                   const float* __restrict__ lr, StdpParams p, StdpEvents ev,
                                   int64_t numel) {
  const int64_t per_f = p.C * p.kh * p.kw;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < numel;
       e += stride) {
    const int64_t f = e / per_f;
    if (ev.count[f] == 0) continue;
    const int64_t r = e - f * per_f;
    const int64_t c = r / (p.kh * p.kw), i = (r / p.kw) % p.kh, j = r % p.kw;
    weight[e] = stdp_replay<tau_t>(weight[e], f, c, i, j, p, ev, times_in, lr);
  }
}

void stdp_update_cuda(at::Tensor& weight, const at::Tensor& times_in, const at::Tensor& times_out,
                      const at::Tensor& winners, const at::Tensor& lr, int64_t T, bool stabilize,
                      double lb, double ub, bool clamp_all) {
  const auto s = check_stdp(weight, times_in, times_out, winners, lr, T, lb, ub);
  const auto& g = s.conv;
  cuda::check_cuda(weight, "weight");
  c10::cuda::CUDAGuard guard(weight.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  if (g.B == 0 || weight.numel() == 0) return;
  const auto tin = times_in.contiguous();
  const auto tout = times_out.contiguous();
  const auto win = winners.contiguous();
  const auto rates = lr.contiguous();

  // Event lists: sample, pos, t_post [F, B] and count [F], in one allocation.
  const int64_t FB = g.F * g.B;
  auto events = at::empty({3 * FB + g.F}, weight.options().dtype(at::kInt));
  int32_t* ev_base = events.mutable_data_ptr<int32_t>();
  StdpEvents ev{ev_base, ev_base + FB, ev_base + 2 * FB, ev_base + 3 * FB};

  StdpParams p{g.B, g.C, g.Hp, g.Wp, g.F, g.kh, g.kw, g.H, g.W, s.per_feature_lr, stabilize,
               static_cast<float>(lb), static_cast<float>(ub)};
  const int64_t numel = weight.numel();
  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "stdp_update", [&] {
    AT_DISPATCH_INDEX_TYPES(win.scalar_type(), "stdp_update", [&] {
      constexpr int threads = 128;
      const unsigned int blocks = cuda::grid_for(g.F * 32, threads);  // a warp per feature
      stdp_events_kernel<tau_t, index_t><<<blocks, threads, 0, stream>>>(
          win.const_data_ptr<index_t>(), tout.const_data_ptr<tau_t>(), ev_base, ev_base + FB,
          ev_base + 2 * FB, ev_base + 3 * FB, g.B, s.k, g.F, g.H, g.W, T, clamp_all);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    constexpr int threads = 256;
    stdp_replay_kernel<tau_t><<<cuda::grid_for(numel, threads), threads, 0, stream>>>(
        weight.mutable_data_ptr<float>(), tin.const_data_ptr<tau_t>(),
        rates.const_data_ptr<float>(), p, ev, numel);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) { m.impl("stdp_update", &stdp_update_cuda); }

}  // namespace fastspike
