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

from service.facts.gather import ElementCodes, _Gatherer
from service.facts.model import Facts

__all__ = ["gather_answers"]

_NO_CODES = ElementCodes(types={}, codings={})


class _AnswerGatherer(_Gatherer):
    """A gathering pass over the responses to one Questionnaire (no Observations, no derived facts)."""

    def __init__(self, subject: str, today: date, questionnaire: str, items: Mapping[str, str]):
        super().__init__(subject, today, _NO_CODES)
        self.questionnaire = questionnaire
        self.items = items

    unknown_item = ("is not an item of the Questionnaire", "is geen vraag van de vragenlijst")
    # the self-check has no episodes and reads in-progress responses too (dak/self-check.md)
    read_statuses = None
    episodes = False

    def item_type(self, link_id: str) -> str | None:
        return self.items.get(link_id)

    def read(self, resource: dict) -> None:
        # only the responses: the self-check is decided on its own answers
        if resource.get("resourceType") == "QuestionnaireResponse":
            super().read(resource)

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
