"""Order checks — `nekpijn-orders` (outputs.md "CDS Hooks cards"; decision-logic §11 [C.1,
C.2, B.4, B.6, C.4]).

One card per flagged draft order: every matching row of §11 adds to that order's single card,
its indicator the most severe (an action of priority urgent / asap / stat is a warning, a
routine one information). Override reasons; a suggestion to delete the draft (action
`delete`, `resourceId` the draft order, CDS Hooks 2.0.1 §Action) where it is discouraged or
imaging (v2); on an imaging card while grade IV is suspected the GP referral too (§1
priority): "delete the draft and refer to the GP" recommended, "delete only" offered.
Detail ≤ 400 characters.
"""

from __future__ import annotations

from service.cds_hooks.cards.context import GP_REFERRAL, URGENT, CardContext, Item
from service.cds_hooks.cards.wording import CARD_LIMIT, fit, lower_first, md

DISCOURAGED = "section-discouraged"
MANIPULATION_CAD = "chk-manipulation-cad"
CAD = "pathology-cad"

WORDS = {
    "nl": {"order": "Order", "flags": "Rode vlaggen", "also": "Ook", "delete-label": "Conceptorder verwijderen", "delete-action": "Verwijder de conceptorder",
           "refer-label": "Conceptorder verwijderen en verwijzen naar de huisarts",
           "refer": "Mogelijke ernstige pathologie (graad IV): verwijs naar de huisarts; verdere diagnostiek is "
                    "aan de huisarts (B.1, B.4)."},
    "en": {"order": "Order", "flags": "Red flags", "also": "Also", "delete-label": "Remove the draft order", "delete-action": "Remove the draft order",
           "refer-label": "Remove the draft order and refer to the GP",
           "refer": "Possible serious pathology (grade IV): refer to the GP; further diagnostics are the GP's "
                    "decision (B.1, B.4)."},
}


def cad_flags(ctx: CardContext) -> str:
    """The CAD flags present (§11 v2: the manipulation warning names them) [B.6]."""
    feature = ctx.case.feature("serious-pathology")
    flags = [flag for pathology, found in (feature.components if feature else ()) if pathology == CAD
             for flag in found]
    if not flags:
        return ""
    return md(f"{WORDS[ctx.lang]['flags']} ({lower_first(ctx.pathology(CAD))}): "
              f"{', '.join(ctx.label(f) for f in flags)}.")


def order_label(ctx: CardContext, order: dict) -> str | None:
    """What the draft order is: its local intervention, else its code's text or display."""
    concept = order.get("code") if isinstance(order.get("code"), dict) else {}
    codings = [c for c in concept.get("coding", []) if isinstance(c, dict)]
    local = ctx.terms.local_codes_of(codings)
    if local:
        return ctx.display(local[0])
    if isinstance(concept.get("text"), str) and concept["text"]:
        return concept["text"]
    return next((c["display"] for c in codings if isinstance(c.get("display"), str) and c["display"]), None)


def is_imaging(item: Item) -> bool:
    return "imaging" in item.code


def severity(item: Item) -> int:
    return 0 if item.priority in URGENT else 1


def order_cards(ctx: CardContext) -> list[dict]:
    cards = []
    for index, (order, _applied) in enumerate(ctx.result.applied):
        items = [i for i in ctx.leaves() if i.order is order and i.code != GP_REFERRAL]
        if order is None or not items:
            continue
        gp = next((i for i in ctx.leaves() if i.order is order and i.code == GP_REFERRAL), None)
        cards.append(order_card(ctx, index, order, items, gp))
    return cards


def order_card(ctx: CardContext, index: int, order: dict, items: list[Item], gp: Item | None) -> dict:
    words = WORDS[ctx.lang]
    reference = f"{order['resourceType']}/{order['id']}" if order.get("id") else None
    items = sorted(items, key=severity)  # stable: plan order within a severity
    first = items[0]
    label = order_label(ctx, order)
    if first.section == DISCOURAGED and not is_imaging(first):
        summary = f"{ctx.display(first.section)}: {ctx.title(first)}"  # "Afgeraden therapie: Dry needling"
    elif label and not is_imaging(first):
        summary = f"{label}: {lower_first(ctx.title(first))}"      # "Oefentherapie: graad IV nog niet …"
    else:
        summary = ctx.title(first)
    named = " ".join(filter(None, [label, f"({reference})" if reference and label else reference]))
    imaging = any(is_imaging(i) for i in items)
    refer = imaging and ctx.feature_value("serious-pathology") == "suspected"

    flags = cad_flags(ctx) if any(i.code == MANIPULATION_CAD for i in items) else ""

    def build(level: int) -> list[str]:
        head = f"**{words['order']}:** {md(named)}" if named else ""
        rest = items[1:]
        if level == 0:
            others = [md(ctx.description(i) or ctx.title(i)) for i in rest]
        else:
            others = [md(f"{words['also']}: " + "; ".join(lower_first(ctx.title(i)) for i in rest) + ".")] if rest else []
        return [head, md(ctx.description(first) or ctx.title(first)), flags, *others,
                md(words["refer"]) if refer else ""]

    detail = fit(build, CARD_LIMIT, 2)
    suggestions = []
    if reference and (imaging or any(i.section == DISCOURAGED for i in items)):
        delete = {"type": "delete", "description": f"{words['delete-action']}: {named}", "resourceId": reference}
        if refer:
            referral = ctx.create("referral", gp, recommended=True) if gp else \
                ctx.gp_referral("referral", recommended=True, intent="proposal")
            if referral:
                suggestions.append({**referral, "key": "delete-and-refer", "label": words["refer-label"],
                                    "actions": [delete, *referral["actions"]]})
        suggestions.append({"key": "delete", "label": words["delete-label"], "isRecommended": not suggestions,
                            "actions": [delete]})
    indicator = "warning" if severity(first) == 0 else "info"
    key = f"{first.code}|{reference or index}"
    return ctx.card(key, first.code, indicator, summary, detail, suggestions, ctx.links(items, first.code))
