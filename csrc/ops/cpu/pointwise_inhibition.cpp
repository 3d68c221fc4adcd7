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
        const int32_t Ti = static_cast<int32_t>(T);
        const tau_t never = static_cast<tau_t>(T);
        int32_t* __restrict__ bf = best_f.data();
        int32_t* __restrict__ bt = best_t.data();
        float* __restrict__ bv = best_v.data();
        for (int64_t f = 0; f < F; ++f) {
          const tau_t* __restrict__ tf = ti + base + f * HW;
          const float* __restrict__ vf = vi + base + f * HW;
          const int32_t fi = static_cast<int32_t>(f);
          // branchless (the comparisons are unpredictable), so the loop vectorises
          for (int64_t pos = 0; pos < HW; ++pos) {
            const int32_t t = tf[pos];
            const float v = vf[pos];
            const int32_t ot = bt[pos];
            const float ov = bv[pos];
            const bool better = (t < Ti) & ((t < ot) | ((t == ot) & (v > ov)));  // math::pointwise_better
            bf[pos] = better ? fi : bf[pos];
            bt[pos] = better ? t : ot;
            bv[pos] = better ? v : ov;
          }
        }
        for (int64_t f = 0; f < F; ++f) {
          const int64_t o = base + f * HW;
          const int32_t fi = static_cast<int32_t>(f);
          const tau_t* __restrict__ tf = ti + o;
          const float* __restrict__ vf = vi + o;
          tau_t* __restrict__ tof = to + o;
          float* __restrict__ vof = vo + o;
          for (int64_t pos = 0; pos < HW; ++pos) {
            const bool keep = bf[pos] == fi;
            tof[pos] = keep ? tf[pos] : never;
            vof[pos] = keep ? vf[pos] : 0.f;
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
