// Argument validation shared by the CPU and CUDA implementations of every
// operator, so both backends reject the same inputs with the same messages.
#pragma once

#include "fastspike/common.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace fastspike {

// ---------------------------------------------------------------- data checks
// Checks of the values inside a tensor. They read the data, so they run on CPU
// tensors only: on CUDA they would need a host synchronisation, and the Python
// wrappers in fastspike.ops make them there on request (validate=True, the default).

template <typename tau_t>
inline bool times_in_range(const tau_t* p, int64_t n, int T) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int v = p[i];
    bad |= (v < 0) | (v > T);
  }
  return bad == 0;
}

// Every first-spike time in [0, T] (T = never): one rule for every operator.
inline void check_times_range(const at::Tensor& t, int64_t T, const char* name) {
  if (!t.device().is_cpu() || t.numel() == 0) return;
  const auto c = t.contiguous();
  FASTSPIKE_DISPATCH_TIMES(c.scalar_type(), name, [&] {
    const tau_t* p = c.const_data_ptr<tau_t>();
    const int64_t n = c.numel();
    std::atomic<bool> bad{false};
    at::parallel_for(0, n, int64_t(1) << 18, [&](int64_t a, int64_t b) {
      if (!times_in_range(p + a, b - a, static_cast<int>(T))) bad = true;
    });
    if (!bad.load()) return;
    int64_t lo = p[0], hi = p[0], at_ = 0;
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min<int64_t>(lo, p[i]);
      hi = std::max<int64_t>(hi, p[i]);
      if ((p[i] < 0 || p[i] > T) && at_ == 0) at_ = i + 1;
    }
    TORCH_CHECK(false, name, ": expected first-spike times in [0, T = ", T, "] (T = never), got ",
                static_cast<int64_t>(p[at_ - 1]), " at flat index ", at_ - 1, " (values in [", lo, ", ", hi,
                "])");
  });
}

// Every value finite (no NaN, no infinity); float32, float16 or bfloat16.
inline void check_finite(const at::Tensor& t, const char* name) {
  if (!t.device().is_cpu() || t.numel() == 0) return;
  const auto c = (t.scalar_type() == at::kFloat ? t : t.to(at::kFloat)).contiguous();
  const float* p = c.const_data_ptr<float>();
  const int64_t n = c.numel();
  std::atomic<bool> bad{false};
  at::parallel_for(0, n, int64_t(1) << 16, [&](int64_t a, int64_t b) {
    int nf = 0;
    for (int64_t i = a; i < b; ++i) nf |= !(std::fabs(p[i]) <= std::numeric_limits<float>::max());
    if (nf) bad = true;
  });
  if (!bad.load()) return;
  int64_t i = 0;
  while (i < n && std::fabs(p[i]) <= std::numeric_limits<float>::max()) ++i;
  TORCH_CHECK(false, name, ": expected finite values, got ", p[i], " at flat index ", i);
}

inline void check_potentials(const at::Tensor& p, const char* name) {
  TORCH_CHECK(p.defined(), name, ": expected a tensor, got None");
  TORCH_CHECK(p.scalar_type() == at::kFloat || p.scalar_type() == at::kHalf ||
                  p.scalar_type() == at::kBFloat16,
              name, ": expected dtype float32, float16 or bfloat16, got ", p.scalar_type());
  TORCH_CHECK(p.dim() >= 2, name, ": expected shape [B, T, ...] (at least 2-D), got ",
              p.sizes());
  TORCH_CHECK(p.size(1) >= 1, name, ": expected at least 1 time step (dim 1), got T = ",
              p.size(1));
  check_finite(p, name);
}

inline void check_threshold(const std::optional<double>& threshold) {
  if (threshold.has_value()) {
    TORCH_CHECK(*threshold >= 0.0, "threshold: expected a value >= 0 (or None), got ",
                *threshold);
  }
}

