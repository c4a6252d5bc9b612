"""Large public requests do not slow the rest of the service down (issue 14, finding 1).

Before: one 4.9 MB body to the public self-check `$apply` took 2.6 s on the event loop and a
`GET /health` sent meanwhile 2.3 s; two clients looping 1 MB bodies raised hook-call latency from
p50 40 ms to 0.93 s. Now (64 kB limit enforced while reading, validation and writes off the event
loop): `bench.public_load` starts the real service, measures `/health` and a hook call idle, then
while four clients flood the public endpoints (64 kB valid `$apply` and submissions, 4.9 MB bodies
with and without Content-Length). Relative, generous bounds (a shared 2-core machine); the figures
are printed (`pytest -s`) for docs/robustness.md.
"""

from __future__ import annotations

from bench.public_load import measure, report


def test_health_and_hook_calls_stay_fast_while_large_public_requests_are_in_flight():
    result = measure(idle=3.0, load=6.0, clients=4)
    print("\n" + report(result))
    idle, load = result["idle"], result["load"]
    assert not idle["errors"] and not load["errors"], (idle["errors"], load["errors"])
    assert load["health"]["n"] >= 20 and load["hook"]["n"] >= 20  # the probe kept going
    flood = result["flood"]
    assert flood.get("apply 200", 0) > 10 and flood.get("submission 201", 0) > 10  # the flood was real work
    assert flood.get("huge 413", 0) > 10 and not any(k.startswith("huge 2") for k in flood)
    assert not any(k.endswith(" 500") for k in flood)
    # relative bounds: slowed by sharing one process's CPU, never stalled behind a public request
    assert load["health"]["p50_ms"] < 5 * idle["health"]["p50_ms"] + 100, report(result)
    assert load["hook"]["p50_ms"] < 4 * idle["hook"]["p50_ms"] + 150, report(result)
    assert load["health"]["max_ms"] < 1000 and load["hook"]["max_ms"] < 1500, report(result)
