"""Benchmark: one engine evaluation per reference case, excluding HTTP.

    .venv/bin/python -m bench.engine [--runs 500] [--json bench/results/engine.json]

For every case of tests/cases/cases.yaml: the Bundle is built once, then
timed `--runs` times for
  * case  — facts + decision tables (gather §0 + rules §1–§8),
  * apply — the whole $apply: case + PlanDefinition conditions + CarePlan.
Prints median and p99 per case (milliseconds) and the overall medians.
Target (issue: decision engine): apply median < 1 ms on the project machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from datetime import datetime, time as dtime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.apply.engine import Engine  # noqa: E402
from service.facts.model import AMSTERDAM  # noqa: E402
from service.knowledge import KnowledgeBase  # noqa: E402
from tools.case_bundles import build_case_bundle  # noqa: E402

TODAY = datetime(2026, 11, 2, 12, 0, tzinfo=AMSTERDAM)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn, runs: int) -> list[float]:
    for _ in range(min(50, runs)):  # warm-up
        fn()
    gc.collect()
    gc.disable()
    try:
        out = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
        return out
    finally:
        gc.enable()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    engine = Engine(KnowledgeBase.load())
    load_ms = (time.perf_counter() - started) * 1000
    dictionary = yaml.safe_load((ROOT / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))
    cases = yaml.safe_load((ROOT / "tests" / "cases" / "cases.yaml").read_text(encoding="utf-8"))["cases"]

    rows = []
    for case in cases:
        bundle = build_case_bundle(case, TODAY.date(), dictionary)
        resources = [e["resource"] for e in bundle["entry"]]
        subject = f"Patient/{case['id']}"
        case_ms = timed(lambda: engine.evaluate(resources, subject, TODAY.date()), args.runs)
        apply_ms = timed(lambda: engine.apply("nekpijn-behandelprofiel", resources, subject, now=TODAY), args.runs)
        rows.append({"case": case["id"], "resources": len(resources),
                     "case_median": statistics.median(case_ms), "case_p99": percentile(case_ms, 99),
                     "apply_median": statistics.median(apply_ms), "apply_p99": percentile(apply_ms, 99)})

    print(f"engine load (knowledge + compile): {load_ms:.0f} ms; {args.runs} runs per case; "
          f"Python {platform.python_version()} on {platform.machine()}")
    print(f"{'case':32} {'res':>4} {'case p50':>9} {'case p99':>9} {'apply p50':>10} {'apply p99':>10}")
    for r in rows:
        print(f"{r['case']:32} {r['resources']:>4} {r['case_median']:9.3f} {r['case_p99']:9.3f} "
              f"{r['apply_median']:10.3f} {r['apply_p99']:10.3f}")
    overall = {k: statistics.median(r[k] for r in rows) for k in ("case_median", "apply_median")}
    worst = {k: max(r[k] for r in rows) for k in ("apply_median", "apply_p99")}
    print(f"median over cases: case {overall['case_median']:.3f} ms, apply {overall['apply_median']:.3f} ms; "
          f"worst case apply median {worst['apply_median']:.3f} ms, p99 {worst['apply_p99']:.3f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": args.runs, "load_ms": load_ms, "rows": rows,
                                         "overall": overall, "worst": worst}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