// times [B, F, H, W] + values [B, F, H, W] float32 (pointwise inhibition, k-WTA)
inline void check_times_values(const at::Tensor& times, const at::Tensor& values, int64_t T) {
  check_times(times, "times", 4, "[B, F, H, W]");
  check_float(values, "values", 4, "[B, F, H, W]");
  TORCH_CHECK(times.sizes() == values.sizes(),
              "values: expected the same shape as times ", times.sizes(), ", got ",
              values.sizes());
  check_same_device(times, "times", values, "values");
  check_T(T, times.scalar_type());
  check_times_range(times, T, "times");
  check_finite(values, "values");
}

// First-spike times dtype for T steps (T itself means never).
inline at::ScalarType times_dtype_for(int64_t T) { return T <= kMaxTUint8 ? at::kByte : at::kShort; }

// [B, T, ...] -> [B, ...]
inline std::vector<int64_t> drop_time_dim(const at::Tensor& p) {
  std::vector<int64_t> s(p.sizes().begin(), p.sizes().end());
  s.erase(s.begin() + 1);
  return s;
}

// spikes [B, T, ...] (+ optional potentials of the same shape); returns T.
inline int64_t check_wave(const at::Tensor& spikes, const std::optional<at::Tensor>& potentials) {
  TORCH_CHECK(spikes.defined() && spikes.dim() >= 2,
              "spikes: expected shape [B, T, ...] (at least 2-D), got ",
              spikes.defined() ? spikes.sizes() : at::IntArrayRef{});
  const int64_t T = spikes.size(1);
  TORCH_CHECK(T >= 1, "spikes: expected at least 1 time step (dim 1), got T = ", T);
  TORCH_CHECK(T <= kMaxTInt16, "spikes: at most ", kMaxTInt16, " time steps, got ", T);
  if (potentials.has_value() && potentials->defined()) {
    check_potentials(*potentials, "potentials");
    TORCH_CHECK(potentials->sizes() == spikes.sizes(),
                "potentials: expected the same shape as spikes ", spikes.sizes(), ", got ",
                potentials->sizes());
    check_same_device(spikes, "spikes", *potentials, "potentials");
  }
  return T;
}

inline void check_kwta(const at::Tensor& times, const at::Tensor& values, int64_t T, int64_t k,
                       int64_t radius, int64_t max_neurons) {
  check_times_values(times, values, T);
  TORCH_CHECK(k >= 1 && k < max_neurons, "k: expected 1 to ", max_neurons - 1, " winners, got ", k);
  TORCH_CHECK(radius >= 0, "radius: expected a lateral-inhibition radius >= 0, got ", radius);
  TORCH_CHECK(T <= kMaxTUint8, "T: k-WTA supports at most ", kMaxTUint8, " time steps, got ", T);
  const int64_t n = times.size(1) * times.size(2) * times.size(3);
  TORCH_CHECK(n < max_neurons, "times: k-WTA supports fewer than ", max_neurons,
              " neurons per sample, got ", n);
}

// pool_times: times [B, C, H, W]; returns the pooled size (Ho, Wo) before out_padding.
inline std::pair<int64_t, int64_t> check_pool(const at::Tensor& times, int64_t kernel, int64_t stride,
                                              int64_t padding, int64_t T, int64_t out_padding) {
  check_times(times, "times", 4, "[B, C, H, W]");
  check_T(T, times.scalar_type());
  TORCH_CHECK(kernel >= 1, "kernel: expected a pooling window of at least 1, got ", kernel);
  TORCH_CHECK(stride >= 1, "stride: expected at least 1, got ", stride);
  TORCH_CHECK(padding >= 0 && padding <= kernel / 2, "padding: expected 0 <= padding <= kernel / 2 (",
              kernel / 2, "), got ", padding);
  TORCH_CHECK(out_padding >= 0 && out_padding <= kMaxOutPadding, "out_padding: expected 0 to ", kMaxOutPadding,
              " rows/columns of never, got ", out_padding);
  const int64_t H = times.size(2), W = times.size(3);
  // (kernel - 2 * padding >= 0 cannot overflow, unlike H + 2 * padding)
  TORCH_CHECK(kernel - 2 * padding <= H && kernel - 2 * padding <= W, "kernel: the ", kernel, "x", kernel,
              " pooling window is larger than times' spatial size ", H, "x", W, " (padding ", padding, ")");
  check_times_range(times, T, "times");
  return {(H + 2 * padding - kernel) / stride + 1, (W + 2 * padding - kernel) / stride + 1};
}

