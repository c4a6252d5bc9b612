"""Placeholder: implemented in the current work (see COMMANDS in service/cli.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, settings) -> None:
    pass


def run(args: argparse.Namespace, settings) -> int:
    return 2
