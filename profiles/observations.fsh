// Nekpijn CDS — Observation profiles (hand-written FSH).
//
// Guideline references are to the KNGF-richtlijn Nekpijn 2016, Praktijkrichtlijn
// (sections A.x / B.x / C.x, tabel 1-4, Bijlage 1 §1-§6). Codes, linkIds and
// canonical URLs follow the contract in dak/ (data-dictionary.yaml, outputs.md).
// Aliases ($nekpijn, $sct, $loinc, $ucum, ...) are defined once in
// terminology/aliases.fsh; ValueSets are bound by canonical URL; publisher,
// contact, jurisdiction and experimental come from the RuleSet
// DefinitionMetadata (terminology/generated/metadata-rulesets.fsh).
//
// Design notes
// * Codes that a profile fixes (NPRS LOINC, PSK, cervical rotation, the
//   case-feature category) are expressed as a pattern on ONE coding (an open
//   slice on code.coding / category), not as a pattern on the whole
//   CodeableConcept: extra translations stay allowed and the pattern does not
//   depend on the display text or on the position of the coding.
// * Constraints inside component slices are kept on the slice's own elements
//   (code pattern, value[x] type and pattern); requirements on deeper children
//   (PSK component.code.text, the rotation angle) are root invariants instead.
//   Constraining a child such as component[x].code.text makes SUSHI unfold the
//   datatype (with its extension slicing) into the snapshot, and
//   pyrofile-validator 0.3.0 then mistakes that extension slicing for the
//   component slicing and stops checking the component slices altogether.
// * Range invariants sit on the Observation root and use `value` (the choice
//   element, already restricted to one numeric type) and `.all()`, so they are
//   true when the value is absent and never evaluate to an empty result.

// ---------------------------------------------------------------------------
// Shared rules
// ---------------------------------------------------------------------------

RuleSet: NekpijnObservationCommon
* ^status = #active
* insert DefinitionMetadata
* subject 1..1 MS
* subject only Reference(Patient)
* effective[x] 1..1 MS
* effective[x] only dateTime
* code MS

// Pattern on one coding of Observation.code (open slice, discriminator pattern:$this).
RuleSet: NekpijnCodeCoding(sliceName, coding)
* code.coding 1..*
* code.coding ^slicing.discriminator.type = #pattern
* code.coding ^slicing.discriminator.path = "$this"
* code.coding ^slicing.rules = #open
* code.coding ^slicing.description = "The defining coding must be present; other codings (translations) may follow."
* code.coding contains {sliceName} 1..1 MS
* code.coding[{sliceName}] = {coding}

// Component slicing on component.code (pattern), closed.
RuleSet: NekpijnClosedComponentSlicing(description)
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #closed
* component ^slicing.ordered = false
* component ^slicing.description = "{description}"

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

Invariant: nk-nprs-1
Description: "The NPRS score is a whole number from 0 to 10 (KNGF B.3: N(P)RS, bereik 0-10 punten)."
Expression: "value.all($this >= 0 and $this <= 10)"
Severity: #error

Invariant: nk-psk-1
Description: "The PSK score (mean over the chosen activities) lies between 0 and 10 (KNGF B.3: PSK, bereik 0-10 punten)."
Expression: "value.value.all($this >= 0 and $this <= 10)"
Severity: #error

Invariant: nk-psk-2
Description: "Each PSK activity score is a whole number from 0 (no problem) to 10 (impossible)."
Expression: "component.value.all($this >= 0 and $this <= 10)"
Severity: #error

Invariant: nk-psk-3
Description: "Each PSK activity names the activity in the patient's own words (component.code.text)."
Expression: "component.all(code.text.exists())"
Severity: #error

Invariant: nk-rot-1
Description: "Each side has a measured rotation angle (valueQuantity.value) that is not negative."
Expression: "component.all(value.value.exists() and value.value >= 0)"
Severity: #error

Invariant: nk-ins-1
Description: "An instrument score carries a total score (value) or subscale scores (component), or both."
Expression: "value.exists() or component.exists()"
Severity: #error

Invariant: nk-ins-2
Description: "Subscale components are only used on the 4DKL (Vier Dimensionale Klachtenlijst)."
Expression: "component.exists() implies code.coding.where(system = 'https://nekpijn-cds.org/fhir/CodeSystem/nekpijn' and code = '4dkl').exists()"
Severity: #error

