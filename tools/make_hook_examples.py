"""Write one complete CDS Hooks request per hook: examples/hooks/<hook>.json.

    python -m tools.make_hook_examples            # writes examples/hooks/
    python -m tools.make_hook_examples --out DIR  # writes elsewhere
    python -m tools.make_hook_examples --check    # exit 1 when examples/hooks/ is stale

Every request is built from one reference case (REFERENCE_CASE, tests/cases/cases.yaml)
on the examples' evaluation day (tools/make_examples.EVALUATION_DAY) and with the
examples' conformant intakes (the same resources as examples/<case>.json), with the same code
the hook tests use (tools/hook_requests.py): every prefetch key the service advertises
for the hook (service/cds_hooks/discovery.PREFETCH_KEYS) answered the way a FHIR server
answers the query — a search without matches is an empty searchset, which tells the
service that there is nothing to fetch. No `fhirServer`: everything is prefetched.
The order hooks carry the case's draft orders, all of them selected on order-select.
The hookInstance is fixed per hook so the files are stable.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from service.cds_hooks.discovery import PREFETCH_KEYS
from tools.case_bundles import build_case_bundle, build_draft_orders, order_reference
from tools.hook_requests import ehr_prefetch, hook_request
from tools.make_examples import CASES, DATA_DICTIONARY, EVALUATION_DAY, EXAMPLES, load_yaml, render

OUT = EXAMPLES / "hooks"

#: profile B with two draft orders: a treatment card with a CarePlan, and a warning per order
REFERENCE_CASE = "v2-orders-profile-b-dizziness"

#: hook → the service id that answers it (dak/outputs.md v2: one service per hook)
SERVICES = {
    "patient-view": "nekpijn-behandelprofiel",
    "encounter-start": "nekpijn-behandelprofiel-encounter-start",
    "order-select": "nekpijn-orders-select",
    "order-sign": "nekpijn-orders-sign",
}


def hook_instance(hook: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://nekpijn-cds.org/examples/hooks/{hook}"))


def example_requests(case_id: str = REFERENCE_CASE) -> dict[str, dict]:
    """hook → request body, for every hook in SERVICES."""
    cases = {c["id"]: c for c in load_yaml(CASES)["cases"]}
    case = cases[case_id]
    dictionary = load_yaml(DATA_DICTIONARY)
    resources = [e["resource"] for e in build_case_bundle(case, EVALUATION_DAY, dictionary, conformant=True)["entry"]]
    drafts = build_draft_orders(case, dictionary)
    requests = {}
    for hook in SERVICES:
        prefetch = ehr_prefetch(resources, PREFETCH_KEYS[hook], case_id)
        orders = {}
        if hook in ("order-select", "order-sign"):
            orders = {"draft_orders": drafts}
            if hook == "order-select":
                orders["selections"] = [order_reference(o) for o in drafts]
        requests[hook] = hook_request(hook, case_id, prefetch=prefetch, hook_instance=hook_instance(hook), **orders)
    return requests


def example_texts() -> dict[str, str]:
    """File name → content."""
    return {f"{hook}.json": render(body) for hook, body in example_requests().items()}


def stale(out_dir: Path = OUT) -> list[str]:
    return [name for name, text in example_texts().items()
            if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: examples/hooks/)")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.out)
        for name in names:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if names else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in example_texts().items():
        path = args.out / name
        path.write_text(text, encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
