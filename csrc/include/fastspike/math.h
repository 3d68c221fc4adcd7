// Per-element arithmetic shared by the CPU loops and the CUDA kernels. Every
// function here is the single definition of its rule: the CPU fallback is a
// loop around the same function the GPU runs, so CPU tests cover GPU math.
//
// Floating-point order is pinned (docs/reference/semantics.md#numerics): no
// FMA contraction (CPU: -ffp-contract=off; CUDA: explicit __f*_rn intrinsics).
#pragma once

#include <c10/macros/Macros.h>

#include <cstdint>
#include <cstring>

namespace fastspike {
namespace math {

C10_HOST_DEVICE inline float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

C10_HOST_DEVICE inline float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

C10_HOST_DEVICE inline float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

C10_HOST_DEVICE inline uint32_t float_bits(float v) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(v);
#else
  uint32_t u;
  std::memcpy(&u, &v, sizeof(u));
  return u;
#endif
}

// A weight an integrate-and-fire layer accepts: finite and >= 0 (NaN fails the
// comparison, +inf the upper bound). The CPU kernels check every weight with it;
// the CUDA path checks the same in fastspike.ops (one host sync, on request).
C10_HOST_DEVICE inline bool valid_weight(float w) { return w >= 0.f && w <= 3.40282347e38f; }

C10_HOST_DEVICE inline float clamp_weight(float w, float lb, float ub) {
  return w < lb ? lb : (w > ub ? ub : w);
}

// One STDP step on one synapse (docs/reference/semantics.md#stdp-rule):
//   a  = a_ltp if t_pre <= t_post else a_ltd
//   dW = a * (W - lb) * (ub - W)   (stabiliser on; evaluated as a*((W-lb)*(ub-W)))
//   dW = a                         (stabiliser off)
//   W  = clamp(W + dW, lb, ub)
C10_HOST_DEVICE inline float stdp_step(float w, bool ltp, float a_ltp, float a_ltd,
                                       bool stabilize, float lb, float ub) {
  const float a = ltp ? a_ltp : a_ltd;
  float dw = a;
  if (stabilize) {
    const float d1 = sub_rn(w, lb);
    const float d2 = sub_rn(ub, w);
    dw = mul_rn(a, mul_rn(d1, d2));
  }
  return clamp_weight(add_rn(w, dw), lb, ub);
}

// ---- k-WTA ranking keys (docs/reference/semantics.md#kwta-ranking) ---------------
// A candidate's rank is packed into one uint64 so that a single max-reduction
// selects the winner; 0 means "no candidate". The low 25 bits hold
// (2^25 - 1 - q) so that on equal scores the lowest flat index q = f*H*W+y*W+x
// wins, as torch.max does in the reference.
constexpr int kIndexBits = 25;
constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;
constexpr int64_t kMaxKwtaNeurons = int64_t(1) << kIndexBits;

C10_HOST_DEVICE inline uint64_t index_field(int64_t q) {
  return kIndexMask - static_cast<uint64_t>(q);
}

C10_HOST_DEVICE inline int64_t index_from_key(uint64_t key) {
  return static_cast<int64_t>(kIndexMask - (key & kIndexMask));
}

// clean: lexicographic (tau ascending, V descending, q ascending), exact.
// T - tau < 256 because T <= 255 for k-WTA inputs.
C10_HOST_DEVICE inline uint64_t kwta_key_clean(int tau, int T, float v, int64_t q) {
  if (tau >= T) return 0;
  const uint32_t vb = v > 0.f ? float_bits(v) : 0u;  // V >= 0 for real spikes
  return (static_cast<uint64_t>(T - tau) << 56) | (static_cast<uint64_t>(vb) << kIndexBits) |
         index_field(q);
}

// compat: the reference's float32 score sum_{t >= tau} (V + T*Vmax), where
// v_shift = fl(Vmax * T) is computed once per sample, summed sequentially.
C10_HOST_DEVICE inline float kwta_score_compat(int tau, int T, float v, float v_shift) {
  const float w = add_rn(v, v_shift);
  float s = 0.f;
  for (int t = tau; t < T; ++t) s = add_rn(s, w);
  return s;
}

C10_HOST_DEVICE inline uint64_t kwta_key_compat(int tau, int T, float v, float v_shift,
                                                int64_t q) {
  if (tau >= T) return 0;
  const float s = kwta_score_compat(tau, T, v, v_shift);
  if (!(s > 0.f)) return 0;  // the reference stops at a zero maximum
  return (static_cast<uint64_t>(float_bits(s)) << kIndexBits) | index_field(q);
}

C10_HOST_DEVICE inline uint64_t kwta_key(bool compat, int tau, int T, float v, float v_shift,
                                         int64_t q) {
  return compat ? kwta_key_compat(tau, T, v, v_shift, q) : kwta_key_clean(tau, T, v, q);
}

// Pointwise inhibition order: does (tau_a, v_a) beat the current best
// (tau_b, v_b)? Features are visited in ascending order, so strict comparisons
// keep the lowest feature index on a full tie.
C10_HOST_DEVICE inline bool pointwise_better(int tau_a, float v_a, int tau_b, float v_b) {
  return tau_a < tau_b || (tau_a == tau_b && v_a > v_b);
}

}  // namespace math
}  // namespace fastspike
