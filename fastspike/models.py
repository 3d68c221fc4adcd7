"""Named networks: each is :class:`fastspike.network.Network` on its registered spec.

The numbers live in one place, :mod:`fastspike.registry` (``python -m fastspike models``
lists them); these classes only pick the spec, so ``Mozafari2018()`` and
``build("mozafari2018")`` are the same network.
"""

from __future__ import annotations

from fastspike.network import Network
from fastspike.registry import MODELS, get_spec, kheradpisheh2018, mozafari2018
from fastspike.spec import NetworkSpec

__all__ = ["Kheradpisheh2018", "Mozafari2018", "build"]


class Mozafari2018(Network):
    """Mozafari et al. (2018/2019) three-layer network for MNIST (docs/reference/semantics.md#mozafari2018).

    ======  =========================================================  ==========
    stage   operation                                                  output
    ======  =========================================================  ==========
    pad     2 px of never                                              6x32x32
    S1      conv 6->30, 5x5, theta=15; train: k=5, r=3, STDP [0, 1]    30x28x28
    C1      max-pool 2/2, then pad 1                                   30x16x16
    S2      conv 30->250, 3x3, theta=10; train: k=8, r=1, STDP [0, 1]  250x14x14
    C2      max-pool 3/3 (floor), then pad 2                           250x8x8
    S3      conv 250->200, 5x5, no threshold; R-STDP [0.2, 0.8]        200x4x4
    decide  k-WTA k=1 over P[T-1]; class = feature // 20; -1 = silence
    ======  =========================================================  ==========

    Input: first-spike times ``[B, 6, 28, 28]`` uint8 from :attr:`encoder`.
    """

    architecture = "mozafari2018"

    def __init__(self, T: int = 15, n_classes: int = 10, compat: bool = False, seed: int | None = 0):
        super().__init__(mozafari2018(T=T, n_classes=n_classes), compat=compat, seed=seed)


class Kheradpisheh2018(Network):
    """Kheradpisheh et al. (2018) as in the reference script (docs/reference/semantics.md#kheradpisheh2018).

    ======  =============================================================  ==========
    stage   operation                                                      output
    ======  =============================================================  ==========
    pad     2 px of never                                                  2x32x32
    S1      conv 2->32, 5x5, theta=10; train: k=5, r=2, doubling STDP      32x28x28
    C1      max-pool 2/2 pad 1, then pad 1; inhibition while S2 trains     32x17x17
    S2      conv 32->150, 2x2, theta=1; train: k=8, r=1, fixed-rate STDP   150x16x16
    C2      max-pool 2/2 pad 1                                             150x9x9
    readout "spiked at all" (12,150 features) -> linear SVM, C = 2.4
    ======  =============================================================  ==========
    """

    architecture = "kheradpisheh2018"

    def __init__(self, T: int = 15, n_classes: int = 10, compat: bool = False, seed: int | None = 0):
        super().__init__(kheradpisheh2018(T=T, n_classes=n_classes), compat=compat, seed=seed)


def build(model: str | NetworkSpec, compat: bool = False, seed: int | None = 0, **spec_kwargs) -> Network:
    """A network from a registered name (``spec_kwargs``: ``T``, ``n_classes``) or a spec."""
    spec = model if isinstance(model, NetworkSpec) else get_spec(model, **spec_kwargs)
    return Network(spec, compat=compat, seed=seed)


assert set(MODELS) >= {"mozafari2018", "kheradpisheh2018"}
