"""Shared helpers of the decision tables: evidence, labels and the wording of explanations.

Explanations are one or two sentences in Dutch (primary) and English that a
physiotherapist understands: the result, the decisive evidence with its date
(e.g. "intake 15-06-2026"), and for provisional results why.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Iterable

from service.facts.gather import ElementCodes, fmt_iso, load_element_codes
from service.facts.model import Fact, Feature, Measurement, Source

_PARENTHESIS = re.compile(r"\s*\(.*$")

SOURCE_WORDS = {
    "answer": ("intake", "intake"),
    "observation": ("observatie", "observation"),
    "condition": ("diagnose", "diagnosis"),
    "patient": ("geboortedatum", "date of birth"),
}


def codes_or_default(codes: ElementCodes | None) -> ElementCodes:
    return codes if codes is not None else load_element_codes()


# -- evidence ----------------------------------------------------------------


def evidence(*items: Fact | Source | Measurement | Feature | Iterable | None) -> tuple[Source, ...]:
    """The resources behind facts / sources / measurements / features, deduplicated, in order.

    Derived facts contribute the sources they were derived from.
    """
    out: dict[str, Source] = {}
    _collect(items, out)
    return tuple(out.values())


def _collect(items, out: dict[str, Source]) -> None:
    for item in items:
        kind = type(item)
        if kind is Source:
            if item.reference and item.reference not in out:
                out[item.reference] = item
        elif kind is Fact:
            source = item.source
            if source.kind == "derived" or not source.reference:
                _collect(item.derived_from, out)
            elif source.reference not in out:
                out[source.reference] = source
        elif kind is Measurement:
            if item.source.reference not in out:
                out[item.source.reference] = item.source
        elif kind is Feature:
            _collect(item.evidence, out)
        elif item is not None:
            _collect(item, out)


# -- wording -----------------------------------------------------------------


def fmt_day(day: date | None, lang: str) -> str:
    if day is None:
        return "zonder datum" if lang == "nl" else "undated"
    return fmt_iso(day, lang)


def fmt_num(value: float, lang: str, decimals: int | None = None) -> str:
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "nl" else text


def fmt_signed(value: float, lang: str) -> str:
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return sign + fmt_num(abs(value), lang, 1)


def source_phrase(source: Source, lang: str) -> str:
    nl, en = SOURCE_WORDS.get(source.kind, ("bron", "source"))
    word = en if lang == "en" else nl
    if source.kind == "patient":
        return word
    return f"{word} {fmt_day(source.day, lang)}"


def when(sources: Iterable[Source], lang: str) -> str:
    """"intake 15-06-2026; observatie 15-06-2026" for the evidence (deduplicated)."""
    phrases: list[str] = []
    for source in sources:
        phrase = source_phrase(source, lang)
        if phrase not in phrases:
            phrases.append(phrase)
    return "; ".join(phrases)


def paren(items, lang: str, lead: str = "") -> str:
    """" (lead; intake 15-06-2026)" for facts / sources / measurements / features; "" when empty."""
    text = "; ".join(filter(None, (lead, when(evidence(items), lang))))
    return f" ({text})" if text else ""


def listing(items: Iterable[str], lang: str) -> str:
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    last = " en " if lang == "nl" else " and "
    return ", ".join(items[:-1]) + last + items[-1]


def label(code: str, lang: str, codes: ElementCodes, *, short: bool = True, lower: bool = True) -> str:
    """Display of a local code; short: without the parenthesised detail; lower: sentence case."""
    text = codes.label(code, lang)
    if short:
        text = _PARENTHESIS.sub("", text) or text
    if lower and len(text) > 1 and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def labels(codes_: Iterable[str], lang: str, codes: ElementCodes) -> str:
    return listing((label(c, lang, codes) for c in codes_), lang)


def feature(code: str, value: str | bool, rule: str, nl: str, en: str,
            evidence_: tuple[Source, ...] = (), **kwargs) -> Feature:
    return Feature(code=code, value=value, rule=rule, explanation={"nl": nl, "en": en},
                   evidence=evidence_, **kwargs)
