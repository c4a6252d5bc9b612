"""Generated patients for the CQL differential test (tests/test_cql_differential.py).

Two kinds, both in the case format of tests/cases/cases.yaml (dates relative to "today"):

* `variant`: seeded variants of the reference cases — answers dropped or flipped, a red flag, a
  CRS symptom, psychosocial-dominant, recurrent, work- or trauma-related added, the onset moved
  (around the 42-day boundary), measurements dropped;
* `scenario_cases`: patients built on purpose for the v2 situations of dak/decision-logic.md —
  red flags recorded after the intake (a follow-up intake or an Observation), present then
  absent, pattern conclusions before / on / after a flag's onset day (§1); earlier episodes with
  their own onset, history and non-history flags, three onsets within a year, onsets around
  the 42-day rule (§0); radicular not assessed, every row of §2; motor loss (crs-worse-motor,
  reduced strength / muscle weakness at a follow-up, neurological red flags: §1 urgency and
  weight, §9); inputs dated tomorrow / in the future, a birthDate in the future, onset answers
  later than their intake, in-progress intakes (§0); the derived rf-no-improvement-4w (§9 row 1).

A quarter of the scenario patients come twice: once more with every timestamp in UTC (`utc: true`;
build their bundles with `case_bundle`, which rewrites them). Every scenario patient carries `situations`: the tags of what it exercises (the test counts
them). The same seed always gives the same patients; `expect` is removed from the variants
(the Python engine is the other side of the test). `generated_cases(cases, per_case, seed)`
returns both kinds (NekpijnPlan's differential uses it too: keep the signature).
"""

from __future__ import annotations

import copy
import random
from datetime import date, datetime, timezone
from typing import Callable, Iterator

from tools.case_bundles import build_case_bundle

EXTRA_ANSWERS = ("rf-fever", "crs-arm-sensory", "psychosocial-dominant", "recurrent", "work-related",
                 "trauma-related", "rf-cancer-history")
ONSET_DAYS = (3, 20, 41, 43, 60, 100)

#: the clinical red flags a first intake can answer (data dictionary red-flags group, §1 v2)
CLINICAL_FLAGS = ("rf-trauma-history", "rf-corticosteroids", "rf-osteoporosis", "rf-dizziness", "rf-diplopia",
                  "rf-nausea", "rf-vomiting", "rf-limb-weakness", "rf-pupil-changes", "rf-widespread-neuro",
                  "rf-bowel-bladder", "rf-fever", "rf-night-sweats", "rf-infection-risk", "rf-cancer-history",
                  "rf-weight-loss", "rf-dysphagia", "rf-headache", "rf-unilateral-rash", "rf-burning-pain",
                  "rf-itching")
#: `history: true` (read across episodes, §0 v2)
HISTORY_FLAGS = ("rf-trauma-history", "rf-corticosteroids", "rf-osteoporosis", "rf-infection-risk",
                 "rf-cancer-history")
NON_HISTORY_FLAGS = tuple(f for f in CLINICAL_FLAGS if f not in HISTORY_FLAGS)
#: flags of pathology-myelopathy / pathology-cad (§1 urgency stat) and the neurological ones (weighty)
SAME_DAY_FLAGS = ("rf-dizziness", "rf-diplopia", "rf-nausea", "rf-vomiting", "rf-limb-weakness",
                  "rf-pupil-changes", "rf-widespread-neuro", "rf-bowel-bladder")
CRS_ITEMS = ("crs-arm-sensory", "crs-reduced-strength", "crs-radiating-arm-pain", "crs-reduced-reflexes",
             "crs-muscle-weakness", "crs-sensibility-disorder")
TRENDS = ("trend-decreasing", "trend-unchanged", "trend-increasing")
ADL = ("adl-hardly", "adl-substantial")


def variant(case: dict, index: int, rng: random.Random) -> dict:
    out = copy.deepcopy(case)
    out["id"] = f"{case['id']}-g{index}"
    out.pop("expect", None)
    out.pop("expect_orders", None)
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


# ---------------------------------------------------------------------------
# v2 scenarios
# ---------------------------------------------------------------------------


