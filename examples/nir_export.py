"""Export a trained network to NIR, look at the graph, read it back, and check its answers.

    python examples/nir_export.py [--checkpoint runs/tiny/best.pt] [--root data] [--out model.nir]

The default checkpoint is the shipped demo (fastspike/pretrained/mozafari2018-tiny.pt). Needs the
optional package nir (pip install -e .[nir]); docs/guides/nir.md explains the graph.
"""

import argparse
import os

import nir
import torch

import fastspike
from fastspike.data import load_dataset

DEMO = os.path.join(os.path.dirname(fastspike.__file__), "pretrained", "mozafari2018-tiny.pt")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", default=DEMO, help="a trained conv network (fastspike.load_model)")
    p.add_argument("--root", default="data", help="folder with MNIST/raw/*.gz")
    p.add_argument("--out", default="model.nir", help="the NIR file to write")
    p.add_argument("--images", type=int, default=500, help="MNIST test images to compare on")
    args = p.parse_args()

    model = fastspike.load_model(args.checkpoint)
    graph = fastspike.nir.export(model, args.out)  # a nir.NIRGraph, also written to args.out
    for name, node in graph.nodes.items():
        print(f"{name:12s} {type(node).__name__}")
    print("output:", graph.metadata["output_decoding"])

    back = fastspike.nir.load(args.out)  # the same network, read from the file
    _, test = load_dataset("mnist", args.root, download=False)
    times = model.encoder(test.images[: args.images])  # first-spike times: what node "input" takes
    expected = model(times)
    print("read back, same answers:", torch.equal(back(times), expected))
    answers = fastspike.nir.predict(nir.read(args.out), times)  # the graph run as NIR's equations say
    print(f"the graph run as NIR says: {(answers == expected).float().mean():.4f} of the answers the same")


if __name__ == "__main__":
    main()
