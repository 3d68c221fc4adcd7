"""torch.compile(fullgraph=True) of a layer's operator chain (conv_fire, pointwise_inhibition,
kwta) through their fake kernels; each operator's opcheck is in its own test module."""

import torch
from conftest import dyadic_weights, random_times

import fastspike.ops  # noqa: F401  (loads the compiled library and registers the fake kernels)

ops = torch.ops.fastspike


def test_torch_compile_fullgraph():
    T = 15

    def layer(times_in, weight):
        t, v, _ = ops.conv_fire(times_in, weight, T, 1.0, False)
        t, v = ops.pointwise_inhibition(t, v, T)
        return ops.kwta(t, v, T, 3, 1, False)

    g = torch.Generator().manual_seed(1)
    tin = random_times((2, 3, 8, 8), T, g)
    w = dyadic_weights((4, 3, 3, 3), g)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(tin, w), layer(tin, w))
