"""Ansible inventory, INI form."""

from __future__ import annotations

import re
import shlex

from backends.inventory.imports.ansible_common import Group, Inventory, Vars
from backends.inventory.imports.result import Parsed

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_KINDS = ("hosts", "children", "vars")
_NEEDS_SHLEX = re.compile(r"[\"'\\#]")  # quotes, escapes or a comment: else split() does


def parse_ini(text: str, path: str) -> Parsed:
    parsed = Parsed()
    inventory = Inventory(path, parsed)
    group = inventory.group("ungrouped", 1)
    kind = "hosts"
    vars_sections: list[tuple[str, int]] = []  # (group, line): must name a defined group
    defined = {"all", "ungrouped"}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = _SECTION.match(line)
            if section is None:
                inventory.problem(number, f"not a section header: {line!r}")
                kind = "skip"
                continue
            name, kind = section.group(1), section.group(2) or "hosts"
            if kind not in _KINDS:
                inventory.problem(number, f"section [{name}:{kind}]: expected :vars or :children")
                kind = "skip"
            elif kind == "vars":
                vars_sections.append((name, number))
                group = inventory.group(name, number)
            else:
                defined.add(name)
                group = inventory.group(name, number)
        elif kind == "hosts":
            _host_line(inventory, group, line, number)
        elif kind == "children":
            child = _GROUP_NAME.match(line)
            if child is None:
                inventory.problem(number, f"expected a group name in [{group.name}:children]")
            else:
                inventory.add_child(group, child.group(1), number)
        elif kind == "vars":
            _var_line(inventory, group, line, number)
    defined.update(child for g in inventory.groups.values() for child in g.children)
    for name, number in vars_sections:
        if name not in defined:
            inventory.problem(number, f"[{name}:vars] is for a group that is not defined")
    inventory.resolve()
    return parsed


def _host_line(inventory: Inventory, group: Group, line: str, number: int) -> None:
    try:
        tokens = shlex.split(line, comments=True) if _NEEDS_SHLEX.search(line) else line.split()
    except ValueError as exc:
        inventory.problem(number, f"cannot read host line: {exc}")
        return
    if not tokens:
        return
    host_vars: Vars = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            inventory.problem(number, f"expected key=value after the host name, got {token!r}")
            return
        host_vars[key] = (value, number)
    inventory.add_hosts(group, tokens[0], number, host_vars)


def _var_line(inventory: Inventory, group: Group, line: str, number: int) -> None:
    key, sep, value = (part.strip() for part in line.partition("="))
    if not sep or not key:
        inventory.problem(number, f"expected key=value in [{group.name}:vars], got {line!r}")
        return
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    group.vars[key] = (value, number)
