"""CDS Hooks 2.0 discovery (`GET {base}/cds-services`), generated from the PlanDefinitions.

One service entry per (PlanDefinition, named-event trigger), each with an id of
its own (outputs.md v2: `services.service_id` — clients such as the reference
sandbox keep one service per id), `hook` = the trigger, `title` / `description`
= the PlanDefinition's (Dutch), `prefetch` = the templates below,
`usageRequirements` (Dutch, per PlanDefinition).

Prefetch templates (`PREFETCH_KEYS`, per hook; the fetch layer runs the same
queries when a key is missing). Choices, all within the query subset CDS
Hooks 2.0 §Prefetch query restrictions RECOMMENDS (instance read, type-level
search, resource references, token equality, no modifiers, no chaining):

* `patient`: `Patient/{{context.patientId}}` — an instance read (age).
* `intake`: the QuestionnaireResponses of the patient for the intake
  Questionnaire. `patient` is used (not `subject`): it is the form of the
  spec's own examples and cannot match a Group or Device subject.
  `questionnaire` is a *reference* search parameter of R4
  QuestionnaireResponse whose value is the canonical URL (unversioned, so
  every version of the intake matches).
* `conditions`: neck-pain Conditions by SNOMED CT code (token equality, codes
  OR-ed with commas as `system|code`) — the codes gathering reads
  (`service.facts.gather.NECK_PAIN_CONDITIONS`).
* `obs-<group>`: the Observations that can stand for a data element, by
  code, one key per data-dictionary group (episode, red flags, radicular,
  prognosis, measurements) so that every URL stays under 2 kB:
  every coding the gathering layer maps to an element (the local codes and
  the data dictionary's LOINC / SNOMED CT `also` codings), plus the Nictiz
  zib PainScore (SNOMED CT 225908003) with the NPRS. Codes are always
  `system|code` (a bare code would match any code system).
* No `status`, `_count` or date filters: the gathering layer reads only
  usable statuses and the latest value itself, and says what it did not use
  (shown with the evidence); a count or date limit would silently drop
  earlier measurements the course and the treatment effect need.
* Only `{{context.patientId}}` is used as a token: every hook of the hooks
  library (1.0.1) marks `patientId` as a prefetch token.
* The same templates for every hook: every service evaluates the same case
  features (the order checks need the episode and the subgroup, which come
  from the intake, the Conditions and the findings).

The templates are generated from the packaged knowledge (CodeSystem
`nekpijn`, Questionnaire `nekpijn-intake`) once at import; discovery
advertises exactly `PREFETCH_KEYS`, so what is advertised is what the fetch
layer asks for.
"""

from __future__ import annotations

import weakref

from service.facts.gather import (
    INTAKE_QUESTIONNAIRE,
    NECK_PAIN_CONDITIONS,
    PAIN_SCORE,
    SNOMED,
    ElementCodes,
    load_element_codes,
)
from service.apply.plans import texts
from service.cds_hooks.services import services as cds_services
from service.jsonio import dumps

PATIENT_TOKEN = "{{context.patientId}}"

#: Hooks of the hooks library 1.0.1 (all have `patientId` as a prefetch token).
LIBRARY_HOOKS = ("patient-view", "encounter-start", "encounter-discharge", "order-select", "order-sign",
                 "order-dispatch", "appointment-book")

#: Data-dictionary groups → prefetch key, in the order they are advertised.
OBSERVATION_GROUPS = (
    ("episode", "obs-episode"),
    ("red-flags", "obs-red-flags"),
    ("radicular", "obs-radicular"),
    ("prognosis", "obs-prognosis"),
    ("measurements", "obs-measurements"),
)

