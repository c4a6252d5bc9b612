"""The patient self-check page (``GET /zelfcheck``): no account, nothing stored unless sent with consent.

* ``GET /zelfcheck`` — the Questionnaire ``nekklachten-zelfcheck`` rendered on
  the server as an accessible form (Dutch; ``?lang=en`` for English);
* ``GET /zelfcheck/static/…`` — its script and style sheet (no CDN);
* ``POST /zelfcheck/submissions`` — the visitor sends the answers to the
  practice, with consent (stored in the store, table ``self_check_submissions``).

The advice itself comes from ``POST /fhir/PlanDefinition/nekklachten-zelfcheck/$apply``.
The router is ``service.self_check_page.routes.router``; ``public.py`` lists
what must be reachable without a token (and imports nothing, so the security
middleware can use it). See ``docs/self-check.md``.
"""

from service.self_check_page.public import PUBLIC_PATHS, PUBLIC_PREFIXES, is_public

__all__ = ["PUBLIC_PATHS", "PUBLIC_PREFIXES", "is_public"]
