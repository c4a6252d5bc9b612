"""§1 Serious pathology — grade IV [B.1, tabel 2, Bijlage 1 §2].

| condition | `serious-pathology` |
|---|---|
| pattern-assessment = pattern-serious or pattern-unrecognisable | suspected |
| ≥ 1 clinical red flag present, not covered by pattern-assessment = pattern-recognisable | unresolved |
| ≥ 1 clinical red flag present, all covered by pattern-recognisable | excluded |
| no clinical red flag present, and pattern-recognisable or every clinical red-flag item answered | excluded |
| otherwise (screening incomplete) | not-assessed |

Clinical red flags are the rf-* input items of the red-flags group (CodeSystem
property `pathology`), not the derived age flags. A pattern-assessment
*covers* a flag when the source of its current answer is dated on or after
the flag's onset day (v2): the earliest source in which the flag is present
with no later source in which it is absent (§0 gathers it; re-stating does not
move it); the derived `rf-no-improvement-4w` dates from the follow-up that
shows it (§9). A flag that became present after the conclusion reopens the
assessment [B.1, Bijlage 1 §2]. The screening count leaves out
`rf-no-improvement-4w` (it cannot be answered at a first intake).

v2 operationalisations: weighty flags (`weighty`) make the GP option
recommended while unresolved; a myelopathy or CAD flag makes the GP referral
`stat` (`urgency`).

Components: one per pathology with clinical flags present, listing those
flags; the age flags (rf-age-over-50, rf-older-age) are appended to a
pathology's list only as context, when a clinical flag of that pathology is
present. Choice: with no clinical flag present the age flags are mentioned in
the explanation only (no component).
"""

from __future__ import annotations

from datetime import date

from service.facts.gather import ElementCodes
from service.facts.model import Fact, Facts, Feature
from service.rules.common import evidence, feature, fmt_day, label, labels, listing, paren

CODE = "serious-pathology"
SUSPECTED, UNRESOLVED, EXCLUDED, NOT_ASSESSED = "suspected", "unresolved", "excluded", "not-assessed"
RECOGNISABLE = "pattern-recognisable"
SERIOUS_PATTERNS = ("pattern-serious", "pattern-unrecognisable")
NO_IMPROVEMENT = "rf-no-improvement-4w"
# §1 (v2) weighty flags [B.1, tabel 2]: neurological flags alone; fever with an infection risk
# or night sweats; trauma at 65 or over (the age context flag); a history of cancer with weight
# loss or no improvement after four weeks
NEUROLOGICAL = frozenset({"rf-widespread-neuro", "rf-bowel-bladder", "rf-diplopia", "rf-limb-weakness",
                          "rf-pupil-changes"})
WEIGHTY_PAIRS = (
    ("rf-fever", ("rf-infection-risk", "rf-night-sweats")),
    ("rf-trauma-history", ("rf-older-age",)),
    ("rf-cancer-history", ("rf-weight-loss", NO_IMPROVEMENT)),
)
# §1 (v2) urgency: myelopathy and cervical arterial dysfunction need same-day contact
SAME_DAY_PATHOLOGIES = frozenset({"pathology-myelopathy", "pathology-cad"})

# Short names of the pathologies of tabel 2 (nl, en).
PATHOLOGY_NAMES = {
    "pathology-fracture": ("fractuur", "fracture"),
    "pathology-cad": ("cervicale arteriële disfunctie", "cervical arterial dysfunction"),
    "pathology-myelopathy": ("ruggenmergschade of cervicale myelopathie", "spinal cord damage or cervical myelopathy"),
    "pathology-infection": ("infectie", "infection"),
    "pathology-malignancy": ("maligne tumor", "malignancy"),
    "pathology-systemic": ("systemische ziekte", "systemic disease"),
}


def rule(row: int) -> str:
    return f"decision-logic §1 row {row} [B.1, tabel 2]"


def arose(flag: Fact, facts: Facts) -> date | None:
    """The flag's onset day (§1 v2): the derived rf-no-improvement-4w dates from the follow-up
    that shows it; any other flag from the earliest source in which it is present with no
    later source in which it is absent (gathered in §0). None: no dated source."""
    if flag.code == NO_IMPROVEMENT and flag.source.kind == "derived":
        return flag.source.day
    return facts.flag_onsets.get(flag.code, flag.source.day)


def covers(pattern: Fact | None, flag: Fact, facts: Facts) -> bool:
    """pattern-recognisable whose source is dated on or after the flag's onset day (v2: a flag
    that became present on a later day than the conclusion reopens the assessment)."""
    if pattern is None or pattern.value != RECOGNISABLE:
        return False
    day = arose(flag, facts)
    if day is None:  # an undated flag loses against every dated source
        return True
    return pattern.source.day is not None and pattern.source.day >= day