def screened(rng: random.Random, *, pattern: str | None = "pattern-recognisable", crs: bool = True) -> dict:
    """A complete first intake: every clinical red flag answered absent, the CRS items answered
    (absent), course, ADL and psychosocial answers drawn at random."""
    answers: dict = {f: False for f in CLINICAL_FLAGS}
    if crs:
        answers.update({c: False for c in CRS_ITEMS})
    answers.update({"trauma-related": rng.random() < 0.1, "work-related": rng.random() < 0.2,
                    "course-trend": rng.choice(TRENDS), "adl-impact": rng.choice(ADL)})
    if rng.random() < 0.7:
        answers["psychosocial-dominant"] = rng.random() < 0.5
    if pattern:
        answers["pattern-assessment"] = pattern
    return answers


def patient(pid: str, situations: list[str], rng: random.Random, *, onset: int = 20, intake: int | None = None,
            age: int | None = None, answers: dict | None = None, **extra) -> dict:
    case = {"id": pid, "age": age if age is not None else rng.choice((24, 38, 51, 67)),
            "onset_days": onset, "intake_days": onset if intake is None else intake,
            "answers": answers if answers is not None else screened(rng), "situations": situations}
    if rng.random() < 0.5 and "obs" not in extra:
        start = case["intake_days"]
        case["obs"] = [{"code": "nprs", "value": rng.randint(4, 8), "days": start},
                       {"code": "psk", "value": float(rng.randint(3, 8)), "days": start}]
    case.update(extra)
    return case


def later_flags(rng: random.Random, n: int) -> Iterator[dict]:
    """§1: a flag recorded after the intake; present then absent; the pattern before/after it."""
    for i in range(n):
        flag = rng.choice(CLINICAL_FLAGS)
        start = rng.choice((14, 20, 30))
        later = rng.randint(1, start - 1)
        how = i % 8
        if how == 0:    # follow-up intake with the flag, the pattern from the first intake (not covered)
            yield patient(f"v2-flag-qr-{i}", ["later-flag-qr", "pattern-before-flag"], rng, onset=start,
                          extra_qrs=[{"days": later, "answers": {flag: True}}])
        elif how == 1:  # Observation a few days after the intake
            yield patient(f"v2-flag-obs-{i}", ["later-flag-obs", "pattern-before-flag"], rng, onset=start,
                          obs=[{"code": flag, "value": True, "days": later}])
        elif how == 2:  # flag later, then a new pattern conclusion on the same day, earlier time (covered)
            yield patient(f"v2-flag-pattern-same-day-{i}", ["later-flag-obs", "pattern-same-day"], rng, onset=start,
                          obs=[{"code": flag, "value": True, "days": later, "time": "15:00"},
                               {"code": "pattern-assessment", "value": "pattern-recognisable", "days": later,
                                "time": "09:00"}])
        elif how == 3:  # pattern conclusion after the flag (covered) or of another kind
            value = rng.choice(("pattern-recognisable", "pattern-recognisable", "pattern-serious",
                                "pattern-unrecognisable"))
            yield patient(f"v2-flag-pattern-after-{i}", ["later-flag-qr", "pattern-after-flag"], rng, onset=start,
                          extra_qrs=[{"days": later, "answers": {flag: True}},
                                     {"days": max(later - rng.randint(1, 5), -1), "answers": {"pattern-assessment": value}}])
        elif how == 4:  # present at the intake, absent at a follow-up
            answers = screened(rng, pattern=rng.choice(("pattern-recognisable", None)))
            answers[flag] = True
            source = rng.choice(("qr", "obs"))
            extra = ({"extra_qrs": [{"days": later, "answers": {flag: False}}]} if source == "qr"
                     else {"obs": [{"code": flag, "value": False, "days": later}]})
            yield patient(f"v2-flag-absent-later-{i}", ["flag-present-then-absent"], rng, onset=start,
                          answers=answers, **extra)
        elif how == 5:  # present, absent, present again: the onset moves to the last one
            mid = rng.randint(2, start - 2) if start > 4 else 2
            last = rng.randint(1, mid - 1)
            answers = screened(rng, pattern=None)
            answers[flag] = True
            yield patient(f"v2-flag-back-{i}", ["flag-present-then-absent", "flag-present-again", "pattern-between"],
                          rng, onset=start, answers=answers,
                          extra_qrs=[{"days": mid, "answers": {flag: False}},
                                     {"days": last, "answers": {flag: True}}],
                          obs=[{"code": "pattern-assessment", "value": "pattern-recognisable",
                                "days": rng.choice((mid, last, last + 1 if last + 1 < mid else mid))}])
        elif how == 6:  # an unchanged flag re-stated later, the pattern in between (does not move it)
            mid = rng.randint(2, start - 1)
            answers = screened(rng, pattern=None)
            answers[flag] = True
            yield patient(f"v2-flag-restated-{i}", ["flag-restated", "pattern-between"], rng, onset=start,
                          answers=answers,
                          obs=[{"code": "pattern-assessment", "value": "pattern-recognisable", "days": mid}],
                          extra_qrs=[{"days": rng.randint(0, mid - 1), "answers": {flag: True}}])
        else:           # trauma-related later (rf-trauma-history derived), or trauma-related then absent
            answers = screened(rng)
            if rng.random() < 0.5:
                answers["trauma-related"] = True
                qrs = [{"days": later, "answers": {"trauma-related": False}}]
                tags = ["trauma-then-absent"]
            else:
                qrs = [{"days": later, "answers": {"trauma-related": True}}]
                tags = ["later-flag-qr", "trauma-later"]
            if rng.random() < 0.5:
                qrs.append({"days": max(later - 2, 0), "answers": {"rf-trauma-history": rng.random() < 0.5}})
                tags.append("trauma-history-answered")
            yield patient(f"v2-trauma-{i}", tags, rng, onset=start, answers=answers, extra_qrs=qrs)


