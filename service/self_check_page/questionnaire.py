"""Questionnaire handling shared by the page and the submission check.

* :func:`translated`: an element's text in a language (the R4 ``translation``
  extension on ``_text`` / ``_title`` / ...), falling back to the base text;
* :func:`enabled_items`: the items enabled for a set of answers (``enableWhen``
  with ``enableBehavior``, disabled items count as unanswered, as in SDC);
* :func:`check_response`: a QuestionnaireResponse matches the Questionnaire:
  only known, enabled items, nested as in the Questionnaire, answers of the
  right type, every enabled required question answered.

Supported item types: ``group``, ``display``, ``boolean`` and ``choice``
(``answerOption`` with ``valueCoding``, ``valueString`` or ``valueInteger``).
The browser script (``static/zelfcheck.js``) evaluates ``enableWhen`` the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
SUPPORTED_TYPES = ("group", "display", "boolean", "choice")
ANSWER_KEYS = ("valueBoolean", "valueCoding", "valueString", "valueInteger")


class UnsupportedQuestionnaire(ValueError):
    """The Questionnaire uses something the page cannot render."""


def translated(element: dict, field: str, lang: str, base_lang: str = "nl") -> str | None:
    """``element[field]`` in *lang* (translation extension on ``_field``), else the base text."""
    base = element.get(field)
    if lang == base_lang:
        return base
    for ext in element.get(f"_{field}", {}).get("extension", []):
        if ext.get("url") != TRANSLATION:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", [])}
        if parts.get("lang", {}).get("valueCode", "").lower().split("-")[0] == lang:
            content = parts.get("content", {}).get("valueString")
            if content:
                return content
    return base


def walk(items: list[dict]) -> Iterator[dict]:
    for item in items:
        yield item
        yield from walk(item.get("item", []))


def check_supported(questionnaire: dict) -> None:
    """UnsupportedQuestionnaire when an item cannot be rendered by the page."""
    seen: set[str] = set()
    for item in walk(questionnaire.get("item", [])):
        link_id = item.get("linkId")
        if not link_id or link_id in seen:
            raise UnsupportedQuestionnaire(f"item without a unique linkId: {link_id!r}")
        seen.add(link_id)
        kind = item.get("type")
        if kind not in SUPPORTED_TYPES:
            raise UnsupportedQuestionnaire(f"item {link_id}: type {kind!r} is not supported by the self-check page")
        if kind == "choice" and not item.get("answerOption"):
            raise UnsupportedQuestionnaire(f"item {link_id}: a choice needs answerOption")
        if item.get("repeats"):
            raise UnsupportedQuestionnaire(f"item {link_id}: repeating items are not supported")


def option_value(option: dict) -> tuple[str, object]:
    """(answer key, value) of an answerOption."""
    for key in ANSWER_KEYS[1:]:
        if key in option:
            return key, option[key]
    raise UnsupportedQuestionnaire("answerOption needs valueCoding, valueString or valueInteger")


def answer_key(answer: dict) -> str:
    """A comparable form of one answer ({"valueBoolean": true} → 'valueBoolean:true')."""
    for key in ANSWER_KEYS:
        if key in answer:
            value = answer[key]
            if key == "valueCoding":
                value = {"system": value.get("system"), "code": value.get("code")}
            return f"{key}:{json.dumps(value, sort_keys=True)}"
    return "?"


def _expected(condition: dict) -> str | None:
    for key, value in condition.items():
        if key.startswith("answer"):
            return answer_key({"value" + key[len("answer"):]: value})
    return None


def _condition(condition: dict, answers: dict[str, list[dict]]) -> bool:
    given = answers.get(condition.get("question"), [])
    operator = condition.get("operator")
    if operator == "exists":
        return bool(given) == bool(condition.get("answerBoolean"))
    expected = _expected(condition)
    keys = [answer_key(a) for a in given]
    if operator == "=":
        return expected in keys
    if operator == "!=":  # no answer counts as "not equal" (R5 clarification)
        return expected not in keys
    if operator in (">", "<", ">=", "<="):
        numbers = [a.get("valueInteger") for a in given if isinstance(a.get("valueInteger"), int)]
        limit = next((v for k, v in condition.items() if k in ("answerInteger", "answerDecimal")), None)
        if limit is None:
            return False
        compare = {">": lambda x: x > limit, "<": lambda x: x < limit,
                   ">=": lambda x: x >= limit, "<=": lambda x: x <= limit}[operator]
        return any(compare(n) for n in numbers)
    return False


def is_enabled(item: dict, answers: dict[str, list[dict]]) -> bool:
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    results = [_condition(c, answers) for c in conditions]
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def enabled_items(questionnaire: dict, answers: dict[str, list[dict]]) -> set[str]:
    """linkIds enabled for *answers* (linkId → answers); a disabled item's answers do not count."""
    items = list(walk(questionnaire.get("item", [])))
    current = dict(answers)
    enabled: set[str] = set()
    for _ in range(len(items) + 1):  # until stable (chains of enableWhen)
        enabled = set()

        def visit(level: list[dict], parent_enabled: bool) -> None:
            for item in level:
                on = parent_enabled and is_enabled(item, current)
                if on:
                    enabled.add(item["linkId"])
                visit(item.get("item", []), on)

        visit(questionnaire.get("item", []), True)
        filtered = {k: v for k, v in answers.items() if k in enabled}
        if filtered == current:
            break
        current = filtered
    return enabled


