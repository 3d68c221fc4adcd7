"""Record a CI run's time from its log: bench/results/ci-<date>-<cpu>.json (the docs' CI time
is generated from the newest such file by scripts/docs_tables.py).

    bash .ci/run 2>&1 | tee ci.log     # on a clean clone, nothing else running
    python scripts/ci_record.py ci.log --commit <the clone's commit> [--note "..."]

It reads the lines .ci/run prints at the end ("CI: stage times: NAME=SECONDSs ..." and
"CI: finished with status 0 in N s"); a log of a failed run is refused. The CPU is this
machine's (lscpu's model name): record on the machine that ran it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.run import cpu_name, cpu_slug  # noqa: E402  (the results files' machine naming)


def parse(log: str) -> dict:
    done = re.findall(r"^CI: finished with status (\d+) in (\d+) s$", log, re.M)
    if not done:
        raise SystemExit(
            "ci_record: no 'CI: finished with status ... in ... s' line: not a whole .ci/run log"
        )
    status, total = (int(x) for x in done[-1])
    if status != 0:
        raise SystemExit(f"ci_record: the run failed (status {status}): only a passing run is recorded")
    stages = re.findall(r"^CI: stage times:(.*)$", log, re.M)
    times = {k: int(v) for k, v in re.findall(r"(\S+)=(\d+)s", stages[-1])} if stages else {}
    tests = re.findall(r"^=*\s*(\d+) passed(?:, (\d+) skipped)?.* in ([\d.]+)s", log, re.M)
    killed = re.findall(r"^mutation check: (\d+) of (\d+) killed", log, re.M)
    rec = {"seconds": total, "stages": times}
    if tests:
        passed, skipped, secs = tests[0]
        rec["tests"] = {"passed": int(passed), "skipped": int(skipped or 0), "seconds": float(secs)}
    if killed:
        rec["mutations"] = {"killed": int(killed[-1][0]), "of": int(killed[-1][1])}
    return rec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("log", help="the output of bash .ci/run")
    p.add_argument("--commit", required=True, help="the commit the clean clone was at")
    p.add_argument("--note", default="", help="anything that shaped the time (other jobs on the machine)")
    args = p.parse_args(argv)
    with open(args.log) as f:
        rec = parse(f.read())
    now = datetime.datetime.now(datetime.timezone.utc)
    cpu = cpu_name()
    rec = {
        "what": "bash .ci/run on a clean clone",
        **rec,
        "commit": args.commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        **({"note": args.note} if args.note else {}),
    }
    path = os.path.join(ROOT, "bench", "results", f"ci-{now:%Y-%m-%d}-{cpu_slug(cpu)}.json")
    with open(path, "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)}: {rec['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
