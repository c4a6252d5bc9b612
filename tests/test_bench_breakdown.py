"""bench/breakdown.py (issue 17): the served CPU per call, stage by stage.

The figures themselves are not asserted (a benchmark reports them); what is: every stage the
stage timer wraps still exists in the code, and a short run reports a tree whose stages nest
(no child above its parent) and add up to the process figure's event-loop share.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_timed_stage_is_found_in_the_code():
    # in a process of its own: install() replaces module globals for good
    code = ("from bench import stage_timer as t; t.install(); "
            "import importlib; wrapped = 0\n"
            "for module, attribute, _ in t.STAGES:\n"
            "    owner = importlib.import_module(module)\n"
            "    for part in attribute.split('.'): owner = getattr(owner, part)\n"
            "    wrapped += hasattr(owner, '__wrapped__')\n"
            "print(wrapped, len(t.STAGES))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    wrapped, total = map(int, out.stdout.split())
    assert wrapped == total > 20


def test_a_short_run_reports_nested_stages(tmp_path):
    target = tmp_path / "breakdown.json"
    out = subprocess.run([sys.executable, "-m", "bench.breakdown", "--rounds", "1", "--requests", "30",
                          "--only", "patient-view, auth off", "--json", str(target)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "CPU ms/call" in out.stdout
    report = json.loads(target.read_text())["patient-view, auth off"]
    assert report["calls"] == 30
    rows = report["rows"]
    by_stage = {r["stage"]: r["cpu_ms"] for r in rows if r["stage"] != "rest"}
    for stage in ("engine: $apply", "engine: facts (§0)", "R4 screening of the input", "cards",
                  "audit + issued cards, one SQLite transaction"):
        assert by_stage[stage] > 0, stage
    # nesting: each stage at most its parent (thread CPU is read in whole nanoseconds; 1 µs slack)
    parents: list[tuple[int, float]] = []
    for row in rows:
        if row["stage"] == "rest" or row["depth"] < 2:
            continue
        while parents and parents[-1][0] >= row["depth"]:
            parents.pop()
        if parents:
            assert row["cpu_ms"] <= parents[-1][1] + 0.001, row
        parents.append((row["depth"], row["cpu_ms"]))
    assert by_stage["engine: $apply"] < by_stage["endpoint"] < by_stage["asgi app (middleware, routing, endpoint)"]
