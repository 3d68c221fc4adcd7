"""Figures of a network: learned features, spike maps, rasters, weights, accuracy, confusion.

Every function returns a :class:`matplotlib.figure.Figure` drawn on the Agg canvas
(``matplotlib.figure.Figure`` + ``FigureCanvasAgg``; pyplot's global state is never
touched, so this works headless and in threads). Save one with
``fig.savefig("x.png", dpi=100)``, or write them all with :func:`save_all`.

matplotlib is an optional dependency (``pip install matplotlib``): it is imported
inside the functions, and a missing one raises :class:`ImportError` with that hint.

Feature reconstructions are *linear* approximations: the encoder's threshold, local
normalisation and rank-order coding, the neurons' thresholds and max-pooling are all
non-linear, so the images show what a feature's weights prefer, not an exact inverse.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from fastspike.encoding import dog_filters
from fastspike.spec import Conv, Pool
from fastspike.usage import needs

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from fastspike.network import Network

__all__ = [
    "accuracy_curves",
    "confusion_matrix",
    "s1_features",
    "s1_filters",
    "s2_features",
    "s2_filters",
    "save_all",
    "spike_maps",
    "spike_raster",
    "test_pattern",
    "weight_histograms",
]

_MISSING = needs("plots need", "matplotlib", "plots")


def _require() -> tuple[type, type]:
    """``(Figure, FigureCanvasAgg)``, or :class:`ImportError` with an install hint."""
    try:
        import matplotlib  # noqa: F401  (first: a blocked package fails here even if submodules loaded)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(_MISSING) from e
    return Figure, FigureCanvasAgg


def _figure(width: float, height: float) -> Figure:
    """A new ``width`` x ``height`` inch figure (dpi 100, constrained layout) on its own Agg canvas."""
    Figure, FigureCanvasAgg = _require()
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _cmap(name: str, bad: str = "white"):
    """Colormap ``name`` drawing masked / NaN cells (spikes that never came) in ``bad``."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=bad)


def _device(net: Network) -> torch.device:
    for b in net.buffers():
        return b.device
    return torch.device("cpu")


def _tile_grid(fig: Figure, images: Tensor, title: str, labels: Sequence[str] | None = None) -> None:
    """Draw ``images`` ``[N, H, W]`` (each already scaled to [-1, 1]) as a grey grid on ``fig``."""
    n = images.shape[0]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i].numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_title(labels[i] if labels is not None else str(i), fontsize=8, pad=2)
    fig.suptitle(title, fontsize=11)


def _normalise(x: Tensor) -> Tensor:
    """Scale each ``x[i]`` by its largest magnitude into [-1, 1] (0 stays mid-grey)."""
    m = x.flatten(1).abs().amax(1).clamp_min(1e-12)
    return x / m.view(-1, *([1] * (x.dim() - 1)))


# ----------------------------------------------------------------------------- features
@torch.no_grad()
def s1_filters(net: Network, normalise_dog: bool = True) -> Tensor:
    """The first conv's features as input-space filters ``[F1, K, K]`` float32 (not normalised).

    Encoded channel ``c`` is the image correlated with DoG filter ``c`` (``[S, S]``, the
    encoder's bank), and S1 feature ``f`` correlates the encoded channels with
    ``weight[f, c]`` (``[k, k]``), so the composition is one correlation of the image with
    ``E_f = sum_c conv_transpose(weight[f, c], DoG_c)`` of size ``K = k + S - 1``.

    ``normalise_dog``: scale each DoG kernel to ``max |DoG_c| = 1`` first. The encoder's
    local normalisation divides every channel by its local mean, so a channel's overall
    scale never reaches the spikes; the raw bank (``False``) is divided by each kernel's
    maximum, which for an OFF kernel is its weak surround, so the OFF kernels are up to
    ~10x larger and their common dark blob swamps every feature.
    """
    w = net.spiking_layers[0].weight.detach().float().cpu()  # [F, C, k, k]
    dog = dog_filters(net.spec.encoder.dog)  # [C, 1, S, S]
    if normalise_dog:
        dog = dog / dog.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return F.conv_transpose2d(w, dog)[:, 0]  # [F, 1, k+S-1, k+S-1] -> [F, K, K]


