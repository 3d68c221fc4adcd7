// CUDA kernel for fastspike::kwta: one thread block per sample, no host sync
// (docs/reference/semantics.md#kwta). Selects exactly the winners of
// csrc/ops/cpu/kwta.cpp: the keys come from the same math::kwta_key, every key
// is unique (its low bits hold the flat index) so the block-wide maximum does
// not depend on the reduction order, and silencing a feature or a window sets
// its keys to 0, which is what the CPU's dead_f / dead_pos flags skip.
#include "fastspike/checks.h"
#include "fastspike/math.h"
#include "launch.cuh"

#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>

namespace fastspike {
namespace {

using rank_key_t = unsigned long long;
constexpr int kMaxWarps = 32;

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int off = 16; off > 0; off >>= 1) {
    const T o = __shfl_down_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  return v;
}

// Maximum over the block of non-negative values (0 is the identity), returned
// to every thread. blockDim.x must be a multiple of 32; smem holds
// kMaxWarps + 1 values and may be reused as soon as this returns.
template <typename T>
__device__ T block_max(T v, T* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_warps = static_cast<int>(blockDim.x >> 5);
  v = warp_max(v);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < n_warps ? smem[lane] : T(0);
    v = warp_max(v);
    if (lane == 0) smem[kMaxWarps] = v;
  }
  __syncthreads();
  v = smem[kMaxWarps];
  __syncthreads();
  return v;
}

// Selects up to k winners of one sample, cooperatively by the whole block.
//   tb, vb [N] (N = F*H*W), kb [N] key scratch, out [k, 3] (prefilled with
//   -1); radius is already clipped to max(H, W).
template <typename tau_t>
__device__ void kwta_sample(const tau_t* __restrict__ tb, const float* __restrict__ vb,
                            rank_key_t* kb, int32_t* __restrict__ out, int N, int F, int H, int W,
                            int T, int64_t k, int radius, bool compat, rank_key_t* s_key,
                            float* s_val) {
  const int HW = H * W;
  float v_shift = 0.f;
  if (compat) {
    // vmax = max(0, values of the candidates); the maximum of non-negative,
    // non-NaN floats does not depend on the order.
    float vmax = 0.f;
    for (int q = threadIdx.x; q < N; q += blockDim.x)
      if (tb[q] < T && vb[q] > vmax) vmax = vb[q];
    vmax = block_max(vmax, s_val);
    v_shift = math::mul_rn(vmax, static_cast<float>(T));
  }
  for (int q = threadIdx.x; q < N; q += blockDim.x)
    kb[q] = math::kwta_key(compat, tb[q], T, vb[q], v_shift, q);
  __syncthreads();

  // At most F iterations find a non-zero key: each one zeroes a feature.
  for (int64_t w = 0; w < k; ++w) {
    rank_key_t best = 0;
    for (int q = threadIdx.x; q < N; q += blockDim.x) {
      const rank_key_t key = kb[q];
      best = key > best ? key : best;
    }
    best = block_max(best, s_key);
    if (best == 0) break;  // uniform: every thread sees the same maximum
    const int q = static_cast<int>(math::index_from_key(best));
    const int f = q / HW, p = q - f * HW;
    const int y = p / W, x = p - y * W;
    if (threadIdx.x == 0) {
      out[w * 3 + 0] = f;
      out[w * 3 + 1] = y;
      out[w * 3 + 2] = x;
    }
    // Silence feature f everywhere and, with radius > 0, every feature in the
    // clipped window around (y, x).
    for (int pp = threadIdx.x; pp < HW; pp += blockDim.x) kb[f * HW + pp] = 0;
    if (radius > 0) {
      const int y0 = max(0, y - radius), y1 = min(H - 1, y + radius);
      const int x0 = max(0, x - radius), x1 = min(W - 1, x + radius);
      const int ww = x1 - x0 + 1, win = (y1 - y0 + 1) * ww;
      for (int e = threadIdx.x; e < F * win; e += blockDim.x) {
        const int ff = e / win, r = e - ff * win;
        const int dy = r / ww, dx = r - dy * ww;
        kb[ff * HW + (y0 + dy) * W + (x0 + dx)] = 0;
      }
    }
    __syncthreads();  // the zeroed keys are visible to the next scan
  }
}

