"""Mutation check: plant small bugs in the sources one at a time and make sure the tests fail.

    python scripts/mutation_check.py              # every mutation
    python scripts/mutation_check.py --list       # the mutations
    python scripts/mutation_check.py --only M3,M7
    python scripts/mutation_check.py --find-first # every whole list; prints FIRST's entries

Each mutation replaces one exact piece of a source file (a flipped comparison, a dropped
clamp, an off-by-one, the batch-start rate for a whole batch), rebuilds the extension in
place when a C++ file changed (``python setup.py build_ext --inplace``, incremental: only
what includes the mutated file recompiles; the C++ CPU extension, or with FORCE_CUDA=1 the
CUDA build with its CUDA objects linked unchanged), runs the tests that should notice, and
restores the file. The test that killed it last time (FIRST below) runs first, alone; only
when it does not fail does the mutation's whole list run. A mutation that no test notices
"survives". The report gives the kill rate and every survivor; the exit status is 1 when any
survives (or a mutation no longer applies: the source changed and the list must follow).
The C++ mutations run first, grouped by file; the extension is then rebuilt from the
restored sources and the Python mutations run on it; the working tree is left as it was.

It is not part of the default test run; run it after changing a kernel or the trainer (CI
runs it; docs/development.md describes it).
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
    "tests/layers/test_layers.py",
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
        [
            "tests/training/test_batched_oracle.py",
            "tests/networks/test_model.py",
            "tests/networks/test_networks.py",
        ],
        "STDP training: the batch-start rate for every sample of a batch",
    ),
    Mutation(
        "M13",
        "fastspike/rules/rstdp.py",
        "e = min(n, s + batch_size, s + chunk - state.chunk_seen)",
        "e = min(n, s + batch_size)",
        [
            "tests/training/test_batched_oracle.py",
            "tests/networks/test_model.py",
            "tests/networks/test_networks.py",
        ],
        "R-STDP training: a batch may straddle the chunk boundary of the adaptive rates",
    ),
    Mutation(
        "M18",
        "csrc/ops/cpu/stdp_update.cpp",
        "ScopedFlushDenormal ftz;",
        "",
        ["tests/networks/test_model.py"],
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
        ["tests/networks/test_zoo.py"],
        "majority vote: without a majority the first head decides, not the fallback head",
    ),
    Mutation(
        "M23",
        "fastspike/rules/rstdp.py",
        "return self.names[self.chunks % L]",
        "return self.names[(self.chunks + 1) % L]",
        ["tests/networks/test_zoo.py"],
        "alternate_chunks schedule: the decision layer learns first",
    ),
    Mutation(
        "M24",
        "fastspike/network.py",
        "return F.pad(x, (p,) * 4, value=fill) if p else x",
        "return F.pad(x, (0, 2 * p, 0, 2 * p), value=fill) if p else x",
        ["tests/networks/test_zoo_reference.py"],
        "parallel branches padded in the corner instead of centred",
    ),
    Mutation(
        "M25",
        "fastspike/rules/rstdp.py",
        'return self.model.spec.readout.adapt != "majority"',
        'return self.model.spec.readout.adapt != "head"',
        ["tests/networks/test_zoo.py"],
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
        ["tests/training/test_distributed.py::test_gather_puts_every_rank_s_rows_in_sample_order"],
        "data-parallel gather: every rank's rows offset by rank 0's first row (samples out of order)",
    ),
    Mutation(
        "M27",
        "fastspike/distributed.py",
        "t_out[bb[has], f[has], 0, slot[has] * kw] = tpost[has].to(tdt)",
        "t_out[bb[has], f[has], 0, slot[has] * kw] = tpost[has].to(tdt).clamp_min(1)",
        ["tests/training/test_distributed.py::test_canvases_give_the_same_update"],
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


# The test that killed each mutation in the last full run, found with --find-first (a node id;
# its folder is not part of it: the file is looked up by name under tests/, so tests can
# move). The check runs it first, alone: a mutation it kills costs one short pytest run instead
# of its whole list. When it does not fail (renamed, or no longer broken by the mutation) the
# mutation's whole list runs as before, so a stale entry here costs time, never a kill; before
# the first mutation they all run once on the unmutated sources and must pass (otherwise none
# is used). --whole-lists ignores them.
FIRST: dict[str, str] = {
    "M1": "test_conv_fire.py::test_conv_fire_int16_times_and_noncontiguous",
    "M2": "test_conv_fire.py::test_conv_fire_every_isa_matches_the_reference[generic]",
    "M3": "test_conv_fire.py::test_conv_fire_every_isa_matches_the_reference[generic]",
    "M4": "test_conv_fire.py::test_conv_fire_every_isa_matches_the_reference[generic]",
    "M5": "test_conv_fire.py::test_conv_fire_every_isa_matches_the_reference[generic]",
    "M14": (
        "test_conv_fire.py::test_conv_fire_gather_path_bitwise_equals_scatter_path"
        "[3-30-16-16-250-3-10.0-0.4-1.3]"
    ),
    "M15": (
        "test_conv_fire.py::test_conv_fire_exact_threshold_hits_and_silent_neurons"
        "[1-30-10-10-70-3-3.0-True-2]"
    ),
    "M16": "test_conv_fire.py::test_conv_fire_matches_reference_exactly[3-6-12-12-7-5-15-3.0]",
    "M17": (
        "test_conv_fire.py::test_conv_fire_gather_path_bitwise_equals_scatter_path"
        "[3-30-16-16-250-3-10.0-0.4-1.3]"
    ),
    "M6": (
        "test_conv_fire.py::test_conv_fire_exact_threshold_hits_and_silent_neurons"
        "[2-12-8-8-50-5-None-False-1]"
    ),
    "M7": "test_stdp_update.py::test_stdp_clamp_all_clamps_samples_without_winners[cpu]",
    "M8": "test_stdp_update.py::test_stdp_matches_sequential_reference[1-True-0.0-1.0-False]",
    "M9": "test_fire.py::test_fire_matches_reference[3-15-shape0-0.0]",
    "M10": "test_kwta.py::test_kwta_matches_reference[True-5-3-False]",
    "M11": "test_stdp_update.py::test_stdp_matches_sequential_reference[1-False-0.2-0.8-True]",
    "M12": "test_batched_oracle.py::test_batched_stdp_equals_the_reference_oracle[False]",
    "M13": "test_batched_oracle.py::test_batched_rstdp_equals_the_reference_oracle",
    "M18": "test_model.py::test_batch_size_one_from_subnormal_weights_through_train_mnist",
    "M19": (
        "test_final_potential.py::test_final_potential_is_the_rounded_exact_sum"
        "[dtype0-4-250-4-4-200-5-2-0.01]"
    ),
    "M20": (
        "test_final_potential.py::test_final_potential_is_the_rounded_exact_sum"
        "[dtype0-4-250-4-4-200-5-2-0.01]"
    ),
    "M21": (
        "test_final_potential.py::test_final_potential_is_the_rounded_exact_sum[dtype0-3-7-6-6-10-4-0-0.5]"
    ),
    "M22": "test_zoo.py::test_majority_vote_hand_made_cases",
    "M23": "test_zoo.py::test_joint_schedules_say_who_learns_in_which_chunk[alternate_chunks]",
    "M24": "test_zoo_reference.py::test_zoo_batch_one_equals_reference[inception2024-clean-24]",
    "M25": "test_zoo.py::test_head_rates_adapt_by_own_or_majority_counts",
    "M28": "test_fire.py::test_fire_matches_reference[3-15-shape0-0.0]",
    "M26": "test_distributed.py::test_gather_puts_every_rank_s_rows_in_sample_order",
    "M27": "test_distributed.py::test_canvases_give_the_same_update[15-dtype0-3-True-0.0-1.0-False]",
    "M29": "test_diehl_cook.py::test_learning_matches_the_reference_over_several_calls[0]",
    "M30": "test_diehl_cook.py::test_retry_rule_matches_the_reference_and_brightens",
}


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


def _cuda_build() -> bool:
    """Whether the rebuilds are CUDA builds: when the caller builds with FORCE_CUDA=1 (CI does)."""
    on = ("1", "true", "yes", "on")
    return (
        os.environ.get("FORCE_CUDA", "0").lower() in on and os.environ.get("FORCE_CPU", "0").lower() not in on
    )


def _build(first: bool = False) -> None:
    """Rebuild the extension in place; incremental (setup.py keeps its objects under build/),
    so only what includes the mutated (or just restored) file recompiles.

    Without FORCE_CUDA=1 it is the C++ CPU extension (FORCE_CPU=1). With it, the CUDA build
    the caller made: its first build here brings every object up to date (nothing to do right
    after ``pip install -e .``), the later ones recompile the C++ sources only and link the
    CUDA objects unchanged (FASTSPIKE_KEEP_CUDA_OBJECTS=1; the tests of the planted bugs run
    the CPU kernels), so the CPU build's own full compile is not needed either.
    """
    # This Python's own tools first on PATH (its ninja): a build with another ninja than the last
    # one cannot read that one's log and recompiles everything.
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "MAX_JOBS": os.environ.get("MAX_JOBS", "2"), "PATH": path}
    if not _cuda_build():
        env["FORCE_CPU"] = "1"
    elif not first:
        env["FASTSPIKE_KEEP_CUDA_OBJECTS"] = "1"
    r = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"build failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def _order(muts: list[Mutation]) -> list[Mutation]:
    """The C++ mutations grouped by file, the shared headers last: a restored file recompiles
    together with the next mutation of the same file, and a header's restore (which recompiles
    every file that includes it) with the next header mutation or the final rebuild instead of
    once more in between (math.h before neuron.h, which includes it)."""
    cpp = [m for m in muts if not m.path.endswith(".py")]
    return sorted(cpp, key=lambda m: (m.path.startswith("csrc/include/"), m.path))  # stable


def _find_test(node: str) -> str | None:
    """tests/<any folder>/<file>[::<name>] for FIRST's <file>[::<name>], or None."""
    file, sep, rest = node.partition("::")
    hits = [
        os.path.relpath(os.path.join(d, file), ROOT)
        for d, _, files in os.walk(os.path.join(ROOT, "tests"))
        if file in files
    ]
    return f"{hits[0]}{sep}{rest}" if len(hits) == 1 else None


