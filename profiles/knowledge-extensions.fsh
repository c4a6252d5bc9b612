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
