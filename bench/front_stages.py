"""CPU per stage of the front half of a patient-view call (issue 17), in process.

    .venv/bin/python bench/front_stages.py [TREE] [CALLS]     # TREE: a source tree (default: this one)

    # A/B in one run: the old tree and this one alternately
    git archive <old> | tar -x -C /tmp/before
    for i in 1 2; do .venv/bin/python bench/front_stages.py /tmp/before; .venv/bin/python bench/front_stages.py; done

The stages of ``service/cds_hooks/routes.py`` for ``bench/service.py``'s patient-view
body, each on its own (CALLS times, min of 3 rounds, ``time.process_time``): the JSON
parse, the nesting-depth check, the hook request, the prefetch handling, the R4 screening
of the 24 resources, facts + decision tables, the case Parameters and the PlanDefinition's
conditions. TREE's ``service`` package is imported (this virtualenv's packages).
"""
import asyncio
import sys
import time
from pathlib import Path

root = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else str(Path(__file__).resolve().parent.parent)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
sys.path.insert(0, root)
from datetime import datetime, timezone  # noqa: E402
from bench.service import bodies  # noqa: E402
from service.config import Settings  # noqa: E402
from service.apply.engine import Engine  # noqa: E402
from service.knowledge import KnowledgeBase  # noqa: E402
from service.fhir_api.apply_route import _depth_exceeds  # noqa: E402
from service.jsonio import loads  # noqa: E402
from service.cds_hooks.request import parse_hook_request  # noqa: E402
from service.cds_hooks.fetch import gather_resources  # noqa: E402
from service.cds_hooks.discovery import PREFETCH_KEYS  # noqa: E402
from service.cds_hooks.validation import screen  # noqa: E402
from service import rules  # noqa: E402
from service.apply.case import case_parameters  # noqa: E402
settings = Settings.from_env({})
engine = Engine(KnowledgeBase.load(settings.knowledge_dir))
raw = bodies()['patient-view'].replace(b"{{HOOK_INSTANCE}}", b"d0c6a5e2-0000-4000-8000-000000000001")
body0 = loads(raw)
hook0 = parse_hook_request(body0, ["patient-view"])
fetched0 = asyncio.run(gather_resources(hook0, PREFETCH_KEYS[hook0.hook], settings))
plan_id = "nekpijn-behandelprofiel"
plan = engine.plan(plan_id)
tables = rules.tables_for(plan_id)
now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
case0 = tables.case(fetched0.resources, hook0.patient, now.date(), engine.element_codes)
params0 = case_parameters(case0, engine.free_text)
loop = asyncio.new_event_loop()
stages = {
  "loads": lambda: loads(raw),
  "depth": lambda: _depth_exceeds(body0, 100),
  "parse_hook_request": lambda: parse_hook_request(body0, ["patient-view"]),
  "gather_resources": lambda: loop.run_until_complete(gather_resources(hook0, PREFETCH_KEYS[hook0.hook], settings)),
  "screen": lambda: screen(fetched0, [], hook0.patient),
  "facts+rules (tables.case)": lambda: tables.case(fetched0.resources, hook0.patient, now.date(), engine.element_codes),
  "case_parameters": lambda: case_parameters(case0, engine.free_text),
  "plan.applicable": lambda: plan.applicable(case_parameters(case0, engine.free_text)),
}
for f in stages.values(): f()
res = {}
for rnd in range(3):
    for name, f in stages.items():
        t = time.process_time()
        for _ in range(N): f()
        res.setdefault(name, []).append((time.process_time() - t) * 1000 / N)
tag = root
for name, v in res.items():
    print(f"{tag}  {name:<28} {min(v):.4f} ms (min of 3)")
