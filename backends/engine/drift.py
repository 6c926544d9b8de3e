"""Drift: how a machine, scanned again just before its install, differs from its plan.

A run installs what the plan pinned and nothing else. Per pinned update, the fresh scan says:

- still missing, the same version offered: install it;
- no longer missing (installed meanwhile, or withdrawn): **gone**, nothing to install;
- still missing with another version offered now (**newer**): install the pinned version
  all the same, and say so (the plan approved that version, not the newer one);
- already at the pinned version with a newer one offered: gone, as above.

Every difference is a note on the machine's run row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backends.inventory.plans import PlanItem
from backends.platforms.records import FoundUpdate


@dataclass(frozen=True, slots=True)
class Drift:
    install: tuple[PlanItem, ...]  # what is still to install, as the plan pinned it
    gone: tuple[PlanItem, ...]
    newer: tuple[PlanItem, ...]
    notes: tuple[str, ...]


def compare(items: Sequence[PlanItem], found: Sequence[FoundUpdate]) -> Drift:
    missing = {u.platform_id: u for u in found}
    install: list[PlanItem] = []
    gone: list[PlanItem] = []
    newer: list[PlanItem] = []
    notes: list[str] = []
    for item in items:
        now = missing.get(item.platform_id)
        if now is None:
            gone.append(item)
            notes.append(f"drift: {item.platform_id} is no longer missing: nothing to install")
        elif item.version is None or now.available == item.version:
            install.append(item)
        elif now.installed is not None and now.installed == item.version:
            gone.append(item)
            notes.append(
                f"drift: {item.platform_id} is already at the pinned {item.version} "
                f"({now.available} is offered now): nothing to install"
            )
        else:
            install.append(item)
            newer.append(item)
            notes.append(
                f"drift: {item.platform_id} {now.available} is offered now; installing the "
                f"pinned {item.version}"
            )
    return Drift(tuple(install), tuple(gone), tuple(newer), tuple(notes))
