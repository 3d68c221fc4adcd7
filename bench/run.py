"""Throughput of fastspike against the pure-torch reference, per operator and end to end.

    python -m bench [--device cpu|cuda] [--repeats 5] [--quick] [--out bench/results] [--data ../shared/data]

Contenders are interleaved inside every repeat, after a warm-up call, and each
figure is the median (with min and max) of the repeats; on CUDA every timing is
synchronised. End-to-end phases run on real MNIST in the fixed training order,
both with freshly initialised weights and with trained weights (the reference's
own layer-1/2 schedule run over real samples, which drives many weights to
subnormal floats). Peak host memory (RSS) is measured per contender during its
warm-up call: the allocator's free memory is first handed back to the OS
(glibc malloc_trim), then the kernel's high-water mark is reset, and the figure
is the peak above the RSS before the call; on CUDA, peak device memory too.
Writes a JSON file and a Markdown table.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import time

import torch

import fastspike
from fastspike import reference as ref
from fastspike.data import load_dataset
from fastspike.encoding import Encoder
from fastspike.models import Mozafari2018
from fastspike.train import RSTDPState, Schedule, _Progress, _train_rstdp_epoch, _train_stdp_epoch

T = 15


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
            mem[name] = {"peak_rss_mb": round(_rss_mb("VmHWM"), 1),
                         "peak_rss_delta_mb": round(max(0.0, _rss_mb("VmHWM") - base), 1)}
            if self.device.type == "cuda":
                mem[name]["peak_cuda_delta_mb"] = round(
                    (torch.cuda.max_memory_allocated(self.device) - base_cuda) / 2**20, 1)
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
        for name, (fn, n) in contenders.items():
            ts = times[name]
            out[name] = {
                "samples": n, "repeats": len(ts),
                "median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
                "samples_per_s": n / statistics.median(ts), **mem[name],
            }
        return out


# --------------------------------------------------------------------------- weights
def _subnormal_fraction(w: torch.Tensor) -> float:
    a = w.abs()
    return float(((a > 0) & (a < torch.finfo(torch.float32).tiny)).float().mean())


def _trained_reference(waves, labels, n1: int, n2: int, n3: int) -> ref.ReferenceMozafari2018:
    """Trained weights as a Python-loop simulator produces them (no flush-to-zero):
    the reference's own S1/S2 STDP schedule and R-STDP over real samples."""
    net = ref.ReferenceMozafari2018(seed=0)
    for i in range(n1):
        net.stdp1(waves[i % len(waves)])
    for i in range(n2):
        net.stdp2(waves[i % len(waves)])
    for i in range(n3):
        net.rstdp(waves[i % len(waves)], int(labels[i % len(waves)]))
    return net


def _model_from(net: ref.ReferenceMozafari2018, device) -> Mozafari2018:
    m = Mozafari2018(seed=0)
    for conv, w in zip(m.spiking_layers, net.weights):
        conv.weight.copy_(w)
    return m.to(device)


def _ref_copy(net: ref.ReferenceMozafari2018, device) -> ref.ReferenceMozafari2018:
    r = ref.ReferenceMozafari2018(seed=0)
    r.w1, r.w2, r.w3 = (w.clone() for w in net.weights)
    return r.to(device)


# --------------------------------------------------------------------------- end to end
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

    # fresh objects per call so that every timed call starts from the same weights
    holder = {}

    def setup():
        holder["ref"] = _ref_copy(net0, device)
        holder["fast"] = _model_from(net0, device)
        holder["prog"] = _Progress()

    # encoding (images -> first-spike times)
    imgs_dev = images[:n].to(device)
    add("encoding", timer.run({
        "reference": (lambda: [ref.encode_image(images[i].to(device)) for i in range(n)], n),
        "fastspike_b1": (lambda: [enc(imgs_dev[i:i + 1]) for i in range(n)], n),
        "fastspike_batched": (lambda: enc(imgs_dev), n),
    }))

    # S1 STDP
    def fast_s1(bs):
        m = holder["fast"]
        _train_stdp_epoch(m, 1, m.layer_input(1, times), holder["prog"], bs, False, "")

    add("S1 STDP training", timer.run({
        "reference": (lambda: [holder["ref"].stdp1(w) for w in waves], n),
        "fastspike_b1": (lambda: fast_s1(1), n),
        "fastspike_batched": (lambda: fast_s1(batch), n),
    }, setup))

    # S2 STDP: fastspike trains on its cached S1 output (computed once, as train_mnist does)
    x2 = _model_from(net0, device).layer_input(2, times)

    def fast_s2(bs):
        _train_stdp_epoch(holder["fast"], 2, x2, holder["prog"], bs, False, "")

    add("S2 STDP training", timer.run({
        "reference": (lambda: [holder["ref"].stdp2(w) for w in waves], n),
        "fastspike_b1": (lambda: fast_s2(1), n),
        "fastspike_batched": (lambda: fast_s2(batch), n),
    }, setup), "fastspike: S2 input cached (frozen S1 computed once per dataset)")

    # S3 R-STDP: fastspike on cached S3 input
    x3 = _model_from(net0, device).layer_input(3, times)

    def fast_s3(bs):
        holder["prog"].rstdp = RSTDPState()
        _train_rstdp_epoch(holder["fast"], x3, lab, holder["prog"], Schedule(batch_size=bs), False, "")

    add("S3 R-STDP training", timer.run({
        "reference": (lambda: [holder["ref"].rstdp(w, int(y)) for w, y in zip(waves, lab)], n),
        "fastspike_b1": (lambda: fast_s3(1), n),
        "fastspike_batched": (lambda: fast_s3(batch), n),
    }, setup), "fastspike: S3 input cached (frozen S1-S2 computed once per dataset)")

    # inference: encoded times -> decision, whole network
    fast = _model_from(net0, device)
    rnet = _ref_copy(net0, device)
    add("inference", timer.run({
        "reference": (lambda: [rnet.predict(w) for w in waves], n),
        "fastspike_b1": (lambda: [fast(times[i:i + 1]) for i in range(n)], n),
        "fastspike_batched": (lambda: torch.cat([fast(times[s:s + 256]) for s in range(0, n, 256)]), n),
    }), "encoded input -> class, all three layers")
    return rows


