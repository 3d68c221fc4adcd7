// Diehl & Cook (2015) network, written once for the CPU loop and the CUDA kernels
// (docs/reference/semantics.md#diehl-cook): the conductance-based excitatory neuron with
// its adaptive threshold, the inhibitory neuron, the trace STDP rule and the Philox
// draws of the Poisson input. Every float operation goes through the math:: helpers (no FMA
// contraction, round to nearest), in the order the per-step torch reference
// (fastspike/reference.py, diehl_cook_reference) evaluates it.
#pragma once

#include "fastspike/math.h"

#include <cstdint>
#include <cstring>

namespace fastspike {
namespace dc {

using math::add_rn;
using math::mul_rn;
using math::sub_rn;

// ---- constants ----------------------------------------------------------------
// Every constant is rounded once to float32 on the host (fastspike/diehlcook.py,
// DiehlCookParams.packed); the order of `kFloatParams` is the order of the op's
// `params` list.
struct Params {
  // excitatory neurons: tau dv/dt = (E_rest - v) + g_e (E_exc - v) + g_i (E_inh - v)
  float k_e;                  // dt / tau_e
  float rest_e, exc_e, inh_e;  // E_rest, E_exc, E_inh (mV)
  float reset_e;              // reset potential
  float thresh_e;             // v_thresh - offset: the neuron spikes when v > theta + thresh_e
  float decay_ge, decay_gi;   // exp(-dt / tau_ge), exp(-dt / tau_gi)
  float theta_plus;           // added to theta by every spike while learning
  float decay_theta;          // theta's decay over one presentation and its rest, applied after it
  // inhibitory neurons: tau dv/dt = (E_rest - v) + g_e (E_exc - v)
  float k_i, rest_i, exc_i, reset_i, thresh_i;
  float w_ei;  // excitatory j -> inhibitory j
  float w_ie;  // inhibitory k -> every excitatory neuron but k
  // trace STDP (input -> excitatory)
  float nu_pre, nu_post, decay_pre, decay_post1, decay_post2, w_max;
  // input: spikes per second at x = 1 is 255 * intensity / 8; steps are dt_s seconds
  float dt_s;
  // integers
  int32_t n_ref_e, n_ref_i;
  int32_t t_present, t_rest;  // steps with input, then without
  int32_t min_spikes;         // fewer excitatory spikes in a presentation: show it again, brighter
  int32_t max_attempts;       // presentations of one image at most
  float norm;                 // each neuron's input weights sum to this before a training presentation
  double intensity0, intensity_step;
};

constexpr int kFloatParams = 27;  // k_e .. dt_s, norm, intensity0, intensity_step (DiehlCookParams.packed)
constexpr int kIntParams = 6;     // n_ref_e, n_ref_i, t_present, t_rest, min_spikes, max_attempts

// ---- a deterministic exp ----------------------------------------------------------
// e^x for x <= 0 with the same bits on every device (libm's expf and CUDA's differ):
// n = round(x * log2(e)) by the 1.5 * 2^23 trick, r = x - n ln2 (Cody-Waite, two
// parts), e^r by its degree-6 Taylor polynomial (Horner), times 2^n built from bits.
// Relative error about 2e-7. Below -87 the result is 0 (flush to zero).
constexpr float kExpBig = 12582912.f;  // 1.5 * 2^23
constexpr float kLog2e = 1.44269502f;
constexpr float kLn2Hi = 0.693145751953125f;   // 15 significant bits: n * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860677e-06f;
// Taylor coefficients 1/6! .. 1/2!, each rounded once to float32
constexpr float kExpC6 = static_cast<float>(1.0 / 720.0);
constexpr float kExpC5 = static_cast<float>(1.0 / 120.0);
constexpr float kExpC4 = static_cast<float>(1.0 / 24.0);
constexpr float kExpC3 = static_cast<float>(1.0 / 6.0);

C10_HOST_DEVICE C10_ALWAYS_INLINE float exp_neg(float x) {
  const float xc = x > -87.f ? x : -87.f;
  const float n = sub_rn(add_rn(mul_rn(xc, kLog2e), kExpBig), kExpBig);
  const float r = sub_rn(sub_rn(xc, mul_rn(n, kLn2Hi)), mul_rn(n, kLn2Lo));
  float q = add_rn(mul_rn(kExpC6, r), kExpC5);
  q = add_rn(mul_rn(q, r), kExpC4);
  q = add_rn(mul_rn(q, r), kExpC3);
  q = add_rn(mul_rn(q, r), 0.5f);
  q = add_rn(mul_rn(q, r), 1.f);
  q = add_rn(mul_rn(q, r), 1.f);
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x > -87.f ? mul_rn(q, scale) : 0.f;
}

C10_HOST_DEVICE C10_ALWAYS_INLINE float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// ---- neurons --------------------------------------------------------------------
// Exponential Euler (Brian 2's method for these equations): over one step the
// conductances are held, so v relaxes exactly towards
//   v_inf = ((rest + ge * exc) + gi * inh) / G,   G = (1 + ge) + gi
// with the time constant tau / G:  v' = v_inf + (v - v_inf) * exp_neg(-(k * G)), k = dt / tau.
// Unlike forward Euler it stays stable when many inhibitory spikes arrive at once
// (forward Euler diverges once k * G > 2).
//   held (ref > 0): v = reset, ref -= 1, no spike
//   else: spike when v' > theta + thresh_e; then v = reset, ref = n_ref_e
//   then ge *= decay_ge, gi *= decay_gi
// Branch-free, so the CPU loop over neurons vectorises.
C10_HOST_DEVICE C10_ALWAYS_INLINE float relax(float v, float k, float rest, float ge, float exc, float gi, float inh) {
  const float G = add_rn(add_rn(1.f, ge), gi);
  const float v_inf = div_rn(add_rn(add_rn(rest, mul_rn(ge, exc)), mul_rn(gi, inh)), G);
  return add_rn(v_inf, mul_rn(sub_rn(v, v_inf), exp_neg(-mul_rn(k, G))));
}

C10_HOST_DEVICE C10_ALWAYS_INLINE bool exc_step(float& v, float& ge, float& gi, int32_t& ref, float theta,
                                     const Params& p) {
  const float vi = relax(v, p.k_e, p.rest_e, ge, p.exc_e, gi, p.inh_e);
  const bool held = ref > 0;
  const bool s = !held & (vi > add_rn(theta, p.thresh_e));
  v = (held | s) ? p.reset_e : vi;
  ref = held ? ref - 1 : (s ? p.n_ref_e : ref);
  ge = mul_rn(ge, p.decay_ge);
  gi = mul_rn(gi, p.decay_gi);
  return s;
}

// One step of an inhibitory neuron (no inhibitory input in this network: gi = 0);
// spike when v' > thresh_i.
C10_HOST_DEVICE C10_ALWAYS_INLINE bool inh_step(float& v, float& ge, int32_t& ref, const Params& p) {
  const float vi = relax(v, p.k_i, p.rest_i, ge, p.exc_i, 0.f, 0.f);
  const bool held = ref > 0;
  const bool s = !held & (vi > p.thresh_i);
  v = (held | s) ? p.reset_i : vi;
  ref = held ? ref - 1 : (s ? p.n_ref_i : ref);
  ge = mul_rn(ge, p.decay_ge);
  return s;
}

// ---- trace STDP -----------------------------------------------------------------
// Traces decay every step (x *= decay) and are SET to 1 by their neuron's spike.
// On an input spike:      w = max(0, w - nu_pre * y1)             (y1 before this step's post spikes)
// On an excitatory spike: w = min(w_max, w + (nu_post * x_pre) * y2)  (y2 before it is set to 1)
C10_HOST_DEVICE C10_ALWAYS_INLINE float depress(float w, float y1, const Params& p) {
  const float n = sub_rn(w, mul_rn(p.nu_pre, y1));
  return n > 0.f ? n : 0.f;
}

C10_HOST_DEVICE C10_ALWAYS_INLINE float potentiate(float w, float x_pre, float y2, const Params& p) {
  const float n = add_rn(w, mul_rn(mul_rn(p.nu_post, x_pre), y2));
  return n < p.w_max ? n : p.w_max;
}

// ---- Poisson input (docs/reference/semantics.md#poisson; fastspike/spiketrain.py) ----
// Philox-4x32-10 at counter (e, t / 4, g_lo, g_hi), key (seed_lo, seed_hi); word t % 4 is
// step t's draw u, and the input spikes iff u < floor(p * 2^32), p = min(1, (x * r) * dt).
C10_HOST_DEVICE inline void philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c[2];
    const uint32_t h0 = static_cast<uint32_t>(p0 >> 32), l0 = static_cast<uint32_t>(p0);
    const uint32_t h1 = static_cast<uint32_t>(p1 >> 32), l1 = static_cast<uint32_t>(p1);
    const uint32_t n0 = h1 ^ c[1] ^ k0, n2 = h0 ^ c[3] ^ k1;
    c[0] = n0;
    c[1] = l1;
    c[2] = n2;
    c[3] = l0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// floor(p * 2^32) for p = min(1, (x * r) * dt) (0 for x = 0; 2^32 = always).
C10_HOST_DEVICE C10_ALWAYS_INLINE uint64_t spike_threshold(float x, float r, float dt) {
  float p = mul_rn(mul_rn(x, r), dt);
  p = p < 1.f ? p : 1.f;
  return static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
}

// The rate scale of presentation `attempt`: 255 * intensity / 8 spikes per second at
// x = 1, intensity = intensity0 + attempt * intensity_step (rounded once to float32).
C10_HOST_DEVICE C10_ALWAYS_INLINE float rate_of(int attempt, const Params& p) {
  return static_cast<float>(255.0 * (p.intensity0 + attempt * p.intensity_step) / 8.0);
}

}  // namespace dc
}  // namespace fastspike
