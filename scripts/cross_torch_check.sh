#!/usr/bin/env bash
# Cross-version check: the pinned short schedule (tests/training/test_reproducible.py, pinned with
# the torch of the main environment) run against another torch version.
#
#   bash scripts/cross_torch_check.sh 2.13.0 [WORKDIR]
#
# Makes WORKDIR (default /tmp/fastspike-torch-VERSION) with a virtual environment holding
# torch==VERSION, exports the committed tree (HEAD) there, builds the CPU extension against
# that torch and runs the pinned test at 2 threads and at 1 thread (generic ISA, oneDNN
# limited to AVX2). The hashes in the test must come out the same: the numerics of
# fastspike do not depend on the torch version. Real MNIST is read from ../shared/data or
# $FASTSPIKE_DATA. About 5 minutes on 2 cores after the download.
set -euo pipefail
VERSION="${1:?usage: cross_torch_check.sh TORCH_VERSION [WORKDIR]}"
WORK="${2:-/tmp/fastspike-torch-$VERSION}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${FASTSPIKE_DATA:-$ROOT/../shared/data}"
DATA="$(cd "$DATA" && pwd)"
mkdir -p "$WORK"
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q "torch==$VERSION" numpy pytest pyyaml ninja setuptools wheel packaging tqdm
fi
rm -rf "$WORK/src" && mkdir -p "$WORK/src"
git -C "$ROOT" archive HEAD | tar -x -C "$WORK/src"
cd "$WORK/src"
FORCE_CPU=1 "$WORK/venv/bin/python" setup.py build_ext --inplace > "$WORK/build.log" 2>&1 || {
  tail -20 "$WORK/build.log"; exit 1; }
echo "torch $("$WORK/venv/bin/python" -c 'import torch; print(torch.__version__)')"
FASTSPIKE_DATA="$DATA" "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider tests/training/test_reproducible.py
