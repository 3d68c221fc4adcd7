"""Exact data-parallel training on ``torch.distributed`` (launched with ``torchrun``).

The samples are dealt round-robin: rank ``r`` of ``W`` owns every sample ``i`` with
``i % W == r`` and encodes, caches and runs forward only those. A global batch
``[s, e)`` is the same as in a single process; each rank runs the forward pass of its
samples of it with the weights at the start of the batch (fastspike's batched
semantics), then the ranks exchange, per sample, only what the updates need:

* per winner: its feature, its first-spike time and the input first-spike times of its
  receptive field (``C x kh x kw`` bytes);
* per sample: the decision (and the heads' votes) where there is one.

Every rank then lays the receptive fields of the global batch out as a small input
"canvas" per sample (the sample's winners side by side, each at its own output
position) and applies the batch's update in global sample order with the same
:func:`fastspike.ops.stdp_update` call as one process. The update of a weight reads
only the input times in its winner's receptive field, its post time and the rates, so
the result is the single-process result bit for bit, on every rank: no weight
all-reduce and no averaging of updates.

Evaluation all-reduces the counts (the confusion matrix); rank 0 alone writes
checkpoints and logs. A collective that fails (a rank died, or a peer did not answer
within the timeout) raises :class:`DistributedError` naming the rank and the operation.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["DistributedError", "Shard", "World", "exchange", "init_from_env", "world"]

DEFAULT_TIMEOUT_S = 300


class DistributedError(RuntimeError):
    """A collective operation failed: another rank stopped, or did not answer in time."""


class World:
    """This process's place among ``size`` ranks (``group``: the process group)."""

    def __init__(self, rank: int, size: int, group=None, timeout_s: float = DEFAULT_TIMEOUT_S):
        if size < 1 or not 0 <= rank < size:
            raise ValueError(f"rank, size: expected 0 <= rank < size, got rank {rank}, size {size}")
        self.rank, self.size, self.group, self.timeout_s = rank, size, group, timeout_s
        self.bytes_sent = 0  # payload bytes this rank contributed to exchanges (for the benchmark)

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size})"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --------------------------------------------------------------- ownership
    def count(self, n: int, rank: int | None = None) -> int:
        """How many of the samples ``0..n-1`` ``rank`` (default: this rank) owns."""
        r = self.rank if rank is None else rank
        return max(0, (n - r + self.size - 1) // self.size)

    def local(self, s: int, e: int) -> tuple[int, int]:
        """This rank's rows (in its shard) of the global samples ``[s, e)``."""
        return self.count(s), self.count(e)

    def shard(self, t: Tensor) -> Tensor:
        """The rows of ``t`` (global samples along dim 0) this rank owns."""
        return t[self.rank :: self.size]

    # --------------------------------------------------------------- collectives
    def _backend_device(self, t: Tensor) -> Tensor:
        """``t`` where the backend can send it: gloo from host memory, NCCL from this
        rank's GPU (a CPU tensor, such as a confusion matrix, goes there and back)."""
        backend = dist.get_backend(self.group)
        if backend == "gloo" and t.device.type != "cpu":
            return t.cpu()
        if backend == "nccl" and t.device.type != "cuda":
            return t.to(torch.device("cuda", torch.cuda.current_device()))
        return t

    def _call(self, what: str, fn):
        try:
            return fn()
        except Exception as err:  # gloo / NCCL raise RuntimeError subclasses
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DistributedError(
                f"distributed: rank {self.rank} of {self.size}: {what} failed: another rank has "
                f"stopped or did not answer within {self.timeout_s:g} s ({first})"
            ) from err

    def gather(self, rows: Tensor, s: int, e: int) -> Tensor:
        """Every rank's ``rows`` (its samples of the global range ``[s, e)``, in order) ->
        the rows of all samples ``s..e-1`` in global order, on every rank."""
        W = self.size
        sizes = [self.count(e, q) - self.count(s, q) for q in range(W)]
        if rows.shape[0] != sizes[self.rank]:
            raise ValueError(
                f"rows: rank {self.rank} owns {sizes[self.rank]} samples of [{s}, {e}), "
                f"got {rows.shape[0]} rows"
            )
        width = rows.shape[1:]
        buf = rows.new_zeros((max(sizes), *width))
        buf[: rows.shape[0]] = rows
        buf = self._backend_device(buf)
        out = [torch.empty_like(buf) for _ in range(W)]
        self._call("all_gather", lambda: dist.all_gather(out, buf, group=self.group))
        self.bytes_sent += rows.numel() * rows.element_size()
        stacked = torch.stack(out).to(rows.device)  # [W, max, ...]
        i = torch.arange(s, e, device=rows.device)
        q = i % W
        first = torch.tensor([self.count(s, r) for r in range(W)], device=rows.device)
        return stacked[q, i // W - first[q]]

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """The sum of ``t`` over the ranks (integers: exact), on every rank."""
        buf = self._backend_device(t.clone())
        self._call("all_reduce", lambda: dist.all_reduce(buf, group=self.group))
        return buf.to(t.device)

    def broadcast(self, t: Tensor, src: int = 0) -> Tensor:
        """``src``'s ``t`` on every rank (in place where the backend allows)."""
        buf = self._backend_device(t.contiguous())
        self._call("broadcast", lambda: dist.broadcast(buf, src, group=self.group))
        if buf is not t:
            t.copy_(buf)
        return t

    def barrier(self) -> None:
        self._call("barrier", lambda: dist.barrier(group=self.group))


@dataclass
class Shard:
    """A rank's part of ``n`` global samples: ``x`` holds the rows it owns, in order."""

    x: Tensor
    n: int
    world: World


def world() -> World | None:
    """The current :class:`World` when ``torch.distributed`` is initialised with more
    than one rank, else ``None`` (a single process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    global _WORLD
    if _WORLD is None or _WORLD.rank != dist.get_rank() or _WORLD.size != dist.get_world_size():
        _WORLD = World(dist.get_rank(), dist.get_world_size())
    return _WORLD


_WORLD: World | None = None


def init_from_env(
    device: str | None = None, timeout_s: float | None = None
) -> tuple[World | None, str | None]:
    """Join the process group ``torchrun`` describes (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``...): gloo on CPU, NCCL on CUDA (one GPU per local rank).

    Returns ``(world, device)``: ``world`` is ``None`` outside ``torchrun`` or with one
    rank; ``device`` is the rank's device (``cuda:LOCAL_RANK`` for CUDA). The timeout of
    every collective is ``timeout_s`` (default ``$FASTSPIKE_DIST_TIMEOUT`` or 300 s): a
    rank that waits longer for a peer fails with :class:`DistributedError`.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size < 2:
        return None, device
    if timeout_s is None:
        raw = os.environ.get("FASTSPIKE_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
        try:
            timeout_s = float(raw)
        except ValueError:
            raise ValueError(f"FASTSPIKE_DIST_TIMEOUT: expected seconds, got {raw!r}") from None
    if not timeout_s > 0:
        raise ValueError(f"timeout_s: expected a positive number of seconds, got {timeout_s!r}")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            raise ValueError("device: cuda was asked for but no GPU is usable")
        n_gpu = torch.cuda.device_count()
        if local >= n_gpu:
            raise ValueError(
                f"device: local rank {local} needs a GPU of its own, but {n_gpu} are visible "
                f"(launch at most {n_gpu} processes per node)"
            )
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s)
        )
    global _WORLD
    _WORLD = World(dist.get_rank(), dist.get_world_size(), timeout_s=timeout_s)
    return _WORLD, device


# ------------------------------------------------------------------------ update exchange
def _patches(xb: Tensor, winners: Tensor, kh: int, kw: int) -> Tensor:
    """The input times of each winner's receptive field: ``[B, k, C, kh, kw]`` (zeros
    for padding rows)."""
    B, k = winners.shape[:2]
    w = winners.long()
    windows = xb.unfold(2, kh, 1).unfold(3, kw, 1)  # [B, C, H, W, kh, kw], a view
    b = torch.arange(B, device=xb.device).view(B, 1)
    p = windows[b, :, w[..., 1].clamp_min(0), w[..., 2].clamp_min(0)]  # [B, k, C, kh, kw]
    return p.masked_fill((w[..., 0] < 0).view(B, k, 1, 1, 1), 0)


def _pack(parts, extra: Tensor | None) -> Tensor:
    """One uint8 row per sample: per part its winners' features and post times (int32)
    and their receptive fields, then ``extra`` (int32)."""
    cols = []
    for xb, times, winners, kh, kw in parts:
        B, k = winners.shape[:2]
        w = winners.long()
        f = w[..., 0]
        b = torch.arange(B, device=times.device).view(B, 1)
        tpost = times[b, f.clamp_min(0), w[..., 1].clamp_min(0), w[..., 2].clamp_min(0)]
        tpost = torch.where(f >= 0, tpost.to(torch.int32), torch.zeros_like(tpost, dtype=torch.int32))
        meta = torch.cat([f.to(torch.int32), tpost], 1).contiguous()
        cols.append(meta.view(torch.uint8).reshape(B, 8 * k))
        patch = _patches(xb, winners, kh, kw).contiguous()
        cols.append(patch.view(torch.uint8).reshape(B, k * xb.shape[1] * kh * kw * patch.element_size()))
    if extra is not None:
        ex = extra.to(torch.int32).contiguous()
        cols.append(ex.view(torch.uint8).reshape(ex.shape[0], 4 * ex.shape[1]))
    return torch.cat(cols, 1)


def _unpack(rows: Tensor, parts, T: int, n_extra: int):
    """Inverse of :func:`_pack` on the global rows: per part the canvases
    ``(times_in [B, C, kh, k*kw], times_out [B, F, 1, (k-1)*kw+1], winners [B, k, 3])``,
    then the extra columns ``[B, n_extra]`` int32."""
    B = rows.shape[0]
    dev = rows.device
    out, at = [], 0
    for xb, times, winners, kh, kw in parts:
        k, C, F = winners.shape[1], xb.shape[1], times.shape[1]
        tdt, idt = times.dtype, xb.dtype
        meta = rows[:, at : at + 8 * k].contiguous().view(torch.int32).view(B, 2, k)
        at += 8 * k
        n_p = k * C * kh * kw * xb.element_size()
        patch = rows[:, at : at + n_p].contiguous().view(idt).view(B, k, C, kh, kw)
        at += n_p
        f, tpost = meta[:, 0].long(), meta[:, 1]
        t_in = patch.permute(0, 2, 3, 1, 4).reshape(B, C, kh, k * kw)
        t_out = torch.full((B, F, 1, (k - 1) * kw + 1), T, dtype=tdt, device=dev)
        slot = torch.arange(k, device=dev).view(1, k).expand(B, k)
        has = f >= 0
        bb = torch.arange(B, device=dev).view(B, 1).expand(B, k)
        t_out[bb[has], f[has], 0, slot[has] * kw] = tpost[has].to(tdt)
        win = torch.stack([f, torch.zeros_like(f), slot * kw], 2)
        win = torch.where(has.unsqueeze(2), win, torch.full_like(win, -1)).to(winners.dtype)
        out.append((t_in, t_out, win))
    ex = rows[:, at : at + 4 * n_extra].contiguous().view(torch.int32).view(B, n_extra) if n_extra else None
    return out, ex


def exchange(world: World | None, parts, extra: Tensor | None, s: int, e: int, T: int):
    """What the updates of the global batch ``[s, e)`` need, in global sample order.

    ``parts``: per learning conv ``(xb, times, winners, kh, kw)`` of this rank's samples
    (its input, output times and winners); ``extra``: per-sample int columns (decisions,
    votes) or ``None``. Returns ``([(times_in, times_out, winners)] per part, extra)`` for
    all samples of the batch: on one process the inputs themselves; across ranks the
    canvases of :func:`_unpack`, on which :func:`fastspike.ops.stdp_update` gives the same
    weights bit for bit."""
    if world is None:
        return [(xb, t, w) for xb, t, w, _, _ in parts], extra
    n_extra = 0 if extra is None else extra.shape[1]
    rows = world.gather(_pack(parts, extra), s, e)
    return _unpack(rows, parts, T, n_extra)
