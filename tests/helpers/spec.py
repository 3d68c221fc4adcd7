"""Spec rewrites shared by the tests (imported by the test modules, not a test module itself)."""

import dataclasses

from fastspike.spec import RSTDP, STDP, DoublingRates


def with_rates(spec, chunk=None, period=None):
    """The spec with every adaptive R-STDP chunk (``rule`` and ``reward_rule``) set to ``chunk``
    and every doubling period to ``period`` (``None`` leaves them), convs of blocks included."""

    def change(conv):
        changes = {}
        if period is not None and isinstance(conv.rule, STDP) and isinstance(conv.rule.rates, DoublingRates):
            changes["rule"] = dataclasses.replace(
                conv.rule, rates=dataclasses.replace(conv.rule.rates, period=period)
            )
        if chunk is not None:
            for f in ("rule", "reward_rule"):
                r = getattr(conv, f)
                if isinstance(r, RSTDP):
                    changes[f] = dataclasses.replace(r, rates=dataclasses.replace(r.rates, chunk=chunk))
        return dataclasses.replace(conv, **changes)

    return spec.map_convs(change)
