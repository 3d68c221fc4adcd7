// Argument checks and constants of the Diehl & Cook operators, shared by their CPU and
// CUDA implementations (csrc/ops/{cpu,cuda}/diehl_cook.*): both reject the same inputs
// with the same messages and round the same constants to float32.
#pragma once

#include "fastspike/checks.h"
#include "fastspike/diehl_cook.h"

#include <cmath>
#include <vector>

namespace fastspike {

struct DcShape {
  int64_t B, n_in, N;
};

inline dc::Params dc_params(c10::ArrayRef<double> f, c10::ArrayRef<int64_t> n) {
  TORCH_CHECK(f.size() == static_cast<size_t>(dc::kFloatParams), "params: expected ", dc::kFloatParams,
              " numbers (fastspike.diehlcook.DiehlCookParams.packed), got ", f.size());
  TORCH_CHECK(n.size() == static_cast<size_t>(dc::kIntParams), "iparams: expected ", dc::kIntParams,
              " integers (fastspike.diehlcook.DiehlCookParams.packed), got ", n.size());
  for (size_t i = 0; i < f.size(); ++i)
    TORCH_CHECK(std::isfinite(f[i]), "params[", i, "]: expected a finite number, got ", f[i]);
  dc::Params p{};
  float* dst[] = {&p.k_e,     &p.rest_e,      &p.exc_e,       &p.inh_e,   &p.reset_e,  &p.thresh_e,
                  &p.decay_ge, &p.decay_gi,   &p.theta_plus,  &p.decay_theta, &p.k_i,   &p.rest_i,
                  &p.exc_i,   &p.reset_i,     &p.thresh_i,    &p.w_ei,    &p.w_ie,     &p.nu_pre,
                  &p.nu_post, &p.decay_pre,   &p.decay_post1, &p.decay_post2, &p.w_max, &p.dt_s,
                  &p.norm};
  for (int i = 0; i < 25; ++i) *dst[i] = static_cast<float>(f[i]);
  p.intensity0 = f[25];
  p.intensity_step = f[26];
  TORCH_CHECK(p.dt_s > 0, "dt: expected a positive step, got ", f[23], " s");
  TORCH_CHECK(p.intensity0 >= 0 && p.intensity_step >= 0,
              "intensity: expected a start and a step >= 0 (negative rates), got ", p.intensity0, " and ",
              p.intensity_step);
  for (int i = 0; i < 6; ++i) TORCH_CHECK(n[i] >= 0 && n[i] <= (int64_t(1) << 30), "iparams[", i, "]: expected an integer in [0, 2^30], got ", n[i]);
  p.n_ref_e = static_cast<int32_t>(n[0]);
  p.n_ref_i = static_cast<int32_t>(n[1]);
  p.t_present = static_cast<int32_t>(n[2]);
  p.t_rest = static_cast<int32_t>(n[3]);
  p.min_spikes = static_cast<int32_t>(n[4]);
  p.max_attempts = static_cast<int32_t>(n[5]);
  TORCH_CHECK(p.t_present >= 1, "t_present: expected T >= 1 steps of input, got T = ", p.t_present);
  TORCH_CHECK(p.max_attempts >= 1, "max_attempts: expected >= 1 presentations, got ", p.max_attempts);
  return p;
}

// x [B, n_in] float32 intensities in [0, 1]; w [n_in, N]; theta [N] (float32, contiguous, one device).
inline DcShape check_dc(const at::Tensor& x, const at::Tensor& w, const at::Tensor& theta, int64_t seed,
                        int64_t sample_offset) {
  TORCH_CHECK(x.defined() && x.dim() == 2 && x.scalar_type() == at::kFloat,
              "x: expected float32 intensities [B, n_inputs], got ",
              x.defined() ? x.toString() + " of shape " + c10::str(x.sizes()) : std::string("None"));
  TORCH_CHECK(w.defined() && w.dim() == 2 && w.scalar_type() == at::kFloat && w.is_contiguous(),
              "w: expected contiguous float32 weights [n_inputs, N]");
  TORCH_CHECK(w.size(0) == x.size(1), "w: expected ", x.size(1), " input rows (x has ", x.size(1),
              " inputs), got shape ", w.sizes());
  TORCH_CHECK(theta.defined() && theta.dim() == 1 && theta.scalar_type() == at::kFloat &&
                  theta.is_contiguous() && theta.size(0) == w.size(1),
              "theta: expected contiguous float32 [", w.size(1), "] (one threshold per neuron)");
  TORCH_CHECK(w.size(1) >= 1, "w: expected at least one excitatory neuron");
  TORCH_CHECK(x.device() == w.device() && x.device() == theta.device(),
              "x, w, theta: expected one device, got ", x.device(), ", ", w.device(), ", ", theta.device());
  TORCH_CHECK(seed >= 0, "seed: expected >= 0, got ", seed);
  TORCH_CHECK(sample_offset >= 0, "sample_offset: expected >= 0, got ", sample_offset);
  check_finite(x, "x");
  check_finite(w, "w");
  check_finite(theta, "theta");
  if (x.device().is_cpu() && x.numel()) {
    TORCH_CHECK(x.min().item<float>() >= 0.f, "x: expected intensities >= 0 (negative rates), got ",
                x.min().item<float>());
  }
  return {x.size(0), x.size(1), w.size(1)};
}

// The network's state between training calls: state float32 [7, N] rows (v_e, g_e, g_i,
// v_i, g_e of the inhibitory neurons, y1, y2); refs int32 [4, N] rows (refractory steps
// left of the excitatory and inhibitory neurons, their spikes at the last step); x_pre
// float32 [n_in].
inline void check_dc_state(const DcShape& s, const at::Tensor& w, const at::Tensor& state,
                           const at::Tensor& refs, const at::Tensor& x_pre) {
  TORCH_CHECK(state.defined() && state.scalar_type() == at::kFloat && state.is_contiguous() &&
                  state.dim() == 2 && state.size(0) == 7 && state.size(1) == s.N,
              "state: expected contiguous float32 [7, ", s.N, "]");
  TORCH_CHECK(refs.defined() && refs.scalar_type() == at::kInt && refs.is_contiguous() && refs.dim() == 2 &&
                  refs.size(0) == 4 && refs.size(1) == s.N,
              "refs: expected contiguous int32 [4, ", s.N, "]");
  TORCH_CHECK(x_pre.defined() && x_pre.scalar_type() == at::kFloat && x_pre.is_contiguous() &&
                  x_pre.dim() == 1 && x_pre.size(0) == s.n_in,
              "x_pre: expected contiguous float32 [", s.n_in, "]");
  TORCH_CHECK(state.device() == w.device() && refs.device() == w.device() && x_pre.device() == w.device(),
              "state, refs, x_pre: expected the weights' device ", w.device());
}

struct TraceShape {
  int64_t B, T, n_in, N;
};

// trace_stdp's arguments; the rule's constants in a dc::Params (the other fields unused).
inline TraceShape check_trace_stdp(const at::Tensor& pre, const at::Tensor& post, const at::Tensor& w,
                                   const at::Tensor& x_pre, const at::Tensor& y, c10::ArrayRef<double> params,
                                   dc::Params& p) {
  TORCH_CHECK(pre.defined() && pre.dim() == 3 && pre.scalar_type() == at::kByte,
              "pre: expected uint8 spikes [B, T, n_inputs]");
  TORCH_CHECK(post.defined() && post.dim() == 3 && post.scalar_type() == at::kByte,
              "post: expected uint8 spikes [B, T, N]");
  TORCH_CHECK(pre.size(0) == post.size(0) && pre.size(1) == post.size(1),
              "post: expected the batch and steps of pre ", pre.sizes().slice(0, 2), ", got ", post.sizes());
  TORCH_CHECK(pre.size(1) >= 1, "pre: expected T >= 1 steps, got T = 0");
  TORCH_CHECK(w.defined() && w.dim() == 2 && w.scalar_type() == at::kFloat && w.is_contiguous() &&
                  w.size(0) == pre.size(2) && w.size(1) == post.size(2),
              "w: expected contiguous float32 [", pre.size(2), ", ", post.size(2), "]");
  TORCH_CHECK(x_pre.defined() && x_pre.scalar_type() == at::kFloat && x_pre.is_contiguous() &&
                  x_pre.dim() == 1 && x_pre.size(0) == pre.size(2),
              "x_pre: expected contiguous float32 [", pre.size(2), "]");
  TORCH_CHECK(y.defined() && y.scalar_type() == at::kFloat && y.is_contiguous() && y.dim() == 2 &&
                  y.size(0) == 2 && y.size(1) == post.size(2),
              "y: expected contiguous float32 [2, ", post.size(2), "]");
  for (const auto* t : {&post, &w, &x_pre, &y})
    TORCH_CHECK(t->device() == pre.device(), "pre, post, w, x_pre, y: expected one device");
  TORCH_CHECK(params.size() == 7, "params: expected [nu_pre, nu_post, decay_pre, decay_post1, decay_post2, "
              "w_max, norm], got ", params.size(), " numbers");
  for (size_t i = 0; i < params.size(); ++i)
    TORCH_CHECK(std::isfinite(params[i]), "params[", i, "]: expected a finite number, got ", params[i]);
  TORCH_CHECK(params[5] > 0, "w_max: expected > 0, got ", params[5]);
  check_finite(w, "w");
  p = dc::Params{};
  p.nu_pre = static_cast<float>(params[0]);
  p.nu_post = static_cast<float>(params[1]);
  p.decay_pre = static_cast<float>(params[2]);
  p.decay_post1 = static_cast<float>(params[3]);
  p.decay_post2 = static_cast<float>(params[4]);
  p.w_max = static_cast<float>(params[5]);
  p.norm = static_cast<float>(params[6]);
  return {pre.size(0), pre.size(1), pre.size(2), post.size(2)};
}

}  // namespace fastspike
