#include "fastspike/checks.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/where.h>
#include <ATen/ops/lt.h>
#include <ATen/ops/ones.h>
#include <torch/library.h>

#include <limits>

// The potential after the last step of an integrate-and-fire convolution,
// P[T-1] = sum of W over every input that fires at all (tau < T), accumulated
// in float64 and rounded once to float32. It is all a decision layer without
// threshold needs (docs/reference/semantics.md#decision-layer). The double sums do not depend
// on the order of the additions whenever they are exact, i.e. whenever the
// weights' binary exponents span fewer than ~53 - 24 - log2(inputs) binades
// (for the Mozafari S3 weights in [0.2, 0.8]: 40 bits are needed of 53), so the
// result is the correctly rounded exact sum, the same for every strategy,
// batch composition and device. The CPU kernel is event-driven and adds, per
// sample, either the weights of the inputs that fire or (when most fire) the
// complement: the total minus the inputs that do not.
//   times_in     [B, C, Hp, Wp] uint8 / int16, padded (never = T)
//   weight_rows  [C, kh, kw, F] float32 >= 0: the weight with the output feature
//                innermost, weight.permute(1, 2, 3, 0)
//   border       the outer rows/columns of times_in that are padding: they must
//                never fire and are skipped
//   max_event_fraction  a sample is only computed when its events (the inputs
//                that fire, or those that do not, whichever are fewer) are at
//                most this fraction of its inner inputs (the caller computes the
//                others densely); 1.0 = every sample
//   tap_sums     optional [kh, kw, F] float64: weight_rows summed over the input
//                channels (subnormal weights as 0), for a caller that keeps them
//                while the weights do not change; the CPU kernel otherwise reads
//                all of weight_rows for them on every call. Other devices ignore it.
// returns (P [B, F, Hp - kh + 1, Wp - kw + 1] float32 (0 where not computed),
//          done [B] bool)
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "final_potential(Tensor times_in, Tensor weight_rows, int T, int border=0, float max_event_fraction=1.0, "
      "Tensor? tap_sums=None) -> (Tensor, Tensor)");
}

namespace fastspike {
namespace {

// Every other backend: the same definition through a float64 convolution of
// "fired at all" (padded cells never fire and add 0), every sample computed;
// subnormal weights count as 0, as in the CPU kernel's flush-to-zero adds.
std::tuple<at::Tensor, at::Tensor> final_potential_generic(const at::Tensor& times_in, const at::Tensor& weight_rows,
                                                           int64_t T, int64_t border, double max_event_fraction,
                                                           const std::optional<at::Tensor>& tap_sums) {
  const auto g = check_final_potential(times_in, weight_rows, T, border, max_event_fraction);
  check_tap_sums(tap_sums, g, weight_rows);
  auto fired = at::lt(times_in, T).to(at::kDouble);
  auto w = weight_rows.permute({3, 0, 1, 2}).to(at::kDouble);
  w = at::where(at::lt(at::abs(w), static_cast<double>(std::numeric_limits<float>::min())), 0.0, w);
  return {at::conv2d(fired, w).to(at::kFloat), at::ones({times_in.size(0)}, times_in.options().dtype(at::kBool))};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CompositeExplicitAutograd, m) { m.impl("final_potential", &final_potential_generic); }

}  // namespace fastspike
