"""How long the simulated machines take: realistic for the demo, tiny in tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    """``install_step``: seconds between two progress lines of an install (a package's
    unpacking, configuring …), so progress streams; ``reboot_drop``: from ``shutdown -r``
    answering to the machine dropping its connections; ``reboot_down``: how long it then
    refuses connections before it is back with a new boot id."""

    install_step: float = 0.05
    reboot_drop: float = 0.1
    reboot_down: float = 3.0


FAST = Timing(install_step=0.002, reboot_drop=0.02, reboot_down=0.3)  # for tests