def earlier_episodes(rng: random.Random, n: int) -> Iterator[dict]:
    """§0: an intake authored before the current onset, with its own onset-date answer."""
    for i in range(n):
        current = rng.choice((10, 20, 35))
        gap = rng.choice((60, 120, 200))          # > 42: a new episode
        old_onset = current + gap
        old_intake = old_onset - rng.randint(0, 10)
        history = rng.choice(HISTORY_FLAGS)
        other = rng.choice(NON_HISTORY_FLAGS)
        old_answers = {"onset-date": f"-{old_onset}d", history: True, other: True,
                       "pattern-assessment": rng.choice(("pattern-serious", "pattern-recognisable")),
                       rng.choice(CRS_ITEMS): True, "course-trend": "trend-increasing", "recurrent": True}
        answers = screened(rng, pattern=rng.choice(("pattern-recognisable", None)))
        tags = ["earlier-episode", "history-flag-earlier", "non-history-flag-earlier"]
        how = i % 6
        extra_qrs = [{"days": old_intake, "answers": old_answers}]
        obs = []
        if how == 0:    # the current episode has no answer for the history flag: it is read
            del answers[history]
            tags.append("history-flag-carried")
        elif how == 1:  # answered absent now: the current answer wins
            tags.append("history-flag-answered-now")
        elif how == 2:  # re-stated present now, the pattern before it: the onset stays the earlier one
            answers[history] = True
            answers.pop("pattern-assessment", None)
            # the intake three days after the onset, the pattern conclusion between the two
            obs.append({"code": "pattern-assessment", "value": "pattern-recognisable", "days": current - 1})
            extra_qrs.append({"days": max(current - 5, 0), "answers": {history: True}})
            tags += ["history-flag-restated", "pattern-between"]
        elif how == 3:  # present in an older episode, absent in a later earlier one, none now
            del answers[history]
            older = old_onset + rng.choice((60, 100))
            extra_qrs.insert(0, {"days": older, "answers": {"onset-date": f"-{older}d", history: True}})
            old_answers[history] = False
            tags += ["history-flag-carried", "history-flag-absent-later-episode"]
        elif how == 4:  # earlier-episode Observations: a history flag (read) and another flag (not read)
            del answers[history]
            obs += [{"code": history, "value": True, "days": old_intake},
                    {"code": other, "value": True, "days": old_intake},
                    {"code": "nprs", "value": 9, "days": old_intake}]
            tags += ["history-flag-carried", "earlier-episode-observation"]
        else:           # no current onset answer: the earlier intake's onset answer is the only one
            tags.append("onset-answer-of-earlier-intake-only")
            del answers[history]
        extra = {"obs": obs} if obs else {}
        case = patient(f"v2-earlier-episode-{i}", tags, rng, onset=current,
                       intake=current - 3 if how == 2 else current, answers=answers, extra_qrs=extra_qrs, **extra)
        if how == 5:
            case.update(no_onset_answer=True, condition=True)
            case["situations"].append("condition-onset")
        yield case


