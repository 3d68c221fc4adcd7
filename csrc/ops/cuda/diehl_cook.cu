// CUDA kernels for fastspike::diehl_cook_train and fastspike::diehl_cook_infer: one
// thread block simulates one network, step by step, with the neuron, STDP and Philox
// functions of fastspike/diehl_cook.h (the CPU kernels run the same functions, in the
// same order; see csrc/ops/cpu/diehl_cook.cpp for the step).
//   train: one block runs the images in order (the exact sequential algorithm; the
//          parallelism is over neurons and inputs within a step).
//   infer: one block per image, each from rest, in chunks of images.
// Threads own inputs (e = tid, tid + blockDim, ...) and neurons (j likewise). Each
// step's spiking inputs and excitatory neurons are bit masks in shared memory built
// with warp ballots, so every thread walks them in ascending order, as the CPU does.
#include "fastspike/diehl_cook_args.h"
#include "launch.cuh"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace fastspike {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxInputs = 2048;  // Philox words and thresholds live in shared memory

struct DevNet {
  float* w;      // [n_in, N]
  float* theta;  // [N]
  float* f;      // [7, N]: ve, ge, gi, vi, gei, y1, y2
  int32_t* i;    // [4, N]: refe, refi, se, si
  float* xpre;   // [n_in] (learning only)
};

struct Shared {
  uint32_t* in_mask;    // [ceil(n_in / 32)]
  uint32_t* post_mask;  // [ceil(N / 32)]
  uint32_t* words;      // [4 * n_in]
  uint64_t* thr;        // [n_in]
  int* counters;        // [4]: inhibitory spikes at the last step, at this step, total spikes, any
};

__device__ void rest_state(DevNet& n, int N, const dc::Params& p) {
  for (int j = threadIdx.x; j < N; j += blockDim.x) {
    n.f[j] = p.rest_e;
    n.f[3 * N + j] = p.rest_i;
    n.f[N + j] = n.f[2 * N + j] = n.f[4 * N + j] = n.f[5 * N + j] = n.f[6 * N + j] = 0.f;
    n.i[j] = n.i[N + j] = n.i[2 * N + j] = n.i[3 * N + j] = 0;
  }
}

// each neuron's input weights scaled to sum to p.norm (the sum in double, in input order)
__device__ void normalise(float* w, int n_in, int N, const dc::Params& p) {
  for (int j = threadIdx.x; j < N; j += blockDim.x) {
    double sum = 0.0;
    for (int i = 0; i < n_in; ++i) sum += w[static_cast<int64_t>(i) * N + j];
    const float fct = sum > 0 ? static_cast<float>(p.norm / sum) : 1.f;
    for (int i = 0; i < n_in; ++i) {
      float* wp = w + static_cast<int64_t>(i) * N + j;
      *wp = math::mul_rn(*wp, fct);
    }
  }
}