class ResponseProblem(ValueError):
    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.message, self.expression = message, expression


def check_response(questionnaire: dict, response: dict) -> dict[str, list[dict]]:
    """The answers (linkId → answers) of a valid response; ResponseProblem otherwise."""
    by_id = {i["linkId"]: i for i in walk(questionnaire.get("item", []))}
    answers: dict[str, list[dict]] = {}

    def visit(q_items: list[dict], r_items: object, where: str) -> None:
        if not isinstance(r_items, list):
            raise ResponseProblem("item must be a list", where)
        allowed = {i["linkId"]: i for i in q_items}
        for n, r_item in enumerate(r_items):
            at = f"{where}[{n}]"
            if not isinstance(r_item, dict):
                raise ResponseProblem("an item must be an object", at)
            link_id = r_item.get("linkId")
            q_item = allowed.get(link_id)
            if q_item is None:
                found = "elsewhere in" if link_id in by_id else "not in"
                raise ResponseProblem(f"item {str(link_id)[:64]!r} is {found} this level of the Questionnaire", at)
            if link_id in answers or (q_item["type"] == "group" and link_id in seen_groups):
                raise ResponseProblem(f"item {link_id!r} occurs more than once", at)
            if q_item["type"] == "group":
                seen_groups.add(link_id)
                if "answer" in r_item:
                    raise ResponseProblem(f"group {link_id!r} cannot have an answer", at)
                visit(q_item.get("item", []), r_item.get("item", []), f"{at}.item")
            elif q_item["type"] == "display":
                raise ResponseProblem(f"display item {link_id!r} cannot be answered", at)
            else:
                if "item" in r_item:
                    raise ResponseProblem(f"question {link_id!r} cannot have nested items", at)
                given = r_item.get("answer")
                if not isinstance(given, list) or len(given) != 1 or not isinstance(given[0], dict):
                    raise ResponseProblem(f"question {link_id!r} needs exactly one answer", f"{at}.answer")
                answers[link_id] = [_checked_answer(q_item, given[0], f"{at}.answer[0]")]

    seen_groups: set[str] = set()
    visit(questionnaire.get("item", []), response.get("item", []), "QuestionnaireResponse.item")
    enabled = enabled_items(questionnaire, answers)
    for link_id in answers:
        if link_id not in enabled:
            raise ResponseProblem(f"question {link_id!r} is not enabled by the other answers and must not be "
                                  "answered", "QuestionnaireResponse.item")
    for link_id, item in by_id.items():
        if item.get("required") and item["type"] not in ("group", "display") and link_id in enabled \
                and link_id not in answers:
            raise ResponseProblem(f"required question {link_id!r} is not answered", "QuestionnaireResponse.item")
    return answers


def _checked_answer(q_item: dict, answer: dict, where: str) -> dict:
    keys = [k for k in answer if k.startswith("value")]
    if len(keys) != 1 or set(answer) - {keys[0]}:
        raise ResponseProblem("an answer must hold exactly one value[x]", where)
    key, value = keys[0], answer[keys[0]]
    if q_item["type"] == "boolean":
        if key != "valueBoolean" or not isinstance(value, bool):
            raise ResponseProblem(f"question {q_item['linkId']!r} needs valueBoolean", where)
        return {key: value}
    options = {answer_key(dict([option_value(o)])) for o in q_item.get("answerOption", [])}
    if answer_key(answer) not in options:
        raise ResponseProblem(f"question {q_item['linkId']!r}: the answer is not one of its options", where)
    return {key: value}
