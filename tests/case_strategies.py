"""Hypothesis strategies: random reference-style cases (tests/cases/cases.yaml format)."""

from __future__ import annotations

from hypothesis import strategies as st

from apply_support import data_dictionary


def _elements():
    for group in data_dictionary()["groups"]:
        if group["code"] == "interventions":
            continue
        for item in group.get("items", []):
            if item["type"] not in ("observation-only",) and item["code"] != "onset-date":
                yield item


ELEMENTS = list(_elements())


def _answer(item) -> st.SearchStrategy:
    kind = item["type"]
    if kind == "boolean":
        return st.booleans()
    if kind == "choice":
        return st.sampled_from([a["code"] for a in item["answers"]])
    if kind == "integer":
        low, high = item.get("range", [0, 60])
        return st.integers(low, high)
    if kind == "decimal":
        low, high = item.get("range", [0, 10])
        return st.decimals(low, high, places=1).map(float)
    if kind == "date":
        return st.integers(0, 400).map(lambda d: f"-{d}d")
    if kind == "test":
        return st.sampled_from(["pos", "neg"])
    return st.text("abcdefghij klmnop", min_size=1, max_size=20)


@st.composite
def random_case(draw) -> dict:
    onset = draw(st.none() | st.integers(0, 400))
    case = {"id": "random", "age": draw(st.integers(16, 95))}
    if onset is not None:
        case["onset_days"] = onset
        case["intake_days"] = draw(st.integers(0, onset))
    chosen = draw(st.lists(st.sampled_from(ELEMENTS), max_size=25, unique_by=lambda i: i["code"]))
    answers, tests = {}, {}
    for item in chosen:
        value = draw(_answer(item))
        (tests if item["type"] == "test" else answers)[item["code"]] = value
    case["answers"] = answers
    if tests:
        case["tests"] = tests
    obs = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["nprs", "psk", "rotation"]))
        days = draw(st.integers(0, 120))
        if kind == "nprs":
            obs.append({"code": "nprs", "value": draw(st.integers(0, 10)), "days": days, "painscore": draw(st.booleans())})
        elif kind == "psk":
            obs.append({"code": "psk", "value": float(draw(st.integers(0, 20))) / 2, "days": days})
        else:
            obs.append({"code": "cervical-rotation", "value": [draw(st.integers(0, 90)), draw(st.integers(0, 90))], "days": days})
    case["obs"] = obs
    case["expect"] = {}
    return case


