// CUDA kernels for fastspike::lif_run and fastspike::izhikevich_run: one thread
// per neuron loops over the T steps with its state in registers and runs the
// per-neuron steps of fastspike/neuron.h (the CPU kernels run the same
// functions). Consecutive threads read consecutive neurons of one step's row.
#include "fastspike/neuron_args.h"
#include "launch.cuh"

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cmath>

namespace fastspike {
namespace {

template <typename index_t>
__global__ void lif_kernel(const float* __restrict__ cur, float* __restrict__ v, int32_t* __restrict__ ref,
                           uint8_t* __restrict__ spikes, float* __restrict__ trace, index_t B, index_t T,
                           index_t N, neuron::LifParams p) {
  const index_t total = B * N;
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const index_t b = i / N, n = i % N;
    float vv = v[i];
    int32_t rr = ref[i];
    for (index_t t = 0; t < T; ++t) {
      const index_t at = (b * T + t) * N + n;
      spikes[at] = neuron::lif_step(vv, rr, cur[at], p);
      if (trace) trace[at] = vv;
    }
    v[i] = vv;
    ref[i] = rr;
  }
}

template <typename index_t>
__global__ void izh_kernel(const float* __restrict__ cur, float* __restrict__ v, float* __restrict__ u,
                           uint8_t* __restrict__ spikes, float* __restrict__ trace, index_t B, index_t T,
                           index_t N, neuron::IzhParams p) {
  const index_t total = B * N;
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const index_t b = i / N, n = i % N;
    float vv = v[i], uu = u[i];
    for (index_t t = 0; t < T; ++t) {
      const index_t at = (b * T + t) * N + n;
      spikes[at] = neuron::izh_step(vv, uu, cur[at], p);
      if (trace) trace[at] = vv;
    }
    v[i] = vv;
    u[i] = uu;
  }
}


std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> lif_run_cuda(
    const at::Tensor& current, const at::Tensor& v0, const at::Tensor& ref0, double k, double alpha,
    double beta, double v_rest, double v_reset, double v_th, double R, int64_t n_ref, bool exact,
    bool return_trace) {
  const auto g = check_neurons(current, v0);
  const auto p = check_lif_run(current, ref0, k, alpha, beta, v_rest, v_reset, v_th, R, n_ref, exact);
  cuda::check_cuda(current, "current");
  c10::cuda::CUDAGuard guard(current.device());
  const auto cur = current.contiguous();
  auto spikes = at::empty(cur.sizes(), cur.options().dtype(at::kByte));
  auto v = v0.contiguous().clone();
  auto ref = ref0.contiguous().clone();
  auto trace = return_trace ? at::empty(cur.sizes(), cur.options()) : at::empty({0}, cur.options());
  if (cur.numel() == 0) return {spikes, v, ref, trace};
  constexpr int threads = 256;
  const unsigned int blocks = cuda::grid_for(g.B * g.N, threads);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  FASTSPIKE_DISPATCH_INDEX(cur.numel() + g.N, [&] {
    lif_kernel<index_t><<<blocks, threads, 0, stream>>>(
        cur.const_data_ptr<float>(), v.mutable_data_ptr<float>(), ref.mutable_data_ptr<int32_t>(),
        spikes.mutable_data_ptr<uint8_t>(), return_trace ? trace.mutable_data_ptr<float>() : nullptr,
        static_cast<index_t>(g.B), static_cast<index_t>(g.T), static_cast<index_t>(g.N), p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {spikes, v, ref, trace};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> izhikevich_run_cuda(
    const at::Tensor& current, const at::Tensor& v0, const at::Tensor& u0, double a, double b, double c,
    double d, double dt, int64_t n_sub, bool compat, bool return_trace) {
  const auto g = check_neurons(current, v0);
  const auto p = check_izhikevich_run(current, u0, a, b, c, d, dt, n_sub, compat);
  cuda::check_cuda(current, "current");
  c10::cuda::CUDAGuard guard(current.device());
  const auto cur = current.contiguous();
  auto spikes = at::empty(cur.sizes(), cur.options().dtype(at::kByte));
  auto v = v0.contiguous().clone();
  auto u = u0.contiguous().clone();
  auto trace = return_trace ? at::empty(cur.sizes(), cur.options()) : at::empty({0}, cur.options());
  if (cur.numel() == 0) return {spikes, v, u, trace};
  constexpr int threads = 256;
  const unsigned int blocks = cuda::grid_for(g.B * g.N, threads);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  FASTSPIKE_DISPATCH_INDEX(cur.numel() + g.N, [&] {
    izh_kernel<index_t><<<blocks, threads, 0, stream>>>(
        cur.const_data_ptr<float>(), v.mutable_data_ptr<float>(), u.mutable_data_ptr<float>(),
        spikes.mutable_data_ptr<uint8_t>(), return_trace ? trace.mutable_data_ptr<float>() : nullptr,
        static_cast<index_t>(g.B), static_cast<index_t>(g.T), static_cast<index_t>(g.N), p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {spikes, v, u, trace};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) {
  m.impl("lif_run", &lif_run_cuda);
  m.impl("izhikevich_run", &izhikevich_run_cuda);
}

}  // namespace fastspike
