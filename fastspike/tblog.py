"""TensorBoard logging of a training run (optional dependency: ``pip install tensorboard``).

After every epoch of every phase, :class:`TensorBoardLogger` writes to the run's
``tensorboard/`` folder:

* scalars ``<layer>/<name>``: samples/s, the share of the layer's weights at its bounds
  (climbs towards 1 as STDP converges), train and validation correct / wrong / silent fractions;
* histograms ``weights/<layer>`` of every conv's weights;
* scalars ``spike_rate/<layer>``: the fraction of each layer's neurons that fire, on a fixed
  probe batch of validation images (a layer that stays silent or fires everywhere does not learn);
* images ``features/<first conv>``: the first conv's features as input-space filters.

``tensorboard --logdir runs`` then shows every run.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fastspike.network import Network
from fastspike.plots import s1_filters
from fastspike.training.history import LOG_FIELDS
from fastspike.usage import needs

__all__ = ["RunLogger", "TensorBoardLogger"]

# the numbers of a history row (its columns less the bookkeeping ones)
_SCALARS = tuple(k for k in LOG_FIELDS if k not in ("phase", "layer", "epoch", "samples", "seconds", "wall"))


class RunLogger:
    """Write a run's history rows as TensorBoard scalars, and histograms of named tensors: what
    every network family logs (``<group>/<column>`` for every number of a row).

    Args:
        folder: where the event files go.
        tensors: name -> a tensor whose histogram is logged with each row (read at that time).
    """

    def __init__(self, folder: str, tensors: dict[str, Tensor] | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError(needs("tensorboard logging needs", "tensorboard", "tensorboard")) from err
        self.writer = SummaryWriter(folder)
        self.tensors = dict(tensors or {})

    @torch.no_grad()
    def row(self, group: str, record: dict, step: int, skip: tuple[str, ...] = ()) -> None:
        """Log the numbers of ``record`` as ``group/<key>`` and the histograms, at ``step``."""
        for key, v in record.items():
            if key not in skip and isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(f"{group}/{key}", v, step)
        for name, t in self.tensors.items():
            self.writer.add_histogram(name, t.detach().float().cpu(), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TensorBoardLogger(RunLogger):
    """Write a first-spike network's curves, histograms, spike rates and feature images.

    Args:
        folder: where the event files go.
        net: the network being trained.
        probe: encoded images ``[N, C, H, W]`` for the spike rates (a few validation
            images, or training images when the run has no validation split).
    """

    def __init__(self, folder: str, net: Network, probe: Tensor):
        super().__init__(folder)
        self.net, self.probe = net, probe

    @torch.no_grad()
    def spike_rates(self) -> dict[str, float]:
        """Fraction of each conv's neurons that fire on the probe batch (eval mode; a decision
        layer: the fraction with ``P[T-1] > 0``)."""
        net = self.net
        outputs = net.layer_outputs(self.probe)
        return {
            name: float((t < net.T).float().mean())
            for name, (t, _) in zip(net.layer_names, outputs, strict=True)
        }

    @torch.no_grad()
    def epoch(self, record: dict, step: int) -> None:
        """Log one epoch's ``record`` (a row of the run's history) as global step ``step``."""
        w = self.writer
        layer = record["layer"]
        for key in _SCALARS:
            if record.get(key) is not None:
                w.add_scalar(f"{layer}/{key}", record[key], step)
        for name, conv in zip(self.net.layer_names, self.net.spiking_layers, strict=True):
            w.add_histogram(f"weights/{name}", conv.weight.detach().float().cpu(), step)
        for name, rate in self.spike_rates().items():
            w.add_scalar(f"spike_rate/{name}", rate, step)
        f = s1_filters(self.net)  # [F, K, K]
        m = f.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1)
        w.add_images(f"features/{self.net.layer_names[0]}", (f / m * 0.5 + 0.5).unsqueeze(1), step)
        w.flush()
