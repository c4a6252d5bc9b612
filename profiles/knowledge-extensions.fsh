// Extensions used by the knowledge artifacts themselves (hand-written).

Extension: PlanVariable
Id: plan-variable
Title: "Plan variable"
Description: "A named FHIRPath expression evaluated once per evaluation of the PlanDefinition, before any action condition, over `%case` (the Parameters resource that describes the case: case features, answered data elements and derived facts; see docs/case-parameters.md). Later variables and every action condition and dynamicValue can use it as `%<name>`. Plays the role the R5 `variable` extension plays for Questionnaires; R4 core does not allow that extension on PlanDefinition."
Context: PlanDefinition
* ^status = #active
* insert DefinitionMetadata
* value[x] 1..1
* value[x] only Expression
* valueExpression.name 1..1
* valueExpression.language = #text/fhirpath
* valueExpression.expression 1..1

// issue 16: a PlanDefinition condition is CQL (text/cql-identifier) for generic engines; the
// service's engine runs this FHIRPath form of the same rule. Same meaning as the
// cqf-alternativeExpression extension of the FHIR extensions pack / CPG, which R4 core lacks
// (the validator, offline, knows only R4 core).
Extension: AlternativeExpression
Id: alternative-expression
Title: "Alternative expression"
Description: "The same condition as the Expression it is on, in another language: on a PlanDefinition action condition written in CQL (`text/cql-identifier`, a definition of the PlanDefinition's Library, which generic CQL engines evaluate), the FHIRPath form (`text/fhirpath`, over `%case` and the plan-variable extensions, docs/case-parameters.md) that the Nekpijn CDS engine evaluates. Both forms state the same rule; tests/test_cql_plan.py compares them. Same meaning as `cqf-alternativeExpression` of the FHIR extensions pack."
Context: Expression
* ^status = #active
* insert DefinitionMetadata
* value[x] 1..1
* value[x] only Expression
* valueExpression.language = #text/fhirpath
* valueExpression.expression 1..1
