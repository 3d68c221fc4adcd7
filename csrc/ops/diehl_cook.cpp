#include <torch/library.h>

// Diehl & Cook (2015) network (docs/reference/semantics.md#diehl-cook;
// csrc/include/fastspike/diehl_cook.h):
// whole presentations of images (Poisson input, conductance-based excitatory neurons
// with adaptive thresholds, one-to-one inhibition, trace STDP) in one call.
//   x        [B, n_in]  float32 intensities in [0, 1] (finite, >= 0)
//   w        [n_in, N]  float32 input weights (updated in place while training)
//   theta    [N]        float32 adaptive thresholds (updated in place while training)
//   state    [7, N], refs [4, N], x_pre [n_in]: the network's state between calls
//   params, iparams     DiehlCookParams.packed() (fastspike/diehlcook.py)
//   seed, sample_offset the Poisson draws of image b are keyed by (seed, sample_offset + b)
// returns
//   counts   [B, N]     int32 excitatory spikes during the last presentation of each image
//   attempts [B]        int32 presentations of each image (the intensity retry rule)
// diehl_cook_train runs the images in order, learning (normalisation, STDP, theta);
// diehl_cook_infer runs each image independently from the resting state, frozen.
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def(
      "diehl_cook_train(Tensor x, Tensor(a!) w, Tensor(b!) theta, Tensor(c!) state, Tensor(d!) refs, "
      "Tensor(e!) x_pre, float[] params, int[] iparams, int seed, int sample_offset) -> (Tensor, Tensor)");
  m.def(
      "diehl_cook_infer(Tensor x, Tensor w, Tensor theta, float[] params, int[] iparams, int seed, "
      "int sample_offset) -> (Tensor, Tensor)");
}

// Trace STDP for a fully connected layer (the Diehl & Cook rule;
// docs/reference/semantics.md#diehl-cook), for
// given spike trains, samples in order, the traces carried:
//   pre      [B, T, n_in]  uint8 0/1 input spikes
//   post     [B, T, N]     uint8 0/1 output spikes
//   w        [n_in, N]     float32, updated in place
//   x_pre    [n_in]        float32 input traces, updated in place
//   y        [2, N]        float32 output traces y1, y2, updated in place
//   params   [nu_pre, nu_post, decay_pre, decay_post1, decay_post2, w_max, norm]
// Per sample: when norm > 0, each neuron's input weights are scaled to sum to norm; then
// per step: traces decay; each input spiking now depresses its row (w = max(0, w - nu_pre
// * y1)) and sets x_pre = 1; each output spiking now potentiates its column (w = min(w_max,
// w + (nu_post * x_pre) * y2)) and sets y1 = y2 = 1.
TORCH_LIBRARY_FRAGMENT(fastspike, m) {
  m.def("trace_stdp(Tensor pre, Tensor post, Tensor(a!) w, Tensor(b!) x_pre, Tensor(c!) y, float[] params) -> ()");
}
