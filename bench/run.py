"""Throughput of fastspike against the pure-torch reference, per operator and end to end.

    python -m bench [--model NAME] [--device cpu|cuda] [--repeats 5] [--quick]
                    [--out bench/results] [--data ../shared/data]

Contenders are interleaved inside every repeat, after a warm-up call, and each
figure is the median (with min and max) of the repeats; on CUDA every timing is
synchronised. End-to-end phases run on real MNIST in the fixed training order,
both with freshly initialised weights and with trained weights (the reference's
own training schedule run briefly over real samples, which drives many Mozafari
weights to subnormal floats). Peak host memory (RSS) is measured per contender
during its warm-up call: the allocator's free memory is first handed back to the
OS (glibc malloc_trim), then the kernel's high-water mark is reset, and the figure
is the peak above the RSS before the call; on CUDA, peak device memory too.

Mozafari 2018 (the default) is timed against ``ReferenceMozafari2018``: encoding, S1
and S2 STDP, S3 R-STDP (both contenders on lower layers computed once, as the trainers
and the established simulator's example loops run them), inference, plus single
operators on its layers' shapes. Any
other registered network is timed against ``ReferenceNetwork(spec)`` (one sample at a
time, as today's simulators run): encoding, each training phase of the spec (a conv, one
branch of a block, a block of voting heads, or a decision layer with its joint layer; lower
layers cached on the fastspike side, as the trainer runs it), inference (feature extraction for
a linear-readout network) and, for a linear readout, the fit of the readout on the
extracted features (fastspike only: the reference has no readout of its own).

Writes ``<model>-<device>-<cpu>.json`` and ``.md`` (``-quick`` appended for a --quick
run), the CPU named by lscpu's "Model name" (lowercased, other characters -> "-").
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import functools
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import torch

import fastspike
from fastspike import reference as ref
from fastspike.data import load_dataset
from fastspike.encoding import Encoder
from fastspike.models import Mozafari2018
from fastspike.network import Network
from fastspike.readout import fit_linear
from fastspike.registry import MODELS, MOZAFARI_DOG, get_spec, mozafari2018
from fastspike.spec import STDP, LinearReadout, NetworkSpec, Phase
from fastspike.training import learner, train_epoch

T = 15  # Mozafari 2018's time steps
MOZAFARI = "mozafari2018"


# --------------------------------------------------------------------------- measurement
def _release_free_memory() -> None:
    """Hand the allocator's free memory back to the OS (glibc ``malloc_trim``), so that
    a call's peak RSS above the current RSS counts the memory it needs, instead of
    being served from blocks that earlier calls freed (which reads as ~0 MB)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the deltas are then lower bounds
        pass


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _rss_mb(field: str = "VmHWM") -> float:
    """The process's peak (VmHWM) or current (VmRSS) resident memory in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """Interleaves contenders: ``run`` times each callable once per repeat, after a warm-up."""

    def __init__(self, device: torch.device, repeats: int):
        self.device, self.repeats = device, repeats

    def run(self, contenders: dict[str, tuple], setup=None) -> dict[str, dict]:
        """contenders: name -> (fn, samples_per_call). ``setup()`` runs before every call (untimed)."""
        times = {k: [] for k in contenders}
        mem = {}
        for name, (fn, _) in contenders.items():  # warm-up, and peak memory of one call
            if setup:
                setup()
            _sync(self.device)
            _release_free_memory()
            base = _rss_mb("VmRSS")
            _reset_peak_rss()
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
                base_cuda = torch.cuda.memory_allocated(self.device)
            fn()
            _sync(self.device)
            # memory the call itself needed above what the process already held
            mem[name] = {
                "peak_rss_mb": round(_rss_mb("VmHWM"), 1),
                "peak_rss_delta_mb": round(max(0.0, _rss_mb("VmHWM") - base), 1),
            }
            if self.device.type == "cuda":
                mem[name]["peak_cuda_delta_mb"] = round(
                    (torch.cuda.max_memory_allocated(self.device) - base_cuda) / 2**20, 1
                )
        for _ in range(self.repeats):
            for name, (fn, _) in contenders.items():
                if setup:
                    setup()
                _sync(self.device)
                t0 = time.perf_counter()
                fn()
                _sync(self.device)
                times[name].append(time.perf_counter() - t0)
        out = {}
        for name, (_fn, n) in contenders.items():
            ts = times[name]
            out[name] = {
                "samples": n,
                "repeats": len(ts),
                "median_s": statistics.median(ts),
                "min_s": min(ts),
                "max_s": max(ts),
                "samples_per_s": n / statistics.median(ts),
                **mem[name],
            }
        return out


# --------------------------------------------------------------------------- naming
def cpu_name() -> str:
    """The CPU's model name: lscpu's "Model name", else /proc/cpuinfo's, else platform's."""
    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, env={**os.environ, "LC_ALL": "C"}
        ).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
                if name:
                    return name
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_slug(name: str | None = None) -> str:
    """``"Intel(R) Xeon(R) Processor"`` -> ``"intel-r-xeon-r-processor"`` (default: this machine's CPU)."""
    slug = re.sub(r"[^a-z0-9]+", "-", (cpu_name() if name is None else name).lower()).strip("-")
    return slug or "unknown-cpu"


def result_stem(prefix: str, device: str | torch.device, cpu: str | None = None) -> str:
    """``<prefix>-<device type>-<cpu slug>``: one current results file per model (or kind) and machine."""
    return f"{prefix}-{torch.device(device).type}-{cpu_slug(cpu)}"


# --------------------------------------------------------------------------- weights
def _subnormal_fraction(w: torch.Tensor) -> float:
    a = w.abs()
    return float(((a > 0) & (a < torch.finfo(torch.float32).tiny)).float().mean())


def _trained_reference(waves, labels, n1: int, n2: int, n3: int) -> ref.ReferenceMozafari2018:
    """Trained weights as a Python-loop simulator produces them (no flush-to-zero):
    the reference's own S1/S2 STDP schedule and R-STDP over real samples."""
    net = ref.ReferenceMozafari2018(mozafari2018(), seed=0)
    for i in range(n1):
        net.stdp1(waves[i % len(waves)])
    for i in range(n2):
        net.stdp2(waves[i % len(waves)])
    for i in range(n3):
        net.rstdp(waves[i % len(waves)], int(labels[i % len(waves)]))
    return net


def _model_from(net: ref.ReferenceMozafari2018, device) -> Mozafari2018:
    m = Mozafari2018(seed=0)
    for conv, w in zip(m.spiking_layers, net.weights, strict=True):
        conv.weight.copy_(w)
    return m.to(device)


def _ref_copy(net: ref.ReferenceMozafari2018, device) -> ref.ReferenceMozafari2018:
    r = ref.ReferenceMozafari2018(mozafari2018(), seed=0)
    r.w1, r.w2, r.w3 = (w.clone() for w in net.weights)
    return r.to(device)


def _learned(spec: NetworkSpec) -> list[Phase]:
    """The spec's training phases of conv layers (a conv, a branch, heads or a joint decision
    phase), in order: the ones the trainer runs with (R-)STDP."""
    return [p for p in spec.phases if p.layer != "readout"]


def _is_rstdp(spec: NetworkSpec, phase: Phase) -> bool:
    """The phase learns by reward (a decision layer, heads, or a joint decision phase)."""
    return not any(c.name == phase.layer and isinstance(c.rule, STDP) for c in spec.convs)


def _trained_spec_reference(spec: NetworkSpec, waves, labels, counts) -> ref.ReferenceNetwork:
    """``ReferenceNetwork`` trained phase after phase, ``counts[i]`` samples for the i-th
    learned phase (STDP, or R-STDP), in the fixed training order."""
    net = ref.ReferenceNetwork(spec, seed=0)
    for phase, n in zip(_learned(spec), counts, strict=True):
        net.begin_phase(phase)
        for i in range(n):
            w = waves[i % len(waves)]
            if _is_rstdp(spec, phase):
                net.rstdp(w, int(labels[i % len(waves)]), phase=phase)
            else:
                net.stdp_step(phase.layer, w)
    return net


def _spec_model_from(net: ref.ReferenceNetwork, device) -> Network:
    m = Network(net.spec, compat=net.compat, seed=0)
    for name, w in net.weights.items():
        m.conv(name).weight.copy_(w)
    return m.to(device)


def _spec_ref_copy(net: ref.ReferenceNetwork, device) -> ref.ReferenceNetwork:
    r = ref.ReferenceNetwork(net.spec, compat=net.compat, seed=0)
    r.weights = {name: w.clone() for name, w in net.weights.items()}
    return r.to(device)


# --------------------------------------------------------------------------- end to end: Mozafari 2018
def bench_phases(timer: Timer, images, labels, device, n: int, batch: int, state: str, net0) -> list[dict]:
    """Per phase: reference one sample at a time, fastspike batch_size=1, fastspike batched."""
    enc = Encoder(T=T)
    times_cpu = enc(images[:n])
    times = times_cpu.to(device)
    waves = [ref.times_to_wave(times[i], T) for i in range(n)]
    lab = labels[:n]
    rows = []

    def add(phase, res, note=""):
        rows.append({"phase": phase, "state": state, "note": note, **{k: v for k, v in res.items()}})

    # fresh objects per call so that every timed call starts from the same weights and rule states
    holder = {}

    def setup():
        holder["ref"] = _ref_copy(net0, device)
        holder["fast"] = m = _model_from(net0, device)
        holder["state"] = {layer: learner(m, layer) for layer in (1, 2, 3)}

    # encoding (images -> first-spike times)
    imgs_dev = images[:n].to(device)
    add(
        "encoding",
        timer.run(
            {
                "reference": (
                    lambda: [ref.encode_image(images[i].to(device), MOZAFARI_DOG) for i in range(n)],
                    n,
                ),
                "fastspike_b1": (lambda: [enc(imgs_dev[i : i + 1]) for i in range(n)], n),
                "fastspike_batched": (lambda: enc(imgs_dev), n),
            }
        ),
    )

    # S1 STDP
    def fast_s1(bs):
        m = holder["fast"]
        train_epoch(m, 1, m.layer_input(1, times, training=True), holder["state"][1], batch_size=bs)

    add(
        "S1 STDP training",
        timer.run(
            {
                "reference": (lambda: [holder["ref"].stdp1(w) for w in waves], n),
                "fastspike_b1": (lambda: fast_s1(1), n),
                "fastspike_batched": (lambda: fast_s1(batch), n),
            },
            setup,
        ),
    )

    # S2 STDP: both train on their cached S1 output (computed once, as the trainers do: the
    # established simulator's example loops too)
    x2 = _model_from(net0, device).layer_input(2, times, training=True)
    frozen = _ref_copy(net0, device)
    r2 = [frozen.s2_input(w) for w in waves]

    def fast_s2(bs):
        train_epoch(holder["fast"], 2, x2, holder["state"][2], batch_size=bs)

    add(
        "S2 STDP training",
        timer.run(
            {
                "reference": (
                    lambda: [holder["ref"].stdp2(w, s2_in) for w, s2_in in zip(waves, r2, strict=True)],
                    n,
                ),
                "fastspike_b1": (lambda: fast_s2(1), n),
                "fastspike_batched": (lambda: fast_s2(batch), n),
            },
            setup,
        ),
        "both: S2 input cached (frozen S1 computed once per dataset)",
    )

    # S3 R-STDP: both on cached S3 input
    x3 = _model_from(net0, device).layer_input(3, times, training=True)
    r3 = [frozen.s3_input(w) for w in waves]

    def fast_s3(bs):
        train_epoch(holder["fast"], 3, x3, holder["state"][3], labels=lab, batch_size=bs)

    add(
        "S3 R-STDP training",
        timer.run(
            {
                "reference": (
                    lambda: [
                        holder["ref"].rstdp(w, int(y), s3_in)
                        for w, y, s3_in in zip(waves, lab, r3, strict=True)
                    ],
                    n,
                ),
                "fastspike_b1": (lambda: fast_s3(1), n),
                "fastspike_batched": (lambda: fast_s3(batch), n),
            },
            setup,
        ),
        "both: S3 input cached (frozen S1-S2 computed once per dataset)",
    )

    # inference: encoded times -> decision, whole network
    fast = _model_from(net0, device)
    rnet = _ref_copy(net0, device)
    add(
        "inference",
        timer.run(
            {
                "reference": (lambda: [rnet.predict(w) for w in waves], n),
                "fastspike_b1": (lambda: [fast(times[i : i + 1]) for i in range(n)], n),
                "fastspike_batched": (
                    lambda: torch.cat([fast(times[s : s + 256]) for s in range(0, n, 256)]),
                    n,
                ),
            }
        ),
        "encoded input -> class, all three layers",
    )
    return rows


# --------------------------------------------------------------------------- end to end: any other spec
READOUT_PHASE = "readout fit (fastspike only)"


def bench_spec_phases(
    timer: Timer,
    images,
    labels,
    device,
    n: int,
    batch: int,
    state: str,
    net0: ref.ReferenceNetwork,
    readout_max_iter: int | None = None,
) -> list[dict]:
    """Any registered network against ``ReferenceNetwork`` (one sample at a time): encoding,
    each learned conv's (R-)STDP, inference (feature extraction for a linear readout), and the
    linear readout's fit on the extracted features (fastspike only)."""
    spec = net0.spec
    Ts = spec.T
    enc = Network(spec, seed=0).encoder
    times = enc(images[:n]).to(device)
    waves = [ref.times_to_wave(times[i], Ts) for i in range(n)]
    lab = labels[:n]
    learned = _learned(spec)
    e = spec.encoder
    rows = []

    def add(phase, res, note=""):
        rows.append({"phase": phase, "state": state, "note": note, **res})

    holder = {}

    def setup():
        holder["ref"] = _spec_ref_copy(net0, device)
        holder["fast"] = m = _spec_model_from(net0, device)
        holder["state"] = {p.layer: learner(m, p.layer, phase=p) for p in learned}
        holder["ref"].begin_phase(None)

    # encoding (images -> first-spike times), with the spec's encoder
    imgs_dev = images[:n].to(device)

    def ref_encode():
        return [
            ref.encode_image(
                images[i].to(device),
                list(e.dog),
                e.padding,
                e.threshold,
                e.norm_radius,
                Ts,
                e.mode,
                e.tie_consistent,
            )
            for i in range(n)
        ]

    add(
        "encoding",
        timer.run(
            {
                "reference": (ref_encode, n),
                "fastspike_b1": (lambda: [enc(imgs_dev[i : i + 1]) for i in range(n)], n),
                "fastspike_batched": (lambda: enc(imgs_dev), n),
            }
        ),
        f"DoG bank of {e.channels} filters, padding {e.padding}",
    )

    # each learned phase in order; fastspike trains above the first conv on its cached input
    frozen = _spec_model_from(net0, device)  # the weights the cached inputs are computed with
    for phase in learned:
        first = phase.input_layer
        j = frozen.index(first)
        lower = [u.name for u in spec.units[:j]]
        rstdp = _is_rstdp(spec, phase)
        x = None if j == 0 else frozen.layer_input(first, times, training=True)

        def fast_train(bs, phase=phase, first=first, x=x, rstdp=rstdp):
            m = holder["fast"]
            xin = m.layer_input(first, times, training=True) if x is None else x
            train_epoch(
                m,
                phase.layer,
                xin,
                holder["state"][phase.layer],
                labels=lab if rstdp else None,
                batch_size=bs,
                phase=phase,
            )

        if rstdp:
            reference = (
                lambda phase=phase: [
                    holder["ref"].rstdp(w, int(y), phase=phase) for w, y in zip(waves, lab, strict=True)
                ],
                n,
            )
        else:
            reference = (lambda name=phase.layer: [holder["ref"].stdp_step(name, w) for w in waves], n)
        note = (
            ""
            if j == 0
            else (
                f"fastspike: {first} input cached (frozen {'-'.join(lower)} computed "
                "once per dataset); reference: lower layers run per sample"
            )
        )
        add(
            f"{phase.layer}{'+' + '+'.join(phase.joint) if phase.joint else ''} "
            f"{'R-STDP' if rstdp else 'STDP'} training",
            timer.run(
                {
                    "reference": reference,
                    "fastspike_b1": (lambda f=fast_train: f(1), n),
                    "fastspike_batched": (lambda f=fast_train: f(batch), n),
                },
                setup,
            ),
            note,
        )

    fast = _spec_model_from(net0, device)
    rnet = _spec_ref_copy(net0, device)
    convs = "-".join(c.name for c in spec.convs)
    if fast.is_decision:
        add(
            "inference",
            timer.run(
                {
                    "reference": (lambda: [rnet.predict(w) for w in waves], n),
                    "fastspike_b1": (lambda: [fast(times[i : i + 1]) for i in range(n)], n),
                    "fastspike_batched": (
                        lambda: torch.cat([fast(times[s : s + 256]) for s in range(0, n, 256)]),
                        n,
                    ),
                }
            ),
            f"encoded input -> class, {convs}",
        )
        return rows

    def features():
        return torch.cat([fast.features(times[s : s + 256]) for s in range(0, n, 256)])

    add(
        "feature extraction",
        timer.run(
            {
                "reference": (lambda: [rnet.features(w) for w in waves], n),
                "fastspike_b1": (lambda: [fast.features(times[i : i + 1]) for i in range(n)], n),
                "fastspike_batched": (features, n),
            }
        ),
        f"encoded input -> {fast.feature_size} features (spiked at all), {convs} (inference)",
    )

    # the linear readout, fitted on the features fastspike extracted (no reference contender)
    feats, y = features(), lab.to(device)
    ro = spec.readout
    max_iter = ro.max_iter if readout_max_iter is None else readout_max_iter
    add(
        READOUT_PHASE,
        timer.run(
            {
                "fastspike_batched": (
                    lambda: fit_linear(feats, y, spec.n_classes, ro.method, ro.C, max_iter),
                    n,
                ),
            }
        ),
        f"fit_linear ({ro.method}, C={ro.C:g}, max_iter={max_iter}) on the {n} feature vectors fastspike "
        "extracted; no reference contender (the reference has no readout)",
    )
    return rows


# --------------------------------------------------------------------------- operators
def _operator_rows(timer: Timer, device, B: int, images_l1, w1, w2) -> list[dict]:
    """The operators at batch size ``B`` (see :func:`bench_operators`)."""
    rows = []
    x1 = fastspike.layers.pad_times(Encoder(T=T)(images_l1[:B]), 2, T).to(device)
    w1d, w2d = w1.to(device), w2.to(device)
    t1, v1, p1 = fastspike.conv_fire(x1, w1d, T, 15.0, return_potentials=True)
    x2 = fastspike.layers.pad_times(fastspike.layers.pool_times(t1, 2, 2, 0, T), 1, T)
    t2, v2, _ = fastspike.conv_fire(x2, w2d, T, 10.0)
    waves2 = [ref.times_to_wave(x2[b], T) for b in range(B)]
    thr2 = [ref.fire(ref.conv_potentials(w, w2d), 10.0)[1] for w in waves2]
    ti2, vi2 = fastspike.pointwise_inhibition(t2, v2, T)
    thr2_inh = [ref.pointwise_inhibition(p) for p in thr2]
    win2 = fastspike.kwta(ti2, vi2, T, 8, 1)
    win2_list = [[tuple(r) for r in win2[b].tolist() if r[0] >= 0] for b in range(B)]
    out2 = [ref.times_to_wave(t2[b], T) for b in range(B)]
    lr = torch.tensor([[0.004, -0.003]], device=device).expand(B, 2).contiguous()
    p1_samples = [p1[b] for b in range(B)]
    wtmp = {}

    def setup_w():
        wtmp["f"], wtmp["r"] = w2d.clone(), w2d.clone()

    enc = Encoder(T=T)
    imgs = images_l1[:B].to(device)
    cases = {
        "encoding (DoG + norm + rank order)": {
            "reference": (lambda: [ref.encode_image(imgs[b], MOZAFARI_DOG) for b in range(B)], B),
            "fastspike": (lambda: enc(imgs), B),
        },
        "fire (S1, [B,15,30,28,28])": {
            "reference": (lambda: [ref.fire(p, 15.0) for p in p1_samples], B),
            "fastspike": (lambda: fastspike.fire(p1, 15.0, True), B),
        },
        "first_spike (S1, fused)": {
            "reference": (lambda: [ref.first_spike(*ref.fire(p, 15.0)) for p in p1_samples], B),
            "fastspike": (lambda: fastspike.first_spike(p1, 15.0), B),
        },
        "conv_fire (S2, 30->250, 3x3)": {
            "reference": (
                lambda: [ref.first_spike(*ref.fire(ref.conv_potentials(w, w2d), 10.0)) for w in waves2],
                B,
            ),
            "fastspike": (lambda: fastspike.conv_fire(x2, w2d, T, 10.0), B),
        },
        "pointwise_inhibition (S2, [B,250,14,14])": {
            "reference": (lambda: [ref.pointwise_inhibition(p) for p in thr2], B),
            "fastspike": (lambda: fastspike.pointwise_inhibition(t2, v2, T), B),
        },
        "kwta (S2, k=8, r=1)": {
            "reference": (lambda: [ref.get_k_winners(p, 8, 1) for p in thr2_inh], B),
            "fastspike": (lambda: fastspike.kwta(ti2, vi2, T, 8, 1), B),
        },
        "stdp_update (S2, 8 winners)": {
            "reference": (
                lambda: [
                    ref.stdp(wtmp["r"], waves2[b], out2[b], win2_list[b], lr[b], clamp_all=False)
                    for b in range(B)
                ],
                B,
            ),
            "fastspike": (
                lambda: fastspike.stdp_update(wtmp["f"], x2, t2, win2, lr, T, validate=False),
                B,
            ),
        },
    }
    for op, contenders in cases.items():
        res = timer.run(contenders, setup_w if op.startswith("stdp") else None)
        rows.append({"operator": op, "batch": B, **res})
    return rows


def bench_operators(timer: Timer, device, batches, images_l1, w1, w2) -> list[dict]:
    """Each operator on the Mozafari layers' shapes; the reference loops over samples."""
    rows = []
    for B in batches:
        rows += _operator_rows(timer, device, B, images_l1, w1, w2)
    return rows


# --------------------------------------------------------------------------- memory vs T
def bench_memory_vs_T(timer: Timer, images, device, net0, n: int) -> list[dict]:
    """Peak memory of batched inference at T = 15 and 30: the fast path keeps first-spike
    maps ([B, C, H, W] uint8) and never builds [B, T, C, H, W] potentials, so it must not grow with T."""
    rows = []
    for t in (15, 30):
        m = Mozafari2018(T=t, seed=0)
        for conv, w in zip(m.spiking_layers, net0.weights, strict=True):
            conv.weight.copy_(w)
        m = m.to(device)
        x = Encoder(T=t)(images[:n]).to(device)
        res = timer.run({"fastspike_batched": (functools.partial(m, x), n)})["fastspike_batched"]
        rows.append({"T": t, "batch": n, **res})
    return rows


def bench_spec_memory_vs_T(timer: Timer, images, device, net0: ref.ReferenceNetwork, n: int) -> list[dict]:
    """As :func:`bench_memory_vs_T` for any spec: batched inference (feature extraction for a
    linear-readout network) at T = 15 and 30."""
    rows = []
    for t in (15, 30):
        m = Network(net0.spec.replace(T=t), compat=net0.compat, seed=0)
        for name, w in net0.weights.items():
            m.conv(name).weight.copy_(w)
        m = m.to(device)
        x = m.encoder(images[:n]).to(device)
        fn = m if m.is_decision else m.features
        res = timer.run({"fastspike_batched": (functools.partial(fn, x), n)})["fastspike_batched"]
        rows.append({"T": t, "batch": n, **res})
    return rows


# --------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def _cell(x: dict | None) -> str:
    if x is None:
        return "-"
    return f"{_fmt(x['samples_per_s'])} ({_fmt(x['samples'] / x['max_s'])}-{_fmt(x['samples'] / x['min_s'])})"


def _ratio(x: dict | None, ref_: dict | None) -> str:
    return "-" if x is None or ref_ is None else f"{x['samples_per_s'] / ref_['samples_per_s']:.1f}x"


def _mem(r: dict, key: str, contenders: tuple[str, ...]) -> str:
    return " / ".join(f"{r[c][key]:.0f}" if c in r else "-" for c in contenders)


def markdown(result: dict) -> str:
    m = result["machine"]
    model = result.get("model", MOZAFARI)
    lines = [
        f"### fastspike benchmark, {model}: {m['device_name']} ({result['date']})",
        "",
        f"torch {m['torch']}, {m['cpu']}, {m['threads']} threads; {result['repeats']} repeats, "
        f"median (min-max) samples/s; ratio = fastspike / reference.",
        "",
    ]
    lines += [
        "| phase | weights | reference | fastspike B=1 "
        f"| fastspike batched (B={result['batch']}) | ratio B=1 | ratio batched |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["phases"]:
        ref_, b1, bb = r.get("reference"), r.get("fastspike_b1"), r.get("fastspike_batched")
        lines.append(
            f"| {r['phase']} | {r['state']} | {_cell(ref_)} | {_cell(b1)} | {_cell(bb)} | "
            f"{_ratio(b1, ref_)} | {_ratio(bb, ref_)} |"
        )
    all3 = ("reference", "fastspike_b1", "fastspike_batched")
    two = ("reference", "fastspike_batched")
    lines += [
        "",
        "Peak host memory of one call above what the process already held (MB; reference / "
        "B=1 / batched): "
        + "; ".join(
            f"{r['phase']} ({r['state']}) {_mem(r, 'peak_rss_delta_mb', all3)}" for r in result["phases"]
        ),
    ]
    if any("peak_cuda_delta_mb" in r.get("fastspike_batched", {}) for r in result["phases"]):
        lines += [
            "",
            "Peak CUDA memory of one call (MB; reference / batched): "
            + "; ".join(
                f"{r['phase']} ({r['state']}) {_mem(r, 'peak_cuda_delta_mb', two)}" for r in result["phases"]
            ),
        ]
    what = (
        "feature extraction"
        if any(r["phase"] == "feature extraction" for r in result["phases"])
        else "inference"
    )
    lines += [
        "",
        f"Batched {what}, peak host memory of one call above the process's (MB): "
        + ", ".join(
            f"T={r['T']}: {r['peak_rss_delta_mb']:.0f}"
            + (f" (CUDA {r['peak_cuda_delta_mb']:.0f})" if "peak_cuda_delta_mb" in r else "")
            + f" for {r['batch']} images"
            for r in result.get("memory_vs_T", [])
        ),
    ]
    notes = {}
    for r in result["phases"]:
        if r.get("note") and model != MOZAFARI:
            notes.setdefault(r["phase"], r["note"])
    if notes:
        lines += ["", "Notes: " + "; ".join(f"{k}: {v}" for k, v in notes.items()) + "."]
    if result["operators"]:
        lines += [
            "",
            "| operator | batch | reference samples/s | fastspike samples/s | ratio |",
            "|---|---|---|---|---|",
        ]
    for r in result["operators"]:
        lines.append(
            f"| {r['operator']} | {r['batch']} | {_fmt(r['reference']['samples_per_s'])} | "
            f"{_fmt(r['fastspike']['samples_per_s'])} | "
            f"{r['fastspike']['samples_per_s'] / r['reference']['samples_per_s']:.1f}x |"
        )
    lines += [
        "",
        "Trained weights: subnormal fraction "
        + ", ".join(f"{k} {v:.1%}" for k, v in result["trained_subnormal_fraction"].items()),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def _default_trained(spec: NetworkSpec, quick: bool) -> tuple[int, ...]:
    """Reference training samples per learned conv for the trained-weights state."""
    k = len(_learned(spec))
    if spec.name == MOZAFARI:
        return (64, 32, 32) if quick else (6000, 2000, 2000)
    return ((64,) + (32,) * (k - 1)) if quick else ((600,) + (300,) * (k - 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument(
        "--model",
        default=MOZAFARI,
        choices=sorted(MODELS),
        help="registered network to time (default: %(default)s)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="few samples and repeats (a smoke run)")
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        help="samples per end-to-end phase (default 512 for mozafari2018, 128 for the others, whose "
        "reference is slower per sample; --quick: 32)",
    )
    p.add_argument("--batch", type=int, default=64, help="batch size of the batched fastspike contender")
    p.add_argument(
        "--trained-samples",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="reference training samples per learned layer for the trained-weights state, one "
        "number per layer (mozafari2018: S1 S2 S3, default 6000 2000 2000; kheradpisheh2018: "
        "S1 S2, default 600 300; --quick: 64 then 32 per layer)",
    )
    p.add_argument(
        "--readout-max-iter",
        type=int,
        default=None,
        metavar="N",
        help="L-BFGS iterations of the timed linear readout fit (default: the spec's; linear readouts only)",
    )
    p.add_argument(
        "--operator-batches",
        type=int,
        nargs="+",
        default=None,
        metavar="B",
        help="batch sizes of the per-operator table (mozafari2018 only; default 1 64, --quick: 1 8)",
    )
    p.add_argument("--data", default=os.environ.get("FASTSPIKE_DATA", os.path.join("..", "shared", "data")))
    p.add_argument("--out", default=os.path.join("bench", "results"))
    p.add_argument(
        "--name",
        default=None,
        help="output file stem (default: <model>-<device>-<cpu slug>, '-quick' appended for --quick)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for every contender (default: torch's, one per core)",
    )
    args = p.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            p.error(f"--threads: expected a positive number of threads, got {args.threads}")
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = get_spec(args.model)
    learned = [p.layer for p in _learned(spec)]
    trained = tuple(args.trained_samples) if args.trained_samples else _default_trained(spec, args.quick)
    if len(trained) != len(learned):
        p.error(
            f"--trained-samples: {args.model} trains {len(learned)} layers ({', '.join(learned)}): "
            f"expected {len(learned)} numbers, got {len(trained)}"
        )
    if args.quick:
        n, repeats, batches = args.samples or 32, min(args.repeats, 2), (1, 8)
    else:
        n, repeats, batches = args.samples or (512 if args.model == MOZAFARI else 128), args.repeats, (1, 64)
    if args.batch < 1 or n < 1 or repeats < 1 or min(trained) < 0:
        p.error("--batch, --samples and --repeats must be positive (--trained-samples not negative)")
    if args.operator_batches is not None:
        batches = tuple(args.operator_batches)
        if min(batches) < 1:
            p.error("--operator-batches must be positive")
    if args.readout_max_iter is not None and args.readout_max_iter < 1:
        p.error("--readout-max-iter must be positive")

    train_set, _ = load_dataset("mnist", args.data, download=False)
    images, labels = train_set.images, train_set.labels
    timer = Timer(device, repeats)
    t_start = time.perf_counter()
    print(
        f"bench: {args.model}: training reference weights ({'/'.join(map(str, trained))} samples)...",
        flush=True,
    )
    if args.model == MOZAFARI:
        fresh = ref.ReferenceMozafari2018(mozafari2018(), seed=0)
        enc_train = Encoder(T=T)(images[: max(trained)])
        waves = [ref.times_to_wave(enc_train[i], T) for i in range(enc_train.shape[0])]
        trained_net = _trained_reference(waves, labels, *trained)
        weights = list(trained_net.weights)
    else:
        fresh = ref.ReferenceNetwork(spec, seed=0)
        enc_train = Network(spec, seed=0).encoder(images[: max(1, max(trained))])
        waves = [ref.times_to_wave(enc_train[i], spec.T) for i in range(enc_train.shape[0])]
        trained_net = _trained_spec_reference(spec, waves, labels, trained)
        weights = list(trained_net.weights.values())
    del waves, enc_train  # (the reference's training waves: ~280 KB per Mozafari sample)
    sub = {f"w{i + 1}": _subnormal_fraction(w) for i, w in enumerate(weights)}
    print(f"bench: subnormal weights after training: {sub}", flush=True)

    phases = []
    for state, net in (("fresh", fresh), ("trained", trained_net)):
        print(f"bench: end-to-end phases, {state} weights, {n} samples...", flush=True)
        if args.model == MOZAFARI:
            phases += bench_phases(timer, images, labels, device, n, args.batch, state, net)
        else:
            phases += bench_spec_phases(
                timer, images, labels, device, n, args.batch, state, net, args.readout_max_iter
            )
    print("bench: inference memory against T...", flush=True)
    if args.model == MOZAFARI:
        mem_rows = bench_memory_vs_T(timer, images, device, trained_net, min(n, 256))
        print("bench: operators...", flush=True)
        ops_rows = bench_operators(
            timer, device, batches, images[: max(batches)], trained_net.w1, trained_net.w2
        )
    else:
        mem_rows = bench_spec_memory_vs_T(timer, images, device, trained_net, min(n, 256))
        ops_rows = []  # the per-operator table is Mozafari 2018's layers only

    result = {
        "model": args.model,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "fastspike_with_cuda": fastspike.WITH_CUDA,
        },
        "quick": args.quick,
        "repeats": repeats,
        "samples": n,
        "batch": args.batch,
        "trained_samples": list(trained),
        "trained_subnormal_fraction": sub,
        "phases": phases,
        "operators": ops_rows,
        "memory_vs_T": mem_rows,
        "wall_s": time.perf_counter() - t_start,
    }
    if isinstance(spec.readout, LinearReadout):
        ro = spec.readout
        result["readout"] = {
            "method": ro.method,
            "C": ro.C,
            "max_iter": ro.max_iter if args.readout_max_iter is None else args.readout_max_iter,
        }
    os.makedirs(args.out, exist_ok=True)
    stem = args.name or result_stem(args.model, device, result["machine"]["cpu"]) + (
        "-quick" if args.quick else ""
    )
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    md = markdown(result)
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write(md)
    print(md)
    print(f"bench: wrote {os.path.join(args.out, stem)}.json/.md in {result['wall_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
