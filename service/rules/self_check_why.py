"""The "Waarom?" of the self-check advice, in the patient's words [dak/self-check.md; seed 000].

It names only the answers that decided the advice ("Waarom? Je gaf aan:
moeite met slikken."), never the whole list of red flags or contact
criteria. Plain Dutch (B1) in the "je" form like the patient page, English
as the translation. The text is the note of the `self-check-advice`
Observation; the self-check page shows it right after the advice itself.

One short phrase per item: what the patient said when answering "ja" (the
red-flag phrases follow the lead-in "Heb je naast je nekpijn ook …" of
the Questionnaire).
"""

from __future__ import annotations

#: linkId → what a "yes" says, as a phrase after "Je gaf aan:" / "You answered yes to:"
STATEMENTS: dict[str, dict[str, str]] = {
    "sc-longer-than-3-weeks": {"nl": "al langer dan drie weken nekpijn",
                               "en": "neck pain for more than three weeks"},
    "sc-movement-painful": {"nl": "bewegingen van je nek die moeilijk of pijnlijk blijven",
                            "en": "neck movements that stay difficult or painful"},
    "sc-radiating": {"nl": "pijn die uitstraalt naar je schouder of arm",
                     "en": "pain that radiates to your shoulder or arm"},
    "sc-tingling-weakness": {"nl": "tintelingen of krachtsverlies in je arm of hand",
                             "en": "tingling or loss of strength in your arm or hand"},
    "sc-headache-from-neck": {"nl": "regelmatig hoofdpijn die vanuit je nek lijkt te komen",
                              "en": "regular headaches that seem to come from your neck"},
    "sc-daily-life": {"nl": "klachten die je werk, sport of nachtrust belemmeren",
                      "en": "complaints that hinder your work, sport or sleep"},
    "sc-getting-worse": {"nl": "pijn die erger wordt", "en": "pain that is getting worse"},
    "sc-keeps-returning": {"nl": "pijn die steeds terugkomt", "en": "pain that keeps coming back"},
    "sc-after-accident": {"nl": "klachten die begonnen na een val, botsing of ander ongeluk",
                          "en": "complaints that started after a fall, collision or other accident"},
    "sc-accident-symptoms": {"nl": "sindsdien stijve spieren, hoofdpijn of duizeligheid",
                             "en": "since then stiff muscles, headache or dizziness"},
    "sc-rf-fever": {"nl": "koorts of nachtelijk zweten", "en": "fever or night sweats"},
    "sc-rf-weight-loss": {"nl": "onverklaarbaar gewichtsverlies", "en": "unexplained weight loss"},
    "sc-rf-cancer": {"nl": "kanker in het verleden", "en": "cancer in the past"},
    "sc-rf-both-limbs": {"nl": "gevoelloosheid of krachtverlies in beide armen of benen",
                         "en": "numbness or loss of strength in both arms or legs"},
    "sc-rf-bladder-bowel": {"nl": "problemen met plassen of ontlasting",
                            "en": "problems with urination or bowel movements"},
    "sc-rf-swallowing": {"nl": "moeite met slikken", "en": "difficulty swallowing"},
    "sc-rf-double-vision": {"nl": "dubbelzien", "en": "double vision"},
}

WORDS = {
    "why": {"nl": "Waarom?", "en": "Why?"},
    "you-said": {"nl": "Je gaf aan:", "en": "You answered yes to:"},
    "and": {"nl": "en", "en": "and"},
    # row 1, soon [tabel 2: these signs need a doctor's assessment]
    "gp": {"nl": "Dat moet een arts beoordelen.", "en": "A doctor needs to assess that."},
    # row 1, today (v2) [tabel 2: myelopathy, arterial dysfunction; decision-logic §1 urgency stat]
    "gp-today": {"nl": "Bij {items} moet een arts je vandaag nog zien: het kan een teken zijn van een probleem "
                       "met het ruggenmerg of met een bloedvat in je nek.",
                 "en": "With {items} a doctor needs to see you today: it can be a sign of a problem with the "
                       "spinal cord or with a blood vessel in your neck."},
    "self-care": {"nl": "Geen van je antwoorden wijst op een reden om naar een arts of fysiotherapeut te gaan.",
                  "en": "None of your answers points to a reason to see a doctor or physiotherapist."},
    "unanswered": {"nl": "Vragen die je niet hebt beantwoord, tellen als nee: {items}.",
                   "en": "Questions you did not answer count as no: {items}."},
    "ignored": {"nl": "Je antwoord over stijve spieren, hoofdpijn of duizeligheid telt niet mee: die vraag hoort "
                      "alleen bij klachten na een ongeluk.",
                "en": "Your answer about stiff muscles, headache or dizziness does not count: that question "
                      "belongs only to complaints after an accident."},
}


def phrase(code: str, lang: str) -> str:
    return STATEMENTS[code][lang]


def listing(codes: list[str], lang: str) -> str:
    """"koorts of nachtelijk zweten, moeite met slikken en dubbelzien"."""
    names = [phrase(c, lang) for c in codes]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {WORDS['and'][lang]} {names[-1]}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def why(lang: str, advice: str, decisive: list[str], *, same_day: list[str] = (),
        unanswered: list[str] = (), ignored_symptoms: bool = False) -> str:
    """The "Waarom?" paragraph: the deciding answers, then what follows from them.

    `decisive`: the items answered yes that decided the advice (empty for
    self-care); `same_day`: those of them that make the GP advice same-day;
    `unanswered`: shown items without an answer (they count as no).
    """
    parts = [WORDS["why"][lang]]
    if decisive:
        parts.append(f"{WORDS['you-said'][lang]} {listing(decisive, lang)}.")
    if advice == "advice-gp":
        if same_day:
            parts.append(WORDS["gp-today"][lang].format(items=listing(list(same_day), lang)))
        else:
            parts.append(WORDS["gp"][lang])
    elif advice == "advice-self-care":
        parts.append(WORDS["self-care"][lang])
    if unanswered:
        parts.append(WORDS["unanswered"][lang].format(items=listing(list(unanswered), lang)))
    if ignored_symptoms:
        parts.append(WORDS["ignored"][lang])
    return " ".join(parts)