def _pytest(tests: list[str]) -> tuple[int, str, list[str]]:
    """pytest's exit status, its last line and the node ids that failed (or failed to load)."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rfE", *tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = r.stdout.strip().splitlines()
    failed = [ln.split()[1] for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    return r.returncode, (lines or [""])[-1], failed


def _tests_fail(m: Mutation, first: str | None) -> tuple[bool, str, list[str]]:
    """Whether the tests notice the mutation (its FIRST test, else its whole list), how, and
    the test that failed."""
    if first:
        rc, last, failed = _pytest([first])
        if rc in (1, 2):  # a test failed, or collecting one did (a Python mutation)
            return True, last, failed or [first]
        print(
            f"  {m.key}: its first test {first} did not fail (exit {rc}: {last}); running the whole list",
            flush=True,
        )
    rc, last, failed = _pytest(m.tests)
    if rc not in (0, 1, 2):  # 4: a test path does not exist, 5: no test ran, 3: pytest crashed
        raise RuntimeError(f"{m.key}: pytest exit status {rc} for {m.tests}: {last}")
    return rc != 0, last, failed


def _first_tests(muts: list[Mutation], use: bool, checked: bool) -> dict[str, str]:
    """Each mutation's FIRST test where it exists, after a run of them all on the unmutated
    sources (unless ``checked``: the whole suite has just passed on them)."""
    if not use:
        return {}
    first = {m.key: _find_test(FIRST[m.key]) for m in muts if m.key in FIRST}
    missing = sorted(k for k, v in first.items() if v is None)
    first = {k: v for k, v in first.items() if v}
    if missing:
        print(
            f"mutation check: FIRST tests not found (the whole lists run): {', '.join(missing)}", flush=True
        )
    if first and not checked:
        t0 = time.perf_counter()
        rc, last, failed = _pytest(sorted(set(first.values())))
        if rc != 0:
            print(
                f"mutation check: the FIRST tests fail unmutated ({', '.join(failed)}: {last});"
                " running every mutation's whole list",
                flush=True,
            )
            return {}
        print(
            f"mutation check: {len(first)} FIRST tests pass unmutated in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    return first


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=None, help="comma-separated mutation keys")
    p.add_argument("--list", action="store_true", help="print the mutations and exit")
    p.add_argument("--whole-lists", action="store_true", help="ignore FIRST: run every mutation's whole list")
    p.add_argument(
        "--find-first",
        action="store_true",
        help="run every mutation's whole list (as --whole-lists) and print the test that failed, for FIRST",
    )
    p.add_argument(
        "--suite-passed",
        action="store_true",
        help="the whole test suite has just passed on these sources and this build (CI): the FIRST tests"
        " need no run on the unmutated sources first",
    )
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
    t_start = time.perf_counter()
    cpp = _order(muts)
    py = [m for m in muts if m.path.endswith(".py")]
    first = _first_tests(muts, use=not (args.whole_lists or args.find_first), checked=args.suite_passed)
    rows, survivors, stale, found = [], [], [], {}

    def run(m: Mutation) -> None:
        t0 = time.perf_counter()
        try:
            original = _apply(m)
        except LookupError as err:
            stale.append(str(err))
            print(f"{m.key}: STALE ({err})", flush=True)
            return
        path = os.path.join(ROOT, m.path)
        t_build = 0.0
        try:
            if not m.path.endswith(".py"):
                _build()
                t_build = time.perf_counter() - t0
            killed, last, failed = _tests_fail(m, first.get(m.key))
            if failed:
                last = f"{failed[0]}: {last}"
                file, sep, name = failed[0].partition("::")
                found[m.key] = f"{os.path.basename(file)}{sep}{name}"
        finally:
            with open(path, "w") as f:
                f.write(original)
        status = "killed" if killed else "SURVIVED"
        if not killed:
            survivors.append(m)
        dt = time.perf_counter() - t0
        rows.append((m, status, last, dt))
        build = f"build {t_build:.0f} s, " if t_build else ""
        print(
            f"{m.key}: {status} in {dt:.0f} s ({build}tests {dt - t_build:.0f} s): {m.what} ({last})",
            flush=True,
        )

    # The C++ mutations (grouped by file, headers last), the restored build, then the Python
    # mutations on that freshly built library.
    if cpp and _cuda_build():
        t0 = time.perf_counter()
        _build(first=True)
        print(f"CUDA build brought up to date in {time.perf_counter() - t0:.0f} s", flush=True)
    for m in cpp:
        run(m)
    if cpp:
        t0 = time.perf_counter()
        _build()  # the restored sources
        print(f"rebuilt from the restored sources in {time.perf_counter() - t0:.0f} s", flush=True)
    for m in py:
        run(m)
    n = len(rows)
    print(
        f"\nmutation check: {n - len(survivors)} of {n} killed in {time.perf_counter() - t_start:.0f} s"
        + (f"; survivors: {', '.join(m.key for m in survivors)}" if survivors else "")
        + (f"; {len(stale)} no longer apply" if stale else "")
    )
    for m in survivors:
        print(f"  {m.key} {m.path}: {m.what}")
    if args.find_first:
        print("\nFIRST: dict[str, str] = {")
        for m in muts:
            if m.key in found:
                name, sep, params = found[m.key].partition("[")
                if len(m.key) + len(found[m.key]) < 100 or not sep:
                    print(f'    "{m.key}": "{found[m.key]}",')
                else:  # within the line length: the parameters on a line of their own
                    print(f'    "{m.key}": (\n        "{name}"\n        "[{params}"\n    ),')
        print("}")
    return 1 if survivors or stale else 0


if __name__ == "__main__":
    sys.exit(main())
