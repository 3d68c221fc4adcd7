#include <torch/library.h>

// Integrate-and-fire convolution in first-spike form
// (docs/reference/semantics.md#if-convolution, #fire):
// P[t] = sum over (c, i, j) with tau_in <= t of W[f, c, i, j], computed as a
// histogram over input spike times followed by a prefix sum, accumulated in
// fp32 in (c, i, j) ascending order on every backend.
//   times_in  [B, C, Hp, Wp] uint8 / int16 (already padded; T = never)
//   weight    [F, C, kh, kw] float32, >= 0
//   threshold float >= 0 (spike where P[t] > threshold), or None (spike at
//             T-1 where P[T-1] > 0)
// returns
//   times      [B, F, H, W] dtype of times_in, H = Hp - kh + 1, W = Wp - kw + 1
//   values     [B, F, H, W] float32, P at the first spike (0 when never), when
//              return_values (default); else an empty tensor [0] (inference
//              needs only the times)
//   potentials [B, T, F, H, W] float32, unthresholded P, when return_potentials;
//              else an empty tensor [0]
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "conv_fire(Tensor times_in, Tensor weight, int T, float? threshold, "
      "bool return_potentials=False, bool return_values=True) -> (Tensor, Tensor, Tensor)");
}