def onset_chains(rng: random.Random, n: int) -> Iterator[dict]:
    """§0 [A.3]: onsets around the 42-day rule, three onsets within 365 days (recurrent)."""
    for i in range(n):
        current = rng.choice((5, 15, 25))
        how = i % 4
        if how == 0:    # an earlier onset 41 / 42 / 43 days before the current one
            gap = rng.choice((40, 41, 42, 43, 44))
            tags = ["onset-42-boundary", "same-episode" if gap <= 42 else "new-episode"]
            qrs = [{"days": current + gap - 1, "answers": {"onset-date": f"-{current + gap}d",
                                                          "rf-fever": rng.random() < 0.5}}]
        elif how == 1:  # three onsets within 365 days: recurrent
            a, b = rng.choice(((60, 150), (100, 300), (50, 365), (90, 366)))
            tags = ["three-onsets", "recurrent-window" if b <= 365 else "outside-365"]
            qrs = [{"days": current + b, "answers": {"onset-date": f"-{current + b}d"}},
                   {"days": current + a, "answers": {"onset-date": f"-{current + a}d"}}]
        elif how == 2:  # a chain joined by the 42-day rule: 30 + 30 days is one episode of 60
            tags = ["onset-chain"]
            qrs = [{"days": current + 60, "answers": {"onset-date": f"-{current + 60}d"}},
                   {"days": current + 30, "answers": {"onset-date": f"-{current + 30}d"}}]
        else:           # four onsets over two years: two within the year
            tags = ["four-onsets"]
            qrs = [{"days": current + d, "answers": {"onset-date": f"-{current + d}d"}} for d in (700, 500, 200)]
        answers = screened(rng)
        if rng.random() < 0.5:
            answers["recurrent"] = False
        yield patient(f"v2-onsets-{i}", tags, rng, onset=current, answers=answers, extra_qrs=qrs)


#: (Spurling, traction/distraction, ULTT) for the S rows of §2: every row, in turn
TEST_COMBOS = (("pos", None, None), ("neg", "neg", "neg"), ("neg", "neg", None), ("neg", "neg", "pos"),
               (None, "neg", "neg"), ("neg", None, None), (None, "pos", "neg"), (None, None, "pos"),
               ("neg", None, "pos"), ("pos", "neg", "neg"), (None, None, None))


def radicular(rng: random.Random, n: int) -> Iterator[dict]:
    """§2: not assessed (a rotation measurement or a test result alone), a positive inclusion test
    without symptoms, and every S x tests x ULTT row."""
    for i in range(n):
        answers = screened(rng, crs=False)
        tags: list[str] = []
        tests: dict = {}
        obs: list = []
        how = i % 5
        if how == 0:    # not assessed: only a cervical rotation measurement
            obs.append({"code": "cervical-rotation", "value": rng.choice(([45, 70], [70, 75]))})
            tags = ["radicular-not-assessed", "rotation-only"]
        elif how == 1:  # not assessed: only a test result
            tests = {rng.choice(("test-spurling", "test-traction-distraction", "test-ultt")): rng.choice(("pos", "neg"))}
            tags = ["radicular-not-assessed", "test-only"]
        elif how == 2:  # no symptoms, a positive inclusion test: suspected
            answers.update({c: False for c in CRS_ITEMS})
            tests = {rng.choice(("test-spurling", "test-traction-distraction")): "pos"}
            tags = ["positive-test-without-symptoms"]
        else:           # S (symptoms or signs) with a random combination of the three tests
            answers.update({c: False for c in CRS_ITEMS})
            answers[rng.choice(CRS_ITEMS)] = True
            combo = TEST_COMBOS[i % len(TEST_COMBOS)]
            tests = {test: result for test, result in
                     zip(("test-spurling", "test-traction-distraction", "test-ultt"), combo) if result}
            if rng.random() < 0.3:
                obs.append({"code": "cervical-rotation", "value": [50, 65]})
            tags = ["radicular-symptoms-tests"]
        extra: dict = {}
        if tests:
            extra["tests_in_qr" if rng.random() < 0.3 else "tests"] = tests
        if obs:
            extra["obs"] = obs
        yield patient(f"v2-radicular-{i}", tags, rng, answers=answers, **extra)


