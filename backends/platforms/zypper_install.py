"""zypper: installing exactly the pinned patches and packages, its XML progress, what it did.

``zypper -n -x --non-interactive-include-reboot-patches install --auto-agree-with-licenses
--no-recommends patch:NAME=EDITION NAME.ARCH=EDITION …`` (research/backends.md §3.1): a
patch is installed by its capability ``patch:NAME``, a package by ``name.arch=edition``; the
global ``--non-interactive-include-reboot-patches`` keeps ``-n`` from skipping patches that
suggest a reboot. ``ZYPP_LOCK_TIMEOUT`` (exported first) makes libzypp wait that long for a
held lock, then exit 7 naming the holder (§3.3). Then ``zypper -x search -s --match-exact``
reports each patch's and package's status, and ``zypper needs-rebooting`` the reboot state.

What zypper 1.14 prints, as captured from the real one (tests/data/platforms/zypper-install*):
``<progress id="install-resolvable" name="(1/2) Installing: plain-2.0-1.noarch" value="50"/>``
per package, ``<message type="error">Installation of NEVRA failed:`` … followed by the rest
being aborted (exit 8, ``-n`` answers "abort"); exit 102 after a patch that wants a reboot,
103 when zypper updated itself and must be run again, 104 when a capability is not found
(nothing installed), 107 when a ``%post`` script failed but the package is installed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import unescape

from backends.platforms import zypper
from backends.platforms.probe import Answer, Section, SectionOutput, clip, section, tail
from backends.platforms.reboot import zypper_needs_rebooting
from backends.platforms.records import InstallOutcome, InstallProgress, Pinned, split_items

INSTALL = "zypper-install"
INSTALLED = "zypper-installed"
PATCH_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]*\Z")
NAME_RE = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9_.+-]*\Z")
ARCH_RE = re.compile(r"[A-Za-z0-9_]+\Z")
EDITION_RE = re.compile(r"[A-Za-z0-9_.:+~^-]+\Z")
DOWNLOAD_SHARE = 10.0
_ENTITIES = {"&quot;": '"', "&apos;": "'"}

_ATTR_RE = re.compile(r'(\w[\w-]*)="([^"]*)"')
_STEP_RE = re.compile(
    r"\((?P<n>\d{1,6})/(?P<total>\d{1,6})\) (?P<action>[A-Z][a-z]+): (?P<what>\S+)"
)
_RETRIEVING_RE = re.compile(
    r"Retrieving package (?P<what>\S+) \((?P<n>\d{1,6})/(?P<total>\d{1,6})\)"
)
_FAILED_RE = re.compile(r"Installation of (?P<nevra>\S+) failed:")
_SCRIPTLET_RE = re.compile(
    r"error: %(?P<which>\w+)\((?P<nevra>[^)]*)\) scriptlet failed, (?P<why>[^\n<]*)"
)
_NO_PROVIDER_RE = re.compile(r"No provider of '(?P<spec>[^']*)' found")
_NOT_FOUND_RE = re.compile(r"'(?P<spec>[^']*)' not found in package names")
_LOCK_RE = re.compile(r"locked by the application with pid (?P<pid>\d+)(?: \((?P<prog>[^)]*)\))?")
_MESSAGE_START_RE = re.compile(r'<message type="(\w+)">(.*)')
_MESSAGE_RE = re.compile(r'<message type="(\w+)">(.*?)</message>', re.DOTALL)


def _is_patch(item: Pinned) -> bool:
    return item.platform_id.startswith("patch:")


def check_item(item: Pinned) -> None:
    if _is_patch(item):
        if not PATCH_NAME_RE.match(item.platform_id[len("patch:") :]):
            raise ValueError(f"not a zypper patch: {item.platform_id!r}")
    else:
        name, _, arch = item.platform_id.rpartition(".")
        if not NAME_RE.match(name) or not ARCH_RE.match(arch):
            raise ValueError(f"not a zypper name.arch: {item.platform_id!r}")
    if item.version is not None and not EDITION_RE.match(item.version):
        raise ValueError(f"not a zypper edition: {item.version!r}")


def spec(item: Pinned) -> str:
    return f"{item.platform_id}={item.version}" if item.version else item.platform_id


def _search_name(item: Pinned) -> str:
    if _is_patch(item):
        return item.platform_id[len("patch:") :]
    return item.platform_id.rpartition(".")[0]


def sections(items: Sequence[Pinned]) -> tuple[Section, ...]:
    names = sorted({_search_name(item) for item in items})
    kinds = ["-t", "patch"] if any(_is_patch(i) for i in items) else []
    if any(not _is_patch(i) for i in items):
        kinds += ["-t", "package"]
    return (
        section(
            INSTALL,
            "zypper",
            "-n",
            "-x",
            "--non-interactive-include-reboot-patches",
            "install",
            "--auto-agree-with-licenses",
            "--no-recommends",
            *(spec(item) for item in items),
        ),  # fmt: skip
        section(INSTALLED, "zypper", "-n", "-x", "search", "-s", "--match-exact", *kinds, *names),
        section(zypper.REBOOT, "zypper", "needs-rebooting"),
    )


# -- progress ---------------------------------------------------------------------------------


def _attrs(line: str) -> dict[str, str]:
    return {key: unescape(value, _ENTITIES) for key, value in _ATTR_RE.findall(line[:2000])}


def progress_line(line: str) -> InstallProgress | None:
    """``<progress id="install-resolvable" name="(n/N) Installing: NEVRA" value="V"/>`` and
    the ``Retrieving package NEVRA (n/N)`` message before it."""
    line = line.strip()
    if line.startswith("<progress ") and 'id="install-resolvable"' in line:
        attrs = _attrs(line)
        match = _STEP_RE.match(attrs.get("name", ""))
        if match is None:
            return None
        n, total = int(match.group("n")), int(match.group("total"))
        if not 0 < n <= total:
            return None
        if "done" in attrs:
            fraction = 1.0
        else:
            value = attrs.get("value", "0")
            fraction = min(int(value), 100) / 100 if value.isdigit() and len(value) < 4 else 0.0
        percent = DOWNLOAD_SHARE + (100 - DOWNLOAD_SHARE) * (n - 1 + fraction) / total
        what = clip(match.group("what"), 120)
        return InstallProgress(percent, what, f"{match.group('action')} {what}")
    if '<message type="info">Retrieving package ' in line:
        match = _RETRIEVING_RE.search(line)
        if match is None:
            return None
        n, total = int(match.group("n")), int(match.group("total"))
        if not 0 < n <= total:
            return None
        what = clip(match.group("what"), 120)
        percent = DOWNLOAD_SHARE + (100 - DOWNLOAD_SHARE) * (n - 1) / total
        return InstallProgress(percent, what, f"Retrieving {what}")
    return None


def display_line(line: str) -> str | None:
    """What an operator reads of one line of zypper's XML: a message's text, nothing for
    progress, prompts and the stream's own tags; a line inside a multi-line message as is."""
    stripped = line.strip()
    if not stripped.startswith("<"):
        return unescape(line.replace("</message>", ""), _ENTITIES) if stripped else None
    match = _MESSAGE_START_RE.search(stripped)
    if match is None:
        return None
    text = unescape(match.group(2).replace("</message>", ""), _ENTITIES).strip()
    if not text:
        return None
    return text if match.group(1) == "info" else f"{match.group(1)}: {text}"


