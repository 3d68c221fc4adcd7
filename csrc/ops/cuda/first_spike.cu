// CUDA kernels for fastspike::first_spike, first_spike_from_wave and
// spike_wave; the same per-neuron loops as csrc/ops/cpu/first_spike.cpp.
#include "fastspike/checks.h"
#include "fastspike/neuron.h"
#include "launch.cuh"

#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <vector>

namespace fastspike {
namespace {

constexpr int kThreads = 256;

// "S[t] != 0" as the CPU loop evaluates it (no denormal flushing there), made
// independent of -ftz=true: a subnormal float / bfloat16 is a spike, -0 is not.
template <typename T>
__device__ __forceinline__ bool is_spike(T v) {
  return v != T(0);
}
__device__ __forceinline__ bool is_spike(float v) { return (__float_as_uint(v) << 1) != 0u; }
__device__ __forceinline__ bool is_spike(c10::Half v) { return (v.x & 0x7fffu) != 0u; }
__device__ __forceinline__ bool is_spike(c10::BFloat16 v) { return (v.x & 0x7fffu) != 0u; }

// One thread per neuron (b, n) of potentials [B, T, N]: first t with
// P[t] > threshold (no threshold: T-1 if P[T-1] > 0), else T.
template <typename scalar_t, typename tau_t, typename index_t>
__global__ void first_spike_kernel(const scalar_t* __restrict__ P, tau_t* __restrict__ tau,
                                   scalar_t* __restrict__ V, index_t BN, index_t N, index_t T,
                                   bool has_th, float th) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < BN;
       i += stride) {
    const index_t b = i / N, n = i - b * N;
    const scalar_t* Pb = P + b * T * N + n;
    index_t t_first = T;
    if (has_th) {
      for (index_t t = 0; t < T; ++t) {
        if (neuron::if_above(static_cast<float>(Pb[t * N]), th)) {
          t_first = t;
          break;
        }
      }
    } else if (static_cast<float>(Pb[(T - 1) * N]) > 0.f) {
      t_first = T - 1;
    }
    tau[i] = static_cast<tau_t>(t_first);
    V[i] = t_first < T ? Pb[t_first * N] : scalar_t(0);
  }
}

// One thread per neuron (b, n) of spikes [B, T, N]: tau = T - #{t : S[t] != 0}.
template <typename spike_t, typename tau_t, typename index_t>
__global__ void wave_count_kernel(const spike_t* __restrict__ S, tau_t* __restrict__ tau,
                                  index_t BN, index_t N, index_t T) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < BN;
       i += stride) {
    const index_t b = i / N, n = i - b * N;
    const spike_t* Sb = S + b * T * N + n;
    index_t count = 0;
    for (index_t t = 0; t < T; ++t) count += is_spike(Sb[t * N]);
    tau[i] = static_cast<tau_t>(T - count);
  }
}

// V[b, n] = P[b, tau, n]; a neuron that never fires gets 0 (clean) or
// P[b, T-1, n] (compat: the reference clamps tau before the gather).
template <typename scalar_t, typename tau_t, typename index_t>
__global__ void wave_gather_kernel(const scalar_t* __restrict__ P, const tau_t* __restrict__ tau,
                                   scalar_t* __restrict__ V, index_t BN, index_t N, index_t T,
                                   bool compat) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < BN;
       i += stride) {
    const index_t b = i / N, n = i - b * N;
    index_t t = tau[i];
    if (t >= T) {
      if (!compat) {
        V[i] = scalar_t(0);
        continue;
      }
      t = T - 1;
    }
    V[i] = P[(b * T + t) * N + n];
  }
}

// One thread per element of wave [B, T, N]: S[b, t, n] = t >= tau[b, n].
template <typename tau_t, typename index_t>
__global__ void spike_wave_kernel(const tau_t* __restrict__ tau, uint8_t* __restrict__ S,
                                  index_t numel, index_t N, index_t T) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < numel;
       idx += stride) {
    const index_t bt = idx / N, n = idx - bt * N;
    const index_t b = bt / T, t = bt - b * T;
    S[idx] = t >= static_cast<index_t>(tau[b * N + n]);
  }
}