struct ConvGeometry {
  int64_t B, C, Hp, Wp, F, kh, kw, H, W;
};

// times_in [B, C, Hp, Wp] (padded, NEVER = T), weight [F, C, kh, kw] float32
inline ConvGeometry check_conv(const at::Tensor& times_in, const at::Tensor& weight, int64_t T) {
  check_times(times_in, "times_in", 4, "[B, C, H, W]");
  check_float(weight, "weight", 4, "[C_out, C_in, kh, kw]");
  check_same_device(times_in, "times_in", weight, "weight");
  check_T(T, times_in.scalar_type());
  ConvGeometry g;
  g.B = times_in.size(0);
  g.C = times_in.size(1);
  g.Hp = times_in.size(2);
  g.Wp = times_in.size(3);
  g.F = weight.size(0);
  g.kh = weight.size(2);
  g.kw = weight.size(3);
  TORCH_CHECK(weight.size(1) == g.C, "weight: expected ", g.C,
              " input channels (dim 1) to match times_in, got ", weight.size(1));
  TORCH_CHECK(g.F >= 1 && g.kh >= 1 && g.kw >= 1,
              "weight: expected non-empty [C_out, C_in, kh, kw], got ", weight.sizes());
  TORCH_CHECK(g.Hp >= g.kh && g.Wp >= g.kw, "times_in: spatial size ", g.Hp, "x", g.Wp,
              " is smaller than the ", g.kh, "x", g.kw, " kernel");
  g.H = g.Hp - g.kh + 1;
  g.W = g.Wp - g.kw + 1;
  check_times_range(times_in, T, "times_in");
  return g;
}

// final_potential: times_in [B, C, Hp, Wp], weight_rows [C, kh, kw, F] float32
inline ConvGeometry check_final_potential(const at::Tensor& times_in, const at::Tensor& weight_rows, int64_t T,
                                          int64_t border, double max_event_fraction) {
  TORCH_CHECK(max_event_fraction >= 0.0 && max_event_fraction <= 1.0,
              "max_event_fraction: expected a fraction in [0, 1], got ", max_event_fraction);
  check_times(times_in, "times_in", 4, "[B, C, H, W]");
  check_float(weight_rows, "weight_rows", 4, "[C_in, kh, kw, C_out]");
  check_same_device(times_in, "times_in", weight_rows, "weight_rows");
  check_T(T, times_in.scalar_type());
  ConvGeometry g;
  g.B = times_in.size(0);
  g.C = times_in.size(1);
  g.Hp = times_in.size(2);
  g.Wp = times_in.size(3);
  g.kh = weight_rows.size(1);
  g.kw = weight_rows.size(2);
  g.F = weight_rows.size(3);
  TORCH_CHECK(weight_rows.size(0) == g.C, "weight_rows: expected ", g.C,
              " input channels (dim 0) to match times_in, got ", weight_rows.size(0));
  TORCH_CHECK(g.F >= 1 && g.kh >= 1 && g.kw >= 1,
              "weight_rows: expected non-empty [C_in, kh, kw, C_out], got ", weight_rows.sizes());
  TORCH_CHECK(g.Hp >= g.kh && g.Wp >= g.kw, "times_in: spatial size ", g.Hp, "x", g.Wp,
              " is smaller than the ", g.kh, "x", g.kw, " kernel");
  TORCH_CHECK(border >= 0 && border <= (std::min(g.Hp, g.Wp) - 1) / 2,
              "border: expected 0 <= border < min(H, W) / 2 (padding rows/columns of times_in), got ", border);
  g.H = g.Hp - g.kh + 1;
  g.W = g.Wp - g.kw + 1;
  check_times_range(times_in, T, "times_in");
  return g;
}

