"""Mutation check: plant small bugs in the sources one at a time and make sure the tests fail.

    python scripts/mutation_check.py              # every mutation (about 15 minutes on 2 cores)
    python scripts/mutation_check.py --list       # the mutations
    python scripts/mutation_check.py --only M3,M7

Each mutation replaces one exact piece of a source file (a flipped comparison, a dropped
clamp, an off-by-one, the batch-start rate for a whole batch), rebuilds the C++ CPU
extension in place when a C++ file changed (``FORCE_CPU=1 python setup.py build_ext
--inplace``: incremental, only the mutated file recompiles), runs the tests that should
notice, and restores the file. A mutation that no test notices "survives". The report gives
the kill rate and every survivor; the exit status is 1 when any survives (or a mutation no
longer applies: the source changed and the list must follow). The extension is rebuilt from
the restored sources at the end; the working tree is left as it was.

This is slow (a rebuild and a test run per mutation), so it is not part of the default test
run; run it after changing a kernel or the trainer, and see the README for the last report.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class Mutation:
    key: str
    path: str
    old: str
    new: str
    tests: list[str]
    what: str
    occurrence: int = 0  # which occurrence of `old` (0 = the first)


OPS = [
    "tests/ops/test_conv_fire.py",
    "tests/test_layers.py",
    "tests/ops/test_final_potential.py",
]
MUTATIONS = [
    Mutation(
        "M1",
        "csrc/ops/cpu/conv_fire.cpp",
        "neuron::if_fires(fp[f] == never, a, th)",
        "(neuron::if_fires(fp[f] == never, a, th) | ((fp[f] == never) & (a == th)))",
        OPS,
        "conv_fire scatter path (T > 255): fire at P == theta",
    ),
    Mutation(
        "M2",
        "csrc/ops/cpu/conv_fire_gather.inc",
        "neuron::if_fires(fi[e] == never, acc[e], k.th)",
        "(neuron::if_fires(fi[e] == never, acc[e], k.th) | ((fi[e] == never) & (acc[e] == k.th)))",
        OPS,
        "conv_fire tiles path, generic / AVX2: fire at P == theta",
        0,
    ),
    Mutation(
        "M3",
        "csrc/ops/cpu/conv_fire_gather.inc",
        "neuron::if_fires(fi[e] == never, acc[e], k.th)",
        "(neuron::if_fires(fi[e] == never, acc[e], k.th) | ((fi[e] == never) & (acc[e] == k.th)))",
        OPS,
        "conv_fire direct path, generic / AVX2: fire at P == theta",
        1,
    ),
    Mutation(
        "M4",
        "csrc/ops/cpu/conv_fire_gather.inc",
        "neuron::if_fires(fx[e] == never, a, k.th)",
        "(neuron::if_fires(fx[e] == never, a, k.th) | ((fx[e] == never) & (a == k.th)))",
        OPS,
        "conv_fire rows path, generic / AVX2: fire at P == theta",
    ),
    Mutation(
        "M5",
        "csrc/ops/cpu/conv_fire_gather.inc",
        "neuron::if_fires(pending[e], a, k.th)",
        "(neuron::if_fires(pending[e], a, k.th) | (pending[e] & (a == k.th)))",
        OPS,
        "conv_fire wide path, generic / AVX2: fire at P == theta",
    ),
    *[
        Mutation(
            f"M{14 + i}",
            "csrc/ops/cpu/conv_fire_gather.inc",
            "_CMP_GT_OQ",
            "_CMP_GE_OQ",
            OPS,
            f"conv_fire {path} path, AVX-512: fire at P == theta",
            i,
        )
        for i, path in enumerate(("tiles", "direct", "rows", "wide"))
    ],
    Mutation(
        "M6",
        "csrc/ops/cpu/conv_fire.cpp",
        "acc[e] > 0.f",
        "acc[e] >= 0.f",
        OPS,
        "conv_fire without threshold: a silent neuron (P = 0) fires",
    ),
    Mutation(
        "M7",
        "csrc/ops/cpu/stdp_update.cpp",
        "if (!any && !clamp_all) continue;",
        "if (!any) continue;",
        ["tests/ops/test_stdp_update.py"],
        "stdp_update: no clamp for samples without winners",
    ),
    Mutation(
        "M8",
        "csrc/ops/cpu/stdp_update.cpp",
        "row[j] <= t_post",
        "row[j] < t_post",
        ["tests/ops/test_stdp_update.py"],
        "stdp_update: pre at the same step as post counts as LTD",
    ),
    Mutation(
        "M9",
        "csrc/ops/cpu/fire.cpp",
        "neuron::if_above(v, th)",
        "(neuron::if_above(v, th) | (v == th))",
        ["tests/ops/test_fire.py"],
        "fire: spike at P == theta",
    ),
    Mutation(
        "M10",
        "csrc/ops/cpu/kwta.cpp",
        "yy <= std::min(H - 1, y + radius)",
        "yy < std::min(H - 1, y + radius)",
        ["tests/ops/test_kwta.py"],
        "kwta: lateral inhibition misses the last row of the window",
    ),
    Mutation(
        "M11",
        "csrc/include/fastspike/math.h",
        "return w < lb ? lb : (w > ub ? ub : w);",
        "return w < lb ? lb : w;",
        ["tests/ops/test_stdp_update.py"],
        "STDP: no upper clamp",
    ),
    Mutation(
        "M12",
        "fastspike/rules/stdp.py",
        "conv.stdp(xg, tg, wg, lr_all[s:e], T)",
        "conv.stdp(xg, tg, wg, lr_all[s : s + 1].expand(e - s, 2), T)",
        ["tests/test_batched_oracle.py", "tests/test_model.py", "tests/test_networks.py"],
        "STDP training: the batch-start rate for every sample of a batch",
    ),
    Mutation(
        "M13",
        "fastspike/rules/rstdp.py",
        "e = min(n, s + batch_size, s + chunk - state.chunk_seen)",
        "e = min(n, s + batch_size)",
        ["tests/test_batched_oracle.py", "tests/test_model.py", "tests/test_networks.py"],
        "R-STDP training: a batch may straddle the chunk boundary of the adaptive rates",
    ),
    Mutation(
        "M18",
        "csrc/ops/cpu/stdp_update.cpp",
        "ScopedFlushDenormal ftz;",
        "",
        ["tests/test_model.py"],
        "stdp_update keeps subnormal weights instead of flushing them to zero",
    ),
    Mutation(
        "M19",
        "csrc/ops/cpu/final_potential.cpp",
        "fr.L = int64_t{1} << (31 - bits);",
        "fr.L = int64_t{1} << (32 - bits);",
        ["tests/ops/test_final_potential.py"],
        "final_potential fixed point: twice the rows per int32 partial sum (overflow)",
    ),
    Mutation(
        "M20",
        "csrc/ops/cpu/final_potential.cpp",
        "const v16u keep = e >= e_min;",
        "const v16u keep = e > e_min;",
        ["tests/ops/test_final_potential.py"],
        "final_potential fixed point: the weights of the lowest binade become 0",
    ),
    Mutation(
        "M21",
        "csrc/ops/cpu/final_potential.cpp",
        "for (int f = 0; f < 16 * NV; ++f) acc[f] -= part[f];",
        "for (int f = 0; f < 16 * NV; ++f) acc[f] += part[f];",
        ["tests/ops/test_final_potential.py"],
        "final_potential fixed point: the complement's rows added instead of subtracted",
    ),
    Mutation(
        "M22",
        "fastspike/network.py",
        "other = torch.where(fb >= 0, fb, first_vote)",
        "other = first_vote",
        ["tests/test_zoo.py"],
        "majority vote: without a majority the first head decides, not the fallback head",
    ),
    Mutation(
        "M23",
        "fastspike/rules/rstdp.py",
        "return self.names[self.chunks % L]",
        "return self.names[(self.chunks + 1) % L]",
        ["tests/test_zoo.py"],
        "alternate_chunks schedule: the decision layer learns first",
    ),
    Mutation(
        "M24",
        "fastspike/network.py",
        "return F.pad(x, (p,) * 4, value=fill) if p else x",
        "return F.pad(x, (0, 2 * p, 0, 2 * p), value=fill) if p else x",
        ["tests/test_zoo_reference.py"],
        "parallel branches padded in the corner instead of centred",
    ),
    Mutation(
        "M25",
        "fastspike/rules/rstdp.py",
        'return self.model.spec.readout.adapt != "majority"',
        'return self.model.spec.readout.adapt != "head"',
        ["tests/test_zoo.py"],
        "vote network: adapt='head' rescales every head from the vote's counts (and 'majority' per head)",
    ),
    Mutation(
        "M28",
        "csrc/include/fastspike/neuron.h",
        "inline bool if_above(float p, float th) { return p > th; }",
        "inline bool if_above(float p, float th) { return p >= th; }",
        ["tests/ops/test_fire.py", "tests/ops/test_first_spike.py"],
        "the one integrate-and-fire rule: spike at P == theta",
    ),
    Mutation(
        "M26",
        "fastspike/distributed.py",
        "return stacked[q, i // W - first[q]]",
        "return stacked[q, i // W - first[0]]",
        ["tests/test_distributed.py::test_gather_puts_every_rank_s_rows_in_sample_order"],
        "data-parallel gather: every rank's rows offset by rank 0's first row (samples out of order)",
    ),
    Mutation(
        "M27",
        "fastspike/distributed.py",
        "t_out[bb[has], f[has], 0, slot[has] * kw] = tpost[has].to(tdt)",
        "t_out[bb[has], f[has], 0, slot[has] * kw] = tpost[has].to(tdt).clamp_min(1)",
        ["tests/test_distributed.py::test_canvases_give_the_same_update"],
        "data-parallel exchange: a winner's post time 0 arrives as 1 (LTP/LTD flips at t_pre = 1)",
    ),
    Mutation(
        "M29",
        "csrc/ops/cpu/diehl_cook_sim.inc",
        "math::mul_rn(p.w_ie, static_cast<float>(inh - si[j]))",
        "math::mul_rn(p.w_ie, static_cast<float>(inh))",
        ["tests/ops/test_diehl_cook.py::test_learning_matches_the_reference_over_several_calls"],
        "Diehl & Cook: an inhibitory neuron also inhibits its own excitatory neuron",
    ),
    Mutation(
        "M30",
        "csrc/ops/cpu/diehl_cook_sim.inc",
        "static_cast<uint32_t>(tg / 4), static_cast<uint32_t>(g),",
        "static_cast<uint32_t>(t / 4), static_cast<uint32_t>(g),",
        ["tests/ops/test_diehl_cook.py::test_retry_rule_matches_the_reference_and_brightens"],
        "Diehl & Cook: a retry draws its Poisson input from the first presentation's counters",
    ),
]


def _apply(m: Mutation) -> str:
    path = os.path.join(ROOT, m.path)
    with open(path) as f:
        src = f.read()
    starts, i = [], src.find(m.old)
    while i >= 0:
        starts.append(i)
        i = src.find(m.old, i + 1)
    if len(starts) <= m.occurrence:
        raise LookupError(
            f"{m.key}: {m.old!r} occurs {len(starts)} times in {m.path} (wanted occurrence {m.occurrence})"
        )
    at = starts[m.occurrence]
    with open(path, "w") as f:
        f.write(src[:at] + m.new + src[at + len(m.old) :])
    return src


def _build() -> None:
    env = {**os.environ, "FORCE_CPU": "1", "MAX_JOBS": os.environ.get("MAX_JOBS", "2")}
    r = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"build failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def _tests_fail(tests: list[str]) -> tuple[bool, str]:
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    last = (r.stdout.strip().splitlines() or [""])[-1]
    return r.returncode != 0, last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=None, help="comma-separated mutation keys")
    p.add_argument("--list", action="store_true", help="print the mutations and exit")
    args = p.parse_args(argv)
    muts = MUTATIONS
    if args.only:
        keys = args.only.split(",")
        unknown = sorted(set(keys) - {m.key for m in MUTATIONS})
        if unknown:
            p.error(f"--only: unknown mutations {unknown}")
        muts = [m for m in MUTATIONS if m.key in keys]
    if args.list:
        for m in muts:
            print(f"{m.key:4s} {m.path}: {m.what}")
        return 0
    rows, survivors, stale = [], [], []
    for m in muts:
        t0 = time.perf_counter()
        try:
            original = _apply(m)
        except LookupError as err:
            stale.append(str(err))
            print(f"{m.key}: STALE ({err})", flush=True)
            continue
        path = os.path.join(ROOT, m.path)
        try:
            if not m.path.endswith(".py"):
                _build()
            killed, last = _tests_fail(m.tests)
        finally:
            with open(path, "w") as f:
                f.write(original)
        status = "killed" if killed else "SURVIVED"
        if not killed:
            survivors.append(m)
        rows.append((m, status, last, time.perf_counter() - t0))
        print(f"{m.key}: {status} in {time.perf_counter() - t0:.0f} s: {m.what} ({last})", flush=True)
    if any(not m.path.endswith(".py") for m in muts):
        _build()  # the restored sources
    n = len(rows)
    print(
        f"\nmutation check: {n - len(survivors)} of {n} killed"
        + (f"; survivors: {', '.join(m.key for m in survivors)}" if survivors else "")
        + (f"; {len(stale)} no longer apply" if stale else "")
    )
    for m in survivors:
        print(f"  {m.key} {m.path}: {m.what}")
    return 1 if survivors or stale else 0


if __name__ == "__main__":
    sys.exit(main())