// one step; mask words are walked in ascending order
template <bool Learn>
__device__ void step(DevNet& n, int n_in, int N, const dc::Params& p, Shared& s, bool input, int32_t* counts,
                     bool count) {
  const int nw_in = (n_in + 31) / 32, nw_post = (N + 31) / 32;
  float* ve = n.f;
  float* ge = n.f + N;
  float* gi = n.f + 2 * N;
  float* vi = n.f + 3 * N;
  float* gei = n.f + 4 * N;
  float* y1 = n.f + 5 * N;
  float* y2 = n.f + 6 * N;
  int32_t* refe = n.i;
  int32_t* refi = n.i + N;
  int32_t* se = n.i + 2 * N;
  int32_t* si = n.i + 3 * N;
  const int inh_prev = s.counters[0];
  const int rounds = (N + blockDim.x - 1) / blockDim.x;
  int inh_now = 0;
  for (int r = 0; r < rounds; ++r) {
    const int j = r * blockDim.x + threadIdx.x;
    bool spiked = false;
    if (j < N) {
      float g = ge[j];
      if (input) {
        for (int k = 0; k < nw_in; ++k) {
          uint32_t m = s.in_mask[k];
          while (m) {
            const int e = 32 * k + __ffs(m) - 1;
            m &= m - 1;
            g = math::add_rn(g, n.w[static_cast<int64_t>(e) * N + j]);
          }
        }
      }
      float gin = gi[j];
      if (inh_prev > 0) gin = math::add_rn(gin, math::mul_rn(p.w_ie, static_cast<float>(inh_prev - si[j])));
      float gie = math::add_rn(gei[j], math::mul_rn(p.w_ei, static_cast<float>(se[j])));
      float v = ve[j];
      int32_t ref = refe[j];
      const float th = n.theta[j];
      spiked = dc::exc_step(v, g, gin, ref, th, p);
      ve[j] = v;
      ge[j] = g;
      gi[j] = gin;
      refe[j] = ref;
      se[j] = spiked;
      if (Learn) n.theta[j] = math::add_rn(th, spiked ? p.theta_plus : 0.f);
      float vv = vi[j];
      int32_t rr = refi[j];
      const bool si_now = dc::inh_step(vv, gie, rr, p);
      vi[j] = vv;
      gei[j] = gie;
      refi[j] = rr;
      si[j] = si_now;
      inh_now += si_now;
      if (count && spiked) counts[j] += 1;
    }
    const uint32_t b = __ballot_sync(0xffffffffu, spiked);
    if ((threadIdx.x & 31) == 0 && 32 * (j / 32) < N) s.post_mask[j / 32] = b;
  }
  if (inh_now) atomicAdd(&s.counters[1], inh_now);
  if (Learn) {
    for (int e = threadIdx.x; e < n_in; e += blockDim.x) n.xpre[e] = math::mul_rn(n.xpre[e], p.decay_pre);
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
      const float a = math::mul_rn(y1[j], p.decay_post1);
      y1[j] = a;
      y2[j] = math::mul_rn(y2[j], p.decay_post2);
      if (input) {
        for (int k = 0; k < nw_in; ++k) {
          uint32_t m = s.in_mask[k];
          while (m) {
            const int e = 32 * k + __ffs(m) - 1;
            m &= m - 1;
            float* wp = n.w + static_cast<int64_t>(e) * N + j;
            *wp = dc::depress(*wp, a, p);
          }
        }
      }
    }
    if (input) {
      for (int e = threadIdx.x; e < n_in; e += blockDim.x)
        if ((s.in_mask[e / 32] >> (e % 32)) & 1u) n.xpre[e] = 1.f;
    }
  }
  __syncthreads();  // post_mask, counters, y, x_pre, depressed weights
  if (Learn) {
    for (int k = 0; k < nw_post; ++k) {
      uint32_t m = s.post_mask[k];
      while (m) {
        const int j = 32 * k + __ffs(m) - 1;
        m &= m - 1;
        const float y = y2[j];
        for (int i = threadIdx.x; i < n_in; i += blockDim.x) {
          float* wp = n.w + static_cast<int64_t>(i) * N + j;
          *wp = dc::potentiate(*wp, n.xpre[i], y, p);
        }
      }
    }
    __syncthreads();  // every potentiation read y2 before it is set
    for (int j = threadIdx.x; j < N; j += blockDim.x)
      if (se[j]) y1[j] = y2[j] = 1.f;
  }
  if (threadIdx.x == 0) {
    s.counters[0] = s.counters[1];
    s.counters[1] = 0;
  }
  __syncthreads();
}

