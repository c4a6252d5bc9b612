"""CDS Hooks 2.0 (layer 4): discovery from the PlanDefinitions' triggers, cards from the $apply result.

discovery.py  `discovery(engine)`, `PREFETCH_KEYS` (hook → prefetch key → FHIR query)
cards.py      `render_cards(result, engine, ...)`, `card_records(cards)`, `prune()`
"""
