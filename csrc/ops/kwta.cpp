#include <torch/library.h>

// k-winners-take-all with lateral inhibition (docs/reference/semantics.md#kwta), one
// independent selection per sample, with no host synchronisation.
//   times  [B, F, H, W] uint8 / int16 (T = never; candidates have tau < T)
//   values [B, F, H, W] float32, potential at the first spike
//   k >= 1 winners, radius >= 0 (0 = no spatial inhibition)
//   compat: rank by the reference's float32 score instead of the exact key
// returns winners [B, k, 3] int32 (feature, row, col) in selection order,
// rows of -1 where fewer than k winners exist
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "kwta(Tensor times, Tensor values, int T, int k, int radius, bool compat=False) "
      "-> Tensor");
}