// the spiking inputs of step t (bits of s.in_mask); words refreshed every 4 steps
__device__ void draw(const float* x, int n_in, const dc::Params& p, Shared& s, int attempt, int t, uint64_t g,
                     uint64_t seed, float r) {
  const uint64_t tg = static_cast<uint64_t>(attempt) * p.t_present + t;
  const int q = static_cast<int>(tg % 4);
  const bool fresh = t == 0 || q == 0;
  const int rounds = (n_in + blockDim.x - 1) / blockDim.x;
  for (int rr = 0; rr < rounds; ++rr) {
    const int e = rr * blockDim.x + threadIdx.x;
    bool spike = false;
    if (e < n_in) {
      if (t == 0) s.thr[e] = dc::spike_threshold(x[e], r, p.dt_s);
      if (fresh && s.thr[e]) {
        uint32_t c[4] = {static_cast<uint32_t>(e), static_cast<uint32_t>(tg / 4), static_cast<uint32_t>(g),
                         static_cast<uint32_t>(g >> 32)};
        dc::philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
        for (int k = 0; k < 4; ++k) s.words[4 * e + k] = c[k];
      }
      spike = s.thr[e] && s.words[4 * e + q] < s.thr[e];
    }
    const uint32_t b = __ballot_sync(0xffffffffu, spike);
    if ((threadIdx.x & 31) == 0 && 32 * (e / 32) < n_in) s.in_mask[e / 32] = b;
  }
  __syncthreads();
}

template <bool Learn>
__global__ void dc_kernel(const float* __restrict__ x, float* w, float* theta, float* f, int32_t* ii, float* xpre,
                          int64_t B, int n_in, int N, dc::Params p, uint64_t seed, uint64_t offset,
                          int32_t* counts, int32_t* attempts) {
  extern __shared__ uint64_t smem[];
  Shared s;
  s.thr = smem;
  s.words = reinterpret_cast<uint32_t*>(s.thr + n_in);
  s.in_mask = s.words + 4 * n_in;
  s.post_mask = s.in_mask + (n_in + 31) / 32;
  s.counters = reinterpret_cast<int*>(s.post_mask + (N + 31) / 32);
  DevNet n{w, theta, f, ii, xpre};
  if (!Learn) {  // this block's own state
    n.f += static_cast<int64_t>(blockIdx.x) * 7 * N;
    n.i += static_cast<int64_t>(blockIdx.x) * 4 * N;
  }
  if (threadIdx.x == 0) {
    s.counters[1] = 0;
    s.counters[2] = 0;
  }
  if (Learn && threadIdx.x == 0) {  // inhibitory spikes of the last step of the previous call
    int c = 0;
    for (int j = 0; j < N; ++j) c += n.i[3 * N + j];
    s.counters[0] = c;
  }
  __syncthreads();
  const int64_t b0 = Learn ? 0 : blockIdx.x, b1 = Learn ? B : blockIdx.x + 1;
  for (int64_t b = b0; b < b1; ++b) {
    const float* xb = x + b * n_in;
    int32_t* cb = counts + b * N;
    const uint64_t g = offset + b;
    int attempt = 0;
    for (;; ++attempt) {
      if (Learn) {
        normalise(w, n_in, N, p);
      } else {
        rest_state(n, N, p);
        if (threadIdx.x == 0) s.counters[0] = 0;
      }
      for (int j = threadIdx.x; j < N; j += blockDim.x) cb[j] = 0;
      __syncthreads();
      const float r = dc::rate_of(attempt, p);
      const int steps = p.t_present + (Learn ? p.t_rest : 0);
      for (int t = 0; t < steps; ++t) {
        const bool input = t < p.t_present;
        if (input) draw(xb, n_in, p, s, attempt, t, g, seed, r);
        step<Learn>(n, n_in, N, p, s, input, cb, input);
      }
      int total = 0;
      for (int j = threadIdx.x; j < N; j += blockDim.x) {
        total += cb[j];
        if (Learn) theta[j] = math::mul_rn(theta[j], p.decay_theta);
      }
      if (total) atomicAdd(&s.counters[2], total);
      __syncthreads();
      const int all = s.counters[2];
      __syncthreads();
      if (threadIdx.x == 0) s.counters[2] = 0;
      if (all >= p.min_spikes || attempt + 1 >= p.max_attempts) break;
    }
    if (threadIdx.x == 0) attempts[b] = attempt + 1;
    __syncthreads();
  }
}

