"""Summarise a py-spy profile of the service by part of the hook request path.

    py-spy record -p <pid of the worker> --gil -d 20 -r 250 -f raw -o profile.txt
    python -m bench.profile_summary profile.txt

`--gil` samples only the thread holding the GIL, i.e. where Python spends its
time (without it, thread-pool threads waiting for the GIL count as busy).
Prints, per part, the share of samples whose stack contains it (inclusive:
parts nest, so the shares do not add up to 100 %), then the busiest leaf
frames. py-spy is not a project dependency: `pip install py-spy` to use it.
"""

from __future__ import annotations

import argparse
import collections
import sys

#: (label, substring of a stack) — indented labels are parts of the one above
PARTS: list[tuple[str, str]] = [
    ("hook call (cds_hooks/routes.py call_service)", "call_service ("),
    ("  engine.apply", "Engine.apply ("),
    ("    facts (gather)", "gather ("),
    ("    decision tables (rules.evaluate)", "evaluate ("),
    ("    PlanDefinition conditions (applicable)", "applicable ("),
    ("    CarePlan (careplan)", "careplan ("),
    ("  cards (render_cards)", "render_cards ("),
    ("  answer as JSON (JSONResponse.render)", "JSONResponse.render ("),
    ("  request JSON (json.loads)", "loads (json"),
    ("  nesting-depth check", "_depth_exceeds ("),
    ("  prefetch (gather_resources)", "gather_resources ("),
    ("  issued cards (remember_cards)", "remember_cards ("),
    ("  audit entry (record_audit)", "record_audit ("),
    ("JWT (Verifier.verify)", "Verifier.verify ("),
    ("  replay cache (seen_jti)", "seen_jti ("),
    ("SQLAlchemy (all store calls)", "sqlalchemy/"),
    ("HTTP parsing (h11)", "h11/"),
    ("logging", "logging/"),
]


def summarise(lines: list[str], top: int = 15) -> str:
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaves[frames[-1]] += n
        for label, needle in PARTS:
            if needle in stack:
                inclusive[label] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "| part | share of samples |", "|---|---|"]
    out += [f"| {label} | {inclusive[label] / total * 100:.1f} % |" for label, _ in PARTS]
    out += ["", "busiest leaf frames:"]
    out += [f"  {n / total * 100:5.1f} %  {frame}" for frame, n in leaves.most_common(top)]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", help="py-spy raw (folded) output")
    parser.add_argument("--top", type=int, default=15, help="leaf frames to list (default 15)")
    args = parser.parse_args(argv)
    with open(args.profile, encoding="utf-8") as fh:
        print(summarise(fh.read().splitlines(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