# -- outcome ----------------------------------------------------------------------------------


def _messages(body: str, kind: str) -> list[str]:
    return [
        unescape(text, _ENTITIES).strip()
        for found, text in _MESSAGE_RE.findall(body)
        if found == kind
    ]


def outcome(answer: Answer, items: Sequence[Pinned]) -> InstallOutcome:
    install = answer.get(INSTALL)
    if install is None:
        missing_section = "the install output lacks its zypper-install section"
        return InstallOutcome(
            installed=(),
            failed=tuple((item.platform_id, missing_section) for item in items),
            error=missing_section,
            error_kind="unparseable",
        )
    errors = _messages(install.body, "error")
    reasons, missing = _failures(errors)
    error, kind = _error(install, errors, reasons, missing)
    status = _status(answer.get(INSTALLED))
    reboot = zypper_needs_rebooting(answer.get(zypper.REBOOT))
    required = True if install.status == 102 else reboot.required
    installed, failed = split_items(
        items, lambda item: _item_failure(item, status, reasons, missing, error, install.status)
    )
    shown = "\n".join(text for line in install.lines if (text := display_line(line)) is not None)
    return InstallOutcome(
        installed=installed,
        failed=failed,
        error=error,
        error_kind=kind,
        reboot_required=required,
        rerun=install.status == 103,
        tail=tail(shown),
    )


