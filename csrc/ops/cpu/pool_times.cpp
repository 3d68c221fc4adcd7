// CPU kernel for fastspike::pool_times: min over each window of first-spike
// times (padded cells = never), then a border of never. One plane per task.
#include "fastspike/checks.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>

namespace fastspike {
namespace {

// Non-overlapping, unpadded windows (stride == kernel == K, the common case):
// the minimum of the K rows of each window row, then of each K columns.
template <int K, typename tau_t>
inline void pool_plane_fixed(const tau_t* __restrict__ src, int64_t W, int64_t Ho, int64_t Wo,
                             tau_t* __restrict__ dst, int64_t Wq, int64_t op) {
  tau_t tmp[256 * K];
  for (int64_t y = 0; y < Ho; ++y) {
    const tau_t* r = src + y * K * W;
    const int64_t n = Wo * K;
    for (int64_t x = 0; x < n; ++x) {
      tau_t v = r[x];
      for (int i = 1; i < K; ++i) v = std::min(v, r[i * W + x]);
      tmp[x] = v;
    }
    tau_t* row = dst + (y + op) * Wq + op;
    for (int64_t x = 0; x < Wo; ++x) {
      tau_t v = tmp[x * K];
      for (int j = 1; j < K; ++j) v = std::min(v, tmp[x * K + j]);
      row[x] = v;
    }
  }
}

at::Tensor pool_times_cpu(const at::Tensor& times, int64_t kernel, int64_t stride, int64_t padding, int64_t T,
                          int64_t out_padding) {
  const auto s = check_pool(times, kernel, stride, padding, T, out_padding);
  const int64_t B = times.size(0), C = times.size(1), H = times.size(2), W = times.size(3);
  const int64_t Hq = s.first + 2 * out_padding, Wq = s.second + 2 * out_padding;
  auto out = at::empty({B, C, Hq, Wq}, times.options());
  if (out.numel() == 0) return out;
  const auto tin = times.contiguous();
  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "pool_times", [&] {
    const tau_t* in = tin.const_data_ptr<tau_t>();
    tau_t* o = out.mutable_data_ptr<tau_t>();
    const tau_t never = static_cast<tau_t>(T);
    const int64_t Ho = s.first, Wo = s.second;
    at::parallel_for(0, B * C, 16, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const tau_t* src = in + p * H * W;
        tau_t* dst = o + p * Hq * Wq;
        std::fill(dst, dst + Hq * Wq, never);
        if (padding == 0 && stride == kernel && Wo * kernel <= 256 * kernel && (kernel == 2 || kernel == 3)) {
          if (kernel == 2)
            pool_plane_fixed<2>(src, W, Ho, Wo, dst, Wq, out_padding);
          else
            pool_plane_fixed<3>(src, W, Ho, Wo, dst, Wq, out_padding);
          continue;
        }
        for (int64_t y = 0; y < Ho; ++y) {
          const int64_t i0 = std::max<int64_t>(0, y * stride - padding);
          const int64_t i1 = std::min<int64_t>(H, y * stride - padding + kernel);
          tau_t* row = dst + (y + out_padding) * Wq + out_padding;
          for (int64_t x = 0; x < Wo; ++x) {
            const int64_t j0 = std::max<int64_t>(0, x * stride - padding);
            const int64_t j1 = std::min<int64_t>(W, x * stride - padding + kernel);
            tau_t m = never;
            for (int64_t i = i0; i < i1; ++i)
              for (int64_t j = j0; j < j1; ++j) m = std::min(m, src[i * W + j]);
            row[x] = m;
          }
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("pool_times", &pool_times_cpu); }

}  // namespace fastspike
