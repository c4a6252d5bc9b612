// Nekpijn CDS — extensions (hand-written FSH).

Extension: EvaluationDate
Id: evaluation-date
Title: "Evaluation date"
Description: """
The evaluation day ("today", Europe/Amsterdam) on which a case Bundle is meant to be evaluated. Every rule
of the Nekpijn CDS that depends on the current date (duration of the complaints, course, follow-up after
four and six weeks; KNGF-richtlijn Nekpijn 2016, A.3 and Bijlage 1 §1 normaal en afwijkend beloop, C.5)
uses this day, so that example and test bundles give the same result on every run.
An R4 Bundle has no extension element of its own (Bundle is a Resource, not a DomainResource), so the
extension is carried on Bundle.meta (Bundle.meta.extension).
"""
Context: Bundle, Bundle.meta
* ^status = #active
* insert DefinitionMetadata
* value[x] 1..1
* value[x] only date
