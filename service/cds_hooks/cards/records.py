"""What the store keeps per issued card (feedback checks the card, its reasons and suggestions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class IssuedCardInfo:
    uuid: str
    kind: str                            # the card kind = source.topic.code (a local code)
    override_reasons: tuple[str, ...]    # codes offered in card.overrideReasons
    suggestion_uuids: tuple[str, ...]
    summary: str


def card_records(cards: Iterable[dict]) -> list[IssuedCardInfo]:
    """The store's view of rendered cards (one record per card, in order)."""
    return [IssuedCardInfo(
        uuid=card["uuid"],
        kind=card["source"]["topic"]["code"],
        override_reasons=tuple(r["code"] for r in card.get("overrideReasons", [])),
        suggestion_uuids=tuple(s["uuid"] for s in card.get("suggestions", []) if "uuid" in s),
        summary=card["summary"],
    ) for card in cards]
