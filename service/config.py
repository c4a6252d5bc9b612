"""Runtime settings, read from ``NEKPIJN_*`` environment variables.

Add new settings as dataclass fields with a default and parse them in
:meth:`Settings.from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "NEKPIJN_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class ConfigError(ValueError):
    """An environment variable has an invalid value."""


@dataclass(frozen=True)
class Settings:
    """Service settings.

    ``base_url`` is the public base URL of the whole service (e.g.
    ``https://cds.example.org``); the FHIR base is ``{base_url}/fhir``. When
    unset, URLs are derived from the incoming request.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    knowledge_dir: Path | None = None
    base_url: str | None = None
    log_level: str = "info"
    # -- store (feedback, audit, replay cache) --------------------------------
    # SQLAlchemy URL; default: an SQLite file in ./var/ (created on start-up)
    database_url: str = "sqlite:///var/nekpijn-cds.db"
    # key for the keyed hash of patient references in the audit log; when
    # unset, a random key is generated once and kept in the store (shared by
    # every replica on the same database)
    audit_key: str | None = None
    # -- security (CDS Hooks §Security) ----------------------------------------
    # "jwt" (default): a valid JWT bearer is required on every endpoint but
    # /health; "off": development only, no authentication (logged loudly)
    auth: str = "jwt"
    # JSON file listing trusted issuers: [{"iss": ..., "jwks_file"|"jwks_url": ..., "jku": [allowed jku URLs]}]
    trusted_issuers_file: Path | None = None
    # also trust the public CDS Hooks sandbox (https://sandbox.cds-hooks.org, bundled JWKS)
    trust_sandbox: bool = False
    # accepted `aud` values besides the URL of the endpoint being called
    audiences: tuple[str, ...] = ()
    # CORS: allowed origins ("*" for any); empty: no CORS headers
    cors_origins: tuple[str, ...] = ()
    # addresses of reverse proxies whose X-Forwarded-For / -Proto headers are trusted; empty: none
    # (the expected JWT `aud` is then never moved by a forwarded header)
    trusted_proxies: tuple[str, ...] = ()
    # accept the X-Evaluation-Date header (an evaluation day other than today): testing and examples only
    allow_evaluation_date: bool = False
    # longest accepted JWT lifetime (exp - iat) in seconds; CDS Hooks clients issue 5-minute tokens
    max_token_lifetime: int = 300
    # request body limit in bytes (413 beyond it); the public self-check POSTs have 64 kB of their own
    max_body_bytes: int = 5_000_000
    # -- public endpoints (the patient self-check) ------------------------------
    # rate limits per client address: (requests, window seconds), None: off; "N/SECONDS" or "off" in the env
    rate_limit_apply: tuple[int, int] | None = (30, 60)          # the self-check's $apply
    rate_limit_submissions: tuple[int, int] | None = (5, 600)    # sent self-checks
    # header holding the client address, believed only from NEKPIJN_TRUSTED_PROXIES ("" : none)
    client_ip_header: str | None = "x-forwarded-for"
    # days a sent self-check is kept before it is purged
    submission_retention_days: int = 90
    # -- HTTP server -------------------------------------------------------------
    # seconds a connection may take to send a request's headers (slow clients are closed)
    header_timeout: float = 10.0
    # -- FHIR fetch when prefetch is missing (seconds) --------------------------
    fetch_timeout: float = 2.0       # one HTTP request to the EHR's FHIR server
    fetch_budget: float = 4.0        # all fetches of one hook call
    fetch_max_pages: int = 5         # `next` links followed per search

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from *environ* (default ``os.environ``)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        port = get("PORT")
        try:
            port_number = int(port) if port else cls.port
        except ValueError:
            raise ConfigError(
                f"{PREFIX}PORT must be an integer, got {port!r}"
            ) from None
        if not 0 <= port_number <= 65535:
            raise ConfigError(f"{PREFIX}PORT out of range: {port_number}")
        log_level = (get("LOG_LEVEL") or cls.log_level).lower()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        knowledge_dir = get("KNOWLEDGE_DIR")
        base_url = get("BASE_URL")
        auth = (get("AUTH") or cls.auth).lower()
        if auth not in ("jwt", "off"):
            raise ConfigError(f"{PREFIX}AUTH must be 'jwt' or 'off', got {auth!r}")
        issuers = get("TRUSTED_ISSUERS_FILE")

        def number(name: str, default, kind=float):
            raw = get(name)
            try:
                value = kind(raw) if raw is not None else default
            except ValueError:
                raise ConfigError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
            if value <= 0:
                raise ConfigError(f"{PREFIX}{name} must be positive")
            return value

        def rate(name: str, default: tuple[int, int] | None) -> tuple[int, int] | None:
            raw = get(name)
            if raw is None:
                return default
            if raw.lower() in ("off", "0", "none"):
                return None
            count, _, window = raw.partition("/")
            try:
                value = (int(count), int(window))
            except ValueError:
                raise ConfigError(f"{PREFIX}{name} must be 'REQUESTS/SECONDS' (e.g. 30/60) or 'off', "
                                  f"got {raw!r}") from None
            if min(value) <= 0:
                raise ConfigError(f"{PREFIX}{name}: requests and seconds must be positive")
            return value

        def listing(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in (get(name) or "").split(",") if v.strip())

        return cls(
            database_url=get("DATABASE_URL") or cls.database_url,
            audit_key=get("AUDIT_KEY"),
            auth=auth,
            trusted_issuers_file=Path(issuers) if issuers else None,
            trust_sandbox=(get("TRUST_SANDBOX") or "").lower() in ("1", "true", "yes"),
            allow_evaluation_date=(get("ALLOW_EVALUATION_DATE") or "").lower() in ("1", "true", "yes"),
            audiences=listing("AUDIENCES"),
            cors_origins=listing("CORS_ORIGINS"),
            trusted_proxies=listing("TRUSTED_PROXIES"),
            max_body_bytes=number("MAX_BODY_BYTES", cls.max_body_bytes, int),
            rate_limit_apply=rate("RATE_LIMIT_APPLY", cls.rate_limit_apply),
            rate_limit_submissions=rate("RATE_LIMIT_SUBMISSIONS", cls.rate_limit_submissions),
            client_ip_header=(env.get(PREFIX + "CLIENT_IP_HEADER", cls.client_ip_header) or "").strip().lower()
            or None,
            submission_retention_days=number("SUBMISSION_RETENTION_DAYS", cls.submission_retention_days, int),
            header_timeout=number("HEADER_TIMEOUT", cls.header_timeout),
            max_token_lifetime=number("MAX_TOKEN_LIFETIME", cls.max_token_lifetime, int),
            fetch_timeout=number("FETCH_TIMEOUT", cls.fetch_timeout),
            fetch_budget=number("FETCH_BUDGET", cls.fetch_budget),
            fetch_max_pages=number("FETCH_MAX_PAGES", cls.fetch_max_pages, int),
            host=get("HOST") or cls.host,
            port=port_number,
            knowledge_dir=Path(knowledge_dir) if knowledge_dir else None,
            base_url=base_url.rstrip("/") if base_url else None,
            log_level=log_level,
        )
