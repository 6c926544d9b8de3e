"""Which of a machine's updates a deployment installs: a pure function of the updates and the
deployment's classifications, include and exclude patterns and reboot option.

Precedence (docs/plans.md):

1. ``reboot-only`` installs nothing: every update is left out.
2. An update matching an **exclude** pattern is left out, whatever else holds: exclude wins.
3. An update matching an **include** pattern is selected, whatever its classification.
4. Otherwise an update is selected when its classification is one of the deployment's.

So includes add to what the classifications select (with no classification, ``none``, only
what they name), and excludes take away from both. A pattern is a glob (``*`` any run of
characters, ``?`` exactly one, everything else literal) matched without regard to case against
the whole of the update's platform id, its name (package, patch or KB) and each of its
advisory ids (DSA/USN, RHSA, SUSE patch, KB).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from backends.inventory.deployment_options import DeploymentOptions
from backends.inventory.records import Update

REBOOT_ONLY_REASON = "reboot-only: the deployment installs nothing"


@dataclass(frozen=True, slots=True)
class Excluded:
    update: Update
    reason: str


@dataclass(frozen=True, slots=True)
class Selection:
    """A machine's updates split in two: what the deployment installs (by platform id) and
    what it leaves out, each with the reason."""

    selected: tuple[Update, ...]
    excluded: tuple[Excluded, ...]


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    body = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.casefold()
    )
    return re.compile(body + r"\Z", re.DOTALL)


def matches(pattern: str, value: str) -> bool:
    """``value`` matches the glob ``pattern`` as a whole, without regard to case."""
    return _compiled(pattern).match(value.casefold()) is not None


def update_keys(update: Update) -> tuple[str, ...]:
    """What a pattern is matched against: platform id, name and advisory ids."""
    return tuple(dict.fromkeys((update.platform_id, update.name, *update.advisories)))


def first_match(patterns: Iterable[str], update: Update) -> str | None:
    keys = update_keys(update)
    for pattern in patterns:
        if any(matches(pattern, key) for key in keys):
            return pattern
    return None


def select(updates: Sequence[Update], options: DeploymentOptions) -> Selection:
    """Split ``updates`` by ``options`` (see the module's docstring for the precedence).
    Both halves are ordered by platform id, so the same updates always give the same plan."""
    selected: list[Update] = []
    excluded: list[Excluded] = []
    chosen = set(options.classifications)
    for update in sorted(updates, key=lambda u: u.platform_id):
        if options.reboot == "reboot-only":
            excluded.append(Excluded(update, REBOOT_ONLY_REASON))
            continue
        pattern = first_match(options.exclude, update)
        if pattern is not None:
            excluded.append(Excluded(update, f"matches --exclude {pattern}"))
        elif update.classification in chosen or first_match(options.include, update):
            selected.append(update)
        else:
            reason = f"classification {update.classification} is not selected"
            if options.include:
                reason += " and no --include matches"
            excluded.append(Excluded(update, reason))
    return Selection(tuple(selected), tuple(excluded))


def reboot_expected(reboot: str, selected: Sequence[Update], pending: bool | None) -> bool:
    """Whether a run is expected to reboot the machine: ``never`` no, ``always`` and
    ``reboot-only`` yes, ``if-required`` when a selected update is likely to need one or the
    machine already waits for one."""
    if reboot == "never":
        return False
    if reboot in ("always", "reboot-only"):
        return True
    return bool(pending) or any(u.reboot_likely for u in selected)
