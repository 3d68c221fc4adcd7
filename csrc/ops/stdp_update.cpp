#include <torch/library.h>

// Batched STDP / anti-STDP, in place (docs/reference/semantics.md#stdp-rule and
// #batched-stdp): the exact single-sample updates applied in sample order.
//   weight    [F, C, kh, kw] float32, contiguous, updated in place
//   times_in  [B, C, Hp, Wp] uint8 / int16, the layer's (padded) input times
//   times_out [B, F, H, W]   same dtype, the layer's output times
//   winners   [B, k, 3]      int32 / int64 (feature, row, col); rows with
//                            feature -1 are skipped
//   lr        [B, 2] or [B, F, 2] float32 (a_plus, a_minus) per sample
//                            (and feature); negative a_plus gives anti-STDP
//   T         time steps (tau = T means never)
//   stabilize multiply the rate by (W - lb)(ub - W)
//   lb, ub    weight bounds
//   clamp_all reference quirk: clamp the whole weight after every sample
//             (each sample is one call of the reference's rule, which clamps
//             the whole tensor even without winners); otherwise only the
//             updated weights are clamped
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "stdp_update(Tensor(a!) weight, Tensor times_in, Tensor times_out, Tensor winners, "
      "Tensor lr, int T, bool stabilize, float lb, float ub, bool clamp_all=False) -> ()");
}
