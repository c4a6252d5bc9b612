"""CDS Hooks 2.0 feedback: validate the POSTed feedback against the issued cards.

Rules (spec §Feedback, invariants cds-fb-1..3): `feedback` is an array; each
item names a `card` this service issued, an `outcome` of accepted or
overridden, an `outcomeTimestamp` (RFC 3339); accepted needs
`acceptedSuggestions` whose ids are suggestions of that card; an
`overrideReason` needs a reason or a userComment, and a reason must be one
the card offered.

Limits (issue 14: a feedback POST must neither stall a worker nor fill the store):

* at most MAX_ITEMS items per POST (413 too-costly), a `userComment` of at most
  MAX_COMMENT characters (400 too-long);
* feedback only from the issuer the card was issued to (`IssuedCard.issuer`; with
  NEKPIJN_AUTH=off both are None). A card of another issuer is answered exactly like an
  unknown card, so an issuer cannot learn which uuids exist. Cards stored before the
  issuer was kept (store v5) have none and so take no feedback from an authenticated issuer;
* `outcomeTimestamp` within a sane window around the service clock: not more than
  MAX_AGE in the past nor MAX_AHEAD in the future (400); a date-time outside the range
  Python can hold in UTC (`0001-01-01T00:00:00+14:00`) is a 400 too, never a 500.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

MAX_ITEMS = 100
MAX_COMMENT = 2000
MAX_AGE = timedelta(days=366)
MAX_AHEAD = timedelta(hours=1)  # clock skew between the EHR and this service


class FeedbackError(Exception):
    def __init__(self, message: str, expression: list[str] | None = None, status: int = 400, code: str = "invalid"):
        super().__init__(message)
        self.message, self.expression, self.status, self.code = message, expression or [], status, code


def _timestamp(value: object, where: str, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise FeedbackError("outcomeTimestamp is required (ISO 8601 / RFC 3339, UTC)", [where])
    shown = value if len(value) <= 40 else value[:40] + "…"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FeedbackError(f"outcomeTimestamp {shown!r} is not an ISO 8601 date-time", [where]) from None
    if parsed.tzinfo is None:
        raise FeedbackError("outcomeTimestamp needs a time zone (UTC, e.g. 2026-11-21T10:05:31Z)", [where])
    try:
        utc = parsed.astimezone(timezone.utc)
        plausible = now - MAX_AGE <= utc <= now + MAX_AHEAD
    except OverflowError:  # 0001-01-01T00:00:00+14:00, 9999-12-31T23:59:59-14:00: outside the UTC range
        plausible = False
    if not plausible:
        raise FeedbackError(f"outcomeTimestamp {shown!r} is not plausible: it must lie within "
                            f"{MAX_AGE.days} days before and {int(MAX_AHEAD.total_seconds() // 60)} minutes after "
                            "the service's clock", [where], code="value")
    return utc


def parse_feedback(body: object, service_id: str, store, issuer: str | None = None,
                   now: datetime | None = None) -> list[dict]:
    """The feedback items as keyword arguments for `store.record_feedback`.

    `issuer`: the authenticated caller (None with NEKPIJN_AUTH=off); `now`: the service clock
    (default: the system clock) for the outcomeTimestamp window."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise FeedbackError("the body must be an object with a non-empty 'feedback' array", ["feedback"])
    if len(body["feedback"]) > MAX_ITEMS:
        raise FeedbackError(f"at most {MAX_ITEMS} feedback items per request (got {len(body['feedback'])}); "
                            "send them in several requests", ["feedback"], status=413, code="too-costly")
    received = datetime.now(timezone.utc)
    now = (now or received).astimezone(timezone.utc)
    cards: dict[str, object] = {}
    out = []
    for i, item in enumerate(body["feedback"]):
        where = f"feedback[{i}]"
        if not isinstance(item, dict):
            raise FeedbackError("each feedback item must be an object", [where])
        uuid = item.get("card")
        if not isinstance(uuid, str) or not uuid or len(uuid) > 128:
            raise FeedbackError("'card' (the card uuid) is required", [f"{where}.card"])
        if uuid not in cards:
            cards[uuid] = store.issued_card(uuid)
        card = cards[uuid]
        # another issuer's card is answered like an unknown one (no oracle for the uuids issued)
        if card is None or card.service != service_id or getattr(card, "issuer", None) != issuer:
            raise FeedbackError(f"card {uuid} was not issued by service '{service_id}' to this client",
                                [f"{where}.card"])
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise FeedbackError("'outcome' must be 'accepted' or 'overridden'", [f"{where}.outcome"])
        timestamp = _timestamp(item.get("outcomeTimestamp"), f"{where}.outcomeTimestamp", now)
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
            if isinstance(comment, str) and len(comment) > MAX_COMMENT:
                raise FeedbackError(f"'userComment' is longer than {MAX_COMMENT} characters",
                                    [f"{where}.overrideReason.userComment"], code="too-long")
        out.append({"service": service_id, "card_uuid": uuid, "outcome": outcome, "outcome_timestamp": timestamp,
                    "accepted_suggestions": accepted, "override_reason": reason_code, "user_comment": comment,
                    "received_at": received})
    return out
