"""What every learning rule object is: the interface the trainer drives.

A network's spec names a rule with its numbers (:class:`fastspike.spec.STDP`,
:class:`fastspike.spec.RSTDP`, ...): that is data. Training turns the rule entries of
a phase into a :class:`Learner`, an object that owns the rule's state (samples seen, the
adaptive rates), its rate schedule, its update of a batch and its ``state_dict``. The
trainer only calls the methods below; it never asks which rule or layer it drives.

A new rule is one module that defines its spec data class, its :class:`Learner` and
calls :func:`fastspike.rules.register_rule` (see ``docs/guides/add-a-rule.md``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fastspike.distributed import Shard
from fastspike.spec import Phase

__all__ = ["Learner", "check_batch_size", "check_labels", "f32"]


def check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")


def check_labels(labels: Tensor | None, n: int) -> None:
    if labels is None or labels.shape[0] != n:
        raise ValueError(
            f"labels: R-STDP needs one label per sample ({n}), got "
            f"{None if labels is None else tuple(labels.shape)}"
        )


class Learner:
    """The learning of one training phase of a network.

    Subclasses set :attr:`label` (shown in progress bars), implement :meth:`train_epoch`,
    :meth:`state_dict` and :meth:`load_state_dict`, and list in :meth:`learned` the convs
    whose weights the phase changes with the rule that bounds them.
    """

    #: shown in progress bars: "STDP", "R-STDP", ...
    label: str = "learning"

    def __init__(self, model, phase: Phase):
        self.model = model
        self.phase = phase

    @property
    def layer(self) -> str:
        """The layer the phase trains."""
        return self.phase.layer

    @property
    def input_layer(self) -> str:
        """The layer whose (training-mode) input :meth:`train_epoch` reads: the lowest learner."""
        return self.phase.input_layer

    # -------------------------------------------------------------- the interface
    def train_epoch(
        self,
        x: Tensor | Shard,
        labels: Tensor | None = None,
        batch_size: int = 64,
        progress: bool = False,
        desc: str = "",
        epoch: int = 0,
    ) -> dict[str, float]:
        """One epoch over ``x``, the padded input ``[N, C, Hp, Wp]`` of :attr:`input_layer`
        (across ranks a :class:`~fastspike.distributed.Shard` of it). A batch runs forward
        with the weights at its start and then applies each sample's update in order, so
        ``batch_size=1`` is the sequential algorithm. Returns the epoch's correct / wrong /
        silent fractions for a rewarded rule, ``{}`` for an unsupervised one; ``epoch`` is
        the 0-based epoch within the phase."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The rule state as plain data (numbers, strings, lists, dicts)."""
        raise NotImplementedError

    def load_state_dict(self, d: dict) -> None:
        raise NotImplementedError

    def learned(self) -> list[tuple[str, Any]]:
        """``(conv name, the rule spec whose lb / ub bound it)`` for every conv the phase trains."""
        raise NotImplementedError

    # -------------------------------------------------------------- shared behaviour
    @property
    def several(self) -> bool:
        """Whether the phase trains several convs (its weights are then a dict by conv name)."""
        return len(self.learned()) > 1

    def weights(self) -> Tensor | dict[str, Tensor]:
        """A CPU copy of the weights the phase trains (one tensor, or a dict by conv name)."""
        copies = {name: self.model.conv(name).weight.detach().cpu().clone() for name, _ in self.learned()}
        return copies if self.several else next(iter(copies.values()))

    def fraction_at_bounds(self, tolerance: float = 0.01) -> float:
        """The fraction of the trained weights within ``tolerance`` of their rule's bounds."""
        n_at = n_all = 0
        for name, rule in self.learned():
            w = self.model.conv(name).weight
            n_at += int(((w - rule.lb).abs() < tolerance).logical_or((rule.ub - w).abs() < tolerance).sum())
            n_all += w.numel()
        return n_at / max(1, n_all)


def f32(v: float) -> float:
    """``v`` rounded to float32 (the rules' rates are float32 like the kernels')."""
    return float(torch.tensor(v, dtype=torch.float32))
