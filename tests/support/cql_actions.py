"""Comparing the actions a generic CQL engine finds applicable with ours (tests/test_cql_plan.py,
tests/test_cql_orders.py): both sides as nested lists of {code, definitionCanonical, action, ...}."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def same(generic_: list[dict], ours_: list[dict]) -> bool:
    """The same actions in the same order and nesting; the same ActivityDefinition wherever our
    request names it (a section has none; a CommunicationRequest cannot name it in R4)."""
    def one(g: dict, o: dict) -> bool:
        canonical = g["definitionCanonical"] == o["definitionCanonical"] or (
            o["definitionCanonical"] is None and o["request"] == "CommunicationRequest"
            and g["definitionCanonical"] is not None)
        return g["code"] == o["code"] and canonical and same(g["action"], o["action"])
    return len(generic_) == len(ours_) and all(one(g, o) for g, o in zip(generic_, ours_))


def codes(actions: list[dict]) -> list[str]:
    """The action codes, depth-first ("section/rec" for the nested ones)."""
    out = []
    for a in actions:
        out.append(a["code"])
        out += [f"{a['code']}/{c}" for c in codes(a["action"])]
    return out


def with_changed_condition(artifacts: Path, into: Path, plan_id: str, section: str, action: str,
                           expression: str) -> None:
    """Copy the artifacts into `into` with the CQL condition of one action (by its section's and its
    own code) pointed at `expression`: the control that shows a comparison test can fail."""
    for path in artifacts.glob("*.json"):
        shutil.copy(path, into / path.name)
    plan_path = into / f"PlanDefinition-{plan_id}.json"
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    group = next(s for s in plan["action"] if _code(s) == section)
    target = next(a for a in group["action"] if _code(a) == action)
    target["condition"][0]["expression"]["expression"] = expression
    plan_path.write_text(json.dumps(plan), encoding="utf-8")


def _code(action: dict) -> str:
    return action["code"][0]["coding"][0]["code"]