// Block i handles samples i, i + gridDim.x, ... of times / values [B, N];
// out [B, k, 3]. The N ranking keys of a sample live in the block's dynamic
// shared memory when they fit (keys == nullptr), else in the global scratch
// keys [B, N]; the code that reads and writes them is the same.
template <typename tau_t>
__global__ void kwta_kernel(const tau_t* __restrict__ times, const float* __restrict__ values,
                            rank_key_t* keys, int32_t* __restrict__ out, int64_t B, int N, int F,
                            int H, int W, int T, int64_t k, int radius, bool compat) {
  extern __shared__ rank_key_t s_keys[];
  __shared__ rank_key_t s_key[kMaxWarps + 1];
  __shared__ float s_val[kMaxWarps + 1];
  for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {
    kwta_sample<tau_t>(times + b * N, values + b * N, keys ? keys + b * N : s_keys,
                       out + b * k * 3, N, F, H, W, T, k, radius, compat, s_key, s_val);
    __syncthreads();
  }
}

at::Tensor kwta_cuda(const at::Tensor& times, const at::Tensor& values, int64_t T, int64_t k,
                     int64_t radius, bool compat) {
  check_kwta(times, values, T, k, radius, math::kMaxKwtaNeurons);
  const int64_t B = times.size(0), F = times.size(1), H = times.size(2), W = times.size(3);
  cuda::check_cuda(times, "times");
  c10::cuda::CUDAGuard guard(times.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const auto tm = times.contiguous();
  const auto vl = values.contiguous();
  auto winners = at::full({B, k, 3}, -1, tm.options().dtype(at::kInt));
  if (B == 0 || F * H * W == 0) return winners;
  const int64_t N = F * H * W;
  // One ranking key per neuron: in shared memory when a sample's keys fit in what
  // a block may opt in to (S1 of Mozafari 2018: 23,520 keys, 184 KiB; S3: 3,200),
  // else a global scratch (uint64 stored in an int64 tensor; S2: 49,000 keys).
  int device = 0, optin = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const size_t key_bytes = static_cast<size_t>(N) * sizeof(rank_key_t);
  const size_t static_bytes = 2 * (kMaxWarps + 1) * sizeof(rank_key_t);
  const bool keys_in_smem = key_bytes + static_bytes <= static_cast<size_t>(optin);
  at::Tensor keys;
  if (!keys_in_smem) keys = at::empty({B, N}, tm.options().dtype(at::kLong));
  // A radius of max(H, W) already covers the whole map.
  const int r = static_cast<int>(std::min<int64_t>(radius, std::max(H, W)));
  const auto blocks =
      static_cast<unsigned int>(std::min<int64_t>(B, std::numeric_limits<int32_t>::max()));
  const int threads = N <= 2048 ? 128 : N <= 8192 ? 256 : N <= 32768 ? 512 : 1024;
  FASTSPIKE_DISPATCH_TIMES(tm.scalar_type(), "kwta", [&] {
    const size_t smem = keys_in_smem ? key_bytes : 0;
    if (smem > 48 * 1024)  // above the default limit a kernel must opt in
      C10_CUDA_CHECK(cudaFuncSetAttribute(kwta_kernel<tau_t>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)));
    kwta_kernel<tau_t><<<blocks, threads, smem, stream>>>(
        tm.const_data_ptr<tau_t>(), vl.const_data_ptr<float>(),
        keys_in_smem ? nullptr : reinterpret_cast<rank_key_t*>(keys.mutable_data_ptr<int64_t>()),
        winners.mutable_data_ptr<int32_t>(), B, static_cast<int>(N), static_cast<int>(F),
        static_cast<int>(H), static_cast<int>(W), static_cast<int>(T), k, r, compat);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return winners;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) { m.impl("kwta", &kwta_cuda); }

}  // namespace fastspike
