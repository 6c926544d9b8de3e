"""Ansible inventory, YAML form, read from PyYAML's node tree so that every fault has a line."""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from backends.inventory.imports.ansible_common import MAPPED_VARS, Group, Inventory, Vars
from backends.inventory.imports.result import Parsed

_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


def parse_yaml(text: str, path: str) -> Parsed:
    parsed = Parsed()
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = ", ".join(part for part in (exc.context, exc.problem) if part)
        parsed.problem(path, line, f"YAML syntax error: {reason}")
        return parsed
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        position = getattr(exc, "position", 0)
        line = text.count("\n", 0, position) + 1
        parsed.problem(path, line, f"YAML syntax error: {exc}".splitlines()[0])
        return parsed
    except RecursionError:
        parsed.problem(path, 1, "YAML syntax error: nested too deeply")
        return parsed
    if root is None or _is_null(root):
        return parsed
    walker = _Walker(Inventory(path, parsed))
    if not isinstance(root, MappingNode):
        walker.wrong(root, "the top level", "a mapping of groups")
        return parsed
    try:
        for key, value in root.value:
            name = walker.key(key)
            if name is not None:
                walker.group(walker.inventory.group(name, _line(key)), value)
    except RecursionError:  # an alias inside its own anchor: ``&a {<<: *a}``
        parsed.problem(path, 1, "YAML nested too deeply (an alias inside its own anchor?)")
        return parsed
    walker.inventory.resolve()
    return parsed


def _compose(text: str) -> Node | None:
    """libyaml's composer when there is one (several times faster); errors always come from
    PyYAML's own, so that messages do not depend on how PyYAML was built."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    return "a list" if isinstance(node, SequenceNode) else f"{node.value!r}"


class _Walker:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.seen: set[tuple[str, int]] = set()  # (group, id(node)): aliases may loop

    def wrong(self, node: Node, where: str, expected: str) -> None:
        self.inventory.problem(_line(node), f"{where}: expected {expected}, found {_kind(node)}")

    def key(self, node: Node) -> str | None:
        if isinstance(node, ScalarNode):
            return str(node.value)
        self.wrong(node, "key", "a name")
        return None

    def entries(self, node: Node, where: str, expected: str) -> list[tuple[Node, Node]]:
        """A mapping's (key, value) pairs; null is empty; anything else is reported."""
        if isinstance(node, MappingNode):
            return list(node.value)
        if not _is_null(node):
            self.wrong(node, where, expected)
        return []

    def group(self, group: Group, node: Node) -> None:
        if (group.name, id(node)) in self.seen:
            return
        self.seen.add((group.name, id(node)))
        where = f"group {group.name!r}"
        for key_node, value in self.entries(node, where, "hosts, vars or children"):
            key = self.key(key_node)
            if key == "hosts":
                for host_key, host_value in self.entries(value, where, "a mapping of hosts"):
                    pattern = self.key(host_key)
                    if pattern is not None:
                        host_vars = self.vars(host_value, f"host {pattern!r}")
                        self.inventory.add_hosts(group, pattern, _line(host_key), host_vars)
            elif key == "vars":
                group.vars.update(self.vars(value, where))
            elif key == "children":
                for child_key, child_value in self.entries(value, where, "a mapping of groups"):
                    name = self.key(child_key)
                    if name is not None:
                        child = self.inventory.add_child(group, name, _line(child_key))
                        if child is not None:
                            self.group(child, child_value)
            elif key is not None:
                message = f"{where}: unknown key {key!r} (expected hosts, vars or children)"
                self.inventory.problem(_line(key_node), message)

    def vars(self, node: Node, where: str) -> Vars:
        found: Vars = {}
        merged: Vars = {}  # from ``<<: *anchor``: lower than the mapping's own keys
        for key_node, value in self.entries(node, where, "a mapping of variables"):
            if key_node.tag == _MERGE:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for source in sources:
                    for var, item in self.vars(source, where).items():
                        merged.setdefault(var, item)
                continue
            name = self.key(key_node)
            if name is None:
                continue
            if isinstance(value, ScalarNode):
                found[name] = (None if value.tag == _NULL else str(value.value), _line(value))
            elif name in MAPPED_VARS:
                self.wrong(value, f"{where}: {name}", "a single value")
        return {**merged, **found}
