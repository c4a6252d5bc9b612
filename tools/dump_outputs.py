"""Every output of the service for the reference cases, as files — to prove a change keeps
them byte-for-byte.

    .venv/bin/python -m tools.dump_outputs --out /tmp/outputs-after
    # the same from an older tree (its own service code, this script run as a file):
    .venv/bin/python tools/dump_outputs.py --root /tmp/before --out /tmp/outputs-before
    .venv/bin/python -m tools.dump_outputs --compare /tmp/outputs-before /tmp/outputs-after

For each case of tests/cases/cases.yaml and the benchmark's workload (bench/service.py:
24 resources, 5 draft orders), in Dutch and English: the answer of patient-view
(`nekpijn-behandelprofiel`), order-select and order-sign (cases with draft orders) and
`$apply` of the case plan — the response bodies as the app sends them (the app called in
process, auth off, a fixed clock and hookInstance, so the same code gives the same bytes).
`--compare` lists the files that differ (exit status 1 when any does).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime, time
from pathlib import Path

HOOK_INSTANCE = "00000000-0000-4000-8000-000000000017"
LANGUAGES = ("nl", "en")
PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
SERVICES = {"patient-view": "nekpijn-behandelprofiel", "order-select": "nekpijn-orders-select",
            "order-sign": "nekpijn-orders-sign"}


def outputs(root: Path) -> dict[str, bytes]:
    """name → response body, for every case, hook and language (see the module docstring)."""
    sys.path.insert(0, str(root))
    import yaml
    from fastapi.testclient import TestClient

    from bench.service import DRAFT_ORDERS, PATIENT_ID, case_resources
    import service
    from service.app import create_app
    from service.config import Settings
    from service.facts.model import AMSTERDAM
    from tools.case_bundles import build_case_bundle, build_draft_orders
    from tools.hook_requests import ehr_prefetch, hook_request

    if Path(service.__file__).resolve().parent.parent != root:
        raise SystemExit(f"the service came from {service.__file__}, not from {root}")
    today = datetime.now(AMSTERDAM).date()  # bench.service's workload is dated from today
    now = datetime.combine(today, time(12, 0), AMSTERDAM)
    dictionary = yaml.safe_load((root / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))
    cases = yaml.safe_load((root / "tests" / "cases" / "cases.yaml").read_text(encoding="utf-8"))["cases"]
    inputs = [(c["id"], [e["resource"] for e in build_case_bundle(c, today, dictionary)["entry"]],
               build_draft_orders(c, dictionary)) for c in cases]
    inputs.append(("bench-" + PATIENT_ID, case_resources(), DRAFT_ORDERS))

    client = TestClient(create_app(settings=Settings(auth="off", database_url=f"sqlite:///{tempfile.mkdtemp()}/dump.db"), clock=lambda: now))
    discovery = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    out: dict[str, bytes] = {}
    for cid, resources, orders in inputs:
        patient = PATIENT_ID if cid.startswith("bench-") else cid
        for lang in LANGUAGES:
            apply = {"resourceType": "Parameters", "parameter": [
                {"name": "subject", "valueString": f"Patient/{patient}"},
                {"name": "data", "resource": {"resourceType": "Bundle", "type": "collection",
                                              "entry": [{"resource": r} for r in resources]}},
                {"name": "userLanguage", "valueCode": lang}]}
            response = client.post(PLAN, content=json.dumps(apply), headers={"Content-Type": "application/fhir+json"})
            out[f"{cid}.apply.{lang}.json"] = f"{response.status_code}\n".encode() + response.content
            for hook, service in SERVICES.items():
                if hook != "patient-view" and not orders:
                    continue
                prefetch = ehr_prefetch(resources, discovery[service].get("prefetch", {}), patient)
                body = hook_request(hook, patient, prefetch=prefetch, draft_orders=orders or None,
                                    hook_instance=HOOK_INSTANCE)
                if hook == "order-select":
                    body["context"]["selections"] = [f"ServiceRequest/{o['id']}" for o in orders]
                response = client.post(f"/cds-services/{service}", content=json.dumps(body),
                                       headers={"Content-Type": "application/json", "Accept-Language": lang})
                out[f"{cid}.{hook}.{lang}.json"] = f"{response.status_code}\n".encode() + response.content
    return out


def compare(before: Path, after: Path) -> list[str]:
    """Names of the files that differ or exist on one side only."""
    names = sorted({p.name for p in before.glob("*.json")} | {p.name for p in after.glob("*.json")})
    return [n for n in names if not (before / n).exists() or not (after / n).exists()
            or (before / n).read_bytes() != (after / n).read_bytes()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the source tree whose service makes the outputs (default: this one)")
    parser.add_argument("--out", type=Path, help="folder to write the outputs to")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        differ = compare(*args.compare)
        print("\n".join(differ) or f"all {len(list(args.compare[0].glob('*.json')))} outputs equal")
        return 1 if differ else 0
    if not args.out:
        parser.error("--out or --compare")
    args.out.mkdir(parents=True, exist_ok=True)
    made = outputs(args.root.resolve())
    for name, body in made.items():
        (args.out / name).write_bytes(body)
    print(f"{len(made)} outputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