Invariant: nk-ins-3
Description: "The Neck Disability Index total score lies between 0 and 50."
Expression: "code.coding.where((system = 'https://nekpijn-cds.org/fhir/CodeSystem/nekpijn' and code = 'ndi') or (system = 'http://loinc.org' and code = '82237-9')).exists() implies (value.ofType(integer) | value.value).all($this >= 0 and $this <= 50)"
Severity: #error

Invariant: nk-ins-4
Description: "The Tampa Scale for Kinesiophobia total score lies between 17 and 68."
Expression: "code.coding.where(system = 'https://nekpijn-cds.org/fhir/CodeSystem/nekpijn' and code = 'tsk').exists() implies (value.ofType(integer) | value.value).all($this >= 17 and $this <= 68)"
Severity: #error

Invariant: nk-ins-5
Description: "The Visual Analogue Scale for pain lies between 0 and 100 mm."
Expression: "code.coding.where(system = 'https://nekpijn-cds.org/fhir/CodeSystem/nekpijn' and code = 'vas').exists() implies (value.ofType(integer) | value.value).all($this >= 0 and $this <= 100)"
Severity: #error

Invariant: nk-cf-1
Description: "A case feature is final, or preliminary while serious pathology is unresolved or not assessed (dak/outputs.md)."
Expression: "status = 'final' or status = 'preliminary'"
Severity: #error

Invariant: nk-cf-2
Description: "A case feature carries a value, or a dataAbsentReason saying why it has none."
Expression: "value.exists() or dataAbsentReason.exists()"
Severity: #error

// ---------------------------------------------------------------------------
// NPRS
// ---------------------------------------------------------------------------

