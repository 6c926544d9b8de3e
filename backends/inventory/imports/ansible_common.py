"""What the Ansible INI and YAML forms share: the group tree, variable precedence and the
mapping of ``ansible_*`` variables to machine fields."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.inventory.imports.fields import make_spec
from backends.inventory.imports.host_patterns import PatternError, expand, split_port
from backends.inventory.imports.result import Found, Parsed
from backends.inventory.records import Tag
from backends.inventory.validation import FieldError, check_tag

#: Variable name → (value, line that set it); a ``None`` value (YAML null) means unset.
Vars = dict[str, tuple[str | None, int]]

#: ``build_spec`` keyword → the variables that give it, preferred first (as ansible-core
#: resolves them: the first one set wins, so ``ansible_port`` beats ``ansible_ssh_port``).
_FIELD_VARS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("address", ("ansible_host", "ansible_ssh_host")),
    ("port", ("ansible_port", "ansible_ssh_port")),
    ("user", ("ansible_user", "ansible_ssh_user")),
    ("identity_file", ("ansible_private_key_file", "ansible_ssh_private_key_file")),
    ("owner", ("owner",)),
    ("role", ("role",)),
    ("environment", ("environment",)),
    ("criticality", ("criticality",)),
    ("winrm_auth", ("ansible_winrm_transport",)),
    ("winrm_https", ("ansible_winrm_scheme",)),
    ("winrm_verify_cert", ("ansible_winrm_server_cert_validation",)),
    ("winrm_ca_file", ("ansible_winrm_ca_trust_path",)),
)
_CERT_VARS = ("ansible_winrm_cert_pem", "ansible_winrm_cert_key_pem")
#: Every variable that means something to us (the others are ignored).
MAPPED_VARS = frozenset(
    {
        "ansible_connection",
        *_CERT_VARS,
        *(name for _key, names in _FIELD_VARS for name in names),
    }
)
#: ``ansible_winrm_transport`` (pywinrm's transports) → patchdeck's WinRM authentication.
#: pywinrm's ``plaintext`` is Basic authentication, and so is ``ssl`` without a client
#: certificate; ``certificate`` (client certificates) is not something patchdeck does.
_WINRM_AUTHS = {
    "ntlm": "ntlm",
    "kerberos": "kerberos",
    "credssp": "credssp",
    "basic": "basic",
    "plaintext": "basic",
    "ssl": "basic",
}
#: The WinRM port on which ansible speaks HTTP when ``ansible_winrm_scheme`` is not set.
_WINRM_HTTP_PORT = "5985"
_NO_TAG_GROUPS = frozenset({"all", "ungrouped"})


@dataclass(slots=True)
class Group:
    name: str
    line: int
    hosts: dict[str, int] = field(default_factory=dict)  # host → line listing it here
    children: dict[str, int] = field(default_factory=dict)  # child group → line naming it
    vars: Vars = field(default_factory=dict)


@dataclass(slots=True)
class Host:
    name: str
    line: int  # first mention
    vars: Vars


class Inventory:
    """Groups and hosts as read, before precedence is applied; problems go to ``parsed``."""

    def __init__(self, path: str, parsed: Parsed) -> None:
        self.path = path
        self.parsed = parsed
        self.groups: dict[str, Group] = {"all": Group("all", 1)}
        self.hosts: dict[str, Host] = {}

    def problem(self, line: int, message: str) -> None:
        self.parsed.problem(self.path, line, message)

    def group(self, name: str, line: int) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, line)
        return group

    def add_child(self, parent: Group, name: str, line: int) -> Group | None:
        if name == "all":
            self.problem(line, "group 'all' cannot be a child of another group")
            return None
        parent.children.setdefault(name, line)
        return self.group(name, line)

    def add_hosts(self, group: Group, pattern: str, line: int, host_vars: Vars) -> None:
        """Add the hosts ``pattern`` stands for to ``group``; later variables win."""
        name, port = split_port(pattern)
        try:
            names = expand(name)
        except PatternError as exc:
            self.problem(line, str(exc))
            return
        if port is not None:
            host_vars = {"ansible_port": (port, line), **host_vars}
        for host_name in names:
            first = group.hosts.get(host_name)
            if first is not None:
                self.problem(line, f"duplicate machine {host_name!r} (first on line {first})")
                continue
            group.hosts[host_name] = line
            host = self.hosts.get(host_name)
            if host is None:
                self.hosts[host_name] = Host(host_name, line, dict(host_vars))
            else:
                host.vars.update(host_vars)

    def resolve(self) -> None:
        """Apply group membership and variable precedence; one machine per host, file order."""
        _break_cycles(self)
        depth, ancestors = _tree(self.groups)
        member_of: dict[str, set[str]] = {name: set() for name in self.hosts}
        for group in self.groups.values():
            for host_name in group.hosts:
                member_of[host_name].update(ancestors[group.name], (group.name,))
        for host in self.hosts.values():
            groups = sorted(member_of[host.name] | {"all"}, key=lambda g: (depth[g], g))
            merged: Vars = {}
            for name in groups:
                merged.update(self.groups[name].vars)
            merged.update(host.vars)
            tags = self._tags(sorted(set(groups) - _NO_TAG_GROUPS))
            if tags is not None:
                self._machine(host, merged, tags)

    def _tags(self, groups: list[str]) -> tuple[Tag, ...] | None:
        tags: list[Tag] = []
        for name in groups:
            try:
                tags.append(check_tag(f"group={name}"))
            except FieldError as exc:
                self.problem(self.groups[name].line, str(exc))
                return None
        return tuple(tags)

    def _machine(self, host: Host, merged: Vars, tags: tuple[Tag, ...]) -> None:
        fields: dict[str, str] = {}
        lines: dict[str, int] = {}
        labels: dict[str, str] = {}
        for key, names in _FIELD_VARS:
            for var in names:
                value, line = merged.get(var, (None, 0))
                if value is not None:
                    fields[key], lines[key], labels[key] = value, line, var
                    break
        connection, line = merged.get("ansible_connection", (None, 0))
        if connection is not None and connection.strip():
            kind = connection.strip().lower().rpartition(".")[2]  # ansible.builtin.winrm too
            fields["transport"] = kind if kind in ("winrm", "local") else "ssh"
            lines["transport"] = line
            if kind == "winrm":
                fields["os_family"], lines["os_family"] = "windows", line
        if fields.get("transport") != "winrm":
            # as ansible does: WinRM variables (from a group of mixed hosts, say) mean nothing
            # to a host it does not reach over WinRM
            for key in [k for k in fields if k.startswith("winrm_")]:
                del fields[key]
        usable = fields.get("transport") != "winrm" or self._winrm_defaults(fields, lines, merged)
        spec = make_spec(host.name, fields, tags, translate=_TRANSLATE, labels=labels)
        if isinstance(spec, list):
            for key, error in spec:
                self.problem(lines.get(key, host.line), str(error))
        elif usable:
            self.parsed.machines.append(Found(self.path, host.line, spec))

    def _winrm_defaults(self, fields: dict[str, str], lines: dict[str, int], merged: Vars) -> bool:
        """Fill in the scheme as ansible would where patchdeck's default differs; ``False``
        (reported) when the host needs what patchdeck cannot do (a client certificate).

        Without ``ansible_winrm_scheme`` ansible speaks HTTPS unless the port is 5985: so does
        patchdeck when a port is given (or the transport is pywinrm's ``ssl``); with neither,
        patchdeck's own default applies (HTTP on 5985) rather than ansible's (HTTPS on 5986).
        """
        usable = True
        transport = fields.get("winrm_auth", "").strip().lower()
        if transport == "ssl":
            for var in _CERT_VARS:
                value, line = merged.get(var, (None, 0))
                if value is not None and value.strip():
                    self.problem(line, f"{var}: client certificates are not supported")
                    usable = False
        if "winrm_https" not in fields:
            port = fields.get("port", "").strip()
            if port and port != _WINRM_HTTP_PORT:
                fields["winrm_https"], lines["winrm_https"] = "https", lines["port"]
            elif transport == "ssl":
                fields["winrm_https"], lines["winrm_https"] = "https", lines["winrm_auth"]
        return usable


def _winrm_auth(value: str) -> str:
    clean = value.strip().lower()
    if clean == "certificate":
        raise FieldError("ansible_winrm_transport", value, "(client certificates) is not supported")
    if "," in clean:
        raise FieldError("ansible_winrm_transport", value, "lists several transports: give one")
    auth = _WINRM_AUTHS.get(clean)
    if auth is None:
        choices = ", ".join(_WINRM_AUTHS)
        raise FieldError("ansible_winrm_transport", value, f"is not one of {choices}")
    return auth


def _winrm_scheme(value: str) -> str:
    return "true" if _pick("ansible_winrm_scheme", value, ("http", "https")) == "https" else "false"


def _winrm_validation(value: str) -> str:
    choices = ("validate", "ignore")
    picked = _pick("ansible_winrm_server_cert_validation", value, choices)
    return "true" if picked == "validate" else "false"


def _pick(field: str, value: str, choices: tuple[str, ...]) -> str:
    clean = value.strip().lower()
    if clean not in choices:
        raise FieldError(field, value, f"is not one of {', '.join(choices)}")
    return clean


#: ``build_spec`` keyword → how its ansible value reads (see :func:`make_spec`).
_TRANSLATE = {
    "winrm_auth": _winrm_auth,
    "winrm_https": _winrm_scheme,
    "winrm_verify_cert": _winrm_validation,
}


def _break_cycles(inventory: Inventory) -> None:
    """Report each ``children`` edge that closes a cycle, and drop it."""
    groups = inventory.groups
    done: set[str] = set()
    for root in list(groups):
        if root in done:
            continue
        path = [root]
        stack = [iter(list(groups[root].children))]
        while stack:
            child = next(stack[-1], None)
            parent = path[-1]
            if child is None:
                done.add(parent)
                stack.pop()
                path.pop()
            elif child in path:
                cycle = " -> ".join([*path[path.index(child) :], child])
                inventory.problem(groups[parent].children.pop(child), f"group cycle: {cycle}")
            elif child not in done:
                path.append(child)
                stack.append(iter(list(groups[child].children)))


def _tree(groups: dict[str, Group]) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Depth (``all`` is 0; the deepest path counts) and ancestors of every group (acyclic)."""
    parents: dict[str, list[str]] = {name: [] for name in groups}
    for group in groups.values():
        for child in group.children:
            parents[child].append(group.name)
    for name, above in parents.items():
        if not above and name != "all":
            above.append("all")
            groups["all"].children.setdefault(name, groups[name].line)
    waiting = {name: len(above) for name, above in parents.items()}
    depth = {"all": 0}
    ancestors: dict[str, set[str]] = {"all": set()}
    ready = ["all"]
    while ready:
        name = ready.pop()
        for child in groups[name].children:
            depth[child] = max(depth.get(child, 0), depth[name] + 1)
            ancestors.setdefault(child, set()).update(ancestors[name], (name,))
            waiting[child] -= 1
            if not waiting[child]:
                ready.append(child)
    return depth, ancestors
