"""The programs a simulated machine has: argv in, :class:`Output` out.

Package-manager invocations are recognised by program, subcommand and the flags that change what
they print (``-s``, ``-q``, ``-x``, ``--security`` …); other options (``-o …``, ``--setopt …``,
``-y``, ``--refresh``) are accepted and ignored, as the platform code may add them. What a
program prints depends only on the machine's state and on whether it runs as root, so every
answer is cached on the machine — except installs and reboots, which change that state (and
then clear the cache), or wait on the clock (a held lock).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from backends.fleet import (
    apt_installer,
    apt_output,
    health_output,
    rpm_installer,
    rpm_output,
    zypper_installer,
    zypper_output,
)
from backends.fleet.faults import MachineFaults
from backends.fleet.profiles import Machine
from backends.fleet.streams import STDOUT, Output

_CACHE_LIMIT = 64


@dataclass
class Context:
    """Who runs a program where."""

    machine: Machine
    user: str
    root: bool
    faults: MachineFaults = field(default_factory=MachineFaults)
    env: dict[str, str] = field(default_factory=dict)
    volatile: bool = False  # set by a program whose answer must not be cached (it changed state)


Tool = Callable[[Sequence[str], Context], Output]


@dataclass(slots=True)
class Args:
    """A command line split the way getopt-style tools see it."""

    flags: set[str] = field(default_factory=set)  # short letters and long names, no dashes
    values: dict[str, str] = field(default_factory=dict)  # options with a value, last wins
    options: list[str] = field(default_factory=list)  # apt -o values, dnf --setopt values
    pairs: list[tuple[str, str]] = field(default_factory=list)  # every valued option, in order
    words: list[str] = field(default_factory=list)
    quiet: int = 0


def parse(args: Sequence[str], short_values: str, long_values: frozenset[str]) -> Args:
    """Flags, valued options and operands; ``-qq`` counts twice, ``-oX=Y`` and ``-o X=Y`` both
    work, ``--`` ends options."""
    parsed = Args()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            parsed.words.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name in long_values:
                if not eq and i < len(args):
                    value = args[i]
                    i += 1
                parsed.values[name] = value
                parsed.pairs.append((name, value))
                if name in ("option", "setopt"):
                    parsed.options.append(value)
            elif name == "quiet":
                parsed.quiet += 1
            else:
                parsed.flags.add(name)
            continue
        if arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for j, letter in enumerate(letters):
                if letter in short_values:
                    value = letters[j + 1 :]
                    if not value and i < len(args):
                        value = args[i]
                        i += 1
                    parsed.values[letter] = value
                    parsed.pairs.append((letter, value))
                    if letter == "o":
                        parsed.options.append(value)
                    break
                if letter == "q":
                    parsed.quiet += 1
                parsed.flags.add(letter)
            continue
        parsed.words.append(arg)
    return parsed


# --- plain programs -------------------------------------------------------------------------


def _path(path: str) -> str:
    return "/run/" + path[len("/var/run/") :] if path.startswith("/var/run/") else path


def file_text(machine: Machine, path: str) -> str | None:
    return machine.files.get(_path(path))


def _cat(args: Sequence[str], ctx: Context) -> Output:
    out: list[str] = []
    errors: list[str] = []
    for path in args:
        if path.startswith("-"):
            continue
        text = file_text(ctx.machine, path)
        if text is None:
            errors.append(f"cat: {path}: No such file or directory\n")
        else:
            out.append(text)
    return Output.of("".join(out), "".join(errors), 1 if errors else 0)


def _uname(args: Sequence[str], ctx: Context) -> Output:
    m = ctx.machine
    fields = {
        "s": "Linux",
        "n": m.name,
        "r": m.kernel,
        "v": "#1 SMP PREEMPT_DYNAMIC",
        "m": "x86_64",
        "o": "GNU/Linux",
    }
    letters = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
    if "a" in letters:
        letters = "snrvmo"
    wanted = [fields[c] for c in "snrvmo" if c in letters] or ["Linux"]
    return Output.of(" ".join(wanted) + "\n")


def _id(args: Sequence[str], ctx: Context) -> Output:
    user = "root" if ctx.root else ctx.user
    uid = 0 if ctx.root else 1000
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    if "u" in flags:
        return Output.of((user if "n" in flags else str(uid)) + "\n")
    groups = f"{uid}({user})" + ("" if ctx.root else ",27(sudo)")
    return Output.of(f"uid={uid}({user}) gid={uid}({user}) groups={groups}\n")


def _whoami(args: Sequence[str], ctx: Context) -> Output:
    return Output.of(("root" if ctx.root else ctx.user) + "\n")


def _hostname(args: Sequence[str], ctx: Context) -> Output:
    return Output.of(ctx.machine.name + "\n")


def _df(args: Sequence[str], ctx: Context) -> Output:
    return health_output.df(ctx.machine, args)


# --- apt --------------------------------------------------------------------------------------

_APT_SHORT = "octaPe"
_APT_LONG = frozenset(
    {"option", "config-file", "target-release", "default-release", "host-architecture", "error-on"}
)
_SIMULATE = {"s", "simulate", "just-print", "dry-run", "recon", "no-act"}


def _apt_option(parsed: Args, key: str) -> str | None:
    for option in parsed.options:
        name, _, value = option.partition("=")
        if name.lower() == key.lower():
            return value
    return None


def _apt_get(args: Sequence[str], ctx: Context, binary: str = "apt-get") -> Output:
    parsed = parse(args, _APT_SHORT, _APT_LONG)
    if not parsed.words:
        version = ctx.machine.kind.apt.apt_version if ctx.machine.kind.apt else ""
        return Output.of(f"apt {version} (amd64)\nUsage: {binary} [options] command\n", "", 1)
    command, operands = parsed.words[0], parsed.words[1:]
    simulate = bool(parsed.flags & _SIMULATE) or (
        (_apt_option(parsed, "APT::Get::Simulate") or "").lower() in ("1", "true", "yes")
    )
    m = ctx.machine
    faults = ctx.faults
    if command == "update":
        return apt_output.update(m, ctx.root, faults.lock, faults.repo_failure, binary == "apt")
    if command in ("upgrade", "dist-upgrade", "full-upgrade"):
        if simulate:
            # ``apt upgrade`` installs new dependencies, ``apt-get upgrade`` keeps them back
            dist = command != "upgrade" or binary == "apt"
            return apt_output.simulate(m, ctx.root, dist, parsed.quiet, binary)
        return _dpkg_locked(ctx) or _not_simulated(binary, command)
    if command == "install":
        only = "only-upgrade" in parsed.flags
        if simulate:
            return apt_output.simulate_install(m, ctx.root, parsed.quiet, binary, operands, only)
        locked = _dpkg_locked(ctx)
        if locked is not None:
            return locked
        ctx.volatile = True
        return apt_installer.install(m, ctx.root, parsed.options, operands, only, binary)
    if command == "check":
        return Output.of(
            "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
        )
    if command == "list" and binary == "apt":
        return apt_output.list_upgradable(m, _list_format(parsed))
    return Output.of("", f"E: Invalid operation {command}\n", 100)


def _list_format(parsed: Args) -> str | None:
    use = (_apt_option(parsed, "APT::Cmd::use-format") or "").lower() in ("1", "true", "yes")
    return _apt_option(parsed, "APT::Cmd::format") if use else None


def _dpkg_locked(ctx: Context) -> Output | None:
    if ctx.root:
        return None
    return Output.of(
        "",
        "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n"
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), "
        "are you root?\n",
        100,
    )


def _not_simulated(binary: str, command: str) -> Output:
    """Installing is not simulated (yet): say so the way apt reports a failure."""
    return Output.of(
        "", f"E: {binary} {command}: installing is not simulated by patchdeck's fleet\n", 100
    )


def _apt(args: Sequence[str], ctx: Context) -> Output:
    parsed = parse(args, _APT_SHORT, _APT_LONG)
    if parsed.words[:1] == ["list"]:
        if not parsed.flags & {"upgradable", "upgradeable"}:
            return Output.of("Listing...\n", apt_output.CLI_WARNING, 0)
        return apt_output.list_upgradable(ctx.machine, _list_format(parsed))
    out = _apt_get(args, ctx, binary="apt")
    if parsed.words[:1] in (["update"], ["list"]):
        return out
    warning = (2, apt_output.CLI_WARNING.encode())
    return Output((warning, *out.chunks), out.status, out.hang)


def _apt_cache(args: Sequence[str], ctx: Context) -> Output:
    parsed = parse(args, _APT_SHORT, _APT_LONG)
    if not parsed.words:
        return Output.of("Usage: apt-cache [options] command\n", "", 1)
    if parsed.words[0] == "policy":
        return apt_output.policy(ctx.machine, parsed.words[1:])
    return Output.of("", f"E: Invalid operation {parsed.words[0]}\n", 100)


def _dpkg(args: Sequence[str], ctx: Context) -> Output:
    if "--print-architecture" in args:
        return Output.of("amd64\n")
    if "--audit" in args or "-C" in args:
        return health_output.dpkg_audit(ctx.machine)
    if "--configure" in args:
        if not ctx.root:
            return Output.of(
                "", "dpkg: error: requested operation requires superuser privilege\n", 2
            )
        return Output.of()
    return Output.of(
        "",
        "dpkg: error: need an action option\n\nType dpkg --help for help about installing and "
        "deinstalling packages [*];\n",
        2,
    )


def _dpkg_query(args: Sequence[str], ctx: Context) -> Output:
    return apt_installer.dpkg_query(ctx.machine, args)


def _apt_mark(args: Sequence[str], ctx: Context) -> Output:
    words = [a for a in args if not a.startswith("-")]
    if words[:1] == ["showhold"]:
        return health_output.apt_showhold(ctx.machine)
    if not words:
        return Output.of("", "E: No operation specified\n", 100)
    return Output.of("", f"E: apt-mark {words[0]}: not simulated by patchdeck's fleet\n", 100)


# --- dnf, yum, rpm, needs-restarting ----------------------------------------------------------

_DNF_SHORT = "xedcR"
_DNF_LONG = frozenset(
    {
        "setopt", "errorlevel", "debuglevel", "disablerepo", "enablerepo", "repo", "repoid",
        "exclude", "releasever", "installroot", "config", "advisory", "advisories",
        "sec-severity", "secseverity", "cve", "bz", "qf", "queryformat", "latest-limit", "color",
        "disableplugin", "enableplugin", "downloaddir", "forcearch", "repofrompath", "arch",
    }
)  # fmt: skip


def _dnf(args: Sequence[str], ctx: Context, binary: str = "dnf") -> Output:
    m = ctx.machine
    parsed = parse(args, _DNF_SHORT, _DNF_LONG)
    quiet = parsed.quiet > 0
    if "version" in parsed.flags:
        return Output.of("4.14.0\n" if m.kind.manager == "dnf" else "3.4.3\n")
    if not parsed.words:
        return Output.of(
            "", f"You need to give some command\nusage: {binary} [options] COMMAND\n", 1
        )
    command, rest = parsed.words[0], parsed.words[1:]
    yum = m.kind.manager == "yum"
    if command in ("check-update", "check-upgrade"):
        return rpm_output.check_update(m, quiet, "security" in parsed.flags)
    if command in (
        "updateinfo",
        "list-updateinfo",
        "list-sec",
        "list-security",
        "info-sec",
        "advisory",
    ):
        words = rest if command == "updateinfo" else ["list", *rest]
        options = {f"--{k}": v for k, v in parsed.values.items()}
        options.update({f"--{f}": "" for f in parsed.flags})
        if yum and "security" in parsed.flags:
            words = [*words, "security"]
        return rpm_output.updateinfo(m, quiet, words, options)
    if command == "list":
        named = set(rest) | {f for f in parsed.flags if f in ("installed", "upgrades", "updates")}
        which = "installed" if "installed" in named else "upgrades"
        return rpm_output.list_packages(m, which, quiet)
    if command == "makecache":
        exit_on_lock = any(
            o.replace(" ", "").lower() in ("exit_on_lock=true", "exit_on_lock=1")
            for o in parsed.options
        )
        return rpm_output.makecache(
            m, ctx.root, quiet, ctx.faults.lock, ctx.faults.repo_failure, exit_on_lock
        )
    if command == "check":
        return health_output.rpm_check(m, yum)
    if command == "versionlock" and m.versionlock_plugin and rest[:1] in ([], ["list"]):
        return health_output.versionlock_list(m, yum)
    if command == "needs-restarting" and not yum:
        return rpm_output.needs_restarting(m, bool(parsed.flags & {"r", "reboothint"}))
    if command == "repoquery" and not yum:
        if parsed.flags & {"upgrades", "updates"}:
            fmt = parsed.values.get("qf") or parsed.values.get("queryformat")
            return rpm_output.repoquery_upgrades(m, fmt)
        return Output.of()
    if command in ("upgrade", "update", "install"):
        if not ctx.root:
            if yum:
                return Output.of("", "You need to be root to perform this command.\n", 1)
            return Output.of("", rpm_output.NOT_ROOT, 1)
        exit_on_lock = any(
            o.replace(" ", "").lower() in ("exit_on_lock=true", "exit_on_lock=1")
            for o in parsed.options
        )
        ctx.volatile = True
        return rpm_installer.upgrade(m, rest, exit_on_lock, binary)
    if command in ("upgrade-minimal", "update-minimal"):
        if not ctx.root:
            return Output.of("", rpm_output.NOT_ROOT, 1)
        return Output.of(
            "", f"Error: {binary} {command}: installing is not simulated by patchdeck's fleet\n", 1
        )
    if yum:
        return Output.of(
            "", f"No such command: {command}. Please use /usr/bin/{binary} --help\n", 1
        )
    return Output.of(
        "",
        f"No such command: {command}. Please use /usr/bin/{binary} --help\n"
        f"It could be a DNF plugin command, try: \"dnf install 'dnf-command({command})'\"\n",
        1,
    )


def _yum(args: Sequence[str], ctx: Context) -> Output:
    return _dnf(args, ctx, binary="yum")


def _needs_restarting(args: Sequence[str], ctx: Context) -> Output:
    parsed = parse(args, "", frozenset())
    return rpm_output.needs_restarting(ctx.machine, bool(parsed.flags & {"r", "reboothint"}))


def _rpm(args: Sequence[str], ctx: Context) -> Output:
    parsed = parse(args, "", frozenset({"qf", "queryformat", "root", "dbpath"}))
    if "version" in parsed.flags:
        return Output.of("RPM version 4.16.1.3\n")
    if not parsed.flags & {"q", "query"}:
        return (
            Output.of("", "rpm: no operation specified\n", 1)
            if not parsed.words
            else Output.of("", "", 1)
        )
    fmt = parsed.values.get("qf") or parsed.values.get("queryformat")
    everything = bool(parsed.flags & {"a", "all"})
    if not everything and not parsed.words:
        return Output.of("", "rpm: no arguments given for query\n", 1)
    return rpm_output.rpm_query(ctx.machine, parsed.words, fmt, everything)


# --- zypper -----------------------------------------------------------------------------------

_ZYPPER_LONG = frozenset(
    {"root", "reposd-dir", "cache-dir", "type", "repo", "category", "severity", "date",
     "bugzilla", "cve", "from", "config"}
)  # fmt: skip


def _zypper(args: Sequence[str], ctx: Context) -> Output:
    m = ctx.machine
    parsed = parse(args, "rDtrgbC", _ZYPPER_LONG)
    if "version" in parsed.flags or "V" in parsed.flags:
        return Output.of("zypper 1.14.73\n")
    xml = bool(parsed.flags & {"x", "xmlout"})
    quiet = parsed.quiet > 0
    if not parsed.words:
        return Output.of(
            "  Usage:\n\tzypper [--global-options] <command> [--command-options] [arguments]\n",
            "",
            0,
        )
    command = parsed.words[0]
    kind = parsed.values.get("t") or parsed.values.get("type") or "package"
    if command in ("list-updates", "lu") and kind != "patch":
        return zypper_output.list_updates(m, xml, quiet)
    if command in ("list-patches", "lp") or (command in ("list-updates", "lu") and kind == "patch"):
        categories = {
            c.strip()
            for c in (parsed.values.get("g") or parsed.values.get("category") or "").split(",")
            if c.strip()
        }
        severities = {
            s.strip() for s in (parsed.values.get("severity") or "").split(",") if s.strip()
        }
        everything = bool(parsed.flags & {"a", "all"})
        reboot_ok = "non-interactive-include-reboot-patches" in parsed.flags
        return zypper_output.list_patches(
            m, xml, quiet, everything, categories, severities, reboot_ok
        )
    if command in ("patch-check", "pchk"):
        return zypper_output.patch_check(m, xml)
    if command == "needs-rebooting":
        return zypper_output.needs_rebooting(m, xml)
    if command in ("verify", "ve"):
        dry_run = "dry-run" in parsed.flags
        return health_output.zypper_verify(m, ctx.root, dry_run)
    if command in ("locks", "ll", "lock-list"):
        return health_output.zypper_locks(m)
    if command in ("refresh", "ref"):
        return zypper_output.refresh(m, ctx.root, xml, ctx.faults.lock, ctx.faults.repo_failure)
    if command in ("search", "se"):
        kinds = {v for k, v in parsed.pairs if k in ("t", "type")}
        installed = bool(parsed.flags & {"i", "installed-only"})
        return zypper_installer.search(m, parsed.words[1:], kinds, installed)
    if command in ("patch", "update", "up", "install", "in"):
        if not ctx.root:
            return Output.of(
                "", "Root privileges are required for installing or uninstalling packages.\n", 5
            )
        if command in ("install", "in"):
            ctx.volatile = True
            specs = parsed.words[1:]
            if kind == "patch":
                specs = [w if w.startswith("patch:") else f"patch:{w}" for w in specs]
            return zypper_installer.install(m, specs, xml, ctx.env)
        return Output.of(
            "", f"zypper {command}: installing is not simulated by patchdeck's fleet\n", 1
        )
    return Output.of("", f"Unknown command '{command}'\n", 1)


def _shutdown(args: Sequence[str], ctx: Context) -> Output:
    """``shutdown -r [TIME] [MESSAGE]`` (and ``reboot``): the server takes the machine down
    once the command has answered. Only a reboot is simulated."""
    ctx.volatile = True
    if not ctx.root:
        return Output.of(
            "",
            "Failed to set wall message, ignoring: Interactive authentication required.\n"
            "Call to Reboot failed: Interactive authentication required.\n",
            1,
        )
    flags = {a for a in args if a.startswith("-")}
    if "-c" in flags:
        return Output.of()
    if "-r" not in flags and "--reboot" not in flags:
        return Output.of("", "shutdown: patchdeck's fleet only simulates reboots (-r)\n", 1)
    ctx.machine.reboot_requested = True
    return Output.of()


def _reboot(args: Sequence[str], ctx: Context) -> Output:
    return _shutdown(["-r", *args], ctx)


def _systemctl(args: Sequence[str], ctx: Context) -> Output:
    if [a for a in args if not a.startswith("-")][:1] == ["reboot"]:
        return _shutdown(["-r"], ctx)
    return Output.of("", "systemctl: patchdeck's fleet only simulates 'systemctl reboot'\n", 1)


TOOLS: dict[str, Tool] = {
    "cat": _cat,
    "uname": _uname,
    "id": _id,
    "whoami": _whoami,
    "hostname": _hostname,
    "apt-get": _apt_get,
    "apt-cache": _apt_cache,
    "apt": _apt,
    "dpkg": _dpkg,
    "dpkg-query": _dpkg_query,
    "apt-mark": _apt_mark,
    "df": _df,
    "dnf": _dnf,
    "yum": _yum,
    "needs-restarting": _needs_restarting,
    "rpm": _rpm,
    "zypper": _zypper,
    "shutdown": _shutdown,
    "reboot": _reboot,
    "systemctl": _systemctl,
}


def _garbage(machine: Machine) -> Output:
    """Random bytes instead of the tool's output: invalid UTF-8, escape sequences, NULs."""
    rng = random.Random()
    pieces = [
        b"\xff\xfe\xc3\x28",
        b"\x1b[2J\x1b[H",
        b"\x1b]0;owned\x07",
        b"\x1b[31;1m",
        b"\x00\x00",
        rng.randbytes(rng.randrange(64, 512)),
        b"\xe2\x82",
        b"@@patchdeck:",
        b"\r\n\r",
    ]
    rng.shuffle(pieces)
    return Output(((STDOUT, b"".join(pieces)),), 0)


def run(name: str, args: Sequence[str], ctx: Context) -> Output | None:
    """Run a program the machine has; ``None`` when it has no such program."""
    tool = TOOLS.get(name)
    if tool is None:
        return None
    machine = ctx.machine
    if ctx.faults.garbage:
        return _garbage(machine)
    key = (name, tuple(args), ctx.root, ctx.user, ctx.faults, ctx.env.get("ZYPP_LOCK_TIMEOUT"))
    cached: Output | None = machine.cache.get(key)
    if cached is None:
        ctx.volatile = False
        cached = tool(args, ctx)
        if ctx.volatile:  # it changed the machine (or depends on the clock): never replayed
            ctx.volatile = False
            return cached
        if len(machine.cache) >= _CACHE_LIMIT:
            machine.cache.clear()
        machine.cache[key] = cached
    return cached
