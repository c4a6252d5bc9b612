"""An evaluation day other than today, for tests and worked examples only.

With ``NEKPIJN_ALLOW_EVALUATION_DATE=true`` a request may name its evaluation
day in the header ``X-Evaluation-Date: YYYY-MM-DD`` (``$apply`` and hook
calls); the evaluation instant is then 12:00 Europe/Amsterdam on that day, as
in ``nekpijn-cds evaluate``. Off by default, so production always uses the
clock; a request that sends the header while it is off gets a 400 (it would
otherwise silently be evaluated on another day than its sender expects).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time

from service.facts.model import AMSTERDAM

HEADER = "x-evaluation-date"


class EvaluationDateError(ValueError):
    """The header is not allowed here, or is not a date."""


def evaluation_instant(headers: Mapping[str, str], allowed: bool, clock: Callable[[], datetime]) -> datetime:
    value = headers.get(HEADER)
    if value is None:
        return clock()
    if not allowed:
        raise EvaluationDateError("X-Evaluation-Date is only accepted when NEKPIJN_ALLOW_EVALUATION_DATE=true "
                                  "(testing and examples)")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise EvaluationDateError("X-Evaluation-Date must be a date YYYY-MM-DD") from None
    return datetime.combine(day, time(12, 0), AMSTERDAM)