def _between_first_convs(net: Network) -> tuple[int, int]:
    """``(scale, extent)`` of the layers between conv 1 and conv 2: S2-input cell ``p`` reads the
    S1-output cells ``[scale * p + offset, + extent)`` (the offset is common to all cells)."""
    layers = list(net.spec.layers)
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, Conv)]
    scale, extent = 1, 1
    for layer in reversed(layers[convs[0] + 1 : convs[1]]):
        # a pooled cell u covers [s*u - pad, s*u - pad + k); Pad only shifts the offset,
        # Inhibit is pointwise
        if isinstance(layer, Pool):
            scale, extent = layer.step * scale, layer.step * (extent - 1) + layer.kernel
    return scale, extent


@torch.no_grad()
def s2_filters(net: Network, n: int | None = 64) -> Tensor:
    """The second conv's first ``n`` features (``None`` = all) in input space ``[n, K2, K2]`` float32.

    A simple linear approximation: each S2 tap ``weight[g, c, i, j]`` is spread evenly
    (nearest upsampling by the pool stride) over the S1 cells its pooled cell covers, and
    each S1 cell is replaced by S1 feature ``c``'s input-space filter (:func:`s1_filters`)
    placed at its position, so the image is the weighted sum of the S1 feature images::

        U = conv_transpose(weight2, ones(e, e) / e^2, stride=s, groups=C1)  # [n, C1, Hs, Ws]
        E2 = sum_c conv_transpose(U[:, c], E1_c)                            # [n, K2, K2]

    with ``s`` the product of the pool strides and ``e`` the pooled window in S1 cells.
    """
    if len(net.spiking_layers) < 2:
        raise ValueError("s2_filters: the network has only one conv layer")
    w2 = net.spiking_layers[1].weight.detach().float().cpu()  # [F2, C1, k2, k2]
    if n is not None:
        w2 = w2[:n]
    e1 = s1_filters(net)  # [C1, K1, K1]
    scale, extent = _between_first_convs(net)
    C1 = w2.shape[1]
    spread = torch.full((C1, 1, extent, extent), 1.0 / extent**2)
    u = F.conv_transpose2d(w2, spread, stride=scale, groups=C1)  # [n, C1, Hs, Ws]
    return F.conv_transpose2d(u, e1.unsqueeze(1))[:, 0]


def s1_features(net: Network) -> Figure:
    """The first conv's features as filters in input space (:func:`s1_filters`), one grey tile
    per feature, each scaled by its largest magnitude (mid-grey = 0, white = prefers light)."""
    e = s1_filters(net)
    n, K = e.shape[0], e.shape[-1]
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    fig = _figure(1.1 * cols + 0.3, 1.15 * rows + 0.6)
    name = net.layer_names[0]
    _tile_grid(
        fig, _normalise(e), f"{name} features in input space (weights through the DoG bank, {K}x{K} px)"
    )
    return fig


def s2_features(net: Network, n: int = 64) -> Figure:
    """The second conv's first ``n`` (<= 64 by default) features reconstructed in input space
    (:func:`s2_filters`: weighted sums of the S1 feature images at the pooled positions), one
    grey tile each, scaled by its largest magnitude."""
    e = s2_filters(net, n)
    m, K = e.shape[0], e.shape[-1]
    cols = max(1, math.ceil(math.sqrt(m)))
    rows = math.ceil(m / cols)
    fig = _figure(1.0 * cols + 0.3, 1.05 * rows + 0.6)
    total = net.spiking_layers[1].out_channels
    name = net.layer_names[1]
    _tile_grid(
        fig, _normalise(e), f"{name} features in input space ({m} of {total}, {K}x{K} px, linear approx.)"
    )
    return fig


# ----------------------------------------------------------------------------- spikes
def test_pattern(size: tuple[int, int] = (28, 28)) -> Tensor:
    """A synthetic uint8 ``[H, W]`` test image: a ring (a "0") with a diagonal stroke, for
    :func:`save_all` when no image is given."""
    H, W = size
    y = torch.arange(H, dtype=torch.float32).view(-1, 1) - (H - 1) / 2
    x = torch.arange(W, dtype=torch.float32).view(1, -1) - (W - 1) / 2
    r = torch.sqrt(y**2 + (x * 1.25) ** 2)
    ring = (1 - (r - 0.3 * min(H, W)).abs() / 2).clamp(0, 1)
    stroke = (1 - (x + y).abs() / 2.5).clamp(0, 1) * (r < 0.3 * min(H, W)).float()
    return (255 * torch.maximum(ring, stroke)).round().to(torch.uint8)


