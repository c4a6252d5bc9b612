"""FHIR knowledge artifacts (SUSHI output) and their in-memory index."""

from service.knowledge.loader import (
    DEFAULT_DIR,
    SEARCH_PARAMS,
    KnowledgeBase,
    KnowledgeError,
    UnsupportedSearchParameter,
)

__all__ = [
    "DEFAULT_DIR",
    "SEARCH_PARAMS",
    "KnowledgeBase",
    "KnowledgeError",
    "UnsupportedSearchParameter",
]
