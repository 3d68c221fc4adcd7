"""A systematically generated corpus of bad (and borderline valid) inputs for every operator.

Each case mutates one argument of a valid call: its dtype, its number of dimensions, a
value inside it (first-spike times outside [0, T], NaN / inf), an integer parameter pushed
to 0, -1, 2**62, 2**63 - 1 or -2**63, T outside what the times' dtype holds, aliasing of
the in-place weight. A case expects either an error that names the mutated argument
(``RuntimeError``, ``ValueError``, ``TypeError`` or ``FileNotFoundError``), or, for the few mutations that are
valid input, a result equal to a stated equivalent call.

``python tests/helpers/bad_input_corpus.py`` runs every case in this process and prints one JSON
line per case (``{"i", "case", "status", "detail"}``), preceded by ``START i``, so that a
parent process can tell which case crashed it; ``tests/surface/test_bad_inputs.py`` does that.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch

import fastspike

T = 15
NAN, INF = float("nan"), float("inf")
HUGE_INTS = [-1, 2**62, 2**63 - 1, -(2**63)]


def _times(*shape, T=T, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, T + 1, shape, generator=g)
    return t.to(dtype)


def _base() -> dict[str, dict]:
    """Valid keyword arguments per operator (small CPU tensors)."""
    g = torch.Generator().manual_seed(1)
    pot = torch.rand(2, T, 3, 4, generator=g).cumsum(1)
    times = _times(2, 3, 5, 5)
    values = torch.where(times < T, torch.rand(2, 3, 5, 5, generator=g) + 1, torch.zeros(()))
    tin = _times(2, 3, 7, 7, seed=2)
    w = torch.rand(4, 3, 3, 3, generator=g)
    tout, _, _ = fastspike.conv_fire(tin, w, T, 1.0)
    vals = torch.where(tout < T, torch.rand(tout.shape, generator=g) + 1, torch.zeros(()))
    winners = fastspike.kwta(tout, vals, T, 2, 1)
    return {
        "fire": dict(potentials=pot, threshold=1.0),
        "first_spike": dict(potentials=pot, threshold=1.0),
        "spike_wave": dict(times=times[:, 0], T=T),
        "pointwise_inhibition": dict(times=times, values=values, T=T),
        "kwta": dict(times=times, values=values, T=T, k=2, radius=1),
        "conv_fire": dict(times_in=tin, weight=w, T=T, threshold=1.0),
        "final_potential": dict(times_in=tin, weight=w, T=T, border=0),
        "pool_times": dict(times=tin, kernel=2, stride=2, padding=0, T=T, out_padding=0),
        "stdp_update": dict(
            weight=w.clone(), times_in=tin, times_out=tout, winners=winners, lr=torch.full((2, 2), 0.01), T=T
        ),
    }


FN: dict[str, Callable] = {
    "fire": fastspike.fire,
    "first_spike": fastspike.first_spike,
    "spike_wave": fastspike.spike_wave,
    "pointwise_inhibition": fastspike.pointwise_inhibition,
    "kwta": fastspike.kwta,
    "conv_fire": fastspike.conv_fire,
    "final_potential": fastspike.final_potential,
    "pool_times": fastspike.pool_times,
    "stdp_update": fastspike.stdp_update,
    "first_spike_from_wave": fastspike.first_spike_from_wave,
}
TIME_ARGS = {"times", "times_in", "times_out"}
FLOAT_ARGS = {"potentials", "values", "weight", "lr"}
INT_ARGS = {"k", "radius", "kernel", "stride", "padding", "out_padding", "border"}
# arguments of any rank ([B, ...] or [B, T, ...]): a lost or extra dimension is valid
ANY_RANK = {("fire", "potentials"), ("first_spike", "potentials"), ("spike_wave", "times")}
# integer mutations that are valid input, with the equivalent valid call's overrides
VALID_INTS = {
    ("kwta", "radius", 2**62): {"radius": 5},  # a radius of max(H, W) already covers the map
    ("kwta", "radius", 2**63 - 1): {"radius": 5},
    ("pool_times", "stride", 2**62): {"stride": 6},  # one window either way
    ("pool_times", "stride", 2**63 - 1): {"stride": 6},
}


@dataclass
class Case:
    op: str
    arg: str
    what: str
    kwargs: dict
    equivalent: dict | None = None  # valid input: the result must equal this call's

    @property
    def name(self) -> str:
        return f"{self.op}: {self.arg} {self.what}"


def _with(base: dict, arg: str, value) -> dict:
    kw = dict(base)
    kw[arg] = value
    if "weight" in kw and isinstance(kw["weight"], torch.Tensor) and arg != "weight":
        kw["weight"] = kw["weight"].clone()
    return kw


def cases() -> list[Case]:
    out: list[Case] = []
    for op, base in _base().items():
        for arg, v in base.items():
            if isinstance(v, torch.Tensor):
                out.append(Case(op, arg, "is None", _with(base, arg, None)))
                for dt in (torch.float64, torch.int32, torch.bool):
                    if v.dtype != dt:
                        out.append(Case(op, arg, f"has dtype {dt}", _with(base, arg, v.to(dt))))
                if (op, arg) not in ANY_RANK:
                    out.append(Case(op, arg, "lost a dimension", _with(base, arg, v[0])))
                    out.append(Case(op, arg, "has an extra dimension", _with(base, arg, v.unsqueeze(0))))
                out.append(Case(op, arg, "is a Python list", _with(base, arg, v.tolist())))
                if v.dim() >= 2 and not (op == "stdp_update" and arg == "weight"):
                    # valid: a non-contiguous view of the same values gives the same result
                    nc = v.transpose(-1, -2).contiguous().transpose(-1, -2)
                    same = _with(base, arg, v.clone())
                    out.append(Case(op, arg, "is not contiguous (valid)", _with(base, arg, nc), same))
            if arg in TIME_ARGS:
                for dtype, bad in (
                    (torch.uint8, T + 1),
                    (torch.uint8, 200),
                    (torch.int16, -1),
                    (torch.int16, T + 1),
                ):
                    t = v.to(dtype).clone()
                    t.view(-1)[t.numel() // 2] = bad
                    kw = _with(base, arg, t)
                    if dtype == torch.int16:  # the other times of the call follow (same dtype required)
                        for other in TIME_ARGS & set(kw):
                            if other != arg:
                                kw[other] = kw[other].to(torch.int16)
                    out.append(Case(op, arg, f"holds the time {bad} ({dtype}, T = {T})", kw))
            if arg in FLOAT_ARGS:
                for bad in (NAN, INF, -INF):
                    t = v.clone()
                    t.view(-1)[t.numel() // 3] = bad
                    out.append(Case(op, arg, f"holds {bad}", _with(base, arg, t)))
            if arg in INT_ARGS:
                for bad in [*HUGE_INTS, 0]:
                    if bad == 0 and arg in ("radius", "padding", "out_padding", "border"):
                        continue  # valid
                    eq = VALID_INTS.get((op, arg, bad))
                    out.append(
                        Case(
                            op,
                            arg,
                            f"= {bad}",
                            _with(base, arg, bad),
                            None if eq is None else _with(base, arg, eq[arg]),
                        )
                    )
            if arg == "T":
                for bad in (0, -1, 256, 2**40):
                    out.append(Case(op, arg, f"= {bad}", _with(base, arg, bad)))
            if arg == "threshold":
                for bad in (-1.0, NAN):
                    out.append(Case(op, arg, f"= {bad}", _with(base, arg, bad)))
    # in-place aliasing and malformed winners (stdp_update)
    b = _base()["stdp_update"]
    w = b["weight"].clone()
    out.append(
        Case("stdp_update", "lr", "aliases weight", {**b, "weight": w, "lr": w.view(-1)[:4].view(2, 2)})
    )
    w2 = b["weight"].clone()
    n = b["times_in"].numel()
    tin_alias = w2.view(-1).view(torch.uint8)[:n].view(b["times_in"].shape).clamp_(max=T)  # a view of weight
    out.append(Case("stdp_update", "times_in", "aliases weight", {**b, "weight": w2, "times_in": tin_alias}))
    for row in ((-5, 999, -999), (-1, 0, 0), (7, 0, 0), (0, -1, 0), (0, 0, 99)):
        win = b["winners"].clone()
        win[0, 0] = torch.tensor(row, dtype=win.dtype)
        out.append(
            Case(
                "stdp_update",
                "winners",
                f"has the row {row}",
                {**b, "weight": b["weight"].clone(), "winners": win},
            )
        )
    for lb, ub in ((0.0, INF), (-INF, 1.0), (NAN, 1.0), (1.0, 0.0)):
        out.append(
            Case(
                "stdp_update",
                "lb, ub",
                f"= ({lb}, {ub})",
                {**b, "weight": b["weight"].clone(), "lb": lb, "ub": ub},
            )
        )
    # first_spike_from_wave: a wave that is not cumulative, NaN spikes, NaN potentials
    pot = torch.rand(2, T, 3, 4, generator=torch.Generator().manual_seed(5)).cumsum(1)
    wave = (pot > 2).to(torch.uint8)
    holes = wave.clone()
    holes[0, -1] = 0  # neurons that spiked stop spiking at the last step
    nan_wave = wave.float()
    nan_wave[1, 3, 0, 0] = NAN
    nan_pot = pot.clone()
    nan_pot[0, 2, 1, 1] = NAN
    for arg, what, kw in (
        ("spikes", "is not cumulative", {"spikes": holes, "potentials": pot}),
        ("spikes", "holds NaN", {"spikes": nan_wave, "potentials": pot}),
        ("potentials", "holds NaN", {"spikes": wave, "potentials": nan_pot}),
        ("spikes", "is None", {"spikes": None}),
        ("spikes", "is 1-D", {"spikes": wave.flatten()}),
    ):
        out.append(Case("first_spike_from_wave", arg, what, kw))
    out.extend(_model_level_cases())
    return out


_MODEL = None


def _encode(images):
    from fastspike.encoding import Encoder

    return Encoder()(images)


def _classify(times):
    global _MODEL
    if _MODEL is None:
        from fastspike.models import Mozafari2018

        _MODEL = Mozafari2018(seed=0)
    return _MODEL(times)


def _load(checkpoint):
    from fastspike.api import load_model

    return load_model(checkpoint)


FN.update({"Encoder()": _encode, "Mozafari2018()": _classify, "load_model": _load})


def _model_level_cases() -> list[Case]:
    """The encoder, a model's forward pass and the checkpoint loader."""
    import os
    import tempfile

    out: list[Case] = []
    img = torch.randint(0, 256, (2, 28, 28), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    for what, v in (
        ("is None", None),
        ("is a Python list", img.tolist()),
        ("is float32", img.float()),
        ("is 0-D", img[0, 0, 0]),
        ("is 1-D", img[0, 0]),
        ("has 3 channels", img.unsqueeze(1).expand(2, 3, 28, 28)),
        ("is 0x0", img[:, :0, :0]),
        ("is 5-D", img[None, :, None]),
    ):
        out.append(Case("Encoder()", "images", what, {"images": v}))
    out.append(
        Case("Encoder()", "images", "is an empty batch (valid)", {"images": img[:0]}, {"images": img[:0]})
    )
    times = _encode(img)
    for what, v in (
        ("is None", None),
        ("is int64", times.long()),
        ("is float", times.float()),
        ("has 5 channels", times[:, :5]),
        ("is 3-D", times[0]),
        ("holds the time 200", times.clone().index_fill_(0, torch.tensor([1]), 200)),
        ("is int16 (T = 15 needs uint8)", times.to(torch.int16)),
    ):
        out.append(Case("Mozafari2018()", "times", what, {"times": v}))
    folder = tempfile.mkdtemp(prefix="fastspike-corpus-")
    files = {
        "missing.pt": None,
        "empty.pt": b"",
        "text.pt": b"not a checkpoint\n",
        "zip.pt": b"PK\x03\x04" + bytes(100),
    }
    for name, data in files.items():
        path = os.path.join(folder, name)
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
        out.append(Case("load_model", "checkpoint", f"is {name}", {"checkpoint": path}))
    torch.save({"weights": torch.zeros(3)}, os.path.join(folder, "foreign.pt"))
    out.append(
        Case(
            "load_model",
            "checkpoint",
            "is a foreign torch file",
            {"checkpoint": os.path.join(folder, "foreign.pt")},
        )
    )
    torch.save([1, 2, 3], os.path.join(folder, "list.pt"))
    out.append(
        Case("load_model", "checkpoint", "holds a list", {"checkpoint": os.path.join(folder, "list.pt")})
    )
    out.append(Case("load_model", "checkpoint", "is a folder", {"checkpoint": folder}))
    return out


def _equal(a, b) -> bool:
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    return torch.equal(a, b)


def run(case: Case) -> tuple[str, str]:
    """``(status, detail)``: status ``named`` (an error naming the argument), ``unnamed``
    (an error that does not name it), ``accepted`` (no error), ``equal`` / ``differs``
    (valid input, compared with the equivalent call), ``other`` (another exception type)."""
    fn = FN[case.op]
    try:
        res = fn(**case.kwargs)
    except (RuntimeError, ValueError, TypeError, FileNotFoundError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        names = [a.strip() for a in case.arg.split(",")]
        named = any(n in msg for n in names)
        return ("named" if named else "unnamed"), f"{type(err).__name__}: {msg[:300]}"
    except Exception as err:  # noqa: BLE001
        return "other", f"{type(err).__name__}: {str(err)[:300]}"
    if case.equivalent is None:
        return "accepted", "no error"
    ref = fn(**case.equivalent)
    if case.op == "stdp_update":
        return ("equal" if torch.equal(case.kwargs["weight"], case.equivalent["weight"]) else "differs"), ""
    return ("equal" if _equal(res, ref) else "differs"), ""


def main() -> int:
    all_cases = cases()
    print(json.dumps({"n": len(all_cases)}), flush=True)
    for i, c in enumerate(all_cases):
        print(f"START {i}", flush=True)
        status, detail = run(c)
        print(json.dumps({"i": i, "case": c.name, "status": status, "detail": detail}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
