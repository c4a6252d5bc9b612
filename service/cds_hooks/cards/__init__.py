"""CDS Hooks 2.0 cards from an $apply result (dak/outputs.md "CDS Hooks cards", v2).

`render_cards(result, engine, service_id=..., hook_instance=..., lang=...)` turns the
ApplyResult of a PlanDefinition into the cards of a service response — a pure function, no
HTTP needed (the reference-case card-rule test calls it directly); `card_records(cards)`
gives what the store keeps per issued card.

One module per card kind, each next to its bullet of outputs.md:

  grade_iv.py       serious-pathology suspected: the critical card
  red_flags.py      unresolved / not-assessed: the warning card with the prompts
  recognisable.py   excluded with flags present: the flags stay in view (v2)
  profile.py        treatment profile A–D
  prompts.py        the assessment prompts
  follow_up.py      rec-stop-contact-gp, rec-refer-back-gp, the §1 referral in the consult's place
  referrals.py      every other referral / consult of the plan
  orders.py         nekpijn-orders: one card per flagged draft order
  render.py         which cards a call gets; the one-card rule
  context.py        the shared frame (uuid, source, override reasons, suggestions, links)
  flags.py, measurements.py, due.py, wording.py, hygiene.py   shared pieces

The v2 rules every card keeps: detail ≤ 700 characters for the profile and red-flag cards,
≤ 400 for every other card (`wording.RED_FLAG_LIMIT`, `CARD_LIMIT`; Markdown source, Python
`len`), a red-flag card never drops a flag (short labels instead), no static lists, each
classification once, Dutch short dates ("14 jan 2027"), English "table" for "tabel".

Every card: uuid (uuid5 over hook instance, service id and card key: a retried call gives
the same uuids), summary < 140 characters, indicator, Markdown detail, source {label, url
of the guideline, topic = the card kind as a Coding of the local CodeSystem}, links to the
guideline sections, the override reasons of the CodeSystem, and with suggestions
selectionBehavior "at-most-one" (at most one recommended). Nothing is ever null or empty
(`hygiene.prune_card`: the card frame pruned; the CarePlan a suggestion creates is built
without empties, service/apply/careplan.py). Standalone resources in suggestions are copies of
the contained requests without the contained-only id and `basedOn` the RequestGroup, with the
contained resources they point to, and the priority the plan gave them.
"""

from __future__ import annotations

from service.apply.engine import ApplyResult
from service.cds_hooks.cards.context import GUIDELINE_LABEL, CardContext
from service.cds_hooks.cards.hygiene import find_empties, prune
from service.cds_hooks.cards.records import IssuedCardInfo, card_records
from service.cds_hooks.cards.render import render
from service.cds_hooks.cards.wording import CARD_LIMIT, RED_FLAG_LIMIT, SUMMARY_LIMIT, md

__all__ = ["render_cards", "card_records", "IssuedCardInfo", "prune", "find_empties", "md", "GUIDELINE_LABEL",
           "CARD_LIMIT", "RED_FLAG_LIMIT", "SUMMARY_LIMIT", "detail_limit"]

#: card kinds (source.topic.code) whose detail may hold 700 characters (outputs.md v2)
LONG_KINDS = ("profile-a", "profile-b", "profile-c", "profile-d", "grade-iv", "rec-assess-pattern",
              "rec-screen-red-flags", "serious-pathology")


def detail_limit(card: dict) -> int:
    """The detail limit of a rendered card: 700 for the profile and red-flag cards, else 400."""
    return RED_FLAG_LIMIT if card["source"]["topic"]["code"] in LONG_KINDS else CARD_LIMIT


def render_cards(result: ApplyResult, engine, *, service_id: str, hook_instance: str, lang: str = "nl",
                 fhir_base: str | None = None, plan_id: str | None = None) -> list[dict]:
    """The cards for one service call (see the module docstring).

    `result` is `engine.apply(plan_id, ...)` — ideally made with the same `lang`, since the
    CarePlan in the profile card is offered as $apply made it. `service_id` names the CDS
    service (uuids, store); `plan_id` its PlanDefinition (default: the service's, by
    `service.cds_hooks.services`). `fhir_base` (optional): the public FHIR base of this
    service; when given, each card also links to the knowledge artifact behind it.
    """
    if plan_id is None:
        from service.cds_hooks.services import plan_of
        plan_id = plan_of(engine, service_id)
    return render(CardContext(result, engine, service_id, plan_id, hook_instance, lang, fhir_base))
