// CPU kernels for fastspike::diehl_cook_train and fastspike::diehl_cook_infer: a loop
// around the per-neuron steps, the STDP rule and the Philox draws of
// fastspike/diehl_cook.h (the CUDA kernels run the same functions).
//
// One presentation, step by step (t = 0 .. t_present + t_rest - 1; input only while
// t < t_present):
//   1. arrivals: g_e += w[i, :] for every input i spiking at t (ascending i);
//      g_i[j] += w_ie * (inhibitory spikes at t-1 other than j's own);
//      inhibitory g_e[j] += w_ei * (excitatory j spiked at t-1)
//   2. the excitatory, then the inhibitory neurons step (dc::exc_step, dc::inh_step);
//      learning: theta += theta_plus where an excitatory neuron spiked
//   3. learning: traces decay; depression for the inputs spiking at t (ascending i),
//      then x_pre = 1 there; potentiation for the excitatory neurons spiking at t
//      (ascending j), then y1 = y2 = 1 there
//   4. counts += excitatory spikes (while t < t_present)
// Training runs the images in order with the state carried, normalising the weights
// before every presentation and decaying theta after it; a presentation with fewer than
// min_spikes excitatory spikes is shown again (after its rest) at the next intensity.
// Inference starts every presentation from the resting state and skips the rest.
#include "fastspike/diehl_cook_args.h"

