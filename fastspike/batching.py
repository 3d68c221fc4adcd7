"""Batches, progress bars and the rows a rank owns: the small loops every trainer shares."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from torch import Tensor

from fastspike.distributed import Shard, World

__all__ = ["batches", "map_batches", "on_terminal", "progress_bar", "rows", "unshard"]


def batches(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive batches of ``batch_size`` covering ``range(n)``."""
    for s in range(0, n, batch_size):
        yield s, min(n, s + batch_size)


def on_terminal() -> bool:
    """Whether progress bars can be drawn: stderr (where tqdm draws) is a terminal. In a log
    file a bar would be hundreds of redrawn lines; there each epoch writes one line instead."""
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def progress_bar(total: int | None, desc: str, enabled: bool, unit: str = "sample"):
    """A tqdm bar, drawn only when ``enabled`` and on a terminal (:func:`on_terminal`); else
    a no-op."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        disable=not (enabled and on_terminal()),
        leave=False,
        dynamic_ncols=True,
    )


def map_batches(
    fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int, progress: bool = False, desc: str = ""
) -> Tensor:
    """``fn`` applied to ``x`` in batches along dim 0, the results written into one tensor."""
    import torch

    if x.shape[0] == 0:
        return fn(x)
    out = None
    with progress_bar(x.shape[0], desc, progress) as bar:
        for s, e in batches(x.shape[0], batch_size):
            y = fn(x[s:e])
            if out is None:
                out = torch.empty((x.shape[0], *y.shape[1:]), dtype=y.dtype, device=y.device)
            out[s:e] = y
            bar.update(e - s)
    return out


def unshard(x: Tensor | Shard) -> tuple[Tensor, int, World | None]:
    """``(this rank's rows, the number of global samples, the world or None)``."""
    if isinstance(x, Shard):
        if x.world.count(x.n) != x.x.shape[0]:
            raise ValueError(
                f"x: rank {x.world.rank} of {x.world.size} owns {x.world.count(x.n)} of {x.n} samples, "
                f"got {x.x.shape[0]} rows"
            )
        return x.x, x.n, x.world
    return x, x.shape[0], None


def rows(x: Tensor, world: World | None, s: int, e: int) -> Tensor:
    """This rank's rows of the global samples ``[s, e)``."""
    if world is None:
        return x[s:e]
    lo, hi = world.local(s, e)
    return x[lo:hi]