def open_flags(facts: Facts, codes: ElementCodes) -> list[str]:
    """The clinical red flags present and not covered by the pattern conclusion."""
    pattern = facts.fact("pattern-assessment")
    return [f for f in codes.red_flags if facts.present(f) and not covers(pattern, facts.fact(f), facts)]


def weighty(facts: Facts, open_: list[str]) -> bool:
    """§1 (v2) weighty flags: the GP option is recommended while unresolved. A pair is weighty as a
    whole when both are present and at least one of the two is open."""
    if any(f in NEUROLOGICAL for f in open_):
        return True
    for first, partners in WEIGHTY_PAIRS:
        for partner in partners:
            if facts.present(first) and facts.present(partner) and (first in open_ or partner in open_):
                return True
    return False


def urgency(facts: Facts, codes: ElementCodes) -> str:
    """§1 (v2): `stat` (same day) with a myelopathy or CAD flag present, `urgent` otherwise."""
    stat = any(facts.present(f) and set(paths) & SAME_DAY_PATHOLOGIES for f, paths in codes.red_flags.items())
    return "stat" if stat else "urgent"


def screening_items(codes: ElementCodes) -> list[str]:
    """§1 (v2): the red-flag items a first intake can answer (not rf-no-improvement-4w)."""
    return [f for f in codes.red_flags if f != NO_IMPROVEMENT]


def components(present: list[str], facts: Facts, codes: ElementCodes) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for pathology in codes.pathologies:
        flags = [f for f in present if pathology in codes.red_flags[f]]
        if flags:
            context = [c for c, paths in codes.context_flags.items() if pathology in paths and facts.present(c)]
            out.append((pathology, tuple(flags + context)))
    return tuple(out)


def per_pathology(comps, lang: str, codes: ElementCodes) -> str:
    """"maligne tumor (kanker in de voorgeschiedenis; context: leeftijd > 50 jaar) en infectie (koorts)"."""
    i = 1 if lang == "en" else 0
    parts = []
    for pathology, flags in comps:
        clinical = [f for f in flags if f not in codes.context_flags]
        context = [f for f in flags if f in codes.context_flags]
        text = labels(clinical, lang, codes)
        if context:
            text += f"; context: {labels(context, lang, codes)}"
        parts.append(f"{PATHOLOGY_NAMES.get(pathology, (pathology, pathology))[i]} ({text})")
    return listing(parts, lang)


