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
*covers* a flag when it was answered on or after the day the flag arose; an
answered flag arose before any assessment (always covered); the derived
`rf-no-improvement-4w` arises on treatment-start + 28 days (§9).

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
from service.rules.common import evidence, feature, fmt_day, labels, listing, paren

CODE = "serious-pathology"
SUSPECTED, UNRESOLVED, EXCLUDED, NOT_ASSESSED = "suspected", "unresolved", "excluded", "not-assessed"
RECOGNISABLE = "pattern-recognisable"
SERIOUS_PATTERNS = ("pattern-serious", "pattern-unrecognisable")

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


def arose(flag: Fact) -> date | None:
    """The day a flag arose; None = before any assessment (an answered flag)."""
    if flag.code == "rf-no-improvement-4w" and flag.source.kind == "derived":
        return flag.source.day
    return None


def covers(pattern: Fact | None, flag: Fact) -> bool:
    """pattern-recognisable answered on or after the day the flag arose."""
    if pattern is None or pattern.value != RECOGNISABLE:
        return False
    day = arose(flag)
    return day is None or (pattern.source.day is not None and pattern.source.day >= day)


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
        uncovered = [f for f in flag_facts if not covers(pattern, f)]
        ev = evidence(flag_facts, pattern, context_facts)
        # §1 row 2: a clinical red flag not covered by pattern-recognisable
        if uncovered:
            late = [f for f in uncovered if arose(f) is not None]
            answered_flags = [f for f in flag_facts if arose(f) is None]
            nl = (f"Ernstige pathologie nog niet uitgesloten: rode vlaggen voor "
                  f"{per_pathology(comps, 'nl', codes)}{paren(answered_flags, 'nl')}")
            en = (f"Serious pathology not yet excluded: red flags for "
                  f"{per_pathology(comps, 'en', codes)}{paren(answered_flags, 'en')}")
            if pattern is not None and late:
                day = arose(late[0])
                nl += (f". De conclusie 'herkenbaar klachtenpatroon' van {fmt_day(pattern.source.day, 'nl')} "
                       f"dateert van vóór {fmt_day(day, 'nl')}, vier weken na de start van de behandeling, en de "
                       f"metingen sindsdien tonen geen verbetering. Beoordeel het klachtenpatroon opnieuw")
                en += (f". The conclusion 'recognisable pattern' of {fmt_day(pattern.source.day, 'en')} "
                       f"predates {fmt_day(day, 'en')}, four weeks after the start of treatment, and the "
                       f"measurements since show no improvement. Assess the complaint pattern again")
            else:
                nl += ", zonder conclusie over het klachtenpatroon. Beoordeel het klachtenpatroon"
                en += ", without a conclusion on the complaint pattern. Assess the complaint pattern"
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
    answered = [facts.fact(f) for f in clinical_flags if facts.answered(f)]
    # §1 row 4: no clinical red flag, and pattern-recognisable or a complete screening
    if (pattern is not None and pattern.value == RECOGNISABLE) or len(answered) == len(clinical_flags):
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
    nl = (f"Graad IV nog niet uitgesloten: {len(answered)} van de {len(clinical_flags)} rode vlaggen "
          f"uitgevraagd en geen conclusie over het klachtenpatroon{paren(ev, 'nl')}. Vraag de rode vlaggen uit "
          f"(tabel 2); tot dan is het behandelprofiel voorlopig.")
    en = (f"Grade IV not yet excluded: {len(answered)} of the {len(clinical_flags)} red flags asked and no "
          f"conclusion on the complaint pattern{paren(ev, 'en')}. Screen the red flags (table 2); until then "
          f"the treatment profile is preliminary.")
    return feature(CODE, NOT_ASSESSED, rule(5), nl, en, ev)

