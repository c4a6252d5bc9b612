"""The CDS services: one per hook, each with an id of its own (outputs.md v2 table).

Generated from the PlanDefinitions' named-event triggers. The id of a service:

* `patient-view`: the PlanDefinition id (`nekpijn-behandelprofiel`);
* an order hook of a plan whose id ends in "-orders": the plan id plus the hook without its
  "order-" prefix (`nekpijn-orders` + `order-select` → `nekpijn-orders-select`);
* any other hook: the plan id, "-", the hook (`nekpijn-behandelprofiel-encounter-start`).

v1 shared one id between two hooks; the reference sandbox (like most EHR clients) keeps one
service per id and so never called the other hook.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    plan_id: str


def service_id(plan_id: str, hook: str) -> str:
    if hook == "patient-view":
        return plan_id
    if hook.startswith("order-") and plan_id.endswith("-orders"):
        return plan_id + hook[len("order"):]
    return f"{plan_id}-{hook}"


def services(engine) -> list[CdsService]:
    """Every CDS service, by plan id then trigger order (the discovery order)."""
    out = []
    for plan_id in sorted(engine.plans.plans):
        for hook in engine.plans.plans[plan_id].triggers():
            out.append(CdsService(service_id(plan_id, hook), hook, plan_id))
    return out


def service(engine, sid: str) -> CdsService | None:
    return next((s for s in services(engine) if s.id == sid), None)


def plan_of(engine, sid: str) -> str:
    """The PlanDefinition id behind a service id (a plan id itself is accepted too)."""
    found = service(engine, sid)
    if found is not None:
        return found.plan_id
    if engine.plans.get(sid) is not None:
        return sid
    raise LookupError(f"no CDS service or PlanDefinition '{sid}'")
