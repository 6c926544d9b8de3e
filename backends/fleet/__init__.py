"""The simulated fleet: real SSH servers on loopback that behave like Linux machines.

Used by ``patchdeck demo``, ``patchdeck fleet serve``, the tests and the benchmarks, always in a
process of its own. It never imports :mod:`backends.platforms`: what its machines print is
written the way the real tools print it, so a test against it can catch a parser's mistake.

- :mod:`.kinds`, :mod:`.catalog`, :mod:`.repository`, :mod:`.profiles`: what each machine is
  and has installed, derived from a seed;
- :mod:`.apt_output`, :mod:`.rpm_output`, :mod:`.zypper_output`: how its tools print;
- :mod:`.tools`, :mod:`.shell`: its programs and the ``sh`` subset that runs them;
- :mod:`.installing`, :mod:`.apt_installer`, :mod:`.rpm_installer`, :mod:`.zypper_installer`:
  installs that really change what a machine has, printed as the real tools print them;
  :mod:`.timing`: how long installs and reboots take (the server reboots machines);
- :mod:`.faults`: misbehaviour on demand; :mod:`.keys`: host keys; :mod:`.server`: the SSH side;
- :mod:`.register`: adding a running fleet to an inventory and its known_hosts.
"""

from __future__ import annotations

from backends.fleet.faults import FaultSpec, FaultSpecError, MachineFaults
from backends.fleet.server import Fleet, SimulatedMachine, serve

__all__ = ["FaultSpec", "FaultSpecError", "Fleet", "MachineFaults", "SimulatedMachine", "serve"]