std::tuple<at::Tensor, at::Tensor> first_spike_cuda(const at::Tensor& potentials,
                                                    std::optional<double> threshold) {
  check_potentials(potentials, "potentials");
  check_threshold(threshold);
  const int64_t T = potentials.size(1);
  TORCH_CHECK(T <= kMaxTInt16, "potentials: at most ", kMaxTInt16, " time steps, got ", T);
  cuda::check_cuda(potentials, "potentials");
  c10::cuda::CUDAGuard guard(potentials.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto p = potentials.contiguous();
  const int64_t B = p.size(0);
  const auto out_shape = drop_time_dim(p);
  auto times = at::empty(out_shape, p.options().dtype(times_dtype_for(T)));
  auto values = at::empty(out_shape, p.options());  // every element is written
  if (times.numel() == 0) return {times, values};
  const int64_t BN = times.numel(), N = BN / B;
  const bool has_th = threshold.has_value();
  const float th = has_th ? static_cast<float>(*threshold) : 0.f;
  const unsigned int blocks = cuda::grid_for(BN, kThreads);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "first_spike", [&] {
    FASTSPIKE_DISPATCH_TIMES(times.scalar_type(), "first_spike", [&] {
      FASTSPIKE_DISPATCH_INDEX(p.numel(), [&] {
        first_spike_kernel<scalar_t, tau_t, index_t><<<blocks, kThreads, 0, stream>>>(
            p.const_data_ptr<scalar_t>(), times.mutable_data_ptr<tau_t>(),
            values.mutable_data_ptr<scalar_t>(), static_cast<index_t>(BN),
            static_cast<index_t>(N), static_cast<index_t>(T), has_th, th);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return {times, values};
}

std::tuple<at::Tensor, at::Tensor> first_spike_from_wave_cuda(
    const at::Tensor& spikes, const std::optional<at::Tensor>& potentials, bool compat) {
  const int64_t T = check_wave(spikes, potentials);
  const bool has_p = potentials.has_value() && potentials->defined();
  cuda::check_cuda(spikes, "spikes");
  c10::cuda::CUDAGuard guard(spikes.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto s = (spikes.scalar_type() == at::kBool ? spikes.to(at::kByte) : spikes).contiguous();
  const int64_t B = s.size(0);
  const auto out_shape = drop_time_dim(s);
  auto times = at::empty(out_shape, s.options().dtype(times_dtype_for(T)));
  at::Tensor p = has_p ? potentials->contiguous() : at::Tensor();
  // Every element of values is written by the gather kernel.
  at::Tensor values = has_p ? at::empty(out_shape, p.options())
                            : at::empty({0}, s.options().dtype(at::kFloat));
  if (times.numel() == 0) return {times, values};
  const int64_t BN = times.numel(), N = BN / B;
  const unsigned int blocks = cuda::grid_for(BN, kThreads);
  FASTSPIKE_DISPATCH_TIMES(times.scalar_type(), "first_spike_from_wave", [&] {
    FASTSPIKE_DISPATCH_INDEX(s.numel(), [&] {
      AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, s.scalar_type(),
                                 "first_spike_from_wave", [&] {
        wave_count_kernel<scalar_t, tau_t, index_t><<<blocks, kThreads, 0, stream>>>(
            s.const_data_ptr<scalar_t>(), times.mutable_data_ptr<tau_t>(),
            static_cast<index_t>(BN), static_cast<index_t>(N), static_cast<index_t>(T));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
      if (!has_p) return;
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(),
                                      "first_spike_from_wave", [&] {
        wave_gather_kernel<scalar_t, tau_t, index_t><<<blocks, kThreads, 0, stream>>>(
            p.const_data_ptr<scalar_t>(), times.const_data_ptr<tau_t>(),
            values.mutable_data_ptr<scalar_t>(), static_cast<index_t>(BN),
            static_cast<index_t>(N), static_cast<index_t>(T), compat);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return {times, values};
}

at::Tensor spike_wave_cuda(const at::Tensor& times, int64_t T) {
  TORCH_CHECK(times.defined() &&
                  (times.scalar_type() == at::kByte || times.scalar_type() == at::kShort),
              "times: expected first-spike times of dtype uint8 or int16");
  TORCH_CHECK(times.dim() >= 1, "times: expected shape [B, ...], got a 0-D tensor");
  check_T(T, times.scalar_type());
  cuda::check_cuda(times, "times");
  c10::cuda::CUDAGuard guard(times.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto tm = times.contiguous();
  std::vector<int64_t> shape(tm.sizes().begin(), tm.sizes().end());
  shape.insert(shape.begin() + 1, T);
  auto wave = at::empty(shape, tm.options().dtype(at::kByte));
  if (wave.numel() == 0) return wave;
  const int64_t numel = wave.numel();
  const int64_t B = tm.size(0), N = tm.numel() / B;
  FASTSPIKE_DISPATCH_TIMES(tm.scalar_type(), "spike_wave", [&] {
    FASTSPIKE_DISPATCH_INDEX(numel, [&] {
      spike_wave_kernel<tau_t, index_t><<<cuda::grid_for(numel, kThreads), kThreads, 0, stream>>>(
          tm.const_data_ptr<tau_t>(), wave.mutable_data_ptr<uint8_t>(),
          static_cast<index_t>(numel), static_cast<index_t>(N), static_cast<index_t>(T));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return wave;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) {
  m.impl("first_spike", &first_spike_cuda);
  m.impl("first_spike_from_wave", &first_spike_from_wave_cuda);
  m.impl("spike_wave", &spike_wave_cuda);
}

}  // namespace fastspike
