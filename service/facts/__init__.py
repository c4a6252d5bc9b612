"""Layer 2a: FHIR input → facts (decision-logic §0)."""
