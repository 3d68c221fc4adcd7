"""What a reference network's readout decides for one sample (docs/reference/semantics.md#decision-layer,
docs/reference/networks.md#majority2024).

:class:`Decision` is one decision layer's choice (its winner and the waves its R-STDP update
reads); :class:`VoteDecision` the choice of a vote readout's heads, combined by :func:`vote`.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from fastspike.reference.ops import Winner

__all__ = ["Decision", "VoteDecision", "vote"]


class Decision(NamedTuple):
    """What the decision layer saw and chose for one sample."""

    decision: int  #: class ``f // 20``, or -1 for silence
    winner: Winner | None  #: the winning S3 neuron ``(f, y, x)``, or None
    input_wave: Tensor  #: ``[T, 250, 8, 8]`` padded S3 input wave
    output_spikes: Tensor  #: ``[T, 200, 4, 4]`` S3 spikes (only at ``T-1``)


class VoteDecision(NamedTuple):
    """What the decision heads of a vote readout saw and chose for one sample."""

    decision: int  #: the vote (see :func:`vote`), or -1 when every head is silent
    heads: tuple[Decision, ...]  #: each head's own decision, in block order


def vote(head_classes: list[int], fallback: int) -> int:
    """The majority rule of a vote readout (docs/reference/networks.md#majority2024).

    Silent heads (-1) do not vote. A class with at least 2 votes and strictly more votes than
    any other class wins; otherwise the answer is the vote of the ``fallback`` head, and when
    that head is silent, the vote of the first head (in order) that is not; when every head is
    silent, -1.

    Args:
        head_classes: each head's class, -1 for a silent head, in block order.
        fallback: index of the fallback head in ``head_classes``.

    Returns:
        The class, or -1.
    """
    votes: dict[int, int] = {}
    for c in head_classes:
        if c >= 0:
            votes[c] = votes.get(c, 0) + 1
    if votes:
        most = max(votes.values())
        leaders = [c for c, n in votes.items() if n == most]
        if most >= 2 and len(leaders) == 1:
            return leaders[0]
    if head_classes[fallback] >= 0:
        return head_classes[fallback]
    for c in head_classes:
        if c >= 0:
            return c
    return -1
