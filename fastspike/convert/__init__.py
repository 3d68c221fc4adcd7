"""Bring models in: SpykeTorch state dicts and Spyker weight files -> fastspike networks.

Two simulators of the same lineage train the networks fastspike registers:

* **SpykeTorch** (PyTorch): its example scripts define ``MozafariMNIST2018`` and
  ``KheradpishehMNIST`` as ``torch.nn.Module`` s and save them with
  ``torch.save(model.state_dict(), ...)``. :func:`from_spyketorch` reads such a state dict
  (or the file) into the registered ``mozafari2018`` / ``kheradpisheh2018`` network.
* **Spyker** (C++ with Python bindings): it has no network format of its own. Its example
  networks are plain Python classes whose ``save`` writes the convolution kernels to a NumPy
  ``.npz`` archive (``conv1_kernel``, ``conv2_kernel``, ``conv3_kernel``).
  :func:`from_spyker` reads that archive, a mapping of the same arrays, or a live example
  network object (its ``conv1.kernel``, ...).

Only the convolution weights travel. The architecture constants (padding, pooling,
thresholds, k-WTA ``k`` and radius) are plain Python attributes in both simulators, not
saved state: :data:`SOURCES` records the example scripts' values, and the converter checks
them against the registered spec (the network is built with the source's value where they
differ: Spyker's Mozafari example fires S2 at 5, not 10). The input encoding, the
learning-rate schedules' progress and a fitted SVM are not in the files either (see
``docs/guides/interop.md``).

Every tensor is checked before anything is built: a missing, extra or mis-shaped entry is a
``ValueError`` that names it, the shape expected and the one found. Files are read as plain
data only: ``torch.load(weights_only=True)`` and ``numpy.load(allow_pickle=False)``, so a
file that pickles code is refused without running it.
"""

from fastspike.convert.common import SOURCES, Source, source_spec
from fastspike.convert.spyker import from_spyker
from fastspike.convert.spyketorch import from_spyketorch

__all__ = ["SOURCES", "Source", "from_spyker", "from_spyketorch", "source_spec"]
