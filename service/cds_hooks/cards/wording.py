"""Card wording helpers (outputs.md "CDS Hooks cards", v2): Markdown escaping, Dutch short
dates ("14 jan 2027"; English "14 Jan 2027"), short labels (up to the first parenthesis),
numbers with a decimal comma, lists, the summary limit and fitting a detail into its limit."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Callable, Iterable
from service.apply.narrative import guideline_label
from service.rules.common import fmt_num, fmt_signed

SUMMARY_LIMIT = 140  # CDS Hooks: "<140-character summary"
RED_FLAG_LIMIT = 700  # outputs.md v2: profile card and red-flag cards
CARD_LIMIT = 400      # outputs.md v2: every other card

MONTHS = {
    "nl": ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
AND = {"nl": "en", "en": "and"}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]])")
_MD_HTML = re.compile(r"<(?=[A-Za-z/!?])")
_PARENTHESIS = re.compile(r"\s*\(.*$", re.S)
_NUMERIC_DATE = re.compile(r"\b(\d{2})-(\d{2})-(\d{4})\b")


@functools.lru_cache(maxsize=4096)  # nearly all calls are on the same catalogue texts
def md(text: str) -> str:
    """Plain text for a Markdown (GFM) detail: emphasis, code, links and HTML tags escaped."""
    return _MD_HTML.sub(r"\\<", _MD_SPECIAL.sub(r"\\\1", text))


def short_date(day: date | datetime | str | None, lang: str) -> str:
    """"14 jan 2027" (English "14 Jan 2027"); '' for no date."""
    if isinstance(day, str):
        day = parse_day(day)
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = day.date()
    return f"{day.day} {MONTHS[lang][day.month - 1]} {day.year}"


def parse_day(value: str | None) -> date | None:
    """The calendar day of a FHIR date / dateTime string (its own local date), or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def short_dates_in(text: str, lang: str) -> str:
    """Numeric dates ("02-11-2026", as the rules write them) as short dates."""
    def repl(m: re.Match) -> str:
        try:
            return short_date(date(int(m.group(3)), int(m.group(2)), int(m.group(1))), lang)
        except ValueError:
            return m.group(0)
    return _NUMERIC_DATE.sub(repl, text)


def guideline_ref(text: str, lang: str) -> str:
    """A guideline reference in the card language: English says "table", not "tabel", and
    "Appendix", not "Bijlage" (the same wording as the CarePlan narrative)."""
    return guideline_label(text, lang)


def short_label(text: str) -> str:
    """A data-dictionary label up to its first parenthesis (outputs.md: red-flag cards)."""
    return _PARENTHESIS.sub("", text).strip() or text


def lower_first(text: str) -> str:
    """"Nekpijn graad II" → "nekpijn graad II"; acronyms ("TSK overwegen") stay."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def listing(items: Iterable[str], lang: str) -> str:
    """"a, b en c" / "a, b and c"."""
    items = [i for i in items if i]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {AND[lang]} " + items[-1]


def number(value: float, decimals: int | None, lang: str) -> str:
    """7 / 6,0 (Dutch decimal comma); `decimals` None: none for whole numbers, else one."""
    return fmt_num(float(value), lang, decimals)


def signed(value: float, lang: str) -> str:
    return fmt_signed(value, lang)


def summary(text: str) -> str:
    """One line under the CDS Hooks summary limit."""
    text = " ".join(text.split())
    if len(text) < SUMMARY_LIMIT:
        return text
    return text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def join(blocks: Iterable[str]) -> str:
    return "\n\n".join(b for b in blocks if b)


def fit(build: Callable[[int], list[str]], limit: int, levels: int) -> str:
    """The richest detail that fits: `build(level)` gives the blocks, level 0 the fullest and
    `levels - 1` the most compact; the most compact is returned when none fits (a red-flag card
    never drops a flag, so its last level still holds every flag)."""
    detail = ""
    for level in range(levels):
        detail = join(build(level))
        if len(detail) <= limit:
            return detail
    return detail
