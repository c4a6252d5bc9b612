"""PlanDefinitions compiled once at load: variables, conditions, dynamic values.

Generic over any loaded PlanDefinition: nothing here knows about neck pain.
Conditions are FHIRPath (text/fhirpath) evaluated over `%case` (a Parameters
resource) with the PlanDefinition's `plan-variable` extensions as further
environment variables (docs/case-parameters.md). A condition written in CQL for generic
engines (text/cql-identifier, naming a definition of the plan's Library) is evaluated through
the FHIRPath it carries in its alternative-expression extension (docs/knowledge.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from service.apply.fhirpath_fast import Expression, LazyEnvironment
from service.knowledge import KnowledgeBase

PLAN_VARIABLE = "https://nekpijn-cds.org/fhir/StructureDefinition/plan-variable"
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
FHIRPATH = "text/fhirpath"
CQL_IDENTIFIER = "text/cql-identifier"
ALTERNATIVE = "https://nekpijn-cds.org/fhir/StructureDefinition/alternative-expression"
ACTION_PATH = "%action."  # a dynamicValue path on the RequestGroup action itself

Compiled = Callable[[Any, dict], list]


class PlanError(Exception):
    """A PlanDefinition the engine cannot run (unsupported expression language, bad FHIRPath, ...)."""


def fhirpath_form(expression: dict) -> dict:
    """The FHIRPath form of an Expression: itself, or for a CQL one its FHIRPath alternative."""
    if expression.get("language") == CQL_IDENTIFIER:
        for ext in expression.get("extension", []):
            alt = ext.get("valueExpression") if ext.get("url") == ALTERNATIVE else None
            if isinstance(alt, dict) and alt.get("language") == FHIRPATH:
                return alt
    return expression


def compile_expression(expression: dict, where: str) -> Compiled:
    expression = fhirpath_form(expression)
    language = expression.get("language")
    if language != FHIRPATH:
        raise PlanError(f"{where}: expression language {language!r} is not supported (only {FHIRPATH})")
    try:
        return Expression(expression["expression"])
    except Exception as exc:  # fhirpathpy raises assorted errors on bad syntax
        raise PlanError(f"{where}: invalid FHIRPath {expression.get('expression')!r}: {exc}") from exc


def texts(element: dict, name: str) -> dict[str, str]:
    """A string element and its translations: {"nl": ..., "en": ...} (primary language first)."""
    value = element.get(name)
    if value is None:
        return {}
    out = {"nl": value}
    for ext in element.get(f"_{name}", {}).get("extension", []):
        if ext.get("url") == TRANSLATION:
            parts = {e["url"]: e for e in ext.get("extension", [])}
            lang = parts.get("lang", {}).get("valueCode")
            content = parts.get("content", {}).get("valueString")
            if lang and content:
                out[lang.split("-")[0]] = content
    return out


@dataclass
class CompiledAction:
    code: str
    coding: dict
    title: dict[str, str]
    description: dict[str, str]
    documentation: list[dict]
    priority: str | None
    conditions: list[Compiled]
    dynamic: list[tuple[str, Compiled]]
    definition: dict | None  # the ActivityDefinition
    children: list["CompiledAction"] = field(default_factory=list)
    _templates: dict[str, dict] = field(default_factory=dict, repr=False)

    def group_template(self, lang: str) -> dict:
        """The static part of the RequestGroup action in a language (built once; copy before use)."""
        template = self._templates.get(lang)
        if template is None:
            template = {"code": [{"coding": [self.coding]}]}
            for name, texts_ in (("title", self.title), ("description", self.description)):
                text = texts_.get(lang) or texts_.get("nl")
                if text:
                    template[name] = text
            if self.documentation:
                template["documentation"] = self.documentation
            if self.priority:
                template["priority"] = self.priority
            self._templates[lang] = template
        return template


@dataclass
class AppliedAction:
    """An action whose conditions hold, with its dynamic values evaluated."""

    action: CompiledAction
    path: tuple[str, ...]  # codes from the top-level action down to this one
    dynamic: dict[str, Any]  # dynamic-value path → value
    children: list["AppliedAction"] = field(default_factory=list)

    @property
    def on_action(self) -> dict[str, Any]:
        """Dynamic values on the RequestGroup action (path `%action.<element>`, as R5 defines it)."""
        return {p[len(ACTION_PATH):]: v for p, v in self.dynamic.items() if p.startswith(ACTION_PATH)}

    @property
    def on_request(self) -> dict[str, Any]:
        """Dynamic values on the request resource."""
        return {p: v for p, v in self.dynamic.items() if not p.startswith(ACTION_PATH)}

    @property
    def priority(self) -> str | None:
        """The RequestGroup action's priority: the dynamic one of this case, else the static one."""
        return self.on_action.get("priority") or self.action.priority

    @property
    def due(self) -> str | None:
        """The due day (ISO date) of this item, when it has one (RequestGroup action timingDateTime)."""
        return self.on_action.get("timingDateTime")


