#include <torch/library.h>

// Pointwise (feature) inhibition (docs/reference/semantics.md#pointwise-inhibition):
// at each position only the earliest feature survives; ties go to the larger
// potential, then the lowest feature index. Losers become "never" (tau = T, value 0).
//   times  [B, F, H, W] uint8 / int16, T means never
//   values [B, F, H, W] float32, potential at the first spike
// returns (times, values) of the same shapes and dtypes
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def("pointwise_inhibition(Tensor times, Tensor values, int T) -> (Tensor, Tensor)");
}
