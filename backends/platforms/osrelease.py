"""Reading ``/etc/os-release`` (os-release(5)): which distribution and version a machine runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backends.platforms.probe import clip

_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]*\Z")
# os-release(5): ID and VERSION_ID hold lower-case letters, digits, ".", "_" and "-".
_ID_RE = re.compile(r"[a-z0-9._-]+\Z")
_MAX_VALUE = 200

# Families, by the IDs that os-release's ID or ID_LIKE name.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "debian": ("debian", "ubuntu", "raspbian", "linuxmint", "pop", "kali", "devuan"),
    "rhel": ("rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "circle"),
    "suse": (
        "suse",
        "sles",
        "sled",
        "sles_sap",
        "opensuse",
        "opensuse-leap",
        "opensuse-tumbleweed",
        "sle-micro",
    ),
}


@dataclass(frozen=True, slots=True)
class OsRelease:
    id: str | None = None
    id_like: tuple[str, ...] = ()
    version_id: str | None = None
    pretty_name: str | None = None

    @property
    def family(self) -> str | None:
        """``debian``, ``rhel`` or ``suse`` by ID, else by the first ID_LIKE that names one."""
        for candidate in (self.id, *self.id_like):
            for family, ids in _FAMILIES.items():
                if candidate in ids:
                    return family
        return None

    def is_like(self, *ids: str) -> bool:
        return any(candidate in ids for candidate in (self.id, *self.id_like))


def _unquote(raw: str) -> str | None:
    """A shell-style value: "double quoted" (backslash escapes), 'single quoted' or bare.
    None when the quoting is broken."""
    if raw[:1] == "'":
        if len(raw) < 2 or not raw.endswith("'") or "'" in raw[1:-1]:
            return None
        return raw[1:-1]
    if raw[:1] == '"':
        inner = raw[1:-1]
        if len(raw) > 1 and raw[-1] == '"' and '"' not in inner and "\\" not in inner:
            return inner  # the common case, without walking it character by character
        out: list[str] = []
        index = 1
        while index < len(raw):
            char = raw[index]
            if char == "\\" and index + 1 < len(raw):
                out.append(raw[index + 1])
                index += 2
                continue
            if char == '"':
                return "".join(out) if index == len(raw) - 1 else None
            out.append(char)
            index += 1
        return None
    if any(char in raw for char in " \t\"'`$;|&<>"):
        return None
    return raw.replace("\\", "")


def parse_os_release(text: str) -> tuple[OsRelease, list[str]]:
    """The fields patchdeck uses, and a problem for each line it could not read."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, raw = stripped.partition("=")
        value = _unquote(raw.strip()) if sep and _KEY_RE.match(key) else None
        if value is None:
            problems.append(f"os-release line {number}: not KEY=value: {clip(line)!r}")
            continue
        values[key] = clip(value, _MAX_VALUE)

    def ident(key: str) -> str | None:
        value = values.get(key, "").strip().lower()
        if not value:
            return None
        if not _ID_RE.match(value):
            problems.append(f"os-release: {key} is not an identifier: {clip(value)!r}")
            return None
        return value

    like = tuple(word for word in values.get("ID_LIKE", "").lower().split() if _ID_RE.match(word))
    release = OsRelease(
        id=ident("ID"),
        id_like=like,
        version_id=ident("VERSION_ID"),
        pretty_name=values.get("PRETTY_NAME") or None,
    )
    return release, problems
