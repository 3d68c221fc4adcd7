"""torch.library.opcheck on every operator (schema, fake kernel, dispatch) and a
torch.compile(fullgraph=True) smoke test."""

import pytest
import torch
from conftest import HAS_CUDA, dyadic_weights, random_times

import fastspike  # noqa: F401
from fastspike.ops.final_potential import FinalPotentialCache

ops = torch.ops.fastspike
DEVICES = ["cpu"] + (["cuda"] if HAS_CUDA else [])


def cases(device):
    g = torch.Generator().manual_seed(0)
    T = 15
    tin = random_times((2, 3, 8, 8), T, g).to(device)
    w = dyadic_weights((4, 3, 3, 3), g).to(device)
    pot = torch.rand(2, T, 3, 5, generator=g).cumsum(1).to(device)
    tout, vout, _ = ops.conv_fire(tin, w, T, 1.0, False)
    winners = ops.kwta(tout, vout, T, 2, 1, False)
    lr = torch.tensor([[0.01, -0.01], [0.02, -0.01]], device=device)
    return [
        (ops.fire.default, (pot, 2.0, True)),
        (ops.fire.default, (pot, None, False)),
        (ops.first_spike.default, (pot, 2.0)),
        (ops.first_spike_from_wave.default, ((pot > 2).to(torch.uint8), pot, False)),
        (ops.first_spike_from_wave.default, ((pot > 2).to(torch.uint8), None, True)),
        (ops.spike_wave.default, (tin, T)),
        (ops.pointwise_inhibition.default, (tout, vout, T)),
        (ops.kwta.default, (tout, vout, T, 2, 1, True)),
        (ops.conv_fire.default, (tin, w, T, 1.0, True)),
        (ops.conv_fire.default, (tin, w, T, None, False)),
        (ops.conv_fire.default, (tin, w, T, 1.0, False, False)),
        (ops.final_potential.default, (tin, w.permute(1, 2, 3, 0).contiguous(), T, 0, 1.0)),
        (
            ops.final_potential.default,
            (
                torch.nn.functional.pad(tin, (1, 1, 1, 1), value=T),
                w.permute(1, 2, 3, 0).contiguous(),
                T,
                1,
                0.3,
            ),
        ),
        (
            ops.final_potential.default,
            (tin, w.permute(1, 2, 3, 0).contiguous(), T, 0, 1.0, FinalPotentialCache(w).tensors()[1]),
        ),
        (ops.pool_times.default, (tin, 2, 2, 0, T, 1)),
        (ops.pool_times.default, (tin, 3, 2, 1, T, 0)),
        (ops.stdp_update.default, (w.clone(), tin, tout, winners, lr, T, True, 0.0, 1.0, False)),
    ]


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_all_operators(device):
    for op, args in cases(device):
        torch.library.opcheck(op, args)


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