@torch.no_grad()
def _layer_times(net: Network, image: Any) -> tuple[Tensor, list[Tensor], list[Tensor | None], int | None]:
    """On CPU: ``(encoded [C, H, W], [times [F, H', W'] per conv], [P[T-1] [F, H', W'] of a
    decision layer, else None, per conv], predicted class or None)``."""
    img = torch.as_tensor(image)
    if img.dim() == 3 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 2:
        raise ValueError(f"image: expected one image [H, W], got shape {tuple(img.shape)}")
    if img.dtype != torch.uint8:
        raise TypeError(f"image: expected uint8 pixels, got {img.dtype}")
    times = net.encoder(img.unsqueeze(0).to(_device(net)))
    outputs = net.layer_outputs(times)
    out = [t[0].cpu() for t, _ in outputs]
    pots = [None if v is None else v[0].float().cpu() for _, v in outputs]
    if net.is_vote:  # the heads' maps are drawn as spikes: their classes are per head, not per map
        pots[-1] = None
    pred = None
    if net.is_decision or bool(getattr(net, "readout_fitted", False)):
        pred = int(net(times)[0])
    return times[0].cpu(), out, pots, pred


def _masked_times(t: Tensor, T: int):
    """Times as a float array with "never" (``>= T``) as NaN (drawn blank)."""
    a = t.float()
    a[t >= T] = float("nan")
    return a.numpy()


