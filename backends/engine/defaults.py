"""Defaults the CLI and the console show before any engine code is loaded."""

from __future__ import annotations

SCAN_CONCURRENCY = 100
SCAN_TIMEOUT = 120.0