class CompiledPlan:
    def __init__(self, plan: dict, knowledge: KnowledgeBase):
        self.resource = plan
        self.id = plan["id"]
        self.url = plan.get("url", "")
        self.version = plan.get("version")
        self.title = texts(plan, "title")
        self.variables: list[tuple[str, Compiled]] = []
        for i, ext in enumerate(plan.get("extension", [])):
            if ext.get("url") == PLAN_VARIABLE:
                expr = ext["valueExpression"]
                self.variables.append((expr["name"], compile_expression(expr, f"{self.id} variable {i}")))
        self.actions = [self._compile(a, knowledge, f"{self.id}.action[{i}]") for i, a in enumerate(plan.get("action", []))]
        self._triggers = self._find_triggers()

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    def triggers(self) -> list[str]:
        """Named-event triggers of every action (CDS Hooks discovery)."""
        return list(self._triggers)

    def _find_triggers(self) -> tuple[str, ...]:
        found: list[str] = []

        def walk(actions):
            for a in actions:
                for t in a.get("trigger", []):
                    if t.get("type") == "named-event" and t.get("name") not in found:
                        found.append(t["name"])
                walk(a.get("action", []))
        walk(self.resource.get("action", []))
        return tuple(found)

    def _compile(self, action: dict, knowledge: KnowledgeBase, where: str) -> CompiledAction:
        coding = (action.get("code") or [{}])[0].get("coding", [{}])[0]
        definition = None
        if "definitionCanonical" in action:
            definition = knowledge.by_canonical(action["definitionCanonical"])
            if definition is None:
                raise PlanError(f"{where}: definition {action['definitionCanonical']} is not loaded")
        conditions = [compile_expression(c["expression"], f"{where}.condition[{i}]")
                      for i, c in enumerate(action.get("condition", [])) if c.get("kind") == "applicability"]
        dynamic = [(d["path"], compile_expression(d["expression"], f"{where}.dynamicValue[{i}]"))
                   for i, d in enumerate(action.get("dynamicValue", []))]
        return CompiledAction(
            code=coding.get("code", ""), coding=coding, title=texts(action, "title"),
            description=texts(action, "description"), documentation=action.get("documentation", []),
            priority=action.get("priority"), conditions=conditions, dynamic=dynamic, definition=definition,
            children=[self._compile(c, knowledge, f"{where}.action[{i}]") for i, c in enumerate(action.get("action", []))],
        )

    # -- evaluation --------------------------------------------------------

    def environment(self, case: dict) -> dict:
        """`%case` and every variable, evaluated in declaration order."""
        env = {"case": case}
        for name, fn in self.variables:
            env[name] = fn(case, env)
        return env

    def applicable(self, case: dict) -> list[AppliedAction]:
        """The actions whose conditions hold, in PlanDefinition order.

        An action with children applies only when one of its children does
        (a section without content is left out). The variables are computed when a
        condition or dynamic value first names one (LazyEnvironment): the result is that
        of the full :meth:`environment`, without the variables no reached condition uses.
        """
        return self._walk(self.actions, case, LazyEnvironment(case, self.variables), ())

    def _walk(self, actions, case, env, path) -> list[AppliedAction]:
        out = []
        for action in actions:
            if not _holds(action.conditions, case, env):
                continue
            here = path + (action.code,)
            children = self._walk(action.children, case, env, here)
            if action.children and not children:
                continue
            dynamic = {}
            for target, fn in action.dynamic:
                value = fn(case, env)
                if value:
                    dynamic[target] = value[0]
            out.append(AppliedAction(action, here, dynamic, children))
        return out


def _holds(conditions: list[Compiled], case: dict, env: dict) -> bool:
    """Every applicability condition is true (a plain loop: no generator per action)."""
    for fn in conditions:
        if fn(case, env) != [True]:
            return False
    return True


class PlanRegistry:
    """Every PlanDefinition of the knowledge base, compiled once."""

    def __init__(self, knowledge: KnowledgeBase):
        self.knowledge = knowledge
        self.plans = {p["id"]: CompiledPlan(p, knowledge) for p in knowledge.search("PlanDefinition", {})}

    def get(self, plan_id: str) -> CompiledPlan | None:
        return self.plans.get(plan_id)
