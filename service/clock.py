"""The one clock of the service: "today" in Europe/Amsterdam, injectable."""

from __future__ import annotations

from datetime import date, datetime

from service.facts.model import AMSTERDAM


def today_in_amsterdam(now: datetime | None = None) -> date:
    """The evaluation day: the calendar date in Europe/Amsterdam."""
    return (now or datetime.now(AMSTERDAM)).astimezone(AMSTERDAM).date()
