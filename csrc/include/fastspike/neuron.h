// Neuron updates, written once for the CPU loops and the CUDA kernels
// (docs/reference/semantics.md#neurons). Every function is one neuron's step; the float order is
// pinned with the math:: helpers (no FMA contraction on either device), so the
// CPU tests cover the GPU's arithmetic and the per-step torch reference
// (fastspike/reference.py) evaluates the same expressions in the same order.
#pragma once

#include "fastspike/math.h"

#include <cstdint>

namespace fastspike {
namespace neuron {

using math::add_rn;
using math::mul_rn;
using math::sub_rn;

// ---- integrate-and-fire (docs/reference/semantics.md#fire, #first-spike) ------
// The IF rule, one definition for every operator that fires (fire, first_spike,
// conv_fire's paths, CPU and CUDA): a potential spikes when it is strictly above the
// threshold (`>`; LIF and Izhikevich below use `>=`), and a neuron fires at the first
// step where it has not fired yet and its potential is above. conv_fire's AVX-512
// paths compare 16 potentials at once with _CMP_GT_OQ, the vector form of if_above.
C10_HOST_DEVICE inline bool if_above(float p, float th) { return p > th; }

C10_HOST_DEVICE inline bool if_fires(bool not_fired, float p, float th) { return not_fired & if_above(p, th); }

// ---- leaky integrate-and-fire with a refractory period -----------------------
// Per step (docs/reference/semantics.md#lif):
//   if ref > 0:  ref -= 1; v = v_reset; no spike          (input ignored)
//   else:        Euler:  v = v + k * ((v_rest - v) + R * I)         (k = dt / tau_m)
//                exact:  v = (v_rest + (v - v_rest) * alpha) + (R * I) * beta
//                        (alpha = exp(-dt / tau_m), beta = 1 - alpha, both rounded
//                        once to float32 on the host)
//                if v >= v_th: spike; v = v_reset; ref = n_ref
// so a spike holds the neuron for exactly n_ref steps. `>=`, unlike IF's `>`.
struct LifParams {
  float k;      // Euler: dt / tau_m
  float alpha;  // exact: exp(-dt / tau_m)
  float beta;   // exact: 1 - exp(-dt / tau_m)
  float v_rest, v_reset, v_th, R;
  int32_t n_ref;
  bool exact;
};

// Written without branches (selects), so the CPU loop vectorises across neurons; a held
// neuron's integration result is computed and discarded. Exact: the integrator, fixed
// per layer (a template argument, so that the CPU loop has no branch in it).
template <bool Exact>
C10_HOST_DEVICE inline bool lif_step_t(float& v, int32_t& ref, float I, const LifParams& p) {
  const bool held = ref > 0;
  const float vi = Exact ? add_rn(add_rn(p.v_rest, mul_rn(sub_rn(v, p.v_rest), p.alpha)),
                                  mul_rn(mul_rn(p.R, I), p.beta))
                         : add_rn(v, mul_rn(p.k, add_rn(sub_rn(p.v_rest, v), mul_rn(p.R, I))));
  const bool s = !held & (vi >= p.v_th);
  v = (held | s) ? p.v_reset : vi;
  ref = held ? ref - 1 : (s ? p.n_ref : ref);
  return s;
}

C10_HOST_DEVICE inline bool lif_step(float& v, int32_t& ref, float I, const LifParams& p) {
  return p.exact ? lif_step_t<true>(v, ref, I, p) : lif_step_t<false>(v, ref, I, p);
}

// ---- Izhikevich (2003) -------------------------------------------------------
//   dv = ((0.04 * v) * v + 5 * v + 140) - u + I      (left to right)
//   v  = v + h * dv, n_sub times (h = dt / n_sub; the published scheme: n_sub = 2)
//   u  = u + dt * (a * (b * v - u))                    (with the new v)
//   if v >= 30: spike; v = c; u = u + d
// compat (Izhikevich's own script): the test and reset come first, before the
// step integrates, so every spike comes one step later.
struct IzhParams {
  float a, b, c, d, dt, h;
  int32_t n_sub;
  bool compat;
};

C10_HOST_DEVICE inline bool izh_reset(float& v, float& u, const IzhParams& p) {
  if (v >= 30.f) {
    v = p.c;
    u = add_rn(u, p.d);
    return true;
  }
  return false;
}

C10_HOST_DEVICE inline void izh_integrate(float& v, float& u, float I, const IzhParams& p) {
  for (int32_t s = 0; s < p.n_sub; ++s) {
    const float dv =
        add_rn(sub_rn(add_rn(add_rn(mul_rn(mul_rn(0.04f, v), v), mul_rn(5.f, v)), 140.f), u), I);
    v = add_rn(v, mul_rn(p.h, dv));
  }
  u = add_rn(u, mul_rn(p.dt, mul_rn(p.a, sub_rn(mul_rn(p.b, v), u))));
}

C10_HOST_DEVICE inline bool izh_step(float& v, float& u, float I, const IzhParams& p) {
  if (p.compat) {
    const bool s = izh_reset(v, u, p);
    izh_integrate(v, u, I, p);
    return s;
  }
  izh_integrate(v, u, I, p);
  return izh_reset(v, u, p);
}

}  // namespace neuron
}  // namespace fastspike
