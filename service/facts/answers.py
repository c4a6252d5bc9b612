"""Gathering the answers to one patient Questionnaire (the self-check) from plain FHIR JSON.

`gather_answers(resources, subject, today, questionnaire, items)` reads the
QuestionnaireResponses of `subject` to the Questionnaire `questionnaire`
(canonical URL, any version) and returns `Facts` whose `answers` hold the
winning answer per item:

* answers are found at any depth (item.item and answer.item);
* over several responses the newest `authored` wins per linkId, exactly as
  for the intake (`service/facts/gather.py`: same subject matching, same
  statuses read — in-progress, completed, amended —, a response without a
  usable `authored` loses against every dated one, and on equal instants the
  first one in the input wins);
* `items` maps each linkId to its type (`boolean`, ...); answers to other
  linkIds, and answers of the wrong type, are not read (noted in `ignored`);
* `Facts.intakes` lists the responses read (as Sources, sorted by authored).

Other resources in the input (a Patient, Observations, ...) are not read: the
self-check is decided on its own answers. Raises NoDataError when no response
of the subject to the Questionnaire can be read.
"""

from __future__ import annotations

from datetime import date
from typing import Mapping

from service.facts.gather import IGNORED_QR_STATUS, ElementCodes, _answer_value, _Gatherer, parse_instant
from service.facts.model import Fact, Facts, Source

__all__ = ["gather_answers"]

_NO_CODES = ElementCodes(types={}, codings={})


class _AnswerGatherer(_Gatherer):
    """A gathering pass over the responses to one Questionnaire (no Observations, no derived facts)."""

    def __init__(self, subject: str, today: date, questionnaire: str, items: Mapping[str, str]):
        super().__init__(subject, today, _NO_CODES)
        self.questionnaire = questionnaire
        self.items = items

    def read(self, resource: dict) -> None:
        if resource.get("resourceType") != "QuestionnaireResponse":
            return
        name = f"QuestionnaireResponse/{resource.get('id', '')}"
        rid = resource.get("id")
        if rid:
            if ("QuestionnaireResponse", rid) in self.seen:
                self.note(name, "duplicate, read once", "dubbel aangeleverd, één keer gelezen")
                return
            self.seen.add(("QuestionnaireResponse", rid))
        canonical = resource.get("questionnaire")
        if not isinstance(canonical, str) or canonical.split("|", 1)[0] != self.questionnaire:
            self.note(name, f"not a response to {self.questionnaire}", f"geen antwoord op {self.questionnaire}")
            return
        status = resource.get("status")
        if status in IGNORED_QR_STATUS:
            self.note(name, f"status {status}", f"status {status}")
            return
        if not self.of_subject(resource, name):
            return
        authored = resource.get("authored")
        instant = parse_instant(authored) if isinstance(authored, str) else None
        if instant is None:
            self.note(name, "no usable authored date; its answers lose against every dated response",
                      "geen bruikbare datum (authored); de antwoorden wijken voor elk gedateerd antwoord")
        source = Source(name, instant, "answer")
        self.facts.intakes.append(source)
        self.usable = True
        found: dict[str, dict] = {}
        self._collect(resource.get("item", ()), found)
        for link_id, answer in found.items():
            kind = self.items.get(link_id)
            if kind is None:
                self.note(name, f"linkId {link_id!r} is not an item of the Questionnaire",
                          f"linkId {link_id!r} is geen vraag van de vragenlijst")
                continue
            value = _answer_value(kind, answer)
            if value is None:
                self.note(name, f"answer to {link_id!r} is not a valid {kind} value",
                          f"antwoord op {link_id!r} is geen geldige waarde ({kind})")
                continue
            self.offer(link_id, Fact(link_id, value, source), 0)

    def derive(self) -> None:  # no derived facts: the answers are the facts
        return


def gather_answers(resources: list[dict], subject: str, today: date, questionnaire: str,
                   items: Mapping[str, str]) -> Facts:
    """The answers of `subject` ("Patient/<id>") to `questionnaire`, newest per linkId."""
    gatherer = _AnswerGatherer(subject, today, questionnaire, items)
    for resource in resources:
        if isinstance(resource, dict):
            gatherer.read(resource)
    return gatherer.result()
