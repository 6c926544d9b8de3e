"""What one kind's repositories publish in a fleet of a given seed: versions, suites, advisories.

Every machine of a kind sees the same repositories (as machines behind one mirror do); machines
differ in what they have installed (:mod:`backends.fleet.profiles`). Computed once per kind and
seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from backends.fleet.catalog import SOURCES, Source
from backends.fleet.kinds import KINDS_BY_KEY

# apt suites a version can be published in
RELEASE, UPDATES, SECURITY = "release", "updates", "security"

_EPOCH_2024_03_01 = 1709251200
_DAY = 86400


@dataclass(frozen=True, slots=True)
class Advisory:
    """An RPM advisory (``kind`` security | bugfix | enhancement, ``severity`` Critical …) or a
    SUSE patch (``kind`` security | recommended | optional, ``severity`` critical …)."""

    id: str
    kind: str
    severity: str
    issued: int  # seconds since the epoch
    cves: tuple[str, ...] = ()
    bugs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceState:
    """One source package as a kind's repositories publish it."""

    source: Source
    versions: tuple[str, ...]  # oldest first; the last is the candidate
    suites: tuple[frozenset[str], ...]  # apt: where each version is published (empty: gone)
    advisories: tuple[Advisory | None, ...]  # rpm and zypper: one per version after the first

    @property
    def top(self) -> int:
        return len(self.versions) - 1


def _apt_suites(source: Source, steps: int, ubuntu: bool, rng: random.Random) -> list[set[str]]:
    top = steps
    suites: list[set[str]] = [set() for _ in range(top + 1)]
    if ubuntu:
        suites[0].add(RELEASE)  # Ubuntu's release pocket never changes after release
    if source.channel == "sec":
        if source.masked or rng.random() < 0.25:
            # A security fix, then a newer version from a non-security suite on top of it.
            suites[top - 1].add(SECURITY)
            suites[top].add(UPDATES if ubuntu else RELEASE)
        elif ubuntu:
            suites[top] |= {UPDATES, SECURITY}
        else:
            suites[top].add(SECURITY)
            # Debian folds security fixes into its next point release, often already out.
            suites[top if rng.random() < 0.4 else top - 1].add(RELEASE)
    elif source.channel == "point":
        suites[top].add(UPDATES if ubuntu else RELEASE)
    else:  # updates
        suites[top].add(UPDATES)
        if not ubuntu:
            suites[top - 1].add(RELEASE)
    return suites


_RPM_SEVERITIES = (("Critical", 10), ("Important", 40), ("Moderate", 40), ("Low", 10))
_SUSE_SEVERITIES = (("critical", 8), ("important", 40), ("moderate", 42), ("low", 10))


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _cves(rng: random.Random) -> tuple[str, ...]:
    return tuple(
        sorted({f"CVE-2024-{rng.randrange(1000, 52000)}" for _ in range(rng.choice((1, 1, 2, 3)))})
    )


def _rpm_advisory(prefix: str, step: int, rng: random.Random) -> Advisory:
    roll = rng.random()
    issued = _EPOCH_2024_03_01 + step * 23 * _DAY + rng.randrange(_DAY)
    number = f"2024:{rng.randrange(1000, 9999)}"
    if roll < 0.55:
        severity = _weighted(rng, _RPM_SEVERITIES)
        return Advisory(f"{prefix}SA-{number}", "security", severity, issued, _cves(rng))
    if roll < 0.9:
        return Advisory(f"{prefix}BA-{number}", "bugfix", "", issued)
    return Advisory(f"{prefix}EA-{number}", "enhancement", "", issued)


def _suse_patch(prefix: str, source: Source, step: int, rng: random.Random) -> Advisory:
    issued = _EPOCH_2024_03_01 + step * 19 * _DAY + rng.randrange(_DAY)
    name = f"{prefix}-2024-{rng.randrange(1000, 4400)}"
    bugs = tuple(str(rng.randrange(1220000, 1235000)) for _ in range(rng.choice((1, 2))))
    roll = rng.random()
    if not source.update_stack and roll < 0.5:
        severity = _weighted(rng, _SUSE_SEVERITIES)
        return Advisory(name, "security", severity, issued, _cves(rng), bugs)
    if roll < 0.95 or source.update_stack:
        severity = rng.choice(("moderate", "low", "important"))
        return Advisory(name, "recommended", severity, issued, (), bugs)
    return Advisory(name, "optional", "low", issued, (), bugs)


@lru_cache(maxsize=64)
def archive(seed: int, kind_key: str) -> tuple[SourceState, ...]:
    """Every source package the kind's repositories hold, in a fleet of ``seed``."""
    kind = KINDS_BY_KEY[kind_key]
    states: list[SourceState] = []
    for source in SOURCES[kind_key]:
        rng = random.Random(f"patchdeck-fleet:{seed}:{kind_key}:{source.name}")
        steps = rng.choice((2, 3, 4))
        versions = source.versions(steps)
        suites: list[set[str]] = []
        advisories: list[Advisory | None] = [None]
        if kind.apt is not None:
            suites = _apt_suites(source, steps, kind_key.startswith("ubuntu"), rng)
        elif kind.rpm is not None:
            prefix = kind.rpm.advisory_prefix
            advisories += [_rpm_advisory(prefix, i, rng) if prefix else None for i in range(steps)]
        elif kind.zypper is not None:
            zypper = kind.zypper
            prefix = (
                zypper.patch_prefix_applications
                if source.repo == "applications"
                else zypper.patch_prefix_basesystem
            )
            advisories += [_suse_patch(prefix, source, i, rng) for i in range(steps)]
        states.append(
            SourceState(
                source=source,
                versions=versions,
                suites=tuple(frozenset(s) for s in suites),
                advisories=tuple(advisories),
            )
        )
    return tuple(states)