USAGE_REQUIREMENTS = {
    "nekpijn-behandelprofiel": (
        "Vereist de nekpijnintake van de patiënt (QuestionnaireResponse op Questionnaire nekpijn-intake) en de "
        "metingen en bevindingen (Observations: NPRS, PSK, klinische tests, cervicale rotatie, rode vlaggen, "
        "prognostische factoren), via prefetch of via de FHIR-server van het EPD (fhirServer en "
        "fhirAuthorization). Zonder deze gegevens kan de service geen graad en geen behandelprofiel bepalen."),
    "nekpijn-orders": (
        "Controleert de conceptorders in context.draftOrders. Vereist de nekpijnintake (QuestionnaireResponse op "
        "Questionnaire nekpijn-intake) of een nekpijndiagnose (Condition) en de bevindingen van de patiënt "
        "(Observations), via prefetch of via de FHIR-server van het EPD (fhirServer en fhirAuthorization); "
        "zonder nekpijnepisode worden geen orders gemarkeerd."),
}
DEFAULT_USAGE = ("Vereist de nekpijnintake (QuestionnaireResponse op Questionnaire nekpijn-intake) en de metingen "
                 "van de patiënt (Observations), via prefetch of via de FHIR-server van het EPD.")


def _codes_query(codings: list[tuple[str, str]]) -> str:
    return ",".join(f"{system}|{code}" for system, code in codings)


def prefetch_templates(codes: ElementCodes) -> dict[str, str]:
    """The prefetch templates (key → FHIR query) for the element codes of a knowledge base."""
    templates = {
        "patient": f"Patient/{PATIENT_TOKEN}",
        "intake": f"QuestionnaireResponse?patient={PATIENT_TOKEN}&questionnaire={INTAKE_QUESTIONNAIRE}",
        "conditions": f"Condition?patient={PATIENT_TOKEN}&code="
                      + _codes_query([(SNOMED, c) for c in sorted(NECK_PAIN_CONDITIONS)]),
    }
    by_element: dict[str, list[tuple[str, str]]] = {}
    for pair, element in codes.codings.items():  # local code first, then the `also` codings
        by_element.setdefault(element, []).append(pair)
    by_element.setdefault("nprs", []).append(PAIN_SCORE)  # Nictiz zib PainScore (method NRS)
    placed: set[str] = set()
    for group, key in OBSERVATION_GROUPS:
        pairs = [p for element in codes.types if codes.groups.get(element) == group
                 for p in by_element.get(element, [])]
        placed.update(e for e in codes.types if codes.groups.get(e) == group)
        if pairs:
            templates[key] = f"Observation?patient={PATIENT_TOKEN}&code={_codes_query(pairs)}"
    rest = [p for element in codes.types if element not in placed for p in by_element.get(element, [])]
    if rest:  # elements of a group this module does not know yet: never silently left out
        templates["obs-other"] = f"Observation?patient={PATIENT_TOKEN}&code={_codes_query(rest)}"
    return templates


_TEMPLATES = prefetch_templates(load_element_codes())

#: hook → prefetch key → FHIR query template (the packaged knowledge).
PREFETCH_KEYS: dict[str, dict[str, str]] = {hook: dict(_TEMPLATES) for hook in LIBRARY_HOOKS}


def discovery(engine) -> dict:
    """The discovery document: {"services": [...]}, one per named-event trigger of every PlanDefinition."""
    entries = []
    for service in cds_services(engine):
        plan = engine.plans.plans[service.plan_id]
        entry = {"hook": service.hook, "id": service.id}
        title = plan.title.get("nl")
        if title:
            entry["title"] = title
        entry["description"] = texts(plan.resource, "description").get("nl") or title or plan.id
        if service.hook in PREFETCH_KEYS:
            entry["prefetch"] = dict(PREFETCH_KEYS[service.hook])
        entry["usageRequirements"] = USAGE_REQUIREMENTS.get(plan.id, DEFAULT_USAGE)
        entries.append(entry)
    return {"services": entries}


_ANSWERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def discovery_answer(engine) -> bytes:
    """The discovery document as JSON bytes, built once per engine (its knowledge is read-only)."""
    answer = _ANSWERS.get(engine)
    if answer is None:
        answer = _ANSWERS[engine] = dumps(discovery(engine))
    return answer
