// CPU kernels for fastspike::fire.
#include "fastspike/checks.h"
#include "fastspike/neuron.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

namespace fastspike {
namespace {

std::tuple<at::Tensor, at::Tensor> fire_cpu(const at::Tensor& potentials,
                                            std::optional<double> threshold,
                                            bool return_thresholded) {
  check_potentials(potentials, "potentials");
  check_threshold(threshold);
  const auto p = potentials.contiguous();
  const int64_t B = p.size(0), T = p.size(1);
  auto spikes = at::zeros(p.sizes(), p.options().dtype(at::kByte));
  at::Tensor thr = return_thresholded ? at::zeros(p.sizes(), p.options())
                                      : at::empty({0}, p.options());
  if (p.numel() == 0) return {spikes, thr};
  const int64_t N = p.numel() / (B * T);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "fire_cpu", [&] {
    const scalar_t* P = p.const_data_ptr<scalar_t>();
    uint8_t* S = spikes.mutable_data_ptr<uint8_t>();
    scalar_t* R = return_thresholded ? thr.mutable_data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, B * T, 1, [&](int64_t begin, int64_t end) {
      ScopedFlushDenormal ftz;
      for (int64_t bt = begin; bt < end; ++bt) {
        const int64_t t = bt % T;
        const int64_t off = bt * N;
        if (threshold.has_value()) {
          const float th = static_cast<float>(*threshold);
          for (int64_t n = 0; n < N; ++n) {
            const float v = static_cast<float>(P[off + n]);
            const bool s = neuron::if_above(v, th);
            S[off + n] = s;
            if (R && s) R[off + n] = P[off + n];
          }
        } else if (t == T - 1) {
          for (int64_t n = 0; n < N; ++n) {
            S[off + n] = static_cast<float>(P[off + n]) > 0.f;
            if (R) R[off + n] = P[off + n];
          }
        }
      }
    });
  });
  return {spikes, thr};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("fire", &fire_cpu); }

}  // namespace fastspike
