"""The outputs of every reference case, written as FHIR JSON files for the HL7 validator.

    python -m tools.validation_outputs OUT_DIR

For every case of tests/cases/cases.yaml (the same Bundles and "today" as the case tests,
tests/apply_support.py):

* `<case>.apply.CarePlan.json`: the CarePlan of PlanDefinition/$apply;
* `<case>.<hook>.<n>.<Type>.json`: every resource a card suggestion of the patient-view hook
  (full prefetch) creates or updates, and, for a case with draft orders, those of the
  order-select and order-sign hooks;
* `<case>.en.…` the same in English (`userLanguage` en on $apply, `Accept-Language: en` on the
  hooks): the English texts are other strings in the same resources (narratives, displays,
  notes), so they are validated as well (write_outputs; case_outputs with `english`). A case
  whose own language is English has only these.

The service runs in process (FastAPI TestClient, authentication off, a throw-away SQLite
store): no network, no server.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tools.sources import ROOT

sys.path.insert(0, str(ROOT / "tests"))  # the case helpers are the tests' own

PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
HOOK_SERVICES = {"patient-view": "nekpijn-behandelprofiel", "order-select": "nekpijn-orders-select",
                 "order-sign": "nekpijn-orders-sign"}


def _suggested(cards: list[dict]) -> list[dict]:
    return [a["resource"] for card in cards for s in card.get("suggestions", []) for a in s.get("actions", [])
            if a.get("type") in ("create", "update") and isinstance(a.get("resource"), dict)]


def case_outputs(db_dir: Path, english: bool = False) -> dict[str, dict]:
    """file name -> resource, for every reference case in its own language (Dutch unless the
    case asks otherwise); `english`: in English as well (`<case>.en.…`)."""
    from fastapi.testclient import TestClient

    from apply_support import NOW, TODAY, apply_parameters, cases, data_dictionary
    from service.app import create_app
    from service.config import Settings
    from tools.case_bundles import build_case_bundle, build_draft_orders
    from tools.hook_requests import ehr_prefetch, hook_request

    settings = Settings(auth="off", database_url=f"sqlite:///{db_dir / 'outputs.db'}", max_body_bytes=5_000_000)
    client = TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=True)
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    out: dict[str, dict] = {}
    for case in cases():
        cid = case["id"]
        resources = [e["resource"] for e in build_case_bundle(case, TODAY, data_dictionary())["entry"]]
        orders = build_draft_orders(case, data_dictionary())
        hooks = ["patient-view"] + (["order-select", "order-sign"] if orders else [])
        # the case's own language (default: none asked, Dutch), then English
        for lang in dict.fromkeys([case.get("language"), *(["en"] if english else [])]):
            prefix = f"{cid}.en" if lang == "en" else cid
            response = client.post(PLAN, json=apply_parameters(case, lang=lang),
                                   headers={"Content-Type": "application/fhir+json"})
            response.raise_for_status()
            out[f"{prefix}.apply.CarePlan.json"] = response.json()
            for hook in hooks:
                service = HOOK_SERVICES[hook]
                prefetch = ehr_prefetch(resources, services[service].get("prefetch", {}), cid)
                body = hook_request(hook, cid, prefetch=prefetch, draft_orders=orders or None,
                                    hook_instance="00000000-0000-4000-8000-000000000000")
                headers = {"Content-Type": "application/json", **({"Accept-Language": lang} if lang else {})}
                response = client.post(f"/cds-services/{service}", content=json.dumps(body), headers=headers)
                response.raise_for_status()
                for n, resource in enumerate(_suggested(response.json()["cards"]), 1):
                    out[f"{prefix}.{hook}.{n}.{resource['resourceType']}.json"] = resource
    return out


def write_outputs(out_dir: Path, english: bool = True) -> list[Path]:
    """The files of case_outputs (with the English ones unless `english` is false)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, resource in case_outputs(Path(tmp), english=english).items():
            path = out_dir / name
            path.write_text(json.dumps(resource, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(len(write_outputs(Path(sys.argv[1]))), "files")
