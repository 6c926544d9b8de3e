"""Which SSH host keys patchdeck trusts, and where it records the ones an operator accepts.

Trusted keys come from ``~/.ssh/known_hosts`` (only ever read), patchdeck's own known_hosts next
to the inventory, and any ``--known-hosts`` file. Keys patchdeck records (``machine trust``,
``--accept-new-host-keys``, the simulated fleet) go to its own file only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncssh


def host_pattern(address: str, port: int) -> str:
    """The known_hosts name for ``address:port`` as OpenSSH writes it."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: Any) -> str:
    return str(key.get_fingerprint("sha256"))


class HostKeys:
    def __init__(
        self,
        own: Path,
        extra: Sequence[Path] = (),
        user_file: Path | None = None,
        accept_new: bool = False,
    ) -> None:
        self.own = own
        self.files = [user_file or Path("~/.ssh/known_hosts").expanduser(), own, *extra]
        self.accept_new = accept_new
        self._lock = threading.Lock()
        self._loaded: Any = None
        self._stamp: tuple[tuple[float, int], ...] | None = None
        self._checked = 0.0

    def _file_stamp(self) -> tuple[tuple[float, int], ...]:
        stamps = []
        for path in self.files:
            try:
                st = path.stat()
                stamps.append((st.st_mtime, st.st_size))
            except OSError:
                stamps.append((0.0, -1))
        return tuple(stamps)

    def known_hosts(self) -> Any:
        """An ``asyncssh.SSHKnownHosts`` of every trusted key; reloaded when a file changes
        (looked at no more than once a second: a scan opens many connections at once)."""
        with self._lock:
            now = time.monotonic()
            if self._loaded is not None and now - self._checked < 1.0:
                return self._loaded
            self._checked = now
            stamp = self._file_stamp()
            if self._loaded is None or stamp != self._stamp:
                texts = []
                for path in self.files:
                    try:
                        texts.append(path.read_text(errors="replace"))
                    except OSError:
                        continue
                self._loaded = asyncssh.import_known_hosts("\n".join(texts))
                self._stamp = stamp
            return self._loaded

    def trusted(self, host: str, addr: str, port: int) -> list[Any]:
        keys = self.known_hosts().match(host, addr, None if port == 22 else port)[0]
        return list(keys)

    def record(self, address: str, port: int, key: Any) -> None:
        """Trust ``key`` for ``address:port`` in patchdeck's own file, replacing older lines."""
        name = host_pattern(address, port)
        line = f"{name} {key.export_public_key('openssh').decode().strip()}\n"
        with self._lock:
            self.own.parent.mkdir(parents=True, exist_ok=True)
            try:
                kept = [
                    old
                    for old in self.own.read_text().splitlines(keepends=True)
                    if old.split(" ", 1)[0] != name
                ]
            except FileNotFoundError:
                kept = []
            tmp = self.own.with_suffix(".tmp")
            tmp.write_text("".join(kept) + line)
            os.replace(tmp, self.own)
            self._loaded = None
