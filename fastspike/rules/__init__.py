"""Learning rules as objects: the spec's rule entries -> :class:`~fastspike.rules.base.Learner`.

Each rule kind registers the learner class that runs it (:func:`register_rule`); a
phase's learner is found from the spec alone (:func:`learner`): a block of heads and a
decision phase with ``joint`` layers have their own R-STDP learners, any other phase the
learner of its layer's rule. Nothing here, or in the trainer, asks which rule or layer a
learner drives.

Built in: :mod:`fastspike.rules.stdp` (STDP with doubling or fixed rates),
:mod:`fastspike.rules.rstdp` (R-STDP with adaptive rates), and
:mod:`fastspike.rules.weight_dependent` (multiplicative, weight-dependent STDP with
threshold adaptation, after Falez et al. 2019).
"""

from __future__ import annotations

from fastspike.rules.base import Learner
from fastspike.rules.rstdp import DecisionLearner, HeadsLearner, JointLearner, RSTDPState
from fastspike.rules.stdp import STDPLearner, stdp_rates
from fastspike.spec import RSTDP, STDP, Phase

__all__ = [
    "DecisionLearner",
    "HeadsLearner",
    "JointLearner",
    "Learner",
    "RSTDPState",
    "STDPLearner",
    "learner",
    "register_rule",
    "stdp_rates",
]

#: rule spec class -> the Learner class that trains a layer by it
RULES: dict[type, type[Learner]] = {}


def register_rule(spec_class: type, learner_class: type[Learner]) -> None:
    """Make the layers whose spec ``rule`` is a ``spec_class`` train with ``learner_class``
    (constructed as ``learner_class(model, phase)``)."""
    if not isinstance(spec_class, type) or not (
        isinstance(learner_class, type) and issubclass(learner_class, Learner)
    ):
        raise TypeError(
            "register_rule: expected a spec class and a Learner subclass, got "
            f"{spec_class!r}, {learner_class!r}"
        )
    RULES[spec_class] = learner_class


register_rule(STDP, STDPLearner)
register_rule(RSTDP, DecisionLearner)


def learner(model, layer: int | str, phase: Phase | None = None) -> Learner:
    """The learner of ``layer`` of ``model`` (a :class:`~fastspike.network.Network`) for
    ``phase`` (default: a plain phase of that layer), in its initial state."""
    name = layer if isinstance(layer, str) else model.layer_names[model.index(layer)]
    model.index(name)  # an unknown layer is named in the error
    phase = phase or Phase(layer=name)
    if phase.layer != name:
        raise ValueError(f"phase: trains {phase.layer!r}, not {name!r}")
    unit = model.layer_spec(name)
    if getattr(unit, "is_heads", False):
        return HeadsLearner(model, phase)
    if phase.joint:
        return JointLearner(model, phase)
    rule = getattr(unit, "rule", None)
    if rule is None:
        raise ValueError(f"layer {layer!r}: has no learning rule")
    if type(rule) not in RULES:
        raise ValueError(
            f"layer {name!r}: no learner is registered for its rule {type(rule).__name__} "
            "(fastspike.rules.register_rule)"
        )
    return RULES[type(rule)](model, phase)


# rules defined in their own modules register themselves on import
from fastspike.rules import weight_dependent  # noqa: E402, F401
