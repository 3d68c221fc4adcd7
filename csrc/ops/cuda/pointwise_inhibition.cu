// CUDA kernel for fastspike::pointwise_inhibition; the same per-position loop
// as csrc/ops/cpu/pointwise_inhibition.cpp, ranking with math::pointwise_better.
#include "fastspike/checks.h"
#include "fastspike/math.h"
#include "launch.cuh"

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace fastspike {
namespace {

// One thread per position (b, pos) of times/values [B, F, HW]: the earliest
// feature wins (then the larger value, then the lowest index); every other
// feature becomes never (T, 0).
template <typename tau_t, typename index_t>
__global__ void pointwise_inhibition_kernel(const tau_t* __restrict__ ti,
                                            const float* __restrict__ vi, tau_t* __restrict__ to,
                                            float* __restrict__ vo, index_t BHW, index_t F,
                                            index_t HW, int T) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < BHW;
       i += stride) {
    const index_t b = i / HW, pos = i - b * HW;
    const index_t base = b * F * HW + pos;
    index_t best = -1;
    int best_t = T;
    float best_v = 0.f;
    for (index_t f = 0; f < F; ++f) {
      const int t = ti[base + f * HW];
      if (t >= T) continue;
      const float v = vi[base + f * HW];
      if (best < 0 || math::pointwise_better(t, v, best_t, best_v)) {
        best = f;
        best_t = t;
        best_v = v;
      }
    }
    for (index_t f = 0; f < F; ++f) {
      const index_t idx = base + f * HW;
      const bool keep = f == best;
      to[idx] = keep ? ti[idx] : static_cast<tau_t>(T);
      vo[idx] = keep ? vi[idx] : 0.f;
    }
  }
}

std::tuple<at::Tensor, at::Tensor> pointwise_inhibition_cuda(const at::Tensor& times,
                                                             const at::Tensor& values, int64_t T) {
  check_times_values(times, values, T);
  cuda::check_cuda(times, "times");
  c10::cuda::CUDAGuard guard(times.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto tm = times.contiguous();
  const auto vl = values.contiguous();
  auto out_t = at::empty(tm.sizes(), tm.options());
  auto out_v = at::empty(vl.sizes(), vl.options());
  if (tm.numel() == 0) return {out_t, out_v};
  const int64_t B = tm.size(0), F = tm.size(1), HW = tm.size(2) * tm.size(3);
  constexpr int threads = 256;
  FASTSPIKE_DISPATCH_TIMES(tm.scalar_type(), "pointwise_inhibition", [&] {
    FASTSPIKE_DISPATCH_INDEX(tm.numel(), [&] {
      pointwise_inhibition_kernel<tau_t, index_t>
          <<<cuda::grid_for(B * HW, threads), threads, 0, stream>>>(
              tm.const_data_ptr<tau_t>(), vl.const_data_ptr<float>(),
              out_t.mutable_data_ptr<tau_t>(), out_v.mutable_data_ptr<float>(),
              static_cast<index_t>(B * HW), static_cast<index_t>(F), static_cast<index_t>(HW),
              static_cast<int>(T));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {out_t, out_v};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) {
  m.impl("pointwise_inhibition", &pointwise_inhibition_cuda);
}

}  // namespace fastspike
