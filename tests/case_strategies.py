"""Hypothesis strategies: random reference-style cases (tests/cases/cases.yaml format, v2).

`random_case()` draws every key of the v2 case header: intake time and status, answers
(radicular items sometimes all left unanswered), tests (as Observations or in the intake),
Observations (measurements, red flags, crs-worse-motor, pattern conclusions, psychosocial
judgement; `days` may be negative = in the future), a Condition, and further intakes
(`extra_qrs`): follow-ups with flags dated after the first intake, and intakes of an earlier
episode with their own onset. The parts are exported for property tests of their own:
`later_flag_qr`, `earlier_episode_qr`, `finding_obs`, `clock`.
"""

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
RED_FLAGS = [i["code"] for i in ELEMENTS if i["code"].startswith("rf-") and i["type"] == "boolean"]
HISTORY_FLAGS = [i["code"] for i in ELEMENTS if i.get("history")]
RADICULAR = {i["code"] for g in data_dictionary()["groups"] if g["code"] == "radicular" for i in g.get("items", [])}
PATTERNS = ["pattern-recognisable", "pattern-serious", "pattern-unrecognisable"]
FOLLOW_UP_FINDINGS = ["crs-worse-motor", "crs-worse-sensory"]

clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


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
def later_flag_qr(draw, max_days: int) -> dict:
    """A follow-up intake 0..max_days ago: a red flag present, sometimes a new pattern
    conclusion or a worse motor control (decision-logic §1, §9)."""
    answers = {draw(st.sampled_from(RED_FLAGS)): True}
    if draw(st.booleans()):
        answers["pattern-assessment"] = draw(st.sampled_from(PATTERNS))
    if draw(st.booleans()):
        answers[draw(st.sampled_from(FOLLOW_UP_FINDINGS))] = draw(st.booleans())
    spec = {"days": draw(st.integers(0, max_days)), "answers": answers}
    if draw(st.booleans()):
        spec["time"] = draw(clock)
    if draw(st.integers(0, 5)) == 0:
        spec["status"] = draw(st.sampled_from(["amended", "in-progress", "stopped"]))
    return spec


@st.composite
def earlier_episode_qr(draw, onset_days: int) -> dict:
    """The intake of an earlier episode: authored before the current onset, with an onset of its
    own more than 42 days before the current one (decision-logic §0: not read, except history flags)."""
    days = draw(st.integers(onset_days + 43, onset_days + 400))
    answers = {"onset-date": f"-{days + draw(st.integers(0, 30))}d",
               "pattern-assessment": draw(st.sampled_from(PATTERNS)),
               "psychosocial-dominant": draw(st.booleans())}
    for code in draw(st.lists(st.sampled_from(RED_FLAGS), max_size=3, unique=True)):
        answers[code] = draw(st.booleans())
    if HISTORY_FLAGS and draw(st.booleans()):
        answers[draw(st.sampled_from(HISTORY_FLAGS))] = True
    return {"days": days, "answers": answers}


@st.composite
def finding_obs(draw, min_days: int = -3, max_days: int = 120) -> dict:
    """A finding as an Observation: a red flag, crs-worse-motor, a pattern conclusion or the
    psychosocial judgement, possibly dated in the future (negative days)."""
    kind = draw(st.sampled_from(["flag", "motor", "pattern", "psychosocial"]))
    days = draw(st.integers(min_days, max_days))
    if kind == "flag":
        spec = {"code": draw(st.sampled_from(RED_FLAGS)), "value": draw(st.booleans()), "days": days}
    elif kind == "motor":
        spec = {"code": "crs-worse-motor", "value": draw(st.booleans()), "days": days}
    elif kind == "pattern":
        spec = {"code": "pattern-assessment", "value": draw(st.sampled_from(PATTERNS)), "days": days}
    else:
        spec = {"code": "psychosocial-dominant", "value": draw(st.booleans()), "days": days}
    if draw(st.booleans()):
        spec["time"] = draw(clock)
    return spec


@st.composite
def random_case(draw) -> dict:
    onset = draw(st.none() | st.integers(0, 400))
    case = {"id": "random", "age": draw(st.integers(16, 95))}
    if onset is not None:
        case["onset_days"] = onset
        case["intake_days"] = draw(st.integers(0, onset))
        if draw(st.integers(0, 4)) == 0:
            case["condition"] = True
            if draw(st.booleans()):
                case["condition_onset_days"] = draw(st.integers(0, 400))
        if draw(st.integers(0, 6)) == 0:
            case["no_onset_answer"] = True
    if draw(st.booleans()):
        case["intake_time"] = draw(clock)
    if draw(st.integers(0, 5)) == 0:
        case["intake_status"] = draw(st.sampled_from(["amended", "in-progress", "stopped", "entered-in-error"]))
    skip_radicular = draw(st.integers(0, 3)) == 0  # the radicular items left unanswered (not-assessed)
    elements = [i for i in ELEMENTS if not (skip_radicular and i["code"] in RADICULAR)]
    chosen = draw(st.lists(st.sampled_from(elements), max_size=25, unique_by=lambda i: i["code"]))
    answers, tests = {}, {}
    for item in chosen:
        value = draw(_answer(item))
        (tests if item["type"] == "test" else answers)[item["code"]] = value
    case["answers"] = answers
    if tests:
        case["tests_in_qr" if draw(st.integers(0, 3)) == 0 else "tests"] = tests
    if not answers and draw(st.integers(0, 3)) == 0:
        case["empty_qr"] = True
    obs = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["nprs", "psk", "rotation", "finding"]))
        days = draw(st.integers(-3, 120))
        if kind == "nprs":
            obs.append({"code": "nprs", "value": draw(st.integers(0, 10)), "days": days, "painscore": draw(st.booleans())})
        elif kind == "psk":
            obs.append({"code": "psk", "value": float(draw(st.integers(0, 20))) / 2, "days": days})
        elif kind == "rotation":
            obs.append({"code": "cervical-rotation", "value": [draw(st.integers(0, 90)), draw(st.integers(0, 90))], "days": days})
        else:
            obs.append(draw(finding_obs()))
    case["obs"] = obs
    extra = []
    if onset is not None:
        extra += draw(st.lists(later_flag_qr(case["intake_days"]), max_size=2))
        extra += draw(st.lists(earlier_episode_qr(onset), max_size=1))
    if extra:
        case["extra_qrs"] = extra
    case["expect"] = {}
    return case
