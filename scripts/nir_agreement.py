"""How far does a NIR export of a trained network agree with the network? (docs/guides/nir.md)

    python scripts/nir_agreement.py [--checkpoint PATH] [--images N] [--data ROOT]

Exports the checkpoint's network (default: the shipped fastspike/pretrained/mozafari2018-tiny.pt)
with ``fastspike.nir.export(..., encoder=False)`` to a file, reads the file back, and answers the
first N MNIST test images (default 1000; the network's own encoder gives the first-spike times)
with each reader of the graph that is importable here:

* ``fastspike.nir.load``: the network read back from the file (it must agree on every image);
* ``fastspike.nir.predict``: the graph run as NIR's equations say (float32, dt = 1);
* nirtorch (``nirtorch.nir_to_torch``, the graph executor snnTorch's importer uses) with
  integrate-and-fire (``nir.IF``, its ``v_reset`` included) and integrator (``nir.I``) modules
  that follow NIR's equations: a third-party executor of the graph's wiring, convolutions and
  pooling;
* Norse's and snnTorch's own importers (``norse.torch.from_nir``,
  ``snntorch.import_nir.import_from_nir``), as they are.

It prints, for each, the fraction of images answered as the network answers them (the output
decoded as the graph's metadata ``output_decoding`` says), or why it could not run the graph.
Needs the optional package nir (pip install -e .[nir]); nirtorch, Norse and snnTorch are not
fastspike's dependencies: install them in another environment (or a folder on PYTHONPATH).
The figures of docs/guides/nir.md come from this command, with nirtorch, Norse and snnTorch
importable:

    python scripts/nir_agreement.py --images 10000 --data ../shared/data
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
import tempfile

import torch

import fastspike
import fastspike.nir
from fastspike.data import load_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(os.path.dirname(fastspike.__file__), "pretrained", "mozafari2018-tiny.pt")


class IF(torch.nn.Module):
    """``nir.IF`` as NIR's equations say: ``v += r x``; spike where ``v > v_threshold``, and
    ``v = v_reset`` there."""

    def __init__(self, node):
        super().__init__()
        for k in ("r", "v_threshold", "v_reset"):
            self.register_buffer(k, torch.as_tensor(getattr(node, k), dtype=torch.float32))

    def forward(self, x, state=None):
        v = (torch.zeros_like(x) if state is None else state) + self.r * x
        z = v > self.v_threshold
        return z.float(), torch.where(z, self.v_reset, v)


class I(torch.nn.Module):  # noqa: E742  (NIR's name)
    """``nir.I`` as NIR's equations say: ``v += r x``; the output is ``v``."""

    def __init__(self, node):
        super().__init__()
        self.register_buffer("r", torch.as_tensor(node.r, dtype=torch.float32))

    def forward(self, x, state=None):
        v = (torch.zeros_like(x) if state is None else state) + self.r * x
        return v, v


def batched(model, times: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """A fastspike network's classes for ``times``, ``batch`` samples at a time."""
    return torch.cat([model(times[s : s + batch]) for s in range(0, times.shape[0], batch)])


def decode(graph, out: torch.Tensor) -> torch.Tensor:
    """A decision graph's output at the last step ``[B, F, H, W]`` -> classes (-1 = silence)."""
    per_class = int(graph.metadata["features_per_class"])
    flat = out.flatten(1)
    best = flat.argmax(1)
    f = torch.div(best, out.shape[2] * out.shape[3], rounding_mode="floor")
    top = flat.gather(1, best.unsqueeze(1)).squeeze(1)
    return torch.where(top > 0, torch.div(f, per_class, rounding_mode="floor"), -1)


def run_steps(module, times: torch.Tensor, T: int, batch: int = 250) -> tuple[torch.Tensor, torch.Tensor]:
    """A stateful module (``(out, state) = module(x, state)``) over the T steps of ``times``, in
    batches: its output at the last step, and summed over the steps."""
    lasts, totals = [], []
    with torch.no_grad():
        for s in range(0, times.shape[0], batch):
            state, out, total = None, None, 0
            for t in range(T):
                out, state = module((times[s : s + batch] == t).float(), state)
                total = total + out
            lasts.append(out)
            totals.append(total)
    return torch.cat(lasts), torch.cat(totals)


def consumers(graph, times: torch.Tensor, T: int) -> dict[str, torch.Tensor | str]:
    """Each importable third-party reader's classes, or why it could not run the graph (a
    reader's failure is a finding, reported, not a crash)."""
    found: dict[str, torch.Tensor | str] = {}
    if graph.metadata.get("readout") != "decision":
        return {"third-party readers": "measured for networks with a decision layer only"}
    if importlib.util.find_spec("nirtorch") is not None:
        import nir
        import nirtorch

        name = "nirtorch executor, NIR's IF and I"
        try:
            found[name] = decode(
                graph, run_steps(nirtorch.nir_to_torch(graph, {nir.IF: IF, nir.I: I}), times, T)[0]
            )
        except Exception as err:
            found[name] = f"{type(err).__name__}: {str(err)[:200]}"
    if importlib.util.find_spec("norse") is not None:
        try:
            import norse.torch

            last, total = run_steps(norse.torch.from_nir(graph), times, T)
            found["Norse from_nir"] = decode(graph, last)
            # Norse maps no nir.I (its output is the decision conv's current): integrate it here
            found["Norse from_nir, its output summed over the steps"] = decode(graph, total)
        except Exception as err:
            found["Norse from_nir"] = f"{type(err).__name__}: {str(err)[:200]}"
    if importlib.util.find_spec("snntorch") is not None:
        try:
            from snntorch.import_nir import import_from_nir

            found["snnTorch import_from_nir"] = decode(graph, run_steps(import_from_nir(graph), times, T)[0])
        except Exception as err:
            found["snnTorch import_from_nir"] = f"{type(err).__name__}: {str(err)[:200]}"
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=PRETRAINED, help="a trained network (default: the shipped demo)")
    ap.add_argument("--images", type=int, default=1000, help="MNIST test images (default 1000)")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"), help="MNIST's root folder")
    args = ap.parse_args(argv)

    model = fastspike.load_model(args.checkpoint)
    _, test = load_dataset("mnist", args.data, download=False)
    images = test.images[: args.images]
    times = model.encoder(images)
    expected = batched(model, times)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.nir")
        fastspike.nir.export(model, path, encoder=False)
        back = fastspike.nir.load(path)
        graph = fastspike.nir.read_graph(path)
    answers: dict[str, torch.Tensor | str] = {
        "fastspike.nir.load": batched(back, times),
        "fastspike.nir.predict (NIR's equations)": fastspike.nir.predict(graph, times),
    }
    answers.update(consumers(graph, times, model.T))
    n = len(images)
    versions = []
    for package in ("nir", "nirtorch", "norse", "snntorch"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    print(", ".join(versions))
    accuracy = (expected == test.labels[:n]).float().mean().item()
    print(f"{model.spec.name}: {n} MNIST test images, the network's accuracy {accuracy:.4f}")
    for name, got in answers.items():
        if isinstance(got, str):
            print(f"{name}: could not run the graph: {got}")
        else:
            same = (got == expected).float().mean().item()
            print(
                f"{name}: {same:.4f} of the images answered as the network does ({int(same * n + 0.5)}/{n})"
            )
    return 0 if torch.equal(answers["fastspike.nir.load"], expected) else 1


if __name__ == "__main__":
    sys.exit(main())