# --------------------------------------------------------------------------- operators
def bench_operators(timer: Timer, device, batches, images_l1, w1, w2) -> list[dict]:
    """Each operator on the Mozafari layers' shapes; the reference loops over samples."""
    rows = []
    for B in batches:
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
                "reference": (lambda: [ref.encode_image(imgs[b]) for b in range(B)], B),
                "fastspike": (lambda: enc(imgs), B)},
            "fire (S1, [B,15,30,28,28])": {
                "reference": (lambda: [ref.fire(p, 15.0) for p in p1_samples], B),
                "fastspike": (lambda: fastspike.fire(p1, 15.0, True), B)},
            "first_spike (S1, fused)": {
                "reference": (lambda: [ref.first_spike(*ref.fire(p, 15.0)) for p in p1_samples], B),
                "fastspike": (lambda: fastspike.first_spike(p1, 15.0), B)},
            "conv_fire (S2, 30->250, 3x3)": {
                "reference": (lambda: [ref.first_spike(*ref.fire(ref.conv_potentials(w, w2d), 10.0)) for w in waves2], B),
                "fastspike": (lambda: fastspike.conv_fire(x2, w2d, T, 10.0), B)},
            "pointwise_inhibition (S2, [B,250,14,14])": {
                "reference": (lambda: [ref.pointwise_inhibition(p) for p in thr2], B),
                "fastspike": (lambda: fastspike.pointwise_inhibition(t2, v2, T), B)},
            "kwta (S2, k=8, r=1)": {
                "reference": (lambda: [ref.get_k_winners(p, 8, 1) for p in thr2_inh], B),
                "fastspike": (lambda: fastspike.kwta(ti2, vi2, T, 8, 1), B)},
            "stdp_update (S2, 8 winners)": {
                "reference": (lambda: [ref.stdp(wtmp["r"], waves2[b], out2[b], win2_list[b], lr[b], clamp_all=False)
                                       for b in range(B)], B),
                "fastspike": (lambda: fastspike.stdp_update(wtmp["f"], x2, t2, win2, lr, T, validate=False), B)},
        }
        for op, contenders in cases.items():
            res = timer.run(contenders, setup_w if op.startswith("stdp") else None)
            rows.append({"operator": op, "batch": B, **res})
    return rows


# --------------------------------------------------------------------------- memory vs T
def bench_memory_vs_T(timer: Timer, images, device, net0, n: int) -> list[dict]:
    """Peak memory of batched inference at T = 15 and 30: the fast path keeps first-spike
    maps ([B, C, H, W] uint8) and never builds [B, T, C, H, W] potentials, so it must not grow with T."""
    rows = []
    for t in (15, 30):
        m = Mozafari2018(T=t, seed=0)
        for conv, w in zip(m.spiking_layers, net0.weights):
            conv.weight.copy_(w)
        m = m.to(device)
        x = Encoder(T=t)(images[:n]).to(device)
        res = timer.run({"fastspike_batched": (lambda: m(x), n)})["fastspike_batched"]
        rows.append({"T": t, "batch": n, **res})
    return rows


