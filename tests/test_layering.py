"""backends never imports Textual or tui (STYLE.md rule 1), checked in a fresh interpreter."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import backends

ROOT = Path(__file__).parent.parent


def test_backends_do_not_import_the_console() -> None:
    modules = [m.name for m in pkgutil.walk_packages(backends.__path__, "backends.") if not m.ispkg]
    assert "backends.inventory.store" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""


def test_screens_do_not_touch_the_orm() -> None:
    for path in (ROOT / "tui").rglob("*.py"):
        text = path.read_text()
        assert "sqlmodel" not in text and "sqlalchemy" not in text, path
        assert "inventory.tables" not in text and "Session" not in text, path