// final_potential's optional per-tap channel sums: [kh, kw, F] float64, contiguous,
// on weight_rows' device.
inline void check_tap_sums(const std::optional<at::Tensor>& tap_sums, const ConvGeometry& g,
                           const at::Tensor& weight_rows) {
  if (!tap_sums.has_value()) return;
  const at::Tensor& t = *tap_sums;
  TORCH_CHECK(t.scalar_type() == at::kDouble, "tap_sums: expected float64, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 3 && t.size(0) == g.kh && t.size(1) == g.kw && t.size(2) == g.F,
              "tap_sums: expected shape [", g.kh, ", ", g.kw, ", ", g.F, "] (weight_rows summed over dim 0), got ",
              t.sizes());
  TORCH_CHECK(t.device() == weight_rows.device(), "tap_sums: expected device ", weight_rows.device(), ", got ",
              t.device());
}

inline void check_bounds(double lb, double ub) {
  TORCH_CHECK(std::isfinite(lb) && std::isfinite(ub), "lb, ub: expected finite weight bounds, got lb = ", lb,
              ", ub = ", ub);
  TORCH_CHECK(lb <= ub, "lb, ub: expected lb <= ub, got lb = ", lb, " > ub = ", ub);
}

struct StdpGeometry {
  ConvGeometry conv;
  int64_t k;
  bool per_feature_lr;
};

inline StdpGeometry check_stdp(const at::Tensor& weight, const at::Tensor& times_in,
                               const at::Tensor& times_out, const at::Tensor& winners,
                               const at::Tensor& lr, int64_t T, double lb, double ub) {
  StdpGeometry s;
  s.conv = check_conv(times_in, weight, T);
  const auto& g = s.conv;
  TORCH_CHECK(weight.is_contiguous(), "weight: expected a contiguous tensor (updated in place)");
  check_times(times_out, "times_out", 4, "[B, C_out, H_out, W_out]");
  TORCH_CHECK(times_out.scalar_type() == times_in.scalar_type(),
              "times_out: expected the same dtype as times_in (", times_in.scalar_type(),
              "), got ", times_out.scalar_type());
  TORCH_CHECK(times_out.size(0) == g.B && times_out.size(1) == g.F && times_out.size(2) == g.H &&
                  times_out.size(3) == g.W,
              "times_out: expected shape [", g.B, ", ", g.F, ", ", g.H, ", ", g.W,
              "] (batch of times_in, C_out of weight, valid-convolution size), got ",
              times_out.sizes());
  TORCH_CHECK(winners.defined() && (winners.scalar_type() == at::kInt ||
                                    winners.scalar_type() == at::kLong),
              "winners: expected an int32 or int64 tensor [B, k, 3]");
  TORCH_CHECK(winners.dim() == 3 && winners.size(0) == g.B && winners.size(2) == 3,
              "winners: expected shape [", g.B, ", k, 3] (feature, row, col), got ",
              winners.sizes());
  s.k = winners.size(1);
  TORCH_CHECK(lr.defined() && lr.scalar_type() == at::kFloat,
              "lr: expected a float32 tensor [B, 2] or [B, C_out, 2]");
  if (lr.dim() == 2) {
    TORCH_CHECK(lr.size(0) == g.B && lr.size(1) == 2,
                "lr: expected shape [", g.B, ", 2] (a_plus, a_minus per sample), got ", lr.sizes());
    s.per_feature_lr = false;
  } else {
    TORCH_CHECK(lr.dim() == 3 && lr.size(0) == g.B && lr.size(1) == g.F && lr.size(2) == 2,
                "lr: expected shape [", g.B, ", 2] or [", g.B, ", ", g.F, ", 2], got ", lr.sizes());
    s.per_feature_lr = true;
  }
  check_same_device(weight, "weight", times_out, "times_out");
  check_same_device(weight, "weight", winners, "winners");
  check_same_device(weight, "weight", lr, "lr");
  check_bounds(lb, ub);
  // weight is written in place: nothing it reads may share its memory
  TORCH_CHECK(!weight.is_alias_of(lr), "lr: must not share memory with weight (updated in place)");
  TORCH_CHECK(!weight.is_alias_of(times_in), "times_in: must not share memory with weight (updated in place)");
  TORCH_CHECK(!weight.is_alias_of(times_out), "times_out: must not share memory with weight (updated in place)");
  TORCH_CHECK(!weight.is_alias_of(winners), "winners: must not share memory with weight (updated in place)");
  check_times_range(times_out, T, "times_out");
  check_finite(lr, "lr");
  check_finite(weight, "weight");
  return s;
}

