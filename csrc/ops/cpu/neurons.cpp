// CPU kernels for fastspike::lif_run and fastspike::izhikevich_run: a loop
// around the per-neuron steps of fastspike/neuron.h (the CUDA kernels run the
// same functions). Work is split over (sample, block of neurons); inside a block
// the time loop is outermost, so each step reads one contiguous row of current.
#include "fastspike/neuron_args.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <cmath>

namespace fastspike {
namespace {

constexpr int64_t kBlock = 256;  // neurons per task


// Runs `step(v, state2, I)` for every neuron of every sample over T steps. A task's
// states live in local arrays and every pointer is restrict-qualified (a uint8 store
// may otherwise alias the float state), so the neuron loop can vectorise.
template <typename S2, typename Step>
void run_cpu(const NeuronGeometry& g, const float* cur, float* v, S2* s2, uint8_t* spikes, float* trace,
             Step step) {
  const int64_t blocks = (g.N + kBlock - 1) / kBlock;
  at::parallel_for(0, g.B * blocks, 1, [&](int64_t begin, int64_t end) {
    ScopedFlushDenormal ftz;
    const Step local = step;  // the constants in this thread's frame: nothing the loop writes aliases them
    float vl[kBlock];
    S2 sl[kBlock];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks, n0 = (task % blocks) * kBlock;
      const int64_t m = std::min(g.N, n0 + kBlock) - n0;
      std::copy(v + b * g.N + n0, v + b * g.N + n0 + m, vl);
      std::copy(s2 + b * g.N + n0, s2 + b * g.N + n0 + m, sl);
      for (int64_t t = 0; t < g.T; ++t) {
        const int64_t row = (b * g.T + t) * g.N + n0;
        const float* __restrict__ c = cur + row;
        uint8_t* __restrict__ sp = spikes + row;
        for (int64_t j = 0; j < m; ++j) sp[j] = local(vl[j], sl[j], c[j]);
        if (trace) std::copy(vl, vl + m, trace + row);
      }
      std::copy(vl, vl + m, v + b * g.N + n0);
      std::copy(sl, sl + m, s2 + b * g.N + n0);
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> lif_run_cpu(
    const at::Tensor& current, const at::Tensor& v0, const at::Tensor& ref0, double k, double alpha,
    double beta, double v_rest, double v_reset, double v_th, double R, int64_t n_ref, bool exact,
    bool return_trace) {
  const auto g = check_neurons(current, v0);
  const auto p = check_lif_run(current, ref0, k, alpha, beta, v_rest, v_reset, v_th, R, n_ref, exact);
  const auto cur = current.contiguous();
  auto spikes = at::empty(cur.sizes(), cur.options().dtype(at::kByte));
  auto v = v0.contiguous().clone();
  auto ref = ref0.contiguous().clone();
  auto trace = return_trace ? at::empty(cur.sizes(), cur.options()) : at::empty({0}, cur.options());
  if (cur.numel() == 0) return {spikes, v, ref, trace};
  auto run = [&](auto exact) {
    run_cpu(g, cur.const_data_ptr<float>(), v.mutable_data_ptr<float>(), ref.mutable_data_ptr<int32_t>(),
            spikes.mutable_data_ptr<uint8_t>(), return_trace ? trace.mutable_data_ptr<float>() : nullptr,
            [p](float& vv, int32_t& rr, float I) {
              return static_cast<uint8_t>(neuron::lif_step_t<decltype(exact)::value>(vv, rr, I, p));
            });
  };
  if (exact) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
  return {spikes, v, ref, trace};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> izhikevich_run_cpu(
    const at::Tensor& current, const at::Tensor& v0, const at::Tensor& u0, double a, double b, double c,
    double d, double dt, int64_t n_sub, bool compat, bool return_trace) {
  const auto g = check_neurons(current, v0);
  const auto p = check_izhikevich_run(current, u0, a, b, c, d, dt, n_sub, compat);
  const auto cur = current.contiguous();
  auto spikes = at::empty(cur.sizes(), cur.options().dtype(at::kByte));
  auto v = v0.contiguous().clone();
  auto u = u0.contiguous().clone();
  auto trace = return_trace ? at::empty(cur.sizes(), cur.options()) : at::empty({0}, cur.options());
  if (cur.numel() == 0) return {spikes, v, u, trace};
  run_cpu(g, cur.const_data_ptr<float>(), v.mutable_data_ptr<float>(), u.mutable_data_ptr<float>(),
          spikes.mutable_data_ptr<uint8_t>(), return_trace ? trace.mutable_data_ptr<float>() : nullptr,
          [p](float& vv, float& uu, float I) { return static_cast<uint8_t>(neuron::izh_step(vv, uu, I, p)); });
  return {spikes, v, u, trace};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) {
  m.impl("lif_run", &lif_run_cpu);
  m.impl("izhikevich_run", &izhikevich_run_cpu);
}

}  // namespace fastspike
