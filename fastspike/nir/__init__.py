"""Export trained first-spike conv networks to NIR, the Neuromorphic Intermediate Representation
that snnTorch, Norse, Sinabs, Rockpool, Lava-DL and SpikingJelly read and write, and read them back.

* :func:`export` (``fastspike.nir.export(model, "model.nir")``): the network's inference graph
  as a ``nir.NIRGraph`` (convs, integrate-and-fire neurons, pooling, the decision layer or the
  linear readout, and the DoG filtering of the encoder), written to a file when given a path;
* :func:`load`: a graph :func:`export` wrote (or its file) back into a fastspike network that
  answers every input as the exported one;
* :func:`simulate` / :func:`predict`: run a graph as NIR's equations say (what a NIR backend
  computes), to measure how far a consumer agrees with the network.

What NIR cannot express, and what a consumer gets instead, is in docs/guides/nir.md.

The ``nir`` package is optional (``pip install -e .[nir]``): importing this module does not
need it; the functions above raise an ``ImportError`` that says how to install it.
"""

from fastspike.nir.common import FORMAT, NIRExportError, require_nir
from fastspike.nir.reader import load, read_graph
from fastspike.nir.simulator import predict, simulate
from fastspike.nir.writer import export

__all__ = ["FORMAT", "NIRExportError", "export", "load", "predict", "read_graph", "require_nir", "simulate"]
