// CPU kernel for fastspike::pointwise_inhibition.
#include "fastspike/checks.h"
#include "fastspike/math.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

namespace fastspike {
namespace {

std::tuple<at::Tensor, at::Tensor> pointwise_inhibition_cpu(const at::Tensor& times,
                                                            const at::Tensor& values, int64_t T) {
  check_times_values(times, values, T);
  const auto tm = times.contiguous();
  const auto vl = values.contiguous();
  auto out_t = at::empty_like(tm);
  auto out_v = at::empty_like(vl);
  if (tm.numel() == 0) return {out_t, out_v};
  const int64_t B = tm.size(0), F = tm.size(1), HW = tm.size(2) * tm.size(3);
  FASTSPIKE_DISPATCH_TIMES(tm.scalar_type(), "pointwise_inhibition", [&] {
    const tau_t* ti = tm.const_data_ptr<tau_t>();
    const float* vi = vl.const_data_ptr<float>();
    tau_t* to = out_t.mutable_data_ptr<tau_t>();
    float* vo = out_v.mutable_data_ptr<float>();
    at::parallel_for(0, B * HW, 256, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = i / HW, pos = i % HW;
        const int64_t base = b * F * HW + pos;
        int64_t best = -1;
        int best_t = static_cast<int>(T);
        float best_v = 0.f;
        for (int64_t f = 0; f < F; ++f) {
          const int t = ti[base + f * HW];
          if (t >= T) continue;
          const float v = vi[base + f * HW];
          if (best < 0 || math::pointwise_better(t, v, best_t, best_v)) {
            best = f;
            best_t = t;
            best_v = v;
          }
        }
        for (int64_t f = 0; f < F; ++f) {
          const int64_t idx = base + f * HW;
          const bool keep = f == best;
          to[idx] = keep ? ti[idx] : static_cast<tau_t>(T);
          vo[idx] = keep ? vi[idx] : 0.f;
        }
      }
    });
  });
  return {out_t, out_v};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("pointwise_inhibition", &pointwise_inhibition_cpu); }

}  // namespace fastspike
