"""Runs fastspike.train under torchrun for tests/training/test_distributed.py.

Usage: torchrun --nproc-per-node N tests/helpers/dist_worker.py '<json kwargs of train()>'
(also runs as a plain process: one rank). ``FASTSPIKE_TEST_DIE`` = ``"rank:calls"``
makes that rank exit abruptly at the start of its ``calls``-th training epoch (a rank
that dies mid-run)."""

import importlib
import json
import os
import sys

import torch

import fastspike
from fastspike import distributed

floop = importlib.import_module("fastspike.training.loop")


def main() -> int:
    kwargs = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    world, device = distributed.init_from_env("cpu")
    die = os.environ.get("FASTSPIKE_TEST_DIE")
    if die and world is not None:
        rank, calls = (int(v) for v in die.split(":"))
        if world.rank == rank:
            real, seen = floop.make_learner, [0]

            def dying_learner(*a, **kw):  # its learner dies at the start of the calls-th epoch
                lrn = real(*a, **kw)
                epoch = lrn.train_epoch

                def dying(*ea, **ekw):
                    seen[0] += 1
                    if seen[0] == calls:
                        os._exit(17)
                    return epoch(*ea, **ekw)

                lrn.train_epoch = dying
                return lrn

            floop.make_learner = dying_learner
    try:
        fastspike.train(progress=False, download=False, device=device, **kwargs)
    except distributed.DistributedError as err:
        print(f"dist_worker: {err}", file=sys.stderr, flush=True)
        return 3
    if world is not None:
        world.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
