#include <torch/library.h>

// Cumulative fire (docs/reference/semantics.md#fire).
//   potentials  [B, T, ...]  float32 / float16 / bfloat16
//   threshold   float >= 0, or None for the "no threshold" mode (spike only at
//               T-1, where P[T-1] > 0)
// returns
//   spikes      [B, T, ...]  uint8, 1 where P[t] > threshold (strict)
//   thresholded [B, T, ...]  potentials' dtype, P where it spikes else 0, when
//               return_thresholded; else an empty tensor [0]
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "fire(Tensor potentials, float? threshold, bool return_thresholded=False) "
      "-> (Tensor, Tensor)");
}
