"""Runs fastspike.train.train under torchrun for tests/test_distributed.py.

Usage: torchrun --nproc-per-node N tests/dist_worker.py '<json kwargs of train()>'
(also runs as a plain process: one rank). ``FASTSPIKE_TEST_DIE`` = ``"rank:calls"``
makes that rank exit abruptly at the start of its ``calls``-th training epoch (a rank
that dies mid-run)."""

import importlib
import json
import os
import sys

import torch

from fastspike import distributed

ft = importlib.import_module("fastspike.train")  # the module (fastspike.train is also a function)


def main() -> int:
    kwargs = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    world, device = distributed.init_from_env("cpu")
    die = os.environ.get("FASTSPIKE_TEST_DIE")
    if die and world is not None:
        rank, calls = (int(v) for v in die.split(":"))
        if world.rank == rank:
            real, seen = ft.train_epoch, [0]

            def dying(*a, **kw):
                seen[0] += 1
                if seen[0] == calls:
                    os._exit(17)
                return real(*a, **kw)

            ft.train_epoch = dying
    try:
        ft.train(progress=False, download=False, device=device, **kwargs)
    except distributed.DistributedError as err:
        print(f"dist_worker: {err}", file=sys.stderr, flush=True)
        return 3
    if world is not None:
        world.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
