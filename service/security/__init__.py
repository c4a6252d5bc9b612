"""Security for the CDS Hooks endpoints: JWT client authentication, CORS, request
body limits and the rate limit of the public routes (CDS Hooks 2.0 §Security and Safety).

Wire it with :func:`install_security` (``app``, ``settings``, replay cache, and
the app's public routes as :class:`PublicRoute` objects).
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
from service.security.public_routes import DEFAULT_PUBLIC, PublicRoute
from service.security.rate_limit import RateLimitMiddleware

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AUTH_OFF_WARNING",
    "SANDBOX_ISS",
    "AuthError",
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "CORSMiddleware",
    "DEFAULT_PUBLIC",
    "PublicRoute",
    "RateLimitMiddleware",
    "Claims",
    "IssuerConfigError",
    "ReplayCache",
    "TrustedIssuers",
    "Verifier",
    "install_security",
]
