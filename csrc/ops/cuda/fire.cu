// CUDA kernel for fastspike::fire; the same per-element rule as
// csrc/ops/cpu/fire.cpp. Comparisons are done in float, as on the CPU, and
// with -ftz=true they treat subnormal inputs as zero like the CPU's DAZ mode.
#include "fastspike/checks.h"
#include "fastspike/neuron.h"
#include "launch.cuh"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace fastspike {
namespace {

// One thread per element of potentials [B, T, N] (grid-stride).
//   spikes [B, T, N]: P > threshold, or (no threshold) t == T-1 and P > 0
//   thr    [B, T, N] or nullptr: P where it spikes (no threshold: P[T-1]), else 0
template <typename scalar_t, typename index_t>
__global__ void fire_kernel(const scalar_t* __restrict__ P, uint8_t* __restrict__ S,
                            scalar_t* __restrict__ R, index_t numel, index_t N, index_t T,
                            bool has_th, float th) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < numel;
       idx += stride) {
    const scalar_t p = P[idx];
    const float v = static_cast<float>(p);
    bool spike, keep;
    if (has_th) {
      spike = neuron::if_above(v, th);
      keep = spike;
    } else {
      keep = (idx / N) % T == T - 1;
      spike = keep && v > 0.f;
    }
    S[idx] = spike;
    if (R) R[idx] = keep ? p : scalar_t(0);
  }
}

std::tuple<at::Tensor, at::Tensor> fire_cuda(const at::Tensor& potentials,
                                             std::optional<double> threshold,
                                             bool return_thresholded) {
  check_potentials(potentials, "potentials");
  check_threshold(threshold);
  cuda::check_cuda(potentials, "potentials");
  c10::cuda::CUDAGuard guard(potentials.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto p = potentials.contiguous();
  const int64_t B = p.size(0), T = p.size(1);
  // Every element is written by the kernel, so no zero-fill is needed.
  auto spikes = at::empty(p.sizes(), p.options().dtype(at::kByte));
  at::Tensor thr = return_thresholded ? at::empty(p.sizes(), p.options())
                                      : at::empty({0}, p.options());
  if (p.numel() == 0) return {spikes, thr};
  const int64_t numel = p.numel();
  const int64_t N = numel / (B * T);
  const bool has_th = threshold.has_value();
  const float th = has_th ? static_cast<float>(*threshold) : 0.f;
  constexpr int threads = 256;
  const unsigned int blocks = cuda::grid_for(numel, threads);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "fire_cuda", [&] {
    FASTSPIKE_DISPATCH_INDEX(numel, [&] {
      fire_kernel<scalar_t, index_t><<<blocks, threads, 0, stream>>>(
          p.const_data_ptr<scalar_t>(), spikes.mutable_data_ptr<uint8_t>(),
          return_thresholded ? thr.mutable_data_ptr<scalar_t>() : nullptr,
          static_cast<index_t>(numel), static_cast<index_t>(N), static_cast<index_t>(T), has_th,
          th);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {spikes, thr};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) { m.impl("fire", &fire_cuda); }

}  // namespace fastspike