def spike_maps(net: Network, image: Any) -> Figure:
    """First-spike maps of one uint8 image ``[H, W]`` through the network.

    Row 0: the image and the encoder's first-spike time per channel ``[C, H, W]``.
    One row per conv (``times [F, H', W']``): the layer's first-spike map (the earliest
    spike over features at each position, ``min_f times[f]``), which feature spiked first
    there (lowest index on ties, as the pointwise inhibition) and the spike count per
    feature (positions where it fired). Times: viridis from step 0 to ``T - 1``, blank =
    never spiked. A decision layer (it fires at ``T - 1`` wherever ``P[T-1] > 0``, so its
    spike counts say little) shows instead the class of the feature with the largest
    final potential at each position and the largest ``P[T-1]`` per feature, coloured by
    class, with the winner (the decision) marked.
    """
    _require()
    T = net.T
    enc, layers, pots, pred = _layer_times(net, image)
    C = enc.shape[0]
    img = torch.as_tensor(image).cpu()
    img = img.reshape(img.shape[-2:])
    tcmap = _cmap("viridis")
    fig = _figure(max(2.0 * (C + 1) + 1.0, 11.0), 2.2 * (1 + len(layers)) + 0.4)
    subs = fig.subfigures(1 + len(layers), 1)
    top = subs[0].subplots(1, C + 1, squeeze=False)[0]
    top[0].imshow(img.numpy(), cmap="gray", vmin=0, vmax=255)
    top[0].set_title(f"image {img.shape[0]}x{img.shape[1]}", fontsize=9)
    dog = net.spec.encoder.dog
    for c in range(C):
        im = top[c + 1].imshow(
            _masked_times(enc[c], T), cmap=tcmap, vmin=0, vmax=T - 1, interpolation="nearest"
        )
        size, s1, s2 = dog[c]
        kind = "ON" if s1 < s2 else "OFF"
        top[c + 1].set_title(f"DoG {c}: {kind} {size}x{size}\n{int((enc[c] < T).sum())} spikes", fontsize=8)
    for ax in top:
        ax.set_xticks([])
        ax.set_yticks([])
    subs[0].colorbar(im, ax=top, label="first-spike time", shrink=0.85)
    for j, (t, p, name) in enumerate(zip(layers, pots, net.layer_names, strict=True)):
        Fn = t.shape[0]
        sub = subs[j + 1]
        ax_t, ax_f, ax_b = sub.subplots(1, 3, width_ratios=[1, 1, 3.2])
        first, which = t.min(0)
        fired = first < T
        im = ax_t.imshow(_masked_times(first, T), cmap=tcmap, vmin=0, vmax=T - 1, interpolation="nearest")
        ax_t.set_title(f"{name}: first spike\n{int(fired.sum())}/{fired.numel()} positions", fontsize=8)
        sub.colorbar(im, ax=ax_t, shrink=0.85, label="time")
        decision = p is not None
        if decision:
            per_class = max(1, Fn // net.n_classes)
            best, arg = p.max(0)
            cls = torch.div(arg, per_class, rounding_mode="floor").float()
            cls[best <= 0] = float("nan")
            K = net.n_classes
            ccmap = _cmap("tab10" if K <= 10 else "turbo")
            im = ax_f.imshow(cls.numpy(), cmap=ccmap, vmin=-0.5, vmax=K - 0.5)
            ax_f.set_title(f"{name}: class of max P[T-1]", fontsize=8)
            cb = sub.colorbar(im, ax=ax_f, shrink=0.85, label="class", ticks=range(0, K, max(1, K // 5)))
            cb.ax.tick_params(labelsize=7)
        else:
            wf = which.float()
            wf[~fired] = float("nan")
            im = ax_f.imshow(
                wf.numpy(), cmap=_cmap("turbo"), vmin=0, vmax=max(Fn - 1, 1), interpolation="nearest"
            )
            ax_f.set_title(f"{name}: first feature\n(lowest index on ties)", fontsize=8)
            sub.colorbar(im, ax=ax_f, shrink=0.85, label="feature")
        for ax in (ax_t, ax_f):
            ax.set_xticks([])
            ax.set_yticks([])
        size = f"{t.shape[-2]}x{t.shape[-1]} map"
        if decision:
            top_p = p.flatten(1).amax(1)
            classes = torch.div(torch.arange(Fn), per_class, rounding_mode="floor")
            colors = ccmap((classes.float().numpy() + 0.5) / net.n_classes)  # as imshow's vmin, vmax
            ax_b.scatter(range(Fn), top_p.numpy(), c=colors, s=10)
            win = int(top_p.argmax())
            ax_b.axvline(win, color="black", lw=1, ls="--")
            ax_b.set_ylabel("max P[T-1]", fontsize=8)
            ax_b.set_title(
                f"{name}: largest final potential per feature ({size}); winner {win} = class "
                f"{win // per_class}",
                fontsize=8,
            )
        else:
            counts = (t < T).flatten(1).sum(1)
            ax_b.bar(range(Fn), counts.numpy(), width=1.0, color="tab:blue")
            ax_b.set_ylabel("spikes", fontsize=8)
            ax_b.set_title(
                f"{name}: spikes per feature ({int(counts.sum())} in all, "
                f"{int((counts > 0).sum())}/{Fn} features fired, {size})",
                fontsize=8,
            )
        ax_b.set_xlim(-0.5, Fn - 0.5)
        ax_b.set_xlabel("feature", fontsize=8)
        ax_b.tick_params(labelsize=7)
    title = f"{net.spec.name}: first-spike maps (T = {T}, blank = never)"
    if pred is not None:
        title += f"; prediction: {'silent' if pred < 0 else pred}"
    fig.suptitle(title, fontsize=11)
    return fig


def spike_raster(net: Network, image: Any, max_neurons: int = 2000) -> Figure:
    """Spike rasters of one uint8 image ``[H, W]``, one column per layer (the encoded input,
    then each conv).

    Top: x = time step, y = rank of the neuron among those that fired (in (channel, y, x)
    order), colour = channel / feature; each neuron spikes at most once, and at most
    ``max_neurons`` fired neurons are drawn (evenly sampled by rank). Bottom: spikes per
    time step (all neurons).
    """
    _require()
    T = net.T
    enc, layers, _, _ = _layer_times(net, image)
    maps = [("input", enc)] + list(zip(net.layer_names, layers, strict=True))
    fig = _figure(3.0 * len(maps) + 0.4, 6.4)
    axes = fig.subplots(2, len(maps), squeeze=False, sharex="col", height_ratios=[3, 1])
    for col, (name, t) in enumerate(maps):
        ax, ax_h = axes[0, col], axes[1, col]
        flat = t.flatten()
        idx = (flat < T).nonzero().flatten()
        n = idx.numel()
        ax_h.bar(range(T), torch.bincount(flat[idx].long(), minlength=T)[:T].numpy(), width=0.8)
        rank = torch.arange(n)
        if n > max_neurons:
            keep = torch.linspace(0, n - 1, max_neurons).round().long()
            idx, rank = idx[keep], rank[keep]
        feat = torch.div(idx, t.shape[-2] * t.shape[-1], rounding_mode="floor")
        ax.scatter(
            flat[idx].float().numpy(),
            rank.numpy(),
            c=feat.numpy(),
            cmap="turbo",
            vmin=0,
            vmax=max(t.shape[0] - 1, 1),
            marker="|",
            s=40,
            linewidths=1.5,
        )
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(-0.5, max(n, 1) - 0.5)
        shown = f", {idx.numel()} shown" if n > idx.numel() else ""
        ax.set_title(f"{name} ({t.shape[0]} channels)\n{n}/{flat.numel()} fired{shown}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax_h.set_xlabel("time step")
        ax_h.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("fired neuron (rank, channel-major)")
    axes[1, 0].set_ylabel("spikes")
    fig.suptitle(f"{net.spec.name}: spike rasters (colour = channel / feature)", fontsize=11)
    return fig


# ----------------------------------------------------------------------------- weights, training
def weight_histograms(net: Network, bins: int = 50) -> Figure:
    """One histogram per conv of its weights (log-scaled counts), with the learning rule's
    bounds dashed: STDP drives weights to 0 / 1, R-STDP to its ``[lb, ub]``."""
    named = net.named_convs()  # the convs of a parallel block one by one
    fig = _figure(3.6 * len(named) + 0.3, 3.2)
    from matplotlib.ticker import NullFormatter

    axes = fig.subplots(1, len(named), squeeze=False)[0]
    for ax, (name, conv) in zip(axes, named, strict=True):
        w = conv.weight.detach().float().cpu().flatten()
        lo, hi = float(w.min()), float(w.max())
        finite = math.isfinite(conv.lb) and math.isfinite(conv.ub)
        if finite:
            lo, hi = min(lo, conv.lb), max(hi, conv.ub)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        ax.hist(w.numpy(), bins=bins, range=(lo, hi), color="tab:blue", log=True)
        ax.yaxis.set_minor_formatter(NullFormatter())
        title = f"{name}: {'x'.join(str(s) for s in conv.weight.shape)} weights"
        if finite:
            for b in (conv.lb, conv.ub):
                ax.axvline(b, color="tab:red", ls="--", lw=1)
            tol = 0.02 * (conv.ub - conv.lb)
            near = ((w - conv.lb <= tol) | (conv.ub - w <= tol)).float().mean()
            title += f"\n{100 * float(near):.1f}% at the bounds [{conv.lb:g}, {conv.ub:g}] (+-2%)"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("weight")
        ax.set_ylabel("count (log)")
    fig.suptitle(f"{net.spec.name}: weight distributions", fontsize=11)
    return fig


def accuracy_curves(history: Sequence[dict]) -> Figure:
    """Per layer in ``history`` (as returned by :func:`fastspike.train.train`: dicts with
    ``layer``, ``epoch``, ``train`` and ``val``, each ``{correct, wrong, silent}`` fractions;
    runs made before the validation split have ``test`` instead), validation (and train)
    correct vs epoch, plus the validation silent fraction (dotted)."""
    layers: dict[str, list[dict]] = {}
    for h in history:
        layers.setdefault(str(h.get("layer", "?")), []).append(h)
    if not layers:
        raise ValueError("history: expected at least one entry")
    fig = _figure(4.2 * len(layers) + 0.3, 3.4)
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    for ax, (name, hs) in zip(axes, layers.items(), strict=True):
        hs = sorted(hs, key=lambda h: h.get("epoch", 0))
        epochs = [h.get("epoch", i + 1) for i, h in enumerate(hs)]
        held = "val" if any(h.get("val") for h in hs) else "test"
        what = "validation" if held == "val" else "test"
        for key, style, label in ((held, "o-", f"{what} correct"), ("train", "s--", "train correct")):
            pts = [(e, h[key]["correct"]) for e, h in zip(epochs, hs, strict=True) if h.get(key)]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=label, ms=4)
        pts = [(e, h[held]["silent"]) for e, h in zip(epochs, hs, strict=True) if h.get(held)]
        if pts and any(s > 0 for _, s in pts):
            ax.plot(*zip(*pts, strict=True), ":", color="grey", label=f"{what} silent")
        best = max((h[held]["correct"] for h in hs if h.get(held)), default=None)
        title = f"{name}" + (f": best {what} {100 * best:.1f}%" if best is not None else "")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction")
        ax.set_ylim(0, 1)
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("accuracy per epoch", fontsize=11)
    return fig


def confusion_matrix(matrix: Any, classes: Sequence[str] | None = None) -> Figure:
    """An annotated heat map of a confusion matrix of counts.

    ``matrix``: ``[K, K]`` or ``[K, K + 1]`` (rows = true class, columns = predicted; the
    optional last column counts silent samples). ``classes``: K names (default 0..K-1).
    Cells are coloured by the fraction of their row (so rare classes read the same) and
    annotated with the counts; the title gives the accuracy (diagonal / total).
    """
    m = torch.as_tensor(matrix).detach().cpu()
    if m.dim() != 2 or m.shape[0] < 1 or m.shape[1] not in (m.shape[0], m.shape[0] + 1):
        raise ValueError(f"matrix: expected [K, K] or [K, K+1] counts, got shape {tuple(m.shape)}")
    K = m.shape[0]
    if classes is None:
        classes = [str(k) for k in range(K)]
    classes = [str(c) for c in classes]
    if len(classes) != K:
        raise ValueError(f"classes: expected {K} names, got {len(classes)}")
    cols = classes + (["silent"] if m.shape[1] == K + 1 else [])
    m = m.double()
    frac = m / m.sum(1, keepdim=True).clamp_min(1)
    side = 0.5 * max(len(cols), 4)
    fig = _figure(side + 2.2, 0.5 * max(K, 4) + 1.6)
    ax = fig.add_subplot()
    im = ax.imshow(frac.numpy(), cmap="Blues", vmin=0, vmax=1)
    integral = bool((m == m.round()).all())
    fs = 8 if len(cols) <= 12 else 6
    for i in range(K):
        for j in range(len(cols)):
            v = float(m[i, j])
            text = f"{int(v)}" if integral else f"{v:.3g}"
            color = "white" if frac[i, j] > 0.55 else "black" if v else "0.65"
            ax.text(j, i, text, ha="center", va="center", fontsize=fs, color=color)
    ax.set_xticks(range(len(cols)), cols, fontsize=8, rotation=45 if len(cols) > 12 else 0)
    ax.set_yticks(range(K), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="fraction of row", shrink=0.8)
    total = float(m.sum())
    acc = float(m[:, :K].diagonal().sum()) / total if total else 0.0
    title = f"confusion matrix: {100 * acc:.1f}% correct of {int(total)}"
    if m.shape[1] == K + 1:
        title += f", {100 * float(m[:, K].sum()) / max(total, 1):.1f}% silent"
    ax.set_title(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------- all of them
def save_all(
    net: Network,
    out_dir: str,
    history: Sequence[dict] | None = None,
    image: Any = None,
    matrix: Any = None,
) -> list[str]:
    """Write the figures as PNGs (dpi 100) into ``out_dir`` (created) and return their paths.

    ``s1_features.png``, ``s2_features.png`` (with two convs or more), ``spike_maps.png`` and
    ``spike_raster.png`` (of ``image``, uint8 ``[H, W]``; default :func:`test_pattern`),
    ``weights.png``, ``accuracy.png`` (when ``history``) and ``confusion.png`` (when
    ``matrix``).
    """
    _require()
    if image is None:
        image = test_pattern(net.spec.input_size)
    os.makedirs(out_dir, exist_ok=True)
    figures: list[tuple[str, Any]] = [("s1_features.png", lambda: s1_features(net))]
    if len(net.spiking_layers) >= 2:
        figures.append(("s2_features.png", lambda: s2_features(net)))
    figures += [
        ("spike_maps.png", lambda: spike_maps(net, image)),
        ("spike_raster.png", lambda: spike_raster(net, image)),
        ("weights.png", lambda: weight_histograms(net)),
    ]
    if history:
        figures.append(("accuracy.png", lambda: accuracy_curves(history)))
    if matrix is not None:
        figures.append(("confusion.png", lambda: confusion_matrix(matrix)))
    paths = []
    for name, make in figures:
        path = os.path.join(out_dir, name)
        make().savefig(path, dpi=100)
        paths.append(path)
    return paths
