"""Serious pathology not yet excluded — `unresolved` / `not-assessed` (outputs.md "CDS Hooks
cards"; decision-logic §1, §7 "restricted").

One `warning` card that holds every assessment prompt of the restricted plan (they are on no
other card). `unresolved`: the flags per pathology and the §1 GP referral as a suggestion,
recommended when §1 says so (%case `gp-referral-recommended`: a weighty flag open).
`not-assessed`: the screening count naming the items not yet asked. The provisional profile
is named; no treatment card until grade IV is excluded. Detail ≤ 700 characters, never a
flag left out [B.1, tabel 2, Bijlage 1 §2].
"""

from __future__ import annotations

from service.cds_hooks.cards.context import CardContext, Item
from service.cds_hooks.cards.flags import flag_block, screening_count
from service.cds_hooks.cards.wording import RED_FLAG_LIMIT, fit, lower_first, md, upper_first

PROFILES = ("profile-a", "profile-b", "profile-c", "profile-d")

WORDS = {
    "nl": {
        "unresolved": "Rode vlaggen aanwezig: beoordeel eerst het klachtenpatroon",
        "not-assessed": "Rode vlaggen nog niet uitgevraagd: sluit eerst ernstige pathologie uit",
        "why-unresolved": "Ernstige pathologie (graad IV) is nog niet uitgesloten: er zijn rode vlaggen zonder "
                          "conclusie over het klachtenpatroon na hun ontstaan (B.1).",
        "why-not-assessed": "Ernstige pathologie (graad IV) is nog niet uitgesloten: de rode vlaggen zijn niet "
                            "volledig uitgevraagd en er is geen conclusie over het klachtenpatroon (B.1).",
        "todo": "Te doen",
        "gp-recommended": "Verwijzing naar de huisarts aanbevolen: zwaarwegende rode vlag (B.1).",
        "gp-option": "Verwijzing naar de huisarts is mogelijk.",
        "provisional": "Voorlopig {profile}; het behandelplan volgt als graad IV is uitgesloten.",
    },
    "en": {
        "unresolved": "Red flags present: assess the complaint pattern first",
        "not-assessed": "Red flags not yet screened: rule out serious pathology first",
        "why-unresolved": "Serious pathology (grade IV) is not yet ruled out: there are red flags without a "
                          "conclusion on the complaint pattern after they arose (B.1).",
        "why-not-assessed": "Serious pathology (grade IV) is not yet ruled out: the red flags have not all been "
                            "asked and there is no conclusion on the complaint pattern (B.1).",
        "todo": "To do",
        "gp-recommended": "Referral to the GP recommended: a weighty red flag (B.1).",
        "gp-option": "A referral to the GP is possible.",
        "provisional": "Provisionally {profile}; the treatment plan follows once grade IV is ruled out.",
    },
}


def what_to_do(description: str) -> str:
    """The task of a prompt's description: "Rode vlaggen aanwezig: beoordeel …" → "Beoordeel …"
    (the situation before the colon is what the card already says)."""
    head, sep, rest = description.partition(": ")
    return upper_first(rest) if sep and len(head) < 60 and rest else description


def prompt_block(ctx: CardContext, prompts: list[Item], level: int) -> str:
    """The prompts: level 0 title and description, level 1 titles, level 2 titles in one line."""
    if not prompts:
        return ""
    if level >= 3:
        return f"{WORDS[ctx.lang]['todo']}: " + md("; ".join(lower_first(ctx.title(p)) for p in prompts)) + "."
    head = f"**{WORDS[ctx.lang]['todo']}**\n\n"
    if level == 2:
        return head + md("; ".join(ctx.title(p) for p in prompts)) + "."
    lines = []
    for i, prompt in enumerate(prompts):
        line = f"- **{md(ctx.title(prompt))}**"
        if level == 0 and i == 0 and ctx.description(prompt):
            line += f" — {md(what_to_do(ctx.description(prompt)))}"
        lines.append(line)
    return head + "\n".join(lines)


def red_flag_card(ctx: CardContext, value: str, prompts: list[Item], gp: Item | None) -> dict:
    """`value` is `unresolved` or `not-assessed`; `gp`: the §1 GP option when it is on this card."""
    words = WORDS[ctx.lang]
    recommended = bool(ctx.derived("gp-referral-recommended", False))
    profile = ctx.case.feature("treatment-profile")
    provisional = ""
    if profile is not None and profile.value in PROFILES:
        provisional = md(words["provisional"].format(profile=lower_first(ctx.display(str(profile.value)))))
    gp_line = (words["gp-recommended"] if recommended else words["gp-option"]) if gp else ""

    def build(level: int) -> list[str]:
        if value == "unresolved":
            body = [flag_block(ctx, compact=level > 2)]
        else:
            body = [screening_count(ctx)]
        return [md(words[f"why-{value}"]) if level < 3 else "", *body,
                prompt_block(ctx, prompts, min(level, 3)), gp_line if level < 5 else "",
                provisional if level < 4 else ""]

    detail = fit(build, RED_FLAG_LIMIT, 6)
    kind = prompts[0].code if prompts else "serious-pathology"
    suggestions = [ctx.create("referral", gp, recommended=recommended)] if gp else []
    return ctx.card(kind, kind, "warning", words[value], detail, suggestions, ctx.links(prompts[:1], kind))
