// The batched STDP update of one weight element as the CUDA kernel runs it
// (docs/reference/semantics.md#batched-stdp). The CPU loop replays the
// same event lists event by event (weight elements are independent, so the
// order per element is the same) with the same math::stdp_step.
//
// The host builds, per output feature f, the ordered list of samples that
// touch it: events[f][0..n_f) = (sample b, winner position y*W+x or -1, t_post).
// A position of -1 marks a sample without a winner in this feature that only
// clamps it (clamp_all, the reference's whole-tensor clamp after every sample). Each weight
// element then replays its feature's events in sample order, so the result is
// the sequential rule applied sample by sample, with no atomics and no
// dependence on the launch configuration.
#pragma once

#include "fastspike/math.h"

#include <cstdint>

namespace fastspike {

struct StdpParams {
  int64_t B, C, Hp, Wp, F, kh, kw, H, W;
  bool per_feature_lr;
  bool stabilize;
  float lb, ub;
};

struct StdpEvents {
  const int32_t* sample;  // [F, B]
  const int32_t* pos;     // [F, B]  y * W + x, or -1 for clamp-only
  const int32_t* t_post;  // [F, B]
  const int32_t* count;   // [F]
};

// Weight element (f, c, i, j) with current value w; returns its new value.
template <typename tau_t>
C10_HOST_DEVICE inline float stdp_replay(float w, int64_t f, int64_t c, int64_t i, int64_t j,
                                         const StdpParams& p, const StdpEvents& ev,
                                         const tau_t* times_in, const float* lr) {
  const int32_t n = ev.count[f];
  for (int32_t e = 0; e < n; ++e) {
    const int64_t slot = f * p.B + e;
    const int64_t b = ev.sample[slot];
    const int32_t pos = ev.pos[slot];
    if (pos < 0) {
      w = math::clamp_weight(w, p.lb, p.ub);
      continue;
    }
    const int64_t y = pos / p.W, x = pos % p.W;
    const int t_pre = times_in[((b * p.C + c) * p.Hp + (y + i)) * p.Wp + (x + j)];
    const float* r = p.per_feature_lr ? lr + (b * p.F + f) * 2 : lr + b * 2;
    w = math::stdp_step(w, t_pre <= ev.t_post[slot], r[0], r[1], p.stabilize, p.lb, p.ub);
  }
  return w;
}

}  // namespace fastspike
