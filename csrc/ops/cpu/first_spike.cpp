// CPU kernels for fastspike::first_spike, first_spike_from_wave, spike_wave.
#include "fastspike/checks.h"
#include "fastspike/neuron.h"

#include <atomic>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

namespace fastspike {
namespace {

std::tuple<at::Tensor, at::Tensor> first_spike_cpu(const at::Tensor& potentials,
                                                   std::optional<double> threshold) {
  check_potentials(potentials, "potentials");
  check_threshold(threshold);
  const int64_t T = potentials.size(1);
  TORCH_CHECK(T <= kMaxTInt16, "potentials: at most ", kMaxTInt16, " time steps, got ", T);
  const auto p = potentials.contiguous();
  const int64_t B = p.size(0);
  const auto out_shape = drop_time_dim(p);
  auto times = at::empty(out_shape, p.options().dtype(times_dtype_for(T)));
  auto values = at::zeros(out_shape, p.options());
  if (times.numel() == 0) return {times, values};
  const int64_t N = times.numel() / B;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "first_spike", [&] {
    FASTSPIKE_DISPATCH_TIMES(times.scalar_type(), "first_spike", [&] {
      const scalar_t* P = p.const_data_ptr<scalar_t>();
      tau_t* tau = times.mutable_data_ptr<tau_t>();
      scalar_t* V = values.mutable_data_ptr<scalar_t>();
      at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
        ScopedFlushDenormal ftz;
        for (int64_t b = b0; b < b1; ++b) {
          const scalar_t* Pb = P + b * T * N;
          for (int64_t n = 0; n < N; ++n) {
            int64_t t_first = T;
            if (threshold.has_value()) {
              const float th = static_cast<float>(*threshold);
              for (int64_t t = 0; t < T; ++t) {
                if (neuron::if_above(static_cast<float>(Pb[t * N + n]), th)) {
                  t_first = t;
                  break;
                }
              }
            } else if (static_cast<float>(Pb[(T - 1) * N + n]) > 0.f) {
              t_first = T - 1;
            }
            tau[b * N + n] = static_cast<tau_t>(t_first);
            if (t_first < T) V[b * N + n] = Pb[t_first * N + n];
          }
        }
      });
    });
  });
  return {times, values};
}

std::tuple<at::Tensor, at::Tensor> first_spike_from_wave_cpu(
    const at::Tensor& spikes, const std::optional<at::Tensor>& potentials, bool compat) {
  const int64_t T = check_wave(spikes, potentials);
  const bool has_p = potentials.has_value() && potentials->defined();
  const auto s = (spikes.scalar_type() == at::kBool ? spikes.to(at::kByte) : spikes).contiguous();
  const int64_t B = s.size(0);
  const auto out_shape = drop_time_dim(s);
  auto times = at::empty(out_shape, s.options().dtype(times_dtype_for(T)));
  at::Tensor p = has_p ? potentials->contiguous() : at::Tensor();
  at::Tensor values = has_p ? at::zeros(out_shape, p.options())
                            : at::empty({0}, s.options().dtype(at::kFloat));
  if (times.numel() == 0) return {times, values};
  const int64_t N = times.numel() / B;
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, s.scalar_type(), "first_spike_from_wave", [&] {
    using spike_t = scalar_t;
    FASTSPIKE_DISPATCH_TIMES(times.scalar_type(), "first_spike_from_wave", [&] {
      const spike_t* S = s.const_data_ptr<spike_t>();
      tau_t* tau = times.mutable_data_ptr<tau_t>();
      std::atomic<int64_t> bad{-1};  // a neuron whose wave is not cumulative, or holds NaN
      at::parallel_for(0, B * N, 1024, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t b = i / N, n = i % N;
          int64_t count = 0;
          bool was = false, broken = false;
          for (int64_t t = 0; t < T; ++t) {
            const spike_t v = S[(b * T + t) * N + n];
            const bool sp = v != spike_t(0);
            broken |= (was && !sp) | (v != v);  // a spike that stops, or NaN
            was = sp;
            count += sp;
          }
          tau[i] = static_cast<tau_t>(T - count);
          if (broken) {
            int64_t expected = -1;
            bad.compare_exchange_strong(expected, i);
          }
        }
      });
      TORCH_CHECK(bad.load() < 0, "spikes: expected a cumulative spike wave (a neuron that spikes at t spikes at "
                  "every later step; no NaN), got another at sample ", bad.load() / N, ", neuron ", bad.load() % N);
      if (!has_p) return;
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "first_spike_from_wave", [&] {
        const scalar_t* P = p.const_data_ptr<scalar_t>();
        scalar_t* V = values.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, B * N, 1024, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t b = i / N, n = i % N;
            int64_t t = tau[i];
            if (t >= T) {
              if (!compat) continue;  // clean: V = 0 for a neuron that never fires
              t = T - 1;              // reference: tau clamped before the gather
            }
            V[i] = P[(b * T + t) * N + n];
          }
        });
      });
    });
  });
  return {times, values};
}

at::Tensor spike_wave_cpu(const at::Tensor& times, int64_t T) {
  TORCH_CHECK(times.defined() && (times.scalar_type() == at::kByte || times.scalar_type() == at::kShort),
              "times: expected first-spike times of dtype uint8 or int16");
  TORCH_CHECK(times.dim() >= 1, "times: expected shape [B, ...], got a 0-D tensor");
  check_T(T, times.scalar_type());
  check_times_range(times, T, "times");
  const auto tm = times.contiguous();
  std::vector<int64_t> shape(tm.sizes().begin(), tm.sizes().end());
  shape.insert(shape.begin() + 1, T);
  auto wave = at::empty(shape, tm.options().dtype(at::kByte));
  if (wave.numel() == 0) return wave;
  const int64_t B = tm.size(0), N = tm.numel() / B;
  FASTSPIKE_DISPATCH_TIMES(tm.scalar_type(), "spike_wave", [&] {
    const tau_t* tau = tm.const_data_ptr<tau_t>();
    uint8_t* S = wave.mutable_data_ptr<uint8_t>();
    at::parallel_for(0, B * T, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t bt = i0; bt < i1; ++bt) {
        const int64_t b = bt / T, t = bt % T;
        for (int64_t n = 0; n < N; ++n) S[bt * N + n] = t >= static_cast<int64_t>(tau[b * N + n]);
      }
    });
  });
  return wave;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) {
  m.impl("first_spike", &first_spike_cpu);
  m.impl("first_spike_from_wave", &first_spike_from_wave_cpu);
  m.impl("spike_wave", &spike_wave_cpu);
}

}  // namespace fastspike
