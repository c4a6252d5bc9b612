"""Command-line interface: ``nekpijn-cds <command>``.

Each subcommand is a ``(register, run)`` pair in :data:`COMMANDS`; add new
ones (e.g. ``evaluate FILE``) by writing both functions and listing them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from service.config import ConfigError, Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _register_serve(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("serve", help="run the HTTP service (uvicorn)")
    p.add_argument("--host", default=settings.host,
                   help=f"bind address (default {settings.host}; env NEKPIJN_HOST)")
    p.add_argument("--port", type=int, default=settings.port,
                   help=f"TCP port (default {settings.port}; env NEKPIJN_PORT)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (default 1); each loads the knowledge and shares the store")


def _run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # imported lazily: keeps other subcommands fast

    from service.serving import NoDelayHTTPProtocol

    uvicorn.run(
        "service.serving:create_served_app",  # create_app + gc.freeze
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        http=NoDelayHTTPProtocol,  # httptools; TCP_NODELAY also with --workers (service/serving.py)
        loop="auto",  # uvloop (a dependency), else asyncio's own loop
        log_config=None,  # use our logging setup
        log_level=settings.log_level,
        access_log=False,  # uvicorn's access log includes the query string
        server_header=False,
        **proxy_options(settings),
    )
    return 0


def proxy_options(settings: Settings) -> dict:
    """X-Forwarded-* only from the configured reverse proxies (uvicorn trusts 127.0.0.1 by
    default, so any local client could move the scheme, and with it the expected JWT `aud`)."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(settings.trusted_proxies)}


Register = Callable[[argparse._SubParsersAction, Settings], None]
Run = Callable[[argparse.Namespace, Settings], int]

def _register_evaluate(sub: argparse._SubParsersAction, settings: Settings) -> None:
    from service.evaluate_cli import register

    register(sub, settings)


def _run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from service.evaluate_cli import run  # imported lazily: `serve` does not need it

    return run(args, settings)


def _lazy(module: str) -> tuple[Register, Run]:
    """A subcommand whose ``register``/``run`` live in ``module``, imported only when used
    (keeps ``serve`` start-up free of other commands' imports)."""
    import importlib

    def register(sub: argparse._SubParsersAction, settings: Settings) -> None:
        importlib.import_module(module).register(sub, settings)

    def run(args: argparse.Namespace, settings: Settings) -> int:
        return importlib.import_module(module).run(args, settings)

    return register, run


COMMANDS: dict[str, tuple[Register, Run]] = {
    "serve": (_register_serve, _run_serve),
    "evaluate": (_register_evaluate, _run_evaluate),
    "dev-token": _lazy("service.dev_token_cli"),
    "submissions": _lazy("service.submissions_cli"),
}


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser with every subcommand in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="nekpijn-cds",
        description="Nekpijn CDS: FHIR R4 clinical decision support for neck pain.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register, _ in COMMANDS.values():
        register(sub, settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nekpijn-cds`` console script; returns the exit code."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"nekpijn-cds: configuration error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    _, run = COMMANDS[args.command]
    return run(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
