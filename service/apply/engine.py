"""The $apply engine: FHIR resources → facts → case features → CarePlan.

Built once per process from the knowledge base (PlanDefinitions compiled,
terminology indexed); `apply` is then a pure function of its inputs and the
injected clock, so the same input gives byte-identical output.

The returned CarePlan shares unchanging parts (codes, documentation) with the
knowledge and with other results: treat it as read-only (deep-copy before
changing it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from service import rules
from service.apply.careplan import careplan
from service.apply.case import case_parameters
from service.apply.instantiate import Context
from service.apply.plans import AppliedAction, CompiledPlan, PlanRegistry
from service.apply.terminology import LOCAL_SYSTEM, SNOMED, Terminology
from service.facts.gather import element_codes_from
from service.facts.model import AMSTERDAM, CaseResult
from service.knowledge import KnowledgeBase

# Plans triggered by these hooks are evaluated once per draft order.
ORDER_HOOKS = {"order-select", "order-sign", "order-dispatch"}
LANGUAGES = ("nl", "en")


class UnknownPlan(LookupError):
    pass


@dataclass
class ApplyResult:
    careplan: dict
    case: CaseResult
    applied: list[tuple[dict | None, list[AppliedAction]]]  # (draft order or None, applied actions)


def draft_orders(resources: list[dict], subject: str) -> list[dict]:
    """Draft ServiceRequests / Procedures of the subject (orders being written); an order
    without `subject` counts as the subject's (decision-logic §11), one of another patient not."""
    out = []
    for r in resources:
        about = r.get("subject")
        if about is not None and (not isinstance(about, dict) or about.get("reference") != subject):
            continue
        if (r.get("resourceType") == "ServiceRequest" and r.get("status") == "draft") or \
                (r.get("resourceType") == "Procedure" and r.get("status") == "preparation"):
            out.append(r)
    return out


class Engine:
    def __init__(self, knowledge: KnowledgeBase):
        self.knowledge = knowledge
        self.plans = PlanRegistry(knowledge)
        self.terminology = Terminology(knowledge)
        self.element_codes = element_codes_from(knowledge.by_canonical(LOCAL_SYSTEM) or {},
                                                knowledge.get("Questionnaire", "nekpijn-intake"))
        self.free_text = frozenset(code for code, props in self.terminology.properties.items()
                                   if props.get("data-type") == ["string"])

    def plan(self, plan_id: str) -> CompiledPlan:
        plan = self.plans.get(plan_id)
        if plan is None:
            raise UnknownPlan(plan_id)
        return plan

    def evaluate(self, resources: list[dict], subject: str, today: date, plan_id: str | None = None) -> CaseResult:
        """Facts and case features for one subject, by the decision tables of the plan
        (`rules.tables_for`; default: the guideline's, §0–§8)."""
        return rules.tables_for(plan_id).case(resources, subject, today, self.element_codes)

    def order_parameters(self, order: dict) -> list[dict]:
        """`order-intervention` (local codes with ancestors), `order-category` (SNOMED CT
        categories) and `order-code` (every coding of the order's code, as given)."""
        code = order.get("code") if isinstance(order.get("code"), dict) else {}
        codings = [c for c in code.get("coding", []) if isinstance(c, dict)] \
            if isinstance(code.get("coding"), list) else []
        params = [{"name": "order-intervention", "valueCode": c} for c in self.terminology.local_codes_of(codings)]
        # R4: ServiceRequest.category is a list, Procedure.category one CodeableConcept; §11 (v2)
        # recognises imaging by category on either (found by tests/test_cql_orders.py)
        category = order.get("category")
        categories = category if isinstance(category, list) else \
            [category] if order.get("resourceType") == "Procedure" and isinstance(category, dict) else []
        for category in categories:
            for coding in (category.get("coding") or []) if isinstance(category, dict) else []:
                if isinstance(coding, dict) and coding.get("system") == SNOMED and coding.get("code"):
                    params.append({"name": "order-category", "valueCode": coding["code"]})
        for coding in codings:
            if isinstance(coding.get("system"), str) and isinstance(coding.get("code"), str):
                params.append({"name": "order-code", "valueCoding": {"system": coding["system"], "code": coding["code"]}})
        return params

    def apply(self, plan_id: str, resources: list[dict], subject: str, *, now: datetime,
              lang: str = "nl", encounter: str | None = None, practitioner: str | None = None,
              orders: list[dict] | None = None) -> ApplyResult:
        """PlanDefinition/$apply for one subject; `now` is the evaluation instant."""
        plan = self.plan(plan_id)
        lang = lang if lang in LANGUAGES else "nl"
        now = now.astimezone(AMSTERDAM)
        tables = rules.tables_for(plan_id)
        case = tables.case(resources, subject, now.date(), self.element_codes)
        per_order = bool(ORDER_HOOKS & set(plan.triggers()))
        if per_order:
            drafts = draft_orders(resources, subject) if orders is None else orders
            applied = [(order, plan.applicable(case_parameters(case, self.free_text, self.order_parameters(order))))
                       for order in drafts]
        else:
            applied = [(None, plan.applicable(case_parameters(case, self.free_text)))]
        groups = []
        for i, (order, actions) in enumerate(applied):
            about = f"{order['resourceType']}/{order['id']}" if order and order.get("id") else None
            groups.append((f"order-{i + 1}." if per_order else "", about, actions))
        ctx = Context(subject=subject, lang=lang, group_id="requestgroup",
                      authored=now.isoformat(timespec="seconds"), encounter=encounter, practitioner=practitioner)
        title = plan.title.get(lang) or plan.title.get("nl", "") if per_order else \
            tables.summary(case, lang, self.terminology.text)
        notes = [note.text(lang) for note in case.facts.ignored]
        result = careplan(plan, groups, case.features, ctx, self.terminology, title, notes)
        return ApplyResult(result, case, applied)
