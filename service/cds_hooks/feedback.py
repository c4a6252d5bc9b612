"""CDS Hooks 2.0 feedback: validate the POSTed feedback against the issued cards.

Rules (spec §Feedback, invariants cds-fb-1..3): `feedback` is an array; each
item names a `card` this service issued, an `outcome` of accepted or
overridden, an `outcomeTimestamp` (RFC 3339); accepted needs
`acceptedSuggestions` whose ids are suggestions of that card; an
`overrideReason` needs a reason or a userComment, and a reason must be one
the card offered.
"""

from __future__ import annotations

from datetime import datetime, timezone


class FeedbackError(Exception):
    def __init__(self, message: str, expression: list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.expression, self.status = message, expression or [], status


def _timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise FeedbackError("outcomeTimestamp is required (ISO 8601 / RFC 3339, UTC)", [where])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedbackError(f"outcomeTimestamp {value!r} is not an ISO 8601 date-time", [where]) from None
    if parsed.tzinfo is None:
        raise FeedbackError("outcomeTimestamp needs a time zone (UTC, e.g. 2026-11-21T10:05:31Z)", [where])
    return parsed.astimezone(timezone.utc)


def parse_feedback(body: object, service_id: str, store) -> list[dict]:
    """The feedback items as keyword arguments for `store.record_feedback`."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise FeedbackError("the body must be an object with a non-empty 'feedback' array", ["feedback"])
    received = datetime.now(timezone.utc)
    out = []
    for i, item in enumerate(body["feedback"]):
        where = f"feedback[{i}]"
        if not isinstance(item, dict):
            raise FeedbackError("each feedback item must be an object", [where])
        uuid = item.get("card")
        if not isinstance(uuid, str) or not uuid:
            raise FeedbackError("'card' (the card uuid) is required", [f"{where}.card"])
        card = store.issued_card(uuid)
        if card is None or card.service != service_id:
            raise FeedbackError(f"card {uuid} was not issued by service '{service_id}'", [f"{where}.card"])
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise FeedbackError("'outcome' must be 'accepted' or 'overridden'", [f"{where}.outcome"])
        timestamp = _timestamp(item.get("outcomeTimestamp"), f"{where}.outcomeTimestamp")
        accepted: list[str] = []
        if outcome == "accepted":
            suggestions = item.get("acceptedSuggestions")
            if not isinstance(suggestions, list) or not suggestions:
                raise FeedbackError("an accepted outcome needs 'acceptedSuggestions'", [f"{where}.acceptedSuggestions"])
            for j, suggestion in enumerate(suggestions):
                sid = suggestion.get("id") if isinstance(suggestion, dict) else None
                if sid not in card.suggestion_uuids:
                    raise FeedbackError(f"suggestion {sid!r} is not a suggestion of card {uuid}",
                                        [f"{where}.acceptedSuggestions[{j}].id"])
                accepted.append(sid)
        reason_code = comment = None
        if "overrideReason" in item:
            override = item["overrideReason"]
            if outcome != "overridden":
                raise FeedbackError("'overrideReason' belongs to an overridden outcome", [f"{where}.overrideReason"])
            if not isinstance(override, dict) or not (override.get("reason") or override.get("userComment")):
                raise FeedbackError("'overrideReason' needs a reason, a userComment, or both", [f"{where}.overrideReason"])
            reason = override.get("reason")
            if reason is not None:
                reason_code = reason.get("code") if isinstance(reason, dict) else None
                if reason_code not in card.override_reasons:
                    raise FeedbackError(f"override reason {reason_code!r} was not offered on card {uuid}",
                                        [f"{where}.overrideReason.reason"])
            comment = override.get("userComment")
            if comment is not None and not isinstance(comment, str):
                raise FeedbackError("'userComment' must be a string", [f"{where}.overrideReason.userComment"])
        out.append({"service": service_id, "card_uuid": uuid, "outcome": outcome, "outcome_timestamp": timestamp,
                    "accepted_suggestions": accepted, "override_reason": reason_code, "user_comment": comment,
                    "received_at": received})
    return out
