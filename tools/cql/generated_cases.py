"""Generated patients for the CQL differential test: seeded variants of the reference cases.

Each variant of a reference case (tests/cases/cases.yaml) drops or flips some answers, may set
a red flag, a CRS symptom, psychosocial-dominant, recurrent, work- or trauma-related, may move
the onset (around the 42-day boundary) and may drop measurements. The same seed always gives
the same patients; their `expect` is removed (the Python engine is the other side of the test).
"""

from __future__ import annotations

import copy
import random

EXTRA_ANSWERS = ("rf-fever", "crs-arm-sensory", "psychosocial-dominant", "recurrent", "work-related",
                 "trauma-related", "rf-cancer-history")
ONSET_DAYS = (3, 20, 41, 43, 60, 100)


def variant(case: dict, index: int, rng: random.Random) -> dict:
    out = copy.deepcopy(case)
    out["id"] = f"{case['id']}-g{index}"
    out.pop("expect", None)
    answers = out.get("answers") or {}
    for key in list(answers):
        roll = rng.random()
        if roll < 0.15:
            del answers[key]
        elif roll < 0.3 and isinstance(answers[key], bool):
            answers[key] = not answers[key]
    if answers and rng.random() < 0.3:
        answers[rng.choice(EXTRA_ANSWERS)] = rng.random() < 0.5
    if "onset_days" in out and rng.random() < 0.2:
        out["onset_days"] = rng.choice(ONSET_DAYS)
    if out.get("obs") and rng.random() < 0.3:
        out["obs"] = [o for o in out["obs"] if rng.random() < 0.7]
    return out


def generated_cases(cases: list[dict], per_case: int = 8, seed: int = 16) -> list[dict]:
    rng = random.Random(seed)
    return [variant(case, i, rng) for i in range(per_case) for case in cases]