// trace_stdp: one block runs the samples and steps in order (see csrc/ops/diehl_cook.cpp)
__global__ void trace_stdp_kernel(const uint8_t* __restrict__ pre, const uint8_t* __restrict__ post, float* w,
                                  float* xpre, float* y, int64_t B, int64_t T, int n_in, int N, dc::Params p) {
  float* y1 = y;
  float* y2 = y + N;
  for (int64_t b = 0; b < B; ++b) {
    if (p.norm > 0) normalise(w, n_in, N, p);
    __syncthreads();
    for (int64_t t = 0; t < T; ++t) {
      const uint8_t* r = pre + (b * T + t) * n_in;
      const uint8_t* q = post + (b * T + t) * N;
      for (int j = threadIdx.x; j < N; j += blockDim.x) {
        const float a = math::mul_rn(y1[j], p.decay_post1);
        y1[j] = a;
        y2[j] = math::mul_rn(y2[j], p.decay_post2);
        for (int i = 0; i < n_in; ++i) {
          if (!r[i]) continue;
          float* wp = w + static_cast<int64_t>(i) * N + j;
          *wp = dc::depress(*wp, a, p);
        }
      }
      for (int e = threadIdx.x; e < n_in; e += blockDim.x) {
        const float x = math::mul_rn(xpre[e], p.decay_pre);
        xpre[e] = r[e] ? 1.f : x;
      }
      __syncthreads();
      for (int i = threadIdx.x; i < n_in; i += blockDim.x) {
        for (int j = 0; j < N; ++j) {
          if (!q[j]) continue;
          float* wp = w + static_cast<int64_t>(i) * N + j;
          *wp = dc::potentiate(*wp, xpre[i], y2[j], p);
        }
      }
      __syncthreads();
      for (int j = threadIdx.x; j < N; j += blockDim.x)
        if (q[j]) y1[j] = y2[j] = 1.f;
      __syncthreads();
    }
  }
}

