"""The maintenance window a run keeps to, and the clock it reads time from.

The last :data:`~backends.inventory.runs.REBOOT_RESERVE` (20 minutes) of a window is kept for
reboots (Azure Update Management's rule): no install starts, and no reboot is begun, when
less remains. An install already running is never stopped by the window; one that ends in
the reserve leaves its machine succeeded with its reboot pending.

The runner reads the time only through a :class:`Clock`, so tests move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from backends.inventory.durations import format_minutes
from backends.inventory.runs import REBOOT_RESERVE
from backends.inventory.tables import utcnow


class Clock(Protocol):
    def now(self) -> datetime:
        """The time now, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


@dataclass(frozen=True, slots=True)
class Window:
    end: datetime
    reserve: timedelta = REBOOT_RESERVE

    def remaining(self, now: datetime) -> timedelta:
        return self.end - now

    def allows(self, now: datetime) -> bool:
        """Whether an install may start, or a reboot be begun, at ``now``."""
        return self.remaining(now) >= self.reserve

    def why_not(self, what: str, now: datetime) -> str:
        """Why ``what`` (``the install``, ``the reboot``) was not begun at ``now``."""
        left = self.remaining(now)
        if left <= timedelta(0):
            return f"{what} was not begun: the maintenance window had ended"
        minutes = max(0, int(left.total_seconds() // 60))
        return (
            f"{what} was not begun: {minutes}m of the maintenance window remained, less than "
            f"the {format_minutes(int(self.reserve.total_seconds() // 60))} kept for reboots"
        )
