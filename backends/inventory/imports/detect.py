"""Guessing an import file's format from its content (the extension is only a hint)."""

from __future__ import annotations

import re
from pathlib import PurePath

#: Common ``ssh_config`` keywords, for a file whose first directive is not ``Host``.
_SSH_KEYWORDS = frozenset(
    {
        "host",
        "match",
        "include",
        "hostname",
        "user",
        "port",
        "identityfile",
        "identitiesonly",
        "forwardagent",
        "proxyjump",
        "proxycommand",
        "serveraliveinterval",
        "serveralivecountmax",
        "stricthostkeychecking",
        "userknownhostsfile",
        "addkeystoagent",
        "controlmaster",
        "controlpath",
        "controlpersist",
        "compression",
        "loglevel",
        "sendenv",
        "setenv",
        "connecttimeout",
        "pubkeyauthentication",
        "passwordauthentication",
        "preferredauthentications",
        "tcpkeepalive",
        "batchmode",
    }
)
_SSH_LINE = re.compile(r"([A-Za-z]+)(?:\s*=|\s)")
_INI_SECTION = re.compile(r"\[[^\]\s]+\]\s*(?:[#;].*)?")
_YAML_START = re.compile(r"---|-(?:\s|$)|\{|\[(?:\s|$)|[\"']?[\w.-]+[\"']?\s*:(?:\s|$)")
_EXTENSIONS = {".csv": "csv", ".ini": "ansible", ".yml": "ansible", ".yaml": "ansible"}


def _first_line(text: str, comments: tuple[str, ...] = ("#", ";")) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(comments):
            return line
    return ""


def guess_format(text: str, path: str) -> str:
    """``"csv"``, ``"ansible"`` (INI or YAML) or ``"ssh-config"``."""
    hint = _EXTENSIONS.get(PurePath(path).suffix.lower())
    line = _first_line(text)
    header = [cell.strip().strip("\"'").lower() for cell in line.split(",")]
    if len(header) > 1 and ("name" in header or "address" in header):
        return "csv"
    ssh = _SSH_LINE.match(line)
    if ssh and "ansible_" not in line and ssh.group(1).lower() in _SSH_KEYWORDS and hint != "csv":
        return "ssh-config"
    if _INI_SECTION.fullmatch(line) or _YAML_START.match(line):
        return "ansible"
    if hint is not None:
        return hint
    if "ssh" in PurePath(path).name.lower() or PurePath(path).name == "config":
        return "ssh-config"
    return "csv" if "," in line else "ansible"


def ansible_is_yaml(text: str) -> bool:
    """Whether an Ansible inventory is the YAML form (else INI)."""
    line = _first_line(text, ("#",))
    return bool(_YAML_START.match(line)) and not _INI_SECTION.fullmatch(line)