void trace_stdp_cuda(const at::Tensor& pre, const at::Tensor& post, at::Tensor& w, at::Tensor& x_pre, at::Tensor& y,
                     c10::ArrayRef<double> params) {
  dc::Params p;
  const auto s = check_trace_stdp(pre, post, w, x_pre, y, params, p);
  cuda::check_cuda(pre, "pre");
  const c10::cuda::CUDAGuard guard(pre.device());
  const auto pc = pre.contiguous();
  const auto qc = post.contiguous();
  if (s.B == 0) return;
  trace_stdp_kernel<<<1, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      pc.const_data_ptr<uint8_t>(), qc.const_data_ptr<uint8_t>(), w.mutable_data_ptr<float>(),
      x_pre.mutable_data_ptr<float>(), y.mutable_data_ptr<float>(), s.B, s.T, static_cast<int>(s.n_in),
      static_cast<int>(s.N), p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

size_t shared_bytes(int64_t n_in, int64_t N) {
  return sizeof(uint64_t) * n_in + sizeof(uint32_t) * (4 * n_in + (n_in + 31) / 32 + (N + 31) / 32) + 4 * sizeof(int) + 8;
}

void check_cuda_args(const DcShape& s, const at::Tensor& x) {
  cuda::check_cuda(x, "x");
  TORCH_CHECK(s.n_in <= kMaxInputs, "x: the CUDA kernels take at most ", kMaxInputs, " inputs, got ", s.n_in);
  TORCH_CHECK(s.N <= (int64_t(1) << 24), "w: at most 2^24 neurons, got ", s.N);
  TORCH_CHECK(shared_bytes(s.n_in, s.N) <= 48 * 1024, "w: too many inputs and neurons for one block's shared memory");
}

std::tuple<at::Tensor, at::Tensor> diehl_cook_train_cuda(const at::Tensor& x, at::Tensor& w, at::Tensor& theta,
                                                        at::Tensor& state, at::Tensor& refs, at::Tensor& x_pre,
                                                        c10::ArrayRef<double> params,
                                                        c10::ArrayRef<int64_t> iparams, int64_t seed,
                                                        int64_t sample_offset) {
  const auto p = dc_params(params, iparams);
  const auto s = check_dc(x, w, theta, seed, sample_offset);
  check_dc_state(s, w, state, refs, x_pre);
  check_cuda_args(s, x);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto xc = x.contiguous();
  auto counts = at::zeros({s.B, s.N}, x.options().dtype(at::kInt));
  auto attempts = at::zeros({s.B}, x.options().dtype(at::kInt));
  if (s.B == 0) return {counts, attempts};
  dc_kernel<true><<<1, kThreads, shared_bytes(s.n_in, s.N), c10::cuda::getCurrentCUDAStream()>>>(
      xc.const_data_ptr<float>(), w.mutable_data_ptr<float>(), theta.mutable_data_ptr<float>(),
      state.mutable_data_ptr<float>(), refs.mutable_data_ptr<int32_t>(), x_pre.mutable_data_ptr<float>(), s.B,
      static_cast<int>(s.n_in), static_cast<int>(s.N), p, static_cast<uint64_t>(seed),
      static_cast<uint64_t>(sample_offset), counts.mutable_data_ptr<int32_t>(), attempts.mutable_data_ptr<int32_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {counts, attempts};
}

std::tuple<at::Tensor, at::Tensor> diehl_cook_infer_cuda(const at::Tensor& x, const at::Tensor& w,
                                                        const at::Tensor& theta, c10::ArrayRef<double> params,
                                                        c10::ArrayRef<int64_t> iparams, int64_t seed,
                                                        int64_t sample_offset) {
  const auto p = dc_params(params, iparams);
  const auto s = check_dc(x, w, theta, seed, sample_offset);
  check_cuda_args(s, x);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto xc = x.contiguous();
  auto counts = at::zeros({s.B, s.N}, x.options().dtype(at::kInt));
  auto attempts = at::zeros({s.B}, x.options().dtype(at::kInt));
  // per-block state, for chunks of images
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(s.B, (int64_t(1) << 28) / (11 * s.N * 4)));
  auto f = at::empty({std::max<int64_t>(1, std::min(chunk, s.B)) * 7 * s.N}, x.options());
  auto ii = at::empty({std::max<int64_t>(1, std::min(chunk, s.B)) * 4 * s.N}, x.options().dtype(at::kInt));
  for (int64_t b = 0; b < s.B; b += chunk) {
    const int64_t nb = std::min(chunk, s.B - b);
    dc_kernel<false><<<static_cast<unsigned>(nb), kThreads, shared_bytes(s.n_in, s.N),
                       c10::cuda::getCurrentCUDAStream()>>>(
        xc.const_data_ptr<float>() + b * s.n_in, const_cast<float*>(w.const_data_ptr<float>()),
        const_cast<float*>(theta.const_data_ptr<float>()), f.mutable_data_ptr<float>(),
        ii.mutable_data_ptr<int32_t>(), nullptr, nb, static_cast<int>(s.n_in), static_cast<int>(s.N), p,
        static_cast<uint64_t>(seed), static_cast<uint64_t>(sample_offset + b),
        counts.mutable_data_ptr<int32_t>() + b * s.N, attempts.mutable_data_ptr<int32_t>() + b);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {counts, attempts};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CUDA, m) {
  m.impl("diehl_cook_train", &diehl_cook_train_cuda);
  m.impl("diehl_cook_infer", &diehl_cook_infer_cuda);
  m.impl("trace_stdp", &trace_stdp_cuda);
}

}  // namespace fastspike
