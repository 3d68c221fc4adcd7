#include "fastspike/checks.h"

#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/rsub.h>
#include <torch/library.h>

// Max-pooling of spike waves in first-spike form (docs/reference/semantics.md#pooling):
// the min of tau over each window, padded cells counting as never (T), floor
// mode; then `out_padding` rows/columns of never around the result (the next
// layer's explicit padding), in one pass.
//   times   [B, C, H, W] uint8 / int16
// returns
//   [B, C, Ho + 2 out_padding, Wo + 2 out_padding], Ho = (H + 2 padding - kernel) / stride + 1
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def("pool_times(Tensor times, int kernel, int stride, int padding, int T, int out_padding=0) -> Tensor");
}

namespace fastspike {
namespace {

// Every other backend (CUDA): the same definition through ATen's max-pooling of
// T - tau (exact: small integers in float32). The CPU kernel is in cpu/pool_times.cpp.
at::Tensor pool_times_generic(const at::Tensor& times, int64_t kernel, int64_t stride, int64_t padding, int64_t T,
                              int64_t out_padding) {
  check_pool(times, kernel, stride, padding, T, out_padding);
  auto lead = at::rsub(times.to(at::kFloat), static_cast<double>(T));
  auto pooled = at::max_pool2d(lead, {kernel, kernel}, {stride, stride}, {padding, padding});
  auto out = at::rsub(pooled, static_cast<double>(T)).to(times.scalar_type());
  if (out_padding > 0)
    out = at::constant_pad_nd(out, {out_padding, out_padding, out_padding, out_padding}, static_cast<double>(T));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CompositeExplicitAutograd, m) { m.impl("pool_times", &pool_times_generic); }

}  // namespace fastspike