def motor_loss(rng: random.Random, n: int) -> Iterator[dict]:
    """crs-worse-motor / crs-worse-sensory (§9, profile D), reduced strength or muscle weakness at
    a follow-up (§2), neurological red flags (§1 urgency stat, weighty)."""
    for i in range(n):
        start = rng.choice((10, 30, 45, 60))
        later = rng.randint(1, start - 1)
        answers = screened(rng)
        how = i % 4
        if how == 0:    # profile D, then increasing loss of motor control
            answers["crs-radiating-arm-pain"] = True
            where = rng.choice(("obs", "qr"))
            item = rng.choice(("crs-worse-motor", "crs-worse-sensory"))
            extra = ({"obs": [{"code": item, "value": True, "days": later}]} if where == "obs"
                     else {"extra_qrs": [{"days": later, "answers": {item: True}}]})
            yield patient(f"v2-motor-worse-{i}", ["crs-worse-" + item.split("-")[-1], "profile-d"], rng,
                          onset=start, answers=answers, tests={"test-spurling": "pos"}, **extra)
        elif how == 1:  # reduced strength / muscle weakness recorded at a follow-up
            item = rng.choice(("crs-reduced-strength", "crs-muscle-weakness"))
            where = rng.choice(("obs", "qr"))
            extra = ({"obs": [{"code": item, "value": True, "days": later}]} if where == "obs"
                     else {"extra_qrs": [{"days": later, "answers": {item: True}}]})
            tests = {"test-spurling": rng.choice(("pos", "neg")), "test-traction-distraction": "neg"}
            yield patient(f"v2-motor-strength-{i}", ["strength-loss-at-follow-up"], rng, onset=start,
                          answers=answers, tests=tests, **extra)
        elif how == 2:  # neurological flag later (stat, weighty)
            flag = rng.choice(SAME_DAY_FLAGS)
            yield patient(f"v2-motor-neuro-flag-{i}", ["same-day-flag", "later-flag-obs"], rng, onset=start,
                          answers=answers, obs=[{"code": flag, "value": True, "days": later}])
        else:           # weighty pairs and non-weighty companions
            pair = rng.choice((("rf-fever", "rf-night-sweats"), ("rf-fever", "rf-infection-risk"),
                               ("rf-cancer-history", "rf-weight-loss"), ("rf-trauma-history",),
                               ("rf-headache", "rf-nausea"), ("rf-headache",), ("rf-fever",)))
            for flag in pair:
                answers[flag] = True
            if rng.random() < 0.5:
                answers.pop("pattern-assessment", None)
            yield patient(f"v2-weighty-{i}", ["weighty-pairs"], rng, onset=start, answers=answers,
                          age=rng.choice((40, 70)))