// ---------------------------------------------------------------- multi-step neurons
// current [B, T, ...] float32 with T >= 1; each state [B, ...] (current without T).
// Returns (B, T, N) with N the neurons per sample.
struct NeuronGeometry {
  int64_t B, T, N;
};

inline void check_state(const at::Tensor& current, const at::Tensor& s, const char* name,
                        at::ScalarType dtype) {
  TORCH_CHECK(s.defined(), name, ": expected a tensor, got None");
  TORCH_CHECK(s.scalar_type() == dtype, name, ": expected dtype ", dtype, ", got ", s.scalar_type());
  auto want = current.sizes().vec();
  want.erase(want.begin() + 1);
  TORCH_CHECK(s.sizes().vec() == want, name, ": expected shape ", at::IntArrayRef(want),
              " (current without its time dimension), got ", s.sizes());
  check_same_device(current, "current", s, name);
}

inline NeuronGeometry check_neurons(const at::Tensor& current, const at::Tensor& v0) {
  TORCH_CHECK(current.defined(), "current: expected a tensor, got None");
  TORCH_CHECK(current.scalar_type() == at::kFloat, "current: expected dtype float32, got ",
              current.scalar_type());
  TORCH_CHECK(current.dim() >= 2, "current: expected shape [B, T, ...], got ", current.sizes());
  TORCH_CHECK(current.size(1) >= 1, "current: expected T >= 1 time steps (dimension 1), got T = 0");
  check_state(current, v0, "v0", at::kFloat);
  check_finite(current, "current");
  check_finite(v0, "v0");
  NeuronGeometry g;
  g.B = current.size(0);
  g.T = current.size(1);
  g.N = g.B * g.T == 0 ? 0 : current.numel() / (g.B * g.T);
  return g;
}

inline void check_lif(const at::Tensor& ref0, double v_rest, double v_reset, double v_th, double R,
                      int64_t n_ref) {
  for (const auto& [v, name] : {std::pair<double, const char*>{v_rest, "v_rest"}, {v_reset, "v_reset"},
                                {v_th, "v_th"}, {R, "R"}}) {
    TORCH_CHECK(std::isfinite(v), name, ": expected a finite number, got ", v);
  }
  TORCH_CHECK(n_ref >= 0 && n_ref <= (int64_t(1) << 30), "n_ref: expected refractory steps in [0, 2^30], got ",
              n_ref);
  if (ref0.device().is_cpu() && ref0.numel()) {
    const auto r = ref0.contiguous();
    const int32_t* p = r.const_data_ptr<int32_t>();
    for (int64_t i = 0; i < r.numel(); ++i) {
      TORCH_CHECK(p[i] >= 0, "ref0: expected refractory steps >= 0, got ", p[i], " at flat index ", i);
    }
  }
}

}  // namespace fastspike
