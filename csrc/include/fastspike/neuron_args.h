// Argument checks and per-layer constants of the multi-step neuron operators, shared by
// their CPU and CUDA implementations (csrc/ops/{cpu,cuda}/neurons.*): both reject the same
// inputs with the same messages and round the same constants to float32.
#pragma once

#include "fastspike/checks.h"
#include "fastspike/neuron.h"

#include <cmath>
#include <initializer_list>
#include <utility>

namespace fastspike {

inline void check_finite_params(std::initializer_list<std::pair<double, const char*>> ps) {
  for (const auto& [x, name] : ps) TORCH_CHECK(std::isfinite(x), name, ": expected a finite number, got ", x);
}

inline neuron::LifParams check_lif_run(const at::Tensor& current, const at::Tensor& ref0,
                                       double k, double alpha, double beta, double v_rest, double v_reset,
                                       double v_th, double R, int64_t n_ref, bool exact) {
  check_state(current, ref0, "ref0", at::kInt);
  check_lif(ref0, v_rest, v_reset, v_th, R, n_ref);
  check_finite_params({{k, "k"}, {alpha, "alpha"}, {beta, "beta"}});
  return {static_cast<float>(k),      static_cast<float>(alpha),   static_cast<float>(beta),
          static_cast<float>(v_rest), static_cast<float>(v_reset), static_cast<float>(v_th),
          static_cast<float>(R),      static_cast<int32_t>(n_ref), exact};
}

inline neuron::IzhParams check_izhikevich_run(const at::Tensor& current, const at::Tensor& u0, double a, double b,
                                              double c, double d, double dt, int64_t n_sub, bool compat) {
  check_state(current, u0, "u0", at::kFloat);
  check_finite(u0, "u0");
  check_finite_params({{a, "a"}, {b, "b"}, {c, "c"}, {d, "d"}, {dt, "dt"}});
  TORCH_CHECK(dt > 0, "dt: expected a positive step, got ", dt);
  TORCH_CHECK(n_sub >= 1 && n_sub <= 1000, "n_sub: expected sub-steps in [1, 1000], got ", n_sub);
  return {static_cast<float>(a),  static_cast<float>(b), static_cast<float>(c),
          static_cast<float>(d),  static_cast<float>(dt), static_cast<float>(dt / static_cast<double>(n_sub)),
          static_cast<int32_t>(n_sub), compat};
}

}  // namespace fastspike
