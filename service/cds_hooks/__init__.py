"""CDS Hooks 2.0 (layer 4): discovery from the PlanDefinitions' triggers, cards from the $apply result.

services.py      one CDS service per hook (`services(engine)`, `service_id(plan, hook)`)
discovery.py     `discovery(engine)`, `PREFETCH_KEYS` (hook → prefetch key → FHIR query)
cards/           `render_cards(result, engine, ...)`, `card_records(cards)`, `prune()`; a module per card kind
draft_orders.py  which draft orders the order checks judge (§11 v2)
"""
