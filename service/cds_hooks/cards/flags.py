"""The red flags on a card (outputs.md v2): per pathology, with short labels (the data
dictionary label up to its first parenthesis), never a flag left out; and the screening
count of decision-logic §1 ("3 van de 21 rode vlaggen nagevraagd", without the derived
`rf-no-improvement-4w`), naming up to eight missing items, then "en N andere"."""

from __future__ import annotations

from service.cds_hooks.cards.context import CardContext
from service.cds_hooks.cards.wording import listing, md, upper_first

NO_IMPROVEMENT = "rf-no-improvement-4w"  # derived (§9); not a screening item (§1 v2)
NAMED_MISSING = 8

WORDS = {
    "nl": {"flags": "Rode vlaggen", "count": "{n} van de {total} rode vlaggen nagevraagd",
           "missing": "nog niet", "others": "{n} andere"},
    "en": {"flags": "Red flags", "count": "{n} of the {total} red flags asked about",
           "missing": "not yet", "others": "{n} others"},
}


def per_pathology(ctx: CardContext) -> list[tuple[str, list[str]]]:
    """(pathology, flag labels) for every pathology with a flag present (the feature's components)."""
    feature = ctx.case.feature("serious-pathology")
    if feature is None:
        return []
    return [(ctx.pathology(pathology), [ctx.label(flag) for flag in flags]) for pathology, flags in feature.components]


def flag_block(ctx: CardContext, compact: bool = False) -> str:
    """"**Rode vlaggen**" with a line per pathology; compact: one paragraph."""
    groups = per_pathology(ctx)
    if not groups:
        return ""
    if compact:
        return md("; ".join(f"{name}: {', '.join(flags)}" for name, flags in groups)) + "."
    lines = [f"- **{md(name)}:** {md(', '.join(flags))}" for name, flags in groups]
    return f"**{WORDS[ctx.lang]['flags']}**\n\n" + "\n".join(lines)


def screening_items(ctx: CardContext) -> list[str]:
    """The §1 screening items: the clinical red flags of the data dictionary, without the derived one."""
    return [code for code in ctx.codes.red_flags if code != NO_IMPROVEMENT]


def screening_count(ctx: CardContext) -> str:
    """"3 van de 21 rode vlaggen nagevraagd; nog niet: koorts, … en 10 andere"."""
    words = WORDS[ctx.lang]
    items = screening_items(ctx)
    answered = [code for code in items if ctx.case.facts.answered(code)]
    missing = [ctx.label(code) for code in items if code not in answered]
    text = words["count"].format(n=len(answered), total=len(items))
    if missing:
        named = missing[:NAMED_MISSING]
        rest = len(missing) - len(named)
        if rest:
            named.append(words["others"].format(n=rest))
        text += f"; {words['missing']}: {listing(named, ctx.lang)}"
    return upper_first(md(text)) + "."