#include <ATen/Parallel.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace fastspike {
namespace {

// One network's state (pointers into the op's tensors or a thread's scratch).
struct Net {
  float* w;      // [n_in, N]
  float* theta;  // [N]
  float *ve, *ge, *gi, *vi, *gei, *y1, *y2;  // [N]
  int32_t *refe, *refi, *se, *si;            // [N]
  float* xpre;                               // [n_in]
  int64_t n_in, N;
};

struct Scratch {
  std::vector<int32_t> nz;       // inputs that can spike (threshold > 0)
  std::vector<uint64_t> thr;     // their thresholds
  std::vector<uint32_t> words;   // 4 Philox words per such input
  std::vector<int32_t> in;       // inputs spiking at this step
  std::vector<int32_t> post;     // excitatory neurons spiking at this step
};

// image<Learn>() and its helpers: one copy per instruction set.
namespace generic {
#include "diehl_cook_sim.inc"
}  // namespace generic
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FASTSPIKE_DC_X86 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
namespace avx512 {
#include "diehl_cook_sim.inc"
}  // namespace avx512
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
#include "diehl_cook_sim.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif

using ImageFn = int32_t (*)(Net&, const dc::Params&, Scratch&, const float*, uint64_t, uint64_t, int32_t*,
                            std::vector<double>&);
using TraceFn = void (*)(Net&, const dc::Params&, const uint8_t*, const uint8_t*, int64_t, int64_t,
                        std::vector<double>&);
struct Impl {
  ImageFn learn, infer;
  TraceFn trace;
};

// The widest build the CPU runs, or the one FASTSPIKE_CPU_ISA names (as for conv_fire).
Impl select_impl() {
  const char* env = std::getenv("FASTSPIKE_CPU_ISA");
  const std::string want = env ? env : "";
  TORCH_CHECK(want.empty() || want == "generic" || want == "avx2" || want == "avx512",
              "FASTSPIKE_CPU_ISA: expected generic, avx2 or avx512, got '", want, "'");
  if (want == "generic") return {&generic::image<true>, &generic::image<false>, &generic::trace_stdp};
#ifdef FASTSPIKE_DC_X86
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool has2 = __builtin_cpu_supports("avx2");
  TORCH_CHECK(want != "avx512" || has512, "FASTSPIKE_CPU_ISA: this CPU has no AVX-512");
  TORCH_CHECK(want != "avx2" || has2, "FASTSPIKE_CPU_ISA: this CPU has no AVX2");
  if (want == "avx2" || (!has512 && has2))
    return {&avx2::image<true>, &avx2::image<false>, &avx2::trace_stdp};
  if (has512)
    return {&avx512::image<true>, &avx512::image<false>, &avx512::trace_stdp};
#else
  TORCH_CHECK(want.empty(), "FASTSPIKE_CPU_ISA: this build has only the generic code");
#endif
  return {&generic::image<true>, &generic::image<false>, &generic::trace_stdp};
}

const Impl& impl() {
  static const Impl i = select_impl();
  return i;
}

std::tuple<at::Tensor, at::Tensor> diehl_cook_train_cpu(const at::Tensor& x, at::Tensor& w, at::Tensor& theta,
                                                       at::Tensor& state, at::Tensor& refs, at::Tensor& x_pre,
                                                       c10::ArrayRef<double> params, c10::ArrayRef<int64_t> iparams,
                                                       int64_t seed, int64_t sample_offset) {
  const auto p = dc_params(params, iparams);
  const auto s = check_dc(x, w, theta, seed, sample_offset);
  check_dc_state(s, w, state, refs, x_pre);
  const auto xc = x.contiguous();
  auto counts = at::zeros({s.B, s.N}, x.options().dtype(at::kInt));
  auto attempts = at::zeros({s.B}, x.options().dtype(at::kInt));
  float* sf = state.mutable_data_ptr<float>();
  int32_t* si = refs.mutable_data_ptr<int32_t>();
  const int64_t N = s.N;
  Net n{w.mutable_data_ptr<float>(), theta.mutable_data_ptr<float>(),
        sf, sf + N, sf + 2 * N, sf + 3 * N, sf + 4 * N, sf + 5 * N, sf + 6 * N,
        si, si + N, si + 2 * N, si + 3 * N, x_pre.mutable_data_ptr<float>(), s.n_in, N};
  Scratch sc;
  std::vector<double> sums;
  ScopedFlushDenormal ftz;
  const float* xp = xc.const_data_ptr<float>();
  int32_t* cp = counts.mutable_data_ptr<int32_t>();
  int32_t* ap = attempts.mutable_data_ptr<int32_t>();
  for (int64_t b = 0; b < s.B; ++b) {
    ap[b] = impl().learn(n, p, sc, xp + b * s.n_in, static_cast<uint64_t>(sample_offset + b),
                        static_cast<uint64_t>(seed), cp + b * N, sums);
  }
  return {counts, attempts};
}

std::tuple<at::Tensor, at::Tensor> diehl_cook_infer_cpu(const at::Tensor& x, const at::Tensor& w,
                                                       const at::Tensor& theta, c10::ArrayRef<double> params,
                                                       c10::ArrayRef<int64_t> iparams, int64_t seed,
                                                       int64_t sample_offset) {
  const auto p = dc_params(params, iparams);
  const auto s = check_dc(x, w, theta, seed, sample_offset);
  const auto xc = x.contiguous();
  auto counts = at::zeros({s.B, s.N}, x.options().dtype(at::kInt));
  auto attempts = at::zeros({s.B}, x.options().dtype(at::kInt));
  const float* xp = xc.const_data_ptr<float>();
  int32_t* cp = counts.mutable_data_ptr<int32_t>();
  int32_t* ap = attempts.mutable_data_ptr<int32_t>();
  const int64_t N = s.N;
  // frozen: w and theta are only read
  float* wp = const_cast<float*>(w.const_data_ptr<float>());
  float* tp = const_cast<float*>(theta.const_data_ptr<float>());
  at::parallel_for(0, s.B, 1, [&](int64_t begin, int64_t end) {
    ScopedFlushDenormal ftz;
    std::vector<float> f(9 * N);
    std::vector<int32_t> i(4 * N);
    Net n{wp, tp, f.data(), f.data() + N, f.data() + 2 * N, f.data() + 3 * N, f.data() + 4 * N,
          f.data() + 5 * N, f.data() + 6 * N, i.data(), i.data() + N, i.data() + 2 * N, i.data() + 3 * N,
          nullptr, s.n_in, N};
    Scratch sc;
    std::vector<double> sums;
    for (int64_t b = begin; b < end; ++b) {
      ap[b] = impl().infer(n, p, sc, xp + b * s.n_in, static_cast<uint64_t>(sample_offset + b),
                           static_cast<uint64_t>(seed), cp + b * N, sums);
    }
  });
  return {counts, attempts};
}

void trace_stdp_cpu(const at::Tensor& pre, const at::Tensor& post, at::Tensor& w, at::Tensor& x_pre, at::Tensor& y,
                    c10::ArrayRef<double> params) {
  dc::Params p;
  const auto s = check_trace_stdp(pre, post, w, x_pre, y, params, p);
  const auto pc = pre.contiguous();
  const auto qc = post.contiguous();
  float* yp = y.mutable_data_ptr<float>();
  Net n{};
  n.w = w.mutable_data_ptr<float>();
  n.xpre = x_pre.mutable_data_ptr<float>();
  n.y1 = yp;
  n.y2 = yp + s.N;
  n.n_in = s.n_in;
  n.N = s.N;
  std::vector<double> sums;
  ScopedFlushDenormal ftz;
  impl().trace(n, p, pc.const_data_ptr<uint8_t>(), qc.const_data_ptr<uint8_t>(), s.B, s.T, sums);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) {
  m.impl("diehl_cook_train", &diehl_cook_train_cpu);
  m.impl("diehl_cook_infer", &diehl_cook_infer_cpu);
  m.impl("trace_stdp", &trace_stdp_cpu);
}

}  // namespace fastspike
