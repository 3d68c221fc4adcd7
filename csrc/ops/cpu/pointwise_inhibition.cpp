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
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      ScopedFlushDenormal ftz;  // compare values as the CUDA kernel (-ftz=true) does
      std::vector<int32_t> best_f(HW), best_t(HW);
      std::vector<float> best_v(HW);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t base = b * F * HW;
        std::fill(best_f.begin(), best_f.end(), -1);
        std::fill(best_t.begin(), best_t.end(), static_cast<int32_t>(T));
        // Features in ascending order with strict comparisons: a full tie keeps
        // the lowest feature index.
        for (int64_t f = 0; f < F; ++f) {
          const tau_t* tf = ti + base + f * HW;
          const float* vf = vi + base + f * HW;
          for (int64_t pos = 0; pos < HW; ++pos) {
            const int t = tf[pos];
            if (t < T && math::pointwise_better(t, vf[pos], best_t[pos], best_v[pos])) {
              best_f[pos] = static_cast<int32_t>(f);
              best_t[pos] = t;
              best_v[pos] = vf[pos];
            }
          }
        }
        for (int64_t f = 0; f < F; ++f) {
          const int64_t o = base + f * HW;
          for (int64_t pos = 0; pos < HW; ++pos) {
            const bool keep = best_f[pos] == f;
            to[o + pos] = keep ? ti[o + pos] : static_cast<tau_t>(T);
            vo[o + pos] = keep ? vi[o + pos] : 0.f;
          }
        }
      }
    });
  });
  return {out_t, out_v};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("pointwise_inhibition", &pointwise_inhibition_cpu); }

}  // namespace fastspike
