"""``patchdeck`` without a command: the console on the inventory, with the settings."""

from __future__ import annotations

import argparse
import dataclasses

from tui.cli.context import Context
from tui.settings import Settings, check_keys, check_theme


def console_settings(ctx: Context) -> Settings:
    """The settings, checked against what the console has (Textual's themes, its actions), so a
    bad one is a usage error before the screen is taken over."""
    from tui.actions import ACTIONS

    settings = ctx.settings()
    check_theme(settings)
    check_keys(settings, (action.id for action in ACTIONS))
    return settings


def open_console(args: argparse.Namespace, ctx: Context) -> int:
    from tui.app import run_console  # Textual loads only when the console opens

    ctx.store()  # a bad --db is reported here too
    settings = console_settings(ctx)
    if getattr(args, "read_only", False):
        settings = dataclasses.replace(settings, read_only=True)
    return run_console(ctx.url, known_hosts=ctx.known_hosts_files(), settings=settings)