def _name_of_nevra(nevra: str) -> str:
    parts = nevra.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else nevra


def _failures(errors: list[str]) -> tuple[dict[str, str], set[str]]:
    reasons: dict[str, str] = {}
    missing: set[str] = set()
    for text in errors:
        if match := _FAILED_RE.search(text):
            name = _name_of_nevra(match.group("nevra"))
            scriptlet = _SCRIPTLET_RE.search(text)
            reasons.setdefault(
                name,
                f"its %{clip(scriptlet.group('which'), 20)} scriptlet failed, "
                f"{clip(scriptlet.group('why').strip(), 80)}"
                if scriptlet
                else "rpm failed to install it: " + clip(tail(text, 2).replace("\n", " "), 200),
            )
        for match in _NO_PROVIDER_RE.finditer(text):
            missing.add(match.group("spec"))
    return reasons, missing


def _error(
    install: SectionOutput, errors: list[str], reasons: dict[str, str], missing: set[str]
) -> tuple[str | None, str | None]:
    status = install.status
    if status == 7:
        match = _LOCK_RE.search(install.body)
        holder = "another process"
        if match is not None:
            prog = match.group("prog")
            pid = match.group("pid")
            holder = f"{clip(prog, 60)} (process {pid})" if prog else f"process {pid}"
        return (
            f"zypper's lock was still held by {holder} when zypper stopped waiting for it "
            "(the lock timeout); nothing was installed",
            "locked",
        )
    if reasons:
        names = sorted(reasons)
        shown = ", ".join(clip(name, 60) for name in names[:5])
        first = names[0]
        aborted = " and zypper aborted the rest" if status == 8 else ""
        return (
            f"{len(names)} package(s) failed to install: {shown} ({first}: {reasons[first]})"
            f"{aborted}",
            "command-failed",
        )
    if missing or status == 104:
        shown = ", ".join(clip(spec, 80) for spec in sorted(missing)[:5]) or "some items"
        return (
            f"the repositories no longer offer {shown} (plan again); nothing was installed",
            "command-failed",
        )
    if status == 5:
        return "zypper needs root privileges to install (exit 5)", "command-failed"
    if status in (0, 102, 103, 107):
        return None, None
    detail = "; ".join(clip(text, 200) for text in errors[:3]) or tail(install.body, 3)
    return f"zypper install failed (exit {status}): {detail or 'no output'}", "command-failed"


# (kind, name) -> {edition: status}
_Status = dict[tuple[str, str], dict[str, str]]


def _status(output: SectionOutput | None) -> _Status | None:
    """What ``zypper search -s`` found (exit 104: nothing), or ``None`` when it could not
    tell (locked, failed, missing)."""
    if output is None or output.status not in (0, 104):
        return None
    found: _Status = {}
    for line in output.lines:
        stripped = line.strip()
        if not stripped.startswith("<solvable "):
            continue
        attrs = _attrs(stripped)
        kind, name = attrs.get("kind", "package"), attrs.get("name", "")
        if name:
            found.setdefault((kind, name), {})[attrs.get("edition", "")] = attrs.get("status", "")
    return found


def _edition(text: str) -> str:
    return text[2:] if text.startswith("0:") else text


def _item_failure(
    item: Pinned,
    status: _Status | None,
    reasons: dict[str, str],
    missing: set[str],
    error: str | None,
    exit_status: int,
) -> str | None:
    patch = _is_patch(item)
    name = _search_name(item)
    if status is None:
        return error or "unknown: the output ended before zypper reported what is installed"
    editions = status.get(("patch" if patch else "package", name), {})
    installed = {_edition(e) for e, state in editions.items() if state == "installed"}
    if installed and (item.version is None or _edition(item.version) in installed):
        return None
    if not patch and name in reasons:
        return reasons[name]
    if spec(item) in missing:
        return "no longer offered by the repositories (plan again)"
    if exit_status == 103:
        return "not installed yet: zypper updated itself first and must be run again"
    if patch:
        return "not applied" + (f": {error}" if error else "")
    if not installed:
        return "not installed on the machine"
    return f"still at {clip(', '.join(sorted(installed)), 120)}" + (f": {error}" if error else "")
