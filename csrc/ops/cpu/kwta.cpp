// CPU kernel for fastspike::kwta.
#include "fastspike/checks.h"
#include "fastspike/math.h"

#include <ATen/Parallel.h>
#include <ATen/ops/full.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace fastspike {
namespace {

at::Tensor kwta_cpu(const at::Tensor& times, const at::Tensor& values, int64_t T, int64_t k,
                    int64_t radius, bool compat) {
  check_kwta(times, values, T, k, radius, math::kMaxKwtaNeurons);
  const int64_t B = times.size(0), F = times.size(1), H = times.size(2), W = times.size(3);
  radius = std::min(radius, std::max(H, W));  // covers the whole map already (and y + radius cannot overflow)
  auto winners = at::full({B, k, 3}, -1, times.options().dtype(at::kInt));
  if (B == 0 || F * H * W == 0) return winners;
  const auto tm = times.contiguous();
  const auto vl = values.contiguous();
  const int64_t N = F * H * W, HW = H * W;
  FASTSPIKE_DISPATCH_TIMES(tm.scalar_type(), "kwta", [&] {
    const tau_t* tau = tm.const_data_ptr<tau_t>();
    const float* val = vl.const_data_ptr<float>();
    int32_t* out = winners.mutable_data_ptr<int32_t>();
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      ScopedFlushDenormal ftz;
      std::vector<uint64_t> keys;  // the candidates' keys (tau < T), flat-index order
      std::vector<uint8_t> dead_f(F), dead_pos(HW);
      for (int64_t b = b0; b < b1; ++b) {
        const tau_t* tb = tau + b * N;
        const float* vb = val + b * N;
        float v_shift = 0.f;
        if (compat) {
          float vmax = 0.f;
          for (int64_t q = 0; q < N; ++q)
            if (tb[q] < T && vb[q] > vmax) vmax = vb[q];
          v_shift = math::mul_rn(vmax, static_cast<float>(T));
        }
        if (k == 1) {  // the first winner is the largest key: one pass, no candidate list
          uint64_t best = 0;
          for (int64_t q = 0; q < N; ++q)
            best = std::max(best, math::kwta_key(compat, tb[q], static_cast<int>(T), vb[q], v_shift, q));
          if (best) {
            const int64_t q = math::index_from_key(best);
            int32_t* o = out + b * 3;
            o[0] = static_cast<int32_t>(q / HW);
            o[1] = static_cast<int32_t>((q % HW) / W);
            o[2] = static_cast<int32_t>(q % W);
          }
          continue;
        }
        keys.clear();
        for (int64_t q = 0; q < N; ++q) {
          if (tb[q] >= T) continue;
          const uint64_t key = math::kwta_key(compat, tb[q], static_cast<int>(T), vb[q], v_shift, q);
          if (key) keys.push_back(key);
        }
        std::fill(dead_f.begin(), dead_f.end(), 0);
        std::fill(dead_pos.begin(), dead_pos.end(), 0);
        for (int64_t w = 0; w < k; ++w) {
          uint64_t best = 0;
          for (const uint64_t key : keys) {
            if (key <= best) continue;
            const int64_t q = math::index_from_key(key);
            if (!dead_f[q / HW] && !dead_pos[q % HW]) best = key;
          }
          if (best == 0) break;
          const int64_t q = math::index_from_key(best);
          const int64_t f = q / HW, y = (q % HW) / W, x = q % W;
          int32_t* o = out + (b * k + w) * 3;
          o[0] = static_cast<int32_t>(f);
          o[1] = static_cast<int32_t>(y);
          o[2] = static_cast<int32_t>(x);
          dead_f[f] = 1;
          if (radius > 0) {
            for (int64_t yy = std::max<int64_t>(0, y - radius); yy <= std::min(H - 1, y + radius); ++yy)
              for (int64_t xx = std::max<int64_t>(0, x - radius); xx <= std::min(W - 1, x + radius); ++xx)
                dead_pos[yy * W + xx] = 1;
          }
        }
      }
    });
  });
  return winners;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("kwta", &kwta_cpu); }

}  // namespace fastspike