Profile: NprsObservation
Parent: Observation
Id: nprs-observation
Title: "NPRS Observation (Numeric Pain Rating Scale)"
Description: """
The Numeric (Pain) Rating Scale: the patient's average pain over the last 24 hours on a 0-10 scale.
The KNGF guideline recommends measuring the N(P)RS in every patient, at the start of treatment (baseline)
and at the end, and treats a difference of at least 2 points as a change (KNGF-richtlijn Nekpijn 2016,
B.3 Meetinstrumenten, figuur 2; Bijlage 1 §4). Coded with LOINC 72514-3; the service also accepts a
Nictiz zib PainScore (SNOMED CT 225908003 with method NRS), which is not constrained by this profile.
"""
* insert NekpijnObservationCommon
* obeys nk-nprs-1
* insert NekpijnCodeCoding(loinc, $loinc#72514-3)
* code.coding[loinc] ^short = "LOINC 72514-3 Pain severity - 0-10 verbal numeric rating [Score] - Reported"
* value[x] 1..1 MS
* value[x] only integer
* value[x] ^short = "NPRS score 0-10"

// ---------------------------------------------------------------------------
// PSK
// ---------------------------------------------------------------------------

Profile: PskObservation
Parent: Observation
Id: psk-observation
Title: "PSK Observation (Patiënt Specifieke Klachten)"
Description: """
Patient-Specific Complaints: the patient chooses activities that are limited by the neck pain and scores
each on a 0-10 scale (0 = no problem, 10 = impossible); the Observation value is the mean over the chosen
activities. The KNGF guideline recommends the PSK for every patient at baseline and at the end of treatment
(KNGF-richtlijn Nekpijn 2016, B.3 Meetinstrumenten, figuur 2; Bijlage 1 §4). The recorded score is the
one that counts; the activity components document how it was obtained (component.code.text holds the
activity in the patient's own words). FHIR R4 Observation.value[x] has no decimal type, so the mean score
that the data dictionary calls "valueDecimal" is carried as valueQuantity.value (UCUM {score}).
"""
* insert NekpijnObservationCommon
* obeys nk-psk-1 and nk-psk-2 and nk-psk-3
* insert NekpijnCodeCoding(psk, $nekpijn#psk)
* value[x] 1..1 MS
* value[x] only Quantity
* value[x] ^short = "PSK score: mean of the activity scores, 0-10 (valueQuantity, UCUM {score})"
* valueQuantity.value 1..1
* valueQuantity.system = "http://unitsofmeasure.org" (exactly)
* valueQuantity.code = #{score} (exactly)
* insert NekpijnClosedComponentSlicing(One component per chosen activity.)
* component contains activity 0..* MS
* component[activity] ^short = "A PSK activity and its score"
* component[activity].code = $nekpijn#psk-activity
* component[activity].code ^short = "psk-activity; code.text (required, nk-psk-3) = the activity in the patient's words"
* component[activity].value[x] 1..1
* component[activity].value[x] only integer
* component[activity].value[x] ^short = "Activity score 0 (no problem) - 10 (impossible)"

// ---------------------------------------------------------------------------
// Clinical tests for cervical radicular syndrome
// ---------------------------------------------------------------------------

Profile: ClinicalTestObservation
Parent: Observation
Id: clinical-test-observation
Title: "Clinical test Observation (Spurling, traction/distraction, ULTT)"
Description: """
The result (positive / negative, SNOMED CT 10828004 / 260385009) of a physical examination test for
cervical radicular syndrome (neck pain grade III): Spurling's test and the traction/distraction test
(inclusion tests: a positive result makes grade III likely) and the Upper Limb Tension Test (exclusion test:
a negative result rules grade III out) (KNGF-richtlijn Nekpijn 2016, B.2 Lichamelijk onderzoek, tabel 3;
Bijlage 1 §3). A test that was not done is not recorded.
"""
* insert NekpijnObservationCommon
* code from https://nekpijn-cds.org/fhir/ValueSet/crs-tests (required)
* value[x] 1..1 MS
* value[x] only CodeableConcept
* value[x] from https://nekpijn-cds.org/fhir/ValueSet/test-result (required)
* value[x] ^short = "Positive | Negative"

// ---------------------------------------------------------------------------
// Cervical rotation (range of motion)
// ---------------------------------------------------------------------------

Profile: CervicalRotationObservation
Parent: Observation
Id: cervical-rotation-observation
Title: "Cervical rotation Observation"
Description: """
Active cervical rotation to the left and to the right in degrees (for example measured with a CROM
device). A rotation below 60 degrees is a symptom of cervical radicular syndrome (KNGF-richtlijn Nekpijn
2016, B.2 Lichamelijk onderzoek, tabel 3: beperkte cervicale ROM, rotatie < 60 graden; Bijlage 1 §3 and
§4 CROM). Both sides are recorded as components with a UCUM quantity in 'deg'; the Observation itself has
no value.
"""
* insert NekpijnObservationCommon
* obeys nk-rot-1
* insert NekpijnCodeCoding(rotation, $nekpijn#cervical-rotation)
* value[x] 0..0
* insert NekpijnClosedComponentSlicing(Rotation to the left and to the right.)
* component 2..2
* component contains left 1..1 MS and right 1..1 MS
* component[left] ^short = "Rotation to the left (degrees)"
* component[left].code = $nekpijn#cervical-rotation-left
* component[left].value[x] 1..1
* component[left].value[x] only Quantity
* component[left].value[x] = $ucum#deg
* component[left].value[x] ^short = "Degrees: UCUM deg (value required, nk-rot-1)"
* component[right] ^short = "Rotation to the right (degrees)"
* component[right].code = $nekpijn#cervical-rotation-right
* component[right].value[x] 1..1
* component[right].value[x] only Quantity
* component[right].value[x] = $ucum#deg
* component[right].value[x] ^short = "Degrees: UCUM deg (value required, nk-rot-1)"

// ---------------------------------------------------------------------------
// Boolean findings (history / examination items of the data dictionary)
// ---------------------------------------------------------------------------

Profile: FindingObservation
Parent: Observation
Id: finding-observation
Title: "Finding Observation (yes/no)"
Description: """
A yes/no finding from the history or physical examination, as an alternative to the answer in the intake
QuestionnaireResponse: red flags (KNGF-richtlijn Nekpijn 2016, B.1 Anamnese, tabel 2; Bijlage 1 §2),
symptoms and signs of cervical radicular syndrome (B.2, tabel 3; Bijlage 1 §3), prognostic and
psychosocial factors (tabel 1; B.5) and the other boolean data elements of the data dictionary. The code
is the local code (or the SNOMED CT code listed as `also` in the data dictionary); valueBoolean true means
the finding is present.
"""
* insert NekpijnObservationCommon
* code from https://nekpijn-cds.org/fhir/ValueSet/boolean-findings (required)
* value[x] 1..1 MS
* value[x] only boolean
* value[x] ^short = "true = present, false = absent"

// ---------------------------------------------------------------------------
// Measurement instruments (optional instruments, B.3 / Bijlage 1 §4)
// ---------------------------------------------------------------------------

Profile: InstrumentScoreObservation
Parent: Observation
Id: instrument-score-observation
Title: "Instrument score Observation"
Description: """
The score of one of the optional measurement instruments the KNGF guideline names (NDI, TSK, FABQ, 4DKL,
SF-36, NBQ, VAS, CCFT, deep neck flexor endurance, endurance test; KNGF-richtlijn Nekpijn 2016, B.3
Meetinstrumenten and Verantwoording; Bijlage 1 §4 Optionele meetinstrumenten). The total score is the
value; the 4DKL reports its four subscales (distress, depression, anxiety, somatisation) as components.
These scores are shown as context and are never decisive on their own.
"""
* insert NekpijnObservationCommon
* obeys nk-ins-1 and nk-ins-2 and nk-ins-3 and nk-ins-4 and nk-ins-5
* code from https://nekpijn-cds.org/fhir/ValueSet/instruments (required)
* value[x] MS
* value[x] only integer or Quantity
* value[x] ^short = "Total score (valueInteger; valueQuantity for a non-integer score)"
* insert NekpijnClosedComponentSlicing(4DKL subscale scores.)
* component contains distress 0..1 and depression 0..1 and anxiety 0..1 and somatisation 0..1
* component[distress].code = $nekpijn#4dkl-distress
* component[distress].value[x] 1..1
* component[distress].value[x] only integer
* component[depression].code = $nekpijn#4dkl-depression
* component[depression].value[x] 1..1
* component[depression].value[x] only integer
* component[anxiety].code = $nekpijn#4dkl-anxiety
* component[anxiety].value[x] 1..1
* component[anxiety].value[x] only integer
* component[somatisation].code = $nekpijn#4dkl-somatisation
* component[somatisation].value[x] 1..1
* component[somatisation].value[x] only integer

// ---------------------------------------------------------------------------
// Inferred case feature (output of the service)
// ---------------------------------------------------------------------------

Profile: CaseFeatureObservation
Parent: Observation
Id: case-feature-observation
Title: "Case feature Observation (inferred)"
Description: """
A case feature the Nekpijn CDS service infers from the patient's data (dak/outputs.md): serious pathology
(KNGF-richtlijn Nekpijn 2016, B.1, tabel 2; Bijlage 1 §2), cervical radicular syndrome (B.2, tabel 3;
Bijlage 1 §3), grade, course (Bijlage 1 §1), subgroup, psychosocial dominance (B.5), treatment profile
A-D (tabel 4; Bijlage 1 §6), treatment effect (B.3, C.5) and the self-check advice. Category is the local
code case-feature; the note explains in Dutch which rule was applied and on which evidence; derivedFrom
points to the QuestionnaireResponses and Observations used. The status is preliminary while serious
pathology is unresolved or not assessed. Case-feature Observations are never read back as input.
"""
* insert NekpijnObservationCommon
* obeys nk-cf-1 and nk-cf-2
* status MS
* status ^short = "final | preliminary"
* category 1..* MS
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "The case-feature category is required; other categories may be added."
* category contains caseFeature 1..1 MS
* category[caseFeature] = $nekpijn#case-feature
* code from https://nekpijn-cds.org/fhir/ValueSet/case-features (required)
* value[x] MS
* value[x] only CodeableConcept or boolean
* value[x] from https://nekpijn-cds.org/fhir/ValueSet/case-feature-values (extensible)
* note 1..* MS
* note ^short = "Dutch explanation of the rule applied and the evidence"
* derivedFrom MS
* derivedFrom only Reference(QuestionnaireResponse or Observation)
* component ^short = "Serious pathology: one component per pathology with red flags present"
* component.code from https://nekpijn-cds.org/fhir/ValueSet/pathologies (required)
* component.value[x] 1..1
* component.value[x] only CodeableConcept or string
