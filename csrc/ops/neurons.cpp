#include <torch/library.h>

// Multi-step neuron layers (docs/reference/semantics.md#neurons): a layer's whole simulation over T
// steps in one call, one neuron's state in registers, the update rule of
// csrc/include/fastspike/neuron.h.
//   current  [B, T, ...]  float32 input current per step (finite)
//   v0       [B, ...]     float32 membrane potential before step 0
//   ref0     [B, ...]     int32 refractory steps left (LIF, >= 0)
//   u0       [B, ...]     float32 recovery variable (Izhikevich)
// returns
//   spikes   [B, T, ...]  uint8 0/1
//   v, ref / u            the state after step T-1
//   trace    [B, T, ...]  float32 v after each step (after a reset), when
//                         return_trace; else an empty tensor [0]
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "lif_run(Tensor current, Tensor v0, Tensor ref0, float k, float alpha, float beta, "
      "float v_rest, float v_reset, float v_th, float R, int n_ref, bool exact, "
      "bool return_trace=False) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "izhikevich_run(Tensor current, Tensor v0, Tensor u0, float a, float b, float c, float d, "
      "float dt, int n_sub, bool compat, bool return_trace=False) -> (Tensor, Tensor, Tensor, Tensor)");
}
