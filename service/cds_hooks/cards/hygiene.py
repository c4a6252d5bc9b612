"""JSON hygiene for cards (CDS Hooks 2.0 §Use of JSON: elements SHALL NOT be null or empty).

`prune` and `find_empties` live in service/apply/hygiene.py (the CarePlan builder keeps
dynamic values clean with them); `prune_card` is the card frame's pruning.
"""

from __future__ import annotations

from service.apply.hygiene import find_empties, is_empty, prune

__all__ = ["prune", "find_empties", "prune_card"]


def prune_card(card: dict) -> dict:
    """`prune(card)`, except for the resources its suggestions create: those come pruned
    where they are made (`CardContext.standalone`, `gp_referral`) or, the CarePlan of
    $apply, are built without empties (service/apply/careplan.py; tests/test_cards.py
    proves it for every reference case). Pruning the CarePlan again copied its ~1 300
    nodes on every patient-view."""
    out = {}
    for key, value in card.items():
        value = [s for s in map(_prune_suggestion, value) if s] if key == "suggestions" else prune(value)
        if not is_empty(value):
            out[key] = value
    return out


def _prune_suggestion(suggestion: dict) -> dict:
    out = {}
    for key, value in suggestion.items():
        value = [a for a in map(_prune_action, value) if a] if key == "actions" else prune(value)
        if not is_empty(value):
            out[key] = value
    return out


def _prune_action(action: dict) -> dict:
    out = {}
    for key, value in action.items():
        if key != "resource":
            value = prune(value)
        if not is_empty(value):
            out[key] = value
    return out
