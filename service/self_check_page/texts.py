"""The page's own words, in Dutch (default) and English.

The questions and the advice come from the knowledge (the Questionnaire and
the CarePlan of ``$apply``); this file holds only what frames them: intro,
emergency note, buttons, errors, and the consent for sending the answers.

Plain language (B1), "je" form like the patient page the self-check is based
on. The consent text is versioned: a change of its wording is a new
``CONSENT_VERSION`` (what was agreed to is stored with each submission, as
its version and the SHA-256 of the exact text in the visitor's language).
"""

from __future__ import annotations

import hashlib

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

CONSENT_VERSION = "2026-1"

CONSENT_TEXT = {
    "nl": (
        "Ik geef toestemming om mijn antwoorden op deze zelfcheck en het advies naar de praktijk te sturen, "
        "met mijn naam en telefoonnummer of e-mailadres als ik die hieronder invul. De praktijk bewaart "
        "deze gegevens om mijn klachten te bekijken en om contact met mij op te nemen als ik mijn "
        "gegevens heb ingevuld."
    ),
    "en": (
        "I consent to sending my answers to this self-check and the advice to the practice, with my name "
        "and phone number or e-mail address if I fill them in below. The practice keeps this information "
        "to look at my complaints and to contact me if I have filled in my details."
    ),
}


def consent_sha256(lang: str) -> str:
    """SHA-256 (hex) of the consent text in *lang*, as shown on the page (UTF-8)."""
    return hashlib.sha256(CONSENT_TEXT[lang].encode("utf-8")).hexdigest()


TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Zelfcheck nekklachten",
        "intro": (
            "Heb je last van je nek? Beantwoord een paar korte vragen met ja of nee. Je krijgt meteen een "
            "advies: wat je zelf kunt doen, of het verstandig is een afspraak te maken, of dat je beter "
            "contact opneemt met je huisarts. De zelfcheck stelt geen diagnose."
        ),
        "privacy": (
            "Je hebt geen account nodig. Je antwoorden worden niet bewaard. Alleen als je aan het eind zelf "
            "kiest om ze naar de praktijk te sturen, bewaart de praktijk ze."
        ),
        "emergency_label": "Spoed",
        "emergency": (
            "Heb je plotseling hevige klachten, of voel je je ernstig ziek? Wacht dan niet met deze "
            "zelfcheck. Bel bij levensgevaar 112. Bel anders je huisarts, of 's avonds en in het weekend "
            "de huisartsenpost."
        ),
        "noscript": (
            "Voor deze zelfcheck is JavaScript nodig. Zet JavaScript aan in je browser, of bel de praktijk "
            "voor advies. Heb je ernstige klachten? Bel je huisarts, of bij levensgevaar 112."
        ),
        "unavailable": (
            "De zelfcheck is op dit moment niet beschikbaar. Probeer het later opnieuw, of bel de praktijk. "
            "Heb je ernstige klachten? Bel je huisarts, of bij levensgevaar 112."
        ),
        "skip": "Naar de vragen",
        "language_nav": "Taal",
        "other_language": "English",
        "other_language_code": "en",
        "questions": "Vragen",
        "required_note": "Vragen met een * moet je beantwoorden.",
        "required": "verplicht",
        "yes": "Ja",
        "no": "Nee",
        "submit": "Bekijk mijn advies",
        "busy": "Even geduld, je advies wordt opgehaald…",
        "errors_title": "Er ontbreken nog antwoorden",
        "errors_intro": "Beantwoord deze vragen:",
        "answer_missing": "Kies een antwoord.",
        "result_label": "Jouw advies",
        "urgent_label": "Belangrijk",
        "today_label": "Vandaag nog bellen",
        "result_error_title": "Het advies kon niet worden opgehaald",
        "result_error": (
            "Probeer het over een paar minuten opnieuw. Heb je nu ernstige klachten? Bel je huisarts, of bij "
            "levensgevaar 112."
        ),
        "technical": "Technische melding:",
        "change_answers": "Antwoorden aanpassen",
        "start_again": "Opnieuw beginnen",
        "send_title": "Wil je je antwoorden naar de praktijk sturen?",
        "send_intro": (
            "Dat hoeft niet: het advies hierboven geldt ook als je niets stuurt. Stuur je je antwoorden wel, "
            "dan kan de praktijk ze bekijken en, als je je gegevens invult, contact met je opnemen."
        ),
        "send_stored": (
            "Wat we bewaren: je antwoorden, het advies, de taal, het moment van versturen en je toestemming. "
            "Je naam en telefoonnummer of e-mailadres alleen als je die invult. Je kunt de praktijk vragen "
            "je gegevens te verwijderen; noem dan je ontvangstnummer."
        ),
        "consent_legend": "Toestemming",
        "name_label": "Je naam (niet verplicht)",
        "contact_label": "Telefoonnummer of e-mailadres (niet verplicht)",
        "contact_hint": "Vul dit in als je wilt dat de praktijk contact met je opneemt.",
        "send": "Verstuur naar de praktijk",
        "sending": "Bezig met versturen…",
        "consent_missing": "Vink eerst aan dat je toestemming geeft. Zonder toestemming sturen we niets.",
        "contact_invalid": "Vul een geldig telefoonnummer of e-mailadres in, of laat dit veld leeg.",
        "sent_title": "Verstuurd",
        "sent": "Je antwoorden zijn naar de praktijk gestuurd. Je ontvangstnummer is:",
        "sent_hint": "Noem dit nummer als je contact hebt met de praktijk.",
        "send_error": "Versturen is niet gelukt. Probeer het later opnieuw.",
        "too_many": "Het is nu te druk. Probeer het over een paar minuten opnieuw.",
        "footer": "Deze zelfcheck is gebaseerd op de KNGF-richtlijn Nekpijn en geeft geen diagnose.",
    },
    "en": {
        "title": "Neck complaints self-check",
        "intro": (
            "Do you have neck complaints? Answer a few short yes-or-no questions. You get advice straight "
            "away: what you can do yourself, whether it is wise to make an appointment, or whether you should "
            "contact your GP. The self-check does not give a diagnosis."
        ),
        "privacy": (
            "You do not need an account. Your answers are not stored. Only if you choose at the end to send "
            "them to the practice, the practice keeps them."
        ),
        "emergency_label": "Emergency",
        "emergency": (
            "Do you suddenly have severe complaints, or do you feel seriously ill? Do not wait for this "
            "self-check. In a life-threatening situation call 112. Otherwise call your GP (huisarts), or in "
            "the evening and at the weekend the GP out-of-hours service (huisartsenpost)."
        ),
        "noscript": (
            "This self-check needs JavaScript. Turn on JavaScript in your browser, or call the practice for "
            "advice. Do you have severe complaints? Call your GP, or 112 in a life-threatening situation."
        ),
        "unavailable": (
            "The self-check is not available right now. Please try again later, or call the practice. Do you "
            "have severe complaints? Call your GP, or 112 in a life-threatening situation."
        ),
        "skip": "Skip to the questions",
        "language_nav": "Language",
        "other_language": "Nederlands",
        "other_language_code": "nl",
        "questions": "Questions",
        "required_note": "Questions marked * must be answered.",
        "required": "required",
        "yes": "Yes",
        "no": "No",
        "submit": "Show my advice",
        "busy": "One moment, getting your advice…",
        "errors_title": "Some answers are missing",
        "errors_intro": "Please answer these questions:",
        "answer_missing": "Choose an answer.",
        "result_label": "Your advice",
        "urgent_label": "Important",
        "today_label": "Call today",
        "result_error_title": "The advice could not be retrieved",
        "result_error": (
            "Please try again in a few minutes. Do you have severe complaints now? Call your GP, or 112 in a "
            "life-threatening situation."
        ),
        "technical": "Technical message:",
        "change_answers": "Change answers",
        "start_again": "Start again",
        "send_title": "Do you want to send your answers to the practice?",
        "send_intro": (
            "You do not have to: the advice above stands even if you send nothing. If you do send your "
            "answers, the practice can look at them and, if you fill in your details, contact you."
        ),
        "send_stored": (
            "What is stored: your answers, the advice, the language, the time of sending and your consent. "
            "Your name and phone number or e-mail address only if you fill them in. You can ask the practice "
            "to delete your data; then give your receipt number."
        ),
        "consent_legend": "Consent",
        "name_label": "Your name (optional)",
        "contact_label": "Phone number or e-mail address (optional)",
        "contact_hint": "Fill this in if you want the practice to contact you.",
        "send": "Send to the practice",
        "sending": "Sending…",
        "consent_missing": "First tick the box to give your consent. Without consent nothing is sent.",
        "contact_invalid": "Enter a valid phone number or e-mail address, or leave this field empty.",
        "sent_title": "Sent",
        "sent": "Your answers have been sent to the practice. Your receipt number is:",
        "sent_hint": "Give this number when you contact the practice.",
        "send_error": "Sending failed. Please try again later.",
        "too_many": "It is too busy right now. Please try again in a few minutes.",
        "footer": "This self-check is based on the KNGF neck pain guideline and does not give a diagnosis.",
    },
}

assert set(TEXTS["nl"]) == set(TEXTS["en"])

#: the texts the browser script needs (the rest is in the HTML)
SCRIPT_TEXTS = (
    "busy", "errors_title", "errors_intro", "answer_missing", "result_label", "urgent_label", "today_label",
    "result_error_title", "result_error", "technical", "sending", "consent_missing", "contact_invalid", "send_error",
    "too_many", "yes", "no",
)