def dated_inputs(rng: random.Random, n: int) -> Iterator[dict]:
    """§0: tomorrow is read, later is not; a future birthDate; an onset answer later than its own
    intake; in-progress intakes; a Condition onset in the future; Observations only."""
    for i in range(n):
        answers = screened(rng)
        how = i % 8
        if how in (0, 1):   # flag, NPRS or pattern dated tomorrow (read) / the day after (not read)
            days = -1 if how == 0 else rng.choice((-2, -5))
            code, value = rng.choice((("rf-fever", True), ("nprs", 9), ("pattern-assessment", "pattern-serious"),
                                      ("crs-arm-sensory", True)))
            tag = "tomorrow" if days == -1 else "future"
            yield patient(f"v2-dated-{tag}-{i}", [f"input-{tag}"], rng, obs=[{"code": code, "value": value, "days": days}])
        elif how == 2:      # a follow-up intake tomorrow / in the future
            days = rng.choice((-1, -3))
            tag = "tomorrow" if days == -1 else "future"
            yield patient(f"v2-dated-qr-{tag}-{i}", [f"intake-{tag}"], rng,
                          extra_qrs=[{"days": days, "answers": {"rf-weight-loss": True, "course-trend": "trend-increasing"}}])
        elif how == 3:      # a birthDate in the future
            yield patient(f"v2-dated-birth-{i}", ["birthdate-future"], rng, age=-1)
        elif how == 4:      # the onset answer later than its own intake (not read)
            intake = rng.choice((10, 30))
            answers["onset-date"] = f"-{intake - rng.randint(1, 5)}d"
            case = patient(f"v2-dated-onset-after-intake-{i}", ["onset-after-own-intake"], rng, onset=0,
                           intake=intake, answers=answers)
            case.pop("onset_days")
            if rng.random() < 0.5:
                case.update(condition=True, condition_onset_days=intake + 3)
                case["situations"].append("condition-onset")
            yield case
        elif how == 5:      # in-progress intake (not read), with or without a completed follow-up
            case = patient(f"v2-dated-in-progress-{i}", ["intake-in-progress"], rng, intake_status="in-progress")
            if rng.random() < 0.5:
                case["extra_qrs"] = [{"days": 2, "status": "in-progress", "answers": {"rf-fever": True}},
                                     {"days": 1, "answers": {"course-trend": "trend-decreasing"}}]
                case["situations"].append("follow-up-in-progress")
            yield case
        elif how == 6:      # Condition onset only (no answer), possibly in the future
            days = rng.choice((30, 50, -1, -4))
            case = patient(f"v2-dated-condition-{i}", ["condition-onset", "condition-future" if days < -1 else "condition-read"],
                           rng, no_onset_answer=True, condition=True, condition_onset_days=days)
            yield case
        elif (i // 8) % 2:  # Observations only, no NPRS / PSK: no treatment-start, no §9 rule
            yield {"id": f"v2-dated-obs-only-{i}", "age": 44, "situations": ["observations-only", "no-treatment-start"],
                   "obs": [{"code": "rf-fever", "value": True, "days": 6},
                           {"code": "pattern-assessment", "value": "pattern-recognisable", "days": 2}]}
        else:               # Observations only (no intake, no Condition): treatment-start from the first NPRS
            yield {"id": f"v2-dated-obs-only-{i}", "age": 44, "situations": ["observations-only"],
                   "obs": [{"code": "nprs", "value": 6, "days": 40}, {"code": "psk", "value": 5.0, "days": 40},
                           {"code": "nprs", "value": rng.choice((6, 3, 9)), "days": 5}]}


def no_improvement(rng: random.Random, n: int) -> Iterator[dict]:
    """§9 row 1: the derived rf-no-improvement-4w, its onset day and the pattern before / after it;
    §8 changes (improved, unchanged, worsened, one instrument only, out-of-range values)."""
    for i in range(n):
        start = rng.choice((30, 45, 60))
        base_nprs, base_psk = rng.randint(4, 7), float(rng.randint(4, 7))
        follow = []
        for days in sorted(rng.sample(range(1, start - 1), 2), reverse=True):
            follow.append({"code": "nprs", "value": min(10, max(0, base_nprs + rng.choice((-3, -1, 0, 2)))),
                           "days": days})
            if rng.random() < 0.6:
                follow.append({"code": "psk", "value": min(10.0, max(0.0, base_psk + rng.choice((-2.0, 0.0, 2.5)))),
                               "days": days})
        obs = [{"code": "nprs", "value": base_nprs, "days": start}, {"code": "psk", "value": base_psk, "days": start},
               *follow]
        tags = ["measured"]
        if rng.random() < 0.4:
            obs.append({"code": "pattern-assessment", "value": "pattern-recognisable", "days": rng.randint(0, start)})
            tags.append("pattern-dated")
        if rng.random() < 0.15:
            obs.append({"code": "nprs", "value": 12, "days": 1})
            tags.append("nprs-out-of-range")
        answers = screened(rng, pattern=None)
        if rng.random() < 0.3:
            answers["rf-cancer-history"] = True
        yield patient(f"v2-no-improvement-{i}", tags, rng, onset=start + rng.choice((0, 10)), intake=start,
                      answers=answers, obs=obs)


#: the dated elements a UTC copy rewrites
DATED_KEYS = ("authored", "effectiveDateTime", "issued", "onsetDateTime")


def utc_copies(scenarios: list[dict], every: int = 4) -> list[dict]:
    """Every `every`-th scenario patient again with its timestamps in UTC ("Z"): 00:05 Amsterdam
    is the previous day in UTC, so the engines must convert to Amsterdam days (decision-logic
    "All day counts", CET and CEST)."""
    out = []
    for case in scenarios[::every]:
        twin = copy.deepcopy(case)
        twin.update(id=f"{case['id']}-utc", utc=True, situations=[*case.get("situations", ()), "utc-timestamps"])
        out.append(twin)
    return out


def to_utc(value: object) -> object:
    if isinstance(value, dict):
        return {k: (_utc_text(v) if k in DATED_KEYS and isinstance(v, str) else to_utc(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [to_utc(v) for v in value]
    return value


def _utc_text(text: str) -> str:
    if "T" not in text:
        return text
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return text
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


#: SNOMED CT `also` codings of some red flags (data dictionary)
ALSO_CODES = {"rf-fever": "386661006", "rf-dizziness": "404640003", "rf-diplopia": "24982008",
              "rf-weight-loss": "422868009", "rf-dysphagia": "40739000"}
CASE_FEATURE = {"system": "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn", "code": "case-feature"}


def case_bundle(case: dict, today: date, data_dictionary: dict) -> dict:
    """build_case_bundle, with the timestamps in UTC for a case with `utc: true`, and the last
    Observation changed as `last_observation` says: `status`, `case_feature: true` (category of
    the service's own outputs, never read), `also: true` (coded with the element's SNOMED CT
    `also` coding instead of the local code)."""
    bundle = build_case_bundle(case, today, data_dictionary)
    tweak = case.get("last_observation")
    if tweak:
        obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"][-1]
        if "status" in tweak:
            obs["status"] = tweak["status"]
        if tweak.get("case_feature"):
            obs["category"] = [*obs.get("category", []), {"coding": [dict(CASE_FEATURE)]}]
        if tweak.get("also"):
            code = obs["code"]["coding"][0]["code"]
            obs["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": ALSO_CODES[code]}]}
    return to_utc(bundle) if case.get("utc") else bundle


def observation_kinds(rng: random.Random, n: int) -> Iterator[dict]:
    """§0 item 1: Observation status (final / amended / corrected read, others not), the
    service's own case-feature Observations (never read), `also` codings (read as the element)."""
    tweaks = ({"status": "amended"}, {"status": "corrected"}, {"status": "preliminary"},
              {"status": "entered-in-error"}, {"status": "cancelled"}, {"case_feature": True}, {"also": True})
    for i in range(n):
        tweak = tweaks[i % len(tweaks)]
        flag = rng.choice(tuple(ALSO_CODES))
        later = rng.randint(1, 10)
        tag = "observation-" + ("also-coding" if "also" in tweak else "case-feature" if "case_feature" in tweak
                                else "status-" + tweak["status"])
        yield patient(f"v2-observation-kind-{i}", [tag], rng, onset=rng.choice((14, 20)),
                      obs=[{"code": "nprs", "value": 5, "days": 12}, {"code": flag, "value": True, "days": later}],
                      last_observation=tweak)


SCENARIOS: tuple[tuple[Callable[[random.Random, int], Iterator[dict]], int], ...] = (
    (later_flags, 40), (earlier_episodes, 24), (onset_chains, 16), (radicular, 40), (motor_loss, 24),
    (dated_inputs, 32), (no_improvement, 24), (observation_kinds, 14),
)


def scenario_cases(seed: int = 16) -> list[dict]:
    """The v2 scenario patients (see the module docstring), ~240 of them (with the UTC copies)."""
    rng = random.Random(seed * 1000 + 2)
    scenarios = [case for make, count in SCENARIOS for case in make(rng, count)]
    return scenarios + utc_copies(scenarios)


def generated_cases(cases: list[dict], per_case: int = 8, seed: int = 16) -> list[dict]:
    """`per_case` variants of every reference case, then the v2 scenario patients."""
    rng = random.Random(seed)
    return [variant(case, i, rng) for i in range(per_case) for case in cases] + scenario_cases(seed)