def classify(facts: Facts, codes: ElementCodes) -> Feature:
    pattern = facts.fact("pattern-assessment")
    clinical_flags = list(codes.red_flags)
    present = [f for f in clinical_flags if facts.present(f)]
    comps = components(present, facts, codes)
    flag_facts = [facts.fact(f) for f in present]
    context_facts = [facts.fact(c) for _, flags in comps for c in flags if c in codes.context_flags]

    # §1 row 1 [B.1]: recognisable pattern of serious pathology, or unrecognisable pattern
    if pattern is not None and pattern.value in SERIOUS_PATTERNS:
        ev = evidence(pattern, flag_facts, context_facts)
        nl_pattern = ("wijst op mogelijke ernstige pathologie" if pattern.value == "pattern-serious"
                      else "is voor de fysiotherapeut niet herkenbaar")
        en_pattern = ("points to possible serious pathology" if pattern.value == "pattern-serious"
                      else "is not recognisable to the physiotherapist")
        nl = f"Vermoeden van ernstige pathologie (graad IV): het klachtenpatroon {nl_pattern}{paren(pattern, 'nl')}."
        en = f"Serious pathology suspected (grade IV): the complaint pattern {en_pattern}{paren(pattern, 'en')}."
        if comps:
            nl += f" Rode vlaggen voor {per_pathology(comps, 'nl', codes)}."
            en += f" Red flags for {per_pathology(comps, 'en', codes)}."
        nl += " Verwijs naar de huisarts of de verwijzend specialist."
        en += " Refer to the GP or the referring specialist."
        return feature(CODE, SUSPECTED, rule(1), nl, en, ev, components=comps)

    if present:
        uncovered = [f for f in flag_facts if not covers(pattern, f, facts)]
        ev = evidence(flag_facts, pattern, context_facts)
        # §1 row 2: a clinical red flag not covered by pattern-recognisable
        if uncovered:
            nl = f"Ernstige pathologie nog niet uitgesloten: rode vlaggen voor {per_pathology(comps, 'nl', codes)}"
            en = f"Serious pathology not yet excluded: red flags for {per_pathology(comps, 'en', codes)}"
            if pattern is not None and pattern.value == RECOGNISABLE:
                late = [f for f in uncovered if arose(f, facts) is not None]
                since_nl = listing([f"{label(f.code, 'nl', codes)} (sinds {fmt_day(arose(f, facts), 'nl')})" for f in late], "nl")
                since_en = listing([f"{label(f.code, 'en', codes)} (since {fmt_day(arose(f, facts), 'en')})" for f in late], "en")
                nl += (f". De conclusie 'herkenbaar klachtenpatroon' van {fmt_day(pattern.source.day, 'nl')} "
                       f"dateert van vóór {since_nl}. Beoordeel het klachtenpatroon opnieuw")
                en += (f". The conclusion 'recognisable pattern' of {fmt_day(pattern.source.day, 'en')} "
                       f"predates {since_en}. Assess the complaint pattern again")
            else:
                nl += f"{paren(flag_facts, 'nl')}, zonder conclusie over het klachtenpatroon. Beoordeel het klachtenpatroon"
                en += f"{paren(flag_facts, 'en')}, without a conclusion on the complaint pattern. Assess the complaint pattern"
            nl += "; tot dan is het behandelprofiel voorlopig."
            en += "; until then the treatment profile is preliminary."
            return feature(CODE, UNRESOLVED, rule(2), nl, en, ev, components=comps)
        # §1 row 3: every flag present covered by pattern-recognisable
        nl = (f"Ernstige pathologie uitgesloten: de rode vlaggen voor {per_pathology(comps, 'nl', codes)} zijn "
              f"beoordeeld met de conclusie herkenbaar klachtenpatroon zonder aanwijzing voor ernstige "
              f"pathologie{paren(ev, 'nl')}.")
        en = (f"Serious pathology excluded: the red flags for {per_pathology(comps, 'en', codes)} were assessed "
              f"with the conclusion of a recognisable pattern without signs of serious "
              f"pathology{paren(ev, 'en')}.")
        return feature(CODE, EXCLUDED, rule(3), nl, en, ev, components=comps)

    age_context = [c for c in codes.context_flags if facts.present(c)]
    screening = screening_items(codes)  # v2: without rf-no-improvement-4w
    answered = [facts.fact(f) for f in screening if facts.answered(f)]
    # §1 row 4: no clinical red flag, and pattern-recognisable or a complete screening
    if (pattern is not None and pattern.value == RECOGNISABLE) or len(answered) == len(screening):
        if pattern is not None and pattern.value == RECOGNISABLE:
            ev = evidence(pattern, answered)
            nl = (f"Ernstige pathologie uitgesloten: geen rode vlaggen aanwezig en het klachtenpatroon is "
                  f"herkenbaar, zonder aanwijzing voor ernstige pathologie{paren(evidence(pattern), 'nl')}.")
            en = (f"Serious pathology excluded: no red flags present and the complaint pattern is "
                  f"recognisable, without signs of serious pathology{paren(evidence(pattern), 'en')}.")
        else:
            ev = evidence(answered)
            nl = f"Ernstige pathologie uitgesloten: alle rode vlaggen zijn uitgevraagd en afwezig{paren(ev, 'nl')}."
            en = f"Serious pathology excluded: every red flag was asked and is absent{paren(ev, 'en')}."
        if age_context:
            nl += f" Alleen ter context (geen rode vlag op zich): {labels(age_context, 'nl', codes)}."
            en += f" For context only (not a red flag on its own): {labels(age_context, 'en', codes)}."
            ev = evidence(ev, [facts.fact(c) for c in age_context])
        return feature(CODE, EXCLUDED, rule(4), nl, en, ev)

    # §1 row 5: screening incomplete
    ev = evidence(answered)
    nl = (f"Graad IV nog niet uitgesloten: {len(answered)} van de {len(screening)} rode vlaggen "
          f"uitgevraagd en geen conclusie over het klachtenpatroon{paren(ev, 'nl')}. Vraag de rode vlaggen uit "
          f"(tabel 2); tot dan is het behandelprofiel voorlopig.")
    en = (f"Grade IV not yet excluded: {len(answered)} of the {len(screening)} red flags asked and no "
          f"conclusion on the complaint pattern{paren(ev, 'en')}. Screen the red flags (table 2); until then "
          f"the treatment profile is preliminary.")
    return feature(CODE, NOT_ASSESSED, rule(5), nl, en, ev)