# --------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"### fastspike benchmark: {m['device_name']} ({result['date']})", "",
             f"torch {m['torch']}, {m['cpu']}, {m['threads']} threads; {result['repeats']} repeats, "
             f"median (min-max) samples/s; ratio = fastspike / reference.", ""]
    lines += ["| phase | weights | reference | fastspike B=1 | fastspike batched (B=%d) | ratio B=1 | ratio batched |"
              % result["batch"], "|---|---|---|---|---|---|---|"]
    for r in result["phases"]:
        ref_, b1, bb = r["reference"], r["fastspike_b1"], r["fastspike_batched"]
        cell = lambda x: f"{_fmt(x['samples_per_s'])} ({_fmt(x['samples'] / x['max_s'])}-{_fmt(x['samples'] / x['min_s'])})"  # noqa: E731
        lines.append(f"| {r['phase']} | {r['state']} | {cell(ref_)} | {cell(b1)} | {cell(bb)} | "
                     f"{b1['samples_per_s'] / ref_['samples_per_s']:.1f}x | {bb['samples_per_s'] / ref_['samples_per_s']:.1f}x |")
    lines += ["", "Peak host memory of one call above what the process already held (MB; reference / "
              "B=1 / batched): " + "; ".join(
                  f"{r['phase']} ({r['state']}) {r['reference']['peak_rss_delta_mb']:.0f} / "
                  f"{r['fastspike_b1']['peak_rss_delta_mb']:.0f} / {r['fastspike_batched']['peak_rss_delta_mb']:.0f}"
                  for r in result["phases"])]
    if any("peak_cuda_delta_mb" in r["reference"] for r in result["phases"]):
        lines += ["", "Peak CUDA memory of one call (MB; reference / batched): " + "; ".join(
            f"{r['phase']} ({r['state']}) {r['reference']['peak_cuda_delta_mb']:.0f} / "
            f"{r['fastspike_batched']['peak_cuda_delta_mb']:.0f}" for r in result["phases"])]
    lines += ["", "Batched inference, peak host memory of one call above the process's (MB): " + ", ".join(
        f"T={r['T']}: {r['peak_rss_delta_mb']:.0f}" + (f" (CUDA {r['peak_cuda_delta_mb']:.0f})" if "peak_cuda_delta_mb" in r else "")
        + f" for {r['batch']} images" for r in result.get("memory_vs_T", []))]
    lines += ["", "| operator | batch | reference samples/s | fastspike samples/s | ratio |", "|---|---|---|---|---|"]
    for r in result["operators"]:
        lines.append(f"| {r['operator']} | {r['batch']} | {_fmt(r['reference']['samples_per_s'])} | "
                     f"{_fmt(r['fastspike']['samples_per_s'])} | "
                     f"{r['fastspike']['samples_per_s'] / r['reference']['samples_per_s']:.1f}x |")
    lines += ["", "Trained weights: subnormal fraction " + ", ".join(
        f"{k} {v:.1%}" for k, v in result["trained_subnormal_fraction"].items()), ""]
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="few samples and repeats (a smoke run)")
    p.add_argument("--samples", type=int, default=None, help="samples per end-to-end phase")
    p.add_argument("--batch", type=int, default=64, help="batch size of the batched fastspike contender")
    p.add_argument("--trained-samples", type=int, nargs=3, default=None, metavar=("N1", "N2", "N3"),
                   help="reference training samples per layer for the trained-weights state")
    p.add_argument("--data", default=os.environ.get("FASTSPIKE_DATA", os.path.join("..", "shared", "data")))
    p.add_argument("--out", default=os.path.join("bench", "results"))
    p.add_argument("--name", default=None, help="output file stem (default: date and device)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        n, repeats, trained, batches = args.samples or 32, min(args.repeats, 2), args.trained_samples or (64, 32, 32), (1, 8)
    else:
        n, repeats, trained, batches = args.samples or 512, args.repeats, args.trained_samples or (6000, 2000, 2000), (1, 64)
    if args.batch < 1 or n < 1 or repeats < 1:
        p.error("--batch, --samples and --repeats must be positive")

    train, _ = load_dataset("mnist", args.data, download=False)
    images, labels = train.images, train.labels
    timer = Timer(device, repeats)
    t_start = time.perf_counter()

    fresh = ref.ReferenceMozafari2018(seed=0)
    enc_train = Encoder(T=T)(images[: max(trained)])
    waves = [ref.times_to_wave(enc_train[i], T) for i in range(enc_train.shape[0])]
    print(f"bench: training reference weights ({trained[0]}/{trained[1]}/{trained[2]} samples)...", flush=True)
    trained_net = _trained_reference(waves, labels, *trained)
    del waves, enc_train  # (the reference's training waves: ~280 KB per sample)
    sub = {f"w{i + 1}": _subnormal_fraction(w) for i, w in enumerate(trained_net.weights)}
    print(f"bench: subnormal weights after training: {sub}", flush=True)

    phases = []
    for state, net in (("fresh", fresh), ("trained", trained_net)):
        print(f"bench: end-to-end phases, {state} weights, {n} samples...", flush=True)
        phases += bench_phases(timer, images, labels, device, n, args.batch, state, net)
    print("bench: operators...", flush=True)
    print("bench: inference memory against T...", flush=True)
    mem_rows = bench_memory_vs_T(timer, images, device, trained_net, min(n, 256))
    ops_rows = bench_operators(timer, device, batches, images[: max(batches)], trained_net.w1,
                               trained_net.w2)

    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
            "cpu": _cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "fastspike_with_cuda": fastspike.WITH_CUDA,
        },
        "quick": args.quick, "repeats": repeats, "samples": n, "batch": args.batch,
        "trained_samples": list(trained), "trained_subnormal_fraction": sub,
        "phases": phases, "operators": ops_rows, "memory_vs_T": mem_rows, "wall_s": time.perf_counter() - t_start,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = args.name or f"{_dt.date.today().isoformat()}-{device.type}{'-quick' if args.quick else ''}"
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
