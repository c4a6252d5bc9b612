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
        return cls(
            host=get("HOST") or cls.host,
            port=port_number,
            knowledge_dir=Path(knowledge_dir) if knowledge_dir else None,
            base_url=base_url.rstrip("/") if base_url else None,
            log_level=log_level,
        )
