// Host-side launch helpers shared by fastspike's CUDA kernels (csrc/ops/cuda/*.cu).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>

namespace fastspike {
namespace cuda {

inline void check_cuda(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_cuda(), name, ": expected a CUDA tensor, got device ", t.device());
}

// Blocks for a grid-stride loop over n items: as many as the items need, up to
// 2^16 (already many times what any GPU holds at once; kernels loop over the
// rest). A fixed cap avoids querying the device on every launch.
inline unsigned int grid_for(int64_t n, int threads) {
  const int64_t needed = (n + threads - 1) / threads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(needed, 1 << 16)));
}

// Index arithmetic in int32 when every flat index (and a grid-stride step
// past it) fits, else in int64: 64-bit division is several times slower on
// the GPU. MAX_INDEX bounds every index the kernel computes. The body sees
// `index_t`.
#define FASTSPIKE_DISPATCH_INDEX(MAX_INDEX, ...)                            \
  [&] {                                                                     \
    if ((MAX_INDEX) <= (int64_t(1) << 30)) {                                \
      using index_t = int32_t;                                              \
      return __VA_ARGS__();                                                 \
    } else {                                                                \
      using index_t = int64_t;                                              \
      return __VA_ARGS__();                                                 \
    }                                                                       \
  }()

}  // namespace cuda
}  // namespace fastspike
