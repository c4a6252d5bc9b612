"""Security for the CDS Hooks endpoints: JWT client authentication, CORS and a
request body limit (CDS Hooks 2.0 §Security and Safety).

Wire it with :func:`install_security` (``app``, ``settings``, replay cache).
"""

from service.security.errors import AuthError
from service.security.issuers import SANDBOX_ISS, IssuerConfigError, TrustedIssuers
from service.security.jwt_auth import ALLOWED_ALGORITHMS, Claims, ReplayCache, Verifier
from service.security.middleware import (
    AUTH_OFF_WARNING,
    AuthMiddleware,
    BodyLimitMiddleware,
    CORSMiddleware,
    install_security,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AUTH_OFF_WARNING",
    "SANDBOX_ISS",
    "AuthError",
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "CORSMiddleware",
    "Claims",
    "IssuerConfigError",
    "ReplayCache",
    "TrustedIssuers",
    "Verifier",
    "install_security",
]
