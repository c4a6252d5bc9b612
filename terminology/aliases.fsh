// Aliases shared by every FSH file of the project (defined once, here).
Alias: $nekpijn = https://nekpijn-cds.org/fhir/CodeSystem/nekpijn
Alias: $sct = http://snomed.info/sct
Alias: $loinc = http://loinc.org
Alias: $ucum = http://unitsofmeasure.org
Alias: $obs-category = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $uzi = http://fhir.nl/fhir/NamingSystem/uzi-rolcode
Alias: $pd-type = http://terminology.hl7.org/CodeSystem/plan-definition-type
Alias: $translation = http://hl7.org/fhir/StructureDefinition/translation
