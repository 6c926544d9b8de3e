"""Layers (STYLE.md rules 1 and 2): backends never imports Textual or tui (checked in a fresh
interpreter); the console never imports the ORM or opens a session, and its views reach
platforms and the simulated fleet only through the engine."""

from __future__ import annotations

import ast
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


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` counts as ``a.b`` and ``a.b.c``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


# The ORM and the database plumbing stay in backends.inventory (STYLE.md rule 2).
ORM = (
    "sqlmodel",
    "sqlalchemy",
    "backends.inventory.tables",
    "backends.inventory.migrations",
    "backends.inventory.bulk",
)
# What a view reaches only through the engine or a shared helper, never itself.
BEHIND_THE_ENGINE = ("backends.platforms", "backends.fleet")


def test_the_console_never_touches_the_orm() -> None:
    files = sorted((ROOT / "tui").rglob("*.py"))
    assert ROOT / "tui" / "screens" / "machines.py" in files
    for path in files:
        bad = sorted(n for n in _imports(path) if _under(n, ORM))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
        text = path.read_text()
        for call in ("store.read(", "store.write(", ".connection()"):
            assert call not in text, f"{path.relative_to(ROOT)} opens a session ({call})"


def test_views_go_through_the_engine() -> None:
    for folder in ("screens", "widgets", "modals"):
        for path in (ROOT / "tui" / folder).rglob("*.py"):
            bad = sorted(n for n in _imports(path) if _under(n, BEHIND_THE_ENGINE))
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
