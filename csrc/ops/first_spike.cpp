#include <torch/library.h>

// First-spike extraction (docs/reference/semantics.md#first-spike).
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  // Fused fire + first spike; no spike wave is materialised.
  //   potentials [B, T, ...] float32 / float16 / bfloat16, threshold >= 0 or None
  // returns
  //   times  [B, ...] uint8 when T <= 255 else int16; T means "never"
  //   values [B, ...] potentials' dtype, P at the first spike (0 when never)
  m.def("first_spike(Tensor potentials, float? threshold) -> (Tensor, Tensor)");
  // From a spike wave: tau = T - sum_t [S[t] != 0].
  //   spikes     [B, T, ...] uint8 / bool / float
  //   potentials [B, T, ...] float (thresholded potentials) or None
  //   compat     reproduce the reference's clamp of tau to T-1 when gathering
  //              values (a never-firing neuron gets P[T-1] instead of 0)
  // returns times [B, ...] (as above) and values [B, ...] (empty [0] when
  // potentials is None)
  m.def(
      "first_spike_from_wave(Tensor spikes, Tensor? potentials, bool compat=False) "
      "-> (Tensor, Tensor)");
  // Inverse: times [B, ...] uint8/int16 -> cumulative wave [B, T, ...] uint8,
  // S[t] = [t >= tau].
  m.def("spike_wave(Tensor times, int T) -> Tensor");
}
